//! A probe consumer for the outbox tests against the real proxy and RabbitMQ:
//! its own exchange, queue and consumer name (a random tag), a handler whose
//! effect is a completion outbox row written in the consumer's transaction
//! (so "how many times did it take effect" is a COUNT), and clean-up.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haoka_services::mq::Mq;
use haoka_services::outbox::{
    self, topology, ConsumerSpec, Handler, HandlerError, HandlerFuture, OutboxMessage,
    OutboxMetrics, Received,
};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts};
use serde_json::json;

pub const PROVINCE: &str = "11";

pub struct Probe {
    pub tag: String,
    pub exchange: String,
    pub queue: String,
    pub consumer: String,
    /// The handler's effect: a completion message written in its transaction.
    pub done_exchange: String,
}

impl Probe {
    pub fn new(prefix: &str) -> Probe {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        Probe {
            exchange: format!("t.{prefix}.{tag}"),
            queue: format!("t.{prefix}.{tag}.q"),
            consumer: format!("t-{prefix}-{tag}"),
            done_exchange: format!("t.{prefix}.{tag}.done"),
            tag,
        }
    }

    pub fn spec(&self, delivery_limit: u32) -> ConsumerSpec {
        ConsumerSpec {
            name: self.consumer.clone(),
            exchange: self.exchange.clone(),
            queue: self.queue.clone(),
            binding_key: "card.#".into(),
            prefetch: 8,
            delivery_limit,
        }
    }

    pub fn handler(&self) -> EffectHandler {
        EffectHandler {
            done_exchange: self.done_exchange.clone(),
            poison: Arc::new(Mutex::new(None)),
            seen: Arc::new(Mutex::new(Vec::new())),
            slow_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn message(&self, n: u32) -> OutboxMessage {
        OutboxMessage {
            province_code: PROVINCE.into(),
            exchange: self.exchange.clone(),
            routing_key: "card.moved".into(),
            payload: json!({ "n": n }),
        }
    }

    /// Writes message `n` in its own committed transaction; returns its id.
    pub async fn committed(&self, pool: &Pool, n: u32) -> String {
        let mut tx = pool.start_transaction(TxOpts::default()).await.unwrap();
        let id = outbox::write(&mut tx, &self.message(n)).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// How many times the handler's effect for `id` committed.
    pub async fn effects(&self, pool: &Pool, id: &str) -> u64 {
        let mut c = pool.get_conn().await.unwrap();
        c.exec_first(
            "SELECT COUNT(*) FROM outbox WHERE province_code = ? AND exchange_name = ? AND payload = ?",
            (PROVINCE, &self.done_exchange, json!({ "of": id }).to_string()),
        )
        .await
        .unwrap()
        .unwrap()
    }

    pub async fn status(&self, pool: &Pool, id: &str) -> Option<String> {
        let mut c = pool.get_conn().await.unwrap();
        c.exec_first(
            "SELECT status FROM outbox WHERE province_code = ? AND message_id = ?",
            (PROVINCE, id),
        )
        .await
        .unwrap()
    }

    /// Deliveries of the probe's consumer that took effect, per `metrics`.
    pub fn handled(&self, metrics: &OutboxMetrics) -> u64 {
        metrics
            .consumed
            .with_label_values(&[&self.consumer, "handled"])
            .get()
    }

    /// Removes the probe's rows, queues and exchanges. Stop its consumer
    /// first, or it re-declares the queue it loses.
    pub async fn cleanup(&self, pool: &Pool, mq: &Mq, extra_exchanges: &[&str]) {
        let mut c = pool.get_conn().await.unwrap();
        c.exec_drop(
            "DELETE FROM outbox WHERE province_code = ? AND exchange_name IN (?, ?)",
            (PROVINCE, &self.exchange, &self.done_exchange),
        )
        .await
        .unwrap();
        for x in extra_exchanges {
            c.exec_drop(
                "DELETE FROM outbox WHERE province_code = ? AND exchange_name = ?",
                (PROVINCE, x),
            )
            .await
            .unwrap();
        }
        c.exec_drop(
            "DELETE FROM processed_message WHERE province_code = ? AND consumer = ?",
            (PROVINCE, &self.consumer),
        )
        .await
        .unwrap();
        drop(c);
        let ch = mq.channel().await.unwrap();
        for q in [self.queue.clone(), topology::dead_queue(&self.queue)] {
            let _ = ch.queue_delete(&q, QueueDeleteOptions::default()).await;
        }
        for x in [self.exchange.clone(), topology::dead_exchange(&self.queue)] {
            let _ = ch
                .exchange_delete(&x, ExchangeDeleteOptions::default())
                .await;
        }
        let _ = ch.close(200, "cleaned up").await;
    }
}

#[derive(Clone)]
pub struct EffectHandler {
    done_exchange: String,
    /// A message id that fails while set.
    pub poison: Arc<Mutex<Option<String>>>,
    /// Every message id handed to the handler, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
    /// How long each message takes to handle.
    pub slow_ms: Arc<AtomicU64>,
}

impl Handler for EffectHandler {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static>,
        msg: &'a Received,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(msg.message_id.clone());
            let slow = self.slow_ms.load(Ordering::SeqCst);
            if slow > 0 {
                tokio::time::sleep(Duration::from_millis(slow)).await;
            }
            if self.poison.lock().unwrap().as_deref() == Some(msg.message_id.as_str()) {
                return Err(HandlerError::Rejected("poison".into()));
            }
            // The completion goes back through the outbox, in this transaction.
            let done = OutboxMessage {
                province_code: msg.province_code.clone(),
                exchange: self.done_exchange.clone(),
                routing_key: "card.done".into(),
                payload: json!({ "of": msg.message_id }),
            };
            outbox::write(tx, &done)
                .await
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            Ok(())
        })
    }
}

/// Polls `check` every 50 ms until it holds; panics after `secs` seconds.
pub async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}
