//! Issue 16, statistics tables (统计结果存储): the daily roll-up writes
//! report_daily_activity and report_daily_status through the proxy; their
//! rows equal the same figures computed straight from history and
//! phone_number on the shards, cell by cell, over a stock in four provinces
//! on three shards; running a day again replaces it (never doubles it); a
//! 90-day channel_activity reads the closed days from the daily table and
//! only today from history, and equals the history-computed trend; the
//! status trend (号码状态趋势) has its chart; province staff see only their
//! province.

#[allow(unused_imports)]
mod card_support;
mod common;
mod number_support;
mod report_support;

use calamine::{Reader, Xlsx};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};

use common::Server;
use report_support::{on_shards, rows_of, stats, Stock, HISTORY_DAYS, PROVINCES};

/// The tests of this file take turns: each roll-up replaces every
/// province's rows of its days, so one test's snapshot read before another
/// test's stock was written must not land after that test's own.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

fn in_list() -> String {
    PROVINCES.map(|p| format!("'{p}'")).join(",")
}

/// Today and yesterday (UTC) by the database's clock, and the first day of
/// a 90-day range ending today.
async fn days(s: &Server) -> (String, String, String) {
    let mut c = s.state.db.conn().await.unwrap();
    c.query_first(
        "SELECT DATE_FORMAT(UTC_DATE(), '%Y-%m-%d'), \
         DATE_FORMAT(DATE_SUB(UTC_DATE(), INTERVAL 1 DAY), '%Y-%m-%d'), \
         DATE_FORMAT(DATE_SUB(UTC_DATE(), INTERVAL 89 DAY), '%Y-%m-%d')",
    )
    .await
    .unwrap()
    .unwrap()
}

async fn rollup(s: &Server, token: &str, body: Json) -> Json {
    let r = s.post(token, "/api/v1/reports/rollup", body).await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 200, "rollup: {v}");
    v
}

/// The daily table's rows of the stock's channel, straight on the shards.
async fn activity_table(st: &Stock) -> Vec<Vec<String>> {
    on_shards(
        &format!(
            "SELECT province_code, DATE_FORMAT(day, '%Y-%m-%d'), channel_id, holds, sales, \
             releases, expiries FROM report_daily_activity WHERE province_code IN ({}) \
             AND channel_id = {}",
            in_list(),
            st.channel
        ),
        vec![],
        3,
    )
    .await
}

/// The same figures from number_history, straight on the shards (closed
/// days only: `before` is today).
async fn activity_history(st: &Stock, before: &str) -> Vec<Vec<String>> {
    on_shards(
        &format!(
            "SELECT province_code, DATE_FORMAT(created_at, '%Y-%m-%d'), channel_id, \
             SUM(action = 'hold'), SUM(action = 'sell'), SUM(action = 'release'), \
             SUM(action = 'expire') FROM number_history WHERE province_code IN ({}) \
             AND channel_id = {} AND action IN ('hold', 'sell', 'release', 'expire') \
             AND created_at < '{before}' GROUP BY 1, 2, 3",
            in_list(),
            st.channel
        ),
        vec![],
        3,
    )
    .await
}

/// phone_number of the stock's pool by province, pool, level and status,
/// straight on the shards, each row starting with `day`.
async fn status_now(st: &Stock, day: &str) -> Vec<Vec<String>> {
    on_shards(
        &format!(
            "SELECT '{day}', province_code, pool_id, premium_level, status, COUNT(*) FROM {{pn}} \
             WHERE province_code IN ({}) AND pool_id = {} GROUP BY 1, 2, 3, 4, 5",
            in_list(),
            st.pool
        ),
        vec![],
        5,
    )
    .await
}

