//! Scheduled reports (定时报表): a schedule is a row of `report_template`
//! naming a built-in template (`base_code`), its filters (already limited
//! to its owner's scope), a format and a daily time in UTC. Every report
//! process checks the schedules; the one whose conditional UPDATE of
//! `last_run_day` succeeds queues that day's task, in the same transaction,
//! so a schedule runs once a day however many processes there are.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::export::Format;
use super::filters::Filters;
use super::templates;
use crate::ReportState;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::insert_id;
use haoka_core::oplog;
use haoka_core::problem::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    #[schema(max_length = 32)]
    pub template: String,
    pub format: Format,
    #[serde(default)]
    pub filters: Filters,
    /// Daily at this time, UTC, `HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub daily_at_utc: String,
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub schedule_id: i64,
    pub name: String,
    pub template: String,
    pub format: Format,
    pub filters: Filters,
    pub daily_at_utc: String,
    pub owner: i64,
    /// The UTC day it last queued a task.
    pub last_run_day: Option<String>,
    #[serde(skip)]
    pub province_code: Option<String>,
}

fn is_hhmm(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && s[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && s[3..].parse::<u8>().is_ok_and(|m| m < 60)
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
}

const SELECT: &str = "SELECT template_id, name, base_code, schedule_format, schedule_params, \
     schedule_utc, schedule_owner, DATE_FORMAT(last_run_day, '%Y-%m-%d'), schedule_province \
     FROM report_template WHERE base_code IS NOT NULL AND schedule_utc IS NOT NULL";

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
);

fn view(r: Row) -> ScheduleView {
    ScheduleView {
        schedule_id: r.0,
        name: r.1,
        template: r.2,
        format: Format::from_db(&r.3),
        filters: serde_json::from_str(&r.4).unwrap_or_default(),
        daily_at_utc: r.5,
        owner: r.6,
        last_run_day: r.7,
        province_code: r.8,
    }
}

/// The schedules of the caller's scope.
pub async fn list(state: &ReportState, p: &Principal) -> Result<Vec<ScheduleView>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<Row> = c.query(format!("{SELECT} ORDER BY template_id")).await?;
    Ok(rows
        .into_iter()
        .map(view)
        .filter(|s| s.owner == p.staff_id || p.scope.allows(s.province_code.as_deref()))
        .collect())
}

pub async fn get(state: &ReportState, p: &Principal, id: i64) -> Result<ScheduleView, ApiError> {
    let mut c = state.db.conn().await?;
    let row: Option<Row> = c
        .exec_first(format!("{SELECT} AND template_id = ?"), (id,))
        .await?;
    let s = row
        .map(view)
        .ok_or_else(|| ApiError::not_found("report schedule", id))?;
    if s.owner != p.staff_id && !p.scope.allows(s.province_code.as_deref()) {
        return Err(ApiError::not_found("report schedule", id));
    }
    Ok(s)
}

pub async fn create(
    state: &ReportState,
    p: &Principal,
    req: CreateSchedule,
) -> Result<ScheduleView, ApiError> {
    let t = templates::find(&req.template)
        .ok_or_else(|| ApiError::not_found("report template", &req.template))?;
    if !is_hhmm(&req.daily_at_utc) {
        return Err(ApiError::Invalid(
            "daily_at_utc: a time as HH:MM (UTC)".into(),
        ));
    }
    let name = req
        .name
        .unwrap_or_else(|| format!("{} {}", t.name, req.daily_at_utc));
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::Invalid("name: 1 to 64 characters".into()));
    }
    let filters = req.filters.resolve(&p.scope)?;
    let params = serde_json::to_string(&filters).map_err(|e| ApiError::Internal(e.to_string()))?;
    let code = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let mut tx = state.db.begin().await?;
    // The next occurrence: a time already past today first runs tomorrow.
    let id = insert_id(
        &mut tx,
        "INSERT INTO report_template (code, name, dimensions, measures, base_code, schedule_utc, \
         schedule_format, schedule_params, schedule_owner, schedule_province, last_run_day) \
         VALUES (?, ?, '', '', ?, ?, ?, ?, ?, ?, \
         IF(? <= DATE_FORMAT(UTC_TIMESTAMP(), '%H:%i'), UTC_DATE(), NULL))",
        vec![
            code.into(),
            name.into(),
            t.code.into(),
            req.daily_at_utc.clone().into(),
            req.format.db().into(),
            params.into(),
            p.staff_id.into(),
            p.province.clone().into(),
            req.daily_at_utc.into(),
        ],
    )
    .await?;
    oplog::record(
        &mut tx,
        p,
        oplog::Change {
            action: "report.schedule.create",
            object_kind: "report_schedule",
            object_id: id.to_string(),
            province: p.province.as_deref(),
            before: None,
            after: Some(serde_json::json!({ "template": t.code, "filters": filters })),
        },
    )
    .await?;
    tx.commit().await?;
    get(state, p, id).await
}

