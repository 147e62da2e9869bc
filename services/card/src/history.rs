//! 卡历史: one row per change of a card (status, depot, pairing, package),
//! written on the caller's transaction so it commits with the change. Public
//! for every writer of cards (intake, status, pairing, occupation, transfers).

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use super::status::CardStatus;
use super::transition::Action;
use haoka_core::db::col;
use haoka_core::problem::ApiError;

/// Rows per multi-row INSERT.
const CHUNK: usize = 500;

/// One history row to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub card_id: i64,
    pub iccid: String,
    pub province: String,
    pub from: Option<CardStatus>,
    pub to: CardStatus,
    pub from_depot: Option<i64>,
    pub to_depot: Option<i64>,
    pub action: Action,
    pub staff_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub detail: Option<String>,
}

/// Writes the rows on `c` (the change's own transaction). Rows of one call
/// should share a province so the transaction stays on one shard.
pub async fn write<Q: Queryable>(c: &mut Q, entries: &[Entry]) -> Result<(), ApiError> {
    for chunk in entries.chunks(CHUNK) {
        let marks = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 11);
        for e in chunk {
            params.extend([
                Value::from(e.card_id),
                Value::from(e.iccid.as_str()),
                Value::from(e.province.as_str()),
                Value::from(e.from.map(|s| s.code())),
                Value::from(e.to.code()),
                Value::from(e.from_depot),
                Value::from(e.to_depot),
                Value::from(e.action.name()),
                Value::from(e.staff_id),
                Value::from(e.channel_id),
                Value::from(e.detail.as_deref()),
            ]);
        }
        c.exec_drop(
            format!(
                "INSERT INTO card_history (card_id, iccid, province_code, from_status, to_status, \
                 from_depot_id, to_depot_id, action, staff_id, channel_id, detail) VALUES {marks}"
            ),
            params,
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CardHistoryView)]
pub struct HistoryView {
    pub history_id: i64,
    pub card_id: i64,
    pub iccid: String,
    pub province_code: String,
    pub from_status: Option<CardStatus>,
    pub to_status: CardStatus,
    pub from_depot_id: Option<i64>,
    pub to_depot_id: Option<i64>,
    pub action: String,
    pub staff_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub detail: Option<String>,
    pub created_at: haoka_core::time::Timestamp,
}

/// Every history row of a card, oldest first. Not narrowed to the card's
/// current province: a card moved across provinces keeps its earlier rows
/// on the source shard, and they belong to its history too.
pub async fn of_card<Q: Queryable>(c: &mut Q, iccid: &str) -> Result<Vec<HistoryView>, ApiError> {
    let rows: Vec<mysql_async::Row> = c
        .exec(
            concat!(
                "SELECT history_id, card_id, iccid, province_code, from_status, to_status, \
                 from_depot_id, to_depot_id, action, staff_id, channel_id, detail, ",
                haoka_core::ts_col!("created_at"),
                " FROM card_history WHERE iccid = ? ORDER BY created_at, history_id"
            ),
            (iccid,),
        )
        .await?;
    rows.iter()
        .map(|r| {
            let to: String = col(r, 5);
            Ok(HistoryView {
                history_id: col(r, 0),
                card_id: col(r, 1),
                iccid: col(r, 2),
                province_code: col(r, 3),
                from_status: CardStatus::from_code(&col::<String>(r, 4)),
                to_status: CardStatus::from_code(&to).ok_or_else(|| {
                    ApiError::Internal(format!("card history row with status {to:?}"))
                })?,
                from_depot_id: col(r, 6),
                to_depot_id: col(r, 7),
                action: col(r, 8),
                staff_id: col(r, 9),
                channel_id: col(r, 10),
                detail: col(r, 11),
                created_at: col(r, 12),
            })
        })
        .collect()
}
