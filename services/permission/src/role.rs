//! Roles, their permissions, and which staff hold them (with an optional
//! extra-province grant that widens the holder's data scope).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use super::authority;
use haoka_core::auth::rbac::Principal;
use haoka_core::auth::scope::{Scope, ALL_PROVINCES};
use haoka_core::db::{col, insert_id};
use haoka_core::domain::{ProvinceCode, RecordStatus, PROVINCES};
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json, Path};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub role_id: i64,
    pub code: String,
    pub name: String,
    pub status: RecordStatus,
    pub permissions: Vec<String>,
}

pub async fn load<Q: Queryable>(c: &mut Q, id: i64) -> Result<RoleView, ApiError> {
    let row: Option<(i64, String, String, String)> = c
        .exec_first(
            "SELECT role_id, code, name, status FROM role WHERE role_id = ?",
            (id,),
        )
        .await?;
    let (role_id, code, name, status) = row.ok_or_else(|| ApiError::not_found("role", id))?;
    let permissions: Vec<String> = c
        .exec(
            "SELECT p.code FROM role_permission rp JOIN permission p ON p.permission_id = rp.permission_id \
             WHERE rp.role_id = ? ORDER BY p.code",
            (id,),
        )
        .await?;
    Ok(RoleView {
        role_id,
        code,
        name,
        status: RecordStatus::from_db(&status),
        permissions,
    })
}

/// Roles are national definitions: only staff with every province in scope
/// define or change them.
fn national(who: &Principal) -> Result<(), ApiError> {
    who.scope.check(None)
}

/// The built-in admin role keeps every permission.
fn changeable(role: RoleView) -> Result<RoleView, ApiError> {
    if role.code == super::seed::ADMIN_ROLE {
        return Err(ApiError::Conflict(
            "the built-in admin role cannot be changed".into(),
        ));
    }
    Ok(role)
}

