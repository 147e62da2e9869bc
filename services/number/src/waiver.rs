//! 靓号减免 waivers (request → approve / reject by someone else, audited in
//! the operation log) and 机号费用查询: a number's level fees minus its
//! approved waivers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rules::level_of;
use super::status::NumberStatus;
use super::{locate, Located};
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, insert_id, page, Filter};
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Path};
use haoka_core::validate;

/// At most the level's fees, not both 0 (its schema is in `doc.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverRequest {
    #[serde(default)]
    pub deposit_waived_cents: i64,
    #[serde(default)]
    pub monthly_waived_cents: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaiverStatus {
    Pending,
    Approved,
    Rejected,
}

impl WaiverStatus {
    fn db(self) -> &'static str {
        match self {
            WaiverStatus::Pending => "P",
            WaiverStatus::Approved => "A",
            WaiverStatus::Rejected => "R",
        }
    }
    fn from_db(s: &str) -> WaiverStatus {
        match s {
            "A" => WaiverStatus::Approved,
            "R" => WaiverStatus::Rejected,
            _ => WaiverStatus::Pending,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WaiverView {
    pub waiver_id: i64,
    pub phone_no: String,
    pub deposit_waived_cents: i64,
    pub monthly_waived_cents: i64,
    pub reason: String,
    pub status: WaiverStatus,
    pub requested_by: i64,
    pub decided_by: Option<i64>,
    pub decision_note: Option<String>,
}

/// The number (in the caller's scope) and its premium level.
async fn premium_number(
    state: &NumberState,
    principal: &Principal,
    raw: &str,
) -> Result<(Located, u8, Option<NumberStatus>), ApiError> {
    let l = locate(state, raw).await?;
    Actor::Staff(principal.clone()).check_province(&l.area.province)?;
    let mut c = state.db.conn().await?;
    let row: Option<(u8, String)> = c
        .exec_first(
            "SELECT premium_level, status FROM phone_number WHERE phone_no = ?",
            (l.no.as_str(),),
        )
        .await?;
    let (level, status) = row.ok_or_else(|| ApiError::not_found("number", l.no))?;
    Ok((l, level, NumberStatus::from_code(&status)))
}

const COLUMNS: &str = "waiver_id, phone_no, deposit_waived_cents, monthly_waived_cents, reason, \
     status, requested_by, decided_by, decision_note";

fn from_row(r: &mysql_async::Row) -> WaiverView {
    WaiverView {
        waiver_id: col(r, 0),
        phone_no: col(r, 1),
        deposit_waived_cents: col(r, 2),
        monthly_waived_cents: col(r, 3),
        reason: col(r, 4),
        status: WaiverStatus::from_db(&col::<String>(r, 5)),
        requested_by: col(r, 6),
        decided_by: col(r, 7),
        decision_note: col(r, 8),
    }
}

async fn waivers<Q: Queryable>(c: &mut Q, no: &str) -> Result<Vec<WaiverView>, ApiError> {
    let rows: Vec<mysql_async::Row> = c
        .exec(
            format!("SELECT {COLUMNS} FROM premium_waiver WHERE phone_no = ? ORDER BY waiver_id"),
            (no,),
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Default: the caller's own province (headquarters staff must name one).
    pub province_code: Option<ProvinceCode>,
    /// Default: pending.
    pub status: Option<WaiverStatus>,
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200, default = 20)]
    pub page_size: Option<u32>,
}

haoka_core::paged!(WaiverPage, WaiverView);

/// 减免审批 inbox: a province's waivers by status (pending by default).
/// Pending ones come oldest first (a queue to work through); decided ones
/// newest first, so the decision just made is on the first page however
/// many came before it.
#[utoipa::path(get, path = "/api/v1/numbers/waivers", tag = "numbers", params(InboxQuery),
    security(("bearer" = [])), responses((status = 200, body = WaiverPage)))]
pub async fn inbox(
    State(state): State<NumberState>,
    principal: Principal,
    haoka_core::problem::Query(q): haoka_core::problem::Query<InboxQuery>,
) -> Result<Json<WaiverPage>, ApiError> {
    let (page_no, size) = haoka_core::paging::Paging {
        page: q.page,
        page_size: q.page_size,
    }
    .resolve()?;
    let province = principal.listing_province(q.province_code.as_ref())?;
    let status = q.status.unwrap_or(WaiverStatus::Pending);
    let mut f = Filter::default();
    f.eq("province_code", Some(province.as_str()))
        .eq("status", Some(status.db()));
    let order = match status {
        WaiverStatus::Pending => "waiver_id",
        _ => "waiver_id DESC",
    };
    let mut c = state.db.conn().await?;
    let (total, rows) = page(&mut c, "premium_waiver", COLUMNS, order, f, (page_no, size)).await?;
    Ok(Json(WaiverPage {
        items: rows.iter().map(from_row).collect(),
        total,
        page: page_no,
        page_size: size,
    }))
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/waivers", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = WaiverRequest,
    security(("bearer" = [])), responses((status = 201, body = WaiverView)))]
