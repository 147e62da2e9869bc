//! 号码池 maintenance (create pools, assign numbers) and 号码池授权 (grant a
//! channel or staff member view / use / operate rights on a pool).

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::PoolRights;
use super::change::{locate_all, read_rows, BatchResult};
use super::history::{self, Entry};
use super::shelf_cache::ShelfKey;
use super::status::{NumberStatus, ResultCode};
use super::transition::Action;
use super::NumberResult;
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::marks;
use haoka_core::db::{col, insert_id};
use haoka_core::domain::{ProvinceCode, RecordStatus};
use haoka_core::problem::{ApiError, Json, Path, Problem, Query};
use haoka_core::validate;

/// Pools of `province` the caller may view, beyond the public shelf.
pub async fn pools_in(
    state: &NumberState,
    province: &str,
    rights: &PoolRights,
) -> Result<Vec<i64>, ApiError> {
    if rights.all {
        Ok(state
            .center
            .grants
            .pools_in(&state.db, province)
            .await?
            .to_vec())
    } else {
        Ok(rights.viewable_in(province))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPool {
    pub province_code: ProvinceCode,
    /// Absent: a pool of the whole province.
    #[schema(pattern = "^[0-9]{3}$")]
    pub city_code: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolView {
    pub pool_id: i64,
    pub province_code: String,
    pub city_code: Option<String>,
    pub name: String,
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/numbers/pools", tag = "numbers", request_body = NewPool,
    security(("bearer" = [])), responses((status = 201, body = PoolView)))]
pub async fn create_pool(
    State(state): State<NumberState>,
    principal: Principal,
    Json(req): Json<NewPool>,
) -> Result<Response, ApiError> {
    validate::text("name", &req.name, 1, 64)?;
    principal.scope.check(Some(req.province_code.as_str()))?;
    if let Some(city) = &req.city_code {
        let segs = state.center.segments(&state.db).await?;
        if !segs.city_in(req.province_code.as_str(), city) {
            return Err(super::unknown_city(req.province_code.as_str(), city));
        }
    }
    let mut c = state.db.conn().await?;
    let id = insert_id(
        &mut c,
        "INSERT INTO number_pool (province_code, city_code, name) VALUES (?, ?, ?)",
        vec![
            req.province_code.as_str().into(),
            req.city_code.clone().into(),
            req.name.clone().into(),
        ],
    )
    .await?;
    drop(c);
    state.center.announce_grants();
    Ok((
        StatusCode::CREATED,
        Json(PoolView {
            pool_id: id,
            province_code: req.province_code.to_string(),
            city_code: req.city_code,
            name: req.name,
            status: "A".into(),
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PoolListQuery {
    pub province_code: ProvinceCode,
}

/// The pools of a province the caller may view.
#[utoipa::path(get, path = "/api/v1/numbers/pools", tag = "numbers", params(PoolListQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<PoolView>)))]
pub async fn list_pools(
    State(state): State<NumberState>,
    principal: Principal,
    Query(q): Query<PoolListQuery>,
) -> Result<Json<Vec<PoolView>>, ApiError> {
    principal.scope.check(Some(q.province_code.as_str()))?;
    let actor = Actor::Staff(principal);
    let rights = state.center.grants.rights(&state.db, &actor).await?;
    let mut c = state.db.conn().await?;
    let rows: Vec<mysql_async::Row> = c
        .exec(
            "SELECT pool_id, province_code, city_code, name, status FROM number_pool \
             WHERE province_code = ? ORDER BY pool_id",
            (q.province_code.as_str(),),
        )
        .await?;
    Ok(Json(
        rows.iter()
            .map(|r| PoolView {
                pool_id: col(r, 0),
                province_code: col(r, 1),
                city_code: col(r, 2),
                name: col(r, 3),
                status: col(r, 4),
            })
            .filter(|p| rights.can_view(Some(p.pool_id)))
            .collect(),
    ))
}

async fn pool_of(
    state: &NumberState,
    principal: &Principal,
    pool_id: i64,
) -> Result<(String, Option<String>, RecordStatus), ApiError> {
    let mut c = state.db.conn().await?;
    let row: Option<(String, Option<String>, String)> = c
        .exec_first(
            "SELECT province_code, city_code, status FROM number_pool WHERE pool_id = ?",
            (pool_id,),
        )
        .await?;
    let (p, city, status) = row.ok_or_else(|| ApiError::not_found("pool", pool_id))?;
    principal.scope.check(Some(&p))?;
    Ok((p, city, RecordStatus::from_db(&status)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    #[schema(schema_with = super::doc::numbers)]
    pub numbers: Vec<String>,
}

/// Puts in-stock numbers of the pool's area into the pool.
#[utoipa::path(post, path = "/api/v1/numbers/pools/{id}/numbers", tag = "numbers", params(("id" = i64, Path)), request_body = AssignRequest,
    security(("bearer" = [])), responses((status = 200, body = BatchResult, description = "every number assigned"),
        (status = 409, description = "nothing assigned: the per-number codes say why; or a problem (a concurrent change)", content((BatchResult = "application/json"), (Problem = "application/problem+json")))))]
pub async fn assign_numbers(
    State(state): State<NumberState>,
    principal: Principal,
    Path(pool_id): Path<i64>,
    Json(req): Json<AssignRequest>,
) -> Result<Response, ApiError> {
    let (province, city, status) = pool_of(&state, &principal, pool_id).await?;
    // A disabled pool takes no new numbers.
    if status == RecordStatus::Disabled {
        return Err(ApiError::Refused {
            code: "pool_disabled",
            message: format!("pool {pool_id} is disabled: it takes no new numbers"),
        });
    }
    let actor = Actor::Staff(principal);
    let located = locate_all(&state, &actor, &req.numbers).await?;
    let names: Vec<&str> = located.iter().map(|l| l.no.as_str()).collect();
    let mut tx = state.db.begin().await?;
    let rows = read_rows(&mut tx, &names, true).await?;
    let mut results = Vec::new();
    let mut entries = Vec::new();
    let mut shelves = HashSet::new();
    for n in &names {
        let r = match rows.get(*n) {
            None => NumberResult::new(ResultCode::NoSuchResource, n),
            Some(row)
                if row.province != province || city.as_ref().is_some_and(|c| *c != row.city) =>
            {
                let mut r = NumberResult::new(ResultCode::StateNotUsable, n);
                r.message = format!("pool {pool_id} does not cover the number's area");
                r
            }
            Some(row) if !row.status.in_stock() => {
                let mut r = NumberResult::new(ResultCode::StateNotUsable, n);
                r.message = format!("a number in status {} is not in stock", row.status);
                r.status = Some(row.status);
                r
            }
            Some(row) => {
                if row.status == NumberStatus::OnShelf {
                    shelves.insert(row.shelf());
                    shelves.insert(ShelfKey {
                        pool: Some(pool_id),
                        ..row.shelf()
                    });
                }
                entries.push(Entry {
                    phone_no: n.to_string(),
                    province: row.province.clone(),
                    from: Some(row.status),
                    to: row.status,
                    action: Action::AssignPool,
                    hold_key: None,
                    channel_id: None,
                    staff_id: actor.staff_id(),
                    detail: Some(format!(
                        "pool {} -> {pool_id}",
                        row.pool
                            .map(|p| p.to_string())
                            .unwrap_or_else(|| "-".into())
                    )),
                });
                let mut r = NumberResult::new(ResultCode::Ok, n);
                r.status = Some(row.status);
                r
            }
        };
        results.push(r);
    }
    let applied = results.iter().all(|r| r.code == ResultCode::Ok);
    if !applied {
        tx.rollback().await?;
        return Ok((StatusCode::CONFLICT, Json(BatchResult { applied, results })).into_response());
    }
    let mut params: Vec<Value> = vec![pool_id.into()];
    params.extend(names.iter().map(|n| Value::from(*n)));
    tx.exec_drop(
        format!(
            "UPDATE phone_number SET pool_id = ?, version = version + 1 WHERE phone_no IN ({})",
            marks(names.len())
        ),
        params,
    )
    .await?;
    history::write(&mut tx, &entries).await?;
    tx.commit().await?;
    state.center.announce(shelves);
    Ok(Json(BatchResult { applied, results }).into_response())
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GranteeKind {
    Channel,
    Staff,
}

impl GranteeKind {
    fn db(self) -> &'static str {
        match self {
            GranteeKind::Channel => "C",
            GranteeKind::Staff => "S",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub grantee_kind: GranteeKind,
    pub grantee_id: i64,
    #[serde(default)]
    pub can_view: bool,
    #[serde(default)]
    pub can_use: bool,
    #[serde(default)]
    pub can_operate: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub grant_id: i64,
    pub pool_id: i64,
    pub grantee_kind: GranteeKind,
    pub grantee_id: i64,
    pub can_view: bool,
    pub can_use: bool,
    pub can_operate: bool,
}

/// Sets (creates or replaces) one grantee's rights on a pool; all three false
/// removes the grant.
#[utoipa::path(put, path = "/api/v1/numbers/pools/{id}/grants", tag = "numbers", params(("id" = i64, Path)), request_body = GrantRequest,
    security(("bearer" = [])), responses((status = 200, body = Vec<GrantView>)))]
pub async fn put_grant(
    State(state): State<NumberState>,
    principal: Principal,
    Path(pool_id): Path<i64>,
    Json(req): Json<GrantRequest>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    let (province, _, _) = pool_of(&state, &principal, pool_id).await?;
    let mut c = state.db.conn().await?;
    let exists: Option<i64> = match req.grantee_kind {
        GranteeKind::Channel => {
            c.exec_first(
                "SELECT channel_id FROM channel WHERE channel_id = ?",
                (req.grantee_id,),
            )
            .await?
        }
        GranteeKind::Staff => {
            c.exec_first(
                "SELECT staff_id FROM staff WHERE staff_id = ?",
                (req.grantee_id,),
            )
            .await?
        }
    };
    if exists.is_none() {
        let kind = match req.grantee_kind {
            GranteeKind::Channel => "channel",
            GranteeKind::Staff => "staff",
        };
        return Err(ApiError::not_found(kind, req.grantee_id));
    }
    let mut tx = state.db.begin().await?;
    let kind = req.grantee_kind.db();
    tx.exec_drop(
        "DELETE FROM pool_grant WHERE province_code = ? AND pool_id = ? AND grantee_kind = ? AND grantee_id = ?",
        (province.as_str(), pool_id, kind, req.grantee_id),
    )
    .await?;
    if req.can_view || req.can_use || req.can_operate {
        tx.exec_drop(
            "INSERT INTO pool_grant (pool_id, province_code, grantee_kind, grantee_id, can_view, can_use, \
             can_operate, granted_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pool_id,
                province.as_str(),
                kind,
                req.grantee_id,
                req.can_view || req.can_use || req.can_operate,
                req.can_use,
                req.can_operate,
                principal.staff_id,
            ),
        )
        .await?;
    }
    haoka_core::oplog::record(
        &mut tx,
        &principal,
        haoka_core::oplog::Change {
            action: "pool.grant",
            object_kind: "number_pool",
            object_id: pool_id.to_string(),
            province: Some(&province),
            before: None,
            after: Some(serde_json::json!({
                "grantee_kind": req.grantee_kind, "grantee_id": req.grantee_id,
                "can_view": req.can_view, "can_use": req.can_use, "can_operate": req.can_operate
            })),
        },
    )
    .await?;
    tx.commit().await?;
    state.center.announce_grants();
    grants_of(&state, &province, pool_id).await.map(Json)
}

async fn grants_of(
    state: &NumberState,
    province: &str,
    pool_id: i64,
) -> Result<Vec<GrantView>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<mysql_async::Row> = c
        .exec(
            "SELECT grant_id, pool_id, grantee_kind, grantee_id, can_view, can_use, can_operate \
             FROM pool_grant WHERE province_code = ? AND pool_id = ? ORDER BY grant_id",
            (province, pool_id),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| GrantView {
            grant_id: col(r, 0),
            pool_id: col(r, 1),
            grantee_kind: if col::<String>(r, 2) == "C" {
                GranteeKind::Channel
            } else {
                GranteeKind::Staff
            },
            grantee_id: col(r, 3),
            can_view: col::<i64>(r, 4) != 0,
            can_use: col::<i64>(r, 5) != 0,
            can_operate: col::<i64>(r, 6) != 0,
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/numbers/pools/{id}/grants", tag = "numbers", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<GrantView>)))]
pub async fn list_grants(
    State(state): State<NumberState>,
    principal: Principal,
    Path(pool_id): Path<i64>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    let (province, _, _) = pool_of(&state, &principal, pool_id).await?;
    grants_of(&state, &province, pool_id).await.map(Json)
}
