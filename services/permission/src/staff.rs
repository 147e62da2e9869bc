//! Staff (员工): 工号, name, department, province, channel, status.

use axum::extract::State;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authority;
use haoka_core::auth::rbac::Principal;
use haoka_core::auth::{login_guard, password};
use haoka_core::db::{col, insert_id, page, Filter};
use haoka_core::domain::{ProvinceCode, RecordStatus};
use haoka_core::oplog::{self, Change};
use haoka_core::paging::Paging;
use haoka_core::problem::{ApiError, Json, Path, Query};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffView {
    pub staff_id: i64,
    /// 工号
    pub staff_no: String,
    pub name: String,
    pub department_id: Option<i64>,
    pub province_code: Option<String>,
    pub channel_id: Option<i64>,
    pub status: RecordStatus,
    pub must_change_password: bool,
    /// Locked after too many failed logins.
    pub locked: bool,
    pub updated_at: haoka_core::time::Timestamp,
}

haoka_core::paged!(StaffPage, StaffView);

pub const STAFF_COLUMNS: &str = concat!(
    "staff_id, staff_no, name, department_id, province_code, channel_id, status, \
     must_change_password, (locked_until IS NOT NULL AND locked_until > NOW(3)), ",
    haoka_core::ts_col!("updated_at")
);

pub fn staff_from_row(r: &Row) -> StaffView {
    StaffView {
        staff_id: col(r, 0),
        staff_no: col(r, 1),
        name: col(r, 2),
        department_id: col(r, 3),
        province_code: col(r, 4),
        channel_id: col(r, 5),
        status: RecordStatus::from_db(&col::<String>(r, 6)),
        must_change_password: col::<i64>(r, 7) != 0,
        locked: col::<i64>(r, 8) != 0,
        updated_at: col(r, 9),
    }
}

pub async fn load<Q: Queryable>(c: &mut Q, id: i64) -> Result<StaffView, ApiError> {
    let row: Option<Row> = c
        .exec_first(
            format!("SELECT {STAFF_COLUMNS} FROM staff WHERE staff_id = ?"),
            (id,),
        )
        .await?;
    row.as_ref()
        .map(staff_from_row)
        .ok_or_else(|| ApiError::not_found("staff", id))
}

/// Loads a staff member the caller may see (404 for one they may not).
pub async fn load_in_scope<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
    id: i64,
) -> Result<StaffView, ApiError> {
    let s = load(c, id).await?;
    who.scope.find(s.province_code.as_deref(), "staff", id)?;
    Ok(s)
}

/// Loads a staff member the caller may see and change (authority.rs).
async fn load_changeable<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
    id: i64,
) -> Result<StaffView, ApiError> {
    let s = load_in_scope(c, who, id).await?;
    authority::may_change(c, who, &s).await?;
    Ok(s)
}

fn json(s: &StaffView) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    pub province_code: Option<ProvinceCode>,
    pub department_id: Option<i64>,
    pub status: Option<RecordStatus>,
    /// Part of the 工号 or name.
    #[param(max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(StaffFilter),
    security(("bearer" = [])), responses((status = 200, body = StaffPage)))]
pub async fn list_staff(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<StaffFilter>,
) -> Result<Json<StaffPage>, ApiError> {
    let (p, page_size) = Paging {
        page: f.page,
        page_size: f.page_size,
    }
    .resolve()?;
    if let Some(q) = &f.q {
        validate::text("q", q, 0, 64)?;
    }
    let mut w = Filter::default();
    w.eq(
        "province_code",
        f.province_code.as_ref().map(|p| p.as_str()),
    )
    .eq("department_id", f.department_id)
    .eq("status", f.status.map(|s| s.db()));
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        w.like("CONCAT(staff_no, ' ', name)", Some(q));
    }
    who.scope.restrict(&mut w, "province_code");
    let mut c = state.db.conn().await?;
    let (total, rows) = page(
        &mut c,
        "staff",
        STAFF_COLUMNS,
        "staff_id",
        w,
        (p, page_size),
    )
    .await?;
    Ok(Json(StaffPage {
        items: rows.iter().map(staff_from_row).collect(),
        total,
        page: p,
        page_size,
    }))
}

