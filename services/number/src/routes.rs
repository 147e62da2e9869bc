//! The number center's HTTP surface: staff endpoints under /api/v1/numbers
//! (each behind its permission) and channel endpoints under
//! /api/v1/open/numbers (behind the channel signature gate).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Extension, Router};
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::history::{self, HistoryView};
use super::hold::{self, HoldRequest, KeyRequest, Op};
use super::status::NumberStatus;
use super::{change, intake, locate, pool, retire, rules, select, stock, waiver, NumberResult};
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::channel_sign::ChannelCaller;
use haoka_core::auth::rbac::{guarded, Permission::*, Principal};
use haoka_core::db::{col, insert_id};
use haoka_core::domain::ProvinceCode;
use haoka_core::interface_log;
use haoka_core::problem::{ApiError, Json, Path};
use haoka_core::validate;

/// The center's routes, with its state.
pub fn router(state: &NumberState) -> Router {
    let s = state;
    let open = Router::new()
        .route("/api/v1/open/numbers/select", get(select::channel_select))
        .route("/api/v1/open/numbers/{no}/hold", post(channel_hold))
        .route("/api/v1/open/numbers/{no}/extend", post(channel_extend))
        .route("/api/v1/open/numbers/{no}/release", post(channel_release))
        .route("/api/v1/open/numbers/{no}/sell", post(channel_sell))
        .layer(axum::middleware::from_fn_with_state(
            state.shared.clone(),
            interface_log::gate,
        ));
    Router::new()
        .route(
            "/api/v1/numbers",
            guarded(s, NumberRead, get(stock::list_numbers)),
        )
        .route(
            "/api/v1/numbers/counts",
            guarded(s, NumberRead, get(stock::count_numbers)),
        )
        .route(
            "/api/v1/numbers/activity",
            guarded(s, NumberRead, get(stock::activity)),
        )
        .route(
            "/api/v1/numbers/transitions",
            guarded(s, NumberRead, get(stock::transitions)),
        )
        .route(
            "/api/v1/numbers/waivers",
            guarded(s, PremiumRead, get(waiver::inbox)),
        )
        .route(
            "/api/v1/numbers/intake",
            guarded(s, NumberWrite, post(intake::intake)),
        )
        .route(
            "/api/v1/numbers/status",
            guarded(s, NumberWrite, post(change::change_status)),
        )
        .route(
            "/api/v1/numbers/depot",
            guarded(s, NumberWrite, post(change::move_depot)),
        )
        .route(
            "/api/v1/numbers/depots",
            guarded(s, NumberRead, get(list_depots)).merge(guarded(
                s,
                NumberWrite,
                post(create_depot),
            )),
        )
        .route(
            "/api/v1/numbers/depots/{id}",
            guarded(s, NumberWrite, patch(retire::set_depot_status)),
        )
        .route(
            "/api/v1/numbers/pools/{id}",
            guarded(s, PoolWrite, patch(retire::set_pool_status)),
        )
        .route(
            "/api/v1/numbers/select",
            guarded(s, NumberRead, get(select::staff_select)),
        )
        .route(
            "/api/v1/numbers/pools",
            guarded(s, NumberRead, get(pool::list_pools)).merge(guarded(
                s,
                PoolWrite,
                post(pool::create_pool),
            )),
        )
        .route(
            "/api/v1/numbers/pools/{id}/numbers",
            guarded(s, PoolWrite, post(pool::assign_numbers)),
        )
        .route(
            "/api/v1/numbers/pools/{id}/grants",
            guarded(s, PoolWrite, get(pool::list_grants)).merge(guarded(
                s,
                PoolWrite,
                put(pool::put_grant),
            )),
        )
        .route(
            "/api/v1/numbers/premium/rules",
            guarded(s, PremiumRead, get(rules::list_rules)).merge(guarded(
                s,
                PremiumWrite,
                post(rules::create_rule),
            )),
        )
        .route(
            "/api/v1/numbers/premium/rules/{id}",
            guarded(s, PremiumWrite, patch(rules::update_rule)),
        )
        .route(
            "/api/v1/numbers/premium/levels",
            guarded(s, PremiumRead, get(rules::list_levels)),
        )
        .route(
            "/api/v1/numbers/premium/reclassify",
            guarded(s, PremiumWrite, post(rules::reclassify)),
        )
        .route(
            "/api/v1/numbers/{no}",
            guarded(s, NumberRead, get(get_number)),
        )
        .route(
            "/api/v1/numbers/{no}/history",
            guarded(s, NumberRead, get(number_history)),
        )
        .route(
            "/api/v1/numbers/{no}/hold",
            guarded(s, NumberHold, post(staff_hold)),
        )
        .route(
            "/api/v1/numbers/{no}/extend",
            guarded(s, NumberHold, post(staff_extend)),
        )
        .route(
            "/api/v1/numbers/{no}/release",
            guarded(s, NumberHold, post(staff_release)),
        )
        .route(
            "/api/v1/numbers/{no}/sell",
            guarded(s, NumberHold, post(staff_sell)),
        )
        .route(
            "/api/v1/numbers/{no}/fee",
            guarded(s, PremiumRead, get(waiver::fee)),
        )
        .route(
            "/api/v1/numbers/{no}/waivers",
            guarded(s, PremiumRead, get(waiver::list_waivers)).merge(guarded(
                s,
                PremiumWrite,
                post(waiver::request_waiver),
            )),
        )
        .route(
            "/api/v1/numbers/{no}/waivers/{id}/approve",
            guarded(s, PremiumApprove, post(waiver::approve)),
        )
        .route(
            "/api/v1/numbers/{no}/waivers/{id}/reject",
            guarded(s, PremiumApprove, post(waiver::reject)),
        )
        .merge(open)
        .with_state(state.clone())
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/hold", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = HoldRequest,
    security(("bearer" = [])), responses((status = 200, body = NumberResult)))]
