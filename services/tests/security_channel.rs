//! Issue 14, the channel API as an attacker meets it: replays under another
//! spelling of the key id, request ids the logs cannot store, floods of
//! unsigned calls from one address, big bodies.

mod common;
mod number_support;

use std::net::{IpAddr, Ipv4Addr};

use common::{problem, unique, Server};
use haoka_services::auth::channel_sign::Signed;
use haoka_services::auth::session::now_secs;
use number_support::{channel, on_shelf, server, server_with};
use reqwest::Response;
use serde_json::{json, Value};

/// A signed call as it went over the wire, to be sent again.
#[derive(Clone)]
struct Captured {
    method: String,
    path: String,
    body: String,
    key: String,
    timestamp: String,
    nonce: String,
    signature: String,
}

fn capture(cred: &(i64, String, String), method: &str, path: &str, body: &str) -> Captured {
    let timestamp = now_secs().to_string();
    let nonce = unique("nonce");
    let signature = Signed {
        method,
        path,
        key_id: &cred.1,
        timestamp: &timestamp,
        nonce: &nonce,
        body: body.as_bytes(),
    }
    .sign(cred.2.as_bytes());
    Captured {
        method: method.into(),
        path: path.into(),
        body: body.into(),
        key: cred.1.clone(),
        timestamp,
        nonce,
        signature,
    }
}

async fn send(s: &Server, c: &Captured, request_id: Option<&str>) -> Response {
    send_from(&s.http, s, c, request_id).await
}

/// Sends a captured call through `http` (a client bound to some address).
async fn send_from(
    http: &reqwest::Client,
    s: &Server,
    c: &Captured,
    request_id: Option<&str>,
) -> Response {
    let mut r = http
        .request(c.method.parse().unwrap(), s.url(&c.path))
        .header("X-Haoka-Key", &c.key)
        .header("X-Haoka-Timestamp", &c.timestamp)
        .header("X-Haoka-Nonce", &c.nonce)
        .header("X-Haoka-Signature", &c.signature)
        .header("Content-Type", "application/json")
        .body(c.body.clone());
    if let Some(id) = request_id {
        r = r.header("X-Request-Id", id);
    }
    r.send().await.unwrap()
}

/// The key with its first hex letter upper-cased (None: the key has no letter).
fn upper_one(key: &str) -> Option<String> {
    let i = key.find(|c: char| c.is_ascii_lowercase())?;
    let mut k = key.to_string();
    k.replace_range(i..=i, &key[i..=i].to_ascii_uppercase());
    Some(k)
}

/// A channel of `province` whose key id has a hex letter.
async fn channel_with_letter(
    s: &Server,
    admin: &common::User,
    province: &str,
) -> (i64, String, String) {
    loop {
        let cred = channel(s, admin, province).await;
        if upper_one(&cred.1).is_some() {
            return cred;
        }
    }
}

