//! The statements a template runs. Most templates are one statement
//! (`Filters::sql`). A trend with a statistics table (`Template::daily`)
//! reads the days the daily roll-up has written from that table and only
//! the others from its own tables: the asked days are cut into runs, each
//! read from one side, in day order, so that the rows come out sorted by
//! day (then the other dimensions) as one statement's would. A 90-day
//! `channel_activity` thus reads 89 closed days from `report_daily_activity`
//! and today from `number_history`.

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::filters::{is_day, Days, Filters, Source};
use super::rollup::{day_number, day_text, done_days, today};
use super::templates::{Daily, Live, Template};
use haoka_core::problem::ApiError;

pub type Statement = (String, Vec<Value>);

/// Days read from one side: `[from, to]`, open ends None.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// From the statistics table.
    Daily(Option<String>, Option<String>),
    /// From the template's own tables by its date column.
    Live(Option<String>, Option<String>),
    /// The template's tables as they are now, as today's row.
    Today(String),
}

/// Cuts `[from, to]` into runs of rolled-up days (`done`, ascending) and
/// the days between them.
fn by_date(from: Option<i64>, to: Option<i64>, done: &[i64]) -> Vec<Part> {
    let text = |n: Option<i64>| n.map(day_text);
    let mut parts = vec![];
    let mut cursor = from; // first day not yet covered (None: open)
    let mut i = 0;
    while i < done.len() {
        let a = done[i];
        let mut b = a;
        while i + 1 < done.len() && done[i + 1] == b + 1 {
            i += 1;
            b = done[i];
        }
        i += 1;
        if from.is_some_and(|f| b < f) || to.is_some_and(|t| a > t) {
            continue;
        }
        let (a, b) = (from.map_or(a, |f| a.max(f)), to.map_or(b, |t| b.min(t)));
        if cursor.is_none_or(|c| c < a) {
            parts.push(Part::Live(text(cursor), Some(day_text(a - 1))));
        }
        parts.push(Part::Daily(Some(day_text(a)), Some(day_text(b))));
        cursor = Some(b + 1);
    }
    if cursor.is_none() || to.is_none() || cursor <= to {
        parts.push(Part::Live(text(cursor), text(to)));
    }
    parts
}

/// Snapshots up to the last closed day, the current state as today.
fn current(from: Option<i64>, to: Option<i64>, today: i64) -> Vec<Part> {
    let text = |n: Option<i64>| n.map(day_text);
    let mut parts = vec![];
    let last = to.map_or(today - 1, |t| t.min(today - 1));
    if from.is_none_or(|f| f <= last) {
        parts.push(Part::Daily(text(from), Some(day_text(last))));
    }
    if from.is_none_or(|f| f <= today) && to.is_none_or(|t| t >= today) {
        parts.push(Part::Today(day_text(today)));
    }
    parts
}

/// The statement of one part.
fn statement(t: &Template, d: &Daily, f: &Filters, part: &Part) -> Statement {
    match part {
        Part::Daily(from, to) => {
            let items: Vec<String> = d.items.iter().map(|s| s.to_string()).collect();
            let src = Source {
                from: d.from,
                province_col: "province_code",
                base: "",
                filters: d.filters,
                group: items[..t.dims.len()].to_vec(),
                items,
            };
            let days = Days {
                col: "day",
                from: from.clone(),
                to: to.clone(),
            };
            src.statement(f.filter_on(&src, Some(&days)))
        }
        Part::Live(from, to) => {
            let src = Source::of(t);
            let days = t.date_col.map(|col| Days {
                col,
                from: from.clone(),
                to: to.clone(),
            });
            src.statement(f.filter_on(&src, days.as_ref()))
        }
        Part::Today(day) => {
            let mut src = Source::of(t);
            // `day` is a checked YYYY-MM-DD from the database's clock.
            let lit = format!("DATE('{day}')");
            src.items[0] = lit.clone();
            src.group[0] = lit;
            src.statement(f.filter_on(&src, None))
        }
    }
}

