//! `POST /api/v1/cards/transfers` opens a transfer (by ICCIDs, or any
//! `count` in-stock cards of the source depot); `GET
//! /api/v1/cards/transfers/{transfer_id}` shows where it stands; `GET
//! /api/v1/cards/transfers` lists a province's transfers out or in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use super::depot::{self, Depot};
use super::source::{self, Selection};
use super::TransferStatus;
use crate::parse_list;
use crate::CardState;
use haoka_core::auth::rbac::{guarded, Permission::CardTransfer, Principal};
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Path};

pub fn router(state: &CardState) -> Router<CardState> {
    Router::new()
        .route(
            "/api/v1/cards/transfers",
            guarded(state, CardTransfer, post(create).get(list)),
        )
        .route(
            "/api/v1/cards/transfers/{transfer_id}",
            guarded(state, CardTransfer, get(show)),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub from_depot_id: i64,
    pub to_depot_id: i64,
    /// The cards, by ICCID; or else
    pub iccids: Option<Vec<String>>,
    /// any this many in-stock cards of the source depot.
    pub count: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransferView {
    pub transfer_id: i64,
    pub province_code: String,
    pub target_province_code: String,
    pub from_depot_id: i64,
    pub to_depot_id: i64,
    pub card_count: i64,
    pub status: TransferStatus,
    pub message_id: Option<String>,
    pub created_at: haoka_core::time::Timestamp,
    pub finished_at: Option<haoka_core::time::Timestamp>,
}

#[utoipa::path(post, operation_id = "card_transfer_create", path = "/api/v1/cards/transfers", tag = "cards", request_body = TransferRequest, security(("bearer" = [])),
    responses((status = 201, description = "moved at once (inside a province)", body = TransferView),
        (status = 202, description = "in transit to another province", body = TransferView)))]
