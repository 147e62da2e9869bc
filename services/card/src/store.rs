//! Reading and changing `sim_card` rows. Lookups by ICCID alone go through
//! the proxy's global index (one shard); everything inside a transaction
//! also names the province, so the statement routes straight to the card's
//! shard and the transaction stays local.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Transaction, Value};
use serde::{Deserialize, Serialize};

use super::status::{CardStatus, CardType};
use haoka_core::db::col;
use haoka_core::problem::ApiError;

/// Rows per IN list.
const CHUNK: usize = 500;

pub const COLUMNS: &str = concat!(
    "card_id, iccid, imsi, province_code, city_code, depot_id, card_type, \
     status, package_id, paired_phone_no, transfer_id, version, ",
    haoka_core::ts_col!("updated_at"),
    ", occupied_channel_id, occupied_staff_id"
);

/// A card row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Card {
    pub card_id: i64,
    pub iccid: String,
    pub imsi: Option<String>,
    pub province_code: String,
    pub city_code: String,
    pub depot_id: i64,
    pub card_type: CardType,
    pub status: CardStatus,
    pub package_id: Option<i64>,
    pub paired_phone_no: Option<String>,
    pub transfer_id: Option<i64>,
    pub version: i64,
    pub updated_at: haoka_core::time::Timestamp,
    /// Who occupied the card (成卡占用), while it is occupied: only they
    /// activate or return it.
    pub occupied_channel_id: Option<i64>,
    pub occupied_staff_id: Option<i64>,
}

/// A row selected with [`COLUMNS`].
pub fn from_row(r: &mysql_async::Row) -> Result<Card, ApiError> {
    let iccid: String = col(r, 1);
    let kind: String = col(r, 6);
    let st: String = col(r, 7);
    Ok(Card {
        card_id: col(r, 0),
        imsi: col(r, 2),
        province_code: col(r, 3),
        city_code: col(r, 4),
        depot_id: col(r, 5),
        card_type: CardType::from_db(&kind)
            .ok_or_else(|| ApiError::Internal(format!("card {iccid} has type {kind:?}")))?,
        status: CardStatus::from_code(&st)
            .ok_or_else(|| ApiError::Internal(format!("card {iccid} has status {st:?}")))?,
        package_id: col(r, 8),
        paired_phone_no: col(r, 9),
        transfer_id: col(r, 10),
        version: col(r, 11),
        updated_at: col(r, 12),
        occupied_channel_id: col(r, 13),
        occupied_staff_id: col(r, 14),
        iccid,
    })
}

/// The card with this ICCID, wherever it is (through the global index).
pub async fn find<Q: Queryable>(c: &mut Q, iccid: &str) -> Result<Option<Card>, ApiError> {
    let row: Option<mysql_async::Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM sim_card WHERE iccid = ?"),
            (iccid,),
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The cards of one province among `iccids`, row-locked (inside a transaction).
pub async fn lock<Q: Queryable>(
    c: &mut Q,
    province: &str,
    iccids: &[&str],
) -> Result<HashMap<String, Card>, ApiError> {
    read(c, province, iccids, true).await
}

/// The cards of one province among `iccids`; `for_update` row-locks them.
/// A transaction reading back its own inserts needs no lock (and taking one
/// would only widen the chance of deadlocks with concurrent intakes).
pub async fn read<Q: Queryable>(
    c: &mut Q,
    province: &str,
    iccids: &[&str],
    for_update: bool,
) -> Result<HashMap<String, Card>, ApiError> {
    let mut out = HashMap::with_capacity(iccids.len());
    for chunk in iccids.chunks(CHUNK) {
        let mut params: Vec<Value> = vec![province.into()];
        params.extend(chunk.iter().map(|i| Value::from(*i)));
        let rows: Vec<mysql_async::Row> = c
            .exec(
                format!(
                    "SELECT {COLUMNS} FROM sim_card WHERE province_code = ? AND iccid IN ({}){}",
                    haoka_core::db::marks(chunk.len()),
                    if for_update { " FOR UPDATE" } else { "" }
                ),
                params,
            )
            .await?;
        for r in &rows {
            let card = from_row(r)?;
            out.insert(card.iccid.clone(), card);
        }
    }
    Ok(out)
}

/// `card` (read before the transaction) again, row-locked; a card that left
/// its province meanwhile is a conflict to retry.
pub async fn lock_one<Q: Queryable>(c: &mut Q, card: &Card) -> Result<Card, ApiError> {
    lock(c, &card.province_code, &[card.iccid.as_str()])
        .await?
        .remove(&card.iccid)
        .ok_or_else(|| ApiError::Conflict("the card moved meanwhile; retry".into()))
}

/// Which of `iccids` exist anywhere (through the global index).
pub async fn existing<Q: Queryable>(c: &mut Q, iccids: &[&str]) -> Result<Vec<String>, ApiError> {
    let mut found = Vec::new();
    for chunk in iccids.chunks(CHUNK) {
        let rows: Vec<String> = c
            .exec(
                format!(
                    "SELECT iccid FROM sim_card WHERE iccid IN ({})",
                    haoka_core::db::marks(chunk.len())
                ),
                chunk.iter().map(|i| Value::from(*i)).collect::<Vec<_>>(),
            )
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Moves cards of one province from status `from` to `to` (guarded by the
/// old status); any row that changed meanwhile fails the whole call.
pub async fn set_status(
    c: &mut Transaction<'_>,
    province: &str,
    card_ids: &[i64],
    from: CardStatus,
    to: CardStatus,
) -> Result<(), ApiError> {
    for chunk in card_ids.chunks(CHUNK) {
        let mut params: Vec<Value> = vec![to.code().into(), province.into()];
        params.extend(chunk.iter().map(|i| Value::from(*i)));
        params.push(from.code().into());
        c.exec_drop(
            format!(
                "UPDATE sim_card SET status = ?, version = version + 1 WHERE province_code = ? \
                 AND card_id IN ({}) AND status = ?",
                haoka_core::db::marks(chunk.len())
            ),
            params,
        )
        .await?;
        if c.affected_rows() != chunk.len() as u64 {
            return Err(ApiError::Conflict(
                "the cards changed while being updated; retry".into(),
            ));
        }
    }
    Ok(())
}
