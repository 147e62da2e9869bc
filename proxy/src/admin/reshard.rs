//! The resharding admin statements, answered by the proxy (admin users only):
//!
//! - `ALTER HAOKA MOVE PROVINCE <code> TO SHARD <n>`: plans a move, installs
//!   its change capture and starts it; answers the move id.
//! - `SHOW HAOKA RESHARD`: every move with its phase, rows copied / total,
//!   lag (captured changes not applied yet), the switch pause and errors,
//!   and how many statements this proxy held at switches (and held too long).
//! - `ALTER HAOKA RESHARD <id> CANCEL`: stops a move before its switch and
//!   removes what it copied.
//! - `ALTER HAOKA RESHARD <id> COMPLETE`: after the switch, deletes the
//!   province's rows from the old shard.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::exec::Shared;
use crate::reshard::plan::{self, q, Phase};
use crate::reshard::{at, capture, cleanup, pool_for, spawn_driver, switch, MoveCtx, ReshardError};
use crate::rules::Place;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReshardCommand {
    Move { province: String, shard: usize },
    Show,
    Cancel(u64),
    Complete(u64),
}

/// A small result: column names and text cells (None = NULL).
pub struct AdminAnswer {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Recognises the statements; `Some(Err)` for a malformed one of them.
pub fn parse(sql: &str) -> Option<Result<ReshardCommand, String>> {
    let w: Vec<String> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(|s| {
            s.trim_matches(|c| c == '\'' || c == '"')
                .to_ascii_uppercase()
        })
        .collect();
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["SHOW", "HAOKA", "RESHARD"] => Some(Ok(ReshardCommand::Show)),
        ["ALTER", "HAOKA", "MOVE", "PROVINCE", p, "TO", "SHARD", n] => Some(
            n.parse()
                .map(|shard| ReshardCommand::Move {
                    province: p.to_string(),
                    shard,
                })
                .map_err(|_| format!("shard '{n}' is not a shard number")),
        ),
        ["ALTER", "HAOKA", "RESHARD", id, what @ ("CANCEL" | "COMPLETE")] => {
            Some(match id.parse() {
                Ok(id) if *what == "CANCEL" => Ok(ReshardCommand::Cancel(id)),
                Ok(id) => Ok(ReshardCommand::Complete(id)),
                Err(_) => Err(format!("move id '{id}' is not a number")),
            })
        }
        ["ALTER", "HAOKA", ..] => Some(Err(
            "expected ALTER HAOKA MOVE PROVINCE <code> TO SHARD <n> or ALTER HAOKA RESHARD <id> CANCEL|COMPLETE"
                .into(),
        )),
        _ => None,
    }
}

pub async fn run(
    shared: &Arc<Shared>,
    schema: usize,
    cmd: ReshardCommand,
) -> Result<AdminAnswer, ReshardError> {
    match cmd {
        ReshardCommand::Move { province, shard } => {
            let id = start_move(shared, schema, &province, shard).await?;
            Ok(AdminAnswer {
                columns: vec!["move_id", "province", "target_shard", "phase"],
                rows: vec![vec![
                    Some(id.to_string()),
                    Some(province),
                    Some(shard.to_string()),
                    Some("copy".into()),
                ]],
            })
        }
        ReshardCommand::Show => show(shared, schema).await,
        ReshardCommand::Cancel(id) => cancel(shared, schema, id).await,
        ReshardCommand::Complete(id) => complete(shared, schema, id).await,
    }
}

fn one(message: String) -> AdminAnswer {
    AdminAnswer {
        columns: vec!["result"],
        rows: vec![vec![Some(message)]],
    }
}

