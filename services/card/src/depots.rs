//! 库位 as the card center reads them: the broadcast `depot` table (every
//! shard has a copy, so reading it inside a province's transaction keeps the
//! transaction local). A depot takes cards when it is active and holds cards.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use haoka_core::problem::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depot {
    pub depot_id: i64,
    pub province: String,
    pub city: String,
    /// Active and holding cards.
    pub takes_cards: bool,
}

/// The depots among `ids` that exist.
pub async fn load<Q: Queryable>(c: &mut Q, ids: &[i64]) -> Result<HashMap<i64, Depot>, ApiError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, String, String, i64)> = c
        .exec(
            format!(
                "SELECT depot_id, province_code, city_code, status, holds_cards FROM depot \
                 WHERE depot_id IN ({})",
                haoka_core::db::marks(ids.len())
            ),
            ids.iter().map(|i| Value::from(*i)).collect::<Vec<_>>(),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(depot_id, province, city, status, cards)| {
            (
                depot_id,
                Depot {
                    depot_id,
                    province,
                    city,
                    takes_cards: status == "A" && cards != 0,
                },
            )
        })
        .collect())
}

/// One depot, if it exists.
pub async fn one<Q: Queryable>(c: &mut Q, id: i64) -> Result<Option<Depot>, ApiError> {
    Ok(load(c, &[id]).await?.remove(&id))
}

/// A depot cards may go into: 404 when it does not exist, 409 when it is
/// disabled or holds no cards.
pub async fn taking_cards<Q: Queryable>(c: &mut Q, id: i64) -> Result<Depot, ApiError> {
    match one(c, id).await? {
        Some(d) if d.takes_cards => Ok(d),
        Some(_) => Err(ApiError::Conflict(format!(
            "depot {id} is disabled or does not hold cards"
        ))),
        None => Err(ApiError::not_found("depot", id)),
    }
}
