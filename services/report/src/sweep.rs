//! The retention sweep: export files past their `expires_at` are removed
//! (the task then reads `expired`), and so are files no result row names
//! (a runner that died between its upload and its commit, or lost its task)
//! once they are older than two leases. Any report process may sweep; the
//! steps are idempotent, so two at once do no harm.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::ReportState;
use haoka_core::problem::ApiError;

/// What one pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub orphans: usize,
}

pub fn start(state: &ReportState) {
    let state = state.clone();
    tokio::spawn(async move {
        let every = Duration::from_secs(state.center.cfg.sweep_interval_seconds.max(1));
        loop {
            tokio::time::sleep(every).await;
            match run_once(&state).await {
                Ok(s) if s != Swept::default() => tracing::info!(?s, "report sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "report sweep"),
            }
        }
    });
}

pub async fn run_once(state: &ReportState) -> Result<Swept, ApiError> {
    let store = &state.center.store;
    let unavailable = |e: super::store::StoreError| ApiError::Unavailable(e.to_string());
    let mut c = state.db.conn().await?;
    let mut swept = Swept::default();
    let expired: Vec<(i64, String)> = c
        .query("SELECT task_id, object_key FROM report_result WHERE expires_at < NOW(3) LIMIT 1000")
        .await?;
    for (task_id, key) in expired {
        store.delete(&key).await.map_err(unavailable)?;
        let mut tx = state.db.begin().await?;
        tx.exec_drop("DELETE FROM report_result WHERE task_id = ?", (task_id,))
            .await?;
        tx.exec_drop(
            "UPDATE report_task SET status = 'X' WHERE task_id = ? AND status = 'D'",
            (task_id,),
        )
        .await?;
        tx.commit().await?;
        swept.expired += 1;
    }
    let now: i64 = c.query_first("SELECT UNIX_TIMESTAMP()").await?.unwrap_or(0);
    let grace = 2 * state.center.cfg.lease_seconds as i64;
    for obj in store.list("reports").await.map_err(unavailable)? {
        if now - obj.modified < grace {
            continue; // may be a runner's upload about to commit
        }
        let task_id: Option<i64> = obj.key.split('/').nth(1).and_then(|s| s.parse().ok());
        let named: Option<String> = match task_id {
            Some(id) => {
                c.exec_first(
                    "SELECT object_key FROM report_result WHERE task_id = ?",
                    (id,),
                )
                .await?
            }
            None => None,
        };
        if named.as_deref() != Some(obj.key.as_str()) {
            store.delete(&obj.key).await.map_err(unavailable)?;
            swept.orphans += 1;
        }
    }
    Ok(swept)
}
