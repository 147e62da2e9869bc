//! The card center's HTTP surface: staff endpoints under /api/v1/cards, each
//! behind its permission and province scope.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;

use super::history::{self, HistoryView};
use super::store::Card;
use super::{change, get_card, intake, packages, parse_iccid};
use crate::app::AppState;
use crate::auth::rbac::{guarded, Permission::*, Principal};
use crate::problem::{ApiError, Json, Path};

pub fn router(state: &AppState) -> Router<AppState> {
    let s = state;
    Router::new()
        .merge(super::transfer::router(s))
        .route(
            "/api/v1/cards/intake",
            guarded(s, CardWrite, post(intake::intake)),
        )
        .route(
            "/api/v1/cards/status",
            guarded(s, CardWrite, post(change::change_status)),
        )
        .route(
            "/api/v1/cards/depot",
            guarded(s, CardWrite, post(change::move_depot)),
        )
        .route(
            "/api/v1/cards/packages",
            guarded(s, CardRead, get(packages::list_packages)).merge(guarded(
                s,
                CardWrite,
                post(packages::create_package),
            )),
        )
        .route("/api/v1/cards/{iccid}", guarded(s, CardRead, get(card)))
        .route(
            "/api/v1/cards/{iccid}/history",
            guarded(s, CardRead, get(card_history)),
        )
}

/// One card by ICCID (routed through the proxy's global index).
async fn card(
    State(state): State<AppState>,
    p: Principal,
    Path(iccid): Path<String>,
) -> Result<Json<Card>, ApiError> {
    Ok(Json(get_card(&state, &p.scope, &iccid).await?))
}

/// Every history row of a card, oldest first.
async fn card_history(
    State(state): State<AppState>,
    p: Principal,
    Path(iccid): Path<String>,
) -> Result<Json<Vec<HistoryView>>, ApiError> {
    let card = get_card(&state, &p.scope, &iccid).await?;
    let iccid = parse_iccid(&card.iccid)?;
    let mut c = state.db.conn().await?;
    Ok(Json(history::of_card(&mut c, iccid.as_str()).await?))
}
