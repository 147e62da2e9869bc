//! Frontend: the MySQL server side of the proxy (clients connect to us).
//!
//! - `codec`: packet framing (shared with `backend`)
//! - `packets`: OK/ERR/EOF/row encoders and parse helpers
//! - `handshake`: greeting, handshake response, password checks
//! - `command`: command decoding, COM_STMT_EXECUTE parameters
//! - `writer`: `ResponseWriter` for synthesized and forwarded answers
//! - `handler`: the `Handler` trait the proxy core implements
//! - `session`: one connection's driver (`serve`)
//! - `server`: accept loop, connection limit, graceful shutdown
//! - `passthrough`: a handler forwarding each session to one backend

pub mod codec;
pub mod command;
pub mod consts;
pub mod error;
pub mod handler;
pub mod handshake;
pub mod packets;
pub mod passthrough;
pub mod server;
pub mod session;
pub mod writer;

pub use command::{Command, ExecuteRequest};
pub use error::{FrameError, ProtocolError};
pub use handler::{ConnectInfo, Handler, HandlerError, HandlerResult, SessionControl};
pub use packets::{ErrInfo, OkInfo};
pub use session::{serve, FrontendConfig};
pub use writer::{simple_column, Answer, ResponseWriter};
