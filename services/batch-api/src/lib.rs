//! The batch loader's operator API (issue 17): its jobs (one per dropped
//! file: progress, rows/s, counts, result file) behind `batch:read`, and an
//! upload that puts a file into the object-store drop the loader watches
//! (`[batch] drop_dir`, its `incoming/`) behind `batch:write`. Jobs and
//! uploads are limited to the caller's province scope (the file name's
//! province, see batch/README.md for the naming convention).

pub mod migrate;
pub mod result;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use haoka_core::auth::rbac::{guarded, Permission, Principal};
use haoka_core::db::{col, Filter};
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json, Path, Query};
use haoka_core::state::Shared;
use haoka_core::time::Timestamp;

/// The center's routes, with its state.
pub fn router(state: &Shared) -> Router {
    let s = state;
    Router::new()
        .route(
            "/api/v1/batch/jobs",
            guarded(s, Permission::BatchRead, get(list_jobs)),
        )
        .route(
            "/api/v1/batch/jobs/{job_id}",
            guarded(s, Permission::BatchRead, get(get_job)),
        )
        .route(
            "/api/v1/batch/jobs/{job_id}/result",
            guarded(s, Permission::BatchRead, get(result::download_result)),
        )
        .route(
            "/api/v1/batch/files",
            guarded(s, Permission::BatchWrite, post(upload_file)),
        )
        .with_state(state.clone())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub job_id: i64,
    pub file_name: String,
    pub source: String,
    /// File kind by the naming convention (none: the name did not fit).
    pub kind: Option<String>,
    pub province_code: Option<String>,
    /// `running`, `done` or `failed` (the file as a whole was unusable).
    pub status: String,
    /// Data lines committed so far.
    pub lines_done: i64,
    pub total_lines: Option<i64>,
    pub progress_pct: Option<f64>,
    /// Lines per second from the start to the last commit.
    pub rows_per_second: Option<f64>,
    pub ok: i64,
    pub refused: i64,
    pub invalid: i64,
    pub failure: Option<String>,
    /// The result (or summary) file in the drop's results/.
    pub result_file: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

const COLUMNS: &str = concat!(
    "job_id, file_name, source, kind, province_code, status, checkpoint, \
     total_lines, ok_count, refused_count, invalid_count, failure, result_path, ",
    haoka_core::ts_col!("started_at"),
    ", ",
    haoka_core::ts_col!("finished_at"),
    ", TIMESTAMPDIFF(MICROSECOND, started_at, updated_at)"
);

fn view(r: &mysql_async::Row) -> JobView {
    let done: i64 = col(r, 6);
    let total: Option<i64> = col(r, 7);
    let micros: Option<i64> = col(r, 15);
    JobView {
        job_id: col(r, 0),
        file_name: col(r, 1),
        source: col(r, 2),
        kind: col(r, 3),
        province_code: col(r, 4),
        status: match col::<String>(r, 5).as_str() {
            "D" => "done",
            "F" => "failed",
            _ => "running",
        }
        .into(),
        lines_done: done,
        total_lines: total,
        progress_pct: total
            .filter(|t| *t > 0)
            .map(|t| (done as f64 * 1000.0 / t as f64).round() / 10.0),
        rows_per_second: micros
            .filter(|m| *m > 0)
            .map(|m| (done as f64 * 1e6 / m as f64).round()),
        ok: col(r, 8),
        refused: col(r, 9),
        invalid: col(r, 10),
        failure: col(r, 11),
        result_file: col::<Option<String>>(r, 12).map(|p| format!("results/{p}")),
        started_at: col(r, 13),
        finished_at: col(r, 14),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Newest first; at most 200.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only jobs older than this one (the next page: the last `job_id` of
    /// the page before).
    pub before: Option<i64>,
    pub status: Option<JobStatus>,
    /// File kind by the naming convention, e.g. `NUM_INTAKE`.
    pub kind: Option<String>,
    /// Two-digit province code (within your scope).
    pub province_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobView>,
    /// Give as `before` for the next page; absent on the last one.
    pub next_before: Option<i64>,
}

/// A job's state as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Done,
    /// The file as a whole was unusable.
    Failed,
}

impl JobStatus {
    /// As `batch_job.status` stores it.
    fn code(self) -> &'static str {
        match self {
            JobStatus::Running => "R",
            JobStatus::Done => "D",
            JobStatus::Failed => "F",
        }
    }
}

#[utoipa::path(get, path = "/api/v1/batch/jobs", tag = "batch", params(JobFilter),
    security(("bearer" = [])), responses((status = 200, body = JobList)))]
