//! One shard's part of a client transaction.

use super::xid::Xid;
use crate::backend::{BackendError, PooledConn};
use crate::route::quote_ident;

/// How a branch was started, which decides how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchKind {
    /// The transaction's first branch: `BEGIN`. In a two-phase commit it is
    /// the coordinator (the decision row commits with it).
    Local,
    /// A later branch: `XA START`.
    Xa(Xid),
    /// `START TRANSACTION READ ONLY` (no branch can write, nothing to
    /// coordinate).
    ReadOnly,
}

/// What the session knows of a branch while its connection is out running a
/// statement (the connection itself is pinned next to it).
#[derive(Debug, Clone)]
pub struct Branch {
    pub kind: BranchKind,
    /// A statement that can change data ran on it.
    pub wrote: bool,
}

impl BranchKind {
    /// Statement(s) opening the branch, then the open savepoints so every
    /// branch knows every savepoint (one round trip).
    pub fn start_sql(&self, savepoints: &[String]) -> String {
        let mut sql = match self {
            BranchKind::Local => "BEGIN".to_string(),
            BranchKind::Xa(x) => format!("XA START {}", x.sql()),
            BranchKind::ReadOnly => "START TRANSACTION READ ONLY".to_string(),
        };
        for s in savepoints {
            sql.push_str("; SAVEPOINT ");
            sql.push_str(&quote_ident(s));
        }
        sql
    }
}

/// Hands a connection back to its pool after a transaction ended cleanly on
/// it (session state reset first when the client changed any).
pub async fn release(mut conn: PooledConn) {
    if conn.dirty && conn.is_idle() {
        let _ = conn.reset_connection().await;
    }
}

/// Closes a connection whose transaction state is unknown: the server rolls
/// back what is not prepared; prepared XA branches stay for recovery.
pub fn discard(mut conn: PooledConn) {
    conn.dirty = true;
    drop(conn);
}

/// Runs one statement per connection, in parallel when there are several.
pub async fn run_all(
    items: Vec<(usize, PooledConn, String)>,
) -> Vec<(usize, PooledConn, Result<(), BackendError>)> {
    if items.len() <= 1 {
        let mut out = Vec::new();
        for (i, mut c, sql) in items {
            let r = c.query_drop(&sql).await;
            out.push((i, c, r));
        }
        return out;
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, mut c, sql) in items {
        set.spawn(async move {
            let r = c.query_drop(&sql).await;
            (i, c, r)
        });
    }
    let mut out = Vec::new();
    while let Some(j) = set.join_next().await {
        match j {
            Ok(x) => out.push(x),
            Err(e) => tracing::error!(error = %e, "transaction branch task failed"),
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out
}
