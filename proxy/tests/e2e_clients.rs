//! Real clients through the real haoka-proxy binary: the mariadb CLI,
//! mysql_async (text and prepared), PyMySQL, sysbench and MariaDB JDBC.
//!
//! Tables: sbtest10 (mysql_async), sbtest11 (PyMySQL), sbtest12 (JDBC),
//! sbtest13 (backend statement reuse),
//! sbtest1..sbtest2 (sysbench; prepared here only when missing).

mod e2e_common;

use std::path::Path;

use e2e_common::*;
use mysql_async::prelude::*;
use tokio::process::Command;

async fn cli(port: u16, db: &str, sql: &str) -> (bool, String) {
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            &format!("-u{USER}"),
            &format!("-p{PASSWORD}"),
            "--batch",
            "--skip-column-names",
            db,
            "-e",
            sql,
        ])
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

/// Drops and creates a sharded sbtest table through the proxy.
async fn fresh_table(c: &mut mysql_async::Conn, table: &str) {
    c.query_drop(format!("DROP TABLE IF EXISTS {table}"))
        .await
        .unwrap();
    c.query_drop(format!(
        "CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0, \
         c VARCHAR(64) NOT NULL DEFAULT '')"
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli() {
    let proxy = ProxyProc::start();
    let port = proxy.port;

    let (ok, out) = cli(port, "haoka", "SHOW TABLES").await;
    assert!(ok, "{out}");
    let tables: Vec<&str> = out.lines().collect();
    for t in ["phone_number", "province", "sim_card", "staff"] {
        assert!(tables.contains(&t), "SHOW TABLES lacks {t}: {out}");
    }

    let (ok, out) = cli(
        port,
        "haoka",
        "EXPLAIN SELECT * FROM phone_number WHERE phone_no='13012345678'",
    )
    .await;
    assert!(ok, "{out}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 1, "one shard: {out}");
    let cols: Vec<&str> = rows[0].split('\t').collect();
    assert_eq!(cols[0], "3", "{out}");
    assert_eq!(cols[1], "haoka_s3", "{out}");
    assert!(cols[2].contains("phone_number_"), "physical table: {out}");
    assert!(cols[2].contains("13012345678"), "{out}");

    let (ok, out) = cli(port, "haoka", "SHOW HAOKA SHARDS").await;
    assert!(ok, "{out}");
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 18, "2 schemas x (8 data + global): {out}");
    assert!(rows
        .iter()
        .any(|r| r[0] == "sbtest" && r[1] == "7" && r[4] == "sbtest_s7"));
    assert!(rows
        .iter()
        .any(|r| r[0] == "haoka" && r[1] == "global" && r[4] == "haoka_global"));

    // Several statements, a cross-shard aggregate and the logical schema name.
    let (ok, out) = cli(
        port,
        "haoka",
        "SELECT COUNT(*) > 0 FROM province; SELECT 1+1, NULL, 'héllo'; SELECT DATABASE()",
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out, "1\n2\tNULL\théllo\nhaoka\n");

    let (ok, out) = cli(port, "sbtest", "USE haoka; SELECT DATABASE()").await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "haoka");

    let (ok, out) = cli(port, "haoka", "SELEC 1").await;
    assert!(!ok);
    assert!(out.contains("ERROR 1064"), "{out}");
}

/// MariaDB's count of COM_STMT_PREPARE since it started (all sessions).
async fn backend_prepares() -> u64 {
    let mut d = direct(None).await;
    let row: Option<(String, u64)> = d
        .query_first("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'")
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    row.expect("Com_stmt_prepare").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_insert_drawing_sequence_ids_is_prepared_once_on_the_backend() {
    // The drawn id goes to the backend as a parameter: were it inlined, every
    // row would be a new statement text, prepared (and cached) again.
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("sbtest").await;
    fresh_table(&mut c, "sbtest13").await;
    let rows: usize = 200;
    let before = backend_prepares().await;
    for i in 0..rows {
        // The id column given as NULL, and omitted: both draw from the sequence.
        c.exec_drop(
            "INSERT INTO sbtest13 (id, k, c) VALUES (?, ?, ?)",
            (None::<i64>, i as i64, "n"),
        )
        .await
        .unwrap();
        c.exec_drop("INSERT INTO sbtest13 (k, c) VALUES (?, ?)", (i as i64, "o"))
            .await
            .unwrap();
    }
    let prepared = backend_prepares().await - before;
    let ids: Vec<i64> = c.query("SELECT id FROM sbtest13").await.unwrap();
    let distinct: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!((ids.len(), distinct.len()), (2 * rows, 2 * rows));
    // A handful (one per backend connection used, plus whatever else runs on
    // this MariaDB meanwhile) instead of 400.
    assert!(
        prepared < 50,
        "{prepared} backend prepares for {} inserts",
        2 * rows
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_text_and_prepared_with_sequences() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("sbtest").await;
    fresh_table(&mut c, "sbtest10").await;

    // Text protocol: explicit ids on several shards, then a scatter read.
    c.query_drop(
        "INSERT INTO sbtest10 (id, k, c) VALUES (900001, 10, 'a'), (901001, 20, 'b'), (907999, 30, 'c')",
    )
    .await
    .unwrap();
    let rows: Vec<(i64, i32, String)> = c
        .query("SELECT id, k, c FROM sbtest10 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (900001, 10, "a".into()),
            (901001, 20, "b".into()),
            (907999, 30, "c".into())
        ]
    );

    // Prepared: insert without id -> the sequence gives one (sequences start
    // low; the explicit ids above stay clear of them).
    let mut ids = Vec::new();
    for i in 0..3 {
        c.exec_drop(
            "INSERT INTO sbtest10 (k, c) VALUES (?, ?)",
            (100 + i, format!("seq{i}")),
        )
        .await
        .unwrap();
        let id = c.last_insert_id().expect("OK packet carries the id") as i64;
        let lid: Option<i64> = c.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
        assert_eq!(lid, Some(id), "LAST_INSERT_ID() is the sequence id");
        let back: Option<(i32, String)> = c
            .exec_first("SELECT k, c FROM sbtest10 WHERE id = ?", (id,))
            .await
            .unwrap();
        assert_eq!(back, Some((100 + i, format!("seq{i}"))));
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // A multi-row prepared insert without ids: LAST_INSERT_ID() is the first.
    c.exec_drop(
        "INSERT INTO sbtest10 (k, c) VALUES (?, ?), (?, ?), (?, ?)",
        (300, "m0", 301, "m1", 302, "m2"),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 3);
    let first = c.last_insert_id().unwrap() as i64;
    let multi: Vec<i64> = c
        .query("SELECT id FROM sbtest10 WHERE c IN ('m0', 'm1', 'm2') ORDER BY c")
        .await
        .unwrap();
    assert_eq!(multi.len(), 3);
    assert_eq!(multi[0], first, "LAST_INSERT_ID is the first row's id");
    assert!(multi.windows(2).all(|w| w[0] < w[1]), "{multi:?}");
    let lid: Option<i64> = c.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(lid, Some(first));
    ids.extend(&multi);

    // Text insert without id, too.
    c.query_drop("INSERT INTO sbtest10 (k, c) VALUES (200, 'text')")
        .await
        .unwrap();
    let text_id = c.last_insert_id().unwrap() as i64;
    assert!(!ids.contains(&text_id));
    ids.push(text_id);

    // Each row sits on the shard range_mod names, and only there.
    for id in ids.iter().copied().chain([900001, 901001, 907999]) {
        let want = sbtest_shard(id);
        for s in 0..8 {
            let mut d = direct(Some(&format!("sbtest_s{s}"))).await;
            let n: Option<i64> = d
                .exec_first("SELECT COUNT(*) FROM sbtest10 WHERE id = ?", (id,))
                .await
                .unwrap();
            assert_eq!(n, Some((s == want) as i64), "id {id} on shard {s}");
            d.disconnect().await.unwrap();
        }
    }

    // Prepared statements with several parameter types and reuse.
    let stmt = c
        .prep("SELECT id FROM sbtest10 WHERE id IN (?, ?, ?) AND k >= ? ORDER BY id DESC")
        .await
        .unwrap();
    let got: Vec<i64> = c.exec(&stmt, (900001, 901001, 907999, 15)).await.unwrap();
    assert_eq!(got, vec![907999, 901001]);
    let got: Vec<i64> = c.exec(&stmt, (900001, 901001, 907999, 0)).await.unwrap();
    assert_eq!(got, vec![907999, 901001, 900001]);
    let got: Vec<i64> = c
        .exec(&stmt, ("900001", "901001", "907999", "15"))
        .await
        .unwrap();
    assert_eq!(got, vec![907999, 901001], "string params");

    // Prepared update/delete report affected rows across shards.
    c.exec_drop("UPDATE sbtest10 SET k = k + ? WHERE id >= ?", (1, 900000))
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 3);
    c.exec_drop("UPDATE sbtest10 SET k = k + ? WHERE id < ?", (1, 900000))
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), ids.len() as u64);
    c.exec_drop("DELETE FROM sbtest10 WHERE id = ?", (907999,))
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);

    // A transaction that spans shards.
    c.query_drop("BEGIN").await.unwrap();
    c.exec_drop("UPDATE sbtest10 SET c = ? WHERE id = ?", ("tx", 900001))
        .await
        .unwrap();
    c.exec_drop("UPDATE sbtest10 SET c = ? WHERE id = ?", ("tx", 901001))
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM sbtest10 WHERE c = 'tx'")
        .await
        .unwrap();
    assert_eq!(n, Some(0), "rollback undone on both shards");

    // Session values come from the proxy session, not the backend connection.
    let mut r = c.query_iter("SELECT DATABASE()").await.unwrap();
    let name = r.columns().unwrap()[0].name_str().to_string();
    let db: Vec<String> = r.collect().await.unwrap();
    assert_eq!(
        (name.as_str(), db),
        ("DATABASE()", vec!["sbtest".to_string()])
    );
    let ac: Option<i64> = c.query_first("SELECT @@autocommit").await.unwrap();
    assert_eq!(ac, Some(1));
    // ... over the binary protocol too, with a parameter next to them.
    let row: Option<(String, i64, i64, String)> = c
        .exec_first(
            "SELECT DATABASE(), @@autocommit, LAST_INSERT_ID(), ?",
            ("p",),
        )
        .await
        .unwrap();
    assert_eq!(row, Some(("sbtest".into(), 1, text_id, "p".into())));
    c.query_drop("SET autocommit = 0").await.unwrap();
    let ac: Option<i64> = c.query_first("SELECT @@autocommit").await.unwrap();
    assert_eq!(ac, Some(0));
    c.exec_drop("UPDATE sbtest10 SET c = ? WHERE id = ?", ("ac0", 900001))
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();

    // Concurrent clients with prepared point selects, each checking its answers.
    let mut tasks = Vec::new();
    for t in 0..4 {
        let url = proxy.url("sbtest");
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::from_url(url).await.unwrap();
            for n in 0..50 {
                let id = ids[(t + n) % ids.len()];
                let got: Option<i64> = c
                    .exec_first("SELECT id FROM sbtest10 WHERE id = ?", (id,))
                    .await
                    .unwrap();
                assert_eq!(got, Some(id));
                let c900: Option<String> = c
                    .query_first("SELECT c FROM sbtest10 WHERE id = 900001")
                    .await
                    .unwrap();
                assert_eq!(c900.as_deref(), Some("ac0"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    c.query_drop("DROP TABLE sbtest10").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_autocommit_off_and_commit() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("sbtest").await;
    fresh_table(&mut c, "sbtest11").await;

    let script = r#"
import sys, pymysql
port = int(sys.argv[1])
conn = pymysql.connect(host="127.0.0.1", port=port, user="haoka", password="haoka", database="sbtest")
cur = conn.cursor()
# PyMySQL sent SET AUTOCOMMIT=0 at connect: these inserts are one transaction.
cur.execute("SELECT @@autocommit")
print("autocommit", cur.fetchone()[0])
cur.executemany("INSERT INTO sbtest11 (id, k, c) VALUES (%s, %s, %s)",
                [(900001, 1, "one"), (902500, 2, "two"), (906001, 3, "three")])
cur.execute("INSERT INTO sbtest11 (k, c) VALUES (%s, %s)", (4, "seq"))
print("lastrowid", cur.lastrowid)
conn.commit()
cur.execute("INSERT INTO sbtest11 (id, k, c) VALUES (%s, %s, %s)", (903001, 9, "rolled back"))
conn.rollback()
cur.execute("SELECT id, c FROM sbtest11 WHERE id IN (%s, %s, %s) ORDER BY id", (900001, 902500, 906001))
print("rows", ";".join("%d=%s" % r for r in cur.fetchall()))
cur.execute("SELECT COUNT(*), SUM(k) FROM sbtest11")
print("agg", *cur.fetchone())
conn.close()
"#;
    let out = Command::new("python3")
        .args(["-c", script, &proxy.port.to_string()])
        .output()
        .await
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "autocommit 0", "{stdout}");
    let seq_id: i64 = lines[1]
        .strip_prefix("lastrowid ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(seq_id > 0, "{stdout}");
    assert_eq!(
        lines[2], "rows 900001=one;902500=two;906001=three",
        "{stdout}"
    );
    assert_eq!(lines[3], "agg 4 10", "{stdout}");

    // Committed, seen from another connection; the rolled back row is absent.
    let mut other = proxy.conn("sbtest").await;
    let ids: Vec<i64> = other
        .query("SELECT id FROM sbtest11 ORDER BY id")
        .await
        .unwrap();
    let mut want = vec![900001, 902500, 906001, seq_id];
    want.sort();
    assert_eq!(ids, want);
    c.query_drop("DROP TABLE sbtest11").await.unwrap();
}

async fn sysbench(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("sysbench")
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={port}"),
            &format!("--mysql-user={USER}"),
            &format!("--mysql-password={PASSWORD}"),
            "--mysql-db=sbtest",
            "--tables=2",
            "--table-size=2000",
        ])
        .args(args)
        .output()
        .await
        .expect("sysbench installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The number after `label` in sysbench's report.
fn stat(out: &str, label: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in {out}"));
    line[line.find(':').unwrap() + 1..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_point_select_and_read_only() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("sbtest").await;
    // sbtest1..2 may already hold the benchmarks' data (loadtest/): reuse it
    // when it is there; prepare (and clean up) only tables that are missing.
    let mut have = true;
    for t in ["sbtest1", "sbtest2"] {
        if c.query_drop(format!("SELECT id FROM {t} WHERE id = 1"))
            .await
            .is_err()
        {
            have = false;
        }
    }
    if !have {
        let (ok, out) = sysbench(proxy.port, &["oltp_common", "cleanup"]).await;
        assert!(ok, "{out}");
        let (ok, out) = sysbench(proxy.port, &["oltp_common", "prepare"]).await;
        assert!(ok, "prepare through the proxy: {out}");
    }
    for test in ["oltp_point_select", "oltp_read_only"] {
        for ps in ["auto", "disable"] {
            let (ok, out) = sysbench(
                proxy.port,
                &[
                    test,
                    "run",
                    "--time=3",
                    "--threads=4",
                    &format!("--db-ps-mode={ps}"),
                ],
            )
            .await;
            assert!(ok, "{test} ps={ps}: {out}");
            assert!(stat(&out, "total:") > 0, "{test} ps={ps}: {out}");
            assert!(stat(&out, "read:") > 0, "{test} ps={ps}: {out}");
            assert_eq!(stat(&out, "ignored errors:"), 0, "{test} ps={ps}: {out}");
        }
    }
    if !have {
        let (ok, out) = sysbench(proxy.port, &["oltp_common", "cleanup"]).await;
        assert!(ok, "{out}");
    }
}

const JDBC_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_jdbc_server_prepared() {
    assert!(
        Path::new(JDBC_JAR).exists(),
        "MariaDB JDBC driver missing: apt-get install -y libmariadb-java"
    );
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("sbtest").await;
    fresh_table(&mut c, "sbtest12").await;
    c.query_drop("INSERT INTO sbtest12 (id, k, c) VALUES (5, 1, 'five'), (1005, 2, 'thousand-five'), (4005, 3, 'x')")
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(format!("haoka-e2e-jdbc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let java = format!(
        r#"import java.sql.*;
public class HaokaJdbc {{
  public static void main(String[] a) throws Exception {{
    String url = "jdbc:mariadb://127.0.0.1:{port}/sbtest?user={USER}&password={PASSWORD}&useServerPrepStmts=true";
    try (Connection c = DriverManager.getConnection(url)) {{
      System.out.println("catalog " + c.getCatalog());
      try (PreparedStatement ps = c.prepareStatement("SELECT id, k, c FROM sbtest12 WHERE id = ?")) {{
        for (long id : new long[] {{5, 1005, 77}}) {{
          ps.setLong(1, id);
          try (ResultSet rs = ps.executeQuery()) {{
            if (rs.next()) System.out.println("row " + rs.getLong(1) + " " + rs.getInt(2) + " " + rs.getString(3));
            else System.out.println("none " + id);
          }}
        }}
      }}
      try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*), SUM(k) FROM sbtest12 WHERE id >= ? AND c <> ?")) {{
        ps.setInt(1, 0);
        ps.setString(2, "x");
        try (ResultSet rs = ps.executeQuery()) {{
          rs.next();
          System.out.println("agg " + rs.getLong(1) + " " + rs.getLong(2));
        }}
      }}
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("UPDATE sbtest12 SET k = k + ? WHERE id = ?")) {{
        ps.setInt(1, 10);
        ps.setLong(2, 5);
        System.out.println("updated " + ps.executeUpdate());
      }}
      c.commit();
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO sbtest12 (id, k, c) VALUES (?, ?, ?)")) {{
        for (long id : new long[] {{2005, 3005, 9005}}) {{
          ps.setLong(1, id);
          ps.setInt(2, 7);
          ps.setString(3, "batch" + id);
          ps.addBatch();
        }}
        int total = 0;
        for (int n : ps.executeBatch()) total += n;
        System.out.println("batch " + total);
      }}
      c.rollback();
      c.setAutoCommit(true);
    }}
    // Client-side prepared statements, metadata of a merged aggregate.
    String url2 = "jdbc:mariadb://127.0.0.1:{port}/sbtest?user={USER}&password={PASSWORD}&useServerPrepStmts=false";
    try (Connection c = DriverManager.getConnection(url2);
         PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) AS n, MAX(c) AS top FROM sbtest12 WHERE k < ?")) {{
      ps.setInt(1, 100);
      try (ResultSet rs = ps.executeQuery()) {{
        ResultSetMetaData md = rs.getMetaData();
        rs.next();
        System.out.println("client " + md.getColumnLabel(1) + "=" + rs.getLong(1) + " " + md.getColumnLabel(2) + "=" + rs.getString(2));
      }}
    }}
  }}
}}
"#,
        port = proxy.port
    );
    std::fs::write(dir.join("HaokaJdbc.java"), java).unwrap();
    let out = Command::new("javac")
        .arg("HaokaJdbc.java")
        .current_dir(&dir)
        .output()
        .await
        .expect("javac");
    assert!(
        out.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("java")
        .args(["-cp", &format!("{JDBC_JAR}:."), "HaokaJdbc"])
        .current_dir(&dir)
        .output()
        .await
        .expect("java");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "java: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "catalog sbtest\nrow 5 1 five\nrow 1005 2 thousand-five\nnone 77\nagg 2 3\nupdated 1\n\
         batch 3\nclient n=3 top=x\n"
    );
    let k: Option<i32> = c
        .query_first("SELECT k FROM sbtest12 WHERE id = 5")
        .await
        .unwrap();
    assert_eq!(k, Some(11), "JDBC commit landed");
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM sbtest12 WHERE c LIKE 'batch%'")
        .await
        .unwrap();
    assert_eq!(n, Some(0), "JDBC rollback of the batch");
    c.query_drop("DROP TABLE sbtest12").await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_and_isolation_across_clients() {
    let proxy = ProxyProc::start();
    let mut a = proxy.conn("sbtest").await;
    fresh_table(&mut a, "sbtest13").await;
    a.query_drop("INSERT INTO sbtest13 (id, k, c) VALUES (900001, 1, 'a'), (905001, 2, 'b')")
        .await
        .unwrap();

    // Session settings of one client apply to its own shard statements only.
    a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    a.query_drop("SET @e2e_v = 42").await.unwrap();
    let v: Option<i64> = a.query_first("SELECT @e2e_v").await.unwrap();
    assert_eq!(v, Some(42));
    let n: Option<i64> = a
        .query_first("SELECT COUNT(*) FROM sbtest13 WHERE \"k\" > 0")
        .await
        .unwrap();
    assert_eq!(n, Some(2), "ANSI_QUOTES on every shard of this session");
    // Other clients (sharing the pooled backend connections) do not see them.
    for _ in 0..3 {
        let mut b = proxy.conn("sbtest").await;
        let n: Option<i64> = b
            .query_first("SELECT COUNT(*) FROM sbtest13 WHERE c = \"a\"")
            .await
            .unwrap();
        assert_eq!(n, Some(1), "no ANSI_QUOTES leak");
        let v: Option<Option<i64>> = b.query_first("SELECT @e2e_v").await.unwrap();
        assert_eq!(v, Some(None), "no user variable leak");
        b.disconnect().await.unwrap();
    }

    // A two-shard transaction is invisible to others until COMMIT.
    let mut b = proxy.conn("sbtest").await;
    a.query_drop("SET autocommit = 0").await.unwrap();
    a.exec_drop("UPDATE sbtest13 SET k = ? WHERE id = ?", (10, 900001))
        .await
        .unwrap();
    a.exec_drop("UPDATE sbtest13 SET k = ? WHERE id = ?", (20, 905001))
        .await
        .unwrap();
    let seen: Vec<i64> = b.query("SELECT k FROM sbtest13 ORDER BY id").await.unwrap();
    assert_eq!(seen, vec![1, 2], "uncommitted writes hidden");
    let own: Vec<i64> = a.query("SELECT k FROM sbtest13 ORDER BY id").await.unwrap();
    assert_eq!(own, vec![10, 20], "own writes visible");
    a.query_drop("COMMIT").await.unwrap();
    let seen: Vec<i64> = b.query("SELECT k FROM sbtest13 ORDER BY id").await.unwrap();
    assert_eq!(seen, vec![10, 20], "committed on both shards");
    a.query_drop("SET autocommit = 1").await.unwrap();
    a.query_drop("DROP TABLE sbtest13").await.unwrap();
}
