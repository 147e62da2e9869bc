//! The operator's view of a consumer's dead-letter queue: list what is there
//! (without removing it) and replay one message into the consumer's queue.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::AMQPValue;

use super::{topology, OutboxError};
use crate::mq::Mq;

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadMessage {
    pub message_id: Option<String>,
    pub routing_key: String,
    pub payload: String,
    /// Why the broker dead-lettered it (`x-death` reason: rejected, expired,
    /// delivery_limit...).
    pub reason: Option<String>,
}

/// Up to `max` messages of `queue`'s dead-letter queue, oldest first. They are
/// fetched unacked and go back when the channel closes, so listing removes
/// nothing.
pub async fn list_dead(mq: &Mq, queue: &str, max: usize) -> Result<Vec<DeadMessage>, OutboxError> {
    let ch = mq.channel().await?;
    let dlq = topology::dead_queue(queue);
    let mut out = Vec::new();
    while out.len() < max {
        let Some(msg) = ch.basic_get(&dlq, BasicGetOptions::default()).await? else {
            break;
        };
        out.push(describe(&msg.delivery));
    }
    ch.close(200, "listed").await?;
    Ok(out)
}

/// Moves the dead message `message_id` back into `queue` (published straight
/// to that queue, confirmed, then removed from the dead-letter queue). Returns
/// false if no such message is there.
pub async fn replay_dead(mq: &Mq, queue: &str, message_id: &str) -> Result<bool, OutboxError> {
    let ch = mq.channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let dlq = topology::dead_queue(queue);
    let mut found = false;
    while let Some(msg) = ch.basic_get(&dlq, BasicGetOptions::default()).await? {
        let d = &msg.delivery;
        if d.properties.message_id().as_ref().map(|s| s.as_str()) != Some(message_id) {
            continue; // stays unacked; returns to the queue when the channel closes
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
                d.properties.clone(),
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
        found = true;
        break;
    }
    ch.close(200, "replayed").await?;
    Ok(found)
}

fn describe(d: &lapin::message::Delivery) -> DeadMessage {
    DeadMessage {
        message_id: d
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str().to_string()),
        routing_key: d.routing_key.as_str().to_string(),
        payload: String::from_utf8_lossy(&d.data).into_owned(),
        reason: death_reason(d),
    }
}

fn death_reason(d: &lapin::message::Delivery) -> Option<String> {
    let headers = d.properties.headers().as_ref()?;
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    match first.inner().get("reason")? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    }
}
