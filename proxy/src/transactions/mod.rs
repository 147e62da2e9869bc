//! Distributed transactions across shards (DESIGN.md §3).
//!
//! A client transaction holds one backend connection per shard it touched
//! (a *branch*). The first branch is a plain local transaction; every later
//! branch runs as an XA branch. COMMIT of a transaction that wrote on one
//! branch is a plain one-phase commit; one that wrote on several uses the
//! "last resource" two-phase commit of `coordinator`: the XA branches are
//! prepared, the decision row is written *inside* the local branch and
//! committed with it (that commit is the commit point), then the XA branches
//! are committed. `recovery` finishes in-doubt branches left by a proxy that
//! died between PREPARE and COMMIT, reading the decision log.

pub mod branch;
pub mod coordinator;
pub mod decision;
pub mod error;
pub mod failpoint;
pub mod metrics;
pub mod recovery;
pub mod transaction;
pub mod xid;

pub use branch::{Branch, BranchKind};
pub use coordinator::{commit, rollback, CommitKind};
pub use error::TxnError;
pub use metrics::TxnMetrics;
pub use transaction::{Ended, Transaction};
pub use xid::Xid;
