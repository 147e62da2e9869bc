//! The result (or summary) file of a batch job, for the portal's download:
//! read from the drop's `results/` after the same scope check as the job.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;

use haoka_core::auth::rbac::Principal;
use haoka_core::db::col;
use haoka_core::problem::{ApiError, Path};
use haoka_core::state::Shared;

use super::JobPath;

/// The job's result file as an attachment (`text/csv` or `application/json`).
#[utoipa::path(get, path = "/api/v1/batch/jobs/{job_id}/result", tag = "batch", params(JobPath),
    security(("bearer" = [])), responses(
        (status = 200, description = "the result file", content_type = "application/octet-stream"),
        (status = 404, description = "no such job in your provinces"),
        (status = 409, description = "batch_result_not_ready: the job has no result file yet")))]
pub async fn download_result(
    State(state): State<Shared>,
    who: Principal,
    Path(p): Path<JobPath>,
) -> Result<Response, ApiError> {
    let mut c = state.db.conn().await?;
    let row: Option<(Option<String>, Option<String>)> = c
        .exec_first(
            "SELECT province_code, result_path FROM batch_job WHERE job_id = ?",
            (p.job_id,),
        )
        .await?
        .map(|r: mysql_async::Row| (col(&r, 0), col(&r, 1)));
    let (province, result) = row.ok_or_else(|| ApiError::not_found("batch job", p.job_id))?;
    who.scope.check(province.as_deref())?;
    let name = result.ok_or_else(|| ApiError::Refused {
        code: "batch_result_not_ready",
        message: format!("batch job {} has no result file yet", p.job_id),
    })?;
    // The loader writes plain names into results/; anything else is not ours to serve.
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        return Err(ApiError::Unavailable(format!(
            "unexpected result name {name:?}"
        )));
    }
    let path = std::path::Path::new(&state.cfg.batch.drop_dir)
        .join("results")
        .join(&name);
    let bytes = tokio::fs::read(&path).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ApiError::not_found("batch result file", &name),
        _ => ApiError::Unavailable(format!("the batch drop: {e}")),
    })?;
    let content_type = if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    tracing::info!(job_id = p.job_id, file = %name, staff_id = who.staff_id, "batch result downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
