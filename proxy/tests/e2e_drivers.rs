//! Real client drivers through the real haoka-proxy, each run as a
//! subprocess with the scripts in proxy/tests/drivers/: node `mysql2`,
//! mysql-connector-python (C extension and pure Python, default settings),
//! JDBC (MariaDB Connector/J: pool start-up, catalog metadata, prepared
//! round trips) and SQLAlchemy reflection (PyMySQL and mysql-connector).
//! A missing driver fails its test with the command that installs it
//! (deploy/local/up.sh installs them all).
//!
//! Schemas: private `n13c`, `y13c`, `j13d`, `s13c` (e2e_common::logical).

mod e2e_common;

use std::path::{Path, PathBuf};

use e2e_common::logical::LogicalSchemas;
use mysql_async::prelude::*;
use tokio::process::Command;

fn drivers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers")
}

/// The rows every driver test reads (ids 101..104 on four shards).
async fn fill(s: &LogicalSchemas) {
    let mut c = s.proxy.conn(&s.name).await;
    for sql in [
        "INSERT INTO orders (id, region, amount, note, created) VALUES \
         (101, '11', 10.50, 'a', '2024-03-01 10:00:00'), (102, '31', 20.25, 'b', '2024-03-02 11:30:00'), \
         (103, '11', 5.00, 'c', '2024-03-03 12:00:00'), (104, '51', NULL, NULL, NULL)",
        "INSERT INTO ledger (acct, id, body) VALUES (1, 1, 'x'), (2, 2, 'y'), (3, 3, 'z')",
        "INSERT INTO setting (k, v) VALUES ('bin', x'00ff10')",
        "INSERT INTO region (code, name) VALUES ('11', '北京'), ('31', '上海')",
        "INSERT INTO typed (id, bn) VALUES (1, x'01020304'), (2, x'050607ff')",
    ] {
        c.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Runs a driver program; its stdout when it succeeds.
async fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(drivers_dir())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The output line that starts with `key ` (without the key).
fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no '{key}' line in:\n{out}"))
}

/// Fails (never skips) when a Python module is missing.
async fn require_python(module: &str, install: &str) {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .await
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python module {module} is missing: {install} (deploy/local/up.sh installs it)"
    );
}

