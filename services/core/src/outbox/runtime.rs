//! The outbox inside haoka-server: the process's relay and the consumers its
//! centers registered at start-up, started and stopped with the server.
//!
//! A center registers each consumer once (`register`), usually from its
//! `start` function; the queue then also becomes addressable by the
//! dead-letter operator API, which never touches a queue not registered here.

use std::sync::{Arc, Mutex};

use mysql_async::Pool;
use tokio::sync::Notify;

use super::config::OutboxConfig;
use super::consumer::start_waking;
use super::{topology, Relay};
use super::{ConsumerHandle, ConsumerSpec, Handler, OutboxError, OutboxMetrics};
use crate::mq::Mq;

/// A consumer a center registered.
struct Registered {
    spec: ConsumerSpec,
    /// None when this process does not consume (`[outbox] consumers = false`).
    handle: Option<ConsumerHandle>,
}

pub struct OutboxRuntime {
    cfg: OutboxConfig,
    pool: Pool,
    mq: Mq,
    pub metrics: OutboxMetrics,
    relay: Mutex<Option<Relay>>,
    /// Wakes the relay: commits of this process that wrote outbox rows
    /// (`wake`, and every consumer's applied message).
    wake_relay: Arc<Notify>,
    consumers: Mutex<Vec<Registered>>,
    /// Serialises this process's dead-letter listings and replays: a listing
    /// holds the messages unacked, which would hide them from a replay.
    pub dead_letters: tokio::sync::Mutex<()>,
}

impl OutboxRuntime {
    pub fn new(cfg: OutboxConfig, pool: Pool, mq: Mq, metrics: OutboxMetrics) -> OutboxRuntime {
        OutboxRuntime {
            cfg,
            pool,
            mq,
            metrics,
            relay: Mutex::new(None),
            wake_relay: Arc::new(Notify::new()),
            consumers: Mutex::new(Vec::new()),
            dead_letters: tokio::sync::Mutex::new(()),
        }
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.cfg
    }

    /// Starts the relay (once; later calls do nothing).
    pub fn start_relay(&self) {
        let mut relay = self.relay.lock().expect("relay lock");
        if relay.is_none() {
            tracing::info!(
                exchanges = ?self.cfg.exchanges,
                provinces = self.cfg.relay_config().provinces.len(),
                "outbox relay started"
            );
            *relay = Some(Relay::spawn_woken_by(
                self.pool.clone(),
                self.mq.clone(),
                self.cfg.relay_config(),
                self.metrics.clone(),
                self.wake_relay.clone(),
            ));
        }
    }

    pub fn relay_running(&self) -> bool {
        self.relay.lock().expect("relay lock").is_some()
    }

    /// Publish what was just committed now rather than at the next poll.
    /// Harmless where no relay runs (another process's relay picks it up).
    pub fn wake(&self) {
        self.wake_relay.notify_one();
    }

    /// Commits a transaction that wrote outbox rows and wakes the relay, so
    /// they are published now.
    pub async fn commit(&self, tx: mysql_async::Transaction<'_>) -> Result<(), mysql_async::Error> {
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    /// Declares the consumer's queues and starts consuming (unless this
    /// process does not consume). A queue can be registered once.
    pub async fn register<H: Handler>(
        &self,
        spec: ConsumerSpec,
        handler: H,
    ) -> Result<(), OutboxError> {
        validate(&spec)?;
        if self.knows(&spec.queue) {
            return Err(OutboxError::Invalid(format!(
                "queue {} is registered already",
                spec.queue
            )));
        }
        let handle = if self.cfg.consumers {
            let h = start_waking(
                self.pool.clone(),
                self.mq.clone(),
                spec.clone(),
                handler,
                self.metrics.clone(),
                self.wake_relay.clone(),
            )
            .await?;
            Some(h)
        } else {
            let ch = self.mq.channel().await?;
            topology::declare_consumer_queue(
                &ch,
                &spec.exchange,
                &spec.queue,
                &spec.binding_key,
                spec.delivery_limit,
            )
            .await?;
            let _ = ch.close(200, "declared").await;
            None
        };
        tracing::info!(consumer = %spec.name, queue = %spec.queue, consuming = handle.is_some(), "consumer registered");
        let mut all = self.consumers.lock().expect("consumer lock");
        if all.iter().any(|r| r.spec.queue == spec.queue) {
            // Lost a race with a concurrent registration of the same queue.
            return Err(OutboxError::Invalid(format!(
                "queue {} is registered already",
                spec.queue
            )));
        }
        all.push(Registered { spec, handle });
        Ok(())
    }

    /// Whether `queue` belongs to a registered consumer.
    pub fn knows(&self, queue: &str) -> bool {
        self.consumers
            .lock()
            .expect("consumer lock")
            .iter()
            .any(|r| r.spec.queue == queue)
    }

    /// The registered consumers and whether each consumes here.
    pub fn consumers(&self) -> Vec<(ConsumerSpec, bool)> {
        self.consumers
            .lock()
            .expect("consumer lock")
            .iter()
            .map(|r| (r.spec.clone(), r.handle.is_some()))
            .collect()
    }

    /// Graceful stop: consumers finish the delivery in hand, then the relay
    /// finishes its pass; each waits at most the configured grace.
    pub async fn shutdown(&self) {
        let grace = self.cfg.shutdown_grace();
        let handles: Vec<ConsumerHandle> = self
            .consumers
            .lock()
            .expect("consumer lock")
            .iter_mut()
            .filter_map(|r| r.handle.take())
            .collect();
        futures_util::future::join_all(handles.into_iter().map(|h| h.stop(grace))).await;
        let relay = self.relay.lock().expect("relay lock").take();
        if let Some(relay) = relay {
            relay.stop(grace).await;
        }
    }
}

fn validate(spec: &ConsumerSpec) -> Result<(), OutboxError> {
    let ok = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if !ok(&spec.name, 64) || !ok(&spec.queue, 200) {
        return Err(OutboxError::Invalid(
            "consumer name (1..=64) and queue (1..=200) must be letters, digits, '.', '_' or '-'"
                .into(),
        ));
    }
    if spec.delivery_limit == 0 || spec.prefetch == 0 {
        return Err(OutboxError::Invalid(
            "delivery_limit and prefetch must be at least 1".into(),
        ));
    }
    Ok(())
}
