//! Report center test support: a server serving every center (report
//! files in one directory all test servers share, as processes share an
//! object store), a stock written through the proxy across four provinces on
//! three shards, tagged by ids no other test uses, and plain SQL straight
//! on the shards (MariaDB 3306, haoka_s0..s7) to check the reports against.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use haoka_services::config::Config;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use rand::Rng;
use serde_json::Value as Json;

use crate::card_support::iccid;
use crate::common::{self, Server};
use crate::number_support::fresh_numbers;

pub const STORE_DIR: &str = "/tmp/haoka-report-tests";

pub async fn server() -> Server {
    server_with(|_| {}).await
}

pub async fn server_with(tweak: impl FnOnce(&mut Config)) -> Server {
    common::start_with(|cfg| {
        cfg.roles = vec![
            "permission".into(),
            "number".into(),
            "card".into(),
            "report".into(),
        ];
        cfg.report.store_dir = STORE_DIR.into();
        cfg.report.poll_interval_ms = 200;
        tweak(cfg);
    })
    .await
}

/// 北京 (shard 0), 江苏 and 浙江 (shard 2), 广东 (shard 5).
pub const PROVINCES: [&str; 4] = ["11", "34", "36", "51"];

/// An id no other test uses (ids from the sequences are far smaller).
pub fn tag() -> i64 {
    rand::thread_rng().gen_range(8_000_000_000_000_000..9_000_000_000_000_000)
}

/// The ids a stock is tagged with.
pub struct Stock {
    pub pool: i64,
    pub depots: [i64; 2],
    pub card_depot: i64,
    pub package: i64,
    pub channel: i64,
    pub approver: i64,
    pub numbers: Vec<(String, String)>,
    pub iccids: Vec<String>,
}

const NUMBER_STATUSES: [&str; 6] = ["01", "03", "04", "10", "11", "03"];
const LEVELS: [u8; 5] = [1, 2, 9, 9, 4];
const CARD_STATUSES: [&str; 4] = ["01", "02", "03", "05"];
const ACTIONS: [&str; 5] = ["hold", "sell", "release", "expire", "sell"];
/// The (closed) days the stock's history is on.
pub const HISTORY_DAYS: (&str, &str) = ("2026-11-20", "2026-11-22");

/// Writes numbers, history (holds, sales, releases, expiries), waivers,
/// cards and transfers in every province of [`PROVINCES`].
pub async fn build(s: &Server, per_province: usize) -> Stock {
    let segs = s.state.number.center.segments(&s.state.db).await.unwrap();
    let mut stock = Stock {
        pool: tag(),
        depots: [tag(), tag()],
        card_depot: tag(),
        package: tag(),
        channel: tag(),
        approver: tag(),
        numbers: vec![],
        iccids: vec![],
    };
    let mut c = s.state.db.conn().await.unwrap();
    for (pi, p) in PROVINCES.iter().enumerate() {
        let city = segs.cities(p)[0].clone();
        let numbers = fresh_numbers(s, p, &city, None, per_province).await;
        for (i, n) in numbers.iter().enumerate() {
            let k = i + pi;
            c.exec_drop(
                "INSERT INTO phone_number (phone_no, segment, province_code, city_code, status, \
                 premium_level, tail4, pool_id, depot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    n,
                    &n[..7],
                    p,
                    &city,
                    NUMBER_STATUSES[k % NUMBER_STATUSES.len()],
                    LEVELS[k % LEVELS.len()],
                    &n[7..],
                    stock.pool,
                    stock.depots[k % 2],
                ),
            )
            .await
            .unwrap();
            stock.numbers.push((n.clone(), p.to_string()));
            // History: a few actions per number over three days.
            if i % 2 == 0 {
                for j in 0..(1 + k % 3) {
                    let action = ACTIONS[(k + j) % ACTIONS.len()];
                    c.exec_drop(
                        "INSERT INTO number_history (phone_no, province_code, from_status, to_status, \
                         action, channel_id, created_at) VALUES (?, ?, '03', '04', ?, ?, ?)",
                        (
                            n,
                            p,
                            action,
                            stock.channel,
                            // HISTORY_DAYS
                            format!("2026-11-{:02} 1{}:00:00", 20 + (k + j) % 3, j),
                        ),
                    )
                    .await
                    .unwrap();
                }
            }
            if i % 5 == 1 {
                c.exec_drop(
                    "INSERT INTO premium_waiver (phone_no, province_code, deposit_waived_cents, \
                     monthly_waived_cents, reason, status, requested_by, decided_by) \
                     VALUES (?, ?, ?, ?, 'test', ?, 1, ?)",
                    (
                        n,
                        p,
                        1000 * (k as i64 + 1),
                        100 * (k as i64 % 4),
                        if k % 2 == 0 { "A" } else { "R" },
                        stock.approver + (k as i64 % 2),
                    ),
                )
                .await
                .unwrap();
            }
        }
        for i in 0..per_province {
            let k = i + pi;
            let id = iccid();
            c.exec_drop(
                "INSERT INTO sim_card (iccid, imsi, province_code, city_code, depot_id, card_type, \
                 status, package_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    &id,
                    format!("46001{:010}", rand::thread_rng().gen_range(0..10_000_000_000u64)),
                    p,
                    &city,
                    stock.card_depot,
                    if k % 3 == 0 { "B" } else { "M" },
                    CARD_STATUSES[k % CARD_STATUSES.len()],
                    (k % 2 == 0).then_some(stock.package),
                ),
            )
            .await
            .unwrap();
            stock.iccids.push(id);
        }
        for j in 0..3usize {
            c.exec_drop(
                "INSERT INTO card_transfer (province_code, target_province_code, from_depot_id, \
                 to_depot_id, card_count, status) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    p,
                    PROVINCES[(pi + 1 + j) % PROVINCES.len()],
                    stock.card_depot,
                    stock.card_depot + 1,
                    3 + j as i64,
                    ["P", "D", "R"][(pi + j) % 3],
                ),
            )
            .await
            .unwrap();
        }
    }
    // The history is on closed days: roll them up again, as after any
    // correction of past history (channel_activity reads them from the
    // daily table once rolled up).
    haoka_services::report::rollup::roll_days(&s.state.db, HISTORY_DAYS.0, HISTORY_DAYS.1)
        .await
        .unwrap();
    stock
}

