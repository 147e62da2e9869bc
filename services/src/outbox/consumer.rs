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

/// A running consumer; dropping it stops consuming (unacked deliveries go
/// back to the queue).
pub struct ConsumerHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Declares the consumer's queues and consumes until dropped, re-subscribing
/// on a fresh channel whenever the broker connection comes back.
pub async fn start<H: Handler>(
    pool: Pool,
    mq: Mq,
    spec: ConsumerSpec,
    handler: H,
    metrics: OutboxMetrics,
) -> Result<ConsumerHandle, OutboxError> {
    let ch = mq.channel().await?;
    declare(&ch, &spec).await?;
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        let mut first = Some(ch);
        loop {
            let ch = match first.take() {
                Some(ch) => Ok(ch),
                None => mq.channel().await.map_err(OutboxError::from),
            };
            let result = match ch {
                Ok(ch) => consume(&pool, ch, &spec, handler.as_ref(), &metrics).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, consumer = %spec.name, "consumer stopped; resubscribing");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    Ok(ConsumerHandle { task })
}

async fn consume<H: Handler>(
    pool: &Pool,
    ch: lapin::Channel,
    spec: &ConsumerSpec,
    handler: &H,
    metrics: &OutboxMetrics,
) -> Result<(), OutboxError> {
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
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        process(pool, delivery, spec, handler, metrics).await?;
    }
    Ok(())
}

async fn process<H: Handler>(
    pool: &Pool,
    delivery: Delivery,
    spec: &ConsumerSpec,
    handler: &H,
    metrics: &OutboxMetrics,
) -> Result<(), OutboxError> {
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
    match apply(pool, spec, handler, &msg).await {
        Ok(Applied::Done) => {
            delivery.ack(BasicAckOptions::default()).await?;
            metrics
                .consumed
                .with_label_values(&[&spec.name, "handled"])
                .inc();
        }
        Ok(Applied::Duplicate) => {
            delivery.ack(BasicAckOptions::default()).await?;
            metrics
                .consumed
                .with_label_values(&[&spec.name, "duplicate"])
                .inc();
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
