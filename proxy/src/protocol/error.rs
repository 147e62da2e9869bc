//! Errors of the wire layer.

use std::io;

/// Errors while framing packets off a socket.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("connection closed in the middle of a packet")]
    Truncated,
    #[error("packet of {size} bytes exceeds max_allowed_packet ({max})")]
    TooLarge { size: usize, max: usize },
}

/// Errors of a frontend session (one client connection).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    #[error("handshake failed: {0}")]
    Handshake(String),
}

impl ProtocolError {
    /// True when the peer simply went away; not worth a warning in the log.
    pub fn is_disconnect(&self) -> bool {
        match self {
            ProtocolError::Frame(FrameError::Truncated) => true,
            ProtocolError::Frame(FrameError::Io(e)) | ProtocolError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}
