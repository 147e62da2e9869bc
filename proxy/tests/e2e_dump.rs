//! Backup and restore through the real haoka-proxy with the stock tools: a
//! `mariadb-dump` of a logical database (defaults, and
//! `--single-transaction`), its tables dropped, the dump loaded back with
//! the `mariadb` CLI, every row compared — for sharded, split, broadcast
//! and global tables.
//!
//! Schemas: private `d13c` / `d13cx` (e2e_common::logical).

mod e2e_common;

use e2e_common::logical::{LogicalSchemas, SHARDS};
use e2e_common::*;
use mysql_async::prelude::*;
use tokio::process::Command;

const TABLES: [(&str, &str); 5] = [
    ("orders", "id"),
    ("ledger", "acct, id"),
    ("region", "code"),
    ("setting", "k"),
    ("typed", "id"),
];

async fn fill(c: &mut mysql_async::Conn) {
    let mut rng = Rng::new(13);
    let mut values = Vec::new();
    for i in 0..300i64 {
        let note = match i % 5 {
            0 => "NULL".to_string(),
            1 => "'it''s a \\\\path\\\\to'".to_string(),
            2 => "'中文 ünïcødé'".to_string(),
            _ => format!("'n{}'", rng.range(0, 1_000_000)),
        };
        values.push(format!(
            "({}, '{}', {}.{:02}, {note}, '2024-0{}-1{} 0{}:00:00.{:03}')",
            10_000 + i * 7,
            ["11", "31", "51"][(i % 3) as usize],
            rng.range(0, 99_999),
            rng.range(0, 99),
            1 + i % 9,
            i % 10,
            i % 10,
            i
        ));
    }
    c.query_drop(format!(
        "INSERT INTO orders (id, region, amount, note, created) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let ledger: Vec<String> = (0..200)
        .map(|i| format!("({}, {}, 'entry {i}')", i % 13, 1_000 + i))
        .collect();
    c.query_drop(format!(
        "INSERT INTO ledger (acct, id, body) VALUES {}",
        ledger.join(", ")
    ))
    .await
    .unwrap();
    c.query_drop(
        "INSERT INTO region (code, name) VALUES ('11', '北京'), ('31', '上海'), ('51', 'O''Brien')",
    )
    .await
    .unwrap();
    c.query_drop(
        "INSERT INTO setting (k, v) VALUES ('bin', x'00ff0a0d5c27'), ('empty', ''), ('null', NULL)",
    )
    .await
    .unwrap();
    c.query_drop(
        "INSERT INTO typed (id, i, iu, b, tu, sm, ch, vc, tx, mt, vb, bn, dt, d, js, dec2, ts) VALUES \
         (1, -5, 4294967295, 1, 255, -32768, '13012345678', 'tab\\there', 'line\\nbreak', 'm', x'00', \
          x'00010203', '2024-03-01 10:00:00.123', '2024-03-01', '{\"a\": [1, 2]}', -9999999999.99, \
          '2024-03-01 10:00:00'), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await
    .unwrap();
}

/// Every row of every table, in key order, as text.
async fn snapshot(c: &mut mysql_async::Conn) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (t, key) in TABLES {
        let rows: Vec<mysql_async::Row> = c
            .query(format!("SELECT * FROM {t} ORDER BY {key}"))
            .await
            .unwrap();
        let text: Vec<String> = rows
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| v.as_sql(false))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        out.push((t.to_string(), text));
    }
    out
}

/// Rows per physical database (where each row lives).
async fn placement(s: &LogicalSchemas) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut root = direct(None).await;
    for i in 0..SHARDS {
        let db = s.shard_db(i);
        for t in ["orders", "ledger_0", "ledger_1", "region"] {
            let n: Option<i64> = root
                .query_first(format!("SELECT COUNT(*) FROM `{db}`.`{t}`"))
                .await
                .unwrap();
            out.push((format!("{db}.{t}"), n.unwrap()));
        }
    }
    for t in ["setting", "region"] {
        let n: Option<i64> = root
            .query_first(format!("SELECT COUNT(*) FROM `{}`.`{t}`", s.global_db()))
            .await
            .unwrap();
        out.push((format!("global.{t}"), n.unwrap()));
    }
    out
}

