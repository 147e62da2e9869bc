//! Real clients through the passthrough proxy: the mariadb CLI, mysql_async
//! (text and binary protocol) and PyMySQL.

mod common;

use common::*;
use mysql_async::prelude::*;
use mysql_async::{Opts, Value};
use tokio::process::Command;

async fn cli(port: u16, args: &[&str], sql: &str) -> (bool, String) {
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            "--batch",
            "--skip-column-names",
        ])
        .args(args)
        .args(["-e", sql])
        .output()
        .await
        .expect("mariadb CLI installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_both_auth_plugins() {
    let p = start().await;
    let port = p.addr.port();
    let pw = format!("-p{PASSWORD}");
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let auth = format!("--default-auth={plugin}");
        let (ok, out) = cli(
            port,
            &["-u", USER, &pw, &auth, DB],
            "SELECT @@version_comment IS NOT NULL, 1+1, NULL, 'x'",
        )
        .await;
        assert!(ok, "{plugin}: {out}");
        assert_eq!(out.trim(), "1\t2\tNULL\tx", "{plugin}");
        let (ok, out) = cli(port, &["-u", USER, "-pwrong", &auth], "SELECT 1").await;
        assert!(!ok);
        assert!(out.contains("ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: YES)"), "{out}");
    }
    let (ok, out) = cli(port, &["-u", USER, &pw, "no_such_db_xyz"], "SELECT 1").await;
    assert!(!ok);
    assert!(out.contains("ERROR 1049"), "{out}");
    // Multi statements and session state through the CLI.
    let (ok, out) = cli(
        port,
        &["-u", USER, &pw, DB],
        "SET NAMES utf8mb4; SET autocommit=0; SELECT @@autocommit; SELECT 'héllo'",
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "0\nhéllo");
    // A latin1 client gets latin1 results.
    let (ok, out) = cli(
        port,
        &["-u", USER, &pw, "--default-character-set=latin1"],
        "SELECT @@character_set_client, @@character_set_results",
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "latin1\tlatin1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_text_prepared_multi() {
    let p = start().await;
    let pool = mysql_async::Pool::new(Opts::from_url(&p.url()).unwrap());
    let mut c = pool.get_conn().await.unwrap();

    let v: Option<String> = c.query_first("SELECT @@version_comment").await.unwrap();
    assert!(v.is_some());
    c.query_drop("DROP TABLE IF EXISTS t_types").await.unwrap();
    c.query_drop(
        "CREATE TABLE t_types (id INT PRIMARY KEY AUTO_INCREMENT, neg BIGINT, s VARCHAR(100), b LONGBLOB, \
         d DATE, dt DATETIME(6), dec1 DECIMAL(12,3), f DOUBLE, n INT NULL, u BIGINT UNSIGNED)",
    )
    .await
    .unwrap();
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let stmt =
        "INSERT INTO t_types (neg, s, b, d, dt, dec1, f, n, u) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let params = (
        -9_000_000_000i64,
        "héllo 'quoted'",
        blob.clone(),
        Value::Date(2024, 2, 29, 0, 0, 0, 0),
        Value::Date(2024, 12, 31, 23, 59, 58, 123_456),
        "-12345.678",
        2.5f64,
        Value::NULL,
        u64::MAX,
    );
    c.exec_drop(stmt, params.clone()).await.unwrap();
    assert_eq!(c.last_insert_id(), Some(1));
    c.exec_drop(stmt, params).await.unwrap(); // cached statement, types re-sent
    assert_eq!(c.affected_rows(), 1);

    // Binary protocol result.
    type Row = (
        i64,
        String,
        Vec<u8>,
        Value,
        Value,
        String,
        f64,
        Option<i32>,
        u64,
    );
    let rows: Vec<Row> = c
        .exec(
            "SELECT neg, s, b, d, dt, dec1, f, n, u FROM t_types WHERE id >= ? ORDER BY id",
            (1,),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(r.0, -9_000_000_000);
    assert_eq!(r.1, "héllo 'quoted'");
    assert_eq!(r.2, blob);
    assert_eq!(r.3, Value::Date(2024, 2, 29, 0, 0, 0, 0));
    assert_eq!(r.4, Value::Date(2024, 12, 31, 23, 59, 58, 123_456));
    assert_eq!(r.5, "-12345.678");
    assert_eq!(r.6, 2.5);
    assert_eq!(r.7, None);
    assert_eq!(r.8, u64::MAX);

    // Text protocol result of the same data.
    type TextRow = (i64, String, Vec<u8>, String, Option<i32>);
    let rows: Vec<TextRow> = c
        .query("SELECT neg, s, b, dec1, n FROM t_types ORDER BY id")
        .await
        .unwrap();
    assert_eq!(rows[1].0, -9_000_000_000);
    assert_eq!(rows[1].2.len(), 100_000);
    assert_eq!(rows[1].3, "-12345.678");

    // Multi statements: several result sets and an OK in one round trip.
    let mut res = c
        .query_iter("SELECT 1; UPDATE t_types SET n = 7 WHERE id = 1; SELECT 2, 'two'")
        .await
        .unwrap();
    let a: Vec<i32> = res.collect().await.unwrap();
    let _: Vec<mysql_async::Row> = res.collect().await.unwrap();
    let b: Vec<(i32, String)> = res.collect().await.unwrap();
    drop(res);
    assert_eq!(a, vec![1]);
    assert_eq!(b, vec![(2, "two".to_string())]);

    // An error inside a multi-statement ends it; the session survives.
    let err = c
        .query_drop("SELECT 1; SELECT * FROM no_such_table_xyz")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1146"), "{err}");

    // Session state and transactions.
    c.query_drop("SET NAMES utf8mb4").await.unwrap();
    c.query_drop("SET autocommit = 0").await.unwrap();
    let ac: Option<i32> = c.query_first("SELECT @@autocommit").await.unwrap();
    assert_eq!(ac, Some(0));
    c.query_drop("UPDATE t_types SET n = 8 WHERE id = 2")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    let n: Option<Option<i32>> = c
        .exec_first("SELECT n FROM t_types WHERE id = ?", (2,))
        .await
        .unwrap();
    assert_eq!(n, Some(None));
    c.query_drop("SET autocommit = 1").await.unwrap();

    // Stored procedure results (MULTI_RESULTS / PS_MULTI_RESULTS).
    c.query_drop("DROP PROCEDURE IF EXISTS p_two")
        .await
        .unwrap();
    c.query_drop("CREATE PROCEDURE p_two(x INT) BEGIN SELECT x; SELECT x + 1, 'b'; END")
        .await
        .unwrap();
    let mut res = c.query_iter("CALL p_two(5)").await.unwrap();
    let a: Vec<i64> = res.collect().await.unwrap();
    let b: Vec<(i64, String)> = res.collect().await.unwrap();
    drop(res);
    assert_eq!((a, b), (vec![5], vec![(6, "b".to_string())]));
    let mut res = c.exec_iter("CALL p_two(?)", (7,)).await.unwrap();
    let a: Vec<i64> = res.collect().await.unwrap();
    let b: Vec<(i64, String)> = res.collect().await.unwrap();
    drop(res);
    assert_eq!((a, b), (vec![7], vec![(8, "b".to_string())]));

    // Prepare errors and reuse after close.
    assert!(c.prep("SELEKT nonsense").await.is_err());
    let s = c.prep("SELECT ? + ?").await.unwrap();
    let x: Option<i64> = c.exec_first(&s, (40, 2)).await.unwrap();
    assert_eq!(x, Some(42));
    c.close(s).await.unwrap();
    c.ping().await.unwrap();
    c.reset().await.unwrap();
    let one: Option<i32> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    drop(c);
    pool.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_caching_sha2() {
    let p = start_with(true, 64 << 20).await;
    let mut c = mysql_async::Conn::new(Opts::from_url(&p.url()).unwrap())
        .await
        .unwrap();
    let x: Option<String> = c.query_first("SELECT 'sha2 ok'").await.unwrap();
    assert_eq!(x.as_deref(), Some("sha2 ok"));
    c.disconnect().await.unwrap();
    let bad = format!("mysql://{USER}:nope@127.0.0.1:{}/{DB}", p.addr.port());
    let err = mysql_async::Conn::new(Opts::from_url(&bad).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1045"), "{err}");
}

const PYMYSQL: &str = r#"
import sys, pymysql
port = int(sys.argv[1])
c = pymysql.connect(host='127.0.0.1', port=port, user='app', password='s3cret', database='proto_test',
                    client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS, charset='utf8mb4')
cur = c.cursor()
cur.execute("DROP TABLE IF EXISTS t_py")
cur.execute("CREATE TABLE t_py (id INT PRIMARY KEY, name VARCHAR(20), amount DECIMAL(10,2))")
cur.executemany("INSERT INTO t_py VALUES (%s, %s, %s)", [(1, 'a', '1.50'), (2, None, '-2.25'), (3, 'ç', '0')])
c.commit()
cur.execute("SELECT id, name, amount FROM t_py ORDER BY id")
rows = cur.fetchall()
assert [r[1] for r in rows] == ['a', None, 'ç'], rows
assert str(rows[1][2]) == '-2.25', rows
cur.execute("SELECT 1; SELECT 2")
assert cur.fetchall() == ((1,),)
assert cur.nextset()
assert cur.fetchall() == ((2,),)
cur.execute("SELECT @@version_comment")
cur.fetchall()
try:
    cur.execute("SELECT * FROM nope_xyz")
    raise SystemExit("expected error")
except pymysql.err.ProgrammingError as e:
    assert e.args[0] == 1146, e
c.ping()
c.close()
try:
    pymysql.connect(host='127.0.0.1', port=port, user='app', password='bad')
    raise SystemExit("expected access denied")
except pymysql.err.OperationalError as e:
    assert e.args[0] == 1045, e
print("pymysql ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_native_and_sha2() {
    for sha2 in [false, true] {
        let p = start_with(sha2, 64 << 20).await;
        let out = Command::new("python3")
            .args(["-c", PYMYSQL, &p.addr.port().to_string()])
            .output()
            .await
            .expect("python3");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("No module named 'pymysql'") {
            eprintln!("skipping: PyMySQL not installed (pip install pymysql)");
            return;
        }
        assert!(
            out.status.success() && text.contains("pymysql ok"),
            "sha2={sha2}: {text}"
        );
    }
}

/// A 16 MiB row crosses the 16 MiB-1 packet boundary: the backend splits
/// it, the proxy joins and re-splits it, the client joins it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_larger_than_one_packet() {
    let p = start().await;
    // The client's own limit defaults to the server's 16 MiB; lift it.
    let opts = mysql_async::OptsBuilder::from_opts(Opts::from_url(&p.url()).unwrap())
        .max_allowed_packet(Some(64 << 20));
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    let n = 16 * 1024 * 1024;
    let s: Option<Vec<u8>> = c
        .query_first(format!("SELECT REPEAT('x', {n})"))
        .await
        .unwrap();
    assert_eq!(s.map(|s| s.len()), Some(n));
    let s: Option<(Vec<u8>, i32)> = c
        .exec_first("SELECT REPEAT('y', ?), 5", (n,))
        .await
        .unwrap();
    let (s, five) = s.unwrap();
    assert_eq!((s.len(), s[n - 1], five), (n, b'y', 5));
    c.disconnect().await.unwrap();
}

/// Many sessions at once: each sees only its own answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_do_not_cross() {
    let p = start().await;
    let url = p.url();
    let mut tasks = Vec::new();
    for t in 0..16i64 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(Opts::from_url(&url).unwrap())
                .await
                .unwrap();
            for i in 0..100i64 {
                let v = t * 1000 + i;
                let (a, b): (i64, String) = c
                    .exec_first("SELECT ?, CONCAT('s', ?)", (v, v))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((a, b), (v, format!("s{v}")));
                let q: Option<i64> = c.query_first(format!("SELECT {v} + 1")).await.unwrap();
                assert_eq!(q, Some(v + 1));
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
