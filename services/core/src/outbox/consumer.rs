//! The consumer framework: each delivery is applied inside a transaction that
//! also records its message id in `processed_message`, so a redelivered or
//! duplicated message changes nothing twice. The ack goes out only after the
//! commit; a failed handler nacks with requeue, and the quorum queue
//! dead-letters the message once its delivery limit is spent.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts};
use tokio::sync::{watch, Notify};

use super::{topology, OutboxError, OutboxMetrics, PROVINCE_HEADER};
use crate::mq::Mq;

/// MySQL's duplicate-key error: the message id was processed already.
const ER_DUP_ENTRY: u16 = 1062;

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Recorded in `processed_message.consumer`; also the metrics label.
    pub name: String,
    pub exchange: String,
    pub queue: String,
    pub binding_key: String,
    /// Unacked deliveries in flight at once.
    pub prefetch: u16,
    /// Failed deliveries before the message is dead-lettered.
    pub delivery_limit: u32,
}

/// One delivery as a handler sees it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    /// The province whose shard wrote the message.
    pub province_code: String,
    pub routing_key: String,
    pub payload: serde_json::Value,
    pub redelivered: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("database: {0}")]
    Db(#[from] mysql_async::Error),
    #[error("{0}")]
    Rejected(String),
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'a>>;

/// Applies one message inside the given transaction (commit is the
/// framework's job).
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static>,
        msg: &'a Received,
    ) -> HandlerFuture<'a>;

    /// Province whose shard holds `processed_message` for this message: the
    /// one the handler writes to, so the dedup row commits with the effect.
    fn target_province(&self, msg: &Received) -> String {
        msg.province_code.clone()
    }
}

/// A running consumer. `stop` ends it gracefully; dropping it aborts it
/// (unacked deliveries go back to the queue either way).
pub struct ConsumerHandle {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl ConsumerHandle {
    /// Stops taking deliveries, lets the one in hand commit and be acked
    /// (waiting at most `grace`), then closes the channel so the prefetched
    /// rest returns to the queue.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                tracing::warn!("consumer did not stop within the grace period; aborted");
                abort.abort();
            }
        }
    }
}

/// Declares the consumer's queues and consumes until stopped, re-subscribing
/// on a fresh channel whenever the broker connection comes back.
pub async fn start<H: Handler>(
    pool: Pool,
    mq: Mq,
    spec: ConsumerSpec,
    handler: H,
    metrics: OutboxMetrics,
) -> Result<ConsumerHandle, OutboxError> {
    start_waking(pool, mq, spec, handler, metrics, Arc::new(Notify::new())).await
}

/// As `start`; every applied message also wakes `relay` (the process's
/// relay), so what the handler wrote to the outbox is published at once
/// rather than at the next poll.
pub async fn start_waking<H: Handler>(
    pool: Pool,
    mq: Mq,
    spec: ConsumerSpec,
    handler: H,
    metrics: OutboxMetrics,
    relay: Arc<Notify>,
) -> Result<ConsumerHandle, OutboxError> {
    let ch = mq.channel().await?;
    declare(&ch, &spec).await?;
    let handler = Arc::new(handler);
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut first = Some(ch);
        let mut warned: Option<tokio::time::Instant> = None;
        while !*stop_rx.borrow() {
            let ch = match first.take() {
                Some(ch) => Ok(ch),
                None => mq.channel().await.map_err(OutboxError::from),
            };
            let result = match ch {
                Ok(ch) => {
                    let mut stop = stop_rx.clone();
                    let ctx = Ctx {
                        pool: &pool,
                        spec: &spec,
                        handler: handler.as_ref(),
                        metrics: &metrics,
                        relay: &relay,
                    };
                    consume(&ctx, ch, &mut stop).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) if *stop_rx.borrow() => break,
                Ok(()) => {
                    tracing::warn!(consumer = %spec.name, "consumer cancelled by the broker; resubscribing")
                }
                // While the broker is away this repeats every half second:
                // say it once, then every half minute.
                Err(e) if warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) => {
                    tracing::warn!(error = %e, consumer = %spec.name, "consumer stopped; resubscribing");
                    warned = Some(tokio::time::Instant::now());
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop_rx.changed() => {}
            }
        }
    });
    Ok(ConsumerHandle {
        task: Some(task),
        stop,
    })
}

/// What a subscription works with.
struct Ctx<'a, H> {
    pool: &'a Pool,
    spec: &'a ConsumerSpec,
    handler: &'a H,
    metrics: &'a OutboxMetrics,
    relay: &'a Notify,
}

