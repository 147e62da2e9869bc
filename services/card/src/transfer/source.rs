//! The source province's side of a transfer: opening it (one local
//! transaction on the source shard) and finishing it when the target's
//! verdict comes back (the source consumer's transaction).

use mysql_async::prelude::Queryable;
use mysql_async::{Transaction, Value};

use super::depot::Depot;
use super::messages::{Finished, MovedCard, Requested, Verdict, REQUESTED};
use super::TransferStatus;
use crate::history::{self, Entry};
use crate::iccid::Iccid;
use crate::status::CardStatus;
use crate::store::{self, Card, COLUMNS};
use crate::transition::{self, Action, Door};
use haoka_core::db::insert_id;
use haoka_core::db::marks;
use haoka_core::outbox::{self, topology, HandlerError, OutboxMessage};
use haoka_core::problem::ApiError;

/// Rows per IN list.
const CHUNK: usize = 500;

/// Which cards of the source depot travel.
#[derive(Debug, Clone)]
pub enum Selection {
    Iccids(Vec<Iccid>),
    /// Any `n` in-stock cards of the depot (lowest card ids first).
    Count(usize),
}

/// A transfer just opened.
#[derive(Debug, Clone)]
pub struct Opened {
    pub transfer_id: i64,
    pub status: TransferStatus,
    pub card_count: usize,
    /// The outbox message of a cross-province transfer.
    pub message_id: Option<String>,
}

