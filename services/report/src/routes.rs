//! The report center's HTTP surface under /api/v1/reports, each endpoint
//! behind its permission (report:read, report:export) and the caller's
//! province scope, and its OpenAPI document (merged into the server's).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::export::Format;
use super::filters::Filters;
use super::rollup::{self, RollupRequest, RollupView};
use super::schedules::{self, CreateSchedule, ScheduleView};
use super::stats::{self, StatTable};
use super::store::Download;
use super::table::{Cell, Column};
use super::tasks::{self, Listing, TaskPage, TaskStatus, TaskView};
use super::templates::{self, FilterKey, Shape, TEMPLATES};
use crate::ReportState;
use haoka_core::auth::rbac::{guarded, Permission::*, Principal};
use haoka_core::problem::{ApiError, Json, Path, Query};

/// The center's routes, with its state.
pub fn router(state: &ReportState) -> Router {
    let s = state;
    Router::new()
        .route(
            "/api/v1/reports",
            guarded(s, ReportRead, get(list_tasks)).merge(guarded(
                s,
                ReportExport,
                post(create_task),
            )),
        )
        .route(
            "/api/v1/reports/templates",
            guarded(s, ReportRead, get(list_templates)),
        )
        .route(
            "/api/v1/reports/schedules",
            guarded(s, ReportAdmin, get(list_schedules).post(create_schedule)),
        )
        .route(
            "/api/v1/reports/schedules/{schedule_id}",
            guarded(s, ReportAdmin, get(get_schedule).delete(delete_schedule)),
        )
        .route(
            "/api/v1/reports/rollup",
            guarded(s, ReportAdmin, post(run_rollup)),
        )
        .route(
            "/api/v1/reports/templates/{code}/stats",
            guarded(s, ReportRead, get(template_stats)),
        )
        .route(
            "/api/v1/reports/{task_id}",
            guarded(s, ReportRead, get(get_task)),
        )
        .route(
            "/api/v1/reports/{task_id}/cancel",
            guarded(s, ReportExport, post(cancel_task)),
        )
        .route(
            "/api/v1/reports/{task_id}/file",
            guarded(s, ReportExport, get(download)),
        )
        .with_state(state.clone())
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_templates,
        template_stats,
        create_task,
        list_tasks,
        get_task,
        cancel_task,
        download,
        list_schedules,
        create_schedule,
        get_schedule,
        delete_schedule,
        run_rollup
    ),
    components(schemas(
        TemplateView,
        StatTable,
        CreateReport,
        TaskView,
        TaskPage,
        CreateSchedule,
        ScheduleView,
        RollupRequest,
        RollupView,
        Cell,
        TaskStatus,
        Format,
        Filters,
        Column,
        Shape
    ))
)]
pub struct ReportDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub code: &'static str,
    pub name: &'static str,
    pub shape: Shape,
    pub columns: Vec<Column>,
    /// The filters this template applies besides `province_code`.
    pub filters: Vec<&'static str>,
    /// Whether `from` / `to` apply.
    pub by_date: bool,
    /// Closed days come from the statistics tables the daily roll-up fills.
    pub daily: bool,
}

fn filter_name(k: FilterKey) -> &'static str {
    match k {
        FilterKey::City => "city_code",
        FilterKey::Pool => "pool_id",
        FilterKey::Depot => "depot_id",
        FilterKey::Status => "status",
        FilterKey::Level => "level",
        FilterKey::Channel => "channel_id",
    }
}

/// 报表模板: the statistics and detail reports there are.
#[utoipa::path(get, path = "/api/v1/reports/templates", tag = "reports",
    security(("bearer" = [])), responses((status = 200, body = Vec<TemplateView>)))]
pub async fn list_templates() -> Json<Vec<TemplateView>> {
    Json(
        TEMPLATES
            .iter()
            .map(|t| TemplateView {
                code: t.code,
                name: t.name,
                shape: t.shape,
                columns: t.columns(),
                filters: t.filters.iter().map(|(k, _)| filter_name(*k)).collect(),
                by_date: t.date_col.is_some() || t.daily.is_some(),
                daily: t.daily.is_some(),
            })
            .collect(),
    )
}

