//! Number-center events on the shared outbox (DESIGN.md §4): written in the
//! transaction that makes the change, so an event exists if and only if the
//! change committed. They go to the `haoka.events` topic exchange under
//! `number.*` routing keys.

use mysql_async::Transaction;
use serde::{Deserialize, Serialize};

use super::status::NumberStatus;
use haoka_core::outbox::{self, topology::EVENTS_EXCHANGE, OutboxError, OutboxMessage};
use haoka_core::problem::ApiError;

/// A hold turned into a sale (实占 → 10).
pub const SOLD: &str = "number.sold";
/// Staff changed a number's status through the transition table.
pub const STATUS_CHANGED: &str = "number.status_changed";
/// Numbers were taken into stock (号码入库): one event per province and
/// write of up to 500 numbers, listing them.
pub const TAKEN_IN: &str = "number.taken_in";

/// The durable feed every `number.*` event lands in (bounded) until the
/// report center consumes it.
pub const FEED_QUEUE: &str = "number.events.feed";
const FEED_MAX_LEN: u32 = 100_000;

/// Declares [`FEED_QUEUE`] so number events are routable from the start.
pub async fn declare_feed(mq: &haoka_core::mq::Mq) -> Result<(), OutboxError> {
    let ch = mq.channel().await?;
    outbox::topology::declare_feed_queue(
        &ch,
        EVENTS_EXCHANGE,
        FEED_QUEUE,
        "number.#",
        FEED_MAX_LEN,
    )
    .await?;
    Ok(())
}

/// The payload of [`SOLD`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberSold {
    pub phone_no: String,
    pub province_code: String,
    pub city_code: String,
    pub pool_id: Option<i64>,
    pub hold_key: String,
    /// The selling channel (none for a staff sale).
    pub channel_id: Option<i64>,
    pub staff_id: Option<i64>,
}

/// The payload of [`STATUS_CHANGED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub phone_no: String,
    pub province_code: String,
    pub from: NumberStatus,
    pub to: NumberStatus,
    /// The transition's verb (`shelve`, `cancel`, ...).
    pub action: String,
    pub staff_id: Option<i64>,
    pub reason: Option<String>,
}

/// The payload of [`TAKEN_IN`]: every number is 01 idle in `depot_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakenIn {
    pub province_code: String,
    pub depot_id: i64,
    pub pool_id: Option<i64>,
    pub phone_nos: Vec<String>,
    pub channel_id: Option<i64>,
    pub staff_id: Option<i64>,
}

/// Writes `payload` as an event on the province's shard, inside `tx`.
pub async fn write<T: Serialize>(
    tx: &mut Transaction<'_>,
    province_code: &str,
    routing_key: &str,
    payload: &T,
) -> Result<(), ApiError> {
    let payload = serde_json::to_value(payload)
        .map_err(|e| ApiError::Internal(format!("event {routing_key}: {e}")))?;
    let msg = OutboxMessage {
        province_code: province_code.to_string(),
        exchange: EVENTS_EXCHANGE.to_string(),
        routing_key: routing_key.to_string(),
        payload,
    };
    outbox::write(tx, &msg).await.map(drop).map_err(api_error)
}

fn api_error(e: OutboxError) -> ApiError {
    match e {
        OutboxError::Db(e) => ApiError::from(e),
        other => ApiError::Internal(other.to_string()),
    }
}
