//! Reading the operation, interface and login logs (newest first), each
//! limited to the caller's province scope: operation rows by their province,
//! interface rows by the calling channel's, login rows by the staff
//! member's. Rows of no province (headquarters objects, calls that named no
//! known credential, logins of unknown staff numbers) only national scope sees.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, page, Filter};
use haoka_core::paging::Paging;
use haoka_core::problem::{ApiError, Json, Query};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperationLogView {
    pub log_id: i64,
    pub staff_id: Option<i64>,
    pub province_code: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    /// JSON text
    pub before_value: Option<String>,
    /// JSON text
    pub after_value: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: haoka_core::time::Timestamp,
}
haoka_core::paged!(OperationLogPage, OperationLogView);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OperationLogFilter {
    #[param(max_length = 32, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub object_kind: Option<String>,
    #[param(max_length = 64, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub object_id: Option<String>,
    pub staff_id: Option<i64>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/logs/operations", tag = "logs", params(OperationLogFilter),
    security(("bearer" = [])), responses((status = 200, body = OperationLogPage)))]
pub async fn list_operation_logs(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<OperationLogFilter>,
) -> Result<Json<OperationLogPage>, ApiError> {
    let (p, size) = Paging {
        page: f.page,
        page_size: f.page_size,
    }
    .resolve()?;
    for (name, v, max) in [
        ("object_kind", &f.object_kind, 32),
        ("object_id", &f.object_id, 64),
    ] {
        if let Some(v) = v {
            validate::text(name, v, 0, max)?;
        }
    }
    let mut w = Filter::default();
    w.eq("object_kind", f.object_kind.clone())
        .eq("object_id", f.object_id.clone())
        .eq("staff_id", f.staff_id);
    who.scope.restrict(&mut w, "province_code");
    let mut c = state.db.conn().await?;
    let (total, rows) = page(
        &mut c,
        "operation_log",
        concat!(
            "log_id, staff_id, province_code, action, object_kind, object_id, before_value, after_value, \
             source_ip, request_id, ",
            haoka_core::ts_col!("created_at")
        ),
        "log_id DESC",
        w,
        (p, size),
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| OperationLogView {
            log_id: col(r, 0),
            staff_id: col(r, 1),
            province_code: col(r, 2),
            action: col(r, 3),
            object_kind: col(r, 4),
            object_id: col(r, 5),
            before_value: col(r, 6),
            after_value: col(r, 7),
            source_ip: col(r, 8),
            request_id: col(r, 9),
            created_at: col(r, 10),
        })
        .collect();
    Ok(Json(OperationLogPage {
        items,
        total,
        page: p,
        page_size: size,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InterfaceLogView {
    pub log_id: i64,
    pub channel_id: Option<i64>,
    pub key_id: Option<String>,
    pub method: String,
    pub path: String,
    pub status_code: i64,
    pub latency_ms: i64,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub request_id: Option<String>,
    pub created_at: haoka_core::time::Timestamp,
}
haoka_core::paged!(InterfaceLogPage, InterfaceLogView);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InterfaceLogFilter {
    pub channel_id: Option<i64>,
    #[param(max_length = 24, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub key_id: Option<String>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/logs/interface", tag = "logs", params(InterfaceLogFilter),
    security(("bearer" = [])), responses((status = 200, body = InterfaceLogPage)))]
pub async fn list_interface_logs(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<InterfaceLogFilter>,
) -> Result<Json<InterfaceLogPage>, ApiError> {
    let (p, size) = Paging {
        page: f.page,
        page_size: f.page_size,
    }
    .resolve()?;
    if let Some(k) = &f.key_id {
        validate::text("key_id", k, 0, 24)?;
    }
    let mut w = Filter::default();
    w.eq("channel_id", f.channel_id)
        .eq("key_id", f.key_id.clone());
    who.scope
        .restrict_through(&mut w, "channel_id", "channel", "channel_id");
    let mut c = state.db.conn().await?;
    let (total, rows) = page(
        &mut c,
        "interface_log",
        concat!(
            "log_id, channel_id, key_id, method, path, status_code, latency_ms, request_body, response_body, \
             request_id, ",
            haoka_core::ts_col!("created_at")
        ),
        "log_id DESC",
        w,
        (p, size),
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| InterfaceLogView {
            log_id: col(r, 0),
            channel_id: col(r, 1),
            key_id: col(r, 2),
            method: col(r, 3),
            path: col(r, 4),
            status_code: col(r, 5),
            latency_ms: col(r, 6),
            request_body: col(r, 7),
            response_body: col(r, 8),
            request_id: col(r, 9),
            created_at: col(r, 10),
        })
        .collect();
    Ok(Json(InterfaceLogPage {
        items,
        total,
        page: p,
        page_size: size,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginLogView {
    pub log_id: i64,
    pub staff_no: String,
    pub staff_id: Option<i64>,
    pub source_ip: String,
    /// ok, unknown_staff, disabled, locked, source_denied, bad_password, locked_now
    pub outcome: String,
    pub created_at: haoka_core::time::Timestamp,
}
haoka_core::paged!(LoginLogPage, LoginLogView);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginLogFilter {
    #[param(max_length = 32, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub staff_no: Option<String>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/logs/logins", tag = "logs", params(LoginLogFilter),
    security(("bearer" = [])), responses((status = 200, body = LoginLogPage)))]
pub async fn list_login_logs(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<LoginLogFilter>,
) -> Result<Json<LoginLogPage>, ApiError> {
    let (p, size) = Paging {
        page: f.page,
        page_size: f.page_size,
    }
    .resolve()?;
    if let Some(s) = &f.staff_no {
        validate::text("staff_no", s, 0, 32)?;
    }
    let mut w = Filter::default();
    w.eq("staff_no", f.staff_no.clone());
    who.scope
        .restrict_through(&mut w, "staff_id", "staff", "staff_id");
    let mut c = state.db.conn().await?;
    let (total, rows) = page(
        &mut c,
        "login_log",
        concat!(
            "log_id, staff_no, staff_id, source_ip, outcome, ",
            haoka_core::ts_col!("created_at")
        ),
        "log_id DESC",
        w,
        (p, size),
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| LoginLogView {
            log_id: col(r, 0),
            staff_no: col(r, 1),
            staff_id: col(r, 2),
            source_ip: col(r, 3),
            outcome: col(r, 4),
            created_at: col(r, 5),
        })
        .collect();
    Ok(Json(LoginLogPage {
        items,
        total,
        page: p,
        page_size: size,
    }))
}
