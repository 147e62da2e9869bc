//! 套包 packages: the broadcast `package` table (every shard has a copy, so
//! reading it inside a province's transaction keeps the transaction local),
//! and the endpoints that create and list them.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use crate::CardState;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::insert_id;
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Query};
use haoka_core::validate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub package_id: i64,
    pub code: String,
    pub name: String,
    /// None: a national package.
    pub province: Option<String>,
}

impl Package {
    /// Whether cards and numbers of `province` may use it.
    pub fn covers(&self, province: &str) -> bool {
        self.province.as_deref().is_none_or(|p| p == province)
    }
}

/// The active packages among `ids` (missing or disabled ones are absent).
pub async fn load<Q: Queryable>(c: &mut Q, ids: &[i64]) -> Result<HashMap<i64, Package>, ApiError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, String, Option<String>)> = c
        .exec(
            format!(
                "SELECT package_id, code, name, province_code FROM package \
                 WHERE status = 'A' AND package_id IN ({})",
                haoka_core::db::marks(ids.len())
            ),
            ids.iter().map(|i| Value::from(*i)).collect::<Vec<_>>(),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(package_id, code, name, province)| {
            (
                package_id,
                Package {
                    package_id,
                    code,
                    name,
                    province,
                },
            )
        })
        .collect())
}

/// One active package (404 when missing or disabled).
pub async fn one<Q: Queryable>(c: &mut Q, id: i64) -> Result<Package, ApiError> {
    load(c, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| ApiError::not_found("package", id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_packages_cover_every_province() {
        let mut p = Package {
            package_id: 1,
            code: "P".into(),
            name: "n".into(),
            province: None,
        };
        assert!(p.covers("51"));
        p.province = Some("51".into());
        assert!(p.covers("51"));
        assert!(!p.covers("11"));
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPackage {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub code: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub name: String,
    /// None: a national package (headquarters staff only).
    pub province_code: Option<ProvinceCode>,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub monthly_fee_cents: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageView {
    pub package_id: i64,
    pub code: String,
    pub name: String,
    pub province_code: Option<String>,
    pub monthly_fee_cents: i64,
}

/// Creates a 套包 (a broadcast row: every shard gets it atomically).
#[utoipa::path(post, operation_id = "card_create_package", path = "/api/v1/cards/packages", tag = "cards", request_body = NewPackage,
    security(("bearer" = [])), responses((status = 201, body = PackageView)))]
pub async fn create_package(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<NewPackage>,
) -> Result<Response, ApiError> {
    validate::code("code", &req.code, 32)?;
    validate::text("name", &req.name, 1, 128)?;
    if req.monthly_fee_cents < 0 {
        return Err(ApiError::Invalid(
            "monthly_fee_cents must not be negative".into(),
        ));
    }
    let province = req.province_code.as_ref().map(ProvinceCode::as_str);
    p.scope.check(province)?;
    let mut c = state.db.conn().await?;
    let id = insert_id(
        &mut c,
        "INSERT INTO package (code, name, province_code, monthly_fee_cents) VALUES (?, ?, ?, ?)",
        vec![
            req.code.as_str().into(),
            req.name.as_str().into(),
            province.into(),
            req.monthly_fee_cents.into(),
        ],
    )
    .await?;
    let view = PackageView {
        package_id: id,
        code: req.code,
        name: req.name,
        province_code: province.map(str::to_string),
        monthly_fee_cents: req.monthly_fee_cents,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PackageQuery {
    pub province_code: ProvinceCode,
}

/// The active packages a province may use: its own and the national ones.
#[utoipa::path(get, operation_id = "card_list_packages", path = "/api/v1/cards/packages", tag = "cards", params(PackageQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<PackageView>)))]
pub async fn list_packages(
    State(state): State<CardState>,
    p: Principal,
    Query(q): Query<PackageQuery>,
) -> Result<Json<Vec<PackageView>>, ApiError> {
    p.scope.check(Some(q.province_code.as_str()))?;
    let mut c = state.db.conn().await?;
    let rows: Vec<(i64, String, String, Option<String>, i64)> = c
        .exec(
            "SELECT package_id, code, name, province_code, monthly_fee_cents FROM package \
             WHERE status = 'A' AND (province_code = ? OR province_code IS NULL) \
             ORDER BY package_id",
            (q.province_code.as_str(),),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(package_id, code, name, province_code, monthly_fee_cents)| PackageView {
                    package_id,
                    code,
                    name,
                    province_code,
                    monthly_fee_cents,
                },
            )
            .collect(),
    ))
}
