//! Staff changes of stock: status changes through the transition table
//! (上架/下架 and the rest; anything not in the table is refused with 0004)
//! and 库位变更 (depot moves). A request is all or nothing: every number is
//! checked under a row lock first, and one refusal rolls the whole request back.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::events::{self, StatusChanged};
use super::history::{self, Entry};
use super::shelf_cache::ShelfKey;
use super::status::{NumberStatus, ResultCode};
use super::transition::{self, Action, Door};
use super::{locate, Located, NumberResult};
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::marks;
use haoka_core::problem::{ApiError, Json, Problem};
use haoka_core::validate::check_count;

pub const MAX_PER_REQUEST: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[schema(schema_with = super::doc::numbers)]
    pub numbers: Vec<String>,
    pub to: NumberStatus,
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepotRequest {
    #[schema(schema_with = super::doc::numbers)]
    pub numbers: Vec<String>,
    pub depot_id: i64,
}

/// The answer of a batch change: per-number result codes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    /// True when every number changed; false when nothing did.
    pub applied: bool,
    pub results: Vec<NumberResult>,
}

/// A locked row.
#[derive(Debug, Clone)]
pub struct Row {
    pub status: NumberStatus,
    pub province: String,
    pub city: String,
    pub pool: Option<i64>,
    pub depot: Option<i64>,
}

impl Row {
    pub fn shelf(&self) -> ShelfKey {
        ShelfKey {
            province: self.province.clone(),
            city: self.city.clone(),
            pool: self.pool,
        }
    }
}

/// Reads (and with `lock`, row-locks) the numbers' current state.
pub async fn read_rows<Q: Queryable>(
    c: &mut Q,
    numbers: &[&str],
    lock: bool,
) -> Result<HashMap<String, Row>, ApiError> {
    let mut out = HashMap::new();
    for chunk in numbers.chunks(500) {
        type Raw = (String, String, String, String, Option<i64>, Option<i64>);
        let rows: Vec<Raw> = c
            .exec(
                format!(
                    "SELECT phone_no, status, province_code, city_code, pool_id, depot_id \
                     FROM phone_number WHERE phone_no IN ({}){}",
                    marks(chunk.len()),
                    if lock { " FOR UPDATE" } else { "" }
                ),
                chunk.iter().map(|n| Value::from(*n)).collect::<Vec<_>>(),
            )
            .await?;
        for (no, st, p, city, pool, depot) in rows {
            let status = NumberStatus::from_code(&st)
                .ok_or_else(|| ApiError::Internal(format!("number {no} has status {st:?}")))?;
            out.insert(
                no,
                Row {
                    status,
                    province: p,
                    city,
                    pool,
                    depot,
                },
            );
        }
    }
    Ok(out)
}

/// Parses every number (bad input is a 400) and checks the caller's scope.
pub async fn locate_all(
    state: &NumberState,
    actor: &Actor,
    raw: &[String],
) -> Result<Vec<Located>, ApiError> {
    check_count("numbers", raw.len(), MAX_PER_REQUEST)?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let l = locate(state, r).await?;
        if !seen.insert(l.no) {
            return Err(ApiError::Invalid(format!("{} is listed twice", l.no)));
        }
        actor.check_province(&l.area.province)?;
        out.push(l);
    }
    Ok(out)
}

fn respond(results: Vec<NumberResult>) -> Response {
    let applied = results.iter().all(|r| r.code == ResultCode::Ok);
    let status = if applied {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    (status, Json(BatchResult { applied, results })).into_response()
}

#[utoipa::path(post, path = "/api/v1/numbers/status", tag = "numbers", request_body = StatusRequest,
    security(("bearer" = [])), responses(
        (status = 200, body = BatchResult, description = "every number changed"),
        (status = 409, description = "nothing changed: the per-number codes say why (0004: not in the transition table); or a problem (a concurrent change)", content((BatchResult = "application/json"), (Problem = "application/problem+json")))))]
pub async fn change_status(
    State(state): State<NumberState>,
    principal: Principal,
    Json(req): Json<StatusRequest>,
) -> Result<Response, ApiError> {
    let actor = Actor::Staff(principal);
    if let Some(r) = &req.reason {
        haoka_core::validate::text("reason", r, 0, 256)?;
    }
    let located = locate_all(&state, &actor, &req.numbers).await?;
    let rights = state.center.grants.rights(&state.db, &actor).await?;
    let names: Vec<&str> = located.iter().map(|l| l.no.as_str()).collect();
    // A deadlock with the sweeper or a hold rolls all of it back: run it again.
    haoka_core::db::retry_collisions(|| apply_status(&state, &actor, &rights, &names, &req)).await
}

