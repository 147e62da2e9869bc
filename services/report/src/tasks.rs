//! Report tasks (任务管理) in `report_task`: created by a request (the same
//! request within a short window answers the same task), claimed by exactly
//! one runner at a time through a lease (a conditional UPDATE: whoever
//! changes the row owns the task; a lease nobody renews lapses and another
//! process claims the task again), finished only by its current owner.

use haoka_core::time::Timestamp;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::export::Format;
use super::filters::Filters;
use super::templates::{self, Template};
use crate::ReportState;
use haoka_core::auth::rbac::{Permission, Principal};
use haoka_core::db::{col, insert_id, Db, Filter};
use haoka_core::oplog;
use haoka_core::problem::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    /// Done, and the file was removed after the retention period.
    Expired,
}

impl TaskStatus {
    fn from_db(s: &str) -> TaskStatus {
        match s {
            "R" => TaskStatus::Running,
            "D" => TaskStatus::Done,
            "F" => TaskStatus::Failed,
            "C" => TaskStatus::Cancelled,
            "X" => TaskStatus::Expired,
            _ => TaskStatus::Queued,
        }
    }
}

/// A task as its requester sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub task_id: i64,
    pub template: String,
    pub format: Format,
    pub status: TaskStatus,
    /// The filters as applied (provinces already limited to the requester's scope).
    pub filters: Filters,
    pub requested_by: i64,
    /// Rows written so far (the total once done).
    pub progress_rows: i64,
    /// Why the task failed or was cancelled.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub byte_size: Option<i64>,
    pub sha256: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// Where the file is downloaded once done.
    pub download: Option<String>,
    #[serde(skip)]
    pub province_code: Option<String>,
    #[serde(skip)]
    pub object_key: Option<String>,
}

haoka_core::paged!(TaskPage, TaskView);

const SELECT: &str = concat!(
    "SELECT t.task_id, COALESCE(m.base_code, m.code), t.format, t.status, t.params, t.requested_by, \
     t.progress_rows, t.error, ",
    haoka_core::ts_col!("t.created_at"),
    ", ",
    haoka_core::ts_col!("t.started_at"),
    ", ",
    haoka_core::ts_col!("t.finished_at"),
    ", r.byte_size, r.sha256, ",
    haoka_core::ts_col!("r.expires_at"),
    ", t.province_code, r.object_key \
     FROM report_task t JOIN report_template m ON m.template_id = t.template_id \
     LEFT JOIN report_result r ON r.task_id = t.task_id"
);

fn view(row: &Row) -> TaskView {
    let task_id: i64 = col(row, 0);
    let status = TaskStatus::from_db(&col::<String>(row, 3));
    let params: String = col(row, 4);
    TaskView {
        task_id,
        template: col(row, 1),
        format: Format::from_db(&col::<String>(row, 2)),
        status,
        filters: serde_json::from_str(&params).unwrap_or_default(),
        requested_by: col(row, 5),
        progress_rows: col(row, 6),
        error: col(row, 7),
        created_at: col(row, 8),
        started_at: col(row, 9),
        finished_at: col(row, 10),
        byte_size: col(row, 11),
        sha256: col(row, 12),
        expires_at: col(row, 13),
        download: (status == TaskStatus::Done).then(|| format!("/api/v1/reports/{task_id}/file")),
        province_code: col(row, 14),
        object_key: col(row, 15),
    }
}

pub async fn load<Q: Queryable>(c: &mut Q, task_id: i64) -> Result<Option<TaskView>, ApiError> {
    let row: Option<Row> = c
        .exec_first(format!("{SELECT} WHERE t.task_id = ?"), (task_id,))
        .await?;
    Ok(row.as_ref().map(view))
}

/// The task if `p` may see it: their own, or any of their scope with
/// `report:admin` (others answer 404, as if there were none).
pub async fn visible(
    state: &ReportState,
    p: &Principal,
    task_id: i64,
) -> Result<TaskView, ApiError> {
    let mut c = state.db.conn().await?;
    let t = load(&mut c, task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("report task", task_id))?;
    let admin = p.has(Permission::ReportAdmin) && p.scope.allows(t.province_code.as_deref());
    if t.requested_by != p.staff_id && !admin {
        return Err(ApiError::not_found("report task", task_id));
    }
    Ok(t)
}

/// Which tasks a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The requester's own tasks.
    Mine,
    /// Every task of the requester's province scope (report:admin).
    InScope,
}

