//! haoka-batch: the loader that turns files dropped on an SFTP server or an
//! object-store prefix into applied changes, and answers each with a result
//! file (issue 17).
//!
//! Folder map: `sources/` lists, reads, writes and moves files (SFTP through
//! russh-sftp, object stores through `object_store`) and tells when a file is
//! complete; `kinds/` names the file kinds (`naming`) and their headers;
//! `stream` reads an input as a stream (the sha256/encoding scan, then the
//! rows); `decode` turns bytes (CSV in UTF-8 or GBK, XLSX) into rows as they
//! come; `seen` keeps the keys of earlier lines; `apply/` hands rows to the
//! centers' own domain code (haoka-number, haoka-card, haoka-permission);
//! `jobs/` keeps the job row per file (idempotency key, lease, checkpoint);
//! `results` writes the result and summary files; `centers` starts the
//! centers' state it applies through; `metrics` counts for Prometheus;
//! `loader` runs one poll over the sources; `config` reads the TOML.

pub mod apply;
pub mod centers;
pub mod config;
pub mod decode;
pub mod jobs;
pub mod kinds;
pub mod loader;
pub mod metrics;
pub mod results;
pub mod seen;
pub mod sources;
pub mod stream;
