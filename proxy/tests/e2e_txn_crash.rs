//! A proxy that dies in the middle of a two-phase commit leaves prepared XA
//! branches behind; the next proxy's recovery finishes them by the decision
//! log: rolled back when the decision was not durable yet, committed when it
//! was. The crash is a test-only failpoint (HAOKA_PROXY_FAILPOINT) that
//! aborts the process.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::txn::*;
use e2e_common::*;
use mysql_async::prelude::*;

const TABLE: &str = "sbtest7";

/// Runs a two-shard transfer on a proxy armed with `failpoint`, then starts
/// a clean proxy and returns the rows' `k` once recovery is done.
async fn crash_and_recover(failpoint: &str, a: i64, b: i64) -> (Option<i64>, Option<i64>) {
    crash_then(failpoint, a, b, true).await
}

/// As `crash_and_recover`; with `restart` false no proxy is started after
/// the crash: a peer that was already running (the setup proxy, kept alive)
/// finishes the branches with its periodic scan.
async fn crash_then(failpoint: &str, a: i64, b: i64, restart: bool) -> (Option<i64>, Option<i64>) {
    assert_ne!(sbtest_shard(a), sbtest_shard(b));
    let setup = ProxyProc::start();
    {
        let mut c = setup.conn("sbtest").await;
        create_sb_table(&mut c, TABLE).await;
        reset_rows(&mut c, TABLE, &[a, b], 100).await;
    }
    let before: Vec<_> = our_in_doubt().await;
    let mut doomed = ProxyProc::start_env("", &[("HAOKA_PROXY_FAILPOINT", failpoint)]);
    let mut c = doomed.conn("sbtest").await;
    c.query_drop("BEGIN").await.unwrap();
    move_k(&mut c, TABLE, a, b, 30).await.unwrap();
    let commit = c.query_drop("COMMIT").await;
    assert!(commit.is_err(), "the proxy died during COMMIT");
    assert!(
        doomed.wait_exit(Duration::from_secs(10)),
        "proxy aborted at {failpoint}"
    );
    // The prepared branch (on b's shard) is in doubt now.
    let in_doubt: Vec<_> = our_in_doubt()
        .await
        .into_iter()
        .filter(|x| !before.contains(x))
        .collect();
    assert!(
        in_doubt
            .iter()
            .any(|(_, bq)| *bq == format!("sbtest.{}", sbtest_shard(b))),
        "prepared branch of shard {} in XA RECOVER: {in_doubt:?}",
        sbtest_shard(b)
    );
    // A new proxy resolves them (at start; peers' periodic scans may too).
    let recovering = if restart { ProxyProc::start() } else { setup };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = our_in_doubt().await;
        let left: Vec<_> = in_doubt.iter().filter(|x| now.contains(x)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still in doubt after 30 s: {left:?}\n{}",
            recovering.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (direct_k(TABLE, a).await, direct_k(TABLE, b).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_prepare_rolls_back_every_branch() {
    // Shards 0 and 1.
    let (a, b) = crash_and_recover("xa_after_prepare", 7_200_003, 7_201_003).await;
    assert_eq!(
        (a, b),
        (Some(100), Some(100)),
        "no decision: all rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_decision_commits_every_branch() {
    // Shards 4 and 5.
    let (a, b) = crash_and_recover("xa_after_decision", 7_300_004, 7_301_004).await;
    assert_eq!(
        (a, b),
        (Some(70), Some(130)),
        "durable decision: all committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_peer_finishes_a_crashed_proxys_commit() {
    // Shards 2 and 3; no restart: the peer's periodic scan (10 s grace).
    let (a, b) = crash_then("xa_after_decision", 7_698_008, 7_699_008, false).await;
    assert_eq!(
        (a, b),
        (Some(70), Some(130)),
        "durable decision: all committed"
    );
}
