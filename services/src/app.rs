//! Router assembly. A process serves the centers its role flag names; the
//! shared parts (health, metrics, OpenAPI, request ids, tracing, body limit,
//! problem bodies for 405s) are always mounted. This module only puts
//! together what the shared state (`state`) and the centers own.

use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::card::CardState;
use crate::config::Config;
use crate::number::NumberState;
use crate::report::ReportState;
use crate::state::Shared;
pub use crate::state::StartError;
use crate::{health, metrics, mq_admin, openapi, permission};

/// A center a process can serve (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Center {
    Permission,
    Number,
    Card,
    Report,
}

impl FromStr for Center {
    type Err = StartError;
    fn from_str(s: &str) -> Result<Center, StartError> {
        match s.trim() {
            "permission" => Ok(Center::Permission),
            "number" => Ok(Center::Number),
            "card" => Ok(Center::Card),
            "report" => Ok(Center::Report),
            other => Err(StartError::UnknownRole(other.to_string())),
        }
    }
}

impl Center {
    /// Whether the center writes outbox rows (so `relay = "auto"` runs the
    /// relay in a process serving it).
    pub fn writes_outbox(self) -> bool {
        match self {
            Center::Permission => false,
            Center::Number => true,
            Center::Card => true,
            Center::Report => false,
        }
    }
}

pub fn parse_roles(roles: &[String]) -> Result<Vec<Center>, StartError> {
    let centers: Vec<Center> = roles
        .iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.parse())
        .collect::<Result<_, _>>()?;
    if centers.is_empty() {
        return Err(StartError::NoRole);
    }
    Ok(centers)
}

/// A process's state: the shared parts and each center's own. Cheap to
/// clone; dereferences to the shared parts.
#[derive(Clone)]
pub struct AppState {
    pub shared: Shared,
    pub centers: Vec<Center>,
    pub number: NumberState,
    pub card: CardState,
    pub report: ReportState,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AppState {
    /// Connects to the proxy, Redis and RabbitMQ and seeds what the centers need.
    pub async fn connect(cfg: Config) -> Result<AppState, StartError> {
        let centers = parse_roles(&cfg.roles)?;
        let shared = Shared::connect(cfg).await?;
        let number = NumberState::new(shared.clone());
        let state = AppState {
            card: CardState::new(shared.clone(), number.clone()),
            report: ReportState::new(shared.clone())
                .map_err(|e| StartError::Report(e.to_string()))?,
            number,
            centers,
            shared,
        };
        if state.serves(Center::Permission) {
            permission::seed::ensure(&state.shared)
                .await
                .map_err(|e| StartError::Database(e.to_string()))?;
        }
        if state.serves(Center::Number) {
            crate::number::start(&state.number)
                .await
                .map_err(|e| StartError::Database(e.to_string()))?;
        }
        if state.serves(Center::Card) {
            crate::card::migrate::ensure(&state.db)
                .await
                .map_err(|e| StartError::Database(format!("card schema: {e:?}")))?;
            crate::card::transfer::start(&state.card).await?;
        }
        // The batch loader's tables, for its job API. Not fatal: a proxy
        // whose rules predate them refuses the DDL, and only that API suffers.
        if let Err(e) = crate::batch::migrate::ensure(&state.db).await {
            tracing::warn!(error = %e, "the batch tables are missing (the proxy rules lack them?)");
        }
        if state.serves(Center::Report) {
            crate::report::start(&state.report)
                .await
                .map_err(|e| StartError::Report(e.to_string()))?;
        }
        // After the centers: they registered their consumers by now.
        if state.runs_relay() {
            state.outbox.start_relay();
        }
        Ok(state)
    }

    /// Whether this process relays outbox rows (`[outbox] relay`).
    pub fn runs_relay(&self) -> bool {
        self.shared
            .relays(self.centers.iter().any(|c| c.writes_outbox()))
    }

    pub fn serves(&self, c: Center) -> bool {
        self.centers.contains(&c)
    }
}

/// The whole HTTP surface of this process.
pub fn router(state: &AppState) -> Router {
    let shared = &state.shared;
    let mut api: Router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .route("/api-docs/openapi.json", get(openapi::serve))
        .merge(mq_admin::router(shared))
        .merge(crate::shard_status::router(shared))
        .merge(crate::reference::router(shared))
        .with_state(shared.clone())
        .merge(crate::batch::router(shared));
    if state.serves(Center::Permission) {
        api = api.merge(permission::router(shared));
    }
    if state.serves(Center::Number) {
        api = api.merge(crate::number::router(&state.number));
    }
    if state.serves(Center::Card) {
        api = api.merge(crate::card::router(&state.card));
    }
    if state.serves(Center::Report) {
        api = api.merge(crate::report::router(&state.report));
    }
    let request_id = HeaderName::from_static(crate::request_id::HEADER);
    crate::portal::mount(api, &state.cfg.portal)
        .layer(axum::middleware::from_fn(crate::problem::method_not_allowed))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), metrics::track))
        .layer(axum::middleware::from_fn(crate::request_id::scope))
        .layer(DefaultBodyLimit::max(state.cfg.body_limit_bytes))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // Outermost: an id the logs cannot store is dropped before the layer
        // above draws one for the request.
        .layer(axum::middleware::map_request(crate::request_id::sanitize))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests, lets
/// the consumers finish the messages in hand and the relay its pass.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(&state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    state.outbox.shutdown().await;
    state.mq.close().await;
    state.db.clone().disconnect().await;
    Ok(())
}