/// Opens a transfer in one transaction on the source shard. Inside one
/// province the cards move at once (status D); across provinces they go in
/// transit with the request message in the same transaction (status P).
pub async fn open(
    tx: &mut Transaction<'static>,
    staff_id: i64,
    from: &Depot,
    to: &Depot,
    selection: &Selection,
) -> Result<Opened, ApiError> {
    let cards = pick(tx, from, selection).await?;
    let local = from.province == to.province;
    let status = if local {
        TransferStatus::Done
    } else {
        TransferStatus::Pending
    };
    let transfer_id = insert_id(
        tx,
        "INSERT INTO card_transfer (province_code, target_province_code, from_depot_id, \
         to_depot_id, card_count, status, requested_by, finished_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, IF(? = ?, NULL, NOW(3)))",
        vec![
            from.province.as_str().into(),
            to.province.as_str().into(),
            from.id.into(),
            to.id.into(),
            (cards.len() as i64).into(),
            status.code().into(),
            staff_id.into(),
            status.code().into(),
            TransferStatus::Pending.code().into(),
        ],
    )
    .await?;
    let ids: Vec<i64> = cards.iter().map(|c| c.card_id).collect();
    let entry = |c: &Card, to_status: CardStatus, action: Action, detail: String| Entry {
        card_id: c.card_id,
        iccid: c.iccid.clone(),
        province: from.province.clone(),
        from: Some(c.status),
        to: to_status,
        from_depot: Some(from.id),
        to_depot: Some(to.id),
        action,
        staff_id: Some(staff_id),
        channel_id: None,
        detail: Some(detail),
    };
    let mut message_id = None;
    if local {
        for chunk in ids.chunks(CHUNK) {
            let mut params: Vec<Value> = vec![to.id.into(), to.city.as_str().into()];
            params.extend(in_depot(from, chunk));
            let sql = format!(
                "UPDATE sim_card SET depot_id = ?, city_code = ?, version = version + 1 \
                 WHERE province_code = ? AND card_id IN ({})",
                marks(chunk.len())
            );
            exact(tx, sql, params, chunk.len()).await?;
        }
        let detail = format!("transfer {transfer_id} within province {}", from.province);
        let entries: Vec<Entry> = cards
            .iter()
            .map(|c| entry(c, CardStatus::InStock, Action::TransferIn, detail.clone()))
            .collect();
        history::write(tx, &entries).await?;
    } else {
        // Out of the source depot, as the card table has it.
        let out = transition::check(CardStatus::InStock, CardStatus::InTransit, Door::Transfer)?;
        for chunk in ids.chunks(CHUNK) {
            let mut params: Vec<Value> = vec![out.to.code().into(), transfer_id.into()];
            params.extend(in_depot(from, chunk));
            let sql = format!(
                "UPDATE sim_card SET status = ?, transfer_id = ?, version = version + 1 \
                 WHERE province_code = ? AND card_id IN ({})",
                marks(chunk.len())
            );
            exact(tx, sql, params, chunk.len()).await?;
        }
        let detail = format!("transfer {transfer_id} to province {}", to.province);
        let entries: Vec<Entry> = cards
            .iter()
            .map(|c| entry(c, out.to, out.action, detail.clone()))
            .collect();
        history::write(tx, &entries).await?;
        let payload = Requested {
            transfer_id,
            source_province: from.province.clone(),
            target_province: to.province.clone(),
            from_depot_id: from.id,
            to_depot_id: to.id,
            staff_id: Some(staff_id),
            cards: cards
                .iter()
                .map(|c| MovedCard {
                    card_id: c.card_id,
                    iccid: c.iccid.clone(),
                    imsi: c.imsi.clone(),
                    card_type: c.card_type,
                    package_id: c.package_id,
                })
                .collect(),
        };
        let id = outbox::write(
            tx,
            &OutboxMessage {
                province_code: from.province.clone(),
                exchange: topology::EVENTS_EXCHANGE.into(),
                routing_key: REQUESTED.into(),
                payload: serde_json::to_value(&payload)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
        )
        .await
        .map_err(|e| ApiError::Internal(format!("outbox: {e}")))?;
        tx.exec_drop(
            "UPDATE card_transfer SET message_id = ? WHERE province_code = ? AND transfer_id = ?",
            (&id, &from.province, transfer_id),
        )
        .await?;
        message_id = Some(id);
    }
    Ok(Opened {
        transfer_id,
        status,
        card_count: cards.len(),
        message_id,
    })
}

/// `province_code, card_ids...` parameters of an UPDATE of the picked rows
/// (locked by this transaction since the pick, so they are as read; naming
/// them by primary key keeps the UPDATE from locking other rows).
fn in_depot(from: &Depot, ids: &[i64]) -> Vec<Value> {
    let mut p: Vec<Value> = vec![from.province.as_str().into()];
    p.extend(ids.iter().map(|i| Value::from(*i)));
    p
}

/// Runs a guarded UPDATE that must change exactly `n` rows.
async fn exact(
    tx: &mut Transaction<'static>,
    sql: String,
    params: Vec<Value>,
    n: usize,
) -> Result<(), ApiError> {
    tx.exec_drop(sql, params).await?;
    if tx.affected_rows() != n as u64 {
        return Err(ApiError::Conflict(
            "the cards changed while being transferred; retry".into(),
        ));
    }
    Ok(())
}

/// The cards that travel, row-locked: every listed card must be in stock in
/// the source depot (all or nothing); a count takes in-stock cards, those
/// no other transfer holds first.
async fn pick(
    tx: &mut Transaction<'static>,
    from: &Depot,
    selection: &Selection,
) -> Result<Vec<Card>, ApiError> {
    match selection {
        Selection::Count(n) => {
            // Rows other transfers hold are skipped first; if that leaves
            // too few, wait for them (they may go back to stock). The depot
            // index reads only the depot's rows: a plan walking the primary
            // key in card_id order would lock every row it passes.
            let mut rows = Vec::new();
            for skip in [" SKIP LOCKED", ""] {
                rows = tx
                    .exec(
                        format!(
                            "SELECT {COLUMNS} FROM sim_card FORCE INDEX (idx_card_depot) \
                             WHERE province_code = ? AND depot_id = ? AND status = ? \
                             ORDER BY card_id LIMIT {n} FOR UPDATE{skip}"
                        ),
                        (&from.province, from.id, CardStatus::InStock.code()),
                    )
                    .await?;
                if rows.len() == *n {
                    break;
                }
            }
            if rows.len() < *n {
                return Err(ApiError::Conflict(format!(
                    "depot {} has {} cards in stock free to transfer, {n} asked",
                    from.id,
                    rows.len()
                )));
            }
            rows.iter().map(store::from_row).collect()
        }
        Selection::Iccids(list) => {
            let names: Vec<&str> = list.iter().map(|i| i.as_str()).collect();
            let found = store::lock(tx, &from.province, &names).await?;
            let mut cards = Vec::with_capacity(names.len());
            let mut problems = Vec::new();
            for n in &names {
                match found.get(*n) {
                    None => problems.push(format!("{n}: not in province {}", from.province)),
                    Some(c) if c.depot_id != from.id => {
                        problems.push(format!("{n}: in depot {}, not {}", c.depot_id, from.id))
                    }
                    Some(c) if c.status != CardStatus::InStock => {
                        problems.push(format!("{n}: status {} is not in stock", c.status))
                    }
                    Some(c) => cards.push(c.clone()),
                }
            }
            if !problems.is_empty() {
                let more = problems.len().saturating_sub(5);
                problems.truncate(5);
                let tail = if more > 0 {
                    format!(" (and {more} more)")
                } else {
                    String::new()
                };
                return Err(ApiError::Conflict(format!(
                    "nothing transferred: {}{tail}",
                    problems.join("; ")
                )));
            }
            Ok(cards)
        }
    }
}

/// Applies the target's verdict on the source shard: completed → the
/// in-transit rows go (the card lives in the target province now; the
/// proxy leaves the ICCID index row the target re-pointed); refused → they
/// return to stock in the source depot. Either way the transfer row is
/// finished and every card gets its history row. A transfer already
/// finished is left alone (a duplicate verdict).
pub async fn finish(tx: &mut Transaction<'static>, f: &Finished) -> Result<(), HandlerError> {
    let src = &f.source_province;
    let row: Option<(String, i64)> = tx
        .exec_first(
            "SELECT status, from_depot_id FROM card_transfer \
             WHERE province_code = ? AND transfer_id = ? FOR UPDATE",
            (src, f.transfer_id),
        )
        .await?;
    let Some((status, from_depot)) = row else {
        return Err(HandlerError::Rejected(format!(
            "no transfer {} in province {src}",
            f.transfer_id
        )));
    };
    if TransferStatus::from_code(&status) != Some(TransferStatus::Pending) {
        return Ok(());
    }
    // The rows are named by primary key (the verdict lists the cards), so
    // only they are locked, not every in-transit row of the province.
    let (cond, params) = in_transit(src, f.transfer_id, &f.card_ids);
    let cards: Vec<(i64, String)> = tx
        .exec(
            format!("SELECT card_id, iccid FROM sim_card WHERE {cond} FOR UPDATE"),
            params.clone(),
        )
        .await?;
    let (done, to_depot, detail) = match &f.verdict {
        Verdict::Completed => {
            tx.exec_drop(format!("DELETE FROM sim_card WHERE {cond}"), params)
                .await?;
            (
                TransferStatus::Done,
                f.to_depot_id,
                format!(
                    "transfer {}: taken in by province {} depot {}",
                    f.transfer_id, f.target_province, f.to_depot_id
                ),
            )
        }
        Verdict::Refused { reason } => {
            let back_in =
                transition::check(CardStatus::InTransit, CardStatus::InStock, Door::Transfer)
                    .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let mut back: Vec<Value> = vec![back_in.to.code().into()];
            back.extend(params);
            tx.exec_drop(
                format!(
                    "UPDATE sim_card SET status = ?, transfer_id = NULL, \
                     version = version + 1 WHERE {cond}"
                ),
                back,
            )
            .await?;
            let mut detail = format!(
                "transfer {} refused by province {}: {reason}",
                f.transfer_id, f.target_province
            );
            detail.truncate(500);
            (TransferStatus::Refused, from_depot, detail)
        }
    };
    let entries: Vec<Entry> = cards
        .into_iter()
        .map(|(card_id, iccid)| Entry {
            card_id,
            iccid,
            province: src.clone(),
            from: Some(CardStatus::InTransit),
            to: CardStatus::InStock,
            from_depot: Some(from_depot),
            to_depot: Some(to_depot),
            action: Action::TransferIn,
            staff_id: None,
            channel_id: None,
            detail: Some(detail.clone()),
        })
        .collect();
    history::write(tx, &entries)
        .await
        .map_err(|e| HandlerError::Rejected(format!("history: {e}")))?;
    tx.exec_drop(
        "UPDATE card_transfer SET status = ?, finished_at = NOW(3) \
         WHERE province_code = ? AND transfer_id = ? AND status = ?",
        (
            done.code(),
            src,
            f.transfer_id,
            TransferStatus::Pending.code(),
        ),
    )
    .await?;
    Ok(())
}

/// The WHERE clause (and its parameters) of a transfer's in-transit rows in
/// `province`: by primary key when the card ids are known.
pub fn in_transit(province: &str, transfer_id: i64, card_ids: &[i64]) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = vec![
        province.into(),
        transfer_id.into(),
        CardStatus::InTransit.code().into(),
    ];
    let mut cond = "province_code = ? AND transfer_id = ? AND status = ?".to_string();
    if !card_ids.is_empty() {
        cond.push_str(&format!(" AND card_id IN ({})", marks(card_ids.len())));
        params.extend(card_ids.iter().map(|i| Value::from(*i)));
    }
    (cond, params)
}
