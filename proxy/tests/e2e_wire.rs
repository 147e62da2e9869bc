//! What a client sees on the wire through the real haoka-proxy: column
//! definitions byte for byte as MariaDB writes them (merged, single-shard
//! and prepared results), and one server identity with the variables
//! drivers read at connect.
//!
//! Schemas: private `w13c` and `i13c` (e2e_common::logical).

mod e2e_common;

use std::time::Duration;

use e2e_common::logical::LogicalSchemas;
use e2e_common::*;
use haoka_proxy::backend::{BackendConfig, ColumnDef, Connection, Response};
use mysql_async::prelude::*;

fn cfg(port: u16, user: &str, password: &str, db: &str) -> BackendConfig {
    BackendConfig {
        host: "127.0.0.1".into(),
        port,
        user: user.into(),
        password: password.into(),
        database: Some(db.into()),
        connect_timeout: Duration::from_secs(5),
        found_rows: false,
    }
}

async fn raw_conn(port: u16, user: &str, password: &str, db: &str) -> Connection {
    Connection::connect(&cfg(port, user, password, db))
        .await
        .unwrap_or_else(|e| panic!("connect {user}@{port}/{db}: {e}"))
}

/// A column definition split into its fields: the six strings, then the
/// 13 fixed bytes (0x0c, charset, length, type, flags, decimals, filler).
#[derive(Debug, PartialEq, Eq)]
struct Def {
    catalog: Vec<u8>,
    schema: Vec<u8>,
    table: Vec<u8>,
    org_table: Vec<u8>,
    name: Vec<u8>,
    org_name: Vec<u8>,
    fixed: Vec<u8>,
}

fn split(raw: &[u8]) -> Def {
    let mut at = 0;
    let mut s = || {
        let n = raw[at] as usize;
        assert!(n < 0xfb, "short names only in these tests");
        let v = raw[at + 1..at + 1 + n].to_vec();
        at += 1 + n;
        v
    };
    let (catalog, schema, table, org_table, name, org_name) = (s(), s(), s(), s(), s(), s());
    Def {
        catalog,
        schema,
        table,
        org_table,
        name,
        org_name,
        fixed: raw[at..].to_vec(),
    }
}

/// Definitions equal but for the schema (the physical database of whichever
/// shard answered).
fn assert_same_defs(what: &str, proxy: &[ColumnDef], maria: &[ColumnDef]) {
    assert_eq!(proxy.len(), maria.len(), "{what}: column count");
    for (p, m) in proxy.iter().zip(maria) {
        let (mut p, mut m) = (split(&p.raw), split(&m.raw));
        assert_eq!(
            p.fixed,
            m.fixed,
            "{what}: column {}: charset/length/type/flags/decimals differ",
            String::from_utf8_lossy(&m.name)
        );
        p.schema.clear();
        m.schema.clear();
        assert_eq!(p, m, "{what}");
    }
}