/// The statements computing `t` under (resolved) `f`, in the order their
/// rows go out.
pub async fn statements<Q: Queryable>(
    c: &mut Q,
    t: &Template,
    f: &Filters,
) -> Result<Vec<Statement>, ApiError> {
    let Some(d) = t.daily else {
        return Ok(vec![f.sql(t)]);
    };
    let from = f.from.as_deref().and_then(day_number);
    let to = f.to.as_deref().and_then(day_number);
    let parts = match d.live {
        Live::ByDate => {
            let done: Vec<i64> = done_days(c, f.from.as_deref(), f.to.as_deref())
                .await?
                .iter()
                .filter_map(|d| day_number(d))
                .collect();
            by_date(from, to, &done)
        }
        Live::Today => {
            let (now, _) = today(c).await?;
            if !is_day(&now) {
                return Err(ApiError::Internal(format!("UTC_DATE() gave {now:?}")));
            }
            current(from, to, day_number(&now).unwrap_or_default())
        }
    };
    Ok(parts.iter().map(|p| statement(t, d, f, p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::find;

    fn n(d: &str) -> i64 {
        day_number(d).unwrap()
    }
    fn s(d: &str) -> Option<String> {
        Some(d.to_string())
    }

    #[test]
    fn rolled_up_days_come_from_the_daily_table_the_rest_from_history() {
        let done: Vec<i64> = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"]
            .map(n)
            .to_vec();
        // No range: history before, the runs, the gap, and after.
        assert_eq!(
            by_date(None, None, &done),
            vec![
                Part::Live(None, s("2026-10-31")),
                Part::Daily(s("2026-11-01"), s("2026-11-03")),
                Part::Live(s("2026-11-04"), s("2026-11-04")),
                Part::Daily(s("2026-11-05"), s("2026-11-05")),
                Part::Live(s("2026-11-06"), None),
            ]
        );
        // A range inside the first run, then up to today.
        assert_eq!(
            by_date(Some(n("2026-11-02")), Some(n("2026-11-07")), &done),
            vec![
                Part::Daily(s("2026-11-02"), s("2026-11-03")),
                Part::Live(s("2026-11-04"), s("2026-11-04")),
                Part::Daily(s("2026-11-05"), s("2026-11-05")),
                Part::Live(s("2026-11-06"), s("2026-11-07")),
            ]
        );
        // Ending on a rolled-up day: nothing from history.
        assert_eq!(
            by_date(Some(n("2026-11-01")), Some(n("2026-11-03")), &done),
            vec![Part::Daily(s("2026-11-01"), s("2026-11-03"))]
        );
        assert_eq!(
            by_date(Some(n("2026-12-01")), None, &[]),
            vec![Part::Live(s("2026-12-01"), None)]
        );
    }

    #[test]
    fn the_status_trend_reads_snapshots_then_today() {
        let today = n("2026-12-02");
        assert_eq!(
            current(Some(n("2026-11-01")), None, today),
            vec![
                Part::Daily(s("2026-11-01"), s("2026-12-01")),
                Part::Today("2026-12-02".into())
            ]
        );
        assert_eq!(
            current(None, Some(n("2026-11-30")), today),
            vec![Part::Daily(None, s("2026-11-30"))]
        );
        assert_eq!(
            current(Some(today), None, today),
            vec![Part::Today("2026-12-02".into())]
        );
    }

    #[test]
    fn each_part_is_one_grouped_statement() {
        let t = find("channel_activity").unwrap();
        let f = Filters {
            province_code: Some("51".into()),
            channel_id: Some(7),
            ..Default::default()
        };
        let d = t.daily.unwrap();
        let (sql, params) = statement(t, d, &f, &Part::Daily(s("2026-11-01"), s("2026-11-30")));
        assert_eq!(
            sql,
            "SELECT day, NULLIF(channel_id, 0), SUM(holds), SUM(sales), SUM(releases), \
             SUM(expiries) FROM report_daily_activity WHERE province_code IN (?) AND \
             channel_id = ? AND day >= ? AND day < DATE_ADD(?, INTERVAL 1 DAY) \
             GROUP BY day, NULLIF(channel_id, 0) ORDER BY day, NULLIF(channel_id, 0)"
        );
        assert_eq!(params.len(), 4);
        let (sql, _) = statement(t, d, &f, &Part::Live(s("2026-12-02"), None));
        assert!(sql.contains("FROM number_history WHERE"), "{sql}");
        assert!(
            sql.ends_with(
                "AND created_at >= ? GROUP BY DATE(created_at), channel_id \
             ORDER BY DATE(created_at), channel_id"
            ),
            "{sql}"
        );
        let t = find("number_status_trend").unwrap();
        let (sql, _) = statement(t, t.daily.unwrap(), &f, &Part::Today("2026-12-02".into()));
        assert!(
            sql.starts_with("SELECT DATE('2026-12-02'), province_code, pool_id"),
            "{sql}"
        );
    }
}