pub async fn delete(state: &ReportState, p: &Principal, id: i64) -> Result<(), ApiError> {
    let s = get(state, p, id).await?;
    let mut tx = state.db.begin().await?;
    // Its tasks keep their rows (and files): the row stays, unscheduled.
    tx.exec_drop(
        "UPDATE report_template SET schedule_utc = NULL WHERE template_id = ?",
        (id,),
    )
    .await?;
    oplog::record(
        &mut tx,
        p,
        oplog::Change {
            action: "report.schedule.delete",
            object_kind: "report_schedule",
            object_id: id.to_string(),
            province: s.province_code.as_deref(),
            before: Some(serde_json::to_value(&s).unwrap_or_default()),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues today's task of every due schedule this process wins; returns
/// the tasks it queued.
pub async fn tick(state: &ReportState) -> Result<Vec<i64>, ApiError> {
    let mut c = state.db.conn().await?;
    let due: Vec<(i64, i64, Option<String>, String, String)> = c
        .query(
            "SELECT template_id, schedule_owner, schedule_province, schedule_params, schedule_format \
             FROM report_template WHERE base_code IS NOT NULL AND schedule_utc IS NOT NULL \
             AND schedule_utc <= DATE_FORMAT(UTC_TIMESTAMP(), '%H:%i') \
             AND (last_run_day IS NULL OR last_run_day < UTC_DATE())",
        )
        .await?;
    drop(c);
    let mut queued = vec![];
    for (id, owner, province, params, format) in due {
        let mut tx = state.db.begin().await?;
        tx.exec_drop(
            "UPDATE report_template SET last_run_day = UTC_DATE() WHERE template_id = ? \
             AND (last_run_day IS NULL OR last_run_day < UTC_DATE())",
            (id,),
        )
        .await?;
        if tx.affected_rows() != 1 {
            continue; // another process queued today's task
        }
        let task = insert_id(
            &mut tx,
            "INSERT INTO report_task (template_id, requested_by, province_code, params, format, store_key) \
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                id.into(),
                owner.into(),
                province.clone().into(),
                params.into(),
                format.into(),
                state.center.store.id().into(),
            ],
        )
        .await?;
        // In the operation log like a requested task: on behalf of the
        // schedule's owner, by the scheduler (no request, no address).
        tx.exec_drop(
            "INSERT INTO operation_log (staff_id, province_code, action, object_kind, object_id, \
             after_value) VALUES (?, ?, 'report.schedule.run', 'report_task', ?, ?)",
            (
                owner,
                province.clone(),
                task.to_string(),
                serde_json::json!({ "schedule_id": id }).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        queued.push(task);
    }
    if !queued.is_empty() {
        state.center.wake.notify_waiters();
    }
    Ok(queued)
}

pub fn start(state: &ReportState) {
    let state = state.clone();
    tokio::spawn(async move {
        let every = Duration::from_secs(state.center.cfg.schedule_check_seconds.max(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = tick(&state).await {
                tracing::warn!(error = %e, "report schedules");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_hh_mm() {
        assert!(super::is_hhmm("00:00") && super::is_hhmm("23:59"));
        assert!(!super::is_hhmm("24:00") && !super::is_hhmm("7:30") && !super::is_hhmm("07:60"));
    }
}
