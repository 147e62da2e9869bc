//! Channel API (能力开放) endpoints of the permission center: the calling
//! channel's own profile and a signed connectivity check. They sit behind
//! `interface_log::gate` (signature, replay, rate limit, interface log).

use axum::extract::State;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::channel::{self, ChannelView};
use haoka_core::auth::channel_sign::ChannelCaller;
use haoka_core::auth::session::now_secs;
use haoka_core::problem::{ApiError, Json};
use haoka_core::state::Shared;
use haoka_core::validate;

#[utoipa::path(get, path = "/api/v1/open/channel", tag = "channel api",
    security(("channel_signature" = [])), responses((status = 200, body = ChannelView)))]
pub async fn open_channel(
    State(state): State<Shared>,
    Extension(caller): Extension<ChannelCaller>,
) -> Result<Json<ChannelView>, ApiError> {
    let mut c = state.db.conn().await?;
    Ok(Json(channel::load(&mut c, caller.channel_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Ping {
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Pong {
    pub channel_code: String,
    pub message: String,
    /// Unix seconds on the server clock (to check the signing clock).
    pub server_time: u64,
}

#[utoipa::path(post, path = "/api/v1/open/ping", tag = "channel api", request_body = Ping,
    security(("channel_signature" = [])), responses((status = 200, body = Pong)))]
pub async fn open_ping(
    Extension(caller): Extension<ChannelCaller>,
    Json(ping): Json<Ping>,
) -> Result<Json<Pong>, ApiError> {
    validate::text("message", &ping.message, 1, 256)?;
    Ok(Json(Pong {
        channel_code: caller.channel_code,
        message: ping.message,
        server_time: now_secs(),
    }))
}
