//! 号码入库: numbers by list or range become 01 idle stock, with their area
//! derived from the segment, their premium level classified, a depot and an
//! optional pool. Every problem is reported per number and then nothing is
//! written; otherwise all numbers, their history rows and their
//! `number.taken_in` events go in one
//! transaction (one distributed transaction when provinces differ — the proxy
//! commits it with XA, all or nothing).

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::events;
use super::history::{self, Entry};
use super::premium;
use super::rules;
use super::status::NumberStatus;
use super::transition::Action;
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::marks;
use haoka_core::domain::msisdn::Msisdn;
use haoka_core::problem::{ApiError, Json, Problem};

/// Rows per multi-row INSERT.
const CHUNK: usize = 500;

/// Its schema (list or range) is in `doc.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    pub numbers: Option<Vec<String>>,
    pub range: Option<NumberRange>,
    pub depot_id: i64,
    pub pool_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberRange {
    /// The first number.
    #[schema(schema_with = super::doc::phone_no)]
    pub from: String,
    /// How many consecutive numbers (at most `number.max_intake`).
    #[schema(minimum = 1, maximum = 10000)]
    pub count: u32,
}

/// Why a number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    Invalid,
    UnknownSegment,
    DuplicateInRequest,
    Duplicate,
    OutOfScope,
    WrongDepotProvince,
    WrongPoolArea,
}