pub async fn staff_hold(
    State(state): State<NumberState>,
    p: Principal,
    Path(no): Path<String>,
    Json(req): Json<HoldRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    Ok(Json(hold::hold(&state, &Actor::Staff(p), &no, req).await?))
}

async fn staff_op(
    state: NumberState,
    p: Principal,
    no: String,
    op: Op,
    req: KeyRequest,
) -> Result<Json<NumberResult>, ApiError> {
    Ok(Json(
        hold::act(&state, &Actor::Staff(p), &no, op, req).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/extend", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = KeyRequest,
    security(("bearer" = [])), responses((status = 200, body = NumberResult)))]
pub async fn staff_extend(
    State(state): State<NumberState>,
    p: Principal,
    Path(no): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    staff_op(state, p, no, Op::Extend, req).await
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/release", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = KeyRequest,
    security(("bearer" = [])), responses((status = 200, body = NumberResult)))]
pub async fn staff_release(
    State(state): State<NumberState>,
    p: Principal,
    Path(no): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    staff_op(state, p, no, Op::Release, req).await
}

#[utoipa::path(post, path = "/api/v1/numbers/{no}/sell", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = KeyRequest,
    security(("bearer" = [])), responses((status = 200, body = NumberResult)))]
pub async fn staff_sell(
    State(state): State<NumberState>,
    p: Principal,
    Path(no): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    staff_op(state, p, no, Op::Sell, req).await
}

#[utoipa::path(post, path = "/api/v1/open/numbers/{no}/hold", tag = "channel api", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = HoldRequest,
    security(("channel_signature" = [])), responses((status = 200, body = NumberResult)))]
pub async fn channel_hold(
    State(state): State<NumberState>,
    Extension(c): Extension<ChannelCaller>,
    Path(no): Path<String>,
    Json(req): Json<HoldRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    Ok(Json(
        hold::hold(&state, &Actor::Channel(c), &no, req).await?,
    ))
}

async fn channel_op(
    state: NumberState,
    c: ChannelCaller,
    no: String,
    op: Op,
    req: KeyRequest,
) -> Result<Json<NumberResult>, ApiError> {
    Ok(Json(
        hold::act(&state, &Actor::Channel(c), &no, op, req).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/open/numbers/{no}/extend", tag = "channel api", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = KeyRequest,
    security(("channel_signature" = [])), responses((status = 200, body = NumberResult)))]
pub async fn channel_extend(
    State(state): State<NumberState>,
    Extension(c): Extension<ChannelCaller>,
    Path(no): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    channel_op(state, c, no, Op::Extend, req).await
}

#[utoipa::path(post, path = "/api/v1/open/numbers/{no}/release", tag = "channel api", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = KeyRequest,
    security(("channel_signature" = [])), responses((status = 200, body = NumberResult)))]