fn json(v: &RoleView) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = Vec<RoleView>)))]
pub async fn list_roles(State(state): State<Shared>) -> Result<Json<Vec<RoleView>>, ApiError> {
    let mut c = state.db.conn().await?;
    let ids: Vec<i64> = c
        .query("SELECT role_id FROM role ORDER BY role_id LIMIT 1000")
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load(&mut c, id).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = RoleView)))]
pub async fn get_role(
    State(state): State<Shared>,
    Path(id): Path<i64>,
) -> Result<Json<RoleView>, ApiError> {
    let mut c = state.db.conn().await?;
    Ok(Json(load(&mut c, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRole {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = NewRole,
    security(("bearer" = [])), responses((status = 201, body = RoleView)))]
pub async fn create_role(
    State(state): State<Shared>,
    who: Principal,
    Json(new): Json<NewRole>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    validate::code("code", &new.code, 32)?;
    validate::text("name", &new.name, 1, 64)?;
    national(&who)?;
    let mut tx = state.db.begin().await?;
    let id = insert_id(
        &mut tx,
        "INSERT INTO role (code, name) VALUES (?, ?)",
        vec![new.code.as_str().into(), new.name.as_str().into()],
    )
    .await?;
    let role = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "role.create",
            object_kind: "role",
            object_id: id.to_string(),
            province: None,
            before: None,
            after: Some(json(&role)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(role)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleUpdate {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: Option<String>,
    pub status: Option<RecordStatus>,
}

#[utoipa::path(patch, path = "/api/v1/roles/{id}", tag = "roles", params(("id" = i64, Path)),
    request_body = RoleUpdate, security(("bearer" = [])), responses((status = 200, body = RoleView)))]
pub async fn update_role(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
    Json(up): Json<RoleUpdate>,
) -> Result<Json<RoleView>, ApiError> {
    if let Some(n) = &up.name {
        validate::text("name", n, 1, 64)?;
    }
    national(&who)?;
    let mut tx = state.db.begin().await?;
    let before = changeable(load(&mut tx, id).await?)?;
    authority::may_change_role(&who, &before)?;
    tx.exec_drop(
        "UPDATE role SET name = COALESCE(?, name), status = COALESCE(?, status) WHERE role_id = ?",
        (up.name, up.status.map(|s| s.db()), id),
    )
    .await?;
    let after = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "role.update",
            object_kind: "role",
            object_id: id.to_string(),
            province: None,
            before: Some(json(&before)),
            after: Some(json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.sessions.principals_changed().await?;
    Ok(Json(after))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RolePermissions {
    /// Permission codes, e.g. `staff:read`.
    #[schema(max_items = 200)]
    pub permissions: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/roles/{id}/permissions", tag = "roles", params(("id" = i64, Path)),
    request_body = RolePermissions, security(("bearer" = [])), responses((status = 200, body = RoleView)))]
pub async fn set_role_permissions(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
    Json(req): Json<RolePermissions>,
) -> Result<Json<RoleView>, ApiError> {
    if req.permissions.len() > 200 {
        return Err(ApiError::Invalid("at most 200 permissions".into()));
    }
    let wanted: BTreeSet<&str> = req.permissions.iter().map(String::as_str).collect();
    // Nobody grants what they do not hold themselves.
    if let Some(p) = wanted.iter().find(|p| !who.permissions.contains(**p)) {
        return Err(ApiError::NotAllowed(format!(
            "you cannot grant {p:?}: you do not hold it"
        )));
    }
    national(&who)?;
    let mut tx = state.db.begin().await?;
    let before = changeable(load(&mut tx, id).await?)?;
    authority::may_change_role(&who, &before)?;
    let mut ids = Vec::new();
    for code in &wanted {
        let pid: Option<i64> = tx
            .exec_first(
                "SELECT permission_id FROM permission WHERE code = ?",
                (*code,),
            )
            .await?;
        ids.push(pid.ok_or_else(|| ApiError::not_found("permission", code))?);
    }
    // Only the difference is written: exact-key deletes and inserts take no
    // gap locks that would collide with concurrent changes of other roles.
    let held: Vec<i64> = tx
        .exec(
            "SELECT permission_id FROM role_permission WHERE role_id = ?",
            (id,),
        )
        .await?;
    for pid in held.iter().filter(|p| !ids.contains(p)) {
        tx.exec_drop(
            "DELETE FROM role_permission WHERE role_id = ? AND permission_id = ?",
            (id, pid),
        )
        .await?;
    }
    for pid in ids.iter().filter(|p| !held.contains(p)) {
        tx.exec_drop(
            "INSERT INTO role_permission (role_id, permission_id) VALUES (?, ?)",
            (id, pid),
        )
        .await?;
    }
    let after = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "role.permissions",
            object_kind: "role",
            object_id: id.to_string(),
            province: None,
            before: Some(json(&before)),
            after: Some(json(&after)),
        },
    )
    .await?;
    tx.commit().await?;
    state.sessions.principals_changed().await?;
    Ok(Json(after))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PermissionView {
    pub permission_id: i64,
    pub code: String,
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles", security(("bearer" = [])),
    responses((status = 200, body = Vec<PermissionView>)))]
pub async fn list_permissions(
    State(state): State<Shared>,
) -> Result<Json<Vec<PermissionView>>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<(i64, String, String)> = c
        .query("SELECT permission_id, code, name FROM permission ORDER BY code LIMIT 1000")
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(permission_id, code, name)| PermissionView {
                permission_id,
                code,
                name,
            })
            .collect(),
    ))
}

/// The provinces a role grant adds: one province, or `all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProvinceGrant(String);

impl ProvinceGrant {
    fn db(&self) -> &str {
        if self.0 == "all" {
            ALL_PROVINCES
        } else {
            &self.0
        }
    }
    fn from_db(s: &str) -> ProvinceGrant {
        ProvinceGrant(if s == ALL_PROVINCES {
            "all".into()
        } else {
            s.into()
        })
    }
}

impl<'de> Deserialize<'de> for ProvinceGrant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "all" || ProvinceCode::parse(&s).is_some() {
            Ok(ProvinceGrant(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "{s:?} is neither a province code nor \"all\""
            )))
        }
    }
}

