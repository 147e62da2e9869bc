//! One view of every backend (primaries and replicas of every place) with
//! its health, for `SHOW HAOKA SHARDS` and the Prometheus metrics.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::session::place_label;
use super::Shared;
use crate::backend::{HealthSnapshot, Pool};

/// A backend's role for its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

pub struct BackendRow {
    pub schema: String,
    pub shard: String,
    pub role: Role,
    pub datasource: String,
    pub address: String,
    pub database: String,
    pub health: HealthSnapshot,
    /// Replicas: usable / down / lag unknown / too far behind.
    pub replica_state: Option<&'static str>,
    pub lag_s: Option<u64>,
    pub replica_reads: u64,
    pub in_use: usize,
    pub idle: usize,
}

/// Every backend, schema by schema, each place's primary before its replicas.
pub fn backend_rows(shared: &Shared) -> Vec<BackendRow> {
    let rules = &shared.rules;
    let mut rows = Vec::new();
    for (s, rt) in rules.schemas.iter().zip(&shared.schemas) {
        for place in s.all_places() {
            let t = s.target(place);
            let row = |role, ds: usize, pool: &Pool| {
                let d = &rules.datasources[ds];
                BackendRow {
                    schema: s.name.clone(),
                    shard: place_label(place),
                    role,
                    datasource: d.name.clone(),
                    address: format!("{}:{}", d.host, d.port),
                    database: t.database.clone(),
                    health: pool.health().snapshot(),
                    replica_state: None,
                    lag_s: None,
                    replica_reads: 0,
                    in_use: pool.in_use(),
                    idle: pool.idle_count(),
                }
            };
            rows.push(row(Role::Primary, t.datasource, rt.pool(place)));
            for r in rt.replicas.of(place) {
                let mut x = row(Role::Replica, r.datasource, &r.pool);
                x.replica_state = Some(r.state().as_str());
                x.lag_s = r.lag().map(|l| l.as_secs());
                x.replica_reads = r.reads.load(Ordering::Relaxed);
                rows.push(x);
            }
        }
    }
    rows
}

/// Prometheus text for backend health: up/down, outages, query timeouts,
/// replica lag and replica reads.
pub fn render_backend_metrics(rows: &[BackendRow]) -> String {
    let mut out = String::new();
    let labels = |r: &BackendRow| {
        format!(
            "schema=\"{}\",shard=\"{}\",role=\"{}\",datasource=\"{}\"",
            r.schema,
            r.shard,
            r.role.as_str(),
            r.datasource
        )
    };
    let mut family =
        |name: &str, kind: &str, help: &str, value: &dyn Fn(&BackendRow) -> Option<u64>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for r in rows {
                if let Some(v) = value(r) {
                    let _ = writeln!(out, "{name}{{{}}} {v}", labels(r));
                }
            }
        };
    family(
        "haoka_proxy_backend_up",
        "gauge",
        "1 while the backend takes work, 0 while its circuit breaker is open.",
        &|r| {
            Some(u64::from(
                r.health.state == crate::backend::BackendState::Up,
            ))
        },
    );
    family(
        "haoka_proxy_backend_outages_total",
        "counter",
        "Times the backend was marked down.",
        &|r| Some(r.health.outages),
    );
    family(
        "haoka_proxy_backend_query_timeouts_total",
        "counter",
        "Statements killed on the backend after the query timeout.",
        &|r| Some(r.health.query_timeouts),
    );
    family(
        "haoka_proxy_replica_lag_seconds",
        "gauge",
        "Seconds_Behind_Master of a replica as last read (absent while unknown).",
        &|r| r.lag_s,
    );
    family(
        "haoka_proxy_replica_reads_total",
        "counter",
        "Statements whose reads a replica served.",
        &|r| (r.role == Role::Replica).then_some(r.replica_reads),
    );
    out
}
