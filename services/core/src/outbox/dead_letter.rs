//! The operator's view of a consumer's dead-letter queue: list what is there
//! (without removing it) and replay one message into the consumer's queue.

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde_json::{Map, Value};

use super::{topology, OutboxError, PROVINCE_HEADER};
use crate::mq::Mq;

/// Payload bytes shown in a listing.
pub const PREVIEW_BYTES: usize = 512;
/// Most messages one listing or replay looks at (they are all held unacked
/// on one channel meanwhile).
const SCAN_MAX: usize = 10_000;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeadMessage {
    pub message_id: Option<String>,
    pub routing_key: String,
    /// The province whose shard wrote the message (`x-province`).
    pub province_code: Option<String>,
    /// Why the broker dead-lettered it, from the latest `x-death` entry
    /// (`rejected`, `delivery_limit`, `expired`...).
    pub reason: Option<String>,
    /// How many times it was dead-lettered from that queue for that reason.
    pub death_count: Option<i64>,
    /// Every AMQP header (including `x-death`), as JSON.
    #[schema(value_type = Object)]
    pub headers: Map<String, Value>,
    /// The first bytes of the body (lossy UTF-8).
    pub payload_preview: String,
    pub payload_bytes: usize,
}

/// What a replay found.
#[derive(Debug)]
pub enum Replay {
    /// Published into the consumer's queue and removed from the dead ones.
    Replayed(DeadMessage),
    /// There, but `allow` refused it; left where it was.
    Refused(DeadMessage),
    NotFound,
}

/// Up to `max` messages of `queue`'s dead-letter queue that `keep` accepts,
/// oldest first. They are fetched unacked and go back when the channel
/// closes, so listing removes nothing.
pub async fn list_dead(
    mq: &Mq,
    queue: &str,
    max: usize,
    keep: impl Fn(&DeadMessage) -> bool,
) -> Result<Vec<DeadMessage>, OutboxError> {
    let ch = mq.channel().await?;
    let dlq = topology::dead_queue(queue);
    let mut out = Vec::new();
    let mut scanned = 0;
    while out.len() < max && scanned < SCAN_MAX {
        let Some(msg) = ch.basic_get(&dlq, BasicGetOptions::default()).await? else {
            break;
        };
        scanned += 1;
        let dead = describe(&msg.delivery);
        if keep(&dead) {
            out.push(dead);
        }
    }
    ch.close(200, "listed").await?;
    Ok(out)
}

/// Moves the dead message `message_id` back into `queue` (published straight
/// to that queue, confirmed, then removed from the dead-letter queue) if
/// `allow` accepts it.
pub async fn replay_dead(
    mq: &Mq,
    queue: &str,
    message_id: &str,
    allow: impl Fn(&DeadMessage) -> bool,
) -> Result<Replay, OutboxError> {
    let ch = mq.channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let dlq = topology::dead_queue(queue);
    let mut outcome = Replay::NotFound;
    let mut scanned = 0;
    while scanned < SCAN_MAX {
        let Some(msg) = ch.basic_get(&dlq, BasicGetOptions::default()).await? else {
            break;
        };
        scanned += 1;
        let d = &msg.delivery;
        if d.properties.message_id().as_ref().map(|s| s.as_str()) != Some(message_id) {
            continue; // stays unacked; returns to the queue when the channel closes
        }
        let dead = describe(d);
        if !allow(&dead) {
            outcome = Replay::Refused(dead);
            break;
        }
        let confirm = ch
            .basic_publish(
                "",
                queue,
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &d.data,
                replay_properties(d),
            )
            .await?
            .await?;
        if !matches!(confirm, Confirmation::Ack(None)) {
            ch.close(200, "replay failed").await?;
            return Err(OutboxError::NotConfirmed {
                message_id: message_id.to_string(),
                reason: format!("replay into {queue} not confirmed: {confirm:?}"),
            });
        }
        d.ack(BasicAckOptions::default()).await?;
        outcome = Replay::Replayed(dead);
        break;
    }
    ch.close(200, "replay done").await?;
    Ok(outcome)
}

/// The original properties without the old delivery count, so the replayed
/// copy starts with a fresh one (`x-death` stays as its history).
fn replay_properties(d: &Delivery) -> lapin::BasicProperties {
    let Some(headers) = d.properties.headers().as_ref() else {
        return d.properties.clone();
    };
    let mut kept = FieldTable::default();
    for (k, v) in headers.inner() {
        if k.as_str() != "x-delivery-count" {
            kept.insert(ShortString::from(k.as_str()), v.clone());
        }
    }
    d.properties.clone().with_headers(kept)
}

fn describe(d: &Delivery) -> DeadMessage {
    let headers: Map<String, Value> = d
        .properties
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), amqp_json(v)))
                .collect()
        })
        .unwrap_or_default();
    let death = headers
        .get("x-death")
        .and_then(|v| v.as_array())
        .and_then(|a| a.first());
    let preview_len = d.data.len().min(PREVIEW_BYTES);
    DeadMessage {
        message_id: d
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str().to_string()),
        routing_key: d.routing_key.as_str().to_string(),
        province_code: headers
            .get(PROVINCE_HEADER)
            .and_then(|v| v.as_str())
            .map(str::to_string),
        reason: death
            .and_then(|x| x.get("reason"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        death_count: death.and_then(|x| x.get("count")).and_then(|v| v.as_i64()),
        payload_preview: String::from_utf8_lossy(&d.data[..preview_len]).into_owned(),
        payload_bytes: d.data.len(),
        headers,
    }
}

/// An AMQP field value as JSON (byte arrays as hex, decimals as text).
fn amqp_json(v: &AMQPValue) -> Value {
    use AMQPValue::*;
    match v {
        Boolean(b) => Value::from(*b),
        ShortShortInt(n) => Value::from(*n),
        ShortShortUInt(n) => Value::from(*n),
        ShortInt(n) => Value::from(*n),
        ShortUInt(n) => Value::from(*n),
        LongInt(n) => Value::from(*n),
        LongUInt(n) => Value::from(*n),
        LongLongInt(n) => Value::from(*n),
        Float(f) => Value::from(*f),
        Double(f) => Value::from(*f),
        DecimalValue(d) => Value::from(format!("{}e-{}", d.value, d.scale)),
        ShortString(s) => Value::from(s.as_str()),
        LongString(s) => Value::from(s.to_string()),
        FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_json).collect()),
        Timestamp(t) => Value::from(*t),
        FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), amqp_json(v)))
                .collect(),
        ),
        ByteArray(b) => Value::from(hex::encode(b.as_slice())),
        Void => Value::Null,
    }
}