#[tokio::test]
async fn daily_tables_equal_history_and_a_rerun_replaces_the_day() {
    let _turn = TURN.lock().await;
    // This server's own roll-up job stays off: the test runs the roll-up.
    let s = report_support::server_with(|cfg| cfg.report.run_tasks = false).await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 24).await;
    let (today, yesterday, first) = days(&s).await;
    let t = &admin.token;

    // The stock's history is on closed days (and `build` rolled them up):
    // roll up from there to yesterday, with the status snapshot.
    let v = rollup(&s, t, json!({ "from": HISTORY_DAYS.0, "to": yesterday })).await;
    assert_eq!(v["from"], HISTORY_DAYS.0, "{v}");
    assert_eq!(v["to"], yesterday.as_str(), "{v}");
    assert_eq!(v["snapshot_day"], yesterday.as_str(), "{v}");
    assert!(v["activity_rows"].as_i64().unwrap() >= 1, "{v}");

    // report_daily_activity equals history, cell by cell.
    let want = sorted(activity_history(&st, &today).await);
    assert!(want.len() >= 4, "the stock has history: {want:?}");
    assert_eq!(
        want.iter()
            .map(|r| r[0].clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        4,
        "every province has history"
    );
    let table = sorted(activity_table(&st).await);
    assert_eq!(table, want, "report_daily_activity");

    // report_daily_status of yesterday equals phone_number now.
    let snap = on_shards(
        &format!(
            "SELECT DATE_FORMAT(day, '%Y-%m-%d'), province_code, pool_id, premium_level, status, \
             numbers FROM report_daily_status WHERE province_code IN ({}) AND pool_id = {}",
            in_list(),
            st.pool
        ),
        vec![],
        5,
    )
    .await;
    let numbers = status_now(&st, &yesterday).await;
    assert!(numbers.len() >= 8, "{numbers:?}");
    assert_eq!(sorted(snap), sorted(numbers.clone()), "report_daily_status");

    // Running the same days again replaces them: nothing doubles.
    let again = rollup(&s, t, json!({ "from": HISTORY_DAYS.0, "to": yesterday })).await;
    assert_eq!(again["days"], v["days"], "{again}");
    assert_eq!(sorted(activity_table(&st).await), want, "after a rerun");

    // The 90-day trend through the API (closed days from the daily table,
    // today from history) equals the one computed from history.
    let query = format!(
        "province_code={}&channel_id={}&from={first}&to={today}",
        PROVINCES.join(","),
        st.channel
    );
    let trend_sql = |before: &str| {
        format!(
            "SELECT DATE_FORMAT(created_at, '%Y-%m-%d'), channel_id, SUM(action = 'hold'), \
             SUM(action = 'sell'), SUM(action = 'release'), SUM(action = 'expire') \
             FROM number_history WHERE province_code IN ({}) AND channel_id = {} \
             AND action IN ('hold', 'sell', 'release', 'expire') AND created_at >= '{first}' \
             AND created_at < '{before}' GROUP BY 1, 2",
            in_list(),
            st.channel
        )
    };
    let tomorrow = format!("{today} 23:59:59.999");
    let got = sorted(rows_of(&stats(&s, t, "channel_activity", &query).await));
    assert_eq!(got, on_shards(&trend_sql(&tomorrow), vec![], 2).await);
    assert!(!got.is_empty());

    // Today's rows come from history as they are written...
    let (phone, province) = st.numbers[0].clone();
    let mut c = s.state.db.conn().await.unwrap();
    c.exec_drop(
        "INSERT INTO number_history (phone_no, province_code, from_status, to_status, action, \
         channel_id) VALUES (?, ?, '03', '04', 'hold', ?)",
        (&phone, &province, st.channel),
    )
    .await
    .unwrap();
    let got = rows_of(&stats(&s, t, "channel_activity", &query).await);
    let want = on_shards(&trend_sql(&tomorrow), vec![], 2).await;
    assert_eq!(got, want);
    assert_eq!(got.last().unwrap()[0], today, "today's hold: {got:?}");
    // ...and the closed days from the daily table, not from history: a
    // figure changed in the table shows (and a rerun puts it right again).
    c.exec_drop(
        "UPDATE report_daily_activity SET holds = holds + 1000 \
         WHERE province_code = ? AND channel_id = ? AND day >= ?",
        (&province, st.channel, HISTORY_DAYS.0),
    )
    .await
    .unwrap();
    let changed = rows_of(&stats(&s, t, "channel_activity", &query).await);
    let bumped: i64 = changed
        .iter()
        .map(|r| r[2].parse::<i64>().unwrap())
        .sum::<i64>()
        - want
            .iter()
            .map(|r| r[2].parse::<i64>().unwrap())
            .sum::<i64>();
    assert_eq!(bumped % 1000, 0, "{changed:?}");
    assert!(
        bumped >= 1000,
        "the closed days are read from the daily table"
    );
    rollup(
        &s,
        t,
        json!({ "from": HISTORY_DAYS.0, "to": HISTORY_DAYS.1 }),
    )
    .await;
    assert_eq!(
        rows_of(&stats(&s, t, "channel_activity", &query).await),
        want
    );

    // 号码状态趋势: yesterday's snapshot and today's live figures.
    let q = format!("pool_id={}&from={yesterday}", st.pool);
    let got = sorted(rows_of(&stats(&s, t, "number_status_trend", &q).await));
    let mut want = numbers;
    want.extend(status_now(&st, &today).await);
    assert_eq!(got, sorted(want), "number_status_trend");

    // Its XLSX has the trend chart (exported by a process that runs tasks:
    // its own roll-up finds yesterday done).
    let runner = report_support::server().await;
    let (id, _) = report_support::export(
        &runner,
        t,
        json!({"template": "number_status_trend", "format": "xlsx",
               "filters": {"pool_id": st.pool, "from": yesterday}}),
    )
    .await;
    let wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(
        report_support::file(&runner, t, id).await,
    ))
    .unwrap();
    let sheets: Vec<(String, calamine::SheetType)> = wb
        .sheets_metadata()
        .iter()
        .map(|m| (m.name.clone(), m.typ))
        .collect();
    assert_eq!(
        sheets.last().unwrap(),
        &(
            haoka_services::report::export_chart::CHART_SHEET.to_string(),
            calamine::SheetType::ChartSheet
        ),
        "{sheets:?}"
    );
    report_support::cleanup(&s, &st).await;
}