/// One attempt of a status change, in one transaction.
async fn apply_status(
    state: &NumberState,
    actor: &Actor,
    rights: &super::access::PoolRights,
    names: &[&str],
    req: &StatusRequest,
) -> Result<Response, ApiError> {
    let mut tx = state.db.begin().await?;
    let staged = stage_status(&mut tx, state, actor, rights, names, req).await?;
    if !staged.applied {
        tx.rollback().await?;
        return Ok(respond(staged.results));
    }
    state.outbox.commit(tx).await?; // with the events
    state.center.announce(staged.shelves);
    Ok(respond(staged.results))
}

/// What a staged status change found: the per-number results; when every
/// number passed (`applied`) the changes, history rows and events are on
/// the transaction, and `shelves` are the caches to drop after the commit.
pub struct Staged {
    pub applied: bool,
    pub results: Vec<NumberResult>,
    pub shelves: HashSet<ShelfKey>,
}

/// Locks and checks the numbers on `tx`; writes only when every one passes
/// (a refusal leaves the transaction with locks but no writes, so the
/// batch loader can stage the passing ones again on it).
pub async fn stage_status(
    tx: &mut mysql_async::Transaction<'_>,
    state: &NumberState,
    actor: &Actor,
    rights: &super::access::PoolRights,
    names: &[&str],
    req: &StatusRequest,
) -> Result<Staged, ApiError> {
    let rows = read_rows(&mut *tx, names, true).await?;
    let mut results = Vec::with_capacity(names.len());
    let mut groups: BTreeMap<NumberStatus, Vec<&str>> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut changed = Vec::new();
    let mut shelves = HashSet::new();
    for n in names {
        let mut r = NumberResult::new(ResultCode::Ok, n);
        match rows.get(*n) {
            None => r = NumberResult::new(ResultCode::NoSuchResource, n),
            Some(row) if !rights.can_view(row.pool) => {
                r = NumberResult::new(ResultCode::NoSuchResource, n)
            }
            Some(row) if !rights.can_operate(row.pool) => {
                r = NumberResult::new(ResultCode::WrongChannel, n);
                r.status = Some(row.status);
            }
            Some(row) => match transition::check(row.status, req.to, Door::Manual) {
                Err(refused) => {
                    r = NumberResult::new(ResultCode::StateNotUsable, n);
                    r.message = refused.message;
                    r.status = Some(row.status);
                }
                Ok(t) => {
                    groups.entry(row.status).or_default().push(n);
                    if row.status == NumberStatus::OnShelf || req.to == NumberStatus::OnShelf {
                        shelves.insert(row.shelf());
                    }
                    entries.push(Entry {
                        phone_no: n.to_string(),
                        province: row.province.clone(),
                        from: Some(row.status),
                        to: req.to,
                        action: t.action,
                        hold_key: None,
                        channel_id: None,
                        staff_id: actor.staff_id(),
                        detail: req.reason.clone(),
                    });
                    changed.push(StatusChanged {
                        phone_no: n.to_string(),
                        province_code: row.province.clone(),
                        from: row.status,
                        to: req.to,
                        action: t.action.name().to_string(),
                        staff_id: actor.staff_id(),
                        reason: req.reason.clone(),
                    });
                    r.status = Some(req.to);
                }
            },
        }
        results.push(r);
    }
    if results.iter().any(|r| r.code != ResultCode::Ok) {
        return Ok(Staged {
            applied: false,
            results,
            shelves,
        });
    }
    let aging = state.center.cfg.frozen_aging_seconds;
    for (from, list) in &groups {
        let frozen = req.to == NumberStatus::Frozen;
        let sql = format!(
            "UPDATE phone_number SET status = ?, version = version + 1, {}, \
             hold_key = NULL, hold_channel_id = NULL, hold_staff_id = NULL, hold_deadline = NULL \
             WHERE phone_no IN ({}) AND status = ?",
            if frozen {
                "frozen_until = DATE_ADD(NOW(3), INTERVAL ? SECOND)"
            } else {
                "frozen_until = NULL"
            },
            marks(list.len())
        );
        let mut params: Vec<Value> = vec![req.to.code().into()];
        if frozen {
            params.push(aging.into());
        }
        params.extend(list.iter().map(|n| Value::from(*n)));
        params.push(from.code().into());
        tx.exec_drop(sql, params).await?;
        if tx.affected_rows() != list.len() as u64 {
            return Err(ApiError::Conflict(
                "the numbers changed while being updated; retry".into(),
            ));
        }
    }
    history::write(&mut *tx, &entries).await?;
    // One event per number, on its province's shard, in this transaction.
    for e in &changed {
        events::write(&mut *tx, &e.province_code, events::STATUS_CHANGED, e).await?;
    }
    Ok(Staged {
        applied: true,
        results,
        shelves,
    })
}

