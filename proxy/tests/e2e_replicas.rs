//! Read/write split against real MariaDB replication: a private primary
//! (binlog, server-id 1) and a private replica (server-id 2, GTID
//! replication from it) hold shard 0. A marker row written only on the
//! replica shows where each read went.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::*;
use mysql_async::prelude::*;

const MARKER_ID: i64 = 100;
const MARKER: &str = "only on the replica";

/// Shard 0 on the private primary with its replica (lag limit 1 s); shard 1
/// and the global shard on the main server.
fn rules(prefix: &str, primary: u16, replica: u16) -> String {
    item_rules(
        &[("main", 3306), ("primary", primary), ("replica", replica)],
        prefix,
        &[
            format!(
                r#"{{ datasource = "primary", database = "{prefix}_s0", replicas = [{{ datasource = "replica", max_lag_s = 1 }}] }}"#
            ),
            format!(r#"{{ datasource = "main", database = "{prefix}_s1" }}"#),
        ],
    )
}

async fn marker(c: &mut mysql_async::Conn) -> Option<String> {
    c.exec_first("SELECT note FROM item WHERE id = ?", (MARKER_ID,))
        .await
        .expect("marker read")
}

/// SHOW HAOKA SHARDS state of shard 0's replica.
async fn replica_state(c: &mut mysql_async::Conn) -> String {
    let rows: Vec<mysql_async::Row> = c.query("SHOW HAOKA SHARDS").await.unwrap();
    rows.iter()
        .find(|r| {
            r.get::<String, _>("shard").as_deref() == Some("0")
                && r.get::<String, _>("role").as_deref() == Some("replica")
        })
        .and_then(|r| r.get::<String, _>("state"))
        .expect("replica row")
}

/// Polls until the replica of shard 0 is in `state` (at most `within`).
async fn wait_state(c: &mut mysql_async::Conn, state: &str, within: Duration) {
    let t = Instant::now();
    loop {
        let now = replica_state(c).await;
        if now == state {
            return;
        }
        assert!(t.elapsed() < within, "replica state {now}, wanted {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn replica_reads(p: &ProxyProc, prefix: &str) -> u64 {
    p.metric(&format!(
        "haoka_proxy_replica_reads_total{{schema=\"{prefix}\",shard=\"0\",role=\"replica\",datasource=\"replica\"}}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_use_a_fresh_replica_only_outside_transactions_and_own_writes() {
    let prefix = "haoka_flt_rw";
    let primary = MariadbInstance::start(
        "rw-primary",
        &[
            "--server-id=1",
            "--log-bin=primary-bin",
            "--binlog-format=ROW",
        ],
    );
    let mut replica =
        MariadbInstance::start("rw-replica", &["--server-id=2", "--relay-log=relay-bin"]);
    primary.add_proxy_account().await;
    replica.add_proxy_account().await;
    replica
        .exec(&[
            &format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', \
                 MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos",
                primary.port
            ),
            "START SLAVE",
        ])
        .await;
    primary
        .exec(&[
            &format!("CREATE DATABASE {prefix}_s0"),
            &format!(
                "CREATE TABLE {prefix}_s0.item (id BIGINT PRIMARY KEY, note VARCHAR(40) NOT NULL)"
            ),
            &format!(
                "INSERT INTO {prefix}_s0.item VALUES (0, 'row 0'), (2, 'row 2'), (4, 'row 4')"
            ),
        ])
        .await;
    let mut main = direct(None).await;
    for db in ["g", "s1"] {
        main.query_drop(format!("DROP DATABASE IF EXISTS {prefix}_{db}"))
            .await
            .unwrap();
        main.query_drop(format!("CREATE DATABASE {prefix}_{db}"))
            .await
            .unwrap();
    }
    main.query_drop(format!(
        "CREATE TABLE {prefix}_s1.item (id BIGINT PRIMARY KEY, note VARCHAR(40) NOT NULL)"
    ))
    .await
    .unwrap();
    main.query_drop(format!(
        "INSERT INTO {prefix}_s1.item VALUES (1, 'row 1'), (3, 'row 3')"
    ))
    .await
    .unwrap();
    // Wait for replication, then write the marker on the replica only.
    let mut r = replica.root().await;
    let t = Instant::now();
    loop {
        let n: Option<i64> = r
            .query_first(format!("SELECT COUNT(*) FROM {prefix}_s0.item"))
            .await
            .ok()
            .flatten();
        if n == Some(3) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "replication did not catch up: {}",
            replica.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.query_drop(format!(
        "INSERT INTO {prefix}_s0.item VALUES ({MARKER_ID}, '{MARKER}')"
    ))
    .await
    .unwrap();

    let proxy = ProxyProc::start_with_rules(
        Some(&rules(prefix, primary.port, replica.port)),
        "[pool]\nhealth_check_interval_ms = 200\nconnect_timeout_ms = 1000\n[replicas]\nprimary_after_write_ms = 1000\n",
    );
    let mut c = proxy.conn(prefix).await;
    wait_state(&mut c, "usable", Duration::from_secs(5)).await;

    // Outside a transaction: the replica answers, single-shard and scatter.
    let before = replica_reads(&proxy, prefix);
    assert_eq!(marker(&mut c).await.as_deref(), Some(MARKER));
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM item").await.unwrap();
    assert_eq!(n, Some(6), "3 replicated + marker on shard 0, 2 on shard 1");
    assert!(replica_reads(&proxy, prefix) >= before + 2);

    // Inside a transaction: the primary.
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(marker(&mut c).await, None);
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM item").await.unwrap();
    assert_eq!(n, Some(5));
    c.query_drop("COMMIT").await.unwrap();
    // Locking reads too.
    let locked: Option<String> = c
        .exec_first(
            "SELECT note FROM item WHERE id = ? FOR UPDATE",
            (MARKER_ID,),
        )
        .await
        .unwrap();
    assert_eq!(locked, None);
    // A string that spells a locking clause locks nothing: the replica
    // answers (the planner reads the clause, not the text).
    let spelled: Option<String> = c
        .exec_first(
            "SELECT note FROM item WHERE id = ? AND note <> 'x FOR UPDATE'",
            (MARKER_ID,),
        )
        .await
        .unwrap();
    assert_eq!(spelled.as_deref(), Some(MARKER));

    // After the session's own write: the primary, for primary_after_write_ms.
    let mut w = proxy.conn(prefix).await;
    assert_eq!(marker(&mut w).await.as_deref(), Some(MARKER));
    w.query_drop("INSERT INTO item (id, note) VALUES (6, 'row 6')")
        .await
        .unwrap();
    assert_eq!(marker(&mut w).await, None, "read after own write");
    let six: Option<String> = w
        .query_first("SELECT note FROM item WHERE id = 6")
        .await
        .unwrap();
    assert_eq!(six.as_deref(), Some("row 6"));
    // Another session is not bound by it.
    assert_eq!(marker(&mut c).await.as_deref(), Some(MARKER));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(marker(&mut w).await.as_deref(), Some(MARKER));

    // Replication stopped: lag unknown, the replica is skipped.
    r.query_drop("STOP SLAVE").await.unwrap();
    wait_state(&mut c, "lag unknown", Duration::from_secs(3)).await;
    assert_eq!(marker(&mut c).await, None);
    // Delayed replication: behind its 1 s limit while a write waits.
    r.query_drop("CHANGE MASTER TO MASTER_DELAY = 4")
        .await
        .unwrap();
    r.query_drop("START SLAVE").await.unwrap();
    wait_state(&mut c, "usable", Duration::from_secs(5)).await;
    assert_eq!(marker(&mut c).await.as_deref(), Some(MARKER));
    let mut p = primary.root().await;
    p.query_drop(format!("INSERT INTO {prefix}_s0.item VALUES (8, 'row 8')"))
        .await
        .unwrap();
    wait_state(&mut c, "too far behind", Duration::from_secs(4)).await;
    assert_eq!(marker(&mut c).await, None);
    // The delayed event applies; the replica catches up and serves again.
    wait_state(&mut c, "usable", Duration::from_secs(8)).await;
    assert_eq!(marker(&mut c).await.as_deref(), Some(MARKER));

    // Replica gone: reads go to the primary without an error.
    drop(r);
    replica.kill();
    for _ in 0..5 {
        assert_eq!(marker(&mut c).await, None);
    }
    wait_state(&mut c, "down", Duration::from_secs(3)).await;
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM item").await.unwrap();
    assert_eq!(n, Some(7), "primary: 0 2 4 6 8 on shard 0, 1 3 on shard 1");

    drop(c);
    drop(w);
    for db in ["g", "s1"] {
        let _ = main
            .query_drop(format!("DROP DATABASE IF EXISTS {prefix}_{db}"))
            .await;
    }
}
