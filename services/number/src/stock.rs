//! 号码库存: what a province holds, for people — the stock list with
//! filters (paged on the server), counts by status, today's activity, and
//! the transition table (which target statuses a number may be moved to).
//! Only pools the caller may view are shown, as in 选号.

use axum::extract::State;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::status::NumberStatus;
use super::transition::TRANSITIONS;
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, page, Filter};
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Query};

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    /// Default: the caller's own province (headquarters staff must name one).
    pub province_code: Option<ProvinceCode>,
    #[param(pattern = "^[0-9]{3}$")]
    pub city_code: Option<String>,
    pub status: Option<NumberStatus>,
    pub depot_id: Option<i64>,
    pub pool_id: Option<i64>,
    /// Premium level 1-6, or 9 for ordinary numbers.
    #[param(schema_with = level_schema)]
    pub level: Option<u8>,
    /// Numbers starting with these digits.
    #[param(pattern = "^1[0-9]{0,10}$")]
    pub prefix: Option<String>,
    /// Keyset paging: the numbers after this one (the last `phone_no` of
    /// the previous page), in number order; `page` is then ignored, so deep
    /// pages cost no OFFSET scan. Ignored by the counts.
    #[param(pattern = "^1[0-9]{10}$")]
    pub after: Option<String>,
    /// Ignored by the counts.
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200, default = 20)]
    pub page_size: Option<u32>,
}

fn level_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .enum_values(Some([1, 2, 3, 4, 5, 6, 9]))
        .build()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockNumber {
    pub phone_no: String,
    pub province_code: String,
    pub city_code: String,
    pub status: NumberStatus,
    pub premium_level: u8,
    pub pool_id: Option<i64>,
    pub depot_id: Option<i64>,
    pub hold_deadline: Option<haoka_core::time::Timestamp>,
    pub frozen_until: Option<haoka_core::time::Timestamp>,
    pub updated_at: haoka_core::time::Timestamp,
}

haoka_core::paged!(StockPage, StockNumber);

const COLUMNS: &str = concat!(
    "phone_no, province_code, city_code, status, premium_level, pool_id, depot_id, ",
    haoka_core::ts_col!("hold_deadline"),
    ", ",
    haoka_core::ts_col!("frozen_until"),
    ", ",
    haoka_core::ts_col!("updated_at")
);

/// The province asked about (checked against the caller's scope) and the
/// WHERE clause of the query's filters, limited to viewable pools.
async fn filter(
    state: &NumberState,
    p: Principal,
    q: &StockQuery,
) -> Result<(String, Option<Filter>), ApiError> {
    let province = p.listing_province(q.province_code.as_ref())?;
    let actor = Actor::Staff(p);
    if let Some(c) = &q.city_code {
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::Invalid("city_code must be 3 digits".into()));
        }
    }
    if let Some(pre) = &q.prefix {
        if !pre.starts_with('1') || pre.len() > 11 || !pre.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::Invalid(
                "prefix must be 1 to 11 digits starting with 1".into(),
            ));
        }
    }
    if let Some(after) = &q.after {
        if after.len() != 11
            || !after.starts_with('1')
            || !after.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ApiError::Invalid(
                "after must be an 11-digit number starting with 1".into(),
            ));
        }
    }
    if q.level.is_some_and(|l| !(1..=6).contains(&l) && l != 9) {
        return Err(ApiError::Invalid("level must be 1 to 6, or 9".into()));
    }
    let rights = state.center.grants.rights(&state.db, &actor).await?;
    if q.pool_id.is_some() && !rights.can_view(q.pool_id) {
        // A pool the caller may not view looks empty, not forbidden.
        return Ok((province, None));
    }
    let mut f = Filter::default();
    f.eq("province_code", Some(province.as_str()))
        .eq("city_code", q.city_code.as_deref())
        .eq("status", q.status.map(|s| s.code()))
        .eq("depot_id", q.depot_id)
        .eq("pool_id", q.pool_id)
        .eq("premium_level", q.level)
        .starts_with("phone_no", q.prefix.as_deref());
    if q.pool_id.is_none() && !rights.all {
        let pools = rights.viewable_in(&province);
        if pools.is_empty() {
            f.condition("pool_id IS NULL".into(), vec![]);
        } else {
            f.condition(
                format!(
                    "(pool_id IS NULL OR pool_id IN ({}))",
                    haoka_core::db::marks(pools.len())
                ),
                pools.into_iter().map(Value::from).collect(),
            );
        }
    }
    Ok((province, Some(f)))
}

/// A page of the numbers after `after` (checked by `filter`; total: all
/// the filter matches).
async fn keyset(
    c: &mut mysql_async::Conn,
    mut f: Filter,
    after: &str,
    size: u32,
) -> Result<(i64, Vec<mysql_async::Row>), ApiError> {
    let total: Option<i64> = c
        .exec_first(
            format!("SELECT COUNT(*) FROM phone_number{}", f.sql()),
            f.params.clone(),
        )
        .await?;
    f.condition("phone_no > ?".into(), vec![after.into()]);
    let rows = c
        .exec(
            format!(
                "SELECT {COLUMNS} FROM phone_number{} ORDER BY phone_no LIMIT {size}",
                f.sql()
            ),
            f.params,
        )
        .await?;
    Ok((total.unwrap_or(0), rows))
}

fn paging(q: &StockQuery) -> Result<(u32, u32), ApiError> {
    haoka_core::paging::Paging {
        page: q.page,
        page_size: q.page_size,
    }
    .resolve()
}

#[utoipa::path(get, path = "/api/v1/numbers", tag = "numbers", params(StockQuery),
    security(("bearer" = [])), responses((status = 200, body = StockPage)))]
