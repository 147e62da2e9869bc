//! Change capture: AFTER INSERT/UPDATE/DELETE triggers on every moved table
//! of the source shard write (table, primary key) of each changed row of the
//! moving province into `haoka_reshard_change`, in the writer's transaction.
//! Applying a change re-reads the source row by its key and upserts it on the
//! target, or deletes it there when the source has no such row of the
//! province: idempotent and independent of order, so a change applied twice,
//! or before the copy reached its key, does no harm (see the module doc of
//! crate::reshard for why triggers).

use std::collections::BTreeSet;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::plan::{decode_key, q, TableInfo};
use super::{at, MoveCtx, ReshardError};

pub const CHANGE_TABLE: &str = "haoka_reshard_change";

/// Change rows applied per batch.
pub const APPLY_BATCH: usize = 1000;

const CHANGE_DDL: &str = "CREATE TABLE IF NOT EXISTS haoka_reshard_change (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    move_id BIGINT NOT NULL,
    tbl VARCHAR(64) NOT NULL,
    pk TEXT NOT NULL,
    KEY by_move (move_id, seq)
) ENGINE=InnoDB";

fn trigger_name(move_id: u64, table: &str, what: char) -> String {
    let mut t: String = table.chars().take(40).collect();
    t.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    format!("haoka_rs{move_id}_{t}_{what}")
}

/// `INSERT INTO haoka_reshard_change ...` of the key of row `OLD` or `NEW`
/// when it is of the moving province (`or_old`: or the old row was).
fn record(move_id: u64, t: &TableInfo, row: &str, or_old: bool) -> String {
    let key: Vec<String> =
        t.pk.iter()
            .map(|c| format!("HEX(CAST({row}.{} AS CHAR))", q(c)))
            .collect();
    format!(
        "IF {row}.{col} = {prov} {also_cond} THEN INSERT INTO {CHANGE_TABLE} (move_id, tbl, pk) VALUES ({move_id}, '{tbl}', CONCAT_WS(',', {key})); END IF;",
        col = q(&t.province_col),
        prov = "@@haoka_province@@",
        also_cond = if or_old {
            format!("OR OLD.{} = @@haoka_province@@", q(&t.province_col))
        } else {
            String::new()
        },
        tbl = t.name.replace('\'', "''"),
        key = key.join(", ")
    )
}

/// Installs the change table and the triggers (before the copy starts, so
/// every change after the copy read a row is recorded).
pub async fn install(ctx: &MoveCtx) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    let mut c = ctx.source.get_conn().await.map_err(at(&src))?;
    c.query_drop(CHANGE_DDL).await.map_err(at(&src))?;
    lock_for_ddl(ctx, &mut c).await?;
    let prov = format!("'{}'", ctx.mv.province.replace('\'', "''"));
    for t in &ctx.tables {
        // An UPDATE records the new key, and the old one only when the key changed.
        let key_changed: Vec<String> =
            t.pk.iter()
                .map(|c| format!("NOT (OLD.{0} <=> NEW.{0})", q(c)))
                .collect();
        let update = format!(
            "{} IF ({}) THEN {} END IF;",
            record(ctx.mv.id, t, "NEW", true),
            key_changed.join(" OR "),
            record(ctx.mv.id, t, "OLD", false)
        );
        for (what, event, body) in [
            ('i', "INSERT", record(ctx.mv.id, t, "NEW", false)),
            ('u', "UPDATE", update),
            ('d', "DELETE", record(ctx.mv.id, t, "OLD", false)),
        ] {
            let name = trigger_name(ctx.mv.id, &t.name, what);
            c.query_drop(format!("DROP TRIGGER IF EXISTS {}", q(&name)))
                .await
                .map_err(at(&src))?;
            let body = body.replace("@@haoka_province@@", &prov);
            c.query_drop(format!(
                "CREATE TRIGGER {} AFTER {event} ON {} FOR EACH ROW BEGIN {body} END",
                q(&name),
                q(&t.name)
            ))
            .await
            .map_err(at(&src))?;
        }
    }
    c.query_drop("UNLOCK TABLES").await.map_err(at(&src))?;
    Ok(())
}

/// Locks the moved tables and the change table for writing on `c`, so that
/// trigger DDL never runs while a write is between opening its tables and
/// executing: MariaDB 10.11 failed such a write with 1146 "haoka_reshard_change
/// doesn't exist" when a capture trigger appeared under it (seen in
/// e2e_reshard). Writers wait for the lock instead, a few milliseconds.
pub async fn lock_for_ddl(ctx: &MoveCtx, c: &mut Conn) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    let mut tables: Vec<String> = ctx
        .tables
        .iter()
        .map(|t| format!("{} WRITE", q(&t.name)))
        .collect();
    tables.push(format!("{CHANGE_TABLE} WRITE"));
    c.query_drop("SET SESSION lock_wait_timeout = 10")
        .await
        .map_err(at(&src))?;
    c.query_drop(format!("LOCK TABLES {}", tables.join(", ")))
        .await
        .map_err(at(&src))
}