fn template(code: &str) -> Result<&'static templates::Template, ApiError> {
    templates::find(code).ok_or_else(|| ApiError::not_found("report template", code))
}

/// A template computed now (through the proxy, every shard in one
/// statement), limited to the caller's provinces.
#[utoipa::path(get, path = "/api/v1/reports/templates/{code}/stats", tag = "reports",
    params(("code" = String, Path, description = "template code"), Filters),
    security(("bearer" = [])), responses((status = 200, body = StatTable)))]
pub async fn template_stats(
    State(state): State<ReportState>,
    p: Principal,
    Path(code): Path<String>,
    Query(f): Query<Filters>,
) -> Result<Json<StatTable>, ApiError> {
    let t = template(&code)?;
    let f = f.resolve(&p.scope)?;
    let mut c = state.db.conn().await?;
    Ok(Json(
        stats::compute(&mut c, t, &f, state.center.cfg.max_stat_rows).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReport {
    /// Template code (GET /api/v1/reports/templates).
    #[schema(max_length = 32)]
    pub template: String,
    pub format: Format,
    #[serde(default)]
    pub filters: Filters,
}

/// Queues a report export (the same request again within
/// `[report] dedup_seconds` answers the same task).
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", request_body = CreateReport,
    security(("bearer" = [])), responses((status = 202, body = TaskView)))]
pub async fn create_task(
    State(state): State<ReportState>,
    p: Principal,
    Json(req): Json<CreateReport>,
) -> Result<Response, ApiError> {
    let t = template(&req.template)?;
    let filters = req.filters.resolve(&p.scope)?;
    let (id, new) = tasks::create(&state, &p, t, filters, req.format).await?;
    if new {
        state.center.wake.notify_waiters();
    }
    let view = tasks::visible(&state, &p, id).await?;
    let location = format!("/api/v1/reports/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskListQuery {
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200, default = 20)]
    pub page_size: Option<u32>,
    /// Every task of your province scope, not only yours (needs report:admin).
    #[param(default = false)]
    pub all: Option<bool>,
}

/// My report tasks, newest first (with `all=true` and report:admin: every
/// task of your scope).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(TaskListQuery),
    security(("bearer" = [])), responses((status = 200, body = TaskPage)))]
pub async fn list_tasks(
    State(state): State<ReportState>,
    p: Principal,
    Query(q): Query<TaskListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    let page = q.page.unwrap_or(1);
    let size = q.page_size.unwrap_or(20);
    if !(1..=100_000).contains(&page) || !(1..=200).contains(&size) {
        return Err(ApiError::Invalid("page 1..100000, page_size 1..200".into()));
    }
    let which = if q.all.unwrap_or(false) {
        if !p.has(ReportAdmin) {
            return Err(ApiError::PermissionDenied("report:admin"));
        }
        Listing::InScope
    } else {
        Listing::Mine
    };
    Ok(Json(tasks::list(&state, &p, which, (page, size)).await?))
}

/// One report task: status, progress (rows so far), the reason of a failure.
#[utoipa::path(get, path = "/api/v1/reports/{task_id}", tag = "reports",
    params(("task_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = TaskView)))]
pub async fn get_task(
    State(state): State<ReportState>,
    p: Principal,
    Path(task_id): Path<i64>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::visible(&state, &p, task_id).await?))
}

