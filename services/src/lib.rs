//! haoka-server: the HTTP centers (permission today; number, card and report
//! join as their issues land) and the shared parts they plug into.
//!
//! Folder map: `app` assembles the router from the centers a process serves;
//! `config`, `db`, `cache`, `mq` are the connections; `problem` turns every error
//! into an `application/problem+json` body; `auth/` holds passwords, sessions,
//! login limits, channel signatures, rate limits, RBAC and province scope;
//! `permission/` is the permission center (权限中心); `number/` is the number
//! center (号码中心); `card/` is the card center (卡中心); `outbox/` is the
//! half-transaction (transactional outbox) mechanism every center publishes
//! through; `mq_admin` is its operator API (dead letters, backlog); `portal`
//! serves the operator web portal's built files and Swagger UI.

pub mod app;
pub mod auth;
pub mod batch;
pub mod cache;
pub mod card;
pub mod config;
pub mod db;
pub mod domain;
pub mod health;
pub mod interface_log;
pub mod metrics;
pub mod migrate;
pub mod mq;
pub mod mq_admin;
pub mod number;
pub mod openapi;
pub mod oplog;
pub mod outbox;
pub mod paging;
pub mod permission;
pub mod portal;
pub mod problem;
pub mod reference;
pub mod report;
pub mod request_id;
pub mod seal;
pub mod state;
pub mod time;
pub mod validate;
