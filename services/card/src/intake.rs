//! 成卡入库: a list of cards becomes 01 in-stock cards of one province, each
//! in a depot of that province and optionally in a package. Every problem is
//! reported per card (422 when a card is malformed, 409 when the stock
//! refuses it) and then nothing is written; otherwise all cards and
//! their history rows go in one transaction.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use super::history::{self, Entry};
use super::iccid::{Iccid, Imsi};
use super::status::{CardStatus, CardType};
use super::transition::Action;
use super::{depots, packages, store};
use crate::CardState;
use haoka_core::auth::rbac::Principal;
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json};

/// Rows per multi-row INSERT.
const CHUNK: usize = 500;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = CardIntakeRequest)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    /// The province every card of the request belongs to.
    pub province_code: ProvinceCode,
    /// Depot of every card that names none.
    pub depot_id: i64,
    /// 套包 of every card that names none.
    pub package_id: Option<i64>,
    #[schema(min_items = 1, max_items = 10000)]
    pub cards: Vec<NewCard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCard {
    pub iccid: String,
    /// Required for 成卡; a 白卡 has none until it is written.
    pub imsi: Option<String>,
    pub card_type: CardType,
    pub depot_id: Option<i64>,
    pub package_id: Option<i64>,
}

/// Why a card of an intake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CardRejectReason)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    InvalidIccid,
    InvalidImsi,
    ImsiRequired,
    DuplicateInRequest,
    Duplicate,
    UnknownDepot,
    DepotUnusable,
    WrongDepotProvince,
    UnknownPackage,
    WrongPackageProvince,
}

impl RejectReason {
    /// The card itself is malformed (422), rather than refused by the stock (409).
    pub fn malformed(self) -> bool {
        use RejectReason::*;
        matches!(
            self,
            InvalidIccid | InvalidImsi | ImsiRequired | DuplicateInRequest
        )
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CardRejected)]
pub struct Rejected {
    pub iccid: String,
    pub reason: RejectReason,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CardIntakeResult)]
pub struct IntakeResult {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

/// A card that passed every check.
struct Candidate {
    iccid: Iccid,
    imsi: Option<Imsi>,
    card_type: CardType,
    depot: i64,
    city: String,
    package: Option<i64>,
}

#[utoipa::path(post, operation_id = "card_intake", path = "/api/v1/cards/intake", tag = "cards", request_body = IntakeRequest, security(("bearer" = [])),
    responses((status = 201, description = "every card was taken in", body = IntakeResult),
        (status = 409, description = "none was: the stock refused some; or a problem (a disabled depot)",
            content((IntakeResult = "application/json"), (haoka_core::problem::Problem = "application/problem+json"))),
        (status = 422, description = "none was: some cards are malformed (the per-card reasons); or a problem (a body that does not fit)",
            content((IntakeResult = "application/json"), (haoka_core::problem::Problem = "application/problem+json")))))]
pub async fn intake(
    State(state): State<CardState>,
    principal: Principal,
    Json(req): Json<IntakeRequest>,
) -> Result<Response, ApiError> {
    principal.scope.check(Some(req.province_code.as_str()))?;
    let result = run(&state, Some(principal.staff_id), &req).await?;
    let status = if result.rejected.is_empty() {
        StatusCode::CREATED
    } else if result.rejected.iter().any(|r| r.reason.malformed()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(result)).into_response())
}

/// Checks one card against the request's depots and packages.
fn check(
    card: &NewCard,
    req: &IntakeRequest,
    depots: &HashMap<i64, depots::Depot>,
    pkgs: &HashMap<i64, packages::Package>,
) -> Result<Candidate, (RejectReason, String)> {
    use RejectReason::*;
    let province = req.province_code.as_str();
    let iccid = Iccid::parse(&card.iccid).map_err(|e| (InvalidIccid, e.to_string()))?;
    let imsi = match (&card.imsi, card.card_type) {
        (Some(raw), _) => Some(Imsi::parse(raw).map_err(|e| (InvalidImsi, e.to_string()))?),
        (None, CardType::Made) => {
            return Err((ImsiRequired, "a 成卡 (made) card needs its IMSI".into()))
        }
        (None, CardType::Blank) => None,
    };
    let depot = card.depot_id.unwrap_or(req.depot_id);
    let d = depots
        .get(&depot)
        .ok_or_else(|| (UnknownDepot, format!("depot {depot} does not exist")))?;
    if !d.takes_cards {
        return Err((
            DepotUnusable,
            format!("depot {depot} is disabled or does not hold cards"),
        ));
    }
    if d.province != province {
        return Err((
            WrongDepotProvince,
            format!(
                "depot {depot} is in province {}, the card in {province}",
                d.province
            ),
        ));
    }
    let package = card.package_id.or(req.package_id);
    if let Some(p) = package {
        let pk = pkgs.get(&p).ok_or_else(|| {
            (
                UnknownPackage,
                format!("package {p} does not exist or is disabled"),
            )
        })?;
        if !pk.covers(province) {
            return Err((
                WrongPackageProvince,
                format!("package {p} is a package of another province"),
            ));
        }
    }
    Ok(Candidate {
        iccid,
        imsi,
        card_type: card.card_type,
        depot,
        city: d.city.clone(),
        package,
    })
}

