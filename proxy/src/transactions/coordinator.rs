//! COMMIT and ROLLBACK of a client transaction over its branches.
//!
//! - No branch or one branch wrote: every branch commits in one phase
//!   (`COMMIT`, or `XA END; XA COMMIT ONE PHASE`), no extra round trip.
//! - Several wrote: "last resource" two-phase commit. XA branches:
//!   `XA END; XA PREPARE` (in parallel; read-only ones commit one-phase).
//!   Then the local branch runs `INSERT <decision commit>; COMMIT` — the
//!   commit point. Then `XA COMMIT` on the prepared branches (in parallel).
//!   A failure before the commit point rolls every branch back; after it,
//!   a branch that cannot be committed now is committed by recovery.

use std::time::{Duration, Instant};

use super::branch::{discard, release, run_all, BranchKind};
use super::decision::{record_sql, Outcome};
use super::error::TxnError;
use super::failpoint::{hit, Failpoint};
use crate::backend::{BackendError, PooledConn, Response};
use crate::protocol::ErrInfo;

/// A transaction whose branches sat prepared longer than this before its
/// decision is rolled back instead: recovery may already have decided it
/// (and the decision log keeps tombstones only for a minute).
const MAX_PREPARED: Duration = Duration::from_secs(20);

/// A branch handed to the coordinator.
pub struct Participant {
    /// "shard 3 (haoka_s3) of schema haoka", for messages.
    pub label: String,
    pub kind: BranchKind,
    pub wrote: bool,
    /// `None` when the connection broke during the transaction.
    pub conn: Option<PooledConn>,
}

/// How a transaction committed (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitKind {
    /// Nothing was open.
    Empty,
    /// At most one branch wrote.
    OnePhase,
    /// XA two-phase commit.
    TwoPhase,
}

fn server_err(e: &BackendError) -> Option<&ErrInfo> {
    match e {
        BackendError::Server(err) => Some(err),
        _ => None,
    }
}

fn rolled_back(label: &str, e: &BackendError) -> TxnError {
    match server_err(e) {
        Some(err) => TxnError::RolledBack {
            shard: label.to_string(),
            code: err.code,
            state: err.state,
            message: err.message.clone(),
        },
        None => TxnError::RolledBack {
            shard: label.to_string(),
            code: 1180,
            state: *b"HY000",
            message: e.to_string(),
        },
    }
}

/// Commits the transaction; on `Err` nothing of it is committed, except
/// for `TxnError::Unknown` (recovery decides).
pub async fn commit(
    mut parts: Vec<Participant>,
    gtrid: Option<&str>,
) -> Result<CommitKind, TxnError> {
    if parts.is_empty() {
        return Ok(CommitKind::Empty);
    }
    if let Some(lost) = parts.iter().find(|p| p.conn.is_none() && p.wrote) {
        let shard = lost.label.clone();
        rollback(parts).await;
        return Err(TxnError::BranchLost { shard });
    }
    parts.retain(|p| p.conn.is_some());
    let writers = parts.iter().filter(|p| p.wrote).count();
    let coordinator = parts.iter().position(|p| p.kind == BranchKind::Local);
    match (writers, gtrid, coordinator) {
        (0 | 1, _, _) => one_phase(parts).await,
        (_, Some(g), Some(c)) => two_phase(parts, c, g).await,
        _ => {
            // Several writers but no local branch left to log the decision
            // in (its connection broke while it only read).
            let shard = parts[0].label.clone();
            rollback(parts).await;
            Err(TxnError::BranchLost { shard })
        }
    }
}

fn one_phase_sql(kind: &BranchKind) -> String {
    match kind {
        BranchKind::Xa(x) => format!("XA END {0}; XA COMMIT {0} ONE PHASE", x.sql()),
        BranchKind::Local | BranchKind::ReadOnly => "COMMIT".into(),
    }
}

