//! The messages of a cross-province transfer and the queues they go to.
//! Routing keys are the message types; payloads are JSON.

use serde::{Deserialize, Serialize};

use crate::status::CardType;
use haoka_core::outbox::{topology, ConsumerSpec};

/// Source → target: the cards are in transit, please take them in.
pub const REQUESTED: &str = "card.transfer.requested";
/// Target → source: the cards are in the target depot.
pub const COMPLETED: &str = "card.transfer.completed";
/// Target → source: the target province refused them (with a reason).
pub const REFUSED: &str = "card.transfer.refused";

/// Failed deliveries before a message goes to its dead-letter queue.
const DELIVERY_LIMIT: u32 = 5;

/// A card as it travels: what the target needs to re-create its row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MovedCard {
    pub card_id: i64,
    pub iccid: String,
    pub imsi: Option<String>,
    pub card_type: CardType,
    pub package_id: Option<i64>,
}

/// `card.transfer.requested`, written by the source province's transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Requested {
    pub transfer_id: i64,
    pub source_province: String,
    pub target_province: String,
    pub from_depot_id: i64,
    pub to_depot_id: i64,
    pub staff_id: Option<i64>,
    pub cards: Vec<MovedCard>,
}

/// What the target decided.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    Completed,
    Refused { reason: String },
}

impl Verdict {
    pub fn routing_key(&self) -> &'static str {
        match self {
            Verdict::Completed => COMPLETED,
            Verdict::Refused { .. } => REFUSED,
        }
    }
}

/// `card.transfer.completed` / `card.transfer.refused`, written by the
/// target province's transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finished {
    pub transfer_id: i64,
    pub source_province: String,
    pub target_province: String,
    pub to_depot_id: i64,
    /// The cards of the transfer (the source finds its rows by primary key).
    #[serde(default)]
    pub card_ids: Vec<i64>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The queue and consumer of the target side.
pub fn target_spec() -> ConsumerSpec {
    spec("card-transfer-in", REQUESTED)
}

/// The queues and consumers of the source side, one per outcome.
pub fn source_specs() -> [ConsumerSpec; 2] {
    [
        spec("card-transfer-completed", COMPLETED),
        spec("card-transfer-refused", REFUSED),
    ]
}

fn spec(name: &str, key: &str) -> ConsumerSpec {
    ConsumerSpec {
        name: name.into(),
        exchange: topology::EVENTS_EXCHANGE.into(),
        queue: format!("haoka.{key}"),
        binding_key: key.into(),
        prefetch: 32,
        // Transfers are independent of each other (one message per transfer
        // and queue); their cards' row locks order what overlaps.
        concurrency: 8,
        delivery_limit: DELIVERY_LIMIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_round_trips_with_its_verdict() {
        let f = Finished {
            transfer_id: 7,
            source_province: "11".into(),
            target_province: "51".into(),
            to_depot_id: 9,
            card_ids: vec![3, 4],
            verdict: Verdict::Refused {
                reason: "depot 9 is disabled".into(),
            },
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["outcome"], "refused");
        assert_eq!(v["reason"], "depot 9 is disabled");
        assert_eq!(serde_json::from_value::<Finished>(v).unwrap(), f);
        assert_eq!(f.verdict.routing_key(), REFUSED);
        assert_eq!(Verdict::Completed.routing_key(), COMPLETED);
        let queues: Vec<String> = source_specs().iter().map(|s| s.queue.clone()).collect();
        assert!(!queues.contains(&target_spec().queue));
    }
}
