//! haoka-proxy: a SQL-parsing MySQL sharding proxy (DESIGN.md §3).
//!
//! Layering, front to back (after PgDog): `protocol` speaks the MySQL wire
//! protocol to clients, `route` parses SQL and plans where it goes using
//! `rules`, `backend` holds pooled connections to the shards, and `merge`
//! combines what several shards return.

pub mod admin;
pub mod backend;
pub mod config;
pub mod exec;
pub mod merge;
pub mod protocol;
pub mod reshard;
pub mod route;
pub mod rules;
pub mod sequence;
pub mod transactions;
