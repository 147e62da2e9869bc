//! The switch: the province's new statements are held in the proxy (the
//! province map answers "moving", see `Reshard::hold`), statements routed
//! before the freeze finish, the source's moved tables are locked (which
//! waits for transactions still using them), the change table is drained to
//! zero and the row counts compared, the new shard is recorded as a rules
//! version on the global shard in the same transaction as the move's phase,
//! the capture triggers are replaced by fences (BEFORE triggers refusing the
//! province's writes on the old shard, so a proxy that has not adopted the
//! version fails instead of writing where nobody reads), the map is changed
//! and the held statements go on — to the target. The pause is measured from the freeze
//! to the release. Every proxy adopts recorded versions (`adopt`), at start
//! and every `poll_interval_ms`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts};

use super::plan::{self, q, Phase};
use super::{at, capture, MoveCtx, ReshardError};
use crate::exec::Shared;

const ATTEMPTS: usize = 10;

fn retryable(e: &ReshardError) -> bool {
    match e {
        ReshardError::SwitchTimeout(_) => true,
        ReshardError::Backend {
            source: mysql_async::Error::Server(s),
            ..
        } => s.code == 1205,
        _ => false,
    }
}

pub async fn run(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        ctx.check_cancel()?;
        match try_switch(ctx).await {
            Ok(()) => return Ok(()),
            Err(e) if retryable(&e) => {
                tracing::warn!(move_id = ctx.mv.id, attempt, error = %e, "switch attempt gave up; catching up and retrying");
                last = Some(e);
                capture::catch_up(ctx).await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ReshardError::SwitchTimeout(ctx.settings().hold_limit_ms)))
}

async fn try_switch(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    let budget = Duration::from_millis(ctx.settings().hold_limit_ms * 3 / 4);
    let src = ctx.source_name();
    let mut lock = ctx.source.get_conn().await.map_err(at(&src))?;
    lock.query_drop(format!(
        "SET SESSION lock_wait_timeout = {}",
        (budget.as_secs() / 2).max(1)
    ))
    .await
    .map_err(at(&src))?;
    let map = ctx.shared.rules.schemas[ctx.schema].provinces.clone();
    let province = ctx.mv.province.clone();
    let shared = ctx.shared.clone();
    let _one_switch = shared.reshard.switching.lock().await;
    let started = Instant::now();
    map.freeze(&province);
    // Statements routed before the freeze finish first (on the source).
    let r = if shared.reshard.drain_in_flight(budget / 2).await {
        locked(ctx, &mut lock, started, budget).await
    } else {
        Err(ReshardError::SwitchTimeout(budget.as_millis() as u64))
    };
    if r.is_ok() {
        map.assign(&province, ctx.mv.target);
    }
    map.thaw(&province);
    let pause = started.elapsed();
    let unlocked = lock.query_drop("UNLOCK TABLES").await;
    drop(lock);
    r?;
    unlocked.map_err(at(&src))?;
    ctx.mv.pause_ms = Some(pause.as_millis() as u64);
    plan::save(&ctx.global, &ctx.mv).await?;
    tracing::info!(
        move_id = ctx.mv.id,
        province = %province,
        target = ctx.mv.target,
        pause_ms = pause.as_millis() as u64,
        "province switched to its new shard"
    );
    Ok(())
}

/// Under the freeze: lock, drain, compare, record.
async fn locked(
    ctx: &mut MoveCtx,
    lock: &mut Conn,
    started: Instant,
    budget: Duration,
) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    let dst = ctx.target_name();
    let tables: Vec<String> = ctx
        .tables
        .iter()
        .map(|t| format!("{} READ", q(&t.name)))
        .collect();
    lock.query_drop(format!("LOCK TABLES {}", tables.join(", ")))
        .await
        .map_err(at(&src))?;
    let over = |started: Instant| {
        if started.elapsed() > budget {
            Err(ReshardError::SwitchTimeout(budget.as_millis() as u64))
        } else {
            Ok(())
        }
    };
    while capture::apply_batch(ctx, capture::APPLY_BATCH).await? > 0 {
        over(started)?;
    }
    for t in &ctx.tables {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {} = ?",
            q(&t.name),
            q(&t.province_col)
        );
        let mut s = ctx.source.get_conn().await.map_err(at(&src))?;
        let mut d = ctx.target.get_conn().await.map_err(at(&dst))?;
        let a: Option<u64> = s
            .exec_first(sql.as_str(), (ctx.mv.province.as_str(),))
            .await
            .map_err(at(&src))?;
        let b: Option<u64> = d
            .exec_first(sql.as_str(), (ctx.mv.province.as_str(),))
            .await
            .map_err(at(&dst))?;
        if a != b {
            return Err(ReshardError::CountMismatch {
                table: t.name.clone(),
                source_rows: a.unwrap_or(0),
                target_rows: b.unwrap_or(0),
            });
        }
    }
    over(started)?;
    let version = record(ctx, started.elapsed()).await?;
    // Recorded: from here on the move is switched whatever fails. Still
    // frozen, but unlocked (trigger DDL needs the tables to itself).
    let _ = lock.query_drop("UNLOCK TABLES").await;
    let swapped = async {
        capture::lock_for_ddl(ctx, lock).await?;
        capture::drop_triggers(ctx, lock).await?;
        capture::install_fence(ctx, lock, version).await
    }
    .await;
    let _ = lock.query_drop("UNLOCK TABLES").await;
    if let Err(e) = swapped {
        tracing::warn!(move_id = ctx.mv.id, error = %e, "old shard not fenced against stale proxies");
    }
    ctx.shared
        .reshard
        .adopted
        .fetch_max(version, Ordering::SeqCst);
    ctx.mv.phase = Phase::Switched;
    Ok(())
}

