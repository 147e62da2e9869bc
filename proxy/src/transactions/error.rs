//! How a distributed COMMIT can fail, as the client sees it.

use crate::protocol::ErrInfo;

/// ER_ERROR_DURING_COMMIT: the code MySQL uses when COMMIT itself fails.
const ERROR_DURING_COMMIT: u16 = 1180;

#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// A branch refused (failed prepare, commit refused, recovery tombstone):
    /// every branch was rolled back.
    #[error("haoka: {shard}: {message}; the transaction was rolled back on every shard")]
    RolledBack {
        shard: String,
        code: u16,
        state: [u8; 5],
        message: String,
    },
    /// A branch's connection broke before COMMIT, taking its changes with it.
    #[error("haoka: {shard} lost its connection during the transaction (its changes are gone); the transaction was rolled back on every shard")]
    BranchLost { shard: String },
    /// The commit point itself failed without an answer: the decision may or
    /// may not be durable; recovery finishes every branch the same way.
    #[error("haoka: the commit on {shard} got no answer ({message}); the outcome is unknown until XA recovery finishes transaction {gtrid}")]
    Unknown {
        shard: String,
        message: String,
        gtrid: String,
    },
}

impl TxnError {
    pub fn to_err_info(&self) -> ErrInfo {
        match self {
            TxnError::RolledBack { code, state, .. } => ErrInfo {
                code: *code,
                state: *state,
                message: self.to_string(),
            },
            _ => ErrInfo::new(ERROR_DURING_COMMIT, "HY000", self.to_string()),
        }
    }
}
