//! Distributed transactions through the real proxy binary: a transaction
//! that writes on two shards commits with XA two-phase commit or rolls back
//! as a whole, checked with direct connections to the shard databases.
//! Rows live in `sbtest7` at ids used by no other test.

mod e2e_common;

use std::time::Duration;

use e2e_common::txn::*;
use e2e_common::*;
use mysql_async::prelude::*;

const TABLE: &str = "sbtest7";
/// Shards 4, 5 and 6 ((id div 1000) mod 8).
const A: i64 = 7_100_001;
const B: i64 = 7_101_001;
const C: i64 = 7_102_001;

/// Whether row `id` can be locked right now (direct, on its shard).
async fn lock_free(id: i64) -> bool {
    let mut d = direct(Some(&format!("sbtest_s{}", sbtest_shard(id)))).await;
    d.query_drop("BEGIN").await.unwrap();
    let r = d
        .exec_drop(
            format!("SELECT k FROM {TABLE} WHERE id = ? FOR UPDATE NOWAIT"),
            (id,),
        )
        .await;
    d.query_drop("ROLLBACK").await.unwrap();
    d.disconnect().await.unwrap();
    r.is_ok()
}

async fn k(c: &mut mysql_async::Conn, id: i64) -> Option<i64> {
    c.exec_first(format!("SELECT k FROM {TABLE} WHERE id = ?"), (id,))
        .await
        .unwrap()
}

/// Deletes rows `x` and `y` through the proxy, then puts `y` back directly
/// on its shard: a two-row INSERT of both then fails there only. Returns
/// the direct connection.
async fn conflict_ahead(c: &mut mysql_async::Conn, x: i64, y: i64) -> mysql_async::Conn {
    for id in [x, y] {
        c.exec_drop(format!("DELETE FROM {TABLE} WHERE id = ?"), (id,))
            .await
            .unwrap();
    }
    let mut d = direct(Some(&format!("sbtest_s{}", sbtest_shard(y)))).await;
    d.exec_drop(format!("INSERT INTO {TABLE} (id, k) VALUES (?, 5)"), (y,))
        .await
        .unwrap();
    d
}

