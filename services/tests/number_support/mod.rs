//! Number center test support: a server serving the permission and number
//! centers, fresh depots, pools and numbers in random segments (checked to be
//! unused), and direct SQL through the proxy for setting up states.
#![allow(dead_code)]

use haoka_services::config::Config;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use rand::Rng;
use serde_json::{json, Value as Json};

use crate::common::{self, Server, User};

pub async fn server() -> Server {
    server_with(|_| {}).await
}

pub async fn server_with(tweak: impl FnOnce(&mut Config)) -> Server {
    common::start_with(|cfg| {
        cfg.roles = vec!["permission".into(), "number".into()];
        tweak(cfg);
    })
    .await
}

/// Every number-center permission.
pub const ALL_NUMBER_PERMS: &[&str] = &[
    "number:read",
    "number:write",
    "number:hold",
    "pool:write",
    "premium:read",
    "premium:write",
    "premium:approve",
];

pub async fn sql(s: &Server) -> mysql_async::Conn {
    s.state.db.conn().await.unwrap()
}

/// A fresh depot of a province's first city.
pub async fn depot(s: &Server, admin: &User, province: &str) -> (i64, String) {
    let segs = s.state.number.center.segments(&s.state.db).await.unwrap();
    let city = segs.cities(province)[0].clone();
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/depots",
            json!({"province_code": province, "city_code": city, "name": common::unique("depot")}),
        )
        .await;
    assert_eq!(r.status(), 201, "depot");
    let v: Json = r.json().await.unwrap();
    (v["depot_id"].as_i64().unwrap(), city)
}

/// `n` numbers (n ≤ 10000) in one random unused segment of the province's
/// city, with the given tails (or consecutive ones from a random start).
pub async fn fresh_numbers(
    s: &Server,
    province: &str,
    city: &str,
    tails: Option<&[&str]>,
    n: usize,
) -> Vec<String> {
    let segs = s.state.number.center.segments(&s.state.db).await.unwrap();
    let all = segs.segments_of(province, city);
    assert!(
        !all.is_empty(),
        "province {province} city {city} has segments"
    );
    loop {
        // The upper half of a city's segments: the benchmark loads the lower one.
        let seg = all[all.len() / 2 + rand::thread_rng().gen_range(0..all.len() - all.len() / 2)];
        let numbers: Vec<String> = match tails {
            Some(t) => t.iter().map(|t| format!("{seg}{t}")).collect(),
            None => {
                let start = rand::thread_rng().gen_range(0..10_000 - n);
                (start..start + n).map(|i| format!("{seg}{i:04}")).collect()
            }
        };
        let mut c = sql(s).await;
        let used: Option<i64> = c
            .exec_first(
                "SELECT COUNT(*) FROM phone_number WHERE province_code = ? AND segment = ?",
                (province, seg.to_string()),
            )
            .await
            .unwrap();
        if used == Some(0) {
            return numbers;
        }
    }
}

/// Intake (201 expected) into a depot.
pub async fn intake(
    s: &Server,
    admin: &User,
    numbers: &[String],
    depot: i64,
    pool: Option<i64>,
) -> Json {
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/intake",
            json!({"numbers": numbers, "depot_id": depot, "pool_id": pool}),
        )
        .await;
    let status = r.status();
    let body: Json = r.json().await.unwrap();
    assert_eq!(status, 201, "intake: {body}");
    body
}

pub async fn set_status(s: &Server, admin: &User, numbers: &[String], to: &str) -> (u16, Json) {
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/status",
            json!({"numbers": numbers, "to": to}),
        )
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Intake + shelve: `n` on-shelf numbers.
pub async fn on_shelf(
    s: &Server,
    admin: &User,
    province: &str,
    n: usize,
    pool: Option<i64>,
) -> Vec<String> {
    let (depot, city) = depot(s, admin, province).await;
    let numbers = fresh_numbers(s, province, &city, None, n).await;
    intake(s, admin, &numbers, depot, pool).await;
    let (st, body) = set_status(s, admin, &numbers, "03").await;
    assert_eq!(st, 200, "shelve: {body}");
    numbers
}

/// Forces a status directly (test set-up of states the API reaches by long paths).
pub async fn force_status(s: &Server, number: &str, status: &str) {
    let mut c = sql(s).await;
    c.exec_drop(
        "UPDATE phone_number SET status = ? WHERE phone_no = ?",
        (status, number),
    )
    .await
    .unwrap();
}

pub async fn status_of(s: &Server, number: &str) -> String {
    let mut c = sql(s).await;
    let st: Option<String> = c
        .exec_first(
            "SELECT status FROM phone_number WHERE phone_no = ?",
            (number,),
        )
        .await
        .unwrap();
    st.expect("the number exists")
}

pub async fn history_actions(
    s: &Server,
    admin: &User,
    number: &str,
) -> Vec<(Option<String>, String, String)> {
    common::history_rows(
        s,
        &admin.token,
        &format!("/api/v1/numbers/{number}/history"),
    )
    .await
}

/// The `%"phone_no":"N"%` pattern that finds a number's events.
fn event_of(number: &str) -> String {
    format!("%\"phone_no\":\"{number}\"%")
}

/// A number's outbox events (routing key, exchange, payload), oldest first,
/// read through the proxy.
pub async fn events(s: &Server, number: &str) -> Vec<(String, String, Json)> {
    let mut c = sql(s).await;
    let rows: Vec<(String, String, String)> = c
        .exec(
            "SELECT routing_key, exchange_name, payload FROM outbox WHERE routing_key LIKE 'number.%' \
             AND payload LIKE ? ORDER BY created_at, message_id",
            (event_of(number),),
        )
        .await
        .unwrap();
    rows.into_iter()
        .map(|(k, x, p)| (k, x, serde_json::from_str(&p).unwrap()))
        .collect()
}

