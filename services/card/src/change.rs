//! Staff changes of cards: status changes through the transition table
//! (freeze, scrap, report lost...; anything not in the table, or behind
//! another door, is refused) and 库位变更 (depot moves inside a province).
//! A request is all or nothing: every card is checked under a row lock
//! first, and one refusal rolls the whole request back.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use super::history::{self, Entry};
use super::status::CardStatus;
use super::store::{self, Card};
use super::transition::{self, Action, Door};
use super::{depots, parse_list, provinces_of};
use crate::CardState;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::marks;
use haoka_core::problem::{ApiError, Json};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = CardStatusRequest)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[schema(schema_with = super::doc::iccids)]
    pub iccids: Vec<String>,
    pub to: CardStatus,
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = CardDepotRequest)]
#[serde(deny_unknown_fields)]
pub struct DepotRequest {
    #[schema(schema_with = super::doc::iccids)]
    pub iccids: Vec<String>,
    pub depot_id: i64,
}

/// What happened to one card of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    NoSuchCard,
    /// The transition table (or the depot rules) refuse the change.
    Refused,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardResult {
    pub iccid: String,
    pub outcome: Outcome,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CardStatus>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CardBatchResult)]
pub struct BatchResult {
    /// True when every card changed; false when nothing did.
    pub applied: bool,
    pub results: Vec<CardResult>,
}

impl CardResult {
    fn ok(card: &Card, status: CardStatus) -> CardResult {
        CardResult {
            iccid: card.iccid.clone(),
            outcome: Outcome::Ok,
            message: "ok".into(),
            status: Some(status),
        }
    }
    fn refused(card: &Card, message: String) -> CardResult {
        CardResult {
            iccid: card.iccid.clone(),
            outcome: Outcome::Refused,
            message,
            status: Some(card.status),
        }
    }
    fn missing(iccid: &str) -> CardResult {
        CardResult {
            iccid: iccid.to_string(),
            outcome: Outcome::NoSuchCard,
            message: format!("card {iccid} does not exist"),
            status: None,
        }
    }
}

fn respond(results: Vec<CardResult>) -> Response {
    let applied = results.iter().all(|r| r.outcome == Outcome::Ok);
    let status = if applied {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    (status, Json(BatchResult { applied, results })).into_response()
}

/// The listed cards that exist, row-locked, by ICCID.
async fn lock_all(
    tx: &mut mysql_async::Transaction<'static>,
    by_province: &BTreeMap<String, Vec<String>>,
) -> Result<HashMap<String, Card>, ApiError> {
    let mut all = HashMap::new();
    for (province, list) in by_province {
        let names: Vec<&str> = list.iter().map(String::as_str).collect();
        all.extend(store::lock(tx, province, &names).await?);
    }
    Ok(all)
}

#[utoipa::path(post, operation_id = "card_change_status", path = "/api/v1/cards/status", tag = "cards", request_body = StatusRequest, security(("bearer" = [])),
    responses((status = 200, description = "every card changed", body = BatchResult),
        (status = 409, description = "none did: the per-card codes say why; or a problem (a concurrent change)",
            content((BatchResult = "application/json"), (haoka_core::problem::Problem = "application/problem+json")))))]
pub async fn change_status(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<StatusRequest>,
) -> Result<Response, ApiError> {
    if let Some(r) = &req.reason {
        haoka_core::validate::text("reason", r, 0, 256)?;
    }
    let iccids = parse_list(&req.iccids, state.center.cfg.max_per_request)?;
    let by_province = provinces_of(&state, &p.scope, &iccids).await?;
    let mut tx = state.db.begin().await?;
    let cards = lock_all(&mut tx, &by_province).await?;
    let mut results = Vec::with_capacity(iccids.len());
    // (province, from) -> card ids
    let mut groups: BTreeMap<(String, CardStatus), Vec<i64>> = BTreeMap::new();
    let mut entries = Vec::new();
    for i in &iccids {
        let Some(card) = cards.get(i.as_str()) else {
            results.push(CardResult::missing(i.as_str()));
            continue;
        };
        if let Some(why) = transition::refusal(card.status, req.to, Door::Manual) {
            results.push(CardResult::refused(card, why));
            continue;
        }
        let t = transition::allowed(card.status, req.to, Door::Manual)
            .ok_or_else(|| ApiError::Internal("transition table disagrees".into()))?;
        groups
            .entry((card.province_code.clone(), card.status))
            .or_default()
            .push(card.card_id);
        entries.push(Entry {
            card_id: card.card_id,
            iccid: card.iccid.clone(),
            province: card.province_code.clone(),
            from: Some(card.status),
            to: req.to,
            from_depot: Some(card.depot_id),
            to_depot: Some(card.depot_id),
            action: t.action,
            staff_id: Some(p.staff_id),
            channel_id: None,
            detail: req.reason.clone(),
        });
        results.push(CardResult::ok(card, req.to));
    }
    if results.iter().any(|r| r.outcome != Outcome::Ok) {
        tx.rollback().await?;
        return Ok(respond(results));
    }
    for ((province, from), ids) in &groups {
        store::set_status(&mut tx, province, ids, *from, req.to).await?;
    }
    history::write(&mut tx, &entries).await?;
    tx.commit().await?;
    Ok(respond(results))
}