/// Drops the move's capture triggers through `c`.
pub async fn drop_triggers(ctx: &MoveCtx, c: &mut Conn) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    for t in &ctx.tables {
        for what in ['i', 'u', 'd'] {
            c.query_drop(format!(
                "DROP TRIGGER IF EXISTS {}",
                q(&trigger_name(ctx.mv.id, &t.name, what))
            ))
            .await
            .map_err(at(&src))?;
        }
    }
    Ok(())
}

fn fence_name(province: &str, table: &str, what: char) -> String {
    let mut p: String = province.chars().take(8).collect();
    p.retain(|c| c.is_ascii_alphanumeric());
    trigger_name(0, table, what).replacen("haoka_rs0_", &format!("haoka_fence{p}_"), 1)
}

/// Lets a session delete the province's rows under a fence (COMPLETE).
pub const FENCE_BYPASS: &str = "SET @haoka_reshard_cleanup = 1";

/// After the switch, on the old shard: BEFORE triggers that refuse writes
/// of the moved province, so a proxy that has not adopted the new rules
/// version gets an error instead of writing rows nobody reads.
pub async fn install_fence(ctx: &MoveCtx, c: &mut Conn, version: u64) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    let prov = format!("'{}'", ctx.mv.province.replace('\'', "''"));
    let message = format!(
        "haoka: province {} moved to shard {} (rules version {version}); this proxy has not adopted it yet, retry",
        ctx.mv.province, ctx.mv.target
    )
    .replace('\'', "");
    for t in &ctx.tables {
        let col = q(&t.province_col);
        for (what, event, cond) in [
            ('i', "INSERT", format!("NEW.{col} = {prov}")),
            (
                'u',
                "UPDATE",
                format!("(OLD.{col} = {prov} OR NEW.{col} = {prov})"),
            ),
            ('d', "DELETE", format!("OLD.{col} = {prov}")),
        ] {
            let name = fence_name(&ctx.mv.province, &t.name, what);
            c.query_drop(format!("DROP TRIGGER IF EXISTS {}", q(&name)))
                .await
                .map_err(at(&src))?;
            c.query_drop(format!(
                "CREATE TRIGGER {} BEFORE {event} ON {} FOR EACH ROW BEGIN \
                 IF {cond} AND @haoka_reshard_cleanup IS NULL THEN \
                 SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'; END IF; END",
                q(&name),
                q(&t.name)
            ))
            .await
            .map_err(at(&src))?;
        }
    }
    Ok(())
}

/// Drops the province's fences on `pool`'s shard (a move back to it).
pub async fn drop_fences(
    ctx: &MoveCtx,
    pool: &mysql_async::Pool,
    place: &str,
) -> Result<(), ReshardError> {
    let mut c = pool.get_conn().await.map_err(at(place))?;
    for t in &ctx.tables {
        for what in ['i', 'u', 'd'] {
            c.query_drop(format!(
                "DROP TRIGGER IF EXISTS {}",
                q(&fence_name(&ctx.mv.province, &t.name, what))
            ))
            .await
            .map_err(at(place))?;
        }
    }
    Ok(())
}

/// Drops the move's triggers and change rows (after the switch, on cancel).
pub async fn remove(ctx: &MoveCtx) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    let mut c = ctx.source.get_conn().await.map_err(at(&src))?;
    c.query_drop(CHANGE_DDL).await.map_err(at(&src))?;
    lock_for_ddl(ctx, &mut c).await?;
    let dropped = drop_triggers(ctx, &mut c).await;
    c.query_drop("UNLOCK TABLES").await.map_err(at(&src))?;
    dropped?;
    let r = c
        .exec_drop(
            format!("DELETE FROM {CHANGE_TABLE} WHERE move_id = ?"),
            (ctx.mv.id,),
        )
        .await;
    match r {
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(()),
        r => r.map_err(at(&src)),
    }
}

/// Changes recorded and not applied yet (the move's lag).
pub async fn pending(source: &mysql_async::Pool, move_id: u64) -> Result<u64, ReshardError> {
    let mut c = source.get_conn().await.map_err(at("source shard"))?;
    let n: Result<Option<u64>, _> = c
        .exec_first(
            format!("SELECT COUNT(*) FROM {CHANGE_TABLE} WHERE move_id = ?"),
            (move_id,),
        )
        .await;
    match n {
        Ok(n) => Ok(n.unwrap_or(0)),
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(0),
        Err(e) => Err(at("source shard")(e)),
    }
}