/// Removes what [`build`] wrote (its rows of the statistics tables too).
pub async fn cleanup(s: &Server, st: &Stock) {
    let mut c = s.state.db.conn().await.unwrap();
    for p in PROVINCES {
        c.exec_drop(
            "DELETE FROM report_daily_activity WHERE province_code = ? AND channel_id = ?",
            (p, st.channel),
        )
        .await
        .unwrap();
        c.exec_drop(
            "DELETE FROM report_daily_status WHERE province_code = ? AND pool_id = ?",
            (p, st.pool),
        )
        .await
        .unwrap();
        let ns: Vec<&str> = st
            .numbers
            .iter()
            .filter(|(_, q)| q == p)
            .map(|(n, _)| n.as_str())
            .collect();
        for chunk in ns.chunks(200) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut params: Vec<Value> = vec![p.into()];
            params.extend(chunk.iter().map(|n| Value::from(*n)));
            for t in ["number_history", "premium_waiver"] {
                c.exec_drop(
                    format!("DELETE FROM {t} WHERE province_code = ? AND phone_no IN ({marks})"),
                    params.clone(),
                )
                .await
                .unwrap();
            }
        }
        c.exec_drop(
            "DELETE FROM phone_number WHERE province_code = ? AND pool_id = ?",
            (p, st.pool),
        )
        .await
        .unwrap();
        c.exec_drop(
            "DELETE FROM sim_card WHERE province_code = ? AND depot_id = ?",
            (p, st.card_depot),
        )
        .await
        .unwrap();
        c.exec_drop(
            "DELETE FROM card_transfer WHERE province_code = ? AND from_depot_id = ?",
            (p, st.card_depot),
        )
        .await
        .unwrap();
    }
}

/// A cell of a report answer as text ("" for null).
pub fn text(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn rows_of(answer: &Json) -> Vec<Vec<String>> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(text).collect())
        .collect()
}

fn value_text(v: Value) -> String {
    match v {
        Value::NULL => String::new(),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(&b).into_owned();
            // DECIMAL sums come as "1500" or "1500.00"
            match s.split_once('.') {
                Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int.to_string(),
                _ => s,
            }
        }
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Date(y, m, d, ..) => format!("{y:04}-{m:02}-{d:02}"),
        other => other.as_sql(true),
    }
}

/// Runs `sql` on every data shard (straight on MariaDB, not through the
/// proxy), once per physical table where it names `{pn}` (phone_number is
/// split in four), and merges the answers: rows are keyed by their first
/// `keys` columns, the other columns are summed.
pub async fn on_shards(sql: &str, params: Vec<Value>, keys: usize) -> Vec<Vec<String>> {
    let mut merged: BTreeMap<Vec<String>, Vec<i64>> = BTreeMap::new();
    for shard in 0..8 {
        let url = format!("mysql://root@127.0.0.1:3306/haoka_s{shard}");
        let mut c = mysql_async::Conn::from_url(url).await.unwrap();
        let variants: Vec<String> = if sql.contains("{pn}") {
            (0..4)
                .map(|i| sql.replace("{pn}", &format!("phone_number_{i}")))
                .collect()
        } else {
            vec![sql.to_string()]
        };
        for q in variants {
            let rows: Vec<mysql_async::Row> = c.exec(q, params.clone()).await.unwrap();
            for r in rows {
                let vals: Vec<String> = r.unwrap().into_iter().map(value_text).collect();
                let (k, m) = vals.split_at(keys);
                let e = merged.entry(k.to_vec()).or_insert_with(|| vec![0; m.len()]);
                for (acc, v) in e.iter_mut().zip(m) {
                    *acc += v.parse::<i64>().unwrap_or(0);
                }
            }
        }
        c.disconnect().await.unwrap();
    }
    merged
        .into_iter()
        .map(|(mut k, m)| {
            k.extend(m.into_iter().map(|v| v.to_string()));
            k
        })
        .collect()
}

pub async fn stats(s: &Server, token: &str, code: &str, query: &str) -> Json {
    let r = s
        .get(
            token,
            &format!("/api/v1/reports/templates/{code}/stats?{query}"),
        )
        .await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 200, "{code} stats: {v}");
    v
}

/// Waits until report task `id` ends (done, failed, cancelled).
pub async fn wait_done(s: &Server, token: &str, id: i64) -> Json {
    for _ in 0..300 {
        let v: Json = s
            .get(token, &format!("/api/v1/reports/{id}"))
            .await
            .json()
            .await
            .unwrap();
        match v["status"].as_str().unwrap() {
            "done" | "failed" | "cancelled" => return v,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("report task {id} did not finish");
}

/// Queues an export and waits until it is done.
pub async fn export(s: &Server, token: &str, body: Json) -> (i64, Json) {
    let r = s.post(token, "/api/v1/reports", body).await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 202, "{v}");
    let id = v["task_id"].as_i64().unwrap();
    let done = wait_done(s, token, id).await;
    assert_eq!(done["status"], "done", "{done}");
    (id, done)
}

/// The file of a done task.
pub async fn file(s: &Server, token: &str, id: i64) -> Vec<u8> {
    let r = s.get(token, &format!("/api/v1/reports/{id}/file")).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}
