//! The target province's side: the consumer of `card.transfer.requested`.
//! In one transaction on the target shard (with the framework's
//! processed-message row) it checks the target depot, creates the cards
//! there in stock, writes their history and the verdict message back to the
//! source; a refusal changes no card.

use mysql_async::prelude::Queryable;
use mysql_async::Transaction;

use super::colocation::Colocation;
use super::depot::{self, Depot};
use super::messages::{Finished, Requested, Verdict};
use crate::history::{self, Entry};
use crate::status::CardStatus;
use crate::transition::Action;
use haoka_core::outbox::{self, topology, HandlerError, OutboxMessage};

/// Takes the cards in (or refuses them) and writes the verdict message.
pub async fn take_in(
    tx: &mut Transaction<'static>,
    req: &Requested,
    colocation: &Colocation,
) -> Result<Verdict, HandlerError> {
    if req.cards.is_empty() || req.source_province == req.target_province {
        return Err(HandlerError::Rejected(format!(
            "transfer {}: no cards, or not across provinces",
            req.transfer_id
        )));
    }
    let verdict = match target_depot(tx, req).await? {
        Err(reason) => Verdict::Refused { reason },
        Ok(d) => {
            put(tx, req, &d, colocation).await?;
            Verdict::Completed
        }
    };
    let finished = Finished {
        transfer_id: req.transfer_id,
        source_province: req.source_province.clone(),
        target_province: req.target_province.clone(),
        to_depot_id: req.to_depot_id,
        card_ids: req.cards.iter().map(|c| c.card_id).collect(),
        verdict: verdict.clone(),
    };
    let payload =
        serde_json::to_value(&finished).map_err(|e| HandlerError::Rejected(e.to_string()))?;
    outbox::write(
        tx,
        &OutboxMessage {
            province_code: req.target_province.clone(),
            exchange: topology::EVENTS_EXCHANGE.into(),
            routing_key: verdict.routing_key().into(),
            payload,
        },
    )
    .await
    .map_err(|e| HandlerError::Rejected(format!("outbox: {e}")))?;
    Ok(verdict)
}

/// The target depot, or why it cannot take the cards.
async fn target_depot(
    tx: &mut Transaction<'static>,
    req: &Requested,
) -> Result<Result<Depot, String>, HandlerError> {
    let Some(d) = depot::find(tx, req.to_depot_id).await? else {
        return Ok(Err(format!("depot {} does not exist", req.to_depot_id)));
    };
    if d.province != req.target_province {
        return Ok(Err(format!(
            "depot {} is in province {}, not {}",
            d.id, d.province, req.target_province
        )));
    }
    Ok(match d.refuses_cards() {
        Some(why) => Err(why),
        None => Ok(d),
    })
}

async fn put(
    tx: &mut Transaction<'static>,
    req: &Requested,
    to: &Depot,
    colocation: &Colocation,
) -> Result<(), HandlerError> {
    let same_shard = colocation
        .same_shard(tx, &req.source_province, &req.target_province)
        .await
        .map_err(|e| HandlerError::Rejected(e.to_string()))?;
    if same_shard {
        // One physical table holds both provinces: the target row would
        // collide with the source row, so it goes here (same local
        // transaction); the source finds nothing left to remove.
        let ids: Vec<i64> = req.cards.iter().map(|c| c.card_id).collect();
        let (cond, params) = super::source::in_transit(&req.source_province, req.transfer_id, &ids);
        tx.exec_drop(format!("DELETE FROM sim_card WHERE {cond}"), params)
            .await?;
        if tx.affected_rows() != req.cards.len() as u64 {
            return Err(HandlerError::Rejected(format!(
                "transfer {}: {} of {} cards in transit in province {}",
                req.transfer_id,
                tx.affected_rows(),
                req.cards.len(),
                req.source_province
            )));
        }
    }
    // One row per statement: the proxy re-points the ICCID index row of a
    // card whose source row still exists (same card_id) only for a
    // single-row INSERT.
    for c in &req.cards {
        tx.exec_drop(
            "INSERT INTO sim_card (card_id, iccid, imsi, province_code, city_code, depot_id, \
             card_type, status, package_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                c.card_id,
                &c.iccid,
                &c.imsi,
                &req.target_province,
                &to.city,
                to.id,
                c.card_type.db(),
                CardStatus::InStock.code(),
                c.package_id,
            ),
        )
        .await?;
    }
    let detail = format!(
        "transfer {} from province {} depot {}",
        req.transfer_id, req.source_province, req.from_depot_id
    );
    let entries: Vec<Entry> = req
        .cards
        .iter()
        .map(|c| Entry {
            card_id: c.card_id,
            iccid: c.iccid.clone(),
            province: req.target_province.clone(),
            from: Some(CardStatus::InTransit),
            to: CardStatus::InStock,
            from_depot: Some(req.from_depot_id),
            to_depot: Some(req.to_depot_id),
            action: Action::TransferIn,
            staff_id: req.staff_id,
            channel_id: None,
            detail: Some(detail.clone()),
        })
        .collect();
    history::write(tx, &entries)
        .await
        .map_err(|e| HandlerError::Rejected(format!("history: {e}")))?;
    Ok(())
}