async fn consume<H: Handler>(
    ctx: &Ctx<'_, H>,
    ch: lapin::Channel,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), OutboxError> {
    let spec = ctx.spec;
    declare(&ch, spec).await?;
    ch.basic_qos(spec.prefetch, BasicQosOptions::default())
        .await?;
    let mut deliveries = ch
        .basic_consume(
            &spec.queue,
            &spec.name,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        // A delivery being processed is never interrupted: the stop signal is
        // only looked at between deliveries.
        let next = tokio::select! {
            biased;
            _ = stop.changed() => None,
            d = deliveries.next() => Some(d),
        };
        match next {
            None | Some(None) => break,
            Some(Some(delivery)) => {
                process(ctx, delivery?).await?;
            }
        }
    }
    if *stop.borrow() {
        // Unacked prefetched deliveries return to the queue with the channel.
        let _ = ch.close(200, "consumer stopped").await;
    }
    Ok(())
}

async fn process<H: Handler>(ctx: &Ctx<'_, H>, delivery: Delivery) -> Result<(), OutboxError> {
    let (spec, metrics) = (ctx.spec, ctx.metrics);
    if delivery.redelivered {
        metrics.redelivered.with_label_values(&[&spec.name]).inc();
    }
    let msg = match decode(&delivery) {
        Ok(msg) => msg,
        Err(reason) => {
            // Undecodable: no retry can help, dead-letter it now.
            tracing::warn!(consumer = %spec.name, %reason, "poison message");
            metrics.dead_lettered.with_label_values(&[&spec.name]).inc();
            delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await?;
            return Ok(());
        }
    };
    match apply(ctx.pool, spec, ctx.handler, &msg).await {
        Ok(Applied::Done) => {
            // The handler may have written outbox rows (a reply): publish
            // them now. A wake for nothing costs the relay one poll.
            ctx.relay.notify_one();
            // Counted once applied (committed), not once the ack went out.
            metrics
                .consumed
                .with_label_values(&[&spec.name, "handled"])
                .inc();
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Ok(Applied::Duplicate) => {
            metrics
                .consumed
                .with_label_values(&[&spec.name, "duplicate"])
                .inc();
            delivery.ack(BasicAckOptions::default()).await?;
        }
        Err(e) => {
            tracing::warn!(consumer = %spec.name, message_id = %msg.message_id, error = %e, "handler failed");
            metrics
                .consumed
                .with_label_values(&[&spec.name, "failed"])
                .inc();
            // Quorum queues count earlier returns in x-delivery-count.
            if delivery_count(&delivery) + 1 > spec.delivery_limit as i64 {
                metrics.dead_lettered.with_label_values(&[&spec.name]).inc();
            }
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(())
}

/// Idempotent, so every (re)subscription can run it.
async fn declare(ch: &lapin::Channel, spec: &ConsumerSpec) -> Result<(), lapin::Error> {
    topology::declare_consumer_queue(
        ch,
        &spec.exchange,
        &spec.queue,
        &spec.binding_key,
        spec.delivery_limit,
    )
    .await
}

enum Applied {
    Done,
    Duplicate,
}

async fn apply<H: Handler>(
    pool: &Pool,
    spec: &ConsumerSpec,
    handler: &H,
    msg: &Received,
) -> Result<Applied, HandlerError> {
    let mut tx = pool.start_transaction(TxOpts::default()).await?;
    let recorded = tx
        .exec_drop(
            "INSERT INTO processed_message (message_id, consumer, province_code) VALUES (?, ?, ?)",
            (&msg.message_id, &spec.name, handler.target_province(msg)),
        )
        .await;
    match recorded {
        Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_ENTRY => {
            tx.rollback().await?;
            return Ok(Applied::Duplicate);
        }
        other => other?,
    }
    if let Err(e) = handler.handle(&mut tx, msg).await {
        tx.rollback().await?;
        return Err(e);
    }
    tx.commit().await?;
    Ok(Applied::Done)
}

fn decode(delivery: &Delivery) -> Result<Received, String> {
    let props = &delivery.properties;
    let message_id = props
        .message_id()
        .as_ref()
        .map(|s| s.as_str().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 36)
        .ok_or("missing or oversized message_id")?;
    let province_code = header_str(delivery, PROVINCE_HEADER).ok_or("missing x-province header")?;
    let payload =
        serde_json::from_slice(&delivery.data).map_err(|e| format!("payload is not JSON: {e}"))?;
    Ok(Received {
        message_id,
        province_code,
        routing_key: delivery.routing_key.as_str().to_string(),
        payload,
        redelivered: delivery.redelivered,
    })
}

fn header_str(delivery: &Delivery, name: &str) -> Option<String> {
    match delivery.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

fn delivery_count(delivery: &Delivery) -> i64 {
    let Some(headers) = delivery.properties.headers().as_ref() else {
        return 0;
    };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => *n as i64,
        Some(AMQPValue::ShortInt(n)) => *n as i64,
        Some(AMQPValue::LongUInt(n)) => *n as i64,
        _ => 0,
    }
}
