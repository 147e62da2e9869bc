//! Savepoints across shards: SAVEPOINT / ROLLBACK TO / RELEASE reach every
//! branch of the transaction, including a shard first touched after the
//! savepoint (its branch replays the savepoint when it starts).

mod e2e_common;

use e2e_common::txn::*;
use e2e_common::*;
use mysql_async::prelude::*;

const TABLE: &str = "sbtest7";
/// Shards 4, 5, 6.
const A: i64 = 7_500_005;
const B: i64 = 7_501_005;
const C: i64 = 7_502_005;

async fn set(c: &mut mysql_async::Conn, id: i64, k: i64) {
    c.exec_drop(format!("UPDATE {TABLE} SET k = ? WHERE id = ?"), (k, id))
        .await
        .unwrap();
}

async fn ks(c: &mut mysql_async::Conn) -> Vec<i64> {
    c.query(format!(
        "SELECT k FROM {TABLE} WHERE id IN ({A}, {B}, {C}) ORDER BY id"
    ))
    .await
    .unwrap()
}

fn code(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_span_every_shard_of_the_transaction() {
    let proxy = ProxyProc::start();
    let mut c = sb_rows(&proxy, TABLE, &[A, B, C], &[4, 5, 6], 100).await;

    c.query_drop("BEGIN").await.unwrap();
    set(&mut c, A, 1).await;
    c.query_drop("SAVEPOINT s1").await.unwrap();
    set(&mut c, B, 2).await; // shard 5 first touched after s1
    set(&mut c, A, 11).await;
    c.query_drop("SAVEPOINT s2").await.unwrap();
    set(&mut c, C, 3).await; // shard 6 first touched after s2
    assert_eq!(ks(&mut c).await, vec![11, 2, 3]);
    c.query_drop("ROLLBACK TO SAVEPOINT s2").await.unwrap();
    assert_eq!(ks(&mut c).await, vec![11, 2, 100]);
    c.query_drop("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    assert_eq!(ks(&mut c).await, vec![1, 100, 100]);
    // s2 was set after s1: gone now.
    let e = c.query_drop("ROLLBACK TO SAVEPOINT s2").await.unwrap_err();
    assert_eq!(code(e), 1305);
    set(&mut c, C, 33).await;
    c.query_drop("RELEASE SAVEPOINT s1").await.unwrap();
    let e = c.query_drop("ROLLBACK TO s1").await.unwrap_err();
    assert_eq!(code(e), 1305, "released");
    // The transaction is still open and commits on every shard.
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(direct_k(TABLE, A).await, Some(1));
    assert_eq!(direct_k(TABLE, B).await, Some(100));
    assert_eq!(direct_k(TABLE, C).await, Some(33));

    // A savepoint set before any shard is touched still works.
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("SAVEPOINT first").await.unwrap();
    set(&mut c, A, 7).await;
    set(&mut c, B, 7).await;
    c.query_drop("ROLLBACK TO first").await.unwrap();
    set(&mut c, C, 7).await;
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(direct_k(TABLE, A).await, Some(1));
    assert_eq!(direct_k(TABLE, B).await, Some(100));
    assert_eq!(direct_k(TABLE, C).await, Some(7));

    // Outside a transaction a savepoint does not outlive its statement.
    c.query_drop("SAVEPOINT loose").await.unwrap();
    let e = c
        .query_drop("ROLLBACK TO SAVEPOINT loose")
        .await
        .unwrap_err();
    assert_eq!(code(e), 1305);
}