pub async fn list_jobs(
    State(state): State<Shared>,
    who: Principal,
    Query(f): Query<JobFilter>,
) -> Result<Json<JobList>, ApiError> {
    let limit = f.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Invalid("limit must be 1 to 200".into()));
    }
    // The scope is a condition of the query, not a filter of its page: a
    // province's staff get a full page of their own jobs however many
    // other provinces' jobs are newer.
    let mut filter = Filter::default();
    who.scope.restrict(&mut filter, "province_code");
    filter
        .eq("status", f.status.map(JobStatus::code))
        .eq("kind", f.kind.as_deref())
        .eq("province_code", f.province_code.as_deref());
    if let Some(b) = f.before {
        filter.condition("job_id < ?".into(), vec![b.into()]);
    }
    let mut params = filter.params.clone();
    params.push((limit + 1).into());
    let mut c = state.db.conn().await?;
    let rows: Vec<mysql_async::Row> = c
        .exec(
            format!(
                "SELECT {COLUMNS} FROM batch_job{} ORDER BY job_id DESC LIMIT ?",
                filter.sql()
            ),
            params,
        )
        .await?;
    let mut items: Vec<JobView> = rows.iter().map(view).collect();
    let next_before = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        items.last().map(|j| j.job_id).unwrap_or(0)
    });
    Ok(Json(JobList { items, next_before }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    pub job_id: i64,
}

#[utoipa::path(get, path = "/api/v1/batch/jobs/{job_id}", tag = "batch", params(JobPath),
    security(("bearer" = [])), responses((status = 200, body = JobView)))]
pub async fn get_job(
    State(state): State<Shared>,
    who: Principal,
    Path(p): Path<JobPath>,
) -> Result<Json<JobView>, ApiError> {
    let mut c = state.db.conn().await?;
    let row: Option<mysql_async::Row> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM batch_job WHERE job_id = ?"),
            (p.job_id,),
        )
        .await?;
    let job = row
        .as_ref()
        .map(view)
        .ok_or_else(|| ApiError::not_found("batch job", p.job_id))?;
    who.scope.check(job.province_code.as_deref())?;
    Ok(Json(job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadName {
    /// `<KIND>_<province>_<yyyymmdd>_<seq>.csv` or `.xlsx`.
    #[param(
        pattern = "^[A-Z][A-Z_]*_[0-9]{2}_[0-9]{8}_[A-Za-z0-9]+\\.(csv|xlsx)$",
        max_length = 200
    )]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Where it went: the drop's incoming/.
    pub path: String,
    pub size: usize,
    pub sha256: String,
}

/// The province of a file name that fits the convention.
fn province_of(name: &str) -> Option<&str> {
    let (base, ext) = name.rsplit_once('.')?;
    if !matches!(ext, "csv" | "xlsx") || name.len() > 200 {
        return None;
    }
    let parts: Vec<&str> = base.rsplitn(4, '_').collect();
    let [seq, date, province, kind] = parts[..] else {
        return None;
    };
    let ok = !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        && province.len() == 2
        && province.bytes().all(|b| b.is_ascii_digit())
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && !seq.is_empty()
        && seq.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(province)
}

#[utoipa::path(post, path = "/api/v1/batch/files", tag = "batch", params(UploadName),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes"),
    security(("bearer" = [])), responses((status = 202, body = Uploaded, description = "in the drop; the loader answers it in results/")))]
pub async fn upload_file(
    State(state): State<Shared>,
    who: Principal,
    Query(q): Query<UploadName>,
    body: Bytes,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let province = province_of(&q.name).ok_or_else(|| {
        ApiError::Invalid("name must be <KIND>_<province>_<yyyymmdd>_<seq>.csv or .xlsx".into())
    })?;
    who.scope.check(Some(province))?;
    let cfg = &state.cfg.batch;
    if body.is_empty() || body.len() > cfg.max_upload_bytes {
        return Err(ApiError::Invalid(format!(
            "the file must be 1 to {} bytes",
            cfg.max_upload_bytes
        )));
    }
    let dir = std::path::Path::new(&cfg.drop_dir).join("incoming");
    let io = |e: std::io::Error| ApiError::Unavailable(format!("the batch drop: {e}"));
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    // Written beside and renamed: the loader never reads half a file (it
    // skips dot files).
    let tmp = dir.join(format!(".{}.part", q.name));
    tokio::fs::write(&tmp, &body).await.map_err(io)?;
    let sha256 = hex::encode(Sha256::digest(&body));
    let mut tx = state.db.begin().await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "batch.file.upload",
            object_kind: "batch_file",
            object_id: q.name.clone(),
            province: Some(province),
            before: None,
            after: Some(json!({ "size": body.len(), "sha256": sha256 })),
        },
    )
    .await?;
    tokio::fs::rename(&tmp, dir.join(&q.name))
        .await
        .map_err(io)?;
    tx.commit().await?;
    tracing::info!(file = %q.name, size = body.len(), staff_id = who.staff_id, "batch file uploaded");
    Ok((
        StatusCode::ACCEPTED,
        Json(Uploaded {
            path: format!("incoming/{}", q.name),
            size: body.len(),
            sha256,
        }),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(
            super::province_of("NUM_INTAKE_51_20261202_001.csv"),
            Some("51")
        );
        assert_eq!(super::province_of("NUM_INTAKE_51_20261202_001.txt"), None);
        assert_eq!(super::province_of("../x_51_20261202_001.csv"), None);
        assert_eq!(super::province_of("NUM_INTAKE_5_20261202_001.csv"), None);
    }
}