/// Cancels a queued or running task.
#[utoipa::path(post, path = "/api/v1/reports/{task_id}/cancel", tag = "reports",
    params(("task_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = TaskView)))]
pub async fn cancel_task(
    State(state): State<ReportState>,
    p: Principal,
    Path(task_id): Path<i64>,
) -> Result<Json<TaskView>, ApiError> {
    let t = tasks::visible(&state, &p, task_id).await?;
    tasks::cancel(&state, &p, &t).await?;
    Ok(Json(tasks::visible(&state, &p, task_id).await?))
}

/// The export file of a done task: streamed from the local object store,
/// or on S3 a 307 redirect to a presigned URL valid for
/// `[report.s3] presign_seconds`.
#[utoipa::path(get, path = "/api/v1/reports/{task_id}/file", tag = "reports",
    params(("task_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the CSV or XLSX file",
        content((String = "text/csv"), (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 307, description = "S3 store: the file at a presigned URL",
        headers(("Location" = String, description = "presigned URL")))))]
pub async fn download(
    State(state): State<ReportState>,
    p: Principal,
    Path(task_id): Path<i64>,
) -> Result<Response, ApiError> {
    let t = tasks::visible(&state, &p, task_id).await?;
    let key = match (t.status, &t.object_key) {
        (TaskStatus::Done, Some(k)) => k.clone(),
        (TaskStatus::Expired, _) => {
            return Err(ApiError::Refused {
                code: "report_expired",
                message: format!(
                    "the file of report task {task_id} was removed after its retention period"
                ),
            })
        }
        _ => {
            return Err(ApiError::Refused {
                code: "report_not_ready",
                message: format!("report task {task_id} has no file (status {:?})", t.status),
            })
        }
    };
    let name = format!("report-{}-{task_id}.{}", t.template, t.format.db());
    let how = state
        .center
        .store
        .download(&key, &name, t.format.content_type())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let stream = match how {
        // Permission was checked above; the URL is short-lived.
        Download::Redirect(url) => {
            return Ok((StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, url)]).into_response())
        }
        Download::Stream(s) => s,
    };
    Ok((
        [
            (header::CONTENT_TYPE, t.format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other))),
    )
        .into_response())
}

/// Scheduled reports (定时报表) of your scope.
#[utoipa::path(get, path = "/api/v1/reports/schedules", tag = "reports",
    security(("bearer" = [])), responses((status = 200, body = Vec<ScheduleView>)))]
pub async fn list_schedules(
    State(state): State<ReportState>,
    p: Principal,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    Ok(Json(schedules::list(&state, &p).await?))
}

/// A report queued daily at a time (UTC) for you, once across all processes.
#[utoipa::path(post, path = "/api/v1/reports/schedules", tag = "reports", request_body = CreateSchedule,
    security(("bearer" = [])), responses((status = 201, body = ScheduleView)))]
pub async fn create_schedule(
    State(state): State<ReportState>,
    p: Principal,
    Json(req): Json<CreateSchedule>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(schedules::create(&state, &p, req).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/reports/schedules/{schedule_id}", tag = "reports",
    params(("schedule_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ScheduleView)))]
pub async fn get_schedule(
    State(state): State<ReportState>,
    p: Principal,
    Path(id): Path<i64>,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(Json(schedules::get(&state, &p, id).await?))
}

/// Stops a schedule (its tasks and files stay).
#[utoipa::path(delete, path = "/api/v1/reports/schedules/{schedule_id}", tag = "reports",
    params(("schedule_id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "unscheduled")))]
pub async fn delete_schedule(
    State(state): State<ReportState>,
    p: Principal,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    schedules::delete(&state, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs the daily roll-up of the statistics tables now (it also runs by
/// itself once per closed UTC day): the days `from`..`to` (closed days;
/// default every closed day not rolled up yet) are replaced from history,
/// and the status snapshot is taken again when `to` is the last closed day.
/// Needs national data scope.
#[utoipa::path(post, path = "/api/v1/reports/rollup", tag = "reports", request_body = RollupRequest,
    security(("bearer" = [])), responses((status = 200, body = RollupView)))]
pub async fn run_rollup(
    State(state): State<ReportState>,
    p: Principal,
    Json(req): Json<RollupRequest>,
) -> Result<Json<RollupView>, ApiError> {
    Ok(Json(rollup::run_now(&state, &p, req).await?))
}
