//! Reference data for the API and the portal's pickers: provinces, cities and
//! 号段 segments (broadcast tables: the proxy answers them from one shard).
//! Any signed-in staff member may read them: they are the operator's public
//! numbering plan, not anyone's data, so no province scope applies.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::rbac::signed_in;
use crate::domain::ProvinceCode;
use crate::problem::{ApiError, Json, Query};
use crate::state::Shared;

pub fn router(state: &Shared) -> Router<Shared> {
    Router::new()
        .route(
            "/api/v1/reference/provinces",
            signed_in(state, get(provinces)),
        )
        .route("/api/v1/reference/cities", signed_in(state, get(cities)))
        .route(
            "/api/v1/reference/segments",
            signed_in(state, get(segments)),
        )
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Province {
    pub province_code: String,
    pub name: String,
    pub short_name: String,
    pub capital_city_code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct City {
    pub city_code: String,
    pub province_code: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CitySegments {
    pub city_code: String,
    pub province_code: String,
    /// The city's segments (first 7 digits of its numbers), ascending.
    pub segments: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CityFilter {
    /// Only this province's cities (default: all).
    pub province_code: Option<ProvinceCode>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SegmentFilter {
    #[param(pattern = "^[0-9]{3}$")]
    pub city_code: String,
}

#[utoipa::path(get, path = "/api/v1/reference/provinces", tag = "reference",
    security(("bearer" = [])), responses((status = 200, body = [Province])))]
pub async fn provinces(State(state): State<Shared>) -> Result<Json<Vec<Province>>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<(String, String, String, String)> = c
        .query(
            "SELECT province_code, name, short_name, capital_city_code FROM province \
             ORDER BY province_code",
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(province_code, name, short_name, capital_city_code)| Province {
                    province_code,
                    name,
                    short_name,
                    capital_city_code,
                },
            )
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/reference/cities", tag = "reference", params(CityFilter),
    security(("bearer" = [])), responses((status = 200, body = [City])))]
pub async fn cities(
    State(state): State<Shared>,
    Query(f): Query<CityFilter>,
) -> Result<Json<Vec<City>>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<(String, String, String)> = match &f.province_code {
        Some(p) => {
            c.exec(
                "SELECT city_code, province_code, name FROM city WHERE province_code = ? \
                 ORDER BY city_code",
                (p.as_str(),),
            )
            .await?
        }
        None => {
            c.query("SELECT city_code, province_code, name FROM city ORDER BY city_code")
                .await?
        }
    };
    Ok(Json(
        rows.into_iter()
            .map(|(city_code, province_code, name)| City {
                city_code,
                province_code,
                name,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/reference/segments", tag = "reference", params(SegmentFilter),
    security(("bearer" = [])), responses((status = 200, body = CitySegments)))]
pub async fn segments(
    State(state): State<Shared>,
    Query(f): Query<SegmentFilter>,
) -> Result<Json<CitySegments>, ApiError> {
    if f.city_code.len() != 3 || !f.city_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Invalid("city_code must be 3 digits".into()));
    }
    let mut c = state.db.conn().await?;
    let province: Option<String> = c
        .exec_first(
            "SELECT province_code FROM city WHERE city_code = ?",
            (&f.city_code,),
        )
        .await?;
    let Some(province_code) = province else {
        return Err(ApiError::not_found("city", &f.city_code));
    };
    let segments: Vec<String> = c
        .exec(
            "SELECT segment FROM segment WHERE province_code = ? AND city_code = ? \
             ORDER BY segment",
            (&province_code, &f.city_code),
        )
        .await?;
    Ok(Json(CitySegments {
        city_code: f.city_code,
        province_code,
        segments,
    }))
}