/// The intake itself: every check, then one transaction.
pub async fn run(
    state: &CardState,
    staff_id: Option<i64>,
    req: &IntakeRequest,
) -> Result<IntakeResult, ApiError> {
    let checked = check_request(state, req).await?;
    if !checked.rejected.is_empty() {
        return Ok(IntakeResult {
            accepted: 0,
            rejected: checked.rejected,
        });
    }
    let mut tx = state.db.begin().await?;
    write(&mut tx, staff_id, req, &checked).await?;
    tx.commit().await?;
    tracing::info!(
        province = req.province_code.as_str(),
        cards = checked.cands.len(),
        "card intake"
    );
    Ok(IntakeResult {
        accepted: checked.cands.len(),
        rejected: Vec::new(),
    })
}

/// What the checks found: the cards that may go in and those refused.
pub struct Checked {
    cands: Vec<Candidate>,
    pub rejected: Vec<Rejected>,
}

impl Checked {
    pub fn accepted(&self) -> usize {
        self.cands.len()
    }

    /// Keeps only the cards `keep` says yes to (the batch loader drops the
    /// refused ones and writes the rest).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.cands.retain(|c| keep(c.iccid.as_str()));
    }
}

/// Every check of an intake, writing nothing (the batch loader calls this,
/// then `write` on its own transaction with its checkpoint).
pub async fn check_request(state: &CardState, req: &IntakeRequest) -> Result<Checked, ApiError> {
    let max = state.center.cfg.max_intake;
    haoka_core::validate::check_count("cards", req.cards.len(), max)?;
    let mut c = state.db.conn().await?;
    let mut depot_ids: Vec<i64> = req.cards.iter().filter_map(|c| c.depot_id).collect();
    depot_ids.push(req.depot_id);
    let depots = depots::load(&mut c, &depot_ids).await?;
    let mut pkg_ids: Vec<i64> = req.cards.iter().filter_map(|c| c.package_id).collect();
    pkg_ids.extend(req.package_id);
    let pkgs = packages::load(&mut c, &pkg_ids).await?;
    let mut rejected = Vec::new();
    let mut seen = HashSet::new();
    let mut cands = Vec::with_capacity(req.cards.len());
    for card in &req.cards {
        match check(card, req, &depots, &pkgs) {
            Err((reason, message)) => rejected.push(Rejected {
                iccid: card.iccid.clone(),
                reason,
                message,
            }),
            Ok(cand) if !seen.insert(cand.iccid.clone()) => rejected.push(Rejected {
                iccid: card.iccid.clone(),
                reason: RejectReason::DuplicateInRequest,
                message: format!("{} is listed twice", cand.iccid),
            }),
            Ok(cand) => cands.push(cand),
        }
    }
    let names: Vec<&str> = cands.iter().map(|c| c.iccid.as_str()).collect();
    for dup in store::existing(&mut c, &names).await? {
        rejected.push(Rejected {
            message: format!("{dup} is already in stock"),
            iccid: dup,
            reason: RejectReason::Duplicate,
        });
    }
    Ok(Checked { cands, rejected })
}

/// Writes the checked cards and their history rows on `tx`.
pub async fn write(
    tx: &mut mysql_async::Transaction<'_>,
    staff_id: Option<i64>,
    req: &IntakeRequest,
    checked: &Checked,
) -> Result<(), ApiError> {
    let province = req.province_code.as_str();
    let cands = &checked.cands;
    let names: Vec<&str> = cands.iter().map(|c| c.iccid.as_str()).collect();
    for chunk in cands.chunks(CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
        for cand in chunk {
            params.extend([
                Value::from(cand.iccid.as_str()),
                Value::from(cand.imsi.as_ref().map(Imsi::as_str)),
                Value::from(province),
                Value::from(cand.city.as_str()),
                Value::from(cand.depot),
                Value::from(cand.card_type.db()),
                Value::from(CardStatus::InStock.code()),
                Value::from(cand.package),
            ]);
        }
        tx.exec_drop(
            format!(
                "INSERT INTO sim_card (iccid, imsi, province_code, city_code, depot_id, card_type, \
                 status, package_id) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            ),
            params,
        )
        .await?;
    }
    // The ids came from the proxy's sequence, not necessarily contiguous:
    // read them back inside the transaction.
    let ids = store::read(&mut *tx, province, &names, false).await?;
    let entries: Vec<Entry> = cands
        .iter()
        .map(|cand| {
            let card = ids.get(cand.iccid.as_str()).ok_or_else(|| {
                ApiError::Internal(format!("card {} vanished during intake", cand.iccid))
            })?;
            Ok(Entry {
                card_id: card.card_id,
                iccid: cand.iccid.to_string(),
                province: province.to_string(),
                from: None,
                to: CardStatus::InStock,
                from_depot: None,
                to_depot: Some(cand.depot),
                action: Action::Intake,
                staff_id,
                channel_id: None,
                detail: Some(cand.card_type.title().to_string()),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    history::write(&mut *tx, &entries).await?;
    Ok(())
}
