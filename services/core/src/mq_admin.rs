//! The messaging operator API (permission `mq:admin`): the dead-letter queues
//! of the consumers this process registered (list, replay one message) and
//! the outbox backlog per province. A queue is addressable only if a center
//! registered a consumer for it here; callers never name arbitrary queues.
//! Everything is limited to the caller's province scope (by `x-province`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::rbac::{guarded, Permission, Principal};
use crate::domain::PROVINCES;
use crate::oplog::{self, Change};
use crate::outbox::stats::{self, ProvinceBacklog};
use crate::outbox::{list_dead, replay_dead, topology, DeadMessage, OutboxError, Replay};
use crate::problem::{ApiError, Json, Path, Query};
use crate::state::Shared;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub fn router(state: &Shared) -> Router<Shared> {
    let s = state;
    Router::new()
        .route(
            "/api/v1/mq/dead-letters",
            guarded(s, Permission::MqAdmin, get(list_dead_letters)),
        )
        .route(
            "/api/v1/mq/dead-letters/{queue}/{message_id}/replay",
            guarded(s, Permission::MqAdmin, post(replay_dead_letter)),
        )
        .route(
            "/api/v1/mq/outbox/stats",
            guarded(s, Permission::MqAdmin, get(outbox_stats)),
        )
}

fn mq_error(e: OutboxError) -> ApiError {
    match e {
        OutboxError::Db(e) => e.into(),
        OutboxError::Invalid(m) => ApiError::Internal(m),
        other => ApiError::Unavailable(other.to_string()),
    }
}

/// Checks a queue name and that a consumer of this process owns it.
fn known_queue(state: &Shared, queue: &str) -> Result<(), ApiError> {
    if queue.is_empty()
        || queue.len() > 200
        || !queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(ApiError::Invalid(
            "queue must be 1 to 200 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    if !state.outbox.knows(queue) {
        return Err(ApiError::not_found("consumer queue", queue));
    }
    Ok(())
}

fn in_scope(who: &Principal, m: &DeadMessage) -> bool {
    who.scope.allows(m.province_code.as_deref())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterFilter {
    /// A registered consumer's queue (its dead letters are in `<queue>.dead`).
    #[param(pattern = "^[A-Za-z0-9._-]{1,200}$", max_length = 200)]
    pub queue: String,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    pub queue: String,
    pub dead_letter_queue: String,
    /// Oldest first; listing removes nothing.
    pub items: Vec<DeadMessage>,
}

#[utoipa::path(get, path = "/api/v1/mq/dead-letters", tag = "mq", params(DeadLetterFilter),
    security(("bearer" = [])), responses((status = 200, body = DeadLetterList)))]
