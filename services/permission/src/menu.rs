//! Portal menus (菜单): a tree; a menu with a permission shows only to staff
//! holding it.

use axum::extract::State;
use axum::http::StatusCode;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, insert_id};
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MenuView {
    pub menu_id: i64,
    pub parent_id: Option<i64>,
    pub title: String,
    pub path: Option<String>,
    /// Shown only to holders of this permission.
    pub permission: Option<String>,
    pub sort_order: i64,
}

const SELECT: &str =
    "SELECT m.menu_id, m.parent_id, m.title, m.path, p.code, m.sort_order FROM menu m \
     LEFT JOIN permission p ON p.permission_id = m.permission_id";

fn from_row(r: &Row) -> MenuView {
    MenuView {
        menu_id: col(r, 0),
        parent_id: col(r, 1),
        title: col(r, 2),
        path: col(r, 3),
        permission: col(r, 4),
        sort_order: col(r, 5),
    }
}

async fn all<Q: Queryable>(c: &mut Q) -> Result<Vec<MenuView>, ApiError> {
    let rows: Vec<Row> = c
        .query(format!(
            "{SELECT} ORDER BY m.sort_order, m.menu_id LIMIT 1000"
        ))
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The menus `who` may see.
pub async fn visible_menus<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
) -> Result<Vec<MenuView>, ApiError> {
    Ok(all(c)
        .await?
        .into_iter()
        .filter(|m| {
            m.permission
                .as_ref()
                .is_none_or(|p| who.permissions.contains(p))
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/menus", tag = "menus", security(("bearer" = [])),
    responses((status = 200, body = Vec<MenuView>)))]
pub async fn list_menus(State(state): State<Shared>) -> Result<Json<Vec<MenuView>>, ApiError> {
    let mut c = state.db.conn().await?;
    Ok(Json(all(&mut c).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMenu {
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub title: String,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub path: Option<String>,
    pub parent_id: Option<i64>,
    /// A permission code, e.g. `staff:read`.
    #[schema(min_length = 1, max_length = 64)]
    pub permission: Option<String>,
    #[schema(minimum = -100000, maximum = 100000)]
    pub sort_order: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/menus", tag = "menus", request_body = NewMenu,
    security(("bearer" = [])), responses((status = 201, body = MenuView)))]
pub async fn create_menu(
    State(state): State<Shared>,
    who: Principal,
    Json(new): Json<NewMenu>,
) -> Result<(StatusCode, Json<MenuView>), ApiError> {
    validate::text("title", &new.title, 1, 64)?;
    who.scope.check(None)?; // menus are national
    if let Some(p) = &new.path {
        validate::text("path", p, 1, 128)?;
    }
    let sort = new.sort_order.unwrap_or(0);
    if !(-100_000..=100_000).contains(&sort) {
        return Err(ApiError::Invalid(
            "sort_order must be -100000 to 100000".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    if let Some(parent) = new.parent_id {
        let found: Option<i64> = tx
            .exec_first("SELECT menu_id FROM menu WHERE menu_id = ?", (parent,))
            .await?;
        found.ok_or_else(|| ApiError::not_found("menu", parent))?;
    }
    let permission_id: Option<i64> = match &new.permission {
        None => None,
        Some(code) => Some(
            tx.exec_first(
                "SELECT permission_id FROM permission WHERE code = ?",
                (code.as_str(),),
            )
            .await?
            .ok_or_else(|| ApiError::not_found("permission", code))?,
        ),
    };
    let id = insert_id(
        &mut tx,
        "INSERT INTO menu (parent_id, title, path, permission_id, sort_order) VALUES (?, ?, ?, ?, ?)",
        vec![
            new.parent_id.into(),
            new.title.as_str().into(),
            new.path.clone().into(),
            permission_id.into(),
            sort.into(),
        ],
    )
    .await?;
    let row: Option<Row> = tx
        .exec_first(format!("{SELECT} WHERE m.menu_id = ?"), (id,))
        .await?;
    let menu = row
        .as_ref()
        .map(from_row)
        .ok_or_else(|| ApiError::not_found("menu", id))?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "menu.create",
            object_kind: "menu",
            object_id: id.to_string(),
            province: None,
            before: None,
            after: serde_json::to_value(&menu).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(menu)))
}
