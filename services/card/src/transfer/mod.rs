//! 成卡调拨: card transfers between depots (DESIGN.md §4, §6).
//!
//! Inside a province a transfer is one local transaction (the cards change
//! depot). Across provinces it is a half transaction: the source shard's
//! transaction puts the cards in transit (02) and writes the request to its
//! outbox; the relay publishes it; the target consumer, in one transaction
//! on the target shard, creates the cards there (same card_id; the proxy
//! re-points their ICCID index rows) or refuses, and writes the verdict to
//! its outbox; the source consumer then removes the in-transit rows (or
//! returns them to stock) and finishes the transfer row. Every consumer is
//! idempotent through `processed_message`; the relay's check-back re-sends
//! what a crash left pending, so each card ends in exactly one depot.
//!
//! `api` is the HTTP surface, `source`/`target` the two provinces'
//! transactions, `messages` the payloads and queues, `depot` the depot
//! checks, `colocation` when two provinces share a shard.

pub mod api;
pub mod colocation;
pub mod depot;
pub mod messages;
pub mod source;
pub mod target;

use std::sync::Arc;

use mysql_async::Transaction;
use serde::{Deserialize, Serialize};

use self::colocation::Colocation;
use self::messages::{Finished, Requested};
use crate::CardState;
use haoka_core::outbox::{Handler, HandlerError, HandlerFuture, OutboxError, Received};

pub use api::router;

/// Where a transfer stands (`card_transfer.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStatus {
    /// P: the cards are in transit, the target has not answered yet.
    Pending,
    /// D: the cards are in the target depot.
    Done,
    /// R: the target refused; the cards are back in the source depot.
    Refused,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 3] = [
        TransferStatus::Pending,
        TransferStatus::Done,
        TransferStatus::Refused,
    ];

    pub fn code(self) -> &'static str {
        match self {
            TransferStatus::Pending => "P",
            TransferStatus::Done => "D",
            TransferStatus::Refused => "R",
        }
    }

    pub fn from_code(code: &str) -> Option<TransferStatus> {
        match code {
            "P" => Some(TransferStatus::Pending),
            "D" => Some(TransferStatus::Done),
            "R" => Some(TransferStatus::Refused),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TransferStatus::Pending => "in_transit",
            TransferStatus::Done => "done",
            TransferStatus::Refused => "refused",
        }
    }

    /// The status by its JSON name.
    pub fn from_name(name: &str) -> Option<TransferStatus> {
        TransferStatus::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl Serialize for TransferStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TransferStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TransferStatus::from_name(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown transfer status {s:?}")))
    }
}

/// Registers the transfer consumers with the process's outbox runtime.
pub async fn start(state: &CardState) -> Result<(), OutboxError> {
    state
        .outbox
        .register(
            messages::target_spec(),
            TargetConsumer {
                colocation: Arc::new(Colocation::default()),
            },
        )
        .await?;
    for spec in messages::source_specs() {
        state.outbox.register(spec, SourceConsumer).await?;
    }
    Ok(())
}

/// Publish a cross-province request now rather than at the relay's next poll.
fn after_commit(state: &CardState, opened: &source::Opened) {
    if opened.message_id.is_some() {
        state.outbox.wake();
    }
}

fn payload<T: serde::de::DeserializeOwned>(msg: &Received) -> Result<T, HandlerError> {
    serde_json::from_value(msg.payload.clone())
        .map_err(|e| HandlerError::Rejected(format!("{} payload: {e}", msg.routing_key)))
}

/// A payload field naming a province, for `processed_message`'s shard.
fn province_field(msg: &Received, field: &str) -> String {
    msg.payload[field]
        .as_str()
        .unwrap_or(&msg.province_code)
        .to_string()
}

/// `card.transfer.requested` on the target province's shard.
pub struct TargetConsumer {
    pub colocation: Arc<Colocation>,
}

impl Handler for TargetConsumer {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static>,
        msg: &'a Received,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            let req: Requested = payload(msg)?;
            target::take_in(tx, &req, &self.colocation).await?;
            Ok(())
        })
    }

    fn target_province(&self, msg: &Received) -> String {
        province_field(msg, "target_province")
    }

    fn order_key(&self, msg: &Received) -> Option<String> {
        transfer_key(msg)
    }
}

/// `card.transfer.completed` / `card.transfer.refused` on the source
/// province's shard.
pub struct SourceConsumer;

impl Handler for SourceConsumer {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static>,
        msg: &'a Received,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            let f: Finished = payload(msg)?;
            source::finish(tx, &f).await
        })
    }

    fn target_province(&self, msg: &Received) -> String {
        province_field(msg, "source_province")
    }

    fn order_key(&self, msg: &Received) -> Option<String> {
        transfer_key(msg)
    }
}

/// A transfer's messages are applied in order, one at a time.
fn transfer_key(msg: &Received) -> Option<String> {
    msg.payload["transfer_id"].as_i64().map(|id| id.to_string())
}