pub async fn list_dead_letters(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<DeadLetterFilter>,
) -> Result<Json<DeadLetterList>, ApiError> {
    known_queue(&state, &f.queue)?;
    let limit = f.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let _one_at_a_time = state.outbox.dead_letters.lock().await;
    let items = list_dead(&state.mq, &f.queue, limit as usize, |m| in_scope(&who, m))
        .await
        .map_err(mq_error)?;
    Ok(Json(DeadLetterList {
        dead_letter_queue: topology::dead_queue(&f.queue),
        queue: f.queue,
        items,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeadLetterPath {
    #[param(pattern = "^[A-Za-z0-9._-]{1,200}$", max_length = 200)]
    pub queue: String,
    /// The AMQP message id (the outbox row's UUID).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$", max_length = 64)]
    pub message_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// The queue the message went back into.
    pub queue: String,
    /// The message as it was in the dead-letter queue.
    pub message: DeadMessage,
}

#[utoipa::path(post, path = "/api/v1/mq/dead-letters/{queue}/{message_id}/replay", tag = "mq",
    params(DeadLetterPath), security(("bearer" = [])), responses((status = 200, body = Replayed)))]
pub async fn replay_dead_letter(
    State(state): State<Shared>,
    who: Principal,
    Path(p): Path<DeadLetterPath>,
) -> Result<Json<Replayed>, ApiError> {
    known_queue(&state, &p.queue)?;
    if p.message_id.is_empty()
        || p.message_id.len() > 64
        || !p
            .message_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(ApiError::Invalid(
            "message_id must be 1 to 64 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    // The log row commits right after the broker confirmed the replay; the
    // transaction is open first so a database outage refuses the replay.
    let mut tx = state.db.begin().await?;
    let _one_at_a_time = state.outbox.dead_letters.lock().await;
    let outcome = replay_dead(&state.mq, &p.queue, &p.message_id, |m| in_scope(&who, m))
        .await
        .map_err(mq_error)?;
    let dead = match outcome {
        Replay::Replayed(dead) => dead,
        Replay::Refused(dead) => {
            return Err(ApiError::OutOfScope(
                dead.province_code.unwrap_or_else(|| "(none)".into()),
            ))
        }
        Replay::NotFound => {
            return Err(ApiError::not_found(
                "dead letter",
                format!("{} in {}", p.message_id, topology::dead_queue(&p.queue)),
            ))
        }
    };
    let province = dead
        .province_code
        .as_deref()
        .filter(|p| PROVINCES.contains(p));
    let logged = oplog::record(
        &mut tx,
        &who,
        Change {
            action: "mq.dead_letter.replay",
            object_kind: "mq_message",
            object_id: p.message_id.clone(),
            province,
            before: Some(json!({
                "queue": topology::dead_queue(&p.queue),
                "routing_key": dead.routing_key,
                "reason": dead.reason,
                "death_count": dead.death_count,
            })),
            after: Some(json!({ "queue": p.queue })),
        },
    )
    .await;
    if let Err(e) = logged {
        tracing::error!(message_id = %p.message_id, queue = %p.queue, error = %e, "replayed but not logged");
        return Err(e);
    }
    tx.commit().await?;
    tracing::info!(message_id = %p.message_id, queue = %p.queue, staff_id = who.staff_id, "dead letter replayed");
    Ok(Json(Replayed {
        queue: p.queue,
        message: dead,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsumerView {
    pub name: String,
    pub queue: String,
    pub exchange: String,
    pub binding_key: String,
    /// Whether this process consumes it (`[outbox] consumers`).
    pub consuming: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxStats {
    /// Provinces (in the caller's scope) with pending or failed rows.
    pub provinces: Vec<ProvinceBacklog>,
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_age_ms: Option<i64>,
    /// Whether this process runs a relay.
    pub relay_running: bool,
    /// The consumers registered in this process (the addressable queues).
    pub consumers: Vec<ConsumerView>,
}

#[utoipa::path(get, path = "/api/v1/mq/outbox/stats", tag = "mq",
    security(("bearer" = [])), responses((status = 200, body = OutboxStats)))]
pub async fn outbox_stats(
    State(state): State<Shared>,
    who: Principal,
) -> Result<Json<OutboxStats>, ApiError> {
    let visible: Vec<String> = PROVINCES
        .iter()
        .filter(|p| who.scope.allows(Some(p)))
        .map(|p| p.to_string())
        .collect();
    let provinces = stats::backlog(&state.db.pool(), &visible)
        .await
        .map_err(mq_error)?;
    let consumers = state
        .outbox
        .consumers()
        .into_iter()
        .map(|(spec, consuming)| ConsumerView {
            name: spec.name,
            queue: spec.queue,
            exchange: spec.exchange,
            binding_key: spec.binding_key,
            consuming,
        })
        .collect();
    Ok(Json(OutboxStats {
        pending: provinces.iter().map(|p| p.pending).sum(),
        failed: provinces.iter().map(|p| p.failed).sum(),
        oldest_pending_age_ms: provinces
            .iter()
            .filter_map(|p| p.oldest_pending_age_ms)
            .max(),
        relay_running: state.outbox.relay_running(),
        consumers,
        provinces,
    }))
}
