//! haoka-server: assembles the centers into one HTTP server. The shared
//! parts are the haoka-core crate; each center is a crate of its own
//! (haoka-permission, haoka-number, haoka-card, haoka-report, and
//! haoka-batch-api for the batch loader's jobs); this crate only puts them
//! together.
//!
//! Folder map: `app` builds the state and the router from the centers a
//! process serves; `openapi` is the document of every center; `portal`
//! serves the operator web portal's built files and Swagger UI. The
//! re-exports name every part by its old path (`haoka_services::number`, …).

pub mod app;
pub mod openapi;
pub mod portal;

pub use haoka_batch_api as batch;
pub use haoka_card as card;
pub use haoka_core::{
    auth, cache, config, db, domain, health, interface_log, metrics, migrate, mq, mq_admin, oplog,
    outbox, paged, paging, problem, reference, request_id, seal, shard_status, state, time, ts_col,
    validate,
};
pub use haoka_number as number;
pub use haoka_permission as permission;
pub use haoka_report as report;
