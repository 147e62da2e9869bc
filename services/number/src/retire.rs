//! Retiring (and reviving) stock locations: a depot (库位, shared with the
//! card center) or a number pool (号码池) is disabled, not deleted — its rows
//! keep their history — and a disabled one takes no new stock: intake, depot
//! moves, card transfers and pool assignment refuse it. Province-scoped and
//! written to the operation log.

use axum::extract::State;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::NumberState;
use haoka_core::auth::rbac::Principal;
use haoka_core::domain::RecordStatus;
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json, Path};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: RecordStatus,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Retired {
    pub id: i64,
    pub province_code: String,
    pub status: RecordStatus,
}

/// Which table a change is for.
#[derive(Clone, Copy)]
enum Kind {
    Depot,
    Pool,
}

impl Kind {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Kind::Depot => ("depot", "depot_id"),
            Kind::Pool => ("number_pool", "pool_id"),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Depot => "depot",
            Kind::Pool => "pool",
        }
    }
}

async fn set_status(
    state: &NumberState,
    p: &Principal,
    kind: Kind,
    id: i64,
    to: RecordStatus,
) -> Result<Retired, ApiError> {
    let (table, key) = kind.table();
    let mut tx = state.db.begin().await?;
    let row: Option<(String, String)> = tx
        .exec_first(
            format!("SELECT province_code, status FROM {table} WHERE {key} = ? FOR UPDATE"),
            (id,),
        )
        .await?;
    let (province, before) = row.ok_or_else(|| ApiError::not_found(kind.name(), id))?;
    p.scope.check(Some(&province))?;
    tx.exec_drop(
        format!("UPDATE {table} SET status = ? WHERE {key} = ?"),
        (to.db(), id),
    )
    .await?;
    oplog::record(
        &mut tx,
        p,
        Change {
            action: match (kind, to) {
                (Kind::Depot, RecordStatus::Disabled) => "depot.disable",
                (Kind::Depot, RecordStatus::Active) => "depot.enable",
                (Kind::Pool, RecordStatus::Disabled) => "pool.disable",
                (Kind::Pool, RecordStatus::Active) => "pool.enable",
            },
            object_kind: kind.name(),
            object_id: id.to_string(),
            province: Some(&province),
            before: Some(serde_json::json!({ "status": RecordStatus::from_db(&before) })),
            after: Some(serde_json::json!({ "status": to })),
        },
    )
    .await?;
    tx.commit().await?;
    if matches!(kind, Kind::Pool) {
        // Pool listings and grants are cached per process.
        state.center.announce_grants();
    }
    Ok(Retired {
        id,
        province_code: province,
        status: to,
    })
}

/// Disables (or enables again) a depot, for numbers and cards alike.
#[utoipa::path(patch, path = "/api/v1/numbers/depots/{id}", tag = "numbers", params(("id" = i64, Path)),
    request_body = StatusChange, security(("bearer" = [])), responses((status = 200, body = Retired)))]
pub async fn set_depot_status(
    State(state): State<NumberState>,
    p: Principal,
    Path(id): Path<i64>,
    Json(req): Json<StatusChange>,
) -> Result<Json<Retired>, ApiError> {
    Ok(Json(
        set_status(&state, &p, Kind::Depot, id, req.status).await?,
    ))
}

/// Disables (or enables again) a number pool.
#[utoipa::path(patch, path = "/api/v1/numbers/pools/{id}", tag = "numbers", params(("id" = i64, Path)),
    request_body = StatusChange, security(("bearer" = [])), responses((status = 200, body = Retired)))]
pub async fn set_pool_status(
    State(state): State<NumberState>,
    p: Principal,
    Path(id): Path<i64>,
    Json(req): Json<StatusChange>,
) -> Result<Json<Retired>, ApiError> {
    Ok(Json(
        set_status(&state, &p, Kind::Pool, id, req.status).await?,
    ))
}
