//! The consumer framework: each delivery is applied inside a transaction that
//! also records its message id in `processed_message`, so a redelivered or
//! duplicated message changes nothing twice. The ack goes out only after the
//! commit; a failed handler nacks with requeue, and the quorum queue
//! dead-letters the message once its delivery limit is spent.
//!
//! Deliveries are applied `concurrency` at a time, in lanes: a message goes
//! to the lane of its order key (the handler names it, e.g. the transfer id),
//! so messages of one key are applied one after another in delivery order
//! while different keys proceed side by side. A deadlock or lock-wait timeout
//! is retried in place a few times before the delivery counts as failed, so
//! contention between lanes does not spend the delivery limit.

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
    /// Deliveries applied at the same time (lanes); 1 applies them one by
    /// one in delivery order.
    pub concurrency: u16,
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

    /// Messages with the same key are applied in delivery order, never at
    /// the same time; None lets the message go to any lane.
    fn order_key(&self, msg: &Received) -> Option<String> {
        let _ = msg;
        None
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
    let lanes = usize::from(spec.concurrency.max(1));
    let mut senders = Vec::with_capacity(lanes);
    let mut workers = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let (tx, rx) = tokio::sync::mpsc::channel::<Decoded>(usize::from(spec.prefetch.max(1)));
        senders.push(tx);
        workers.push(lane(ctx, rx, stop.clone()));
    }
    let stopping = stop.clone();
    let dispatch = async move {
        let mut next_free = 0usize;
        loop {
            // A delivery being processed is never interrupted: the stop
            // signal only ends the taking of new ones.
            let next = tokio::select! {
                biased;
                _ = stop.changed() => None,
                d = deliveries.next() => Some(d),
            };
            let delivery = match next {
                None | Some(None) => break,
                Some(Some(d)) => d?,
            };
            // Decoded once here: the order key picks the lane, the lane
            // applies the same value.
            let msg = decode(&delivery);
            let at = match msg.as_ref().ok().and_then(|m| ctx.handler.order_key(m)) {
                Some(key) => lane_of(&key, lanes),
                None => {
                    next_free = (next_free + 1) % lanes;
                    next_free
                }
            };
            if senders[at].send((delivery, msg)).await.is_err() {
                break;
            }
        }
        // Dropping the senders lets each lane finish what it holds.
        drop(senders);
        Ok::<(), OutboxError>(())
    };
    tokio::try_join!(dispatch, futures_util::future::try_join_all(workers))?;
    if *stopping.borrow() {
        // Unacked prefetched deliveries return to the queue with the channel.
        let _ = ch.close(200, "consumer stopped").await;
    }
    Ok(())
}

/// One lane: applies its deliveries one after another. Once the consumer
/// is stopping it leaves the ones not started unacked (they return to the
/// queue with the channel).
async fn lane<H: Handler>(
    ctx: &Ctx<'_, H>,
    mut rx: tokio::sync::mpsc::Receiver<Decoded>,
    stop: watch::Receiver<bool>,
) -> Result<(), OutboxError> {
    while let Some(delivery) = rx.recv().await {
        if *stop.borrow() {
            continue;
        }
        process(ctx, delivery).await?;
    }
    Ok(())
}

/// The lane of an order key: stable for the key, spread over the lanes.
fn lane_of(key: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

/// A delivery with what `decode` made of it.
type Decoded = (Delivery, Result<Received, String>);

async fn process<H: Handler>(
    ctx: &Ctx<'_, H>,
    (delivery, decoded): Decoded,
) -> Result<(), OutboxError> {
    let (spec, metrics) = (ctx.spec, ctx.metrics);
    if delivery.redelivered {
        metrics.redelivered.with_label_values(&[&spec.name]).inc();
    }
    let msg = match decoded {
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

/// MariaDB's deadlock and lock-wait-timeout errors: the transaction was
/// rolled back and may simply be run again.
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// Attempts of one delivery before a deadlock counts as its failure.
const LOCK_ATTEMPTS: u32 = 4;

async fn apply<H: Handler>(
    pool: &Pool,
    spec: &ConsumerSpec,
    handler: &H,
    msg: &Received,
) -> Result<Applied, HandlerError> {
    let mut attempt = 1;
    loop {
        match apply_once(pool, spec, handler, msg).await {
            Err(HandlerError::Db(mysql_async::Error::Server(e)))
                if (e.code == ER_LOCK_DEADLOCK || e.code == ER_LOCK_WAIT_TIMEOUT)
                    && attempt < LOCK_ATTEMPTS =>
            {
                tracing::debug!(consumer = %spec.name, message_id = %msg.message_id, code = e.code, attempt, "lock conflict; applying again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn apply_once<H: Handler>(
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