#[tokio::test]
async fn province_staff_see_only_their_province_and_only_national_admins_roll_up() {
    let _turn = TURN.lock().await;
    let s = report_support::server_with(|cfg| cfg.report.run_tasks = false).await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 6).await;
    let (today, yesterday, first) = days(&s).await;
    rollup(
        &s,
        &admin.token,
        json!({ "from": HISTORY_DAYS.0, "to": yesterday }),
    )
    .await;
    let staff = s.user(&admin, Some("51"), &["report:read"], None).await;
    for asked in ["", "province_code=36&", "province_code=11,34,36,51&"] {
        let q = format!("{asked}channel_id={}&from={first}&to={today}", st.channel);
        let got = rows_of(&stats(&s, &staff.token, "channel_activity", &q).await);
        let want = on_shards(
            &format!(
                "SELECT DATE_FORMAT(created_at, '%Y-%m-%d'), channel_id, SUM(action = 'hold'), \
                 SUM(action = 'sell'), SUM(action = 'release'), SUM(action = 'expire') \
                 FROM number_history WHERE province_code = '51' AND channel_id = {} \
                 AND action IN ('hold', 'sell', 'release', 'expire') GROUP BY 1, 2",
                st.channel
            ),
            vec![],
            2,
        )
        .await;
        assert!(!want.is_empty());
        assert_eq!(got, want, "{asked}");
        let q = format!("{asked}pool_id={}&from={yesterday}", st.pool);
        let rows = rows_of(&stats(&s, &staff.token, "number_status_trend", &q).await);
        assert!(!rows.is_empty(), "{asked}");
        assert!(rows.iter().all(|r| r[1] == "51"), "{asked}: {rows:?}");
        // Six numbers of 51 in the pool, yesterday and today.
        let total: i64 = rows.iter().map(|r| r[5].parse::<i64>().unwrap()).sum();
        assert_eq!(total, 12, "{asked}");
    }

    // The roll-up: report:admin of national scope only, closed days only.
    let r = s
        .post(&staff.token, "/api/v1/reports/rollup", json!({}))
        .await;
    assert_eq!(r.status(), 403);
    let local = s.user(&admin, Some("51"), &["report:admin"], None).await;
    let r = s
        .post(&local.token, "/api/v1/reports/rollup", json!({}))
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Json>().await.unwrap()["code"], "not_allowed");
    for body in [
        json!({ "to": today }),
        json!({ "from": yesterday, "to": HISTORY_DAYS.0 }),
        json!({ "from": "2026-02-30" }),
        json!({ "from": "2020-01-01", "to": HISTORY_DAYS.0 }),
    ] {
        let r = s
            .post(&admin.token, "/api/v1/reports/rollup", body.clone())
            .await;
        assert_eq!(r.status(), 400, "{body}");
        let p: Json = r.json().await.unwrap();
        assert_eq!(p["code"], "invalid_request", "{body}: {p}");
    }
    // Every run is in the operation log.
    let mut c = s.state.db.conn().await.unwrap();
    let logged: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM operation_log WHERE staff_id = ? AND action = 'report.rollup.run'",
            (admin.staff_id,),
        )
        .await
        .unwrap();
    assert_eq!(logged, Some(1));
    report_support::cleanup(&s, &st).await;
}

/// The job itself: the process that wins the day's claim rolls it up; a
/// second tick (any process) finds it done.
#[tokio::test]
async fn the_daily_job_claims_the_day_once() {
    let _turn = TURN.lock().await;
    let s = report_support::server_with(|cfg| cfg.report.run_tasks = false).await;
    let (_, yesterday, _) = days(&s).await;
    let first = haoka_services::report::rollup::tick(&s.state.report)
        .await
        .unwrap();
    let mut c = s.state.db.conn().await.unwrap();
    let done: Option<(Option<String>, Option<String>)> = c
        .exec_first(
            "SELECT DATE_FORMAT(done_at, '%Y-%m-%d'), owner FROM report_rollup WHERE day = ?",
            (&yesterday,),
        )
        .await
        .unwrap();
    let (done_at, owner) = done.expect("the day has its claim row");
    assert!(done_at.is_some(), "yesterday is rolled up");
    assert_eq!(owner, None, "the claim is released");
    if let Some(v) = first {
        assert_eq!(v.to.as_deref(), Some(yesterday.as_str()), "{v:?}");
        assert_eq!(v.snapshot_day.as_deref(), Some(yesterday.as_str()));
    }
    let second = haoka_services::report::rollup::tick(&s.state.report)
        .await
        .unwrap();
    assert!(second.is_none(), "done once: {second:?}");
}
