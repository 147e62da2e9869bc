//! The background runner every process serving the report role starts:
//! it claims queued tasks (or tasks whose runner died: their lease lapsed),
//! streams the rows from the proxy into the export file, uploads it to the
//! object store and marks the task done — only while it still owns the
//! task, so each task ends done once with one file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::sync::{Notify, Semaphore};

use super::export::{self, ExportError, Pipe};
use super::export_chart::Trend;
use super::plan;
use super::stats::cells;
use super::store::StoreError;
use super::tasks::{self, Claimed, Output};
use super::templates;
use crate::ReportState;
use haoka_core::problem::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown template {0}")]
    Template(String),
    #[error("reading the rows: {0}")]
    Db(#[from] ApiError),
    #[error("reading the rows: {0}")]
    Query(#[from] mysql_async::Error),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the task is no longer ours (cancelled, or claimed again after our lease lapsed)")]
    Lost,
}

/// Starts the claim loop (runs until the process ends).
pub fn start(state: &ReportState) {
    let state = state.clone();
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(state.center.cfg.max_parallel.max(1)));
        let poll = Duration::from_millis(state.center.cfg.poll_interval_ms.max(10));
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let claimed = tasks::claim(
                &state.db,
                &state.center.owner,
                state.center.cfg.lease_seconds,
                state.center.store.id(),
            )
            .await;
            match claimed {
                Ok(Some(task)) => {
                    let st = state.clone();
                    tokio::spawn(async move {
                        run(&st, task).await;
                        drop(permit);
                    });
                    continue; // there may be more
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming report tasks"),
            }
            drop(permit);
            let _ = tokio::time::timeout(poll, state.center.wake.notified()).await;
        }
    });
}

/// Runs one claimed task to its end (done, failed, or lost to another owner).
pub async fn run(state: &ReportState, task: Claimed) {
    let owner = &state.center.owner;
    let id = task.task_id;
    if task.attempts > tasks::MAX_ATTEMPTS {
        let why = format!("gave up after {} attempts", tasks::MAX_ATTEMPTS);
        let _ = tasks::fail(&state.db, owner, id, &why).await;
        return;
    }
    let tmp = std::env::temp_dir().join(format!(
        "haoka-report-{id}-{}.{}",
        uuid::Uuid::new_v4().simple(),
        task.format.db()
    ));
    let result = produce(state, &task, &tmp).await;
    let _ = tokio::fs::remove_file(&tmp).await;
    match result {
        Ok(rows) => tracing::info!(task_id = id, rows, "report done"),
        Err(RunError::Lost) => tracing::info!(task_id = id, "report task lost"),
        Err(e) => {
            tracing::warn!(task_id = id, error = %e, "report failed");
            if let Err(e2) = tasks::fail(&state.db, owner, id, &e.to_string()).await {
                tracing::warn!(task_id = id, error = %e2, "recording a report failure");
            }
        }
    }
}

/// Renews the lease every third of it while `work` runs; stops `work` as
/// soon as a renewal says the task is no longer ours.
async fn leased<T>(
    state: &ReportState,
    task_id: i64,
    progress: Arc<AtomicU64>,
    work: impl std::future::Future<Output = Result<T, RunError>>,
) -> Result<T, RunError> {
    let lost = Arc::new(Notify::new());
    let lease = state.center.cfg.lease_seconds;
    let beat = {
        let (st, lost, progress) = (state.clone(), lost.clone(), progress.clone());
        tokio::spawn(async move {
            let every = Duration::from_millis((lease * 1000 / 3).max(100));
            loop {
                tokio::time::sleep(every).await;
                let rows = progress.load(Ordering::Relaxed);
                match tasks::renew(&st.db, &st.center.owner, task_id, lease, rows).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.notify_one();
                        return;
                    }
                    // A failed renewal is retried; the lease covers two more tries.
                    Err(e) => tracing::warn!(task_id, error = %e, "renewing a report lease"),
                }
            }
        })
    };
    let r = tokio::select! {
        r = work => r,
        _ = lost.notified() => Err(RunError::Lost),
    };
    beat.abort();
    r
}

/// Sends every row of `result` to the file (after `before` rows of earlier
/// statements); returns how many.
async fn drain<P: mysql_async::prelude::Protocol>(
    mut result: mysql_async::QueryResult<'_, '_, P>,
    pipe: &mut Pipe,
    kinds: &[super::table::Kind],
    progress: &AtomicU64,
    before: u64,
) -> Result<u64, RunError> {
    let mut n = 0u64;
    while let Some(row) = result.next().await? {
        pipe.push(cells(row, kinds)).await?;
        n += 1;
        if n.is_multiple_of(export::BATCH as u64) {
            progress.store(before + n, Ordering::Relaxed);
        }
    }
    Ok(n)
}

async fn produce(
    state: &ReportState,
    task: &Claimed,
    tmp: &std::path::Path,
) -> Result<u64, RunError> {
    let t =
        templates::find(&task.template).ok_or_else(|| RunError::Template(task.template.clone()))?;
    let progress = Arc::new(AtomicU64::new(0));
    let cfg = &state.center.cfg;
    let path: PathBuf = tmp.to_path_buf();
    let rows = leased(state, task.task_id, progress.clone(), async {
        let sink = export::open(
            task.format,
            &path,
            t.name,
            &t.columns(),
            cfg.xlsx_rows_per_sheet,
            Trend::of(t),
        )?;
        let mut pipe = Pipe::start(sink);
        let kinds = t.kinds();
        let mut c = state.db.conn().await?;
        let mut n = 0;
        // One statement, or one per run of days of a trend (plan.rs).
        for (sql, params) in plan::statements(&mut c, t, &task.filters).await? {
            // Rows are read as the proxy streams them; only a few batches are
            // ever in memory (see export::Pipe).
            // Without parameters the text protocol is used: no prepare round
            // trip, and the proxy streams plain text rows.
            n += if params.is_empty() {
                drain(c.query_iter(sql).await?, &mut pipe, &kinds, &progress, n).await?
            } else {
                drain(
                    c.exec_iter(sql, params).await?,
                    &mut pipe,
                    &kinds,
                    &progress,
                    n,
                )
                .await?
            };
        }
        pipe.finish().await?;
        progress.store(n, Ordering::Relaxed);
        Ok(n)
    })
    .await?;
    if cfg.pause_before_upload_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.pause_before_upload_ms)).await;
    }
    let key = format!(
        "reports/{}/{}.{}",
        task.task_id,
        uuid::Uuid::new_v4().simple(),
        task.format.db()
    );
    let stored = leased(state, task.task_id, progress, async {
        Ok(state.center.store.put_file(&key, tmp).await?)
    })
    .await;
    let stored = match stored {
        Ok(s) => s,
        Err(e) => {
            let _ = state.center.store.delete(&key).await;
            return Err(e);
        }
    };
    let out = Output {
        object_key: &key,
        rows,
        bytes: stored.bytes,
        sha256: &stored.sha256,
    };
    match tasks::finish(
        &state.db,
        &state.center.owner,
        task.task_id,
        out,
        cfg.retention_hours,
    )
    .await
    {
        Ok(true) => Ok(rows),
        Ok(false) => {
            state.center.store.delete(&key).await?;
            Err(RunError::Lost)
        }
        Err(e) => {
            // Unknown whether the commit landed: the orphan sweep removes
            // the file if no result row names it.
            Err(e.into())
        }
    }
}
