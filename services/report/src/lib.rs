//! The report center (报表中心): statistics computed through the proxy
//! (scatter-gather GROUP BY), asynchronous report tasks and their CSV and
//! XLSX files in an object store.
//!
//! Folder map: `templates` is the catalogue of reports (dimensions,
//! measures, columns, filters); `filters` turns a request's filters into SQL
//! within the caller's province scope; `table` holds columns and cells;
//! `stats` computes a template (`plan` says which statements: a trend
//! reads its closed days from a statistics table); `rollup` fills the
//! statistics tables once per closed day; `schedules` queues the daily tasks of
//! scheduled reports; `tasks` is `report_task` (create with
//! de-duplication, claim with a lease, renew, finish, cancel); `runner`
//! claims and runs tasks in the background; `export` (+ `export_csv`,
//! `export_xlsx`, `export_chart`) writes the files with bounded memory; `store` is the
//! object store; `sweep` removes expired and orphaned files; `migrate` adds
//! the columns older tables lack; `routes` is the HTTP surface and its
//! OpenAPI document.

pub mod export;
pub mod export_chart;
pub mod export_csv;
pub mod export_xlsx;
pub mod filters;
pub mod migrate;
pub mod plan;
pub mod rollup;
pub mod routes;
pub mod runner;
pub mod schedules;
pub mod stats;
pub mod store;
pub mod sweep;
pub mod table;
pub mod tasks;
pub mod templates;

/// The `[report]` settings: plain data, kept with the other sections in
/// haoka-core's config.
pub use haoka_core::config::report as config;

use std::sync::Arc;

use tokio::sync::Notify;

use haoka_core::problem::ApiError;
use haoka_core::state::Shared;

pub use routes::router;

/// The report center's per-process state.
pub struct ReportCenter {
    pub cfg: config::ReportConfig,
    pub store: store::Store,
    /// Wakes this process's runner (a task was queued here).
    pub wake: Notify,
    /// Names this process in `report_task.owner`.
    pub owner: String,
}

impl ReportCenter {
    pub fn new(cfg: &config::ReportConfig) -> Result<ReportCenter, store::StoreError> {
        Ok(ReportCenter {
            store: store::Store::from_config(cfg)?,
            cfg: cfg.clone(),
            wake: Notify::new(),
            owner: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        })
    }
}

/// The report center's state: the shared parts and its own.
#[derive(Clone)]
pub struct ReportState(pub Arc<ReportInner>);

pub struct ReportInner {
    pub shared: Shared,
    pub center: ReportCenter,
}

impl ReportState {
    pub fn new(shared: Shared) -> Result<ReportState, store::StoreError> {
        Ok(ReportState(Arc::new(ReportInner {
            center: ReportCenter::new(&shared.cfg.report)?,
            shared,
        })))
    }
}

impl std::ops::Deref for ReportState {
    type Target = ReportInner;
    fn deref(&self) -> &ReportInner {
        &self.0
    }
}

impl std::ops::Deref for ReportInner {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// Start-up of a process serving the report role: schema, templates, the
/// runner and the sweep.
pub async fn start(state: &ReportState) -> Result<(), ApiError> {
    migrate::ensure(&state.db).await?;
    templates::seed(&state.db).await?;
    if state.center.cfg.run_tasks {
        runner::start(state);
        sweep::start(state);
        schedules::start(state);
        rollup::start(state);
    }
    Ok(())
}
