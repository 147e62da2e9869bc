//! Router assembly. A process serves the centers its role flag names; the
//! shared parts (health, metrics, OpenAPI, request ids, tracing, body limit,
//! problem bodies for 405s) are always mounted.

use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::password::Hasher;
use crate::auth::session::Sessions;
use crate::cache::Cache;
use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::metrics::Metrics;
use crate::mq::{Mq, MqError};
use crate::outbox::{OutboxMetrics, OutboxRuntime, RelayMode};
use crate::seal::Sealer;
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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "unknown role {0:?}: this build serves \"permission\", \"number\", \"card\" and \"report\""
    )]
    UnknownRole(String),
    #[error("no role given: name at least one center to serve")]
    NoRole,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database URL: {0}")]
    DatabaseUrl(#[from] mysql_async::UrlError),
    #[error("database: {0}")]
    Database(String),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Mq(#[from] MqError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    #[error("report center: {0}")]
    Report(String),
}

pub struct Inner {
    pub cfg: Config,
    pub centers: Vec<Center>,
    pub db: Db,
    pub cache: Cache,
    pub mq: Mq,
    pub metrics: Metrics,
    pub sealer: Sealer,
    pub hasher: Hasher,
    pub sessions: Sessions,
    pub number: crate::number::NumberCenter,
    pub card: crate::card::CardCenter,
    pub report: crate::report::ReportCenter,
    /// The relay and the consumers centers registered (`outbox::runtime`).
    pub outbox: OutboxRuntime,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects to the proxy, Redis and RabbitMQ and seeds what the centers need.
    pub async fn connect(cfg: Config) -> Result<AppState, StartError> {
        let centers = parse_roles(&cfg.roles)?;
        cfg.outbox.validate().map_err(ConfigError::Outbox)?;
        let sealer = Sealer::new(cfg.seal_key_bytes()?);
        let db = Db::new(&cfg.database_url)?;
        // Timestamps name the database clock's offset (crate::time).
        let mut c = db
            .conn()
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        crate::time::learn_offset(&mut c)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
        drop(c);
        let cache = Cache::connect(&cfg.redis_url).await?;
        let mq = Mq::start(cfg.amqp_url.clone()).await?;
        let metrics = Metrics::new();
        let outbox_metrics = OutboxMetrics::register(metrics.registry())?;
        let state = AppState(Arc::new(Inner {
            hasher: Hasher::new(&cfg.password),
            sessions: Sessions::new(cache.clone(), &cfg.session),
            outbox: OutboxRuntime::new(cfg.outbox.clone(), db.pool(), mq.clone(), outbox_metrics),
            metrics,
            number: crate::number::NumberCenter::new(&cfg.number),
            card: crate::card::CardCenter::new(&cfg.card),
            report: crate::report::ReportCenter::new(&cfg.report)
                .map_err(|e| StartError::Report(e.to_string()))?,
            centers,
            db,
            cache,
            mq,
            sealer,
            cfg,
        }));
        if state.serves(Center::Permission) {
            permission::seed::ensure(&state)
                .await
                .map_err(|e| StartError::Database(e.to_string()))?;
        }
        if state.serves(Center::Number) {
            crate::number::start(&state)
                .await
                .map_err(|e| StartError::Database(e.to_string()))?;
        }
        if state.serves(Center::Card) {
            crate::card::migrate::ensure(&state.db)
                .await
                .map_err(|e| StartError::Database(format!("card schema: {e:?}")))?;
            crate::card::transfer::start(&state).await?;
        }
        // The batch loader's tables, for its job API. Not fatal: a proxy
        // whose rules predate them refuses the DDL, and only that API suffers.
        if let Err(e) = crate::batch::migrate::ensure(&state.db).await {
            tracing::warn!(error = %e, "the batch tables are missing (the proxy rules lack them?)");
        }
        if state.serves(Center::Report) {
            crate::report::start(&state)
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
        match self.cfg.outbox.relay {
            RelayMode::On => true,
            RelayMode::Off => false,
            RelayMode::Auto => self.centers.iter().any(|c| c.writes_outbox()),
        }
    }

    pub fn serves(&self, c: Center) -> bool {
        self.centers.contains(&c)
    }
}

/// The whole HTTP surface of this process.
pub fn router(state: &AppState) -> Router {
    let mut api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .route("/api-docs/openapi.json", get(openapi::serve))
        .merge(mq_admin::router(state))
        .merge(crate::shard_status::router(state))
        .merge(crate::batch::router(state))
        .merge(crate::reference::router(state));
    if state.serves(Center::Permission) {
        api = api.merge(permission::router(state));
    }
    if state.serves(Center::Number) {
        api = api.merge(crate::number::router(state));
    }
    if state.serves(Center::Card) {
        api = api.merge(crate::card::router(state));
    }
    if state.serves(Center::Report) {
        api = api.merge(crate::report::router(state));
    }
    let request_id = HeaderName::from_static(crate::request_id::HEADER);
    crate::portal::mount(api, &state.cfg.portal)
        .layer(axum::middleware::from_fn(crate::problem::method_not_allowed))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
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
        .with_state(state.clone())
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
