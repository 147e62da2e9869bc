//! The executor: what the proxy does with a routed statement. `Shared` holds
//! what every session uses (rules, router, backend pools per shard, segment
//! map, sequences, metrics); `Session` is the per-client `Handler`.

pub mod backend_status;
pub mod catalog;
pub mod diagnostics;
mod global_index;
pub mod identity;
pub mod local;
pub mod metrics;
pub mod placement;
pub mod registry;
pub mod segments;
pub mod session;
mod session_admin;
pub mod session_values;
pub mod shards;
pub mod trace_context;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{self, Pool, PoolConfig};
use crate::config::{ProxyConfig, UserConfig};
use crate::route::Router;
use crate::rules::{Place, Rules, Schema};
use crate::sequence::SequenceAllocator;

pub use crate::backend::{ReplicaRuntime, ReplicaSet, ReplicaState};
pub use metrics::{Metrics, RouteKind};
pub use segments::SegmentTable;
pub use session::Session;

/// Runtime of one logical schema: a pool per shard and its helpers.
pub struct SchemaRuntime {
    pub data: Vec<Pool>,
    pub global: Pool,
    /// The same primaries, connected with CLIENT_FOUND_ROWS, for clients
    /// that asked for it (UPDATE answers matched rows): a backend connection
    /// gets the flag at its handshake, so the two kinds are pooled apart.
    pub data_found_rows: Vec<Pool>,
    pub global_found_rows: Pool,
    pub segments: SegmentTable,
    pub sequences: SequenceAllocator,
    /// Read replicas per place (empty when the rules list none).
    pub replicas: ReplicaSet,
}

impl SchemaRuntime {
    pub fn pool(&self, place: Place) -> &Pool {
        match place {
            Place::Data(i) => &self.data[i],
            Place::Global => &self.global,
        }
    }

    /// The primary's pool for a client with or without CLIENT_FOUND_ROWS.
    pub fn primary(&self, place: Place, found_rows: bool) -> &Pool {
        match (place, found_rows) {
            (_, false) => self.pool(place),
            (Place::Data(i), true) => &self.data_found_rows[i],
            (Place::Global, true) => &self.global_found_rows,
        }
    }
}

/// Everything sessions share.
pub struct Shared {
    pub rules: Arc<Rules>,
    pub router: Router,
    pub schemas: Vec<SchemaRuntime>,
    pub users: HashMap<String, UserConfig>,
    pub metrics: Metrics,
    pub txn: crate::transactions::TxnMetrics,
    pub slow_query: Duration,
    /// Client sessions, for KILL and SHOW PROCESSLIST.
    pub sessions: registry::Sessions,
    /// Per schema: physical names (shard databases, physical tables) and the
    /// logical names that replace them in messages passed on to clients.
    pub logical_names: Vec<Arc<[(String, String)]>>,
    /// After a write, a session reads from primaries for this long.
    pub primary_after_write: Duration,
    pub started: Instant,
    /// The server the proxy presents itself as (see identity.rs).
    pub identity: identity::ServerIdentity,
    /// information_schema column lists for the logical catalog (catalog.rs).
    pub catalog_columns: catalog::ColumnCache,
    /// Online resharding: held statements, moves this proxy drives.
    pub reshard: crate::reshard::Reshard,
}

/// How to reach `database` on datasource `ds`.
fn backend_target(
    rules: &Rules,
    ds: usize,
    database: &str,
    cfg: &ProxyConfig,
) -> backend::BackendConfig {
    let ds = &rules.datasources[ds];
    backend::BackendConfig {
        host: ds.host.clone(),
        port: ds.port,
        user: cfg.backend.user.clone(),
        password: cfg.backend.password.clone(),
        database: Some(database.to_string()),
        connect_timeout: Duration::from_millis(cfg.pool.connect_timeout_ms),
        found_rows: false,
    }
}

/// Physical names of a schema and the logical names clients see instead,
/// longest first (so `haoka_s10` is replaced before `haoka_s1`).
fn logical_names(schema: &Schema) -> Arc<[(String, String)]> {
    let mut names: Vec<(String, String)> = Vec::new();
    let mut add = |physical: &str, logical: &str| {
        if physical != logical && !names.iter().any(|(p, _)| p == physical) {
            names.push((physical.to_string(), logical.to_string()));
        }
    };
    for place in schema.all_places() {
        add(&schema.target(place).database, &schema.name);
    }
    for (table, _) in schema.tables() {
        for (_, physical) in schema.physical_tables(table).unwrap_or_default() {
            add(&physical, table);
        }
    }
    names.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    names.into()
}

/// The primary's backend config of `place`.
fn primary_target(
    rules: &Rules,
    schema: &Schema,
    place: Place,
    cfg: &ProxyConfig,
) -> backend::BackendConfig {
    let t = schema.target(place);
    backend_target(rules, t.datasource, &t.database, cfg)
}

/// Pools (with lag watchers) for the replicas of `place`.
fn replica_pools(
    rules: &Rules,
    schema: &Schema,
    place: Place,
    cfg: &ProxyConfig,
    pool_cfg: &PoolConfig,
) -> Vec<Arc<ReplicaRuntime>> {
    let t = schema.target(place);
    t.replicas
        .iter()
        .map(|r| {
            let pool = Pool::new(
                backend_target(rules, r.datasource, &t.database, cfg),
                pool_cfg.clone(),
            );
            let rt = ReplicaRuntime::new(r.datasource, pool, r.max_lag);
            rt.watch_lag(pool_cfg.health_interval);
            rt
        })
        .collect()
}

