//! Channels (渠道): code, type, province, parent, status, rate limit; and their
//! API credentials (能力开放): a key id and a secret shown once.

use axum::extract::State;
use axum::http::StatusCode;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authority;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, insert_id, page, Filter};
use haoka_core::domain::{ChannelType, ProvinceCode, RecordStatus};
use haoka_core::oplog::{self, Change};
use haoka_core::paging::Paging;
use haoka_core::problem::{ApiError, Json, Path, Query};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    pub channel_id: i64,
    pub code: String,
    pub name: String,
    pub channel_type: ChannelType,
    /// Absent: a national channel.
    pub province_code: Option<String>,
    pub parent_id: Option<i64>,
    pub hold_minutes: i64,
    pub rate_limit_per_minute: i64,
    pub status: RecordStatus,
}

haoka_core::paged!(ChannelPage, ChannelView);

const COLUMNS: &str =
    "channel_id, code, name, channel_type, province_code, parent_id, hold_minutes, rate_limit_per_minute, status";

fn from_row(r: &Row) -> ChannelView {
    ChannelView {
        channel_id: col(r, 0),
        code: col(r, 1),
        name: col(r, 2),
        channel_type: ChannelType::from_db(&col::<String>(r, 3)),
        province_code: col(r, 4),
        parent_id: col(r, 5),
        hold_minutes: col(r, 6),
        rate_limit_per_minute: col(r, 7),
        status: RecordStatus::from_db(&col::<String>(r, 8)),
    }
}

pub async fn load<Q: Queryable>(c: &mut Q, id: i64) -> Result<ChannelView, ApiError> {
    let row: Option<Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM channel WHERE channel_id = ?"),
            (id,),
        )
        .await?;
    row.as_ref()
        .map(from_row)
        .ok_or_else(|| ApiError::not_found("channel", id))
}

/// A channel the caller may see (404 for one they may not).
async fn load_in_scope<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
    id: i64,
) -> Result<ChannelView, ApiError> {
    let ch = load(c, id).await?;
    who.scope.find(ch.province_code.as_deref(), "channel", id)?;
    Ok(ch)
}

pub async fn find_by_code<Q: Queryable>(
    c: &mut Q,
    code: &str,
) -> Result<Option<ChannelView>, ApiError> {
    let row: Option<Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM channel WHERE code = ?"),
            (code,),
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

fn json(v: &ChannelView) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChannelFilter {
    pub province_code: Option<ProvinceCode>,
    pub channel_type: Option<ChannelType>,
    pub status: Option<RecordStatus>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", params(ChannelFilter),
    security(("bearer" = [])), responses((status = 200, body = ChannelPage)))]
pub async fn list_channels(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<ChannelFilter>,
) -> Result<Json<ChannelPage>, ApiError> {
    let (p, page_size) = Paging {
        page: f.page,
        page_size: f.page_size,
    }
    .resolve()?;
    let mut w = Filter::default();
    w.eq(
        "province_code",
        f.province_code.as_ref().map(|p| p.as_str()),
    )
    .eq("channel_type", f.channel_type.map(|t| t.db()))
    .eq("status", f.status.map(|s| s.db()));
    who.scope.restrict(&mut w, "province_code");
    let mut c = state.db.conn().await?;
    let (total, rows) = page(&mut c, "channel", COLUMNS, "channel_id", w, (p, page_size)).await?;
    Ok(Json(ChannelPage {
        items: rows.iter().map(from_row).collect(),
        total,
        page: p,
        page_size,
    }))
}

#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = ChannelView)))]
pub async fn get_channel(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<ChannelView>, ApiError> {
    let mut c = state.db.conn().await?;
    let ch = load_in_scope(&mut c, &who, id).await?;
    Ok(Json(ch))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewChannel {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
    pub channel_type: ChannelType,
    pub province_code: Option<ProvinceCode>,
    pub parent_id: Option<i64>,
    #[schema(minimum = 1, maximum = 100000)]
    pub rate_limit_per_minute: Option<u32>,
}

/// The columns of a new channel.
pub struct NewChannelRow<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub channel_type: ChannelType,
    pub province: Option<&'a str>,
    pub parent_id: Option<i64>,
    pub rate_limit: u32,
    pub status: RecordStatus,
}

/// Inserts a channel (shared by the API and the sync feed); the caller
/// checked the parent.
pub async fn insert<Q: Queryable>(c: &mut Q, row: NewChannelRow<'_>) -> Result<i64, ApiError> {
    insert_id(
        c,
        "INSERT INTO channel (code, name, channel_type, province_code, parent_id, rate_limit_per_minute, status) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        vec![
            row.code.into(),
            row.name.into(),
            row.channel_type.db().into(),
            row.province.into(),
            row.parent_id.into(),
            row.rate_limit.into(),
            row.status.db().into(),
        ],
    )
    .await
}

fn check_rate(limit: Option<u32>) -> Result<u32, ApiError> {
    let l = limit.unwrap_or(600);
    if !(1..=100_000).contains(&l) {
        return Err(ApiError::Invalid(
            "rate_limit_per_minute must be 1 to 100000".into(),
        ));
    }
    Ok(l)
}

#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = NewChannel,
    security(("bearer" = [])), responses((status = 201, body = ChannelView)))]
