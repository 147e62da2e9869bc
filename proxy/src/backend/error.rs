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
}

impl From<std::io::Error> for BackendError {
    fn from(e: std::io::Error) -> Self {
        BackendError::Frame(FrameError::Io(e))
    }
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;
