//! Backend: the MySQL client side of the proxy (we connect to the shards).
//!
//! - `conn`: `Connection` (handshake/auth, commands, streaming results)
//! - `auth`: native / caching_sha2 scrambles and RSA full auth
//! - `result`: column/row decoding helpers
//! - `pool`: `Pool` per target with cheap checkout
//! - `health`: per-target circuit breaker (fail fast while a backend is down)
//! - `replica`: a shard's replicas and their replication lag

pub mod auth;
pub mod conn;
pub mod error;
pub mod health;
pub mod pool;
pub mod replica;
pub mod result;

pub use conn::{BackendConfig, Connection, Prepared, QueryResult, Response};
pub use error::BackendError;
pub use health::{BackendState, Health, HealthSnapshot};
pub use pool::{Canceller, Pool, PoolConfig, PooledConn};
pub use replica::{ReplicaRuntime, ReplicaSet, ReplicaState};
pub use result::{decode_binary_row, decode_text_row, parse_column, ColumnDef};
