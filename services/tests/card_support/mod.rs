//! Card center test support (depots, channels and SQL come from the number
//! center's): a server serving the permission, number and card centers,
//! random valid ICCIDs/IMSIs, intake, direct
//! SQL through the proxy to set up states, and cleanup.
#![allow(dead_code)]

use haoka_services::card::iccid::luhn_digit;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use rand::Rng;
use serde_json::{json, Value as Json};

use crate::common::{self, Server, User};
pub use crate::number_support::{depot, sql};

pub async fn server() -> Server {
    common::start_with(|cfg| {
        cfg.roles = vec!["permission".into(), "number".into(), "card".into()];
    })
    .await
}

pub const ALL_CARD_PERMS: &[&str] = &[
    "card:read",
    "card:write",
    "card:occupy",
    "card:pair",
    "card:transfer",
];

fn digits(n: usize) -> String {
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + r.gen_range(0..10)))
        .collect()
}

/// A random valid 19-digit ICCID of prefix 898601.
pub fn iccid() -> String {
    let payload = format!("898601{}", digits(12));
    format!("{payload}{}", luhn_digit(&payload))
}

/// A random valid IMSI of MNC 01.
pub fn imsi() -> String {
    format!("46001{}", digits(10))
}

/// Intake of `n` fresh 成卡 into the depot (201 expected); their ICCIDs.
pub async fn cards(s: &Server, admin: &User, province: &str, depot: i64, n: usize) -> Vec<String> {
    let list: Vec<String> = (0..n).map(|_| iccid()).collect();
    let body: Vec<Json> = list
        .iter()
        .map(|i| json!({"iccid": i, "imsi": imsi(), "card_type": "made"}))
        .collect();
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": province, "depot_id": depot, "cards": body}),
        )
        .await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 201, "intake: {v}");
    assert_eq!(v["accepted"], n);
    list
}

/// Forces a card's status directly (set-up of states other doors reach).
pub async fn force_status(s: &Server, iccid: &str, status: &str) {
    let mut c = sql(s).await;
    c.exec_drop(
        "UPDATE sim_card SET status = ? WHERE iccid = ?",
        (status, iccid),
    )
    .await
    .unwrap();
    drop(c);
    assert_eq!(row(s, iccid).await.0, status, "force {iccid} to {status}");
}

/// (status, depot_id, paired_phone_no, package_id) of a card, read directly.
pub async fn row(s: &Server, iccid: &str) -> (String, i64, Option<String>, Option<i64>) {
    let mut c = sql(s).await;
    let r: Option<(String, i64, Option<String>, Option<i64>)> = c
        .exec_first(
            "SELECT status, depot_id, paired_phone_no, package_id FROM sim_card WHERE iccid = ?",
            (iccid,),
        )
        .await
        .unwrap();
    r.expect("the card exists")
}

pub async fn count_cards(s: &Server, iccids: &[String]) -> usize {
    let mut c = sql(s).await;
    let marks = vec!["?"; iccids.len()].join(", ");
    let n: Option<i64> = c
        .exec_first(
            format!("SELECT COUNT(*) FROM sim_card WHERE iccid IN ({marks})"),
            iccids
                .iter()
                .map(|i| Value::from(i.as_str()))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    n.unwrap_or(0) as usize
}

/// The (from, to, action) of a card's history rows, oldest first, via the API.
pub async fn history(
    s: &Server,
    admin: &User,
    iccid: &str,
) -> Vec<(Option<String>, String, String)> {
    common::history_rows(s, &admin.token, &format!("/api/v1/cards/{iccid}/history")).await
}

pub async fn set_status(s: &Server, token: &str, iccids: &[String], to: &str) -> (u16, Json) {
    let r = s
        .post(
            token,
            "/api/v1/cards/status",
            json!({"iccids": iccids, "to": to}),
        )
        .await;
    let st = r.status().as_u16();
    (st, r.json().await.unwrap())
}

/// Runs a cleanup DELETE, retrying when it deadlocks with another test's
/// writes on the same shard (test hygiene, not the code under test).
async fn delete_retrying(s: &Server, sql_text: &str, params: Vec<Value>) {
    for attempt in 0.. {
        let mut c = sql(s).await;
        match c.exec_drop(sql_text, params.clone()).await {
            Ok(()) => return,
            Err(mysql_async::Error::Server(e))
                if (e.code == 1213 || e.code == 1205) && attempt < 5 =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cleanup {sql_text}: {e}"),
        }
    }
}

/// Removes the cards and their history.
pub async fn cleanup(s: &Server, iccids: &[String]) {
    for chunk in iccids.chunks(200) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let params: Vec<Value> = chunk.iter().map(|n| Value::from(n.as_str())).collect();
        for table in ["sim_card", "card_history"] {
            let q = format!("DELETE FROM {table} WHERE iccid IN ({marks})");
            delete_retrying(s, &q, params.clone()).await;
        }
    }
}

/// Removes numbers, their history and events (as number_support::cleanup
/// does), retrying deadlocks of the row deletes with concurrent tests.
pub async fn cleanup_numbers(s: &Server, numbers: &[String]) {
    crate::number_support::delete_events(&mut sql(s).await, numbers).await;
    let marks = vec!["?"; numbers.len()].join(", ");
    let params: Vec<Value> = numbers.iter().map(|n| Value::from(n.as_str())).collect();
    for table in ["phone_number", "number_history", "premium_waiver"] {
        let q = format!("DELETE FROM {table} WHERE phone_no IN ({marks})");
        delete_retrying(s, &q, params.clone()).await;
    }
}

/// A fresh 套包 of a province (None: national), created as an admin would.
pub async fn package(s: &Server, admin: &User, province: Option<&str>) -> i64 {
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/packages",
            json!({"code": common::unique("pkg"), "name": "测试套包", "province_code": province,
                   "monthly_fee_cents": 5900}),
        )
        .await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 201, "package: {v}");
    v["package_id"].as_i64().unwrap()
}