async fn insert_both(c: &mut mysql_async::Conn, x: i64, y: i64) -> Result<(), mysql_async::Error> {
    c.exec_drop(
        format!("INSERT INTO {TABLE} (id, k) VALUES (?, 1), (?, 1)"),
        (x, y),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_shard_transactions_commit_and_roll_back_as_a_whole() {
    let proxy = ProxyProc::start();
    let mut c = sb_rows(&proxy, TABLE, &[A, B, C], &[4, 5, 6], 100).await;
    let xa_before = proxy.metric("haoka_proxy_tx_commits_total{kind=\"xa\"}");
    let local_before = proxy.metric("haoka_proxy_tx_commits_total{kind=\"local\"}");

    // Commit: both shards change.
    c.query_drop("BEGIN").await.unwrap();
    move_k(&mut c, TABLE, A, B, 10).await.unwrap();
    // Reads inside the transaction see its own writes, single and scatter.
    assert_eq!(k(&mut c, A).await, Some(90));
    let sum: Option<i64> = c
        .query_first(format!(
            "SELECT SUM(k) FROM {TABLE} WHERE id IN ({A}, {B}, {C})"
        ))
        .await
        .unwrap();
    assert_eq!(sum, Some(300));
    // Not visible outside before COMMIT.
    assert_eq!(direct_k(TABLE, B).await, Some(100));
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(direct_k(TABLE, A).await, Some(90));
    assert_eq!(direct_k(TABLE, B).await, Some(110));
    assert_eq!(
        proxy.metric("haoka_proxy_tx_commits_total{kind=\"xa\"}"),
        xa_before + 1,
        "two shards wrote: two-phase commit"
    );
    // The decision was logged in the coordinator's (first branch's) shard.
    let mut d = direct(Some("sbtest_s4")).await;
    let logged: Option<i64> = d
        .query_first("SELECT COUNT(*) FROM haoka_xa_decision WHERE outcome = 'commit'")
        .await
        .unwrap();
    assert!(logged.unwrap_or(0) >= 1, "decision row on the coordinator");
    d.disconnect().await.unwrap();

    // Rollback: no shard changes.
    c.query_drop("START TRANSACTION").await.unwrap();
    for id in [A, B, C] {
        c.exec_drop(format!("UPDATE {TABLE} SET k = 0 WHERE id = ?"), (id,))
            .await
            .unwrap();
    }
    c.query_drop("ROLLBACK").await.unwrap();
    for (id, want) in [(A, 90), (B, 110), (C, 100)] {
        assert_eq!(
            direct_k(TABLE, id).await,
            Some(want),
            "row {id} after ROLLBACK"
        );
    }

    // autocommit=0: the transaction starts by itself and ends with COMMIT.
    c.query_drop("SET autocommit = 0").await.unwrap();
    c.exec_drop(format!("UPDATE {TABLE} SET k = k + 1 WHERE id = ?"), (C,))
        .await
        .unwrap();
    c.exec_drop(format!("UPDATE {TABLE} SET k = k + 1 WHERE id = ?"), (A,))
        .await
        .unwrap();
    assert_eq!(direct_k(TABLE, C).await, Some(100));
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    assert_eq!(direct_k(TABLE, C).await, Some(101));
    assert_eq!(direct_k(TABLE, A).await, Some(91));

    // One shard written (another only read): a plain local commit.
    let xa_mid = proxy.metric("haoka_proxy_tx_commits_total{kind=\"xa\"}");
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(k(&mut c, B).await, Some(110));
    c.exec_drop(format!("UPDATE {TABLE} SET k = k - 1 WHERE id = ?"), (A,))
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(direct_k(TABLE, A).await, Some(90));
    assert_eq!(
        proxy.metric("haoka_proxy_tx_commits_total{kind=\"xa\"}"),
        xa_mid
    );
    assert!(proxy.metric("haoka_proxy_tx_commits_total{kind=\"local\"}") > local_before);

    // SELECT ... FOR UPDATE locks the row on its own shard only, until COMMIT.
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(
        c.exec_first::<i64, _, _>(
            format!("SELECT k FROM {TABLE} WHERE id = ? FOR UPDATE"),
            (A,)
        )
        .await
        .unwrap(),
        Some(90)
    );
    assert!(!lock_free(A).await, "row A locked on shard 4");
    assert!(lock_free(B).await, "row B on shard 5 not locked");
    c.query_drop("COMMIT").await.unwrap();
    assert!(lock_free(A).await, "released at COMMIT");

    // A client that disconnects mid-transaction gets it rolled back.
    let mut gone = proxy.conn("sbtest").await;
    gone.query_drop("BEGIN").await.unwrap();
    for id in [A, B] {
        gone.exec_drop(format!("UPDATE {TABLE} SET k = -1 WHERE id = ?"), (id,))
            .await
            .unwrap();
    }
    gone.disconnect().await.unwrap();
    // The rows are free again (a locking read would wait otherwise).
    c.query_drop("SET SESSION innodb_lock_wait_timeout = 5")
        .await
        .unwrap();
    c.query_drop("BEGIN").await.unwrap();
    let locked: Vec<i64> = c
        .query(format!(
            "SELECT k FROM {TABLE} WHERE id IN ({A}, {B}) ORDER BY id FOR UPDATE"
        ))
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(locked, vec![90, 110]);

    // Nothing of ours is left in doubt.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left: Vec<_> = our_in_doubt()
        .await
        .into_iter()
        .filter(|(g, _)| g.contains("@sbtest.4"))
        .collect();
    assert!(left.is_empty(), "in-doubt branches left: {left:?}");
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocommit_multi_shard_write_is_one_distributed_transaction() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("sbtest").await;
    create_sb_table(&mut c, TABLE).await;
    // Shards 0 and 1; the row on shard 1 gets a direct lock-free refusal:
    // a duplicate key for the INSERT.
    let (x, y) = (7_400_002_i64, 7_401_002_i64);
    assert_eq!((sbtest_shard(x), sbtest_shard(y)), (0, 1));
    let mut d = conflict_ahead(&mut c, x, y).await;
    let err = insert_both(&mut c, x, y)
        .await
        .expect_err("duplicate key on shard 1");
    let msg = err.to_string();
    assert!(msg.contains("1062") || msg.contains("Duplicate"), "{msg}");
    // names the shard, in logical terms (no physical database)
    assert!(msg.contains("shard 1 (sbtest)"), "names the shard: {msg}");
    assert!(msg.contains("no shard changed"), "{msg}");
    assert_eq!(
        direct_k(TABLE, x).await,
        None,
        "shard 0 did not keep its row"
    );
    assert_eq!(direct_k(TABLE, y).await, Some(5));
    // Without the conflict both rows go in.
    d.exec_drop(format!("DELETE FROM {TABLE} WHERE id = ?"), (y,))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    insert_both(&mut c, x, y).await.unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(direct_k(TABLE, x).await, Some(1));
    assert_eq!(direct_k(TABLE, y).await, Some(1));
    // A multi-shard UPDATE outside BEGIN as well.
    c.exec_drop(
        format!("UPDATE {TABLE} SET k = k + 1 WHERE id IN (?, ?)"),
        (x, y),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(direct_k(TABLE, y).await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_shard_statement_inside_a_transaction_is_undone_everywhere() {
    let proxy = ProxyProc::start();
    // Shards 0 and 1; `keep` is written before the failing statement.
    let (keep, x, y) = (7_600_006_i64, 7_600_007_i64, 7_601_007_i64);
    let mut c = sb_rows(&proxy, TABLE, &[keep], &[0], 100).await;
    let mut d = conflict_ahead(&mut c, x, y).await;
    c.query_drop("BEGIN").await.unwrap();
    c.exec_drop(format!("UPDATE {TABLE} SET k = 1 WHERE id = ?"), (keep,))
        .await
        .unwrap();
    let err = insert_both(&mut c, x, y)
        .await
        .expect_err("duplicate key on shard 1");
    // The statement is gone from shard 0 too, the transaction goes on.
    assert_eq!(k(&mut c, x).await, None, "{err}");
    c.exec_drop(
        format!("UPDATE {TABLE} SET k = k + 1 WHERE id = ?"),
        (keep,),
    )
    .await
    .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    d.exec_drop(format!("DELETE FROM {TABLE} WHERE id = ?"), (y,))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    let msg = err.to_string();
    assert!(msg.contains("shard 1 (sbtest)"), "{msg}");
    assert!(msg.contains("transaction stays open"), "{msg}");
    assert_eq!(direct_k(TABLE, keep).await, Some(2));
    assert_eq!(direct_k(TABLE, x).await, None);
}
