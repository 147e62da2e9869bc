//! The card center's HTTP surface: staff endpoints under /api/v1/cards (each
//! behind its permission and province scope) and channel endpoints under
//! /api/v1/open/cards (behind the channel signature gate and interface log).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::availability::{Ask, Verdict};
use super::history::{self, HistoryView};
use super::occupy::{self, CardChange, OccupyRequest, ReturnRequest};
use super::store::Card;
use super::{change, get_card, intake, list, packages, pairing, parse_iccid};
use crate::CardState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::channel_sign::ChannelCaller;
use haoka_core::auth::rbac::{guarded, Permission::*, Principal};
use haoka_core::interface_log;
use haoka_core::problem::{ApiError, Json, Path, Query};

/// The center's routes, with its state.
pub fn router(state: &CardState) -> Router {
    let s = state;
    let open = Router::new()
        .route(
            "/api/v1/open/cards/{iccid}/availability",
            get(channel_check),
        )
        .route("/api/v1/open/cards/{iccid}/occupy", post(channel_occupy))
        .route("/api/v1/open/cards/{iccid}/return", post(channel_return))
        .layer(axum::middleware::from_fn_with_state(
            state.shared.clone(),
            interface_log::gate,
        ));
    Router::new()
        .merge(super::transfer::router(s))
        .route("/api/v1/cards", guarded(s, CardRead, get(list::list_cards)))
        .route(
            "/api/v1/cards/depots",
            guarded(s, CardRead, get(card_depots)),
        )
        .route(
            "/api/v1/cards/transitions",
            guarded(s, CardRead, get(transitions)),
        )
        .route(
            "/api/v1/cards/intake",
            // A full intake (`[card] max_intake` cards) is larger than the
            // general body limit: room for 256 bytes a card.
            guarded(s, CardWrite, post(intake::intake)).layer(
                axum::extract::DefaultBodyLimit::max(
                    state
                        .center
                        .cfg
                        .max_intake
                        .saturating_mul(256)
                        .max(state.cfg.body_limit_bytes),
                ),
            ),
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
        .route(
            "/api/v1/cards/{iccid}/availability",
            guarded(s, CardRead, get(staff_check)),
        )
        .route(
            "/api/v1/cards/{iccid}/occupy",
            guarded(s, CardOccupy, post(staff_occupy)),
        )
        .route(
            "/api/v1/cards/{iccid}/return",
            guarded(s, CardOccupy, post(staff_return)),
        )
        .route(
            "/api/v1/cards/pairings",
            guarded(s, CardPair, post(pairing::pair)),
        )
        .route(
            "/api/v1/cards/pairings/unpair",
            guarded(s, CardPair, post(pairing::unpair)),
        )
        .route(
            "/api/v1/cards/bundles",
            guarded(s, CardPair, post(pairing::bundle)),
        )
        .route(
            "/api/v1/cards/bundles/unbundle",
            guarded(s, CardPair, post(pairing::unbundle)),
        )
        .merge(open)
        .with_state(state.clone())
}

#[utoipa::path(get, operation_id = "card_check", path = "/api/v1/cards/{iccid}/availability", tag = "cards", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID"), Ask),
    security(("bearer" = [])), responses((status = 200, body = Verdict)))]
pub async fn staff_check(
    State(state): State<CardState>,
    p: Principal,
    Path(iccid): Path<String>,
    Query(ask): Query<Ask>,
) -> Result<Json<Verdict>, ApiError> {
    Ok(Json(
        occupy::check(&state, &Actor::Staff(p), &iccid, &ask).await?,
    ))
}

#[utoipa::path(get, operation_id = "channel_card_check", path = "/api/v1/open/cards/{iccid}/availability", tag = "channel api", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID"), Ask),
    security(("channel_signature" = [])), responses((status = 200, body = Verdict)))]
pub async fn channel_check(
    State(state): State<CardState>,
    Extension(c): Extension<ChannelCaller>,
    Path(iccid): Path<String>,
    Query(ask): Query<Ask>,
) -> Result<Json<Verdict>, ApiError> {
    Ok(Json(
        occupy::check(&state, &Actor::Channel(c), &iccid, &ask).await?,
    ))
}

#[utoipa::path(post, operation_id = "card_occupy", path = "/api/v1/cards/{iccid}/occupy", tag = "cards", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID")), request_body = OccupyRequest,
    security(("bearer" = [])), responses((status = 200, body = CardChange)))]
pub async fn staff_occupy(
    State(state): State<CardState>,
    p: Principal,
    Path(iccid): Path<String>,
    Json(req): Json<OccupyRequest>,
) -> Result<Json<CardChange>, ApiError> {
    Ok(Json(
        occupy::occupy(&state, &Actor::Staff(p), &iccid, &req).await?,
    ))
}

