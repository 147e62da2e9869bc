//! Departments (部门): a tree; a department belongs to a province or to
//! headquarters.

use axum::extract::State;
use axum::http::StatusCode;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authority;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, insert_id, page, Filter};
use haoka_core::domain::{ProvinceCode, RecordStatus};
use haoka_core::oplog::{self, Change};
use haoka_core::paging::Paging;
use haoka_core::problem::{ApiError, Json, Path, Query};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DepartmentView {
    pub department_id: i64,
    pub parent_id: Option<i64>,
    pub province_code: Option<String>,
    pub code: String,
    pub name: String,
    pub status: RecordStatus,
}

haoka_core::paged!(DepartmentPage, DepartmentView);

const COLUMNS: &str = "department_id, parent_id, province_code, code, name, status";

fn from_row(r: &Row) -> DepartmentView {
    DepartmentView {
        department_id: col(r, 0),
        parent_id: col(r, 1),
        province_code: col(r, 2),
        code: col(r, 3),
        name: col(r, 4),
        status: RecordStatus::from_db(&col::<String>(r, 5)),
    }
}

pub async fn load<Q: Queryable>(c: &mut Q, id: i64) -> Result<DepartmentView, ApiError> {
    let row: Option<Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM department WHERE department_id = ?"),
            (id,),
        )
        .await?;
    row.as_ref()
        .map(from_row)
        .ok_or_else(|| ApiError::not_found("department", id))
}

pub async fn find_by_code<Q: Queryable>(
    c: &mut Q,
    code: &str,
) -> Result<Option<DepartmentView>, ApiError> {
    let row: Option<Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM department WHERE code = ?"),
            (code,),
        )
        .await?;
    Ok(row.as_ref().map(from_row))
}

fn json(d: &DepartmentView) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or_default()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepartmentFilter {
    pub province_code: Option<ProvinceCode>,
    pub parent_id: Option<i64>,
    pub status: Option<RecordStatus>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/departments", tag = "departments", params(DepartmentFilter),
    security(("bearer" = [])), responses((status = 200, body = DepartmentPage)))]
pub async fn list_departments(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<DepartmentFilter>,
) -> Result<Json<DepartmentPage>, ApiError> {
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
    .eq("parent_id", f.parent_id)
    .eq("status", f.status.map(|s| s.db()));
    who.scope.restrict(&mut w, "province_code");
    let mut c = state.db.conn().await?;
    let (total, rows) = page(
        &mut c,
        "department",
        COLUMNS,
        "department_id",
        w,
        (p, page_size),
    )
    .await?;
    Ok(Json(DepartmentPage {
        items: rows.iter().map(from_row).collect(),
        total,
        page: p,
        page_size,
    }))
}

/// A department with its sub-departments.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DepartmentNode {
    pub department: DepartmentView,
    #[schema(no_recursion)]
    pub children: Vec<DepartmentNode>,
}

/// Hard cap on a tree answer.
const TREE_LIMIT: u32 = 5000;

#[utoipa::path(get, path = "/api/v1/departments/tree", tag = "departments",
    security(("bearer" = [])), responses((status = 200, body = Vec<DepartmentNode>)))]
pub async fn department_tree(
    State(state): State<Shared>,
    who: Principal,
) -> Result<Json<Vec<DepartmentNode>>, ApiError> {
    let mut w = Filter::default();
    who.scope.restrict(&mut w, "province_code");
    let mut c = state.db.conn().await?;
    let rows: Vec<Row> = c
        .exec(
            format!(
                "SELECT {COLUMNS} FROM department{} ORDER BY department_id LIMIT {TREE_LIMIT}",
                w.sql()
            ),
            w.params,
        )
        .await?;
    let all: Vec<DepartmentView> = rows.iter().map(from_row).collect();
    let ids: std::collections::HashSet<i64> = all.iter().map(|d| d.department_id).collect();
    fn build(
        parent: Option<i64>,
        all: &[DepartmentView],
        ids: &std::collections::HashSet<i64>,
        depth: u32,
    ) -> Vec<DepartmentNode> {
        if depth > 32 {
            return Vec::new();
        }
        all.iter()
            .filter(|d| match parent {
                // roots: no parent, or a parent outside what this caller sees
                None => d.parent_id.is_none_or(|p| !ids.contains(&p)),
                Some(p) => d.parent_id == Some(p),
            })
            .map(|d| DepartmentNode {
                department: d.clone(),
                children: build(Some(d.department_id), all, ids, depth + 1),
            })
            .collect()
    }
    Ok(Json(build(None, &all, &ids, 0)))
}

