//! Where and how long a statement runs on a shard. Read/write split: writes,
//! locking reads, reads inside a transaction and a session's reads shortly
//! after its own write go to the shard's primary; other reads may go to a
//! replica whose replication lag is known and within its limit (the lag is
//! tracked in `backend::replica`). A SELECT's `/*+ MAX_EXECUTION_TIME(ms) */`
//! hint (MySQL's) replaces the configured query timeout for that statement.
//! What the statement is comes from its plan's [`StmtFlags`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::session::Session;
use crate::backend::{BackendError, PooledConn};
use crate::route::{Routed, StmtFlags, StmtKind};
use crate::rules::Place;

/// Per-session placement state.
#[derive(Debug, Default)]
pub struct StatementPlacement {
    /// The statement being run may read from a replica.
    replica_ok: bool,
    /// When this session last wrote through the proxy.
    last_write: Option<Instant>,
    /// The statement's own query timeout (from its hint).
    timeout: Option<Duration>,
}

/// A SELECT that takes no locks (the planner read its locking clause).
fn is_plain_read(routed: &Routed, flags: StmtFlags) -> bool {
    match routed {
        Routed::Shards(p) => p.kind == StmtKind::Select && !flags.locking_read,
        Routed::NeedLookup(p) => p.kind == StmtKind::Select && !flags.locking_read,
        _ => false,
    }
}

impl Session {
    /// Decides, before a statement runs, whether its reads may use replicas,
    /// and remembers writes (their session then reads from primaries).
    pub(super) fn place_statement(&mut self, routed: &Routed, flags: StmtFlags) {
        let now = Instant::now();
        // MySQL applies the hint to SELECT only; a write is never cut short.
        self.placement.timeout = if routed.kind() == StmtKind::Select {
            flags.max_execution_time()
        } else {
            None
        };
        if routed.kind().is_write() || matches!(routed, Routed::PassThrough { .. }) {
            self.placement.last_write = Some(now);
        }
        let recent_write = self
            .placement
            .last_write
            .is_some_and(|t| now.duration_since(t) < self.shared.primary_after_write);
        self.placement.replica_ok = !self.in_tx() && !recent_write && is_plain_read(routed, flags);
    }

    /// A pooled connection for the statement's work on `place`: from a
    /// usable replica when the statement may read from one, else (or when
    /// that replica turns out to be unreachable) from the primary.
    pub(super) async fn checkout(
        &self,
        schema: usize,
        place: Place,
    ) -> Result<PooledConn, BackendError> {
        let rt = &self.shared.schemas[schema];
        if self.placement.replica_ok && !self.in_tx() {
            if let Some(r) = rt.replicas.pick(place) {
                match r.pool.get().await {
                    Ok(mut c) => {
                        r.reads.fetch_add(1, Ordering::Relaxed);
                        c.set_statement_timeout(self.placement.timeout);
                        return Ok(c);
                    }
                    Err(e) => tracing::debug!(
                        replica = r.pool.target(),
                        error = %e,
                        "replica not reachable: reading from the primary"
                    ),
                }
            }
        }
        let mut c = rt.primary(place, self.found_rows_flag).get().await?;
        c.set_statement_timeout(self.placement.timeout);
        Ok(c)
    }

    /// A transaction's pinned connection takes the statement's timeout too.
    pub(super) fn time_statement(&self, conn: &mut PooledConn) {
        conn.set_statement_timeout(self.placement.timeout);
    }
}