pub async fn channel_release(
    State(state): State<NumberState>,
    Extension(c): Extension<ChannelCaller>,
    Path(no): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    channel_op(state, c, no, Op::Release, req).await
}

#[utoipa::path(post, path = "/api/v1/open/numbers/{no}/sell", tag = "channel api", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")), request_body = KeyRequest,
    security(("channel_signature" = [])), responses((status = 200, body = NumberResult)))]
pub async fn channel_sell(
    State(state): State<NumberState>,
    Extension(c): Extension<ChannelCaller>,
    Path(no): Path<String>,
    Json(req): Json<KeyRequest>,
) -> Result<Json<NumberResult>, ApiError> {
    channel_op(state, c, no, Op::Sell, req).await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NumberView {
    pub phone_no: String,
    pub province_code: String,
    pub city_code: String,
    pub status: NumberStatus,
    pub premium_level: u8,
    pub pool_id: Option<i64>,
    pub depot_id: Option<i64>,
    /// Shown only to the staff member holding the number (a hold key is
    /// the holder's proof; nobody else gets to read it).
    pub hold_key: Option<String>,
    pub hold_channel_id: Option<i64>,
    pub hold_staff_id: Option<i64>,
    pub hold_deadline: Option<haoka_core::time::Timestamp>,
    pub frozen_until: Option<haoka_core::time::Timestamp>,
    pub version: i64,
}

#[utoipa::path(get, path = "/api/v1/numbers/{no}", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")),
    security(("bearer" = [])), responses((status = 200, body = NumberView)))]
pub async fn get_number(
    State(state): State<NumberState>,
    p: Principal,
    Path(no): Path<String>,
) -> Result<Json<NumberView>, ApiError> {
    let l = locate(&state, &no).await?;
    let viewer = p.staff_id;
    let actor = Actor::Staff(p);
    actor.check_province(&l.area.province)?;
    let rights = state.center.grants.rights(&state.db, &actor).await?;
    let mut c = state.db.conn().await?;
    let row: Option<mysql_async::Row> = c
        .exec_first(
            concat!(
                "SELECT phone_no, province_code, city_code, status, premium_level, pool_id, depot_id, \
                 hold_key, hold_channel_id, hold_staff_id, ",
                haoka_core::ts_col!("hold_deadline"),
                ", ",
                haoka_core::ts_col!("frozen_until"),
                ", version FROM phone_number WHERE phone_no = ?"
            ),
            (l.no.as_str(),),
        )
        .await?;
    let r = row.ok_or_else(|| ApiError::not_found("number", l.no))?;
    let hold_channel_id: Option<i64> = col(&r, 8);
    let hold_staff_id: Option<i64> = col(&r, 9);
    let holder = hold_channel_id.is_none() && hold_staff_id == Some(viewer);
    let view = NumberView {
        phone_no: col(&r, 0),
        province_code: col(&r, 1),
        city_code: col(&r, 2),
        status: NumberStatus::from_code(&col::<String>(&r, 3))
            .ok_or_else(|| ApiError::Internal("bad status".into()))?,
        premium_level: col(&r, 4),
        pool_id: col(&r, 5),
        depot_id: col(&r, 6),
        hold_key: col::<Option<String>>(&r, 7).filter(|_| holder),
        hold_channel_id,
        hold_staff_id,
        hold_deadline: col(&r, 10),
        frozen_until: col(&r, 11),
        version: col(&r, 12),
    };
    if !rights.can_view(view.pool_id) {
        return Err(ApiError::not_found("number", l.no));
    }
    Ok(Json(view))
}

#[utoipa::path(get, path = "/api/v1/numbers/{no}/history", tag = "numbers", params(("no" = String, Path, description = "the phone number", pattern = "^1[0-9]{10}$")),
    security(("bearer" = [])), responses((status = 200, body = Vec<HistoryView>)))]