async fn result_defs(c: &mut Connection, sql: &str) -> Vec<ColumnDef> {
    match c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
        Response::ResultSet { .. } => {
            let defs = c.columns().await.unwrap();
            c.drain().await.unwrap();
            defs
        }
        other => panic!("{sql}: not a result set: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_definitions_are_mariadbs_byte_for_byte() {
    let s = LogicalSchemas::start("w13c").await;
    let mut c = s.proxy.conn(&s.name).await;
    c.query_drop(
        "INSERT INTO typed (id, i, iu, b, tu, sm, ch, vc, tx, mt, vb, bn, dt, d, js, dec2, ts) VALUES \
         (1, -5, 7, 1, 200, -3, '13012345678', 'héllo', 'text', 'medium', x'00ff', x'01020304', \
          '2024-03-01 10:00:00.123', '2024-03-01', '{\"a\": 1}', 12.34, '2024-03-01 10:00:00'), \
         (2, 6, 8, 0, 1, 4, 'b', 'B', 't2', 'm2', x'01', x'05060708', \
          '2024-03-02 11:00:00.456', '2024-03-02', '[1]', -1.5, '2024-03-02 11:00:00')",
    )
    .await
    .unwrap();
    let mut proxy = raw_conn(s.proxy.port, USER, PASSWORD, &s.name).await;
    // id 1 lives on shard 1 (id mod 4).
    let mut maria = raw_conn(3306, "root", "", &s.shard_db(1)).await;

    // Merged over every shard (k-way ORDER BY merge, aggregates).
    for sql in [
        "SELECT * FROM typed ORDER BY id",
        "SELECT id, vc, dt FROM typed ORDER BY vc DESC LIMIT 1",
        "SELECT COUNT(*), SUM(i), MAX(vc), MIN(dt), MAX(dec2), SUM(dec2), MIN(vb) FROM typed",
        "SELECT DISTINCT ch FROM typed",
    ] {
        let p = result_defs(&mut proxy, sql).await;
        let m = result_defs(&mut maria, sql).await;
        assert_same_defs(sql, &p, &m);
    }
    // One shard: forwarded as the shard wrote it, schema included.
    let sql = "SELECT * FROM typed WHERE id = 1";
    let p = result_defs(&mut proxy, sql).await;
    let m = result_defs(&mut maria, sql).await;
    let raw = |d: &[ColumnDef]| d.iter().map(|c| c.raw.clone()).collect::<Vec<_>>();
    assert_eq!(raw(&p), raw(&m), "{sql}");

    // Prepared: parameter and column definitions.
    for sql in [
        "SELECT * FROM typed WHERE id = ?",
        "SELECT id, vc FROM typed WHERE id > ? ORDER BY id",
        "SELECT COUNT(*), MAX(dt) FROM typed WHERE vc <> ?",
        "INSERT INTO typed (id, vc) VALUES (?, ?)",
    ] {
        let p = proxy.prepare(sql).await.unwrap().unwrap();
        let m = maria.prepare(sql).await.unwrap().unwrap();
        assert_eq!(p.num_params, m.num_params, "{sql}");
        assert_same_defs(&format!("{sql} (params)"), &p.params, &m.params);
        assert_same_defs(&format!("{sql} (columns)"), &p.columns, &m.columns);
    }

    // The mariadb CLI reads the merged definitions as MariaDB's own.
    let out = tokio::process::Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{}", s.proxy.port),
            &format!("-u{USER}"),
            &format!("-p{PASSWORD}"),
            "--column-type-info",
            "--table",
            &s.name,
            "-e",
            "SELECT vc, COUNT(*) FROM typed GROUP BY vc",
        ])
        .output()
        .await
        .expect("mariadb CLI");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Collation:  utf8mb4_general_ci (45)"),
        "merged VARCHAR column: {text}"
    );
    assert!(text.contains("Length:     256"), "{text}");
    assert!(!text.contains("Collation:  ?"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_identity_and_the_variables_drivers_read() {
    let s = LogicalSchemas::start("i13c").await;
    let proxy = &s.proxy;
    let mut maria = direct(None).await;
    let backend: String = maria
        .query_first("SELECT VERSION()")
        .await
        .unwrap()
        .unwrap();
    let numeric: String = backend
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();

    let raw = raw_conn(proxy.port, USER, PASSWORD, &s.name).await;
    let expected = format!("{numeric}-MariaDB-haoka");
    assert_eq!(
        raw.server_version(),
        format!("5.5.5-{expected}"),
        "handshake as MariaDB presents itself to MySQL clients"
    );
    let mut c = proxy.conn(&s.name).await;
    let row: (String, String, String) = c
        .query_first("SELECT @@version, VERSION(), @@version_comment")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.0.as_str(), row.1.as_str()),
        (expected.as_str(), expected.as_str())
    );
    assert!(row.2.starts_with("haoka-proxy"), "{row:?}");
    let vars: Vec<(String, String)> = c.query("SHOW VARIABLES LIKE 'version%'").await.unwrap();
    let version = vars
        .iter()
        .find(|(n, _)| n == "version")
        .map(|(_, v)| v.as_str());
    assert_eq!(version, Some(expected.as_str()), "{vars:?}");

    // What JDBC, mysql-connector-python, mysql2 and SQLAlchemy read at
    // connect: every one answers, as the backend would but for the names
    // MariaDB 10.11 lacks (answered under the client's name).
    let same = [
        "@@max_allowed_packet",
        "@@system_time_zone",
        "@@time_zone",
        "@@auto_increment_increment",
        "@@sql_mode",
        "@@lower_case_table_names",
        "@@net_write_timeout",
        "@@wait_timeout",
        "@@interactive_timeout",
        "@@character_set_server",
        "@@collation_server",
        "@@tx_isolation",
        "@@session.tx_read_only",
        "@@license",
        "@@query_cache_type",
        "@@net_buffer_length",
    ];
    let list = same.join(", ");
    let via_proxy: mysql_async::Row = c
        .query_first(format!("SELECT {list}"))
        .await
        .unwrap()
        .unwrap();
    let direct_row: mysql_async::Row = maria
        .query_first(format!("SELECT {list}"))
        .await
        .unwrap()
        .unwrap();
    for (i, name) in same.iter().enumerate() {
        let p: Option<String> = via_proxy.get(i);
        let d: Option<String> = direct_row.get(i);
        assert_eq!(p, d, "{name}");
        assert_eq!(via_proxy.columns_ref()[i].name_str(), *name);
    }
    let mut r = c
        .query_iter(
            "SELECT @@transaction_isolation, @@session.transaction_isolation, \
             @@session.transaction_read_only, @@character_set_client, @@collation_connection",
        )
        .await
        .unwrap();
    let names: Vec<String> = r
        .columns()
        .unwrap()
        .iter()
        .map(|c| c.name_str().to_string())
        .collect();
    let row: Vec<(String, String, i64, String, String)> = r.collect().await.unwrap();
    assert_eq!(
        names,
        [
            "@@transaction_isolation",
            "@@session.transaction_isolation",
            "@@session.transaction_read_only",
            "@@character_set_client",
            "@@collation_connection"
        ]
    );
    assert_eq!(
        row,
        vec![(
            "REPEATABLE-READ".to_string(),
            "REPEATABLE-READ".to_string(),
            0,
            "utf8mb4".to_string(),
            "utf8mb4_general_ci".to_string()
        )]
    );

    // MySQL 8 names in SET: mapped, and later statements keep working.
    c.query_drop("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_0900_ai_ci'")
        .await
        .unwrap();
    c.query_drop("SET collation_connection = utf8mb4_0900_ai_ci")
        .await
        .unwrap();
    c.query_drop("SET SESSION transaction_isolation = 'READ-COMMITTED'")
        .await
        .unwrap();
    let row: (String, String) = c
        .query_first("SELECT @@collation_connection, @@transaction_isolation")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row,
        (
            "utf8mb4_general_ci".to_string(),
            "READ-COMMITTED".to_string()
        )
    );
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM orders WHERE id < 0")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
    // A SET the shards refuse fails at once and is not replayed later.
    let e = c
        .query_drop("SET SESSION sql_mode = 'NO_SUCH_MODE'")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1231"), "{e}");
    let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "later statements unaffected");
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM orders WHERE id < 0")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
}