/// The identity of the default schema's global shard server (the backends
/// are one kind of server); the fallback when it does not answer.
async fn probe_identity(rules: &Rules, schemas: &[SchemaRuntime]) -> identity::ServerIdentity {
    let idx = rules.schemas.iter().position(|s| s.is_default).unwrap_or(0);
    let Some(rt) = schemas.get(idx) else {
        return identity::ServerIdentity::fallback();
    };
    match rt.global.get().await {
        Ok(conn) => identity::ServerIdentity::from_backend(conn.server_version()),
        Err(e) => {
            let id = identity::ServerIdentity::fallback();
            tracing::warn!(error = %e, version = %id.version, "backend version unknown at start; presenting the fallback identity");
            id
        }
    }
}

impl Shared {
    /// Builds pools (connections open lazily) and loads segment maps.
    pub async fn start(cfg: &ProxyConfig, rules: Rules) -> anyhow::Result<Arc<Shared>> {
        let rules = Arc::new(rules);
        let pool_cfg = PoolConfig {
            max_size: cfg.pool.max_size,
            checkout_timeout: Duration::from_millis(cfg.pool.checkout_timeout_ms),
            idle_timeout: Duration::from_secs(cfg.pool.idle_timeout_s),
            query_timeout: Some(Duration::from_millis(cfg.pool.query_timeout_ms))
                .filter(|t| !t.is_zero()),
            health_interval: Duration::from_millis(cfg.pool.health_check_interval_ms.max(10)),
            ..PoolConfig::default()
        };
        let mut schemas = Vec::new();
        for schema in &rules.schemas {
            let data: Vec<Pool> = (0..schema.shards.len())
                .map(|i| {
                    Pool::new(
                        primary_target(&rules, schema, Place::Data(i), cfg),
                        pool_cfg.clone(),
                    )
                })
                .collect();
            let data_found_rows = data.iter().map(Pool::found_rows_sibling).collect();
            let replicas = ReplicaSet::new(
                (0..schema.shards.len())
                    .map(|i| replica_pools(&rules, schema, Place::Data(i), cfg, &pool_cfg))
                    .collect(),
                replica_pools(&rules, schema, Place::Global, cfg, &pool_cfg),
            );
            let global_target = primary_target(&rules, schema, Place::Global, cfg);
            let global = Pool::new(global_target.clone(), pool_cfg.clone());
            let global_found_rows = global.found_rows_sibling();
            let seq_pool = mysql_async::Pool::new(
                mysql_async::OptsBuilder::default()
                    .ip_or_hostname(global_target.host.clone())
                    .tcp_port(global_target.port)
                    .user(Some(global_target.user.clone()))
                    .pass(Some(global_target.password.clone()))
                    .db_name(global_target.database.clone()),
            );
            let rt = SchemaRuntime {
                data,
                global,
                data_found_rows,
                global_found_rows,
                segments: SegmentTable::default(),
                sequences: SequenceAllocator::new(seq_pool),
                replicas,
            };
            if let Some(lookup) = &schema.segment_lookup {
                match rt.segments.load(&rt.global, lookup).await {
                    Ok(n) => {
                        tracing::info!(schema = %schema.name, segments = n, "segment map loaded")
                    }
                    Err(e) => tracing::warn!(
                        schema = %schema.name,
                        error = %e,
                        "segment map not loaded: numbers cannot be routed by number alone until it is"
                    ),
                }
            }
            schemas.push(rt);
        }
        let identity = probe_identity(&rules, &schemas).await;
        let logical_names = rules.schemas.iter().map(logical_names).collect();
        Ok(Arc::new(Shared {
            identity,
            catalog_columns: Default::default(),
            reshard: crate::reshard::Reshard::new(cfg.reshard.clone()),
            router: Router::new(rules.clone()),
            rules,
            schemas,
            users: cfg
                .users
                .iter()
                .map(|u| (u.name.clone(), u.clone()))
                .collect(),
            metrics: Metrics::default(),
            txn: Default::default(),
            slow_query: Duration::from_millis(cfg.limits.slow_query_ms),
            sessions: Default::default(),
            logical_names,
            primary_after_write: Duration::from_millis(cfg.replicas.primary_after_write_ms),
            started: Instant::now(),
        }))
    }

    /// Pool gauges for metrics: (schema, shard, in_use, idle).
    pub fn pool_stats(&self) -> Vec<(String, String, usize, usize)> {
        let mut out = Vec::new();
        for (schema, rt) in self.rules.schemas.iter().zip(&self.schemas) {
            for (i, p) in rt.data.iter().enumerate() {
                out.push((
                    schema.name.clone(),
                    i.to_string(),
                    p.in_use(),
                    p.idle_count(),
                ));
            }
            out.push((
                schema.name.clone(),
                "global".into(),
                rt.global.in_use(),
                rt.global.idle_count(),
            ));
        }
        out
    }

    pub fn render_metrics(&self) -> String {
        let health = backend_status::render_backend_metrics(&backend_status::backend_rows(self));
        let mut out = self.metrics.render(
            &self.pool_stats(),
            &[
                (
                    "haoka_proxy_plan_cache_entries",
                    self.router.cached_plans() as u64,
                ),
                (
                    "haoka_proxy_uptime_seconds",
                    self.started.elapsed().as_secs(),
                ),
            ],
        );
        self.txn.render(&mut out);
        out.push_str(&health);
        out
    }
}