/// 库位变更: every card must already be in the depot's province (moves
/// between provinces are transfers) and on a depot shelf.
#[utoipa::path(post, operation_id = "card_move_depot", path = "/api/v1/cards/depot", tag = "cards", request_body = DepotRequest, security(("bearer" = [])),
    responses((status = 200, description = "every card moved", body = BatchResult),
        (status = 409, description = "none did: the per-card codes say why; or a problem (a disabled depot, a concurrent change)",
            content((BatchResult = "application/json"), (haoka_core::problem::Problem = "application/problem+json")))))]
pub async fn move_depot(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<DepotRequest>,
) -> Result<Response, ApiError> {
    let iccids = parse_list(&req.iccids, state.center.cfg.max_per_request)?;
    let mut tx = state.db.begin().await?;
    let staged = stage_depot_move(&state, &mut tx, &p, &iccids, req.depot_id).await?;
    if staged.applied {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(respond(staged.results))
}

/// A depot move checked (and, when every card may move, written) on the
/// caller's transaction.
pub struct StagedMove {
    /// Every card may move: the moves and history rows are on the transaction.
    pub applied: bool,
    pub results: Vec<CardResult>,
}

/// 库位变更 on `tx` (the batch loader's chunk transaction, or the
/// endpoint's): the cards are row-locked and checked; only when every one
/// may move are they moved, with their history rows. Nothing is committed.
pub async fn stage_depot_move(
    state: &CardState,
    tx: &mut mysql_async::Transaction<'_>,
    p: &Principal,
    iccids: &[super::iccid::Iccid],
    depot_id: i64,
) -> Result<StagedMove, ApiError> {
    let mut c = state.db.conn().await?;
    let depot = depots::taking_cards(&mut c, depot_id).await?;
    let (province, city) = (depot.province, depot.city);
    drop(c);
    p.scope.check(Some(&province))?;
    let names: Vec<&str> = iccids.iter().map(|i| i.as_str()).collect();
    // Only the depot's province is read: a card elsewhere shows up missing
    // here and is told apart below.
    let cards = store::lock(tx, &province, &names).await?;
    let elsewhere = if cards.len() < names.len() {
        provinces_elsewhere(state, iccids, &cards).await?
    } else {
        HashMap::new()
    };
    let mut results = Vec::with_capacity(names.len());
    let mut entries = Vec::new();
    let mut ids = Vec::new();
    for n in &names {
        let Some(card) = cards.get(*n) else {
            results.push(match elsewhere.get(*n) {
                Some(other) => CardResult {
                    iccid: n.to_string(),
                    outcome: Outcome::Refused,
                    message: format!(
                        "the card is in province {other}, depot {} in {province}: use a transfer",
                        depot_id
                    ),
                    status: None,
                },
                None => CardResult::missing(n),
            });
            continue;
        };
        if !card.status.on_shelf() {
            results.push(CardResult::refused(
                card,
                format!("a card in status {} is not on a depot shelf", card.status),
            ));
            continue;
        }
        if card.depot_id == depot_id {
            results.push(CardResult::refused(
                card,
                format!("the card is already in depot {}", depot_id),
            ));
            continue;
        }
        ids.push(card.card_id);
        entries.push(Entry {
            card_id: card.card_id,
            iccid: card.iccid.clone(),
            province: province.clone(),
            from: Some(card.status),
            to: card.status,
            from_depot: Some(card.depot_id),
            to_depot: Some(depot_id),
            action: Action::MoveDepot,
            staff_id: Some(p.staff_id),
            channel_id: None,
            detail: None,
        });
        results.push(CardResult::ok(card, card.status));
    }
    if results.iter().any(|r| r.outcome != Outcome::Ok) {
        return Ok(StagedMove {
            applied: false,
            results,
        });
    }
    for chunk in ids.chunks(500) {
        let mut params: Vec<Value> = vec![
            depot_id.into(),
            city.as_str().into(),
            province.as_str().into(),
        ];
        params.extend(chunk.iter().map(|i| Value::from(*i)));
        tx.exec_drop(
            format!(
                "UPDATE sim_card SET depot_id = ?, city_code = ?, version = version + 1 \
                 WHERE province_code = ? AND card_id IN ({})",
                marks(chunk.len())
            ),
            params,
        )
        .await?;
    }
    history::write(tx, &entries).await?;
    Ok(StagedMove {
        applied: true,
        results,
    })
}

/// The province of listed cards that are not in `found` but exist elsewhere.
async fn provinces_elsewhere(
    state: &CardState,
    iccids: &[super::iccid::Iccid],
    found: &HashMap<String, Card>,
) -> Result<HashMap<String, String>, ApiError> {
    let rest: Vec<super::iccid::Iccid> = iccids
        .iter()
        .filter(|i| !found.contains_key(i.as_str()))
        .cloned()
        .collect();
    let by = provinces_of(state, &haoka_core::auth::scope::Scope::All, &rest).await?;
    Ok(by
        .into_iter()
        .flat_map(|(p, list)| list.into_iter().map(move |i| (i, p.clone())))
        .collect())
}