async fn run(cmd: &mut Command) -> (bool, Vec<u8>, String) {
    let out = cmd.output().await.expect("mariadb client tools installed");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_dump_and_restore_round_trip_every_row() {
    let s = LogicalSchemas::start("d13c").await;
    let mut c = s.proxy.conn(&s.name).await;
    fill(&mut c).await;
    let before = snapshot(&mut c).await;
    let placed = placement(&s).await;
    assert!(placed.iter().all(|(_, n)| *n > 0), "{placed:?}");
    let port = s.proxy.port.to_string();
    let dir = std::env::temp_dir().join(format!("haoka-e2e-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    for (mode, extra) in [
        ("defaults", None),
        ("single-transaction", Some("--single-transaction")),
    ] {
        let (ok, raw_dump, err) = run(Command::new("mariadb-dump")
            .args([
                "-h127.0.0.1",
                "-P",
                &port,
                "-u",
                USER,
                &format!("-p{PASSWORD}"),
            ])
            .args(extra)
            .arg(&s.name))
        .await;
        assert!(ok, "{mode}: mariadb-dump failed: {err}");
        let dump = String::from_utf8_lossy(&raw_dump);
        assert!(
            !err.contains("Error") && !err.contains("Warning"),
            "{mode}: {err}"
        );
        for (t, _) in TABLES {
            assert!(
                dump.contains(&format!("CREATE TABLE `{t}`")),
                "{mode}: no CREATE TABLE {t}:\n{dump}"
            );
            assert!(
                dump.contains(&format!("INSERT INTO `{t}` VALUES")),
                "{mode}: no rows of {t}:\n{dump}"
            );
        }
        assert!(
            !dump.contains("haoka_sequence"),
            "{mode}: internal table dumped"
        );
        assert!(
            !dump.contains("sbtest_d13c"),
            "{mode}: physical names in the dump"
        );
        let file = dir.join(format!("{mode}.sql"));
        std::fs::write(&file, &raw_dump).unwrap();

        // Restore into an empty logical database.
        for (t, _) in TABLES {
            c.query_drop(format!("DROP TABLE {t}")).await.unwrap();
        }
        let tables: Vec<String> = c.query("SHOW TABLES").await.unwrap();
        assert!(tables.is_empty(), "{tables:?}");
        let (ok, out, err) = run(Command::new("sh").arg("-c").arg(format!(
            "mariadb -h127.0.0.1 -P{port} -u{USER} -p{PASSWORD} {} < {}",
            s.name,
            file.display()
        )))
        .await;
        assert!(
            ok,
            "{mode}: restore failed: {}{err}",
            String::from_utf8_lossy(&out)
        );
        let after = snapshot(&mut c).await;
        for ((t, b), (_, a)) in before.iter().zip(&after) {
            assert_eq!(a.len(), b.len(), "{mode}: rows of {t}");
            assert_eq!(a, b, "{mode}: {t} after the round trip");
        }
        assert_eq!(placement(&s).await, placed, "{mode}: rows on their shards");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_statements_one_by_one() {
    let s = LogicalSchemas::start("e13c").await;
    let mut c = s.proxy.conn(&s.name).await;
    // Session-restore lines of a dump, in order, on one connection.
    for sql in [
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
        "/*!40101 SET NAMES utf8mb4 */",
        "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */",
        "/*!40103 SET TIME_ZONE='+00:00' */",
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */",
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
        "LOCK TABLES `orders` WRITE",
        "/*!40000 ALTER TABLE `orders` DISABLE KEYS */",
        "INSERT INTO `orders` VALUES (1,'11',1.50,'a',NULL),(2,'31',NULL,NULL,'2024-01-01 00:00:00.000')",
        "/*!40000 ALTER TABLE `orders` ENABLE KEYS */",
        "UNLOCK TABLES",
        "INSERT INTO ledger VALUES (3, 7, 'x')",
        "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */",
        "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */",
        "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */",
        "/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */",
    ] {
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let rows: Vec<(i64, String)> = c
        .query("SELECT /*!40001 SQL_NO_CACHE */ id, region FROM `orders` ORDER BY id")
        .await
        .unwrap();
    assert_eq!(rows, vec![(1, "11".to_string()), (2, "31".to_string())]);
    let tz: Option<String> = c.query_first("SELECT @@time_zone").await.unwrap();
    assert_eq!(
        tz.as_deref(),
        Some("SYSTEM"),
        "restored by the dump's last lines"
    );
    let mut root = direct(Some(&s.shard_db(1))).await;
    let n: Option<i64> = root
        .query_first("SELECT COUNT(*) FROM orders WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(n, Some(1), "INSERT without a column list routed by id");
    let mut root = direct(Some(&s.shard_db(3))).await;
    let n: Option<i64> = root
        .query_first("SELECT COUNT(*) FROM ledger_1 WHERE acct = 3 AND id = 7")
        .await
        .unwrap();
    assert_eq!(n, Some(1), "split table: shard 3, split 1");
    // A read of a split table inside a transaction: both split tables of
    // a shard on the transaction's one connection to it.
    c.query_drop("INSERT INTO ledger (acct, id, body) VALUES (3, 8, 'y'), (7, 9, 'z')")
        .await
        .unwrap();
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    c.query_drop("SAVEPOINT sp").await.unwrap();
    let ids: Vec<i64> = c.query("SELECT id FROM ledger ORDER BY id").await.unwrap();
    assert_eq!(ids, vec![7, 8, 9]);
    c.query_drop("ROLLBACK TO SAVEPOINT sp").await.unwrap();
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM ledger WHERE acct = 3")
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    c.query_drop("COMMIT").await.unwrap();
    // Column count must match, as on MariaDB.
    let e = c
        .query_drop("INSERT INTO orders VALUES (3, '11')")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Column count"), "{e}");
    // A table the schema does not have.
    let e = c
        .query_drop("/*!40000 ALTER TABLE `nope` DISABLE KEYS */")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1146"), "{e}");
}
