//! Liveness (/healthz: the process answers) and readiness (/readyz: the proxy,
//! Redis and RabbitMQ all answer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::Json;
use crate::state::Shared;

#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
    pub redis: bool,
    pub rabbitmq: bool,
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "the process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready", body = Readiness),
              (status = 503, description = "a backend does not answer", body = Readiness)))]
pub async fn readyz(State(state): State<Shared>) -> Response {
    let (database, redis, rabbitmq) =
        tokio::join!(state.db.ping(), state.cache.ping(), state.mq.connected());
    let ready = database && redis && rabbitmq;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            database,
            redis,
            rabbitmq,
        }),
    )
        .into_response()
}