async fn one_phase(mut parts: Vec<Participant>) -> Result<CommitKind, TxnError> {
    let items = take_conns(&mut parts, |p| Some(one_phase_sql(&p.kind)));
    let mut failure = None;
    for (i, conn, r) in run_all(items).await {
        match r {
            Ok(()) => release(conn).await,
            Err(e) => {
                let p = &parts[i];
                if p.wrote && failure.is_none() {
                    failure = Some(match server_err(&e) {
                        Some(_) => rolled_back(&p.label, &e),
                        None => TxnError::Unknown {
                            shard: p.label.clone(),
                            message: e.to_string(),
                            gtrid: "(one-phase)".into(),
                        },
                    });
                }
                discard(conn);
            }
        }
    }
    failure.map_or(Ok(CommitKind::OnePhase), Err)
}

/// Moves the connections of the participants `sql` selects into run items.
fn take_conns(
    parts: &mut [Participant],
    sql: impl Fn(&Participant) -> Option<String>,
) -> Vec<(usize, PooledConn, String)> {
    let mut items = Vec::new();
    for (i, p) in parts.iter_mut().enumerate() {
        if let Some(s) = sql(p) {
            if let Some(c) = p.conn.take() {
                items.push((i, c, s));
            }
        }
    }
    items
}

async fn two_phase(
    mut parts: Vec<Participant>,
    coordinator: usize,
    gtrid: &str,
) -> Result<CommitKind, TxnError> {
    // Phase 1: prepare the writing XA branches, finish the reading ones.
    let started = Instant::now();
    let items = take_conns(&mut parts, |p| match &p.kind {
        BranchKind::Xa(x) if p.wrote => Some(format!("XA END {0}; XA PREPARE {0}", x.sql())),
        BranchKind::Xa(_) => Some(one_phase_sql(&p.kind)),
        _ => None,
    });
    let mut prepared: Vec<usize> = Vec::new();
    let mut failure = None;
    for (i, conn, r) in run_all(items).await {
        let p = &mut parts[i];
        match r {
            Ok(()) if p.wrote => {
                prepared.push(i);
                p.conn = Some(conn);
            }
            Ok(()) => release(conn).await,
            Err(e) if p.wrote => {
                failure.get_or_insert_with(|| rolled_back(&p.label, &e));
                // The branch is not prepared: roll it back with the rest.
                p.conn = Some(conn);
            }
            Err(_) => discard(conn),
        }
    }
    if let Some(f) = failure {
        rollback_after_prepare(parts, &prepared).await;
        return Err(f);
    }
    hit(Failpoint::XaAfterPrepare);
    if started.elapsed() > MAX_PREPARED {
        let shard = parts[coordinator].label.clone();
        rollback_after_prepare(parts, &prepared).await;
        return Err(TxnError::RolledBack {
            shard,
            code: 1180,
            state: *b"HY000",
            message: format!("XA PREPARE took longer than {MAX_PREPARED:?}"),
        });
    }

    // Phase 2: the decision commits with the local branch.
    let mut local = parts[coordinator]
        .conn
        .take()
        .expect("coordinator connection present");
    let sql = format!("{}; COMMIT", record_sql(gtrid, Outcome::Commit));
    match decide(&mut local, &sql).await {
        Decided::Committed => release(local).await,
        Decided::Refused(e) => {
            let f = rolled_back(&parts[coordinator].label, &e);
            parts[coordinator].conn = Some(local);
            rollback_after_prepare(parts, &prepared).await;
            return Err(f);
        }
        Decided::Unknown(e) => {
            let shard = parts[coordinator].label.clone();
            discard(local);
            for p in parts {
                if let Some(c) = p.conn {
                    discard(c);
                }
            }
            tracing::error!(gtrid, %shard, error = %e, "XA commit point without an answer: recovery decides");
            return Err(TxnError::Unknown {
                shard,
                message: e.to_string(),
                gtrid: gtrid.to_string(),
            });
        }
    }
    hit(Failpoint::XaAfterDecision);

    // Phase 3: commit the prepared branches.
    let items = take_conns(&mut parts, |p| match &p.kind {
        BranchKind::Xa(x) => Some(format!("XA COMMIT {}", x.sql())),
        _ => None,
    });
    for (i, conn, r) in run_all(items).await {
        match r {
            Ok(()) => release(conn).await,
            Err(e) => {
                tracing::warn!(gtrid, shard = %parts[i].label, error = %e,
                    "XA COMMIT after a durable commit decision failed: recovery will commit the branch");
                discard(conn);
            }
        }
    }
    Ok(CommitKind::TwoPhase)
}

