//! Headquarters feeds: bulk upsert of departments, channels and staff keyed by
//! their codes, one transaction per row, a result per row (a bad row does not
//! stop the others). Used by the batch loader.

use axum::extract::State;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{authority, channel, department, staff};
use haoka_core::auth::password;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::insert_id;
use haoka_core::domain::{ChannelType, ProvinceCode, RecordStatus};
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json};
use haoka_core::state::Shared;
use haoka_core::validate;

/// Most rows one call may carry.
pub const MAX_ROWS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RowOutcome {
    Created,
    Updated,
    Unchanged,
    Failed,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RowResult {
    /// Position in the request, from 0.
    pub index: usize,
    /// The row's code or 工号.
    pub key: String,
    pub outcome: RowOutcome,
    /// The problem code when the row failed.
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub results: Vec<RowResult>,
}

fn report(results: Vec<RowResult>) -> SyncReport {
    let count = |o| results.iter().filter(|r| r.outcome == o).count();
    SyncReport {
        created: count(RowOutcome::Created),
        updated: count(RowOutcome::Updated),
        unchanged: count(RowOutcome::Unchanged),
        failed: count(RowOutcome::Failed),
        results,
    }
}

fn row_result(index: usize, key: &str, r: Result<RowOutcome, ApiError>) -> RowResult {
    match r {
        Ok(outcome) => RowResult {
            index,
            key: key.to_string(),
            outcome,
            code: None,
            message: None,
        },
        Err(e) => RowResult {
            index,
            key: key.to_string(),
            outcome: RowOutcome::Failed,
            code: Some(e.code().to_string()),
            message: Some(e.to_string()),
        },
    }
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n > MAX_ROWS {
        return Err(ApiError::Invalid(format!(
            "at most {MAX_ROWS} rows per call (got {n})"
        )));
    }
    Ok(())
}

/// Format checks of a feed, done before any row is applied: a feed that
/// breaks the documented format is refused whole (400 naming the row).
fn check_rows<R>(rows: &[R], check: impl Fn(&R) -> Result<(), ApiError>) -> Result<(), ApiError> {
    check_count(rows.len())?;
    for (i, r) in rows.iter().enumerate() {
        check(r).map_err(|e| ApiError::Invalid(format!("row {i}: {e}")))?;
    }
    Ok(())
}

fn optional_code(field: &str, v: &Option<String>) -> Result<(), ApiError> {
    match v {
        Some(c) => validate::code(field, c, 32),
        None => Ok(()),
    }
}

fn status_or_active(s: Option<RecordStatus>) -> RecordStatus {
    s.unwrap_or(RecordStatus::Active)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DepartmentRow {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub parent_code: Option<String>,
    pub province_code: Option<ProvinceCode>,
    pub status: Option<RecordStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DepartmentFeed {
    #[schema(max_items = 1000)]
    pub rows: Vec<DepartmentRow>,
}

pub async fn upsert_department(
    state: &Shared,
    who: &Principal,
    row: &DepartmentRow,
) -> Result<RowOutcome, ApiError> {
    validate::code("code", &row.code, 32)?;
    validate::text("name", &row.name, 1, 64)?;
    let province = row.province_code.as_ref().map(|p| p.as_str());
    who.scope.check(province)?;
    let status = status_or_active(row.status);
    let mut tx = state.db.begin().await?;
    let parent_id = match &row.parent_code {
        None => None,
        Some(pc) => {
            let parent = department::find_by_code(&mut tx, pc)
                .await?
                .ok_or_else(|| ApiError::not_found("department", pc))?;
            authority::check_link(
                who,
                province,
                ("department", pc),
                parent.province_code.as_deref(),
            )?;
            Some(parent.department_id)
        }
    };
    let existing = department::find_by_code(&mut tx, &row.code).await?;
    let (outcome, id, before) = match existing {
        None => {
            let id = department::insert(&mut tx, &row.code, &row.name, parent_id, province, status)
                .await?;
            (RowOutcome::Created, id, None)
        }
        Some(d) => {
            who.scope.check(d.province_code.as_deref())?;
            if d.name == row.name
                && d.parent_id == parent_id
                && d.province_code.as_deref() == province
                && d.status == status
            {
                return Ok(RowOutcome::Unchanged);
            }
            tx.exec_drop(
                "UPDATE department SET name = ?, parent_id = ?, province_code = ?, status = ? WHERE department_id = ?",
                (&row.name, parent_id, province, status.db(), d.department_id),
            )
            .await?;
            (
                RowOutcome::Updated,
                d.department_id,
                serde_json::to_value(&d).ok(),
            )
        }
    };
    let after = department::load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        who,
        Change {
            action: "sync.department",
            object_kind: "department",
            object_id: id.to_string(),
            province,
            before,
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

#[utoipa::path(post, path = "/api/v1/sync/departments", tag = "sync", request_body = DepartmentFeed,
    security(("bearer" = [])), responses((status = 200, body = SyncReport)))]
pub async fn sync_departments(
    State(state): State<Shared>,
    who: Principal,
    Json(feed): Json<DepartmentFeed>,
) -> Result<Json<SyncReport>, ApiError> {
    check_rows(&feed.rows, |r| {
        validate::code("code", &r.code, 32)?;
        validate::text("name", &r.name, 1, 64)?;
        optional_code("parent_code", &r.parent_code)
    })?;
    let mut results = Vec::with_capacity(feed.rows.len());
    for (i, row) in feed.rows.iter().enumerate() {
        results.push(row_result(
            i,
            &row.code,
            upsert_department(&state, &who, row).await,
        ));
    }
    Ok(Json(report(results)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelRow {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
    pub channel_type: ChannelType,
    pub province_code: Option<ProvinceCode>,
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub parent_code: Option<String>,
    pub status: Option<RecordStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelFeed {
    #[schema(max_items = 1000)]
    pub rows: Vec<ChannelRow>,
}

pub async fn upsert_channel(
    state: &Shared,
    who: &Principal,
    row: &ChannelRow,
) -> Result<RowOutcome, ApiError> {
    validate::code("code", &row.code, 32)?;
    validate::text("name", &row.name, 1, 64)?;
    let province = row.province_code.as_ref().map(|p| p.as_str());
    who.scope.check(province)?;
    let status = status_or_active(row.status);
    let mut tx = state.db.begin().await?;
    let parent_id = match &row.parent_code {
        None => None,
        Some(pc) => {
            let parent = channel::find_by_code(&mut tx, pc)
                .await?
                .ok_or_else(|| ApiError::not_found("channel", pc))?;
            authority::check_link(
                who,
                province,
                ("channel", pc),
                parent.province_code.as_deref(),
            )?;
            Some(parent.channel_id)
        }
    };
    let existing = channel::find_by_code(&mut tx, &row.code).await?;
    let (outcome, id, before) = match existing {
        None => {
            let id = channel::insert(
                &mut tx,
                channel::NewChannelRow {
                    code: &row.code,
                    name: &row.name,
                    channel_type: row.channel_type,
                    province,
                    parent_id,
                    rate_limit: 600,
                    status,
                },
            )
            .await?;
            (RowOutcome::Created, id, None)
        }
        Some(ch) => {
            who.scope.check(ch.province_code.as_deref())?;
            if ch.name == row.name
                && ch.channel_type == row.channel_type
                && ch.parent_id == parent_id
                && ch.province_code.as_deref() == province
                && ch.status == status
            {
                return Ok(RowOutcome::Unchanged);
            }
            tx.exec_drop(
                "UPDATE channel SET name = ?, channel_type = ?, parent_id = ?, province_code = ?, status = ? \
                 WHERE channel_id = ?",
                (&row.name, row.channel_type.db(), parent_id, province, status.db(), ch.channel_id),
            )
            .await?;
            (
                RowOutcome::Updated,
                ch.channel_id,
                serde_json::to_value(&ch).ok(),
            )
        }
    };
    let after = channel::load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        who,
        Change {
            action: "sync.channel",
            object_kind: "channel",
            object_id: id.to_string(),
            province,
            before,
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

#[utoipa::path(post, path = "/api/v1/sync/channels", tag = "sync", request_body = ChannelFeed,
    security(("bearer" = [])), responses((status = 200, body = SyncReport)))]
pub async fn sync_channels(
    State(state): State<Shared>,
    who: Principal,
    Json(feed): Json<ChannelFeed>,
) -> Result<Json<SyncReport>, ApiError> {
    check_rows(&feed.rows, |r| {
        validate::code("code", &r.code, 32)?;
        validate::text("name", &r.name, 1, 64)?;
        optional_code("parent_code", &r.parent_code)
    })?;
    let mut results = Vec::with_capacity(feed.rows.len());
    for (i, row) in feed.rows.iter().enumerate() {
        results.push(row_result(
            i,
            &row.code,
            upsert_channel(&state, &who, row).await,
        ));
    }
    Ok(Json(report(results)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffRow {
    /// 工号
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub staff_no: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub department_code: Option<String>,
    pub province_code: Option<ProvinceCode>,
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub channel_code: Option<String>,
    pub status: Option<RecordStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffFeed {
    #[schema(max_items = 1000)]
    pub rows: Vec<StaffRow>,
}

pub async fn upsert_staff(
    state: &Shared,
    who: &Principal,
    row: &StaffRow,
    unusable_hash: &str,
) -> Result<RowOutcome, ApiError> {
    validate::code("staff_no", &row.staff_no, 32)?;
    validate::text("name", &row.name, 1, 64)?;
    let province = row.province_code.as_ref().map(|p| p.as_str());
    who.scope.check(province)?;
    let status = status_or_active(row.status);
    let mut tx = state.db.begin().await?;
    let department_id = match &row.department_code {
        None => None,
        Some(code) => {
            let d = department::find_by_code(&mut tx, code)
                .await?
                .ok_or_else(|| ApiError::not_found("department", code))?;
            authority::check_link(
                who,
                province,
                ("department", code),
                d.province_code.as_deref(),
            )?;
            Some(d.department_id)
        }
    };
    let channel_id = match &row.channel_code {
        None => None,
        Some(code) => {
            let ch = channel::find_by_code(&mut tx, code)
                .await?
                .ok_or_else(|| ApiError::not_found("channel", code))?;
            authority::check_link(
                who,
                province,
                ("channel", code),
                ch.province_code.as_deref(),
            )?;
            Some(ch.channel_id)
        }
    };
    let existing: Option<i64> = tx
        .exec_first(
            "SELECT staff_id FROM staff WHERE staff_no = ?",
            (row.staff_no.as_str(),),
        )
        .await?;
    let (outcome, id, before) = match existing {
        None => {
            // Fed staff get no usable password: an administrator resets it.
            let id = insert_id(
                &mut tx,
                "INSERT INTO staff (staff_no, name, department_id, province_code, channel_id, password_hash, \
                 must_change_password, status) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                vec![
                    row.staff_no.as_str().into(),
                    row.name.as_str().into(),
                    department_id.into(),
                    province.into(),
                    channel_id.into(),
                    unusable_hash.into(),
                    status.db().into(),
                ],
            )
            .await?;
            (RowOutcome::Created, id, None)
        }
        Some(id) => {
            let s = staff::load(&mut tx, id).await?;
            who.scope.check(s.province_code.as_deref())?;
            if s.name == row.name
                && s.department_id == department_id
                && s.channel_id == channel_id
                && s.province_code.as_deref() == province
                && s.status == status
            {
                return Ok(RowOutcome::Unchanged);
            }
            authority::may_change(&mut tx, who, &s).await?;
            tx.exec_drop(
                "UPDATE staff SET name = ?, department_id = ?, province_code = ?, channel_id = ?, status = ? \
                 WHERE staff_id = ?",
                (&row.name, department_id, province, channel_id, status.db(), id),
            )
            .await?;
            (RowOutcome::Updated, id, serde_json::to_value(&s).ok())
        }
    };
    let after = staff::load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        who,
        Change {
            action: "sync.staff",
            object_kind: "staff",
            object_id: id.to_string(),
            province,
            before,
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    if outcome == RowOutcome::Updated {
        state.sessions.principals_changed().await?;
    }
    if status == RecordStatus::Disabled {
        state.sessions.revoke_all(id).await?;
    }
    Ok(outcome)
}

#[utoipa::path(post, path = "/api/v1/sync/staff", tag = "sync", request_body = StaffFeed,
    security(("bearer" = [])), responses((status = 200, body = SyncReport)))]
pub async fn sync_staff(
    State(state): State<Shared>,
    who: Principal,
    Json(feed): Json<StaffFeed>,
) -> Result<Json<SyncReport>, ApiError> {
    check_rows(&feed.rows, |r| {
        validate::code("staff_no", &r.staff_no, 32)?;
        validate::text("name", &r.name, 1, 64)?;
        optional_code("department_code", &r.department_code)?;
        optional_code("channel_code", &r.channel_code)
    })?;
    // One hash of a random password nobody knows, shared by the new rows.
    let unusable = state.hasher.hash(&password::generate()).await?;
    let mut results = Vec::with_capacity(feed.rows.len());
    for (i, row) in feed.rows.iter().enumerate() {
        results.push(row_result(
            i,
            &row.staff_no,
            upsert_staff(&state, &who, row, &unusable).await,
        ));
    }
    Ok(Json(report(results)))
}
