//! Exchanges and queues, declared idempotently by whoever needs them first.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// The topic exchange every center's events go to.
pub const EVENTS_EXCHANGE: &str = "haoka.events";

pub fn dead_exchange(queue: &str) -> String {
    format!("{queue}.dlx")
}

pub fn dead_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

pub async fn declare_topic(ch: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    ch.exchange_declare(
        exchange,
        ExchangeKind::Topic,
        durable_exchange(),
        FieldTable::default(),
    )
    .await
}

/// A consumer queue: a quorum queue (it counts deliveries, so a poison message
/// is dead-lettered after `delivery_limit` attempts) bound to `exchange` with
/// `binding_key`, plus its dead-letter exchange and queue.
pub async fn declare_consumer_queue(
    ch: &Channel,
    exchange: &str,
    queue: &str,
    binding_key: &str,
    delivery_limit: u32,
) -> Result<(), lapin::Error> {
    declare_topic(ch, exchange).await?;
    let dlx = dead_exchange(queue);
    let dlq = dead_queue(queue);
    ch.exchange_declare(
        &dlx,
        ExchangeKind::Fanout,
        durable_exchange(),
        FieldTable::default(),
    )
    .await?;
    declare_bound(ch, &dlq, FieldTable::default(), &dlx, "").await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(LongString::from(dlx.as_str())),
    );
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongInt(delivery_limit as i32),
    );
    declare_bound(ch, queue, args, exchange, binding_key).await
}

/// A bounded durable feed of every event under `binding_key`, kept for a
/// downstream reader (the report center's statistics, HQ sync) that has not
/// attached yet: it makes the events routable, so the relay's mandatory
/// publish succeeds, and `max_len` (oldest dropped first) keeps an unread
/// feed from growing without end.
pub async fn declare_feed_queue(
    ch: &Channel,
    exchange: &str,
    queue: &str,
    binding_key: &str,
    max_len: u32,
) -> Result<(), lapin::Error> {
    declare_topic(ch, exchange).await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-max-length"),
        AMQPValue::LongInt(max_len as i32),
    );
    args.insert(
        ShortString::from("x-overflow"),
        AMQPValue::LongString(LongString::from("drop-head")),
    );
    declare_bound(ch, queue, args, exchange, binding_key).await
}

/// A durable queue with `args`, bound to `exchange` with `key`.
async fn declare_bound(
    ch: &Channel,
    queue: &str,
    args: FieldTable,
    exchange: &str,
    key: &str,
) -> Result<(), lapin::Error> {
    ch.queue_declare(queue, durable_queue(), args).await?;
    ch.queue_bind(
        queue,
        exchange,
        key,
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}
