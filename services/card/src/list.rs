//! Card listings by depot and by status, one province at a time (a page
//! never scatters over every shard), inside the caller's province scope.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::depots;
use super::status::{CardStatus, CardType};
use super::store::{self, Card, COLUMNS};
use crate::CardState;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{page, Filter};
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Query};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Default: the depot's province, else the caller's own.
    pub province_code: Option<ProvinceCode>,
    pub depot_id: Option<i64>,
    pub status: Option<CardStatus>,
    pub card_type: Option<CardType>,
    #[param(minimum = 1, default = 1)]
    pub page: Option<u32>,
    /// At most `[card] max_page_size` (500).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardPage {
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
    pub items: Vec<Card>,
}

#[utoipa::path(get, operation_id = "card_list_cards", path = "/api/v1/cards", tag = "cards", params(ListQuery),
    security(("bearer" = [])), responses((status = 200, body = CardPage)))]
pub async fn list_cards(
    State(state): State<CardState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<CardPage>, ApiError> {
    let page_no = q.page.unwrap_or(1);
    let size = q.page_size.unwrap_or(50);
    let max = state.center.cfg.max_page_size;
    if page_no == 0 || size == 0 || size > max {
        return Err(ApiError::Invalid(format!(
            "page counts from 1 and page_size is 1 to {max}"
        )));
    }
    let mut c = state.db.conn().await?;
    let province = match (&q.province_code, q.depot_id) {
        (_, Some(d)) => {
            let depot = depots::one(&mut c, d)
                .await?
                .ok_or_else(|| ApiError::not_found("depot", d))?;
            if q.province_code
                .as_ref()
                .is_some_and(|pc| pc.as_str() != depot.province)
            {
                // No such depot in the province asked about.
                return Err(ApiError::not_found(
                    "depot",
                    format!(
                        "{d} in province {}",
                        q.province_code
                            .as_ref()
                            .map(ProvinceCode::as_str)
                            .unwrap_or_default()
                    ),
                ));
            }
            depot.province
        }
        (Some(pc), None) => pc.to_string(),
        // Neither: the caller's own province, as the other listings.
        (None, None) => p.listing_province(None)?,
    };
    p.scope.check(Some(&province))?;
    let mut f = Filter::default();
    f.eq("province_code", Some(province.as_str()))
        .eq("depot_id", q.depot_id)
        .eq("status", q.status.map(|s| s.code()))
        .eq("card_type", q.card_type.map(|t| t.db()));
    let (total, rows) = page(&mut c, "sim_card", COLUMNS, "card_id", f, (page_no, size)).await?;
    Ok(Json(CardPage {
        total,
        page: page_no,
        page_size: size,
        items: rows.iter().map(store::from_row).collect::<Result<_, _>>()?,
    }))
}