pub async fn create(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<TransferRequest>,
) -> Result<Response, ApiError> {
    let max = state.center.cfg.max_per_request;
    let selection = match (&req.iccids, req.count) {
        (Some(list), None) => Selection::Iccids(parse_list(list, max)?),
        (None, Some(n)) if (1..=max).contains(&n) => Selection::Count(n),
        (None, Some(n)) => {
            return Err(ApiError::Invalid(format!(
                "count must be 1 to {max} (got {n})"
            )))
        }
        _ => {
            return Err(ApiError::Invalid(
                "name the cards either by iccids or by count, not both".into(),
            ))
        }
    };
    if req.from_depot_id == req.to_depot_id {
        // Well formed, but moves nothing anywhere.
        return Err(ApiError::Conflict(
            "from_depot_id and to_depot_id are the same depot".into(),
        ));
    }
    let mut c = state.db.conn().await?;
    let from = known_depot(&mut c, req.from_depot_id, "from_depot_id").await?;
    let to = known_depot(&mut c, req.to_depot_id, "to_depot_id").await?;
    drop(c);
    p.scope.check(Some(&from.province))?;
    if from.province == to.province {
        // Inside a province the move is immediate: the depot must take cards.
        if let Some(why) = to.refuses_cards() {
            return Err(ApiError::Invalid(why));
        }
    }
    // Across provinces the target province decides when the message
    // arrives (it may refuse: the cards then come back).
    let opened = open(&state, p.staff_id, &from, &to, &selection).await?;
    super::after_commit(&state, &opened);
    let code = match opened.status {
        TransferStatus::Pending => StatusCode::ACCEPTED,
        _ => StatusCode::CREATED,
    };
    let view = load(&state, opened.transfer_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the transfer just opened is not there".into()))?;
    Ok((code, Json(view)).into_response())
}

/// Attempts at a transfer whose transaction lost a deadlock (it was rolled
/// back whole, so it is simply run again).
async fn open(
    state: &CardState,
    staff_id: i64,
    from: &Depot,
    to: &Depot,
    selection: &Selection,
) -> Result<source::Opened, ApiError> {
    haoka_core::db::retry_collisions(|| async {
        let mut tx = state.db.begin().await?;
        let o = source::open(&mut tx, staff_id, from, to, selection).await?;
        tx.commit().await?;
        Ok(o)
    })
    .await
}

async fn known_depot<Q: Queryable>(c: &mut Q, id: i64, field: &str) -> Result<Depot, ApiError> {
    depot::find(c, id)
        .await?
        .ok_or_else(|| ApiError::not_found("depot", format!("{id} ({field})")))
}

#[utoipa::path(get, operation_id = "card_transfer_show", path = "/api/v1/cards/transfers/{transfer_id}", tag = "cards", params(("transfer_id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = TransferView)))]
pub async fn show(
    State(state): State<CardState>,
    p: Principal,
    Path(transfer_id): Path<i64>,
) -> Result<Json<TransferView>, ApiError> {
    let view = load(&state, transfer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer", transfer_id))?;
    // Either province's staff may follow it.
    if !p.scope.allows(Some(&view.province_code)) {
        p.scope.check(Some(&view.target_province_code))?;
    }
    Ok(Json(view))
}

const COLUMNS: &str = concat!(
    "transfer_id, province_code, target_province_code, from_depot_id, \
     to_depot_id, card_count, status, message_id, ",
    haoka_core::ts_col!("created_at"),
    ", ",
    haoka_core::ts_col!("finished_at")
);

fn from_row(r: &mysql_async::Row) -> Result<TransferView, ApiError> {
    use haoka_core::db::col;
    let st: String = col(r, 6);
    Ok(TransferView {
        transfer_id: col(r, 0),
        province_code: col(r, 1),
        target_province_code: col(r, 2),
        from_depot_id: col(r, 3),
        to_depot_id: col(r, 4),
        card_count: col(r, 5),
        status: TransferStatus::from_code(&st)
            .ok_or_else(|| ApiError::Internal(format!("transfer with status {st:?}")))?,
        message_id: col(r, 7),
        created_at: col(r, 8),
        finished_at: col(r, 9),
    })
}

/// A transfer by id (the id alone does not name the shard: every shard is
/// asked; the primary key makes each answer one lookup).
pub async fn load(state: &CardState, transfer_id: i64) -> Result<Option<TransferView>, ApiError> {
    let mut c = state.db.conn().await?;
    let row: Option<mysql_async::Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM card_transfer WHERE transfer_id = ?"),
            (transfer_id,),
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Default: the caller's own province.
    pub province_code: Option<ProvinceCode>,
    /// `out` (default): transfers leaving the province; `in`: arriving.
    pub direction: Option<Direction>,
    /// `in_transit`, `done` or `refused`.
    #[param(value_type = Option<TransferStatus>)]
    pub status: Option<String>,
    /// Only transfers out of this depot...
    pub from_depot_id: Option<i64>,
    /// ...or into this one.
    pub to_depot_id: Option<i64>,
    /// Opened on or after this day (`YYYY-MM-DD`, the database's clock)...
    #[param(value_type = Option<String>, format = Date)]
    pub created_from: Option<String>,
    /// ...and on or before this one.
    #[param(value_type = Option<String>, format = Date)]
    pub created_to: Option<String>,
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200, default = 20)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Out,
    In,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransferPage {
    pub items: Vec<TransferView>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// 成卡调拨 of a province, newest first: leaving it (one shard) or arriving
/// in it (every shard is asked: the target is not the shard key).
#[utoipa::path(get, operation_id = "card_transfer_list", path = "/api/v1/cards/transfers", tag = "cards", params(ListQuery),
    security(("bearer" = [])), responses((status = 200, body = TransferPage)))]
pub async fn list(
    State(state): State<CardState>,
    p: Principal,
    haoka_core::problem::Query(q): haoka_core::problem::Query<ListQuery>,
) -> Result<Json<TransferPage>, ApiError> {
    let (page_no, size) = haoka_core::paging::Paging {
        page: q.page,
        page_size: q.page_size,
    }
    .resolve()?;
    let province = p.listing_province(q.province_code.as_ref())?;
    let status = match q.status.as_deref() {
        None => None,
        Some(name) => Some(TransferStatus::from_name(name).ok_or_else(|| {
            ApiError::Invalid(format!(
                "status must be in_transit, done or refused (got {name:?})"
            ))
        })?),
    };
    let column = match q.direction.unwrap_or(Direction::Out) {
        Direction::Out => "province_code",
        Direction::In => "target_province_code",
    };
    let day = |field: &str, v: &Option<String>| -> Result<Option<String>, ApiError> {
        v.as_deref()
            .map(|d| {
                haoka_core::time::midnight(d).ok_or_else(|| {
                    ApiError::Invalid(format!("{field} must be a day, YYYY-MM-DD (got {d:?})"))
                })
            })
            .transpose()
    };
    let (from_day, to_day) = (
        day("created_from", &q.created_from)?,
        day("created_to", &q.created_to)?,
    );
    let mut f = haoka_core::db::Filter::default();
    f.eq(column, Some(province.as_str()))
        .eq("status", status.map(TransferStatus::code))
        .eq("from_depot_id", q.from_depot_id)
        .eq("to_depot_id", q.to_depot_id);
    if let Some(d) = from_day {
        f.condition("created_at >= ?".into(), vec![d.into()]);
    }
    if let Some(d) = to_day {
        f.condition(
            "created_at < DATE_ADD(?, INTERVAL 1 DAY)".into(),
            vec![d.into()],
        );
    }
    let mut c = state.db.conn().await?;
    let (total, rows) = haoka_core::db::page(
        &mut c,
        "card_transfer",
        COLUMNS,
        "transfer_id DESC",
        f,
        (page_no, size),
    )
    .await?;
    Ok(Json(TransferPage {
        items: rows.iter().map(from_row).collect::<Result<_, _>>()?,
        total,
        page: page_no,
        page_size: size,
    }))
}