enum Decided {
    Committed,
    /// The decision insert was refused (e.g. a recovery tombstone): the
    /// local transaction is still open and nothing is committed.
    Refused(BackendError),
    /// No answer to the COMMIT: it may or may not have happened.
    Unknown(BackendError),
}

/// Runs `INSERT <decision>; COMMIT` and tells which part failed.
async fn decide(conn: &mut PooledConn, sql: &str) -> Decided {
    match conn.query(sql).await {
        Ok(Response::Ok(_)) => {}
        Ok(Response::Err(e)) => return Decided::Refused(BackendError::Server(e)),
        Ok(Response::ResultSet { .. }) => {
            return Decided::Unknown(BackendError::Protocol(
                "decision insert returned rows".into(),
            ))
        }
        // Nothing was sent.
        Err(e @ BackendError::State(_)) => return Decided::Refused(e),
        Err(e) => return Decided::Unknown(e),
    }
    match conn.read_response().await {
        Ok(Response::Ok(_)) => Decided::Committed,
        Ok(Response::Err(e)) => Decided::Unknown(BackendError::Server(e)),
        Ok(Response::ResultSet { .. }) => {
            Decided::Unknown(BackendError::Protocol("COMMIT returned rows".into()))
        }
        Err(e) => Decided::Unknown(e),
    }
}

/// Rolls back after phase 1: prepared branches with `XA ROLLBACK`, the rest
/// as usual.
async fn rollback_after_prepare(parts: Vec<Participant>, prepared: &[usize]) {
    let mut rest = Vec::new();
    let mut xa_prepared = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        if prepared.contains(&i) {
            xa_prepared.push(p);
        } else {
            rest.push(p);
        }
    }
    let items: Vec<(usize, PooledConn, String)> = xa_prepared
        .iter_mut()
        .enumerate()
        .filter_map(|(i, p)| match (&p.kind, p.conn.take()) {
            (BranchKind::Xa(x), Some(c)) => Some((i, c, format!("XA ROLLBACK {}", x.sql()))),
            _ => None,
        })
        .collect();
    for (_, conn, r) in run_all(items).await {
        match r {
            Ok(()) => release(conn).await,
            // Left prepared: recovery finds no decision and rolls it back.
            Err(_) => discard(conn),
        }
    }
    rollback(rest).await;
}

/// Rolls every branch back (connections that cannot be rolled back cleanly
/// are closed, which rolls them back on the server).
pub async fn rollback(mut parts: Vec<Participant>) {
    let items = take_conns(&mut parts, |p| {
        Some(match &p.kind {
            BranchKind::Xa(x) => format!("XA END {0}; XA ROLLBACK {0}", x.sql()),
            BranchKind::Local | BranchKind::ReadOnly => "ROLLBACK".into(),
        })
    });
    for (i, mut conn, r) in run_all(items).await {
        match (r, &parts[i].kind) {
            (Ok(()), _) => release(conn).await,
            // XA END fails on a branch the server already rolled back
            // (deadlock): XA ROLLBACK still ends it.
            (Err(e), BranchKind::Xa(x)) if !conn.is_broken() && server_err(&e).is_some() => {
                match conn.query_drop(&format!("XA ROLLBACK {}", x.sql())).await {
                    Ok(()) => release(conn).await,
                    Err(_) => discard(conn),
                }
            }
            (Err(_), _) => discard(conn),
        }
    }
}