pub async fn request_waiver(
    State(state): State<NumberState>,
    principal: Principal,
    Path(no): Path<String>,
    Json(req): Json<WaiverRequest>,
) -> Result<Response, ApiError> {
    validate::text("reason", &req.reason, 1, 256)?;
    let (l, level, status) = premium_number(&state, &principal, &no).await?;
    if let Some(st) = status.filter(|s| s.sold()) {
        // Sold: its fees were settled at the sale (result code 0004).
        return Err(ApiError::Refused {
            code: "state_not_usable",
            message: format!("{} is {st}: a sold number takes no waiver", l.no),
        });
    }
    let mut tx = state.db.begin().await?;
    let fees = level_of(&mut tx, level)
        .await?
        .filter(|_| level != super::premium::ORDINARY)
        .ok_or_else(|| ApiError::Conflict(format!("{} is not a premium number", l.no)))?;
    if req.deposit_waived_cents < 0
        || req.monthly_waived_cents < 0
        || req.deposit_waived_cents + req.monthly_waived_cents == 0
    {
        return Err(ApiError::Invalid(
            "waive 0 or more cents of the pre-deposit and of the monthly spend, not both 0".into(),
        ));
    }
    // Within the request's rules but above what this number's level costs.
    if req.deposit_waived_cents > fees.pre_deposit_cents
        || req.monthly_waived_cents > fees.min_monthly_spend_cents
    {
        return Err(ApiError::Conflict(format!(
            "level {level} fees are {} cents pre-deposit and {} cents monthly spend: waive no more",
            fees.pre_deposit_cents, fees.min_monthly_spend_cents
        )));
    }
    let id = insert_id(
        &mut tx,
        "INSERT INTO premium_waiver (phone_no, province_code, deposit_waived_cents, monthly_waived_cents, \
         reason, requested_by) VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            l.no.as_str().into(),
            l.area.province.as_str().into(),
            req.deposit_waived_cents.into(),
            req.monthly_waived_cents.into(),
            req.reason.as_str().into(),
            principal.staff_id.into(),
        ],
    )
    .await?;
    haoka_core::oplog::record(
        &mut tx,
        &principal,
        haoka_core::oplog::Change {
            action: "premium_waiver.request",
            object_kind: "premium_waiver",
            object_id: id.to_string(),
            province: Some(&l.area.province),
            before: None,
            after: Some(serde_json::json!({"phone_no": l.no.as_str(),
                "deposit_waived_cents": req.deposit_waived_cents,
                "monthly_waived_cents": req.monthly_waived_cents})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut c = state.db.conn().await?;
    let view = waivers(&mut c, l.no.as_str())
        .await?
        .into_iter()
        .find(|w| w.waiver_id == id)
        .ok_or_else(|| ApiError::Internal("waiver not read back".into()))?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/api/v1/numbers/{no}/waivers", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")),
    security(("bearer" = [])), responses((status = 200, body = Vec<WaiverView>)))]
pub async fn list_waivers(
    State(state): State<NumberState>,
    principal: Principal,
    Path(no): Path<String>,
) -> Result<Json<Vec<WaiverView>>, ApiError> {
    let l = locate(&state, &no).await?;
    principal.scope.check(Some(&l.area.province))?;
    let mut c = state.db.conn().await?;
    Ok(Json(waivers(&mut c, l.no.as_str()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/waivers/{id}/approve", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$"), ("id" = i64, Path, description = "the waiver id")), request_body = Decision,
    security(("bearer" = [])), responses((status = 200, body = WaiverView)))]
pub async fn approve(
    state: State<NumberState>,
    principal: Principal,
    path: Path<(String, i64)>,
    body: Json<Decision>,
) -> Result<Json<WaiverView>, ApiError> {
    decide(state, principal, path, body, WaiverStatus::Approved).await
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/waivers/{id}/reject", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$"), ("id" = i64, Path, description = "the waiver id")), request_body = Decision,
    security(("bearer" = [])), responses((status = 200, body = WaiverView)))]