impl RejectReason {
    /// A fault of the request itself rather than of the stock it meets.
    pub fn malformed(self) -> bool {
        matches!(
            self,
            RejectReason::Invalid | RejectReason::DuplicateInRequest
        )
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rejected {
    pub phone_no: String,
    pub reason: RejectReason,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntakeResult {
    pub accepted: usize,
    /// Count of numbers per premium level.
    pub by_level: BTreeMap<u8, usize>,
    pub rejected: Vec<Rejected>,
}

struct Candidate {
    no: Msisdn,
    province: String,
    city: String,
}

fn reject(rejected: &mut Vec<Rejected>, no: &str, reason: RejectReason, message: String) {
    rejected.push(Rejected {
        phone_no: no.to_string(),
        reason,
        message,
    });
}

/// The last number of the numbering plan.
const LAST_NUMBER: u64 = 19_999_999_999;

/// The numbers a request names, in order, and those of a range that run
/// past the numbering plan (already refused: no segment holds them).
fn listed(req: &IntakeRequest, max: usize) -> Result<(Vec<String>, Vec<Rejected>), ApiError> {
    match (&req.numbers, &req.range) {
        (Some(list), None) => {
            haoka_core::validate::check_count("numbers", list.len(), max)?;
            Ok((list.clone(), Vec::new()))
        }
        (None, Some(r)) => {
            let from = Msisdn::parse(&r.from)
                .map_err(|e| ApiError::Invalid(format!("range.from: {e}")))?;
            if r.count == 0 || r.count as usize > max {
                return Err(ApiError::Invalid(format!(
                    "range.count must be 1 to {max} (got {})",
                    r.count
                )));
            }
            let (a, b) = (from.as_u64(), from.as_u64() + u64::from(r.count) - 1);
            let beyond = (LAST_NUMBER + 1..=b)
                .map(|n| Rejected {
                    phone_no: n.to_string(),
                    reason: RejectReason::UnknownSegment,
                    message: format!("{n} is past the last number {LAST_NUMBER}"),
                })
                .collect();
            let numbers = (a..=b.min(LAST_NUMBER)).map(|n| n.to_string()).collect();
            Ok((numbers, beyond))
        }
        _ => Err(ApiError::Invalid(
            "give either numbers (a list) or range (from, count), not both".into(),
        )),
    }
}

/// The depot's province (it must exist, be active and hold numbers).
async fn depot_province<Q: Queryable>(c: &mut Q, depot_id: i64) -> Result<String, ApiError> {
    let row: Option<(String, String, i64)> = c
        .exec_first(
            "SELECT province_code, status, holds_numbers FROM depot WHERE depot_id = ?",
            (depot_id,),
        )
        .await?;
    match row {
        Some((p, s, h)) if s == "A" && h != 0 => Ok(p),
        Some(_) => Err(ApiError::Conflict(format!(
            "depot {depot_id} is disabled or does not hold numbers"
        ))),
        None => Err(ApiError::not_found("depot", depot_id)),
    }
}

/// A pool's (province, city), if it exists and is active.
pub async fn pool_area<Q: Queryable>(
    c: &mut Q,
    pool_id: i64,
) -> Result<(String, Option<String>), ApiError> {
    let row: Option<(String, Option<String>, String)> = c
        .exec_first(
            "SELECT province_code, city_code, status FROM number_pool WHERE pool_id = ?",
            (pool_id,),
        )
        .await?;
    match row {
        Some((p, city, s)) if s == "A" => Ok((p, city)),
        Some(_) => Err(ApiError::Conflict(format!("pool {pool_id} is disabled"))),
        None => Err(ApiError::not_found("pool", pool_id)),
    }
}

/// Which of `numbers` already exist.
pub async fn existing<Q: Queryable>(
    c: &mut Q,
    numbers: &[&str],
) -> Result<HashSet<String>, ApiError> {
    let mut found = HashSet::new();
    for chunk in numbers.chunks(CHUNK) {
        let rows: Vec<String> = c
            .exec(
                format!(
                    "SELECT phone_no FROM phone_number WHERE phone_no IN ({})",
                    marks(chunk.len())
                ),
                chunk.iter().map(|n| Value::from(*n)).collect::<Vec<_>>(),
            )
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

#[utoipa::path(post, path = "/api/v1/numbers/intake", tag = "numbers", request_body = IntakeRequest,
    security(("bearer" = [])), responses(
        (status = 201, body = IntakeResult, description = "every number taken in as 01 idle"),
        (status = 409, description = "nothing taken in: the stock refuses some numbers (duplicate, unknown segment, scope, depot or pool area); or a problem (a disabled depot or pool)", content((IntakeResult = "application/json"), (Problem = "application/problem+json"))),
        (status = 422, description = "nothing taken in: some numbers are malformed or listed twice; or a problem (a body that does not fit)", content((IntakeResult = "application/json"), (Problem = "application/problem+json")))))]
pub async fn intake(
    State(state): State<NumberState>,
    principal: Principal,
    Json(req): Json<IntakeRequest>,
) -> Result<Response, ApiError> {
    let actor = Actor::Staff(principal);
    let result = run(&state, &actor, &req).await?;
    let status = if result.rejected.is_empty() {
        StatusCode::CREATED
    } else if result.rejected.iter().any(|r| r.reason.malformed()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(result)).into_response())
}

/// The intake itself: every check, then one transaction.
pub async fn run(
    state: &NumberState,
    actor: &Actor,
    req: &IntakeRequest,
) -> Result<IntakeResult, ApiError> {
    let checked = check(state, actor, req).await?;
    if !checked.rejected.is_empty() {
        return Ok(IntakeResult {
            accepted: 0,
            by_level: BTreeMap::new(),
            rejected: checked.rejected,
        });
    }
    let mut tx = state.db.begin().await?;
    let by_level = write(&mut tx, state, actor, req, &checked).await?;
    state.outbox.commit(tx).await?; // with the number.taken_in events
    Ok(IntakeResult {
        accepted: checked.accepted(),
        by_level,
        rejected: Vec::new(),
    })
}

/// What the checks found: the numbers that may go in and those refused.
pub struct Checked {
    cands: Vec<Candidate>,
    pub rejected: Vec<Rejected>,
}

impl Checked {
    pub fn accepted(&self) -> usize {
        self.cands.len()
    }

    /// Keeps only the numbers `keep` says yes to (the batch loader drops the
    /// refused ones and writes the rest).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.cands.retain(|c| keep(c.no.as_str()));
    }
}

/// Every check of an intake, writing nothing (the batch loader calls this,
/// then `write` on its own transaction with its checkpoint).
pub async fn check(
    state: &NumberState,
    actor: &Actor,
    req: &IntakeRequest,
) -> Result<Checked, ApiError> {
    // The depot and pool first: naming ones that do not exist is a 404
    // whatever the numbers are.
    let mut c = state.db.conn().await?;
    let depot_prov = depot_province(&mut c, req.depot_id).await?;
    actor.check_province(&depot_prov)?;
    let pool = match req.pool_id {
        Some(p) => Some(pool_area(&mut c, p).await?),
        None => None,
    };
    let (raw, mut rejected) = listed(req, state.center.cfg.max_intake)?;
    let segs = state.center.segments(&state.db).await?;
    let mut seen = HashSet::new();
    let mut cands = Vec::with_capacity(raw.len());
    for r in &raw {
        let no = match Msisdn::parse(r) {
            Ok(n) => n,
            Err(e) => {
                reject(&mut rejected, r, RejectReason::Invalid, e.to_string());
                continue;
            }
        };
        if !seen.insert(no) {
            reject(
                &mut rejected,
                r,
                RejectReason::DuplicateInRequest,
                format!("{no} is listed twice"),
            );
            continue;
        }
        let Some(area) = segs.area(no.segment_number()) else {
            reject(
                &mut rejected,
                r,
                RejectReason::UnknownSegment,
                format!("segment {} is not allocated to any province", no.segment()),
            );
            continue;
        };
        if !actor.sees_province(&area.province) {
            reject(
                &mut rejected,
                r,
                RejectReason::OutOfScope,
                format!("province {} is outside your data scope", area.province),
            );
            continue;
        }
        if area.province != depot_prov {
            reject(
                &mut rejected,
                r,
                RejectReason::WrongDepotProvince,
                format!(
                    "depot {} is in province {depot_prov}, the number in {}",
                    req.depot_id, area.province
                ),
            );
            continue;
        }
        if let Some((pp, pc)) = &pool {
            if *pp != area.province || pc.as_ref().is_some_and(|pc| *pc != area.city) {
                reject(
                    &mut rejected,
                    r,
                    RejectReason::WrongPoolArea,
                    format!(
                        "pool {} does not cover {}/{}",
                        req.pool_id.unwrap_or(0),
                        area.province,
                        area.city
                    ),
                );
                continue;
            }
        }
        cands.push(Candidate {
            no,
            province: area.province.clone(),
            city: area.city.clone(),
        });
    }
    let names: Vec<&str> = cands.iter().map(|c| c.no.as_str()).collect();
    let dup = existing(&mut c, &names).await?;
    for cand in &cands {
        if dup.contains(cand.no.as_str()) {
            reject(
                &mut rejected,
                cand.no.as_str(),
                RejectReason::Duplicate,
                format!("{} is already in stock", cand.no),
            );
        }
    }
    Ok(Checked { cands, rejected })
}

/// Writes the checked numbers and their history rows on `tx`; returns the
/// count per premium level.
pub async fn write(
    tx: &mut mysql_async::Transaction<'_>,
    state: &NumberState,
    actor: &Actor,
    req: &IntakeRequest,
    checked: &Checked,
) -> Result<BTreeMap<u8, usize>, ApiError> {
    let cands = &checked.cands;
    let rules = rules::load(&state.db).await?;
    let mut by_level = BTreeMap::new();
    let levels: Vec<u8> = cands
        .iter()
        .map(|cand| {
            let l = premium::classify(&cand.no, &cand.province, &rules);
            *by_level.entry(l).or_insert(0) += 1;
            l
        })
        .collect();
    for (chunk, lv) in cands.chunks(CHUNK).zip(levels.chunks(CHUNK)) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
        for (cand, level) in chunk.iter().zip(lv) {
            params.extend([
                Value::from(cand.no.as_str()),
                Value::from(cand.no.segment()),
                Value::from(cand.province.as_str()),
                Value::from(cand.city.as_str()),
                Value::from(NumberStatus::Idle.code()),
                Value::from(*level),
                Value::from(cand.no.tail4()),
                Value::from(req.pool_id),
                Value::from(req.depot_id),
            ]);
        }
        tx.exec_drop(
            format!(
                "INSERT INTO phone_number (phone_no, segment, province_code, city_code, status, \
                 premium_level, tail4, pool_id, depot_id) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            ),
            params,
        )
        .await?;
    }
    let entries: Vec<Entry> = cands
        .iter()
        .map(|cand| Entry {
            phone_no: cand.no.to_string(),
            province: cand.province.clone(),
            from: None,
            to: NumberStatus::Idle,
            action: Action::Intake,
            hold_key: None,
            channel_id: actor.channel_id(),
            staff_id: actor.staff_id(),
            detail: Some(format!("depot {}", req.depot_id)),
        })
        .collect();
    history::write(tx, &entries).await?;
    // The events, on each number's own shard with its rows.
    let mut by_province: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for cand in cands {
        by_province
            .entry(cand.province.as_str())
            .or_default()
            .push(cand.no.to_string());
    }
    for (province, nos) in by_province {
        for chunk in nos.chunks(CHUNK) {
            let e = events::TakenIn {
                province_code: province.to_string(),
                depot_id: req.depot_id,
                pool_id: req.pool_id,
                phone_nos: chunk.to_vec(),
                channel_id: actor.channel_id(),
                staff_id: actor.staff_id(),
            };
            events::write(tx, province, events::TAKEN_IN, &e).await?;
        }
    }
    Ok(by_level)
}