/// Tasks newest first: the requester's own, or every task of their scope
/// (a province's admin sees its province's tasks, not national ones).
pub async fn list(
    state: &ReportState,
    p: &Principal,
    which: Listing,
    (page, size): (u32, u32),
) -> Result<TaskPage, ApiError> {
    let mut f = Filter::default();
    match which {
        Listing::Mine => {
            f.eq("t.requested_by", Some(p.staff_id));
        }
        Listing::InScope => p.scope.restrict(&mut f, "t.province_code"),
    }
    let mut c = state.db.conn().await?;
    let total: Option<i64> = c
        .exec_first(
            format!("SELECT COUNT(*) FROM report_task t{}", f.sql()),
            f.params.clone(),
        )
        .await?;
    let rows: Vec<Row> = c
        .exec(
            format!(
                "{SELECT}{} ORDER BY t.task_id DESC{}",
                f.sql(),
                haoka_core::db::limit(page, size)
            ),
            f.params.clone(),
        )
        .await?;
    Ok(TaskPage {
        items: rows.iter().map(view).collect(),
        total: total.unwrap_or(0),
        page,
        page_size: size,
    })
}

/// The key two identical requests share.
fn request_key(t: &Template, filters: &Filters, format: Format) -> String {
    let canonical = serde_json::json!({ "t": t.code, "f": filters, "x": format.db() });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

async fn recent<Q: Queryable>(
    c: &mut Q,
    staff_id: i64,
    key: &str,
    window_s: u64,
) -> Result<Option<i64>, ApiError> {
    Ok(c.exec_first(
        "SELECT task_id FROM report_task WHERE requested_by = ? AND request_key = ? \
         AND status IN ('Q', 'R', 'D') AND created_at > DATE_SUB(NOW(3), INTERVAL ? SECOND) \
         ORDER BY task_id DESC LIMIT 1",
        (staff_id, key, window_s),
    )
    .await?)
}

/// Queues a task (or finds the same request's task of the last
/// `dedup_seconds`); returns its id and whether it is new.
pub async fn create(
    state: &ReportState,
    p: &Principal,
    t: &'static Template,
    filters: Filters,
    format: Format,
) -> Result<(i64, bool), ApiError> {
    let window = state.center.cfg.dedup_seconds;
    let key = request_key(t, &filters, format);
    let mut c = state.db.conn().await?;
    // Two identical requests at the same instant: one inserts while the
    // other waits on a short Redis lock, then finds the first one's row.
    let lock = haoka_core::cache::key(&["report", "req", &p.staff_id.to_string(), &key]);
    let mut redis = state.cache.conn();
    for _ in 0..50 {
        if let Some(id) = recent(&mut c, p.staff_id, &key, window).await? {
            return Ok((id, false));
        }
        let got: Option<String> = redis::cmd("SET")
            .arg(&lock)
            .arg("1")
            .arg("NX")
            .arg("EX")
            .arg(10)
            .query_async(&mut redis)
            .await
            .map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
        if got.is_some() {
            let r = insert(state, p, t, &filters, format, &key).await;
            let _: Result<(), _> = redis::cmd("DEL").arg(&lock).query_async(&mut redis).await;
            return r.map(|id| (id, true));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(ApiError::Unavailable(
        "the same report request is still being queued".into(),
    ))
}

async fn insert(
    state: &ReportState,
    p: &Principal,
    t: &'static Template,
    filters: &Filters,
    format: Format,
    key: &str,
) -> Result<i64, ApiError> {
    let mut tx = state.db.begin().await?;
    let template_id = templates::id_of(&mut tx, t.code).await?;
    let params = serde_json::to_string(filters).map_err(|e| ApiError::Internal(e.to_string()))?;
    let id = insert_id(
        &mut tx,
        "INSERT INTO report_task (template_id, requested_by, province_code, params, format, request_key, store_key) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        vec![
            template_id.into(),
            p.staff_id.into(),
            p.province.clone().into(),
            params.into(),
            format.db().into(),
            key.into(),
            state.center.store.id().into(),
        ],
    )
    .await?;
    oplog::record(
        &mut tx,
        p,
        oplog::Change {
            action: "report.create",
            object_kind: "report_task",
            object_id: id.to_string(),
            province: p.province.as_deref(),
            before: None,
            after: Some(serde_json::json!({
                "template": t.code, "format": format.db(), "filters": filters
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Cancels a queued or running task (a runner notices at its next lease renewal).
pub async fn cancel(state: &ReportState, p: &Principal, t: &TaskView) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    tx.exec_drop(
        "UPDATE report_task SET status = 'C', finished_at = NOW(3), lease_until = NULL, \
         error = ? WHERE task_id = ? AND status IN ('Q', 'R')",
        (format!("cancelled by staff {}", p.staff_id), t.task_id),
    )
    .await?;
    if tx.affected_rows() != 1 {
        return Err(ApiError::Refused {
            code: "report_finished",
            message: format!("report task {} has already finished", t.task_id),
        });
    }
    oplog::record(
        &mut tx,
        p,
        oplog::Change {
            action: "report.cancel",
            object_kind: "report_task",
            object_id: t.task_id.to_string(),
            province: t.province_code.as_deref(),
            before: Some(serde_json::json!({ "status": t.status })),
            after: Some(serde_json::json!({ "status": TaskStatus::Cancelled })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A task this process claimed.
pub struct Claimed {
    pub task_id: i64,
    pub template: String,
    pub filters: Filters,
    pub format: Format,
    pub attempts: i64,
}

/// Most claims of one task before it is given up (a task that kills every
/// process running it must not go round for ever).
pub const MAX_ATTEMPTS: i64 = 3;

const CLAIMABLE: &str = "(status = 'Q' OR (status = 'R' AND lease_until < NOW(3)))";

/// Claims the oldest claimable task for `owner` whose files go to
/// `store` (see [`super::store::Store::id`]), if any.
pub async fn claim(
    db: &Db,
    owner: &str,
    lease_s: u64,
    store: &str,
) -> Result<Option<Claimed>, ApiError> {
    let mut c = db.conn().await?;
    let ids: Vec<i64> = c
        .exec(
            format!(
                "SELECT task_id FROM report_task WHERE {CLAIMABLE} \
                 AND (store_key = ? OR store_key IS NULL) ORDER BY task_id LIMIT 8"
            ),
            (store,),
        )
        .await?;
    for id in ids {
        c.exec_drop(
            format!(
                "UPDATE report_task SET status = 'R', owner = ?, \
                 lease_until = DATE_ADD(NOW(3), INTERVAL ? SECOND), \
                 started_at = COALESCE(started_at, NOW(3)), attempts = attempts + 1, \
                 progress_rows = 0 WHERE task_id = ? AND {CLAIMABLE}"
            ),
            (owner, lease_s, id),
        )
        .await?;
        if c.affected_rows() != 1 {
            continue; // another process was first
        }
        let row: Option<(String, String, String, i64)> = c
            .exec_first(
                "SELECT COALESCE(m.base_code, m.code), t.params, t.format, t.attempts FROM report_task t \
                 JOIN report_template m ON m.template_id = t.template_id WHERE t.task_id = ?",
                (id,),
            )
            .await?;
        let Some((template, params, format, attempts)) = row else {
            continue;
        };
        return Ok(Some(Claimed {
            task_id: id,
            template,
            filters: serde_json::from_str(&params).unwrap_or_default(),
            format: Format::from_db(&format),
            attempts,
        }));
    }
    Ok(None)
}

/// Renews the lease and records progress; false when the task is no longer
/// ours (cancelled, or claimed by another process after our lease lapsed).
pub async fn renew(
    db: &Db,
    owner: &str,
    task_id: i64,
    lease_s: u64,
    rows: u64,
) -> Result<bool, ApiError> {
    let mut c = db.conn().await?;
    c.exec_drop(
        "UPDATE report_task SET lease_until = DATE_ADD(NOW(3), INTERVAL ? SECOND), progress_rows = ? \
         WHERE task_id = ? AND owner = ? AND status = 'R'",
        (lease_s, rows, task_id, owner),
    )
    .await?;
    Ok(c.affected_rows() == 1)
}

/// What a finished export wrote.
pub struct Output<'a> {
    pub object_key: &'a str,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: &'a str,
}

/// Marks the task done with its file, if it is still ours; false if not
/// (the caller then removes its file: another run owns the task).
pub async fn finish(
    db: &Db,
    owner: &str,
    task_id: i64,
    out: Output<'_>,
    retention_hours: u64,
) -> Result<bool, ApiError> {
    let mut tx = db.begin().await?;
    tx.exec_drop(
        "UPDATE report_task SET status = 'D', finished_at = NOW(3), lease_until = NULL, \
         progress_rows = ? WHERE task_id = ? AND owner = ? AND status = 'R'",
        (out.rows, task_id, owner),
    )
    .await?;
    if tx.affected_rows() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.exec_drop(
        "INSERT INTO report_result (task_id, object_key, row_count, byte_size, sha256, expires_at) \
         VALUES (?, ?, ?, ?, ?, DATE_ADD(NOW(3), INTERVAL ? HOUR))",
        (task_id, out.object_key, out.rows, out.bytes, out.sha256, retention_hours),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks the task failed with the reason, if it is still ours.
pub async fn fail(db: &Db, owner: &str, task_id: i64, reason: &str) -> Result<(), ApiError> {
    let mut c = db.conn().await?;
    let reason: String = reason.chars().take(500).collect();
    c.exec_drop(
        "UPDATE report_task SET status = 'F', finished_at = NOW(3), lease_until = NULL, error = ? \
         WHERE task_id = ? AND owner = ? AND status = 'R'",
        (reason, task_id, owner),
    )
    .await?;
    Ok(())
}