#[utoipa::path(post, operation_id = "channel_card_occupy", path = "/api/v1/open/cards/{iccid}/occupy", tag = "channel api", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID")), request_body = OccupyRequest,
    security(("channel_signature" = [])), responses((status = 200, body = CardChange)))]
pub async fn channel_occupy(
    State(state): State<CardState>,
    Extension(c): Extension<ChannelCaller>,
    Path(iccid): Path<String>,
    Json(req): Json<OccupyRequest>,
) -> Result<Json<CardChange>, ApiError> {
    Ok(Json(
        occupy::occupy(&state, &Actor::Channel(c), &iccid, &req).await?,
    ))
}

#[utoipa::path(post, operation_id = "card_return", path = "/api/v1/cards/{iccid}/return", tag = "cards", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID")), request_body = ReturnRequest,
    security(("bearer" = [])), responses((status = 200, body = CardChange)))]
pub async fn staff_return(
    State(state): State<CardState>,
    p: Principal,
    Path(iccid): Path<String>,
    Json(req): Json<ReturnRequest>,
) -> Result<Json<CardChange>, ApiError> {
    Ok(Json(
        occupy::give_back(&state, &Actor::Staff(p), &iccid, &req).await?,
    ))
}

#[utoipa::path(post, operation_id = "channel_card_return", path = "/api/v1/open/cards/{iccid}/return", tag = "channel api", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID")), request_body = ReturnRequest,
    security(("channel_signature" = [])), responses((status = 200, body = CardChange)))]
pub async fn channel_return(
    State(state): State<CardState>,
    Extension(c): Extension<ChannelCaller>,
    Path(iccid): Path<String>,
    Json(req): Json<ReturnRequest>,
) -> Result<Json<CardChange>, ApiError> {
    Ok(Json(
        occupy::give_back(&state, &Actor::Channel(c), &iccid, &req).await?,
    ))
}

/// One card by ICCID (routed through the proxy's global index).
#[utoipa::path(get, operation_id = "card_get", path = "/api/v1/cards/{iccid}", tag = "cards", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID")),
    security(("bearer" = [])), responses((status = 200, body = Card)))]
pub async fn card(
    State(state): State<CardState>,
    p: Principal,
    Path(iccid): Path<String>,
) -> Result<Json<Card>, ApiError> {
    Ok(Json(get_card(&state, &p.scope, &iccid).await?))
}

/// Every history row of a card, oldest first.
#[utoipa::path(get, operation_id = "card_history", path = "/api/v1/cards/{iccid}/history", tag = "cards", params(("iccid" = super::iccid::Iccid, Path, description = "the card's ICCID")),
    security(("bearer" = [])), responses((status = 200, body = Vec<HistoryView>)))]
pub async fn card_history(
    State(state): State<CardState>,
    p: Principal,
    Path(iccid): Path<String>,
) -> Result<Json<Vec<HistoryView>>, ApiError> {
    let card = get_card(&state, &p.scope, &iccid).await?;
    let iccid = parse_iccid(&card.iccid)?;
    let mut c = state.db.conn().await?;
    Ok(Json(history::of_card(&mut c, iccid.as_str()).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DepotQuery {
    pub province_code: haoka_core::domain::ProvinceCode,
}

/// The active depots of a province that hold cards (库位 for 成卡).
#[utoipa::path(get, operation_id = "card_depots", path = "/api/v1/cards/depots", tag = "cards", params(DepotQuery),
    security(("bearer" = [])), responses((status = 200, body = Vec<haoka_number::routes::DepotView>)))]
pub async fn card_depots(
    State(state): State<CardState>,
    p: Principal,
    Query(q): Query<DepotQuery>,
) -> Result<Json<Vec<haoka_number::routes::DepotView>>, ApiError> {
    use haoka_number::routes::{active_depots, Holding};
    p.scope.check(Some(q.province_code.as_str()))?;
    let mut c = state.db.conn().await?;
    Ok(Json(
        active_depots(&mut c, q.province_code.as_str(), Holding::Cards).await?,
    ))
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = CardTransitionView)]
pub struct TransitionView {
    pub from: super::status::CardStatus,
    pub to: super::status::CardStatus,
    pub action: String,
    /// `manual` (POST /api/v1/cards/status), `transfer`, `pairing` or `occupy`.
    pub door: String,
}

/// The card status transition table: every allowed change and its door.
#[utoipa::path(get, operation_id = "card_transitions", path = "/api/v1/cards/transitions", tag = "cards",
    security(("bearer" = [])), responses((status = 200, body = Vec<TransitionView>)))]
pub async fn transitions() -> Json<Vec<TransitionView>> {
    use super::transition::TRANSITIONS;
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
