//! Errors of backend connections and pools.

use std::time::Duration;

use crate::protocol::{ErrInfo, FrameError};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend {target}: i/o error: {source}")]
    Io {
        target: String,
        source: std::io::Error,
    },
    #[error("backend i/o error: {0}")]
    Frame(#[from] FrameError),
    #[error("backend {target}: connect timed out after {timeout:?}")]
    ConnectTimeout { target: String, timeout: Duration },
    #[error("backend {target}: authentication failed: {err}")]
    Auth { target: String, err: ErrInfo },
    /// The server answered with ERR where a result was expected (the
    /// connection is still usable).
    #[error("{0}")]
    Server(ErrInfo),
    #[error("backend protocol error: {0}")]
    Protocol(String),
    #[error("connection misuse: {0}")]
    State(&'static str),
    #[error("pool {target}: no connection available within {waited:?} (max {max} in use)")]
    PoolTimeout {
        target: String,
        waited: Duration,
        max: usize,
    },
    /// The pool's circuit breaker is open: the backend failed recently and is
    /// probed in the background; callers fail fast instead of each waiting
    /// for a connect timeout.
    #[error("backend {target} is down (for {down_for:?}, probed in the background): {last_error}")]
    Down {
        target: String,
        down_for: Duration,
        last_error: String,
    },
    /// No answer within the query timeout; the statement was killed on the
    /// backend and the connection dropped.
    #[error("backend {target}: no answer within the query timeout of {timeout:?}; the statement was killed")]
    QueryTimeout { target: String, timeout: Duration },
}

impl BackendError {
    /// MySQL error code and SQLSTATE for a client (proxy/PROTOCOL.md): a
    /// shard that cannot be reached is ER_CONNECT_TO_FOREIGN_DATA_SOURCE, a
    /// statement past the query timeout ER_STATEMENT_TIMEOUT (MariaDB's).
    pub fn client_code(&self) -> (u16, &'static str) {
        match self {
            BackendError::QueryTimeout { .. } => (1969, "70100"),
            e if e.is_unreachable() => (1429, "HY000"),
            _ => (1105, "HY000"),
        }
    }

    /// The backend cannot be reached or stopped answering mid-conversation
    /// (as opposed to answering with an error).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            BackendError::Io { .. }
                | BackendError::ConnectTimeout { .. }
                | BackendError::Down { .. }
                | BackendError::Frame(crate::protocol::FrameError::Io(_))
                | BackendError::Frame(crate::protocol::FrameError::Truncated)
        )
    }
}

impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        BackendError::Frame(FrameError::Io(e))
    }
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;
