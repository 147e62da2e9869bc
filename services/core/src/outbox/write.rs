//! Writing a message inside the caller's transaction.

use mysql_async::prelude::Queryable;
use mysql_async::Transaction;

use super::OutboxError;

/// A message to publish if and only if the surrounding transaction commits.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Shard key: the province whose business rows this transaction changes,
    /// so the outbox row is written on the same shard (a local write).
    pub province_code: String,
    pub exchange: String,
    pub routing_key: String,
    pub payload: serde_json::Value,
}

/// Inserts the outbox row in `tx` and returns its message id (a UUID, also the
/// AMQP message id consumers deduplicate on).
pub async fn write(tx: &mut Transaction<'_>, msg: &OutboxMessage) -> Result<String, OutboxError> {
    validate(msg)?;
    let message_id = uuid::Uuid::new_v4().to_string();
    tx.exec_drop(
        "INSERT INTO outbox (message_id, province_code, exchange_name, routing_key, payload) \
         VALUES (?, ?, ?, ?, ?)",
        (
            &message_id,
            &msg.province_code,
            &msg.exchange,
            &msg.routing_key,
            msg.payload.to_string(),
        ),
    )
    .await?;
    Ok(message_id)
}

fn validate(msg: &OutboxMessage) -> Result<(), OutboxError> {
    let p = &msg.province_code;
    if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OutboxError::Invalid(format!(
            "province_code must be 2 digits, got {p:?}"
        )));
    }
    if msg.exchange.is_empty() || msg.exchange.len() > 64 {
        return Err(OutboxError::Invalid(
            "exchange must be 1..=64 characters".into(),
        ));
    }
    if msg.routing_key.len() > 128 {
        return Err(OutboxError::Invalid(
            "routing_key must be at most 128 characters".into(),
        ));
    }
    Ok(())
}