impl utoipa::PartialSchema for ProvinceGrant {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(PROVINCES.iter().copied().chain(["all"])))
            .description(Some(
                "an extra province this grant adds to the data scope, or all of them",
            ))
            .into()
    }
}
impl ToSchema for ProvinceGrant {}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffRoleGrant {
    pub role_id: i64,
    pub extra_province: Option<ProvinceGrant>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffRoles {
    #[schema(max_items = 50)]
    pub roles: Vec<StaffRoleGrant>,
}

async fn staff_roles<Q: Queryable>(
    c: &mut Q,
    staff_id: i64,
) -> Result<Vec<StaffRoleGrant>, ApiError> {
    let rows: Vec<Row> = c
        .exec(
            "SELECT role_id, scope_province_code FROM staff_role WHERE staff_id = ? ORDER BY role_id",
            (staff_id,),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| StaffRoleGrant {
            role_id: col(r, 0),
            extra_province: col::<Option<String>>(r, 1).map(|s| ProvinceGrant::from_db(&s)),
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/staff/{id}/roles", tag = "staff", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<StaffRoleGrant>)))]
pub async fn list_staff_roles(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<Vec<StaffRoleGrant>>, ApiError> {
    let mut c = state.db.conn().await?;
    super::staff::load_in_scope(&mut c, &who, id).await?;
    Ok(Json(staff_roles(&mut c, id).await?))
}

#[utoipa::path(put, path = "/api/v1/staff/{id}/roles", tag = "staff", params(("id" = i64, Path)),
    request_body = StaffRoles, security(("bearer" = [])), responses((status = 200, body = Vec<StaffRoleGrant>)))]
pub async fn set_staff_roles(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
    Json(req): Json<StaffRoles>,
) -> Result<Json<Vec<StaffRoleGrant>>, ApiError> {
    if req.roles.len() > 50 {
        return Err(ApiError::Invalid("at most 50 roles".into()));
    }
    if id == who.staff_id {
        return Err(ApiError::NotAllowed(
            "you cannot change your own roles".into(),
        ));
    }
    // A grant may widen another's scope only within the grantor's own.
    for g in &req.roles {
        match (&g.extra_province, &who.scope) {
            (Some(_), Scope::All) | (None, _) => {}
            (Some(p), Scope::Provinces(set)) if p.0 != "all" && set.contains(&p.0) => {}
            (Some(p), _) => return Err(ApiError::OutOfScope(p.0.clone())),
        }
    }
    let mut tx = state.db.begin().await?;
    let staff = super::staff::load_in_scope(&mut tx, &who, id).await?;
    // Neither adding nor removing roles of an account stronger than yours.
    authority::may_change(&mut tx, &who, &staff).await?;
    for g in &req.roles {
        let role = load(&mut tx, g.role_id).await?;
        if let Some(p) = role
            .permissions
            .iter()
            .find(|p| !who.permissions.contains(*p))
        {
            return Err(ApiError::NotAllowed(format!(
                "you cannot grant role {}: it holds {p:?}, which you do not",
                role.code
            )));
        }
    }
    let before = staff_roles(&mut tx, id).await?;
    // The difference only (see set_role_permissions).
    let mut seen = BTreeSet::new();
    let wanted: Vec<&StaffRoleGrant> = req
        .roles
        .iter()
        .filter(|g| seen.insert(g.role_id))
        .collect();
    for old in before
        .iter()
        .filter(|o| !wanted.iter().any(|w| w.role_id == o.role_id))
    {
        tx.exec_drop(
            "DELETE FROM staff_role WHERE staff_id = ? AND role_id = ?",
            (id, old.role_id),
        )
        .await?;
    }
    for g in wanted {
        let scope = g.extra_province.as_ref().map(|p| p.db().to_string());
        if before.iter().any(|o| o.role_id == g.role_id) {
            tx.exec_drop(
                "UPDATE staff_role SET scope_province_code = ? WHERE staff_id = ? AND role_id = ?",
                (scope, id, g.role_id),
            )
            .await?;
        } else {
            tx.exec_drop(
                "INSERT INTO staff_role (staff_id, role_id, scope_province_code) VALUES (?, ?, ?)",
                (id, g.role_id, scope),
            )
            .await?;
        }
    }
    let after = staff_roles(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "staff.roles",
            object_kind: "staff",
            object_id: id.to_string(),
            province: staff.province_code.as_deref(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    state.sessions.principals_changed().await?;
    Ok(Json(after))
}
