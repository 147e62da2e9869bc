//! The daily roll-up (统计结果存储): once per closed UTC day, across all
//! processes serving the report role, the day's figures go into the
//! statistics tables, so that a trend over 90 days reads 90 rows per key
//! instead of rescanning history:
//!
//! - `report_daily_activity`: holds, sales, releases and expiries per
//!   province, day and channel, from `number_history` (any closed day can be
//!   rolled up again from history);
//! - `report_daily_status`: phone_number per province, pool, status and
//!   level as it stands when the roll-up of the last closed day runs (status
//!   over time cannot be recomputed from history: a day missed while no
//!   process ran has no snapshot).
//!
//! The day is claimed in `report_rollup` by a conditional UPDATE (as
//! scheduled reports claim theirs), and a claim whose process died is taken
//! again after its lease. The claimant fills every closed day after the last
//! one done (catch-up after downtime). Everything goes through the proxy,
//! one local transaction per province (on its shard) and chunk of days: it
//! deletes the province's rows of those days, reads their figures with a
//! GROUP BY and inserts them — re-running a day replaces it, never doubles
//! it, and of two runs of the same days the last to commit read last.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::filters::{is_day, Days, Filters, Source};
use super::templates;
use crate::ReportState;
use haoka_core::auth::rbac::Principal;
use haoka_core::auth::scope::Scope;
use haoka_core::db::{marks, retry_collisions, Db};
use haoka_core::domain::PROVINCES;
use haoka_core::oplog;
use haoka_core::problem::ApiError;
use haoka_core::time::{civil_from_days, days_from_civil};

/// A claim not renewed for this long is taken again (renewed every chunk).
const LEASE_SECONDS: u64 = 600;
/// Days read from history by one statement.
const CHUNK_DAYS: i64 = 31;
/// Rows per INSERT.
const INSERT_ROWS: usize = 500;
/// The template whose measures the activity roll-up computes.
const ACTIVITY_TEMPLATE: &str = "channel_activity";

/// Days since 1970-01-01 of a `YYYY-MM-DD` day.
pub fn day_number(day: &str) -> Option<i64> {
    if !is_day(day) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| day[r].parse::<u32>().ok();
    Some(days_from_civil(i64::from(n(0..4)?), n(5..7)?, n(8..10)?))
}

