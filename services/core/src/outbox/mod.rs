//! Half transactions (DESIGN.md §4) as a transactional outbox shared by every
//! center: a business transaction writes its message as an `outbox` row on its
//! own shard (`write`), a relay publishes due rows with publisher confirms and
//! marks them sent only after a clean ack (`relay`), consumers apply each
//! message at most once by recording its id in `processed_message` in the same
//! transaction (`consumer`), poison messages land in a per-queue dead-letter
//! queue an operator can list and replay (`dead_letter`). Duplicates are
//! expected and harmless; loss is a bug. `runtime` runs the relay and the
//! registered consumers inside haoka-server (`config`: its `[outbox]`
//! section); `stats` is the per-province backlog operators look at.

pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod metrics;
pub mod relay;
pub mod runtime;
pub mod stats;
pub mod topology;
mod write;

pub use config::{OutboxConfig, RelayMode};
pub use consumer::{
    start as start_consumer, ConsumerHandle, ConsumerSpec, Handler, HandlerError, HandlerFuture,
    Received,
};
pub use dead_letter::{list_dead, replay_dead, DeadMessage, Replay};
pub use metrics::OutboxMetrics;
pub use relay::{check_back, Relay, RelayConfig};
pub use runtime::OutboxRuntime;
pub use write::{write, OutboxMessage};

/// The header carrying the province whose shard wrote the message.
pub const PROVINCE_HEADER: &str = "x-province";

/// Where an outbox row stands; stored as one letter in `outbox.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Written, not yet confirmed by the broker (may be in flight).
    Pending,
    /// The broker confirmed it cleanly.
    Sent,
    /// Gave up after the relay's attempt limit; an operator must look.
    Failed,
}

impl OutboxStatus {
    pub fn code(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "P",
            OutboxStatus::Sent => "S",
            OutboxStatus::Failed => "F",
        }
    }

    pub fn from_code(code: &str) -> Option<OutboxStatus> {
        match code {
            "P" => Some(OutboxStatus::Pending),
            "S" => Some(OutboxStatus::Sent),
            "F" => Some(OutboxStatus::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("invalid outbox message: {0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] mysql_async::Error),
    #[error("RabbitMQ: {0}")]
    Mq(#[from] crate::mq::MqError),
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("broker refused message {message_id}: {reason}")]
    NotConfirmed { message_id: String, reason: String },
}