async fn context(
    shared: &Arc<Shared>,
    schema: usize,
    mv: plan::Move,
) -> Result<MoveCtx, ReshardError> {
    let source = pool_for(shared, schema, Place::Data(mv.source));
    let target = pool_for(shared, schema, Place::Data(mv.target));
    let tables = plan::tables(shared, schema, &source, &mv.province).await?;
    Ok(MoveCtx {
        shared: shared.clone(),
        schema,
        mv,
        global: pool_for(shared, schema, Place::Global),
        source,
        target,
        tables,
        cancel: Arc::new(AtomicBool::new(false)),
    })
}

async fn start_move(
    shared: &Arc<Shared>,
    schema: usize,
    province: &str,
    target: usize,
) -> Result<u64, ReshardError> {
    let s = &shared.rules.schemas[schema];
    let source = s.provinces.current(province).ok_or_else(|| {
        ReshardError::Invalid(format!(
            "province '{province}' is not in schema {}'s province map",
            s.name
        ))
    })?;
    if target >= s.shards.len() {
        return Err(ReshardError::Invalid(format!(
            "shard {target} does not exist: schema {} has data shards 0..{}",
            s.name,
            s.shards.len()
        )));
    }
    if target == source {
        return Err(ReshardError::Invalid(format!(
            "province '{province}' is on shard {target} already"
        )));
    }
    let global = pool_for(shared, schema, Place::Global);
    plan::ensure_tables(&global).await?;
    if let Some(m) = plan::list(&global)
        .await?
        .into_iter()
        .find(|m| m.province == province && (m.phase.before_switch() || m.phase == Phase::Cleanup))
    {
        return Err(ReshardError::Invalid(format!(
            "move {} of province '{province}' is still in phase {}",
            m.id,
            m.phase.as_str()
        )));
    }
    let src_pool = pool_for(shared, schema, Place::Data(source));
    let tables = plan::tables(shared, schema, &src_pool, province).await?;
    if tables.is_empty() {
        return Err(ReshardError::Invalid(format!(
            "schema {} has no table sharded by province",
            s.name
        )));
    }
    let mut total = 0u64;
    {
        let mut c = src_pool.get_conn().await.map_err(at("source shard"))?;
        for t in &tables {
            let n: Option<u64> = c
                .exec_first(
                    format!(
                        "SELECT COUNT(*) FROM {} WHERE {} = ?",
                        q(&t.name),
                        q(&t.province_col)
                    ),
                    (province,),
                )
                .await
                .map_err(at("source shard"))?;
            total += n.unwrap_or(0);
        }
    }
    let id = plan::insert(&global, province, source, target, total).await?;
    // From here on the target gets copies of the province's rows that are
    // not live yet: statements reaching it exclude them.
    switch::refresh_copies(shared, schema).await;
    let mv = plan::load(&global, id)
        .await?
        .ok_or(ReshardError::NoSuchMove(id))?;
    let mut ctx = context(shared, schema, mv).await?;
    // A province moving back to a shard it once left: lift its fence there.
    let (target_pool, target_name) = (ctx.target.clone(), ctx.target_name());
    capture::drop_fences(&ctx, &target_pool, &target_name).await?;
    // Capture first: every change after the copy reads a row is recorded.
    if let Err(e) = capture::install(&ctx).await {
        ctx.mv.phase = Phase::Failed;
        ctx.mv.error = Some(e.to_string());
        plan::save(&global, &ctx.mv).await?;
        let _ = capture::remove(&ctx).await;
        return Err(e);
    }
    tracing::info!(
        move_id = id,
        province,
        source,
        target,
        rows = total,
        "province move started"
    );
    spawn_driver(shared.clone(), schema, id);
    Ok(id)
}