pub async fn number_history(
    State(state): State<NumberState>,
    p: Principal,
    Path(no): Path<String>,
) -> Result<Json<Vec<HistoryView>>, ApiError> {
    let l = locate(&state, &no).await?;
    p.scope.check(Some(&l.area.province))?;
    let viewer = p.staff_id;
    let actor = Actor::Staff(p);
    let rights = state.center.grants.rights(&state.db, &actor).await?;
    let mut c = state.db.conn().await?;
    // The history of a number the caller may not view is not theirs either.
    let pool: Option<Option<i64>> = c
        .exec_first(
            "SELECT pool_id FROM phone_number WHERE phone_no = ?",
            (l.no.as_str(),),
        )
        .await?;
    if pool.is_some_and(|p| !rights.can_view(p)) {
        return Err(ApiError::not_found("number", l.no));
    }
    let mut rows = history::of_number(&mut c, l.no.as_str()).await?;
    history::mask_keys(&mut rows, viewer);
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepot {
    pub province_code: ProvinceCode,
    #[schema(pattern = "^[0-9]{3}$")]
    pub city_code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DepotView {
    pub depot_id: i64,
    pub province_code: String,
    pub city_code: String,
    pub name: String,
}

/// 库位: a stock location (a broadcast table, shared with the card center).
#[utoipa::path(post, path = "/api/v1/numbers/depots", tag = "numbers", request_body = NewDepot,
    security(("bearer" = [])), responses((status = 201, body = DepotView)))]
pub async fn create_depot(
    State(state): State<NumberState>,
    p: Principal,
    Json(req): Json<NewDepot>,
) -> Result<Response, ApiError> {
    validate::text("name", &req.name, 1, 64)?;
    p.scope.check(Some(req.province_code.as_str()))?;
    let segs = state.center.segments(&state.db).await?;
    if !segs.city_in(req.province_code.as_str(), &req.city_code) {
        return Err(super::unknown_city(
            req.province_code.as_str(),
            &req.city_code,
        ));
    }
    let mut c = state.db.conn().await?;
    let id = insert_id(
        &mut c,
        "INSERT INTO depot (province_code, city_code, name) VALUES (?, ?, ?)",
        vec![
            req.province_code.as_str().into(),
            req.city_code.as_str().into(),
            req.name.as_str().into(),
        ],
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(DepotView {
            depot_id: id,
            province_code: req.province_code.to_string(),
            city_code: req.city_code,
            name: req.name,
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DepotQuery {
    pub province_code: ProvinceCode,
}

#[utoipa::path(get, path = "/api/v1/numbers/depots", tag = "numbers", params(DepotQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<DepotView>)))]
pub async fn list_depots(
    State(state): State<NumberState>,
    p: Principal,
    haoka_core::problem::Query(q): haoka_core::problem::Query<DepotQuery>,
) -> Result<Json<Vec<DepotView>>, ApiError> {
    p.scope.check(Some(q.province_code.as_str()))?;
    let mut c = state.db.conn().await?;
    Ok(Json(
        active_depots(&mut c, q.province_code.as_str(), Holding::Numbers).await?,
    ))
}

/// What a depot is asked to hold.
#[derive(Debug, Clone, Copy)]
pub enum Holding {
    Numbers,
    Cards,
}

/// The active depots of a province that hold numbers (or cards).
pub async fn active_depots<Q: Queryable>(
    c: &mut Q,
    province: &str,
    holding: Holding,
) -> Result<Vec<DepotView>, ApiError> {
    let column = match holding {
        Holding::Numbers => "holds_numbers",
        Holding::Cards => "holds_cards",
    };
    let rows: Vec<(i64, String, String, String)> = c
        .exec(
            format!(
                "SELECT depot_id, province_code, city_code, name FROM depot WHERE province_code = ? \
                 AND {column} = 1 AND status = 'A' ORDER BY depot_id"
            ),
            (province,),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(depot_id, province_code, city_code, name)| DepotView {
            depot_id,
            province_code,
            city_code,
            name,
        })
        .collect())
}