#[tokio::test]
async fn a_captured_call_is_not_accepted_again_under_another_spelling_of_the_key() {
    let s = server().await;
    let admin = s.admin().await;
    let cred = channel_with_letter(&s, &admin, "51").await;
    let numbers = on_shelf(&s, &admin, "51", 2, None).await;
    let hold = capture(
        &cred,
        "POST",
        &format!("/api/v1/open/numbers/{}/hold", numbers[0]),
        &json!({"key_kind": "order_id", "key": unique("order")}).to_string(),
    );
    let r = send(&s, &hold, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "0000");
    // The same bytes again: a replay.
    problem(send(&s, &hold, None).await, 401, "replayed_nonce").await;
    // The same call with one letter of the key id upper-cased: the very
    // same credential to a case-blind lookup, a new one to a raw nonce key.
    let respelled = Captured {
        key: upper_one(&hold.key).unwrap(),
        ..hold.clone()
    };
    let r = send(&s, &respelled, None).await;
    assert_eq!(
        r.status(),
        401,
        "a replay under another spelling of the key"
    );
    // Even freshly signed over that spelling: only the issued one names the key.
    let mut other = cred.clone();
    other.1 = upper_one(&cred.1).unwrap();
    let fresh = capture(
        &other,
        "POST",
        &format!("/api/v1/open/numbers/{}/hold", numbers[1]),
        &json!({"key_kind": "order_id", "key": unique("order")}).to_string(),
    );
    problem(send(&s, &fresh, None).await, 401, "signature_malformed").await;
    assert_eq!(number_support::status_of(&s, &numbers[1]).await, "03");
    // The key id is signed: a signature made for another key id fails.
    let mut forged = capture(&cred, "POST", "/api/v1/open/ping", r#"{"message":"hi"}"#);
    forged.signature = Signed {
        method: "POST",
        path: "/api/v1/open/ping",
        key_id: "000000000000000000000000",
        timestamp: &forged.timestamp,
        nonce: &forged.nonce,
        body: forged.body.as_bytes(),
    }
    .sign(cred.2.as_bytes());
    problem(send(&s, &forged, None).await, 401, "bad_signature").await;
    number_support::cleanup(&s, &numbers).await;
}

/// The interface-log rows of a credential (newest first), as an administrator reads them.
async fn interface_rows(s: &Server, token: &str, key: &str) -> Vec<Value> {
    let r = s
        .get(
            token,
            &format!("/api/v1/logs/interface?key_id={key}&page_size=200"),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn id_of(r: &Response) -> String {
    r.headers()
        .get("x-request-id")
        .expect("every response names its request id")
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn request_ids_the_logs_cannot_hold_are_replaced_and_every_call_is_logged() {
    let s = server().await;
    let admin = s.admin().await;
    let cred = channel(&s, &admin, "51").await;
    let numbers = on_shelf(&s, &admin, "51", 1, None).await;
    let no = &numbers[0];
    let key = unique("order");
    let long = "r".repeat(65);
    for (op, body) in [
        ("hold", json!({"key_kind": "order_id", "key": key})),
        ("sell", json!({"key": key})),
    ] {
        let call = capture(
            &cred,
            "POST",
            &format!("/api/v1/open/numbers/{no}/{op}"),
            &body.to_string(),
        );
        let r = send(&s, &call, Some(&long)).await;
        assert_eq!(r.status(), 200, "{op}");
        let used = id_of(&r);
        assert_ne!(used, long, "an id of 65 characters is not kept");
        assert!(used.len() <= 64 && !used.is_empty(), "{used}");
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "0000", "{op}");
        let rows = interface_rows(&s, &admin.token, &cred.1).await;
        assert!(
            rows.iter().any(|row| row["request_id"] == used.as_str()),
            "the {op} call is in the interface log under {used}: {rows:?}"
        );
    }
    // A usable id is kept; one with a space is not.
    let ping = capture(&cred, "POST", "/api/v1/open/ping", r#"{"message":"hi"}"#);
    let kept = unique("req.id:");
    let r = send(&s, &ping, Some(&kept)).await;
    assert_eq!((r.status().as_u16(), id_of(&r)), (200, kept));
    let ping = capture(&cred, "POST", "/api/v1/open/ping", r#"{"message":"hi"}"#);
    let r = send(&s, &ping, Some("two words")).await;
    assert_ne!(id_of(&r), "two words");

    // Staff writes that log an operation: not a 500, and the row is there.
    let r = s
        .http
        .post(s.url("/api/v1/departments"))
        .bearer_auth(&admin.token)
        .header("X-Request-Id", &long)
        .json(&json!({"code": unique("d"), "name": "长编号部门", "province_code": "51"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let used = id_of(&r);
    let dept: Value = r.json().await.unwrap();
    let logs: Value = s
        .get(
            &admin.token,
            &format!(
                "/api/v1/logs/operations?object_kind=department&object_id={}",
                dept["department_id"]
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logs["items"][0]["request_id"], used.as_str(), "{logs}");
    number_support::cleanup(&s, &numbers).await;
}

/// A loopback address of its own (127.x.y.z), so no other test's channel
/// calls share its per-address window.
fn own_loopback() -> IpAddr {
    let n: u32 = rand::random();
    IpAddr::V4(Ipv4Addr::new(
        127,
        (n >> 16) as u8 | 1,
        (n >> 8) as u8,
        (n as u8).clamp(2, 254),
    ))
}

/// Rows of the interface log under a request-id prefix (read through the proxy).
async fn rows_with_prefix(s: &Server, prefix: &str) -> i64 {
    use mysql_async::prelude::Queryable;
    let mut c = number_support::sql(s).await;
    let n: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM interface_log WHERE request_id LIKE ?",
            (format!("{prefix}%"),),
        )
        .await
        .unwrap();
    n.unwrap_or(0)
}

#[tokio::test]
async fn one_address_floods_neither_the_gate_nor_the_log() {
    let limit = 20;
    let s = server_with(|c| c.channel_api.source_rate_limit_per_minute = limit).await;
    let admin = s.admin().await;
    let cred = channel(&s, &admin, "51").await;
    // All calls in one minute window.
    if now_secs() % 60 > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - now_secs() % 60)).await;
    }
    let source = own_loopback();
    let http = reqwest::Client::builder()
        .local_address(source)
        .build()
        .unwrap();
    let prefix = unique("flood-");
    let mut statuses = Vec::new();
    for i in 0..(limit + 10) {
        let r = http
            .post(s.url("/api/v1/open/ping"))
            .header("X-Request-Id", format!("{prefix}{i}"))
            .json(&json!({"message": "x"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            problem(r, 429, "rate_limited").await;
        }
    }
    assert!(
        statuses[..limit as usize].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    assert!(
        statuses[limit as usize..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    // The refused flood left one row (its first refusal), not one per call.
    assert_eq!(rows_with_prefix(&s, &prefix).await, i64::from(limit) + 1);
    // A signed call from that address waits too; another address is served.
    let ping = capture(&cred, "POST", "/api/v1/open/ping", r#"{"message":"hi"}"#);
    assert_eq!(send_from(&http, &s, &ping, None).await.status(), 429);
    let elsewhere = reqwest::Client::builder()
        .local_address(own_loopback())
        .build()
        .unwrap();
    let ping = capture(&cred, "POST", "/api/v1/open/ping", r#"{"message":"hi"}"#);
    assert_eq!(send_from(&elsewhere, &s, &ping, None).await.status(), 200);
}

#[tokio::test]
async fn channel_calls_carry_small_bodies_only() {
    let s = server().await;
    let admin = s.admin().await;
    let cred = channel(&s, &admin, "51").await;
    let body = json!({"message": "x".repeat(100 * 1024)}).to_string();
    let big = capture(&cred, "POST", "/api/v1/open/ping", &body);
    problem(send(&s, &big, None).await, 413, "payload_too_large").await;
    // Staff endpoints keep the general limit (1 MiB).
    let r = s
        .post(
            &admin.token,
            "/api/v1/departments",
            json!({"code": unique("d"), "name": "x".repeat(100 * 1024)}),
        )
        .await;
    problem(r, 400, "invalid_request").await;
}