/// Applies up to `limit` recorded changes; how many change rows it consumed.
/// Per table, one read of the source rows of every changed key and, in one
/// target transaction, a delete of those keys and an insert of the rows read.
pub async fn apply_batch(ctx: &MoveCtx, limit: usize) -> Result<usize, ReshardError> {
    let src = ctx.source_name();
    let mut s = ctx.source.get_conn().await.map_err(at(&src))?;
    apply_batch_on(ctx, &mut s, limit).await
}

/// `apply_batch` reading the source through `s`.
async fn apply_batch_on(ctx: &MoveCtx, s: &mut Conn, limit: usize) -> Result<usize, ReshardError> {
    let src = ctx.source_name();
    let dst = ctx.target_name();
    let rows: Vec<(u64, String, String)> = s
        .exec(
            format!(
                "SELECT seq, tbl, pk FROM {CHANGE_TABLE} WHERE move_id = ? ORDER BY seq LIMIT {limit}"
            ),
            (ctx.mv.id,),
        )
        .await
        .map_err(at(&src))?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut d = ctx.target.get_conn().await.map_err(at(&dst))?;
    for t in &ctx.tables {
        let keys: BTreeSet<&str> = rows
            .iter()
            .filter(|(_, tbl, _)| *tbl == t.name)
            .map(|(_, _, k)| k.as_str())
            .collect();
        if keys.is_empty() {
            continue;
        }
        let keys: Vec<Vec<Value>> = keys.into_iter().map(decode_key).collect();
        resync(s, &mut d, t, &ctx.mv.province, &keys)
            .await
            .map_err(|e| ReshardError::Backend {
                place: format!("{src} -> {dst}, table {}", t.name),
                source: e,
            })?;
    }
    // Exactly the rows read: a change committed meanwhile stays for the next batch.
    let seqs: Vec<String> = rows.iter().map(|(s, _, _)| s.to_string()).collect();
    s.query_drop(format!(
        "DELETE FROM {CHANGE_TABLE} WHERE seq IN ({})",
        seqs.join(",")
    ))
    .await
    .map_err(at(&src))?;
    Ok(rows.len())
}

/// `pk IN (?, ...)` / `(a, b) IN ((?, ?), ...)` for `n` keys.
fn keys_in(t: &TableInfo, n: usize) -> String {
    if t.pk.len() == 1 {
        format!("{} IN ({})", q(&t.pk[0]), vec!["?"; n].join(", "))
    } else {
        let one = format!("({})", vec!["?"; t.pk.len()].join(", "));
        format!("({}) IN ({})", t.pk_list(), vec![one; n].join(", "))
    }
}

/// Makes the target's rows of `keys` what the source's are now: absent
/// where the source has no row of the province with that key.
async fn resync(
    s: &mut Conn,
    d: &mut Conn,
    t: &TableInfo,
    province: &str,
    keys: &[Vec<Value>],
) -> Result<(), mysql_async::Error> {
    let mut params: Vec<Value> = vec![Value::from(province)];
    params.extend(keys.iter().flatten().cloned());
    let filter = format!("{} = ? AND {}", q(&t.province_col), keys_in(t, keys.len()));
    let found: Vec<Row> = s
        .exec(
            format!(
                "SELECT {} FROM {} WHERE {filter}",
                t.column_list(),
                q(&t.name)
            ),
            params.clone(),
        )
        .await?;
    let found: Vec<Vec<Value>> = found.into_iter().map(Row::unwrap).collect();
    let mut tx = d.start_transaction(mysql_async::TxOpts::default()).await?;
    tx.exec_drop(format!("DELETE FROM {} WHERE {filter}", q(&t.name)), params)
        .await?;
    for part in found.chunks(500) {
        upsert(&mut tx, t, part.to_vec()).await?;
    }
    tx.commit().await
}

/// Writes whole rows to the target, replacing the rows with the same key.
pub async fn upsert(
    d: &mut impl Queryable,
    t: &TableInfo,
    rows: Vec<Vec<Value>>,
) -> Result<(), mysql_async::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let one = format!("({})", vec!["?"; t.columns.len()].join(", "));
    let updates: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("{0} = VALUES({0})", q(c)))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {} ON DUPLICATE KEY UPDATE {}",
        q(&t.name),
        t.column_list(),
        vec![one; rows.len()].join(", "),
        updates.join(", ")
    );
    let params: Vec<Value> = rows.into_iter().flatten().collect();
    d.exec_drop(sql, params).await
}

/// Applies changes until fewer than a chunk are left (the lag is small
/// enough that the switch drains the rest within its pause).
pub async fn catch_up(ctx: &MoveCtx) -> Result<(), ReshardError> {
    let chunk = ctx.settings().chunk_rows.max(1);
    loop {
        ctx.check_cancel()?;
        let n = apply_batch(ctx, APPLY_BATCH).await?;
        if n < chunk {
            return Ok(());
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
