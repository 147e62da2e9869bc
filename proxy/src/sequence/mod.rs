//! Global sequences (DESIGN.md §3): surrogate ids come from rows of the
//! `haoka_sequence` table on a schema's global shard, handed to each proxy in
//! blocks. One atomic UPDATE per block makes ids unique across proxies and
//! restarts; a restart only leaves a gap (the rest of its block).

use std::collections::HashMap;
use std::ops::Range;

use mysql_async::prelude::Queryable;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    #[error("sequence '{name}': the global shard did not answer: {source}")]
    Backend {
        name: String,
        source: mysql_async::Error,
    },
    #[error("sequence '{0}' is exhausted")]
    Exhausted(String),
}

/// The ids of one sequence that this proxy may still hand out.
#[derive(Debug, Default)]
struct Block {
    next: i64,
    end: i64,
}

/// Allocates ids of the sequences of one logical schema.
pub struct SequenceAllocator {
    pool: mysql_async::Pool,
    /// Per sequence name; the tokio mutex keeps concurrent inserts into the
    /// same table from fetching two blocks at once.
    blocks: Mutex<HashMap<String, Block>>,
}

impl SequenceAllocator {
    /// `pool` points at the schema's global shard database.
    pub fn new(pool: mysql_async::Pool) -> Self {
        SequenceAllocator {
            pool,
            blocks: Mutex::new(HashMap::new()),
        }
    }

    /// `count` consecutive-when-possible ids for `name`, fetching a new block of
    /// `max(block, count)` from the global shard when the local one runs out.
    /// Returned as ranges because a request can straddle two blocks.
    pub async fn next_ids(
        &self,
        name: &str,
        count: u64,
        block: u64,
    ) -> Result<Vec<Range<i64>>, SequenceError> {
        let mut blocks = self.blocks.lock().await;
        let entry = blocks.entry(name.to_string()).or_default();
        let mut out = Vec::new();
        let mut wanted = count as i64;
        while wanted > 0 {
            if entry.next >= entry.end {
                let size = block.max(wanted as u64);
                let start = self.fetch_block(name, size).await?;
                entry.next = start;
                entry.end = start
                    .checked_add(size as i64)
                    .ok_or_else(|| SequenceError::Exhausted(name.to_string()))?;
            }
            let take = wanted.min(entry.end - entry.next);
            match out.last_mut() {
                Some(Range { end, .. }) if *end == entry.next => *end += take,
                _ => out.push(entry.next..entry.next + take),
            }
            entry.next += take;
            wanted -= take;
        }
        Ok(out)
    }

    /// Claims `size` ids on the global shard; returns the first.
    async fn fetch_block(&self, name: &str, size: u64) -> Result<i64, SequenceError> {
        let wrap = |source| SequenceError::Backend {
            name: name.to_string(),
            source,
        };
        let mut conn = self.pool.get_conn().await.map_err(wrap)?;
        conn.exec_drop(
            "INSERT IGNORE INTO haoka_sequence (name, next_value) VALUES (?, 1)",
            (name,),
        )
        .await
        .map_err(wrap)?;
        // LAST_INSERT_ID(expr) hands the new value back on this connection
        // without a second round trip under a lock.
        conn.exec_drop(
            "UPDATE haoka_sequence SET next_value = LAST_INSERT_ID(next_value + ?) WHERE name = ?",
            (size, name),
        )
        .await
        .map_err(wrap)?;
        let after: i64 = conn
            .query_first("SELECT LAST_INSERT_ID()")
            .await
            .map_err(wrap)?
            .unwrap_or(0);
        Ok(after - size as i64)
    }

    /// Restarts a sequence at 1, as MySQL restarts AUTO_INCREMENT when a table
    /// is created anew or truncated. Other proxies keep the block they hold
    /// until it runs out: reset only tables no other proxy is writing to.
    pub async fn reset(&self, name: &str) -> Result<(), SequenceError> {
        let mut blocks = self.blocks.lock().await;
        blocks.remove(name);
        let mut conn = self
            .pool
            .get_conn()
            .await
            .map_err(|source| SequenceError::Backend {
                name: name.to_string(),
                source,
            })?;
        conn.exec_drop(
            "INSERT INTO haoka_sequence (name, next_value) VALUES (?, 1) \
             ON DUPLICATE KEY UPDATE next_value = 1",
            (name,),
        )
        .await
        .map_err(|source| SequenceError::Backend {
            name: name.to_string(),
            source,
        })
    }
}
