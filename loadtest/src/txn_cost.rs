//! What a distributed commit costs: the same two-UPDATE transaction, with
//! both rows on one shard (a local commit) and on two shards (XA two-phase
//! commit through the decision log), run by the same clients for the same
//! time through the proxy; directly on MariaDB as the baseline.
//!
//! Rows come from sysbench's `sbtest1` (ids 1..table_size, sharded by
//! range_mod with blocks of 1000 ids over 8 shards): ids in one block share a
//! shard, ids in neighbouring blocks do not. Each client updates its own
//! slice of every block, so clients never wait on each other's locks.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

/// Where both rows of a transaction live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    OneShard,
    TwoShards,
}

/// Ids per shard block (rules: range_mod block = 1000).
const BLOCK: u64 = 1000;

/// The two row ids client `client` updates in its `n`-th transaction.
pub fn rows(spread: Spread, client: u64, n: u64, blocks: u64) -> (u64, u64) {
    let slice = 40;
    let block = n % blocks;
    let off = 1 + client * slice + (n / blocks) % (slice / 2);
    let a = block * BLOCK + off;
    let b = match spread {
        Spread::OneShard => a + slice / 2,
        Spread::TwoShards => ((block + 1) % blocks) * BLOCK + off,
    };
    (a, b)
}

/// Committed transactions per second of `clients` clients for `time`.
pub async fn run(
    opts: mysql_async::Opts,
    spread: Spread,
    clients: u64,
    time: Duration,
    blocks: u64,
) -> anyhow::Result<f64> {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for client in 0..clients {
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(opts).await?;
            let upd = c.prep("UPDATE sbtest1 SET k = k + ? WHERE id = ?").await?;
            let mut n = 0u64;
            let end = Instant::now() + time;
            while Instant::now() < end {
                let (a, b) = rows(spread, client, n, blocks);
                c.query_drop("BEGIN").await?;
                c.exec_drop(&upd, (1, a)).await?;
                c.exec_drop(&upd, (-1, b)).await?;
                c.query_drop("COMMIT").await?;
                n += 1;
            }
            c.disconnect().await?;
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: u64) -> u64 {
        (id / BLOCK) % 8
    }

    #[test]
    fn rows_land_on_one_or_two_shards_and_clients_never_share() {
        let mut seen = std::collections::HashSet::new();
        for client in 0..8 {
            for n in 0..200 {
                let (a, b) = rows(Spread::OneShard, client, n, 10);
                assert_eq!(shard(a), shard(b));
                let (c, d) = rows(Spread::TwoShards, client, n, 10);
                assert_ne!(shard(c), shard(d));
                for id in [a, b, c, d] {
                    assert!((1..=10_000).contains(&id));
                    seen.insert((id, client));
                }
            }
        }
        // No id is used by two clients.
        let ids: std::collections::HashSet<u64> = seen.iter().map(|x| x.0).collect();
        assert_eq!(ids.len(), seen.len());
    }
}
