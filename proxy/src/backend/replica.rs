//! Replicas of a shard and how far behind they are. Lag is read by a
//! background task per replica (SHOW SLAVE STATUS every health-check
//! interval), never per query; a read picks a usable replica round-robin.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_common::value::Value;

use super::{BackendState, Pool};
use crate::rules::Place;

/// Lag value meaning "not known" (not replicating, or not read yet).
const LAG_UNKNOWN: u64 = u64::MAX;

/// Why a replica takes no reads right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    Usable,
    /// The replica server cannot be reached.
    Down,
    /// Replication is stopped, broken or its lag was not read yet.
    LagUnknown,
    /// Further behind than its `max_lag_s`.
    TooFarBehind,
}

impl ReplicaState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Usable => "usable",
            ReplicaState::Down => "down",
            ReplicaState::LagUnknown => "lag unknown",
            ReplicaState::TooFarBehind => "too far behind",
        }
    }
}

/// One replica of one shard.
pub struct ReplicaRuntime {
    pub datasource: usize,
    pub pool: Pool,
    pub max_lag: Duration,
    /// Seconds_Behind_Master as last read, in seconds (LAG_UNKNOWN: none).
    lag_s: AtomicU64,
    /// Reads this replica served.
    pub reads: AtomicU64,
    /// The lag became unknown and a warning said so (once per episode).
    warned: AtomicBool,
}

impl ReplicaRuntime {
    pub fn new(datasource: usize, pool: Pool, max_lag: Duration) -> Arc<ReplicaRuntime> {
        Arc::new(ReplicaRuntime {
            datasource,
            pool,
            max_lag,
            lag_s: AtomicU64::new(LAG_UNKNOWN),
            reads: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        })
    }

    /// The lag as last read (None: unknown).
    pub fn lag(&self) -> Option<Duration> {
        match self.lag_s.load(Ordering::Relaxed) {
            LAG_UNKNOWN => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    pub fn state(&self) -> ReplicaState {
        if self.pool.health().state() == BackendState::Down {
            return ReplicaState::Down;
        }
        match self.lag() {
            None => ReplicaState::LagUnknown,
            Some(l) if l > self.max_lag => ReplicaState::TooFarBehind,
            Some(_) => ReplicaState::Usable,
        }
    }

    /// Reads the replica's lag every `interval` while the runtime lives.
    pub fn watch_lag(self: &Arc<Self>, interval: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(r) = weak.upgrade() else { return };
                let lag = read_lag(&r.pool).await;
                r.lag_s.store(
                    lag.as_ref().map_or(LAG_UNKNOWN, |d| d.as_secs()),
                    Ordering::Relaxed,
                );
                match &lag {
                    Ok(_) => r.warned.store(false, Ordering::Relaxed),
                    Err(why) => {
                        if !r.warned.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                replica = r.pool.target(),
                                reason = %why,
                                "replica lag unknown: reads go to the primary"
                            );
                        }
                    }
                }
                drop(r);
                tokio::time::sleep(interval).await;
            }
        });
    }
}

/// Seconds_Behind_Master of the replica, or why it is not known (not a
/// replica, replication stopped, unreachable, no privilege).
async fn read_lag(pool: &Pool) -> Result<Duration, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let res = conn
        .query_collect("SHOW SLAVE STATUS")
        .await
        .map_err(|e| format!("SHOW SLAVE STATUS: {e}"))?;
    let col = res
        .columns
        .iter()
        .position(|c| c.column.name_str() == "Seconds_Behind_Master")
        .ok_or("SHOW SLAVE STATUS has no Seconds_Behind_Master")?;
    let value = res
        .rows
        .first()
        .and_then(|row| row.get(col))
        .ok_or("the server is not a replica (SHOW SLAVE STATUS is empty)")?;
    let secs = match value {
        Value::Bytes(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()),
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::UInt(u) => Some(*u),
        _ => None,
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| "replication is not running (Seconds_Behind_Master is NULL)".to_string())
}

/// The replicas of every place of one schema.
#[derive(Default)]
pub struct ReplicaSet {
    /// By data shard index.
    pub data: Vec<Vec<Arc<ReplicaRuntime>>>,
    pub global: Vec<Arc<ReplicaRuntime>>,
    next: AtomicUsize,
}

impl ReplicaSet {
    pub fn new(data: Vec<Vec<Arc<ReplicaRuntime>>>, global: Vec<Arc<ReplicaRuntime>>) -> Self {
        ReplicaSet {
            data,
            global,
            next: AtomicUsize::new(0),
        }
    }

    pub fn of(&self, place: Place) -> &[Arc<ReplicaRuntime>] {
        match place {
            Place::Data(i) => self.data.get(i).map(Vec::as_slice).unwrap_or_default(),
            Place::Global => &self.global,
        }
    }

    /// A usable replica of `place`, round-robin among the usable ones.
    pub fn pick(&self, place: Place) -> Option<&Arc<ReplicaRuntime>> {
        let all = self.of(place);
        if all.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..all.len())
            .map(|k| &all[(start + k) % all.len()])
            .find(|r| r.state() == ReplicaState::Usable)
    }
}