/// The new rules version and the move's phase, in one transaction.
async fn record(ctx: &MoveCtx, pause: Duration) -> Result<u64, ReshardError> {
    let mut g = ctx.global.get_conn().await.map_err(at("global shard"))?;
    let mut tx = g
        .start_transaction(TxOpts::default())
        .await
        .map_err(at("global shard"))?;
    let version: Option<u64> = tx
        .query_first("SELECT COALESCE(MAX(version), 0) + 1 FROM haoka_rules_version FOR UPDATE")
        .await
        .map_err(at("global shard"))?;
    let version = version.unwrap_or(1);
    tx.exec_drop(
        "INSERT INTO haoka_rules_version (province, shard, version, move_id) VALUES (?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE shard = VALUES(shard), version = VALUES(version), move_id = VALUES(move_id)",
        (ctx.mv.province.as_str(), ctx.mv.target, version, ctx.mv.id),
    )
    .await
    .map_err(at("global shard"))?;
    tx.exec_drop(
        "UPDATE haoka_reshard_move SET phase = 'switched', pause_ms = ? WHERE move_id = ?",
        (pause.as_millis() as u64, ctx.mv.id),
    )
    .await
    .map_err(at("global shard"))?;
    tx.commit().await.map_err(at("global shard"))?;
    Ok(version)
}

fn text(v: &mysql_common::value::Value) -> String {
    match v {
        mysql_common::value::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.as_sql(true),
    }
}

/// Which shards may hold rows of a province besides its current one: the
/// source and target of every move not completed or cancelled (a failed
/// move's too: its copies or leftovers are there). None when the global
/// shard does not answer (the map keeps what it had).
async fn read_copies(
    conn: &mut crate::backend::PooledConn,
) -> Option<BTreeMap<String, BTreeSet<usize>>> {
    let r = match conn
        .query_collect(
            "SELECT province, source_shard, target_shard FROM haoka_reshard_move \
             WHERE phase NOT IN ('completed', 'cancelled')",
        )
        .await
    {
        Ok(r) => r,
        // no move was ever started on this global shard
        Err(crate::backend::BackendError::Server(e)) if e.code == 1146 => {
            return Some(BTreeMap::new())
        }
        Err(_) => return None,
    };
    let mut copies: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for row in r.rows {
        let (Some(p), Some(s), Some(t)) = (row.first(), row.get(1), row.get(2)) else {
            continue;
        };
        let shards = copies.entry(text(p)).or_default();
        for v in [s, t] {
            if let Ok(n) = text(v).parse::<usize>() {
                shards.insert(n);
            }
        }
    }
    Some(copies)
}

/// Re-reads the shards holding rows of moving provinces for `schema` (see
/// `ProvinceMap::stale_on`); the proxy driving a move calls it when a move
/// starts, completes or is cancelled, every proxy at each poll (`adopt`).
pub async fn refresh_copies(shared: &Shared, schema: usize) {
    let _one = shared.reshard.refreshing.lock().await;
    let Ok(mut conn) = shared.schemas[schema].global.get().await else {
        return;
    };
    if let Some(c) = read_copies(&mut conn).await {
        shared.rules.schemas[schema].provinces.set_copies(c);
    }
}

/// Adopts the province map recorded on each schema's global shard, and the
/// shards that still (or already) hold rows of moving provinces.
pub async fn adopt(shared: &Shared) {
    for (i, schema) in shared.rules.schemas.iter().enumerate() {
        let _one = shared.reshard.refreshing.lock().await;
        let Ok(mut conn) = shared.schemas[i].global.get().await else {
            continue;
        };
        // The moves first: a move read as unfinished here is switched in
        // the versions read below at the latest, never the other way round
        // (a province adopted on its new shard while its old one's rows
        // were not yet known as stale would be counted twice).
        if let Some(c) = read_copies(&mut conn).await {
            schema.provinces.set_copies(c);
        }
        let Ok(r) = conn
            .query_collect("SELECT province, shard, version FROM haoka_rules_version")
            .await
        else {
            continue;
        };
        for row in r.rows {
            let (Some(p), Some(s), Some(v)) = (row.first(), row.get(1), row.get(2)) else {
                continue;
            };
            let (province, shard, version) = (text(p), text(s), text(v));
            let (Ok(shard), Ok(version)) = (shard.parse::<usize>(), version.parse::<u64>()) else {
                continue;
            };
            if shard >= schema.shards.len() {
                tracing::warn!(province = %province, shard, "rules version names a shard this proxy does not have");
                continue;
            }
            if schema.provinces.current(&province) != Some(shard) {
                tracing::info!(schema = %schema.name, province = %province, shard, version, "adopting moved province");
                schema.provinces.assign(&province, shard);
            }
            shared.reshard.adopted.fetch_max(version, Ordering::SeqCst);
        }
    }
}

/// The highest rules version this proxy adopted.
pub fn adopted(shared: &Shared) -> u64 {
    shared.reshard.adopted.load(Ordering::SeqCst)
}