pub async fn create_channel(
    State(state): State<Shared>,
    who: Principal,
    Json(new): Json<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    validate::code("code", &new.code, 32)?;
    validate::text("name", &new.name, 1, 64)?;
    let rate = check_rate(new.rate_limit_per_minute)?;
    let province = new.province_code.as_ref().map(|p| p.as_str());
    who.scope.check(province)?;
    let mut tx = state.db.begin().await?;
    if let Some(p) = new.parent_id {
        let parent = load(&mut tx, p).await?;
        authority::check_link(
            &who,
            province,
            ("channel", p),
            parent.province_code.as_deref(),
        )?;
    }
    let id = insert(
        &mut tx,
        NewChannelRow {
            code: &new.code,
            name: &new.name,
            channel_type: new.channel_type,
            province,
            parent_id: new.parent_id,
            rate_limit: rate,
            status: RecordStatus::Active,
        },
    )
    .await?;
    let ch = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "channel.create",
            object_kind: "channel",
            object_id: id.to_string(),
            province,
            before: None,
            after: Some(json(&ch)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(ch)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelUpdate {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: Option<String>,
    pub channel_type: Option<ChannelType>,
    #[schema(minimum = 1, maximum = 100000)]
    pub rate_limit_per_minute: Option<u32>,
    pub status: Option<RecordStatus>,
}

#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = i64, Path)),
    request_body = ChannelUpdate, security(("bearer" = [])), responses((status = 200, body = ChannelView)))]
pub async fn update_channel(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
    Json(up): Json<ChannelUpdate>,
) -> Result<Json<ChannelView>, ApiError> {
    if let Some(n) = &up.name {
        validate::text("name", n, 1, 64)?;
    }
    if up.rate_limit_per_minute.is_some() {
        check_rate(up.rate_limit_per_minute)?;
    }
    let mut tx = state.db.begin().await?;
    let before = load_in_scope(&mut tx, &who, id).await?;
    tx.exec_drop(
        "UPDATE channel SET name = COALESCE(?, name), channel_type = COALESCE(?, channel_type), \
         rate_limit_per_minute = COALESCE(?, rate_limit_per_minute), status = COALESCE(?, status) \
         WHERE channel_id = ?",
        (
            up.name,
            up.channel_type.map(|t| t.db()),
            up.rate_limit_per_minute,
            up.status.map(|s| s.db()),
            id,
        ),
    )
    .await?;
    let after = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "channel.update",
            object_kind: "channel",
            object_id: id.to_string(),
            province: after.province_code.as_deref(),
            before: Some(json(&before)),
            after: Some(json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialView {
    pub key_id: String,
    pub status: RecordStatus,
    pub created_at: haoka_core::time::Timestamp,
}

#[utoipa::path(get, path = "/api/v1/channels/{id}/credentials", tag = "channels", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<CredentialView>)))]
pub async fn list_credentials(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<Vec<CredentialView>>, ApiError> {
    let mut c = state.db.conn().await?;
    load_in_scope(&mut c, &who, id).await?;
    let rows: Vec<(String, String, haoka_core::time::Timestamp)> = c
        .exec(
            concat!(
                "SELECT key_id, status, ",
                haoka_core::ts_col!("created_at"),
                " FROM channel_credential WHERE channel_id = ? ORDER BY created_at"
            ),
            (id,),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(key_id, status, created_at)| CredentialView {
                key_id,
                status: RecordStatus::from_db(&status),
                created_at,
            })
            .collect(),
    ))
}

/// A new credential; the secret is shown only in this answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedCredential {
    pub key_id: String,
    /// HMAC-SHA256 key (its UTF-8 bytes); store it safely, it is not shown again.
    pub secret: String,
}

#[utoipa::path(post, path = "/api/v1/channels/{id}/credentials", tag = "channels", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 201, body = IssuedCredential)))]
pub async fn issue_credential(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<IssuedCredential>), ApiError> {
    let mut key = [0u8; 12];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    rand::thread_rng().fill_bytes(&mut secret);
    let key_id = hex::encode(key);
    let secret = hex::encode(secret);
    let mut tx = state.db.begin().await?;
    let ch = load_in_scope(&mut tx, &who, id).await?;
    tx.exec_drop(
        "INSERT INTO channel_credential (key_id, channel_id, secret_sealed) VALUES (?, ?, ?)",
        (&key_id, id, state.sealer.seal(secret.as_bytes())),
    )
    .await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "credential.issue",
            object_kind: "channel",
            object_id: id.to_string(),
            province: ch.province_code.as_deref(),
            before: None,
            after: Some(serde_json::json!({ "key_id": key_id })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedCredential { key_id, secret }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/channels/{id}/credentials/{key_id}", tag = "channels",
    params(("id" = i64, Path), ("key_id" = String, Path, max_length = 24)),
    security(("bearer" = [])), responses((status = 204, description = "revoked")))]
pub async fn revoke_credential(
    State(state): State<Shared>,
    who: Principal,
    Path((id, key_id)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.begin().await?;
    let ch = load_in_scope(&mut tx, &who, id).await?;
    let found: Option<String> = tx
        .exec_first(
            "SELECT status FROM channel_credential WHERE key_id = ? AND channel_id = ?",
            (&key_id, id),
        )
        .await?;
    if found.as_deref() != Some("A") {
        return Err(ApiError::not_found("credential", key_id));
    }
    tx.exec_drop(
        "UPDATE channel_credential SET status = 'D', revoked_at = NOW(3) WHERE key_id = ?",
        (&key_id,),
    )
    .await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "credential.revoke",
            object_kind: "channel",
            object_id: id.to_string(),
            province: ch.province_code.as_deref(),
            before: Some(serde_json::json!({ "key_id": key_id, "status": "active" })),
            after: Some(serde_json::json!({ "key_id": key_id, "status": "disabled" })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