#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = StaffView)))]
pub async fn get_staff(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<StaffView>, ApiError> {
    let mut c = state.db.conn().await?;
    Ok(Json(load_in_scope(&mut c, &who, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewStaff {
    /// 工号
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub staff_no: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
    pub department_id: Option<i64>,
    /// Absent: headquarters staff.
    pub province_code: Option<ProvinceCode>,
    pub channel_id: Option<i64>,
}

/// A created staff member and their one-time initial password.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedStaff {
    pub staff: StaffView,
    /// Shown once; the staff member must change it at first login.
    pub initial_password: String,
}

/// The department and channel a staff member of `province` links to exist
/// for the caller and belong to that province (or headquarters).
pub async fn check_refs<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
    province: Option<&str>,
    department_id: Option<i64>,
    channel_id: Option<i64>,
) -> Result<(), ApiError> {
    if let Some(d) = department_id {
        let dept = super::department::load(c, d).await?;
        authority::check_link(
            who,
            province,
            ("department", d),
            dept.province_code.as_deref(),
        )?;
    }
    if let Some(ch) = channel_id {
        let channel = super::channel::load(c, ch).await?;
        authority::check_link(
            who,
            province,
            ("channel", ch),
            channel.province_code.as_deref(),
        )?;
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = NewStaff,
    security(("bearer" = [])), responses((status = 201, body = CreatedStaff)))]
pub async fn create_staff(
    State(state): State<Shared>,
    who: Principal,
    Json(new): Json<NewStaff>,
) -> Result<(axum::http::StatusCode, Json<CreatedStaff>), ApiError> {
    validate::code("staff_no", &new.staff_no, 32)?;
    validate::text("name", &new.name, 1, 64)?;
    let province = new.province_code.as_ref().map(|p| p.as_str());
    who.scope.check(province)?;
    let initial = password::generate();
    let hash = state.hasher.hash(&initial).await?;
    let mut tx = state.db.begin().await?;
    check_refs(&mut tx, &who, province, new.department_id, new.channel_id).await?;
    let id = insert_id(
        &mut tx,
        "INSERT INTO staff (staff_no, name, department_id, province_code, channel_id, password_hash, \
         must_change_password) VALUES (?, ?, ?, ?, ?, ?, 1)",
        vec![
            new.staff_no.as_str().into(),
            new.name.as_str().into(),
            new.department_id.into(),
            province.into(),
            new.channel_id.into(),
            hash.into(),
        ],
    )
    .await?;
    let staff = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "staff.create",
            object_kind: "staff",
            object_id: id.to_string(),
            province,
            before: None,
            after: Some(json(&staff)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(CreatedStaff {
            staff,
            initial_password: initial,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffUpdate {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: Option<String>,
    pub department_id: Option<i64>,
    pub province_code: Option<ProvinceCode>,
    pub channel_id: Option<i64>,
}

#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = i64, Path)),
    request_body = StaffUpdate, security(("bearer" = [])), responses((status = 200, body = StaffView)))]
pub async fn update_staff(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
    Json(up): Json<StaffUpdate>,
) -> Result<Json<StaffView>, ApiError> {
    if let Some(n) = &up.name {
        validate::text("name", n, 1, 64)?;
    }
    if let Some(p) = &up.province_code {
        who.scope.check(Some(p.as_str()))?;
    }
    let mut tx = state.db.begin().await?;
    let before = load_changeable(&mut tx, &who, id).await?;
    // The links as they will be, against the province as it will be.
    let province = up
        .province_code
        .as_ref()
        .map(|p| p.as_str())
        .or(before.province_code.as_deref());
    check_refs(
        &mut tx,
        &who,
        province,
        up.department_id.or(before.department_id),
        up.channel_id.or(before.channel_id),
    )
    .await?;
    tx.exec_drop(
        "UPDATE staff SET name = COALESCE(?, name), department_id = COALESCE(?, department_id), \
         province_code = COALESCE(?, province_code), channel_id = COALESCE(?, channel_id) WHERE staff_id = ?",
        (
            up.name,
            up.department_id,
            up.province_code.as_ref().map(|p| p.as_str().to_string()),
            up.channel_id,
            id,
        ),
    )
    .await?;
    let after = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "staff.update",
            object_kind: "staff",
            object_id: id.to_string(),
            province: after.province_code.as_deref(),
            before: Some(json(&before)),
            after: Some(json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.sessions.principals_changed().await?;
    Ok(Json(after))
}

/// One change to a staff row's status fields, logged.
async fn set_state(
    state: &Shared,
    who: &Principal,
    id: i64,
    action: &str,
    sql: &str,
) -> Result<StaffView, ApiError> {
    let mut tx = state.db.begin().await?;
    let before = load_changeable(&mut tx, who, id).await?;
    tx.exec_drop(sql, (id,)).await?;
    let after = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        who,
        Change {
            action,
            object_kind: "staff",
            object_id: id.to_string(),
            province: after.province_code.as_deref(),
            before: Some(json(&before)),
            after: Some(json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.sessions.principals_changed().await?;
    Ok(after)
}

#[utoipa::path(post, path = "/api/v1/staff/{id}/disable", tag = "staff", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = StaffView)))]
pub async fn disable_staff(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<StaffView>, ApiError> {
    if id == who.staff_id {
        return Err(ApiError::NotAllowed("you cannot disable yourself".into()));
    }
    let s = set_state(
        &state,
        &who,
        id,
        "staff.disable",
        "UPDATE staff SET status = 'D' WHERE staff_id = ?",
    )
    .await?;
    state.sessions.revoke_all(id).await?;
    Ok(Json(s))
}

#[utoipa::path(post, path = "/api/v1/staff/{id}/enable", tag = "staff", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = StaffView)))]
pub async fn enable_staff(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<StaffView>, ApiError> {
    Ok(Json(
        set_state(
            &state,
            &who,
            id,
            "staff.enable",
            "UPDATE staff SET status = 'A' WHERE staff_id = ?",
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/staff/{id}/unlock", tag = "staff", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = StaffView)))]
pub async fn unlock_staff(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<StaffView>, ApiError> {
    let s = set_state(
        &state,
        &who,
        id,
        "staff.unlock",
        "UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE staff_id = ?",
    )
    .await?;
    login_guard::clear(&state.cache, id).await?;
    Ok(Json(s))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordReset {
    /// Shown once; must be changed at the next login.
    pub temporary_password: String,
}

#[utoipa::path(post, path = "/api/v1/staff/{id}/password-reset", tag = "staff", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = PasswordReset)))]
pub async fn reset_password(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<PasswordReset>, ApiError> {
    if id == who.staff_id {
        return Err(ApiError::NotAllowed(
            "use POST /api/v1/auth/password to change your own password".into(),
        ));
    }
    let temporary = password::generate();
    let hash = state.hasher.hash(&temporary).await?;
    let mut tx = state.db.begin().await?;
    let staff = load_changeable(&mut tx, &who, id).await?;
    super::login::store_password(&mut tx, id, &hash, true).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "staff.password_reset",
            object_kind: "staff",
            object_id: id.to_string(),
            province: staff.province_code.as_deref(),
            before: None,
            after: Some(serde_json::json!({"must_change_password": true})),
        },
    )
    .await?;
    tx.commit().await?;
    state.sessions.principals_changed().await?;
    state.sessions.revoke_all(id).await?;
    login_guard::clear(&state.cache, id).await?;
    Ok(Json(PasswordReset {
        temporary_password: temporary,
    }))
}