pub async fn list_numbers(
    State(state): State<NumberState>,
    p: Principal,
    Query(q): Query<StockQuery>,
) -> Result<Json<StockPage>, ApiError> {
    let (page_no, size) = paging(&q)?;
    let (_, f) = filter(&state, p, &q).await?;
    let Some(f) = f else {
        return Ok(Json(StockPage {
            items: vec![],
            total: 0,
            page: page_no,
            page_size: size,
        }));
    };
    let mut c = state.db.conn().await?;
    let (total, rows) = match &q.after {
        None => {
            page(
                &mut c,
                "phone_number",
                COLUMNS,
                "phone_no",
                f,
                (page_no, size),
            )
            .await?
        }
        Some(after) => keyset(&mut c, f, after, size).await?,
    };
    let items = rows
        .iter()
        .map(|r| {
            let st: String = col(r, 3);
            Ok(StockNumber {
                phone_no: col(r, 0),
                province_code: col(r, 1),
                city_code: col(r, 2),
                status: NumberStatus::from_code(&st)
                    .ok_or_else(|| ApiError::Internal(format!("number with status {st:?}")))?,
                premium_level: col(r, 4),
                pool_id: col(r, 5),
                depot_id: col(r, 6),
                hold_deadline: col(r, 7),
                frozen_until: col(r, 8),
                updated_at: col(r, 9),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(StockPage {
        items,
        total,
        page: page_no,
        page_size: size,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusCount {
    pub status: NumberStatus,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockCounts {
    pub province_code: String,
    pub total: i64,
    /// Statuses with at least one number, in code order.
    pub by_status: Vec<StatusCount>,
}

/// How many numbers match the filters, per status (paging is ignored).
#[utoipa::path(get, path = "/api/v1/numbers/counts", tag = "numbers", params(StockQuery),
    security(("bearer" = [])), responses((status = 200, body = StockCounts)))]
pub async fn count_numbers(
    State(state): State<NumberState>,
    p: Principal,
    Query(q): Query<StockQuery>,
) -> Result<Json<StockCounts>, ApiError> {
    // The paging is ignored, but a bad one is still a bad request.
    paging(&q)?;
    let (province, f) = filter(&state, p, &q).await?;
    let mut by_status = Vec::new();
    if let Some(f) = f {
        let mut c = state.db.conn().await?;
        let rows: Vec<(String, i64)> = c
            .exec(
                format!(
                    "SELECT status, COUNT(*) FROM phone_number{} GROUP BY status",
                    f.sql()
                ),
                f.params,
            )
            .await?;
        for (code, count) in rows {
            let status = NumberStatus::from_code(&code)
                .ok_or_else(|| ApiError::Internal(format!("number with status {code:?}")))?;
            by_status.push(StatusCount { status, count });
        }
    }
    by_status.sort_by_key(|s| s.status);
    Ok(Json(StockCounts {
        province_code: province,
        total: by_status.iter().map(|s| s.count).sum(),
        by_status,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Default: the caller's own province.
    pub province_code: Option<ProvinceCode>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionCount {
    /// The history verb: intake, hold, extend, release, sell, expire, ...
    pub action: String,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Activity {
    pub province_code: String,
    /// The day counted (the database's date).
    pub day: String,
    pub by_action: Vec<ActionCount>,
}

/// Today's number history of a province, counted per action (选占, 实占,
/// 入库...). It reads the province's history of the day: the report center
/// keeps the long-range statistics.
#[utoipa::path(get, path = "/api/v1/numbers/activity", tag = "numbers", params(ActivityQuery),
    security(("bearer" = [])), responses((status = 200, body = Activity)))]
pub async fn activity(
    State(state): State<NumberState>,
    p: Principal,
    Query(q): Query<ActivityQuery>,
) -> Result<Json<Activity>, ApiError> {
    let stock = StockQuery {
        province_code: q.province_code,
        ..StockQuery::default()
    };
    let (province, _) = filter(&state, p, &stock).await?;
    let mut c = state.db.conn().await?;
    let day: Option<String> = c
        .query_first("SELECT DATE_FORMAT(CURDATE(), '%Y-%m-%d')")
        .await?;
    let day = day.unwrap_or_default();
    let mut by_action: Vec<ActionCount> = c
        .exec(
            "SELECT action, COUNT(*) FROM number_history WHERE province_code = ? \
             AND created_at >= ? GROUP BY action",
            (province.as_str(), day.as_str()),
        )
        .await?
        .into_iter()
        .map(|(action, count): (String, i64)| ActionCount { action, count })
        .collect();
    by_action.sort_by(|a, b| a.action.cmp(&b.action));
    Ok(Json(Activity {
        province_code: province,
        day,
        by_action,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransitionView {
    pub from: NumberStatus,
    pub to: NumberStatus,
    /// The history verb it writes.
    pub action: String,
    /// Who drives it: `manual` (POST /api/v1/numbers/status), `hold` (the
    /// hold API with the key), `system` (expiry, aging) or `card` (pairing).
    pub door: String,
}

/// The number status transition table: every allowed change and its door.
#[utoipa::path(get, path = "/api/v1/numbers/transitions", tag = "numbers",
    security(("bearer" = [])), responses((status = 200, body = Vec<TransitionView>)))]
pub async fn transitions() -> Json<Vec<TransitionView>> {
    Json(
        TRANSITIONS
            .iter()
            .map(|t| TransitionView {
                from: t.from,
                to: t.to,
                action: t.action.name().to_string(),
                door: t.door.code().to_string(),
            })
            .collect(),
    )
}
