//! haoka-core: what every center shares and none owns.
//!
//! Folder map: `state` is the shared state (`Shared`: config, db, cache, mq,
//! metrics, sealer, hasher, sessions, outbox) every center's state holds;
//! `config`, `db`, `cache`, `mq` are the config and the connections;
//! `problem` turns every error into an `application/problem+json` body;
//! `auth/` holds passwords, sessions, login limits, channel signatures, rate
//! limits, RBAC, province scope and the caller (`actor`); `domain/` holds the
//! domain values (province codes, phone numbers); `paging`, `validate`,
//! `time` are helpers of every endpoint; `outbox/` is the half-transaction
//! mechanism every center publishes through and `mq_admin` its operator API;
//! `health`, `metrics`, `reference` are the shared endpoints; `oplog` and
//! `interface_log` write the operation and channel-call logs; `migrate`
//! runs the schema changes centers list.

pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod domain;
pub mod health;
pub mod interface_log;
pub mod metrics;
pub mod migrate;
pub mod mq;
pub mod mq_admin;
pub mod oplog;
pub mod outbox;
pub mod paging;
pub mod problem;
pub mod reference;
pub mod request_id;
pub mod seal;
pub mod shard_status;
pub mod state;
pub mod time;
pub mod validate;
