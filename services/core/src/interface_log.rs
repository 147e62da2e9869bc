//! The channel API gate and its interface log: every call under /api/v1/open
//! is rate limited per source address, verified (signature, replay,
//! timestamp), rate limited per channel, and written to `interface_log` with
//! status and latency; bodies are truncated and secret-looking fields masked.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;

use crate::auth::channel_sign::{self, ChannelCaller};
use crate::auth::rate_limit::{self, SourceVerdict};
use crate::auth::session::now_secs;
use crate::problem::ApiError;
use crate::state::Shared;

/// Bytes of a body kept in the log.
const BODY_LOG_LIMIT: usize = 2000;

/// Field names whose values never reach the log.
fn sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["secret", "password", "token", "signature", "key"]
        .iter()
        .any(|s| n.contains(s))
}

fn mask(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if sensitive(k) {
                    *val = serde_json::Value::String("***".into());
                } else {
                    mask(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// The loggable form of a body: masked JSON, or lossy text, cut to the limit.
pub fn loggable(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            mask(&mut v);
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    Some(truncate(&text, BODY_LOG_LIMIT))
}

fn truncate(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_string();
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The channel of a credential, by the key id exactly as issued.
async fn channel_of_key(
    conn: &mut mysql_async::Conn,
    key_id: &str,
) -> Result<Option<i64>, ApiError> {
    let row: Option<(i64, String)> = conn
        .exec_first(
            "SELECT channel_id, key_id FROM channel_credential WHERE key_id = ?",
            (key_id,),
        )
        .await?;
    Ok(row.filter(|(_, k)| k == key_id).map(|(id, _)| id))
}

async fn admit(
    state: &Shared,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<ChannelCaller, ApiError> {
    let now = now_secs();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| parts.uri.path());
    let caller = channel_sign::verify(
        state,
        &parts.headers,
        parts.method.as_str(),
        path,
        body,
        now,
    )
    .await?;
    rate_limit::check(
        &state.cache,
        caller.channel_id,
        caller.rate_limit_per_minute,
        now,
    )
    .await?;
    Ok(caller)
}

fn source(parts: &axum::http::request::Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Middleware for the channel API routes. The source address's limit comes
/// first: past it a call costs one Redis round trip and is not logged (but
/// for the first refusal of each minute). Then the body (at most
/// `channel_api.body_limit_bytes`), the signature and the channel's limit;
/// every call that got past the source limit is logged.
pub async fn gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let cfg = &state.cfg.channel_api;
    let per_source = cfg.source_rate_limit_per_minute;
    let verdict = match source(&parts) {
        Some(ip) => rate_limit::check_source(&state.cache, ip, per_source, now_secs()).await,
        None => Ok(SourceVerdict::Allowed),
    };
    let (resp, caller, req_body) = match verdict {
        Err(e) => (e.into_response(), None, None),
        Ok(SourceVerdict::Refused) => {
            state
                .metrics
                .channel_calls
                .with_label_values(&["429"])
                .inc();
            return ApiError::RateLimited(per_source).into_response();
        }
        Ok(SourceVerdict::FirstRefused) => {
            tracing::warn!(source = ?source(&parts), "channel API calls from one address over the limit");
            (
                ApiError::RateLimited(per_source).into_response(),
                None,
                None,
            )
        }
        Ok(SourceVerdict::Allowed) => match to_bytes(body, cfg.body_limit_bytes).await {
            Err(_) => (
                ApiError::Rejected {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!("the body exceeds {} bytes", cfg.body_limit_bytes),
                }
                .into_response(),
                None,
                None,
            ),
            Ok(bytes) => match admit(&state, &parts, &bytes).await {
                Err(e) => (e.into_response(), None, loggable(&bytes)),
                Ok(caller) => {
                    let logged = loggable(&bytes);
                    let mut req = Request::from_parts(parts.clone(), Body::from(bytes));
                    req.extensions_mut().insert(caller.clone());
                    (next.run(req).await, Some(caller), logged)
                }
            },
        },
    };
    let (rparts, rbody) = resp.into_parts();
    let rbytes = to_bytes(rbody, usize::MAX).await.unwrap_or_default();
    let latency_ms = start.elapsed().as_millis().min(i32::MAX as u128) as i64;
    state
        .metrics
        .channel_calls
        .with_label_values(&[rparts.status.as_str()])
        .inc();
    let key_id = caller
        .as_ref()
        .map(|c| c.key_id.clone())
        .or_else(|| channel_sign::claimed_key(&parts.headers));
    let path = truncate(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        255,
    );
    let written = async {
        let mut conn = state.db.conn().await?;
        // A refused call still belongs to the channel whose key it names:
        // its failing integration shows in that channel's log.
        let channel_id = match (&caller, &key_id) {
            (Some(c), _) => Some(c.channel_id),
            (None, Some(k)) => channel_of_key(&mut conn, k).await?,
            (None, None) => None,
        };
        conn.exec_drop(
            "INSERT INTO interface_log (channel_id, key_id, method, path, status_code, latency_ms, \
             request_body, response_body, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                channel_id,
                key_id,
                crate::metrics::method_label(&parts.method),
                path,
                rparts.status.as_u16(),
                latency_ms,
                req_body,
                loggable(&rbytes),
                crate::request_id::of(&parts.headers),
            ),
        )
        .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "interface log row not written");
    }
    Response::from_parts(rparts, Body::from(rbytes))
}