#[utoipa::path(post, path = "/api/v1/numbers/depot", tag = "numbers", request_body = DepotRequest,
    security(("bearer" = [])), responses(
        (status = 200, body = BatchResult, description = "every number moved"),
        (status = 409, description = "nothing moved: the per-number codes say why; or a problem (a disabled depot)", content((BatchResult = "application/json"), (Problem = "application/problem+json")))))]
pub async fn move_depot(
    State(state): State<NumberState>,
    principal: Principal,
    Json(req): Json<DepotRequest>,
) -> Result<Response, ApiError> {
    let actor = Actor::Staff(principal);
    let located = locate_all(&state, &actor, &req.numbers).await?;
    let names: Vec<&str> = located.iter().map(|l| l.no.as_str()).collect();
    let mut tx = state.db.begin().await?;
    let staged = stage_depot_move(&mut tx, &actor, &names, req.depot_id).await?;
    if !staged.applied {
        tx.rollback().await?;
        return Ok(respond(staged.results));
    }
    tx.commit().await?;
    Ok(respond(staged.results))
}

/// Locks and checks a depot move on `tx` (an unusable depot is an error);
/// writes only when every number passes, like `stage_status`.
pub async fn stage_depot_move(
    tx: &mut mysql_async::Transaction<'_>,
    actor: &Actor,
    names: &[&str],
    depot_id: i64,
) -> Result<Staged, ApiError> {
    let depot: Option<(String, String, i64)> = tx
        .exec_first(
            "SELECT province_code, status, holds_numbers FROM depot WHERE depot_id = ?",
            (depot_id,),
        )
        .await?;
    let depot_prov = match depot {
        Some((p, s, h)) if s == "A" && h != 0 => p,
        Some(_) => {
            return Err(ApiError::Conflict(format!(
                "depot {} is disabled or does not hold numbers",
                depot_id
            )))
        }
        None => return Err(ApiError::not_found("depot", depot_id)),
    };
    let rows = read_rows(&mut *tx, names, true).await?;
    let mut results = Vec::with_capacity(names.len());
    let mut entries = Vec::new();
    for n in names {
        let r = match rows.get(*n) {
            None => NumberResult::new(ResultCode::NoSuchResource, n),
            Some(row) if row.province != depot_prov => {
                let mut r = NumberResult::new(ResultCode::StateNotUsable, n);
                r.message = format!("depot {} is in another province than the number", depot_id);
                r
            }
            Some(row) if !row.status.in_stock() => {
                let mut r = NumberResult::new(ResultCode::StateNotUsable, n);
                r.message = format!("a number in status {} is not in stock", row.status);
                r.status = Some(row.status);
                r
            }
            Some(row) => {
                entries.push(Entry {
                    phone_no: n.to_string(),
                    province: row.province.clone(),
                    from: Some(row.status),
                    to: row.status,
                    action: Action::MoveDepot,
                    hold_key: None,
                    channel_id: None,
                    staff_id: actor.staff_id(),
                    detail: Some(format!(
                        "depot {} -> {}",
                        row.depot
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        depot_id
                    )),
                });
                let mut r = NumberResult::new(ResultCode::Ok, n);
                r.status = Some(row.status);
                r
            }
        };
        results.push(r);
    }
    if results.iter().any(|r| r.code != ResultCode::Ok) {
        return Ok(Staged {
            applied: false,
            results,
            shelves: HashSet::new(),
        });
    }
    let mut params: Vec<Value> = vec![depot_id.into()];
    params.extend(names.iter().map(|n| Value::from(*n)));
    tx.exec_drop(
        format!(
            "UPDATE phone_number SET depot_id = ? WHERE phone_no IN ({})",
            marks(names.len())
        ),
        params,
    )
    .await?;
    history::write(&mut *tx, &entries).await?;
    Ok(Staged {
        applied: true,
        results,
        shelves: HashSet::new(),
    })
}
