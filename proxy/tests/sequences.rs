//! Global sequences against real MariaDB: ids are unique across proxies
//! (two allocators on one global shard) and across restarts.

use std::collections::HashSet;

use haoka_proxy::admin::apply_schema::PROXY_TABLES_DDL;
use haoka_proxy::sequence::SequenceAllocator;
use mysql_async::prelude::Queryable;

async fn fresh_global_db(tag: &str) -> mysql_async::Pool {
    let db = format!("haoka_seqtest_{tag}_{}", std::process::id());
    let root = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"));
    let mut conn = mysql_async::Conn::new(root.clone()).await.unwrap();
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("USE `{db}`")).await.unwrap();
    conn.query_drop(PROXY_TABLES_DDL).await.unwrap();
    mysql_async::Pool::new(root.db_name(Some(db)))
}

async fn drop_db(pool: mysql_async::Pool) {
    let mut conn = pool.get_conn().await.unwrap();
    let db: String = conn
        .query_first("SELECT DATABASE()")
        .await
        .unwrap()
        .unwrap();
    conn.query_drop(format!("DROP DATABASE `{db}`"))
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[tokio::test]
async fn two_proxies_never_hand_out_the_same_id() {
    let pool = fresh_global_db("two").await;
    let a = std::sync::Arc::new(SequenceAllocator::new(pool.clone()));
    let b = std::sync::Arc::new(SequenceAllocator::new(pool.clone()));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let alloc = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..200 {
                for r in alloc.next_ids("card", 3, 50).await.unwrap() {
                    ids.extend(r);
                }
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(all.insert(id), "id {id} handed out twice");
            assert!(id >= 1);
        }
    }
    assert_eq!(total, 8 * 200 * 3);
    drop_db(pool).await;
}

#[tokio::test]
async fn a_restart_skips_ahead_and_a_big_request_is_contiguous() {
    let pool = fresh_global_db("restart").await;
    let first = SequenceAllocator::new(pool.clone());
    assert_eq!(
        first.next_ids("sbtest1", 1, 1000).await.unwrap(),
        vec![1..2]
    );
    assert_eq!(
        first.next_ids("sbtest1", 2, 1000).await.unwrap(),
        vec![2..4]
    );
    drop(first);
    // A new proxy process: never reuses ids of the old one's block.
    let second = SequenceAllocator::new(pool.clone());
    let ids = second.next_ids("sbtest1", 2500, 1000).await.unwrap();
    assert_eq!(ids, vec![1001..3501], "one block sized to the request");
    // Straddling blocks: the rest of the current block, then a fresh one.
    let tail = second.next_ids("sbtest1", 5, 3).await.unwrap();
    assert_eq!(tail, vec![3501..3506]);
    // Other sequences are independent.
    assert_eq!(second.next_ids("sbtest2", 1, 10).await.unwrap(), vec![1..2]);
    // A table created anew starts again at 1.
    second.reset("sbtest1").await.unwrap();
    assert_eq!(second.next_ids("sbtest1", 1, 10).await.unwrap(), vec![1..2]);
    drop_db(pool).await;
}
