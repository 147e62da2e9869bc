//! Online resharding (平滑扩容, issue 20, DESIGN.md §7): moves every
//! province-sharded table's rows of one province from its shard to another
//! while clients keep writing, in the phases of DRDS 平滑扩容 / Vitess
//! MoveTables: capture (triggers, installed first) → copy (chunked by primary
//! key, throttled) → catch up → verify (per-chunk checksums) → switch (the
//! province's statements are held, the change table drained, the province map
//! changed and a rules version recorded) → complete (the source rows dropped).
//!
//! Why triggers and not the binlog: the shards of the local stack and of many
//! operator sites run without `log_bin`, and a binlog client would have to
//! follow MariaDB's GTIDs and XA transactions split between PREPARE and
//! COMMIT. Triggers (as pt-online-schema-change installs them) need only the
//! TRIGGER privilege the proxy's account has on its shards, see exactly the
//! committed changes (the change row commits with the row change), and make
//! catch-up idempotent: a change row only names a primary key, and applying it
//! re-reads the source row and upserts or deletes it on the target. So the
//! copy needs no consistent snapshot and the copy/catch-up race on rows past
//! the copied key cannot lose or double-apply a change: whatever order copy
//! and catch-up touch a key in, the last write of it copies the source's
//! current row. The cost is a second insert per write of the moving province
//! on the source while the move runs.
//!
//! The state of every move lives in `haoka_reshard_move` on the schema's
//! global shard (a restarted proxy resumes it); the adopted province map in
//! `haoka_rules_version` there (every proxy polls it).

pub mod capture;
pub mod cleanup;
pub mod copy;
pub mod plan;
pub mod switch;
pub mod verify;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::config::ReshardSettings;
use crate::exec::Shared;
use crate::route::{RouteError, Routed};
use crate::rules::Place;
pub use plan::{Move, Phase, TableInfo};

#[derive(Debug, thiserror::Error)]
pub enum ReshardError {
    #[error("haoka reshard: {0}")]
    Invalid(String),
    #[error("haoka reshard: {place}: {source}")]
    Backend {
        place: String,
        source: mysql_async::Error,
    },
    #[error("haoka reshard: table {table} has no primary key; a move copies by primary key")]
    NoPrimaryKey { table: String },
    #[error("haoka reshard: checksum mismatch in table {table}, keys {range}: source {source_rows} rows (crc {source_crc}), target {target_rows} rows (crc {target_crc})")]
    Mismatch {
        table: String,
        range: String,
        source_rows: u64,
        source_crc: u64,
        target_rows: u64,
        target_crc: u64,
    },
    #[error("haoka reshard: table {table}: the source has {source_rows} rows of the province, the target {target_rows} after draining")]
    CountMismatch {
        table: String,
        source_rows: u64,
        target_rows: u64,
    },
    #[error("haoka reshard: the switch did not finish within {0} ms (held statements would time out); retrying")]
    SwitchTimeout(u64),
    #[error("haoka reshard: move {0} was cancelled")]
    Cancelled(u64),
    #[error("haoka reshard: no move {0}")]
    NoSuchMove(u64),
}

/// A backend error with the place it happened at.
pub(crate) fn at(place: &str) -> impl Fn(mysql_async::Error) -> ReshardError + '_ {
    move |source| ReshardError::Backend {
        place: place.to_string(),
        source,
    }
}

/// Per-proxy resharding state, in `Shared`.
pub struct Reshard {
    pub settings: ReshardSettings,
    /// Moves this proxy drives: id → cancel flag.
    running: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    /// Highest rules version this proxy adopted.
    adopted: AtomicU64,
    /// Statements held by a switch, and those that waited past the limit.
    pub held_total: AtomicU64,
    pub held_timeouts: AtomicU64,
    /// Statements between routing and the end of their execution, counted
    /// per epoch: a switch starts a new epoch after freezing its province
    /// and waits for the old one to empty, so no statement routed to the
    /// old shard before the freeze reaches it after the switch.
    epoch: AtomicU64,
    in_flight: Arc<[AtomicU64; 2]>,
    /// One switch at a time per proxy (the epochs alternate).
    pub(crate) switching: tokio::sync::Mutex<()>,
    /// One read of the moves' shards at a time (`switch::refresh_copies`),
    /// so an older read never replaces a newer one.
    pub(crate) refreshing: tokio::sync::Mutex<()>,
}