/// node_modules from package-lock.json (npm ci) when mysql2 is not there.
async fn require_mysql2() {
    let dir = drivers_dir();
    if dir.join("node_modules/mysql2/package.json").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .await;
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok && dir.join("node_modules/mysql2/package.json").exists(),
        "node mysql2 is missing and `npm ci` in {} failed ({:?}): install Node.js and npm \
         (apt-get install -y nodejs npm), then run `npm ci` there (deploy/local/up.sh does)",
        dir.display(),
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mysql2_query_execute_and_pool() {
    require_mysql2().await;
    let s = LogicalSchemas::start("n13c").await;
    fill(&s).await;
    let out = run(
        "node mysql2",
        Command::new("node").args(["mysql2_client.js", &s.proxy.port.to_string(), &s.name]),
    )
    .await;
    assert_eq!(
        line(&out, "query"),
        "11:2:15.50:c 31:1:20.25:b 51:1:null:null"
    );
    // utf8mb4_general_ci (45) VARCHAR(2)/CHAR(2) lengths; numbers binary (63).
    assert_eq!(
        line(&out, "fields"),
        "region/45/8 n/63/21 total/63/36 top/45/256"
    );
    assert_eq!(
        line(&out, "execute"),
        "101:a:2024-03-01T10:00:00.000Z 102:b:2024-03-02T11:30:00.000Z"
    );
    assert_eq!(line(&out, "execute-agg"), "3:11");
    assert_eq!(line(&out, "binary"), "true:00ff10");
    assert_eq!(line(&out, "merged-binary"), "true:01020304,050607ff");
    assert_eq!(line(&out, "insert"), "1:true:node");
    assert_eq!(line(&out, "pool"), "5");
    assert_eq!(line(&out, "collation"), "utf8mb4_general_ci:utf8mb4:5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_connector_python_default_settings() {
    require_python(
        "mysql.connector",
        "python3 -m pip install mysql-connector-python",
    )
    .await;
    let s = LogicalSchemas::start("y13c").await;
    fill(&s).await;
    let port = s.proxy.port.to_string();
    for (flavour, class) in [("cext", "CMySQLConnection"), ("pure", "MySQLConnection")] {
        let out = run(
            &format!("mysql-connector-python ({flavour})"),
            Command::new("python3").args(["connector_client.py", &port, &s.name, flavour]),
        )
        .await;
        assert_eq!(line(&out, "class"), class, "{out}");
        assert!(line(&out, "server").contains("-MariaDB-haoka"), "{out}");
        // (the rows each run inserts are in region 99)
        assert!(
            line(&out, "merged").starts_with("11:2:15.50 31:1:20.25 51:1:None"),
            "{out}"
        );
        assert_eq!(line(&out, "prepared-agg"), "1 102", "{out}");
        assert_eq!(line(&out, "vars"), "REPEATABLE-READ 0", "{out}");
        assert_eq!(line(&out, "prepared"), "101 a", "{out}");
        assert_eq!(line(&out, "insert"), format!("True {flavour}"), "{out}");
        let bin = line(&out, "binary");
        assert!(bin.ends_with(" 00ff10"), "{out}");
        assert!(
            bin.starts_with("bytes") || bin.starts_with("bytearray"),
            "{out}"
        );
    }
    // Both inserts committed (autocommit is off by default in the driver).
    let mut c = s.proxy.conn(&s.name).await;
    let notes: Vec<String> = c
        .query("SELECT note FROM orders WHERE note IN ('cext', 'pure') ORDER BY note")
        .await
        .unwrap();
    assert_eq!(notes, ["cext", "pure"]);
}

const JDBC_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jdbc_pool_start_up_metadata_and_prepared_statements() {
    assert!(
        Path::new(JDBC_JAR).exists(),
        "MariaDB Connector/J missing: apt-get install -y libmariadb-java (deploy/local/up.sh installs it)"
    );
    let s = LogicalSchemas::start("j13d").await;
    fill(&s).await;
    let build = std::env::temp_dir().join(format!("haoka-e2e-jdbccheck-{}", std::process::id()));
    std::fs::create_dir_all(&build).unwrap();
    run(
        "javac",
        Command::new("javac").args(["-d", &build.display().to_string(), "JdbcCheck.java"]),
    )
    .await;
    let url = format!("jdbc:mariadb://127.0.0.1:{}/", s.proxy.port);
    let out = run(
        "JDBC",
        Command::new("java")
            .args([
                "-cp",
                &format!("{JDBC_JAR}:{}", build.display()),
                "JdbcCheck",
            ])
            .args([url.as_str(), &s.name, &s.other()]),
    )
    .await;
    let _ = std::fs::remove_dir_all(&build);
    let db = &s.name;
    for ps in ["false", "true"] {
        // isValid, REPEATABLE READ (4), autocommit, READ COMMITTED (2).
        assert_eq!(
            line(&out, &format!("pool {ps}")),
            format!("true 4 true 2 {db}")
        );
        assert_eq!(
            line(&out, &format!("merged {ps}")),
            "11:2:15.50:c 31:1:20.25:b 51:1:null:null precision 2/64 DECIMAL",
            "{out}"
        );
        assert_eq!(
            line(&out, &format!("point {ps}")),
            "101:a:2024-03-01 10:00:00.0"
        );
        assert_eq!(line(&out, &format!("binary {ps}")), "00ff10 VARBINARY");
        assert_eq!(line(&out, &format!("update {ps}")), "2");
    }
    assert!(line(&out, "product").starts_with("MariaDB 10"), "{out}");
    let cats: Vec<&str> = line(&out, "catalogs").split(',').collect();
    assert!(
        cats.contains(&db.as_str()) && cats.contains(&s.other().as_str()),
        "{out}"
    );
    assert!(
        !cats.iter().any(|c| c.starts_with("sbtest_")),
        "physical databases: {out}"
    );
    assert_eq!(
        line(&out, "tables"),
        format!("{db}.ledger,{db}.orders,{db}.region,{db}.setting,{db}.typed")
    );
    assert_eq!(line(&out, "other"), "other_item");
    assert_eq!(
        line(&out, "columns"),
        "acct:INT:10,id:BIGINT:19,body:TEXT:65535"
    );
    assert_eq!(line(&out, "pk"), "acct:1:ledger,id:2:ledger");
    assert_eq!(
        line(&out, "indexes"),
        "PRIMARY:id:false,idx_region:region:true"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_reflection_with_pymysql_and_mysql_connector() {
    require_python("sqlalchemy", "python3 -m pip install sqlalchemy").await;
    require_python("pymysql", "python3 -m pip install pymysql").await;
    require_python(
        "mysql.connector",
        "python3 -m pip install mysql-connector-python",
    )
    .await;
    let s = LogicalSchemas::start("s13c").await;
    fill(&s).await;
    let (db, other) = (s.name.clone(), s.other());
    for driver in ["pymysql", "mysqlconnector"] {
        let out = run(
            &format!("SQLAlchemy + {driver}"),
            Command::new("python3").args([
                "sqlalchemy_reflect.py",
                &s.proxy.port.to_string(),
                &db,
                &other,
                driver,
            ]),
        )
        .await;
        assert_eq!(
            line(&out, "schemas"),
            format!("{db},{other}"),
            "{driver}: {out}"
        );
        assert_eq!(
            line(&out, "tables"),
            "ledger,orders,region,setting,typed",
            "{driver}"
        );
        assert_eq!(line(&out, "other"), "other_item", "{driver}");
        assert_eq!(line(&out, "default"), "ledger,orders,region,setting,typed");
        assert_eq!(
            line(&out, "columns"),
            "acct:INTEGER,id:BIGINT,body:TEXT",
            "{driver}"
        );
        assert_eq!(line(&out, "pk"), "acct,id", "{driver}");
        assert_eq!(line(&out, "indexes"), "idx_region:region:False", "{driver}");
        assert_eq!(line(&out, "unique"), "uk_name:name", "{driver}");
        assert_eq!(line(&out, "other-columns"), "id,label", "{driver}");
        assert_eq!(line(&out, "count"), "3", "{driver}");
        assert_eq!(
            line(&out, "merged-binary"),
            "bytes 01020304,050607ff",
            "{driver}"
        );
    }
}