#[utoipa::path(get, path = "/api/v1/departments/{id}", tag = "departments", params(("id" = i64, Path)),
    security(("bearer" = [])), responses((status = 200, body = DepartmentView)))]
pub async fn get_department(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
) -> Result<Json<DepartmentView>, ApiError> {
    let mut c = state.db.conn().await?;
    let d = load(&mut c, id).await?;
    who.scope
        .find(d.province_code.as_deref(), "department", id)?;
    Ok(Json(d))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDepartment {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: String,
    pub parent_id: Option<i64>,
    pub province_code: Option<ProvinceCode>,
}

/// A department of `province` may sit under `parent_id` (authority.rs).
async fn check_parent<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
    province: Option<&str>,
    parent_id: Option<i64>,
) -> Result<(), ApiError> {
    let Some(p) = parent_id else {
        return Ok(());
    };
    let parent = load(c, p).await?;
    authority::check_link(
        who,
        province,
        ("department", p),
        parent.province_code.as_deref(),
    )
}

/// Inserts a department (shared by the API and the sync feed); the caller
/// checked the parent.
pub async fn insert<Q: Queryable>(
    c: &mut Q,
    code: &str,
    name: &str,
    parent_id: Option<i64>,
    province: Option<&str>,
    status: RecordStatus,
) -> Result<i64, ApiError> {
    insert_id(
        c,
        "INSERT INTO department (parent_id, province_code, code, name, status) VALUES (?, ?, ?, ?, ?)",
        vec![parent_id.into(), province.into(), code.into(), name.into(), status.db().into()],
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/departments", tag = "departments", request_body = NewDepartment,
    security(("bearer" = [])), responses((status = 201, body = DepartmentView)))]
pub async fn create_department(
    State(state): State<Shared>,
    who: Principal,
    Json(new): Json<NewDepartment>,
) -> Result<(StatusCode, Json<DepartmentView>), ApiError> {
    validate::code("code", &new.code, 32)?;
    validate::text("name", &new.name, 1, 64)?;
    let province = new.province_code.as_ref().map(|p| p.as_str());
    who.scope.check(province)?;
    let mut tx = state.db.begin().await?;
    check_parent(&mut tx, &who, province, new.parent_id).await?;
    let id = insert(
        &mut tx,
        &new.code,
        &new.name,
        new.parent_id,
        province,
        RecordStatus::Active,
    )
    .await?;
    let d = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "department.create",
            object_kind: "department",
            object_id: id.to_string(),
            province,
            before: None,
            after: Some(json(&d)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DepartmentUpdate {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub name: Option<String>,
    pub parent_id: Option<i64>,
    pub status: Option<RecordStatus>,
}

#[utoipa::path(patch, path = "/api/v1/departments/{id}", tag = "departments", params(("id" = i64, Path)),
    request_body = DepartmentUpdate, security(("bearer" = [])), responses((status = 200, body = DepartmentView)))]
pub async fn update_department(
    State(state): State<Shared>,
    who: Principal,
    Path(id): Path<i64>,
    Json(up): Json<DepartmentUpdate>,
) -> Result<Json<DepartmentView>, ApiError> {
    if let Some(n) = &up.name {
        validate::text("name", n, 1, 64)?;
    }
    if up.parent_id == Some(id) {
        return Err(ApiError::Conflict(
            "a department cannot be its own parent".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    let before = load(&mut tx, id).await?;
    who.scope
        .find(before.province_code.as_deref(), "department", id)?;
    check_parent(&mut tx, &who, before.province_code.as_deref(), up.parent_id).await?;
    tx.exec_drop(
        "UPDATE department SET name = COALESCE(?, name), parent_id = COALESCE(?, parent_id), \
         status = COALESCE(?, status) WHERE department_id = ?",
        (up.name, up.parent_id, up.status.map(|s| s.db()), id),
    )
    .await?;
    let after = load(&mut tx, id).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "department.update",
            object_kind: "department",
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