pub async fn reject(
    state: State<NumberState>,
    principal: Principal,
    path: Path<(String, i64)>,
    body: Json<Decision>,
) -> Result<Json<WaiverView>, ApiError> {
    decide(state, principal, path, body, WaiverStatus::Rejected).await
}

async fn decide(
    State(state): State<NumberState>,
    principal: Principal,
    Path((no, id)): Path<(String, i64)>,
    Json(req): Json<Decision>,
    to: WaiverStatus,
) -> Result<Json<WaiverView>, ApiError> {
    if let Some(n) = &req.note {
        validate::text("note", n, 0, 256)?;
    }
    let l = locate(&state, &no).await?;
    principal.scope.check(Some(&l.area.province))?;
    let mut tx = state.db.begin().await?;
    let row: Option<(String, i64)> = tx
        .exec_first(
            "SELECT status, requested_by FROM premium_waiver WHERE phone_no = ? AND waiver_id = ? FOR UPDATE",
            (l.no.as_str(), id),
        )
        .await?;
    let (status, requester) = row.ok_or_else(|| ApiError::not_found("waiver", id))?;
    if status != "P" {
        return Err(ApiError::Conflict(format!(
            "waiver {id} is already {:?}",
            WaiverStatus::from_db(&status)
        )));
    }
    if requester == principal.staff_id {
        return Err(ApiError::Conflict(
            "a waiver must be decided by someone other than its requester".into(),
        ));
    }
    tx.exec_drop(
        "UPDATE premium_waiver SET status = ?, decided_by = ?, decision_note = ?, decided_at = NOW(3) \
         WHERE phone_no = ? AND waiver_id = ? AND status = 'P'",
        (to.db(), principal.staff_id, req.note.as_deref(), l.no.as_str(), id),
    )
    .await?;
    haoka_core::oplog::record(
        &mut tx,
        &principal,
        haoka_core::oplog::Change {
            action: if to == WaiverStatus::Approved {
                "premium_waiver.approve"
            } else {
                "premium_waiver.reject"
            },
            object_kind: "premium_waiver",
            object_id: id.to_string(),
            province: Some(&l.area.province),
            before: Some(serde_json::json!({"status": "pending"})),
            after: Some(serde_json::json!({"status": to, "note": req.note})),
        },
    )
    .await?;
    tx.commit().await?;
    let mut c = state.db.conn().await?;
    waivers(&mut c, l.no.as_str())
        .await?
        .into_iter()
        .find(|w| w.waiver_id == id)
        .map(Json)
        .ok_or_else(|| ApiError::Internal("waiver not read back".into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Fee {
    pub phone_no: String,
    pub premium_level: u8,
    pub level_name: String,
    pub term_months: i32,
    pub pre_deposit_cents: i64,
    pub min_monthly_spend_cents: i64,
    pub waived_deposit_cents: i64,
    pub waived_monthly_cents: i64,
    pub due_deposit_cents: i64,
    pub due_monthly_cents: i64,
}

/// 机号费用查询.
#[utoipa::path(get, path = "/api/v1/numbers/{no}/fee", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")),
    security(("bearer" = [])), responses((status = 200, body = Fee)))]
pub async fn fee(
    State(state): State<NumberState>,
    principal: Principal,
    Path(no): Path<String>,
) -> Result<Json<Fee>, ApiError> {
    let (l, level, _) = premium_number(&state, &principal, &no).await?;
    let mut c = state.db.conn().await?;
    let fees = level_of(&mut c, level)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("premium level {level} has no fees")))?;
    let approved = waivers(&mut c, l.no.as_str())
        .await?
        .into_iter()
        .filter(|w| w.status == WaiverStatus::Approved);
    let (wd, wm) = approved.fold((0i64, 0i64), |(d, m), w| {
        (d + w.deposit_waived_cents, m + w.monthly_waived_cents)
    });
    let wd = wd.min(fees.pre_deposit_cents);
    let wm = wm.min(fees.min_monthly_spend_cents);
    Ok(Json(Fee {
        phone_no: l.no.to_string(),
        premium_level: level,
        level_name: fees.name,
        term_months: fees.term_months,
        pre_deposit_cents: fees.pre_deposit_cents,
        min_monthly_spend_cents: fees.min_monthly_spend_cents,
        waived_deposit_cents: wd,
        waived_monthly_cents: wm,
        due_deposit_cents: fees.pre_deposit_cents - wd,
        due_monthly_cents: fees.min_monthly_spend_cents - wm,
    }))
}
