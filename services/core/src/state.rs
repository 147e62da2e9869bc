//! The state every center shares: the config, the connections (database,
//! Redis, RabbitMQ), metrics, the seal, password hashing, sessions and the
//! outbox. It knows no center: each center keeps its own state next to a
//! handle on this one, and `app` puts them together.

use std::sync::Arc;

use crate::auth::password::Hasher;
use crate::auth::session::Sessions;
use crate::cache::Cache;
use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::metrics::Metrics;
use crate::mq::{Mq, MqError};
use crate::outbox::{OutboxMetrics, OutboxRuntime, RelayMode};
use crate::seal::Sealer;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "unknown role {0:?}: this build serves \"permission\", \"number\", \"card\" and \"report\""
    )]
    UnknownRole(String),
    #[error("no role given: name at least one center to serve")]
    NoRole,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database URL: {0}")]
    DatabaseUrl(#[from] mysql_async::UrlError),
    #[error("database: {0}")]
    Database(String),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Mq(#[from] MqError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error("report center: {0}")]
    Report(String),
}

pub struct SharedInner {
    pub cfg: Config,
    pub db: Db,
    pub cache: Cache,
    pub mq: Mq,
    pub metrics: Metrics,
    pub sealer: Sealer,
    pub hasher: Hasher,
    pub sessions: Sessions,
    /// The relay and the consumers centers registered (`outbox::runtime`).
    pub outbox: OutboxRuntime,
}

/// Shared by every center and handler; cheap to clone.
#[derive(Clone)]
pub struct Shared(pub Arc<SharedInner>);

impl std::ops::Deref for Shared {
    type Target = SharedInner;
    fn deref(&self) -> &SharedInner {
        &self.0
    }
}

impl Shared {
    /// Connects to the proxy, Redis and RabbitMQ. The relay is not started:
    /// centers register their consumers first (`app`).
    pub async fn connect(cfg: Config) -> Result<Shared, StartError> {
        cfg.outbox.validate().map_err(ConfigError::Outbox)?;
        let sealer = Sealer::new(cfg.seal_key_bytes()?);
        let db = Db::new(&cfg.database_url)?;
        // Timestamps name the database clock's offset (crate::time).
        let mut c = db
            .conn()
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        crate::time::learn_offset(&mut c)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        drop(c);
        let cache = Cache::connect(&cfg.redis_url).await?;
        let mq = Mq::start(cfg.amqp_url.clone()).await?;
        let metrics = Metrics::new();
        let outbox_metrics = OutboxMetrics::register(metrics.registry())?;
        Ok(Shared(Arc::new(SharedInner {
            hasher: Hasher::new(&cfg.password),
            sessions: Sessions::new(cache.clone(), &cfg.session),
            outbox: OutboxRuntime::new(cfg.outbox.clone(), db.pool(), mq.clone(), outbox_metrics),
            metrics,
            db,
            cache,
            mq,
            sealer,
            cfg,
        })))
    }

    /// Whether this process relays outbox rows (`[outbox] relay`; `auto`:
    /// when it serves a center that writes them).
    pub fn relays(&self, writes_outbox: bool) -> bool {
        match self.cfg.outbox.relay {
            RelayMode::On => true,
            RelayMode::Off => false,
            RelayMode::Auto => writes_outbox,
        }
    }
}