pub fn day_text(n: i64) -> String {
    let (y, m, d) = civil_from_days(n);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A DATE (or DATETIME) value as its day, whichever protocol brought it.
fn day_of(v: &Value) -> Option<String> {
    match v {
        Value::Date(y, m, d, ..) => Some(format!("{y:04}-{m:02}-{d:02}")),
        Value::Bytes(b) => {
            let s = std::str::from_utf8(b).ok()?;
            s.get(..10).filter(|d| is_day(d)).map(str::to_string)
        }
        _ => None,
    }
}

/// A count (an integer, or a DECIMAL sum as text).
fn count_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::UInt(u) => i64::try_from(*u).unwrap_or(i64::MAX),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.split('.').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// Today and the last closed day, UTC, by the database's clock.
pub async fn today<Q: Queryable>(c: &mut Q) -> Result<(String, String), ApiError> {
    let row: Option<(String, String)> = c
        .query_first(
            "SELECT DATE_FORMAT(UTC_DATE(), '%Y-%m-%d'), \
             DATE_FORMAT(DATE_SUB(UTC_DATE(), INTERVAL 1 DAY), '%Y-%m-%d')",
        )
        .await?;
    row.ok_or_else(|| ApiError::Internal("no UTC_DATE()".into()))
}

/// The rolled-up days in `[from, to]` (open ends: none), in order.
pub async fn done_days<Q: Queryable>(
    c: &mut Q,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    Ok(c.exec(
        "SELECT DATE_FORMAT(day, '%Y-%m-%d') FROM report_rollup WHERE done_at IS NOT NULL \
         AND day >= ? AND day <= ? ORDER BY day",
        (from.unwrap_or("1000-01-01"), to.unwrap_or("9999-12-31")),
    )
    .await?)
}

/// An admin's run of the roll-up (`POST /api/v1/reports/rollup`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollupRequest {
    /// First day to roll up (again), UTC (default: the day after the last one done).
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day, UTC, before today (default: the last closed day).
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// What a run of the roll-up wrote.
#[derive(Debug, Default, Clone, Serialize, Deserialize, ToSchema)]
pub struct RollupView {
    /// First day rolled up (none: every closed day was done already).
    pub from: Option<String>,
    /// Last day rolled up.
    pub to: Option<String>,
    pub days: i64,
    /// Rows now in report_daily_activity for those days.
    pub activity_rows: u64,
    /// The day whose status snapshot was taken (the last closed day, when
    /// the run reached it).
    pub snapshot_day: Option<String>,
    /// Rows of that snapshot in report_daily_status.
    pub status_rows: u64,
}

/// The first day a catch-up rolls up: the day after the last one done, or
/// on a first run the first day of history (at most `backfill_days` back).
async fn catch_up_from(db: &Db, last_closed: &str, backfill_days: u32) -> Result<i64, ApiError> {
    let end = day_number(last_closed).ok_or_else(|| ApiError::Internal(last_closed.into()))?;
    let mut c = db.conn().await?;
    let last: Option<Option<String>> = c
        .exec_first(
            "SELECT DATE_FORMAT(MAX(day), '%Y-%m-%d') FROM report_rollup \
             WHERE done_at IS NOT NULL AND day <= ?",
            (last_closed,),
        )
        .await?;
    if let Some(n) = last.flatten().as_deref().and_then(day_number) {
        return Ok(n + 1);
    }
    let first: Option<Value> = c
        .query_first("SELECT MIN(DATE(created_at)) FROM number_history")
        .await?;
    let first = first.as_ref().and_then(day_of).and_then(|d| day_number(&d));
    let earliest = end + 1 - i64::from(backfill_days.max(1));
    Ok(first.unwrap_or(end).clamp(earliest, end))
}

/// What one table of the roll-up is made from: the figures read per
/// province (over a day range of history, or as they stand), and how its
/// rows are stored.
struct Figures {
    table: &'static str,
    columns: &'static str,
    read: Source<'static>,
    days: Option<Days<'static>>,
    /// Turns a row read into the row stored (province and day first).
    row: fn(&str, &str, Vec<Value>) -> Vec<Value>,
}

/// Holds, sales, releases and expiries per day and channel over
/// `[from, to]`, from history: the measures of `channel_activity`.
fn activity(from: &str, to: &str) -> Result<Figures, ApiError> {
    let t = templates::find(ACTIVITY_TEMPLATE)
        .ok_or_else(|| ApiError::Internal(ACTIVITY_TEMPLATE.into()))?;
    let col = t.date_col.unwrap_or("created_at");
    let group = vec![format!("DATE({col})"), "IFNULL(channel_id, 0)".to_string()];
    let mut items = group.clone();
    items.extend(t.measures.iter().map(|m| m.sql.to_string()));
    let src = Source {
        from: t.from,
        province_col: t.province_col,
        base: t.base,
        filters: &[],
        items,
        group,
    };
    let days = Days {
        col,
        from: Some(from.into()),
        to: Some(to.into()),
    };
    Ok(Figures {
        table: "report_daily_activity",
        columns: "province_code, day, channel_id, holds, sales, releases, expiries",
        read: src,
        days: Some(days),
        row: |p, _, v| {
            let mut row: Vec<Value> = vec![p.into(), day_of(&v[0]).unwrap_or_default().into()];
            row.extend(v[1..].iter().map(|x| Value::from(count_of(x))));
            row
        },
    })
}

/// phone_number by pool, status and level as it stands, as `day`'s rows.
fn status() -> Figures {
    let group: Vec<String> = ["IFNULL(pool_id, 0)", "status", "premium_level"]
        .map(String::from)
        .to_vec();
    let mut items = group.clone();
    items.push("COUNT(*)".into());
    Figures {
        table: "report_daily_status",
        columns: "province_code, day, pool_id, status, premium_level, numbers",
        read: Source {
            from: "phone_number",
            province_col: "province_code",
            base: "",
            filters: &[],
            items,
            group,
        },
        days: None,
        row: |p, day, v| {
            vec![
                p.into(),
                day.into(),
                count_of(&v[0]).into(),
                v[1].clone(),
                count_of(&v[2]).into(),
                count_of(&v[3]).into(),
            ]
        },
    }
}

/// Replaces `province`'s rows of `f.table` for the days `[from, to]` by
/// what `f.read` gives now, in one local transaction on the province's
/// shard. The old rows are deleted first: that locks the days' rows, so a
/// concurrent run of the same days waits, then reads (its read view begins
/// at that read, after this one's commit) and writes figures at least as
/// new — the last to commit never holds older figures. (A locking read
/// would hold up the number center's writes.) Returns the rows written.
async fn replace(
    db: &Db,
    f: &Figures,
    province: &str,
    (from, to): (&str, &str),
) -> Result<u64, ApiError> {
    retry_collisions(|| async {
        let mut tx = db.begin().await?;
        tx.exec_drop(
            format!(
                "DELETE FROM {} WHERE province_code = ? AND day >= ? AND day <= ?",
                f.table
            ),
            (province, from, to),
        )
        .await?;
        let only = Filters {
            province_code: Some(province.to_string()),
            ..Filters::default()
        };
        let (sql, params) = f.read.statement(only.filter_on(&f.read, f.days.as_ref()));
        let read: Vec<mysql_async::Row> = tx.exec(sql, params).await?;
        let rows: Vec<Vec<Value>> = read
            .into_iter()
            .map(|r| (f.row)(province, from, r.unwrap()))
            .collect();
        for chunk in rows.chunks(INSERT_ROWS) {
            let values = vec![format!("({})", marks(chunk[0].len())); chunk.len()].join(", ");
            let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
            tx.exec_drop(
                format!("INSERT INTO {} ({}) VALUES {values}", f.table, f.columns),
                params,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    })
    .await
}

/// Replaces every province's rows of `[from, to]`; returns the rows written.
async fn replace_all(db: &Db, f: &Figures, days: (&str, &str)) -> Result<u64, ApiError> {
    let mut written = 0;
    for p in PROVINCES {
        written += replace(db, f, p, days).await?;
    }
    Ok(written)
}

/// Rolls up the activity of `[from, to]` again from history, every
/// province, and marks the days done: what a correction of those days'
/// history needs. Returns the rows written.
pub async fn roll_days(db: &Db, from: &str, to: &str) -> Result<u64, ApiError> {
    let (Some(a), Some(b)) = (day_number(from), day_number(to)) else {
        return Err(ApiError::Invalid("from, to: days as YYYY-MM-DD".into()));
    };
    let n = replace_all(db, &activity(from, to)?, (from, to)).await?;
    mark_done(db, a, b).await?;
    Ok(n)
}

/// Marks `[from, to]` rolled up.
async fn mark_done(db: &Db, from: i64, to: i64) -> Result<(), ApiError> {
    let days: Vec<Value> = (from..=to).map(|n| day_text(n).into()).collect();
    let values = vec!["(?, UTC_TIMESTAMP(3))"; days.len()].join(", ");
    let mut c = db.conn().await?;
    c.exec_drop(
        format!(
            "INSERT INTO report_rollup (day, done_at) VALUES {values} \
             ON DUPLICATE KEY UPDATE done_at = UTC_TIMESTAMP(3), owner = NULL, lease_until = NULL"
        ),
        days,
    )
    .await?;
    Ok(())
}

/// Takes the status snapshot of `day` (phone_number as it stands now, one
/// province at a time); returns its rows.
async fn snapshot(db: &Db, day: &str) -> Result<u64, ApiError> {
    let written = replace_all(db, &status(), (day, day)).await?;
    let mut c = db.conn().await?;
    c.exec_drop(
        "INSERT INTO report_rollup (day, snapshot_at) VALUES (?, UTC_TIMESTAMP(3)) \
         ON DUPLICATE KEY UPDATE snapshot_at = UTC_TIMESTAMP(3)",
        (day,),
    )
    .await?;
    Ok(written)
}

/// Rolls up `[from, to]` (closed days), chunk by chunk, each chunk marked
/// done once written; takes the status snapshot of `snapshot_day` at the
/// end. `claim` (owner, day) is renewed after every chunk.
async fn run(
    db: &Db,
    from: i64,
    to: i64,
    snapshot_day: Option<&str>,
    claim: Option<(&str, &str)>,
) -> Result<RollupView, ApiError> {
    let mut view = RollupView::default();
    if from <= to {
        view.from = Some(day_text(from));
        view.to = Some(day_text(to));
        view.days = to - from + 1;
    }
    let mut start = from;
    while start <= to {
        let end = (start + CHUNK_DAYS - 1).min(to);
        view.activity_rows += roll_days(db, &day_text(start), &day_text(end)).await?;
        if let Some((owner, day)) = claim {
            let mut c = db.conn().await?;
            c.exec_drop(
                "UPDATE report_rollup SET lease_until = \
                 DATE_ADD(UTC_TIMESTAMP(3), INTERVAL ? SECOND) WHERE day = ? AND owner = ?",
                (LEASE_SECONDS, day, owner),
            )
            .await?;
        }
        start = end + 1;
    }
    if let Some(day) = snapshot_day {
        view.status_rows = snapshot(db, day).await?;
        view.snapshot_day = Some(day.to_string());
    }
    Ok(view)
}

/// The roll-up of the last closed day, if this process wins its claim
/// (and it is not done yet); every closed day since the last one done too.
pub async fn tick(state: &ReportState) -> Result<Option<RollupView>, ApiError> {
    let db = &state.db;
    let owner = &state.center.owner;
    let mut c = db.conn().await?;
    let (_, closed) = today(&mut c).await?;
    let done: Option<Option<String>> = c
        .exec_first(
            "SELECT DATE_FORMAT(done_at, '%Y-%m-%d') FROM report_rollup WHERE day = ?",
            (&closed,),
        )
        .await?;
    if done.flatten().is_some() {
        return Ok(None);
    }
    c.exec_drop(
        "INSERT INTO report_rollup (day) VALUES (?) ON DUPLICATE KEY UPDATE day = day",
        (&closed,),
    )
    .await?;
    c.exec_drop(
        "UPDATE report_rollup SET owner = ?, lease_until = \
         DATE_ADD(UTC_TIMESTAMP(3), INTERVAL ? SECOND) WHERE day = ? AND done_at IS NULL \
         AND (owner IS NULL OR lease_until < UTC_TIMESTAMP(3))",
        (owner, LEASE_SECONDS, &closed),
    )
    .await?;
    if c.affected_rows() != 1 {
        return Ok(None); // another process has the day
    }
    drop(c);
    let from = catch_up_from(db, &closed, state.center.cfg.rollup_backfill_days).await?;
    let to = day_number(&closed).ok_or_else(|| ApiError::Internal(closed.clone()))?;
    let view = run(db, from, to, Some(&closed), Some((owner, &closed))).await?;
    // An empty catch-up (every day was done by an admin's run) still
    // releases the day.
    mark_done(db, to, to).await?;
    tracing::info!(
        from = view.from.as_deref(),
        to = view.to.as_deref(),
        activity_rows = view.activity_rows,
        status_rows = view.status_rows,
        "daily statistics rolled up"
    );
    Ok(Some(view))
}

/// An admin's run: `[from, to]` rolled up again (default: every closed day
/// not done yet); the snapshot is taken again when `to` is the last closed day.
pub async fn run_now(
    state: &ReportState,
    p: &Principal,
    req: RollupRequest,
) -> Result<RollupView, ApiError> {
    if !matches!(p.scope, Scope::All) {
        return Err(ApiError::NotAllowed(
            "the daily roll-up covers every province: it needs national data scope".into(),
        ));
    }
    for (name, d) in [("from", &req.from), ("to", &req.to)] {
        if d.as_deref().is_some_and(|d| !is_day(d)) {
            return Err(ApiError::Invalid(format!("{name}: a day as YYYY-MM-DD")));
        }
    }
    let db = &state.db;
    let (_, closed) = today(&mut db.conn().await?).await?;
    let last = day_number(&closed).ok_or_else(|| ApiError::Internal(closed.clone()))?;
    let max_days = state.center.cfg.rollup_backfill_days.max(1);
    let to = req.to.as_deref().and_then(day_number).unwrap_or(last);
    if to > last {
        return Err(ApiError::Invalid(format!(
            "to: only closed days are rolled up (the last is {closed}, UTC)"
        )));
    }
    let from = match req.from.as_deref().and_then(day_number) {
        Some(f) => f,
        None => catch_up_from(db, &closed, max_days).await?,
    };
    if req.from.is_some() && from > to {
        return Err(ApiError::Invalid("from: a day before or on to".into()));
    }
    if to - from + 1 > i64::from(max_days) {
        return Err(ApiError::Invalid(format!(
            "at most {max_days} days at once ([report] rollup_backfill_days)"
        )));
    }
    let snapshot_day = (to == last && from <= to).then_some(closed.as_str());
    let view = run(db, from, to, snapshot_day, None).await?;
    let mut c = db.conn().await?;
    oplog::record(
        &mut c,
        p,
        oplog::Change {
            action: "report.rollup.run",
            object_kind: "report_rollup",
            object_id: format!(
                "{}..{}",
                view.from.as_deref().unwrap_or(""),
                view.to.as_deref().unwrap_or("")
            ),
            province: None,
            before: None,
            after: Some(serde_json::to_value(&view).unwrap_or_default()),
        },
    )
    .await?;
    Ok(view)
}

pub fn start(state: &ReportState) {
    let state = state.clone();
    tokio::spawn(async move {
        let every = Duration::from_secs(state.center.cfg.schedule_check_seconds.max(1));
        loop {
            if let Err(e) = tick(&state).await {
                tracing::warn!(error = %e, "daily statistics roll-up");
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_both_ways() {
        for d in ["1970-01-01", "2024-02-29", "2026-12-02", "2027-01-01"] {
            assert_eq!(day_text(day_number(d).unwrap()), d);
        }
        assert_eq!(
            day_number("2026-03-01").unwrap() - day_number("2026-02-28").unwrap(),
            1
        );
        assert_eq!(day_number("2026-02-30"), None);
        assert_eq!(
            day_of(&Value::Bytes(b"2026-11-20 10:00:00.000".to_vec())).as_deref(),
            Some("2026-11-20")
        );
        assert_eq!(count_of(&Value::Bytes(b"12.000".to_vec())), 12);
    }
}
