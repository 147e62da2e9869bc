//! 号历史: one row per state change (who, when, from, to, key, channel),
//! written on the caller's transaction so it commits with the change.

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use super::status::NumberStatus;
use super::transition::Action;
use haoka_core::db::col;
use haoka_core::problem::ApiError;

/// Rows per multi-row INSERT.
const CHUNK: usize = 500;

pub struct Entry {
    pub phone_no: String,
    pub province: String,
    pub from: Option<NumberStatus>,
    pub to: NumberStatus,
    pub action: Action,
    pub hold_key: Option<String>,
    pub channel_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub detail: Option<String>,
}

pub async fn write<Q: Queryable>(c: &mut Q, entries: &[Entry]) -> Result<(), ApiError> {
    for chunk in entries.chunks(CHUNK) {
        let marks = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
        for e in chunk {
            params.extend([
                Value::from(e.phone_no.as_str()),
                Value::from(e.province.as_str()),
                Value::from(e.from.map(|s| s.code())),
                Value::from(e.to.code()),
                Value::from(e.action.name()),
                Value::from(e.hold_key.as_deref()),
                Value::from(e.channel_id),
                Value::from(e.staff_id),
                Value::from(e.detail.as_deref()),
            ]);
        }
        c.exec_drop(
            format!(
                "INSERT INTO number_history (phone_no, province_code, from_status, to_status, action, \
                 hold_key, channel_id, staff_id, detail) VALUES {marks}"
            ),
            params,
        )
        .await?;
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub history_id: i64,
    pub phone_no: String,
    pub from_status: Option<NumberStatus>,
    pub to_status: NumberStatus,
    pub action: String,
    pub hold_key: Option<String>,
    pub channel_id: Option<i64>,
    pub staff_id: Option<i64>,
    pub detail: Option<String>,
    pub created_at: haoka_core::time::Timestamp,
}

/// What a masked hold key reads as.
pub const MASKED_KEY: &str = "***";

/// Masks the hold keys of rows the viewer did not write themselves as staff
/// (a key is its holder's proof: history shows that there was one, not it).
pub fn mask_keys(rows: &mut [HistoryView], viewer_staff_id: i64) {
    for r in rows {
        let own = r.channel_id.is_none() && r.staff_id == Some(viewer_staff_id);
        if r.hold_key.is_some() && !own {
            r.hold_key = Some(MASKED_KEY.to_string());
        }
    }
}

/// Every history row of a number, oldest first.
pub async fn of_number<Q: Queryable>(
    c: &mut Q,
    phone_no: &str,
) -> Result<Vec<HistoryView>, ApiError> {
    let rows: Vec<mysql_async::Row> = c
        .exec(
            concat!(
                "SELECT history_id, phone_no, from_status, to_status, action, hold_key, channel_id, \
                 staff_id, detail, ",
                haoka_core::ts_col!("created_at"),
                " FROM number_history WHERE phone_no = ? ORDER BY created_at, history_id"
            ),
            (phone_no,),
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(HistoryView {
                history_id: col(r, 0),
                phone_no: col(r, 1),
                from_status: NumberStatus::from_code(&col::<String>(r, 2)),
                to_status: NumberStatus::from_code(&col::<String>(r, 3))?,
                action: col(r, 4),
                hold_key: col(r, 5),
                channel_id: col(r, 6),
                staff_id: col(r, 7),
                detail: col(r, 8),
                created_at: col(r, 9),
            })
        })
        .collect())
}
