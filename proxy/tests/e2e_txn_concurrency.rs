//! Many clients move amounts between rows on different shards in
//! transactions at the same time. Cross-shard deadlocks show up as a lock
//! wait timeout (1205) or deadlock (1213) on one shard; the proxy then rolls
//! back the whole distributed transaction and the client retries. The total
//! is conserved exactly.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::txn::{direct_k, move_k, sb_rows};
use e2e_common::*;
use mysql_async::prelude::*;

const TABLE: &str = "sbtest8";
const CLIENTS: usize = 16;
const RUN: Duration = Duration::from_secs(4);
const START_K: i64 = 1000;

/// Two rows on each of the 8 shards.
fn ids() -> Vec<i64> {
    (0..16)
        .map(|i| 8_000_000 + (i % 8) * 1000 + i / 8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cross_shard_transfers_conserve_the_total() {
    let proxy = ProxyProc::start();
    let ids = ids();
    let shards: Vec<usize> = ids.iter().map(|i| (*i as usize / 1000) % 8).collect();
    assert_eq!(
        shards
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        8
    );
    let mut c = sb_rows(&proxy, TABLE, &ids, &shards, START_K).await;
    let xa_before = proxy.metric("haoka_proxy_tx_commits_total{kind=\"xa\"}");

    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let url = proxy.url("sbtest");
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::from_url(url).await.unwrap();
            c.query_drop("SET SESSION innodb_lock_wait_timeout = 1")
                .await
                .unwrap();
            let mut rng = Rng::new(client as u64 * 7919 + 1);
            let (mut commits, mut retries) = (0u64, 0u64);
            let end = Instant::now() + RUN;
            while Instant::now() < end {
                let from = *rng.pick(&ids);
                let to = *rng.pick(&ids);
                if from == to {
                    continue;
                }
                let amount = rng.range(1, 10);
                let r = async {
                    c.query_drop("BEGIN").await?;
                    move_k(&mut c, TABLE, from, to, amount).await?;
                    c.query_drop("COMMIT").await
                }
                .await;
                match r {
                    Ok(()) => commits += 1,
                    Err(mysql_async::Error::Server(e)) if e.code == 1213 || e.code == 1205 => {
                        assert!(
                            e.message.contains("rolled back on every shard"),
                            "{}",
                            e.message
                        );
                        // The proxy ended the transaction already.
                        c.query_drop("ROLLBACK").await.unwrap();
                        retries += 1;
                    }
                    Err(e) => panic!("client {client}: {e}"),
                }
            }
            (commits, retries)
        }));
    }
    let (mut commits, mut retries) = (0, 0);
    for t in tasks {
        let (c, r) = t.await.unwrap();
        commits += c;
        retries += r;
    }
    // Every branch is finished: the rows are unlocked and nothing is in doubt.
    let mut total = 0;
    for id in &ids {
        total += direct_k(TABLE, *id).await.unwrap();
    }
    assert_eq!(total, START_K * ids.len() as i64, "total conserved");
    let sum: Option<i64> = c
        .query_first(format!(
            "SELECT SUM(k) FROM {TABLE} WHERE id BETWEEN 8000000 AND 8007999"
        ))
        .await
        .unwrap();
    assert_eq!(sum, Some(START_K * ids.len() as i64));
    let xa = proxy.metric("haoka_proxy_tx_commits_total{kind=\"xa\"}") - xa_before;
    println!("{commits} transfers committed ({xa} two-phase), {retries} retried after a deadlock or lock wait timeout");
    assert!(commits > 50, "only {commits} commits");
    assert!(xa > 0);
    // No branch of ours holds a row lock any more (prepared or not).
    for id in &ids {
        let mut d = direct(Some(&format!("sbtest_s{}", sbtest_shard(*id)))).await;
        d.query_drop("BEGIN").await.unwrap();
        let k: Option<i64> = d
            .exec_first(
                format!("SELECT k FROM {TABLE} WHERE id = ? FOR UPDATE NOWAIT"),
                (id,),
            )
            .await
            .unwrap_or_else(|e| panic!("row {id} still locked: {e}"));
        assert!(k.is_some());
        d.query_drop("ROLLBACK").await.unwrap();
        d.disconnect().await.unwrap();
    }
}