/// How many of a number's outbox events the relay has marked sent.
pub async fn sent_events(s: &Server, number: &str) -> usize {
    let mut c = sql(s).await;
    let n: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM outbox WHERE routing_key LIKE 'number.%' \
             AND payload LIKE ? AND status = 'S'",
            (event_of(number),),
        )
        .await
        .unwrap();
    n.unwrap_or(0) as usize
}

/// Deletes the numbers' outbox events. The rows are found by a plain
/// (non-locking) read first and deleted by key on their own shard: a
/// `DELETE ... WHERE payload LIKE` would scan and lock every outbox row of
/// every shard and wait on the relay's claims.
pub async fn delete_events(c: &mut mysql_async::Conn, numbers: &[String]) {
    for chunk in numbers.chunks(100) {
        let likes = vec!["payload LIKE ?"; chunk.len()].join(" OR ");
        let params: Vec<Value> = chunk.iter().map(|n| Value::from(event_of(n))).collect();
        let rows: Vec<(String, String)> = c
            .exec(
                format!(
                    "SELECT province_code, message_id FROM outbox \
                     WHERE routing_key LIKE 'number.%' AND ({likes})"
                ),
                params,
            )
            .await
            .unwrap();
        for (province, id) in rows {
            c.exec_drop(
                "DELETE FROM outbox WHERE province_code = ? AND message_id = ?",
                (province, id),
            )
            .await
            .unwrap();
        }
    }
}

/// Removes the numbers and their history, waivers and events.
pub async fn cleanup(s: &Server, numbers: &[String]) {
    let mut c = sql(s).await;
    delete_events(&mut c, numbers).await;
    for chunk in numbers.chunks(200) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let params: Vec<Value> = chunk.iter().map(|n| Value::from(n.as_str())).collect();
        for table in ["phone_number", "number_history", "premium_waiver"] {
            c.exec_drop(
                format!("DELETE FROM {table} WHERE phone_no IN ({marks})"),
                params.clone(),
            )
            .await
            .unwrap();
        }
    }
}

pub async fn hold(s: &Server, token: &str, number: &str, key: &str, seconds: Option<u64>) -> Json {
    let mut body = json!({"key_kind": "order_id", "key": key});
    if let Some(sec) = seconds {
        body["hold_seconds"] = json!(sec);
    }
    let r = s
        .post(token, &format!("/api/v1/numbers/{number}/hold"), body)
        .await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 200, "hold: {v}");
    v
}

pub async fn op(s: &Server, token: &str, number: &str, op: &str, key: &str) -> Json {
    let r = s
        .post(
            token,
            &format!("/api/v1/numbers/{number}/{op}"),
            json!({"key": key}),
        )
        .await;
    let st = r.status();
    let v: Json = r.json().await.unwrap();
    assert_eq!(st, 200, "{op}: {v}");
    v
}

/// A channel of `province` with an API credential: (channel_id, key_id, secret).
pub async fn channel(s: &Server, admin: &User, province: &str) -> (i64, String, String) {
    let r = s
        .post(
            &admin.token,
            "/api/v1/channels",
            json!({"code": common::unique("ch"), "name": "测试渠道", "channel_type": "ecommerce",
                   "province_code": province, "rate_limit_per_minute": 100000}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let ch: Json = r.json().await.unwrap();
    let id = ch["channel_id"].as_i64().unwrap();
    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/channels/{id}/credentials"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let k: Json = r.json().await.unwrap();
    (
        id,
        k["key_id"].as_str().unwrap().to_string(),
        k["secret"].as_str().unwrap().to_string(),
    )
}

/// A signed channel call; returns (status, body).
pub async fn channel_call(
    s: &Server,
    cred: &(i64, String, String),
    method: &str,
    path: &str,
    body: Option<Json>,
) -> (u16, Json) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let ts = haoka_services::auth::session::now_secs().to_string();
    let nonce = common::unique("nonce");
    let sig = haoka_services::auth::channel_sign::Signed {
        method,
        path,
        key_id: &cred.1,
        timestamp: &ts,
        nonce: &nonce,
        body: body.as_bytes(),
    }
    .sign(cred.2.as_bytes());
    let r = s
        .http
        .request(method.parse().unwrap(), s.url(path))
        .header("X-Haoka-Key", &cred.1)
        .header("X-Haoka-Timestamp", ts)
        .header("X-Haoka-Nonce", nonce)
        .header("X-Haoka-Signature", sig)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Json::Null))
}

/// A pool in the province (and city).
pub async fn pool(s: &Server, admin: &User, province: &str, city: Option<&str>) -> i64 {
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/pools",
            json!({"province_code": province, "city_code": city, "name": common::unique("pool")}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Json>().await.unwrap()["pool_id"].as_i64().unwrap()
}

pub async fn grant(
    s: &Server,
    admin: &User,
    pool: i64,
    kind: &str,
    id: i64,
    rights: (bool, bool, bool),
) {
    let r = s
        .put(
            &admin.token,
            &format!("/api/v1/numbers/pools/{pool}/grants"),
            json!({"grantee_kind": kind, "grantee_id": id, "can_view": rights.0, "can_use": rights.1,
                   "can_operate": rights.2}),
        )
        .await;
    assert_eq!(r.status(), 200, "grant");
}

/// Phone numbers of a selection answer.
pub fn selected(v: &Json) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a selection page: {v}"))
        .iter()
        .map(|i| i["phone_no"].as_str().unwrap().to_string())
        .collect()
}