async fn show(shared: &Arc<Shared>, schema: usize) -> Result<AdminAnswer, ReshardError> {
    let global = pool_for(shared, schema, Place::Global);
    let moves = plan::list(&global).await?;
    let held = shared.reshard.held_total.load(Ordering::Relaxed);
    let held_timeouts = shared.reshard.held_timeouts.load(Ordering::Relaxed);
    let mut rows = Vec::new();
    for m in moves {
        let lag = if m.phase.before_switch() {
            let source = pool_for(shared, schema, Place::Data(m.source));
            let n = capture::pending(&source, m.id).await.ok();
            let _ = source.disconnect().await;
            n.map(|n| n.to_string())
        } else {
            Some("0".into())
        };
        rows.push(vec![
            Some(m.id.to_string()),
            Some(m.province.clone()),
            Some(m.source.to_string()),
            Some(m.target.to_string()),
            Some(m.phase.as_str().to_string()),
            Some(m.rows_copied.to_string()),
            Some(m.rows_total.to_string()),
            lag,
            m.pause_ms.map(|p| p.to_string()),
            m.error.clone(),
            Some(switch::adopted(shared).to_string()),
            Some(held.to_string()),
            Some(held_timeouts.to_string()),
            Some(m.updated_at.clone()),
        ]);
    }
    let _ = global.disconnect().await;
    Ok(AdminAnswer {
        columns: vec![
            "move_id",
            "province",
            "source_shard",
            "target_shard",
            "phase",
            "rows_copied",
            "rows_total",
            "lag",
            "pause_ms",
            "error",
            "rules_version",
            "held_statements",
            "held_timeouts",
            "updated_at",
        ],
        rows,
    })
}

async fn cancel(shared: &Arc<Shared>, schema: usize, id: u64) -> Result<AdminAnswer, ReshardError> {
    let global = pool_for(shared, schema, Place::Global);
    let mv = plan::load(&global, id)
        .await?
        .ok_or(ReshardError::NoSuchMove(id))?;
    if !(mv.phase.before_switch() || mv.phase == Phase::Failed) {
        return Err(ReshardError::Invalid(format!(
            "move {id} is in phase {}: only a move before its switch can be cancelled (REVERSE is not implemented)",
            mv.phase.as_str()
        )));
    }
    if shared.reshard.request_cancel(id) {
        return Ok(one(format!("move {id}: cancel requested")));
    }
    let mut ctx = context(shared, schema, mv).await?;
    cleanup::cancel(&mut ctx).await?;
    Ok(one(format!("move {id} cancelled")))
}

async fn complete(
    shared: &Arc<Shared>,
    schema: usize,
    id: u64,
) -> Result<AdminAnswer, ReshardError> {
    let global = pool_for(shared, schema, Place::Global);
    let mut mv = plan::load(&global, id)
        .await?
        .ok_or(ReshardError::NoSuchMove(id))?;
    if mv.phase != Phase::Switched {
        return Err(ReshardError::Invalid(format!(
            "move {id} is in phase {}: COMPLETE needs a switched move",
            mv.phase.as_str()
        )));
    }
    mv.phase = Phase::Cleanup;
    plan::save(&global, &mv).await?;
    spawn_driver(shared.clone(), schema, id);
    Ok(one(format!(
        "move {id}: deleting province {}'s rows from shard {}",
        mv.province, mv.source
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reshard_statements() {
        assert_eq!(
            parse("alter haoka move province '36' to shard 2;"),
            Some(Ok(ReshardCommand::Move {
                province: "36".into(),
                shard: 2
            }))
        );
        assert_eq!(parse("SHOW HAOKA RESHARD"), Some(Ok(ReshardCommand::Show)));
        assert_eq!(
            parse("ALTER HAOKA RESHARD 7 COMPLETE"),
            Some(Ok(ReshardCommand::Complete(7)))
        );
        assert_eq!(
            parse("ALTER HAOKA RESHARD 7 CANCEL"),
            Some(Ok(ReshardCommand::Cancel(7)))
        );
        assert!(matches!(parse("ALTER HAOKA MOVE 36"), Some(Err(_))));
        assert_eq!(parse("SHOW HAOKA SHARDS"), None);
        assert_eq!(parse("ALTER TABLE t ADD c INT"), None);
    }
}