/// A statement routed to shards and not finished yet (see `Reshard::hold`);
/// dropping it ends the count.
pub struct InFlight {
    counter: Option<(Arc<[AtomicU64; 2]>, usize)>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((c, i)) = self.counter.take() {
            c[i].fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Reshard {
    pub fn new(settings: ReshardSettings) -> Reshard {
        Reshard {
            settings,
            running: Mutex::default(),
            adopted: AtomicU64::new(0),
            held_total: AtomicU64::new(0),
            held_timeouts: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            in_flight: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            switching: tokio::sync::Mutex::new(()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a statement in the current epoch (re-checked, so a switch
    /// that started a new epoch meanwhile cannot miss it).
    fn enter(&self) -> InFlight {
        loop {
            let e = self.epoch.load(Ordering::SeqCst);
            let i = (e % 2) as usize;
            self.in_flight[i].fetch_add(1, Ordering::SeqCst);
            if self.epoch.load(Ordering::SeqCst) == e {
                return InFlight {
                    counter: Some((self.in_flight.clone(), i)),
                };
            }
            self.in_flight[i].fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Starts a new epoch (after a freeze) and waits until no statement of
    /// the old one runs; false if that took longer than `limit`.
    pub(crate) async fn drain_in_flight(&self, limit: Duration) -> bool {
        let old = self.epoch.fetch_add(1, Ordering::SeqCst);
        let c = &self.in_flight[(old % 2) as usize];
        let started = Instant::now();
        while c.load(Ordering::SeqCst) > 0 {
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }

    /// Routes with `route`; while it answers that the province is switching
    /// shards, waits (up to the hold limit) and routes again. This is the
    /// executor's one hook: a held statement is planned again after the
    /// switch, so it goes to the new shard. Keep the returned guard until
    /// the statement has run: a switch waits for statements routed before
    /// it froze the province.
    pub async fn hold<P: Planned>(
        &self,
        mut route: impl FnMut() -> Result<P, RouteError>,
    ) -> (Result<P, RouteError>, InFlight) {
        let started = Instant::now();
        let limit = Duration::from_millis(self.settings.hold_limit_ms);
        let mut held = false;
        loop {
            let guard = self.enter();
            let r = route();
            match &r {
                // Targets decided: counted until the statement has run.
                Ok(p) if matches!(p.routed(), Routed::Shards(_)) => return (r, guard),
                // Not routed to shards yet (sequence ids, index lookups
                // first): their own `hold` counts them once they are.
                Err(RouteError::ProvinceMoving(_)) => {}
                _ => return (r, InFlight { counter: None }),
            }
            drop(guard);
            if !held {
                held = true;
                self.held_total.fetch_add(1, Ordering::Relaxed);
            }
            if started.elapsed() >= limit {
                self.held_timeouts.fetch_add(1, Ordering::Relaxed);
                return (r, InFlight { counter: None });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn cancel_flag(&self, id: u64) -> Option<Arc<AtomicBool>> {
        self.running.lock().expect("reshard lock").get(&id).cloned()
    }

    /// Asks the driver of move `id` to stop; false if this proxy does not drive it.
    pub fn request_cancel(&self, id: u64) -> bool {
        match self.cancel_flag(id) {
            Some(f) => {
                f.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

/// A mysql_async pool for `place` of `schema`, with the proxy's account.
pub(crate) fn pool_for(shared: &Shared, schema: usize, place: Place) -> mysql_async::Pool {
    let b = shared.schemas[schema].pool(place).backend();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(b.host.clone())
        .tcp_port(b.port)
        .user(Some(b.user.clone()))
        .pass(Some(b.password.clone()))
        .db_name(b.database.clone());
    mysql_async::Pool::new(mysql_async::Opts::from(opts))
}

/// What a running move works with: its row, pools, tables and settings.
pub struct MoveCtx {
    pub shared: Arc<Shared>,
    pub schema: usize,
    pub mv: Move,
    pub global: mysql_async::Pool,
    pub source: mysql_async::Pool,
    pub target: mysql_async::Pool,
    pub tables: Vec<TableInfo>,
    pub cancel: Arc<AtomicBool>,
}

impl MoveCtx {
    pub fn settings(&self) -> &ReshardSettings {
        &self.shared.reshard.settings
    }

    pub fn check_cancel(&self) -> Result<(), ReshardError> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(ReshardError::Cancelled(self.mv.id));
        }
        Ok(())
    }

    pub fn source_name(&self) -> String {
        format!("source shard {}", self.mv.source)
    }

    pub fn target_name(&self) -> String {
        format!("target shard {}", self.mv.target)
    }

    pub async fn set_phase(&mut self, phase: Phase) -> Result<(), ReshardError> {
        self.mv.phase = phase;
        plan::save(&self.global, &self.mv).await
    }
}

/// At start: adopt the moved provinces, poll for more, resume unfinished moves.
pub async fn start(shared: Arc<Shared>) {
    switch::adopt(&shared).await;
    let poller = shared.clone();
    tokio::spawn(async move {
        let every = Duration::from_millis(poller.reshard.settings.poll_interval_ms.max(50));
        loop {
            tokio::time::sleep(every).await;
            switch::adopt(&poller).await;
        }
    });
    // In the background: a global shard that does not answer must not hold
    // up serving.
    tokio::spawn(async move {
        for schema in 0..shared.rules.schemas.len() {
            let global = pool_for(&shared, schema, Place::Global);
            match plan::unfinished(&global).await {
                Ok(ids) => {
                    for id in ids {
                        tracing::info!(move_id = id, "resuming an unfinished province move");
                        spawn_driver(shared.clone(), schema, id);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "no reshard state to resume"),
            }
            let _ = global.disconnect().await;
        }
    });
}

/// Runs move `id` from its recorded phase in the background.
pub fn spawn_driver(shared: Arc<Shared>, schema: usize, id: u64) {
    tokio::spawn(async move {
        if let Err(e) = drive(shared, schema, id).await {
            tracing::warn!(move_id = id, error = %e, "province move stopped");
        }
    });
}

async fn drive(shared: Arc<Shared>, schema: usize, id: u64) -> Result<(), ReshardError> {
    let cancel = {
        let mut running = shared.reshard.running.lock().expect("reshard lock");
        if running.contains_key(&id) {
            return Ok(());
        }
        let flag = Arc::new(AtomicBool::new(false));
        running.insert(id, flag.clone());
        flag
    };
    let r = drive_locked(shared.clone(), schema, id, cancel).await;
    shared
        .reshard
        .running
        .lock()
        .expect("reshard lock")
        .remove(&id);
    r
}

/// The name of a move's driver lock (the move id is its parameter). Lock
/// names are server-wide, so it carries the global shard's database: move 1
/// of another global shard on the same MariaDB (another deployment, a test)
/// is another lock. MD5 keeps it within 64 characters.
const DRIVER_LOCK: &str = "CONCAT('haoka_reshard:', LEFT(MD5(DATABASE()), 16), ':', ?)";

async fn drive_locked(
    shared: Arc<Shared>,
    schema: usize,
    id: u64,
    cancel: Arc<AtomicBool>,
) -> Result<(), ReshardError> {
    let global = pool_for(&shared, schema, Place::Global);
    // One driver per move among all proxies sharing the global shard: the
    // named lock dies with its connection (a crashed proxy frees it).
    let mut lock_conn = global.get_conn().await.map_err(at("global shard"))?;
    let got: Option<i64> = lock_conn
        .exec_first(format!("SELECT GET_LOCK({DRIVER_LOCK}, 0)"), (id,))
        .await
        .map_err(at("global shard"))?;
    if got != Some(1) {
        tracing::info!(move_id = id, "another proxy drives this move");
        return Ok(());
    }
    let mv = plan::load(&global, id)
        .await?
        .ok_or(ReshardError::NoSuchMove(id))?;
    let source = pool_for(&shared, schema, Place::Data(mv.source));
    let target = pool_for(&shared, schema, Place::Data(mv.target));
    let tables = plan::tables(&shared, schema, &source, &mv.province).await?;
    let mut ctx = MoveCtx {
        shared,
        schema,
        mv,
        global,
        source,
        target,
        tables,
        cancel,
    };
    let r = run_phases(&mut ctx).await;
    let r = match r {
        Err(ReshardError::Cancelled(_)) => cleanup::cancel(&mut ctx).await,
        Err(e) => {
            ctx.mv.error = Some(e.to_string());
            ctx.mv.phase = Phase::Failed;
            plan::save(&ctx.global, &ctx.mv).await?;
            Err(e)
        }
        ok => ok,
    };
    let _ = lock_conn
        .exec_drop(format!("DO RELEASE_LOCK({DRIVER_LOCK})"), (id,))
        .await;
    drop(lock_conn);
    r
}

async fn run_phases(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    loop {
        ctx.check_cancel()?;
        match ctx.mv.phase {
            Phase::Copy => {
                copy::run(ctx).await?;
                ctx.set_phase(Phase::CatchUp).await?;
            }
            Phase::CatchUp => {
                capture::catch_up(ctx).await?;
                ctx.set_phase(Phase::Verify).await?;
            }
            Phase::Verify => {
                verify::run(ctx).await?;
                ctx.set_phase(Phase::Switch).await?;
            }
            Phase::Switch => {
                switch::run(ctx).await?;
                capture::remove(ctx).await?;
                return Ok(());
            }
            Phase::Switched => {
                // A crash right after the switch: capture gone, fence in
                // place (unless a later move took the province elsewhere).
                capture::remove(ctx).await?;
                let map = &ctx.shared.rules.schemas[ctx.schema].provinces;
                if map.current(&ctx.mv.province) == Some(ctx.mv.target) {
                    let src = ctx.source_name();
                    let mut c = ctx.source.get_conn().await.map_err(at(&src))?;
                    let version = switch::adopted(&ctx.shared);
                    capture::lock_for_ddl(ctx, &mut c).await?;
                    let fenced = capture::install_fence(ctx, &mut c, version).await;
                    c.query_drop("UNLOCK TABLES").await.map_err(at(&src))?;
                    fenced?;
                }
                return Ok(());
            }
            Phase::Cleanup => {
                cleanup::complete(ctx).await?;
                return Ok(());
            }
            Phase::Completed | Phase::Cancelled | Phase::Failed => return Ok(()),
        }
    }
}

/// What a planner answers: a plan alone, or a plan with its statement
/// flags; `hold` looks only at where the plan goes.
pub trait Planned {
    fn routed(&self) -> &Routed;
}

impl Planned for Routed {
    fn routed(&self) -> &Routed {
        self
    }
}

impl Planned for (Routed, crate::route::StmtFlags) {
    fn routed(&self) -> &Routed {
        &self.0
    }
}
