//! The channel API (能力开放): HMAC-signed requests (good, bad signature,
//! replay, stale), per-channel rate limits, and the interface log.

mod common;

use common::{problem, start, unique, Server, User};
use haoka_services::auth::channel_sign::Signed;
use haoka_services::auth::session::now_secs;
use reqwest::Response;
use serde_json::{json, Value};

struct Credential {
    channel_id: i64,
    key_id: String,
    secret: String,
}

async fn channel_with_key(srv: &Server, admin: &User, rate: u32) -> Credential {
    let ch: Value = srv
        .post(
            &admin.token,
            "/api/v1/channels",
            json!({"code": unique("ch"), "name": "网上营业厅", "channel_type": "ecommerce", "province_code": "51",
                   "rate_limit_per_minute": rate}),
        )
        .await
        .json()
        .await
        .unwrap();
    let channel_id = ch["channel_id"].as_i64().unwrap();
    let r = srv
        .post(
            &admin.token,
            &format!("/api/v1/channels/{channel_id}/credentials"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let k: Value = r.json().await.unwrap();
    Credential {
        channel_id,
        key_id: k["key_id"].as_str().unwrap().to_string(),
        secret: k["secret"].as_str().unwrap().to_string(),
    }
}

/// Sends a request signed with `sig_secret` (default: the channel's own).
async fn signed(
    srv: &Server,
    cred: &Credential,
    (method, path): (&str, &str),
    body: &str,
    ts: u64,
    nonce: &str,
    sig_secret: Option<&str>,
) -> Response {
    let secret = sig_secret.unwrap_or(&cred.secret);
    let sig = Signed {
        method,
        path,
        key_id: &cred.key_id,
        timestamp: &ts.to_string(),
        nonce,
        body: body.as_bytes(),
    }
    .sign(secret.as_bytes());
    srv.http
        .request(method.parse().unwrap(), srv.url(path))
        .header("X-Haoka-Key", &cred.key_id)
        .header("X-Haoka-Timestamp", ts.to_string())
        .header("X-Haoka-Nonce", nonce)
        .header("X-Haoka-Signature", sig)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn good_bad_replayed_and_stale_signatures() {
    let srv = start().await;
    let admin = srv.admin().await;
    let cred = channel_with_key(&srv, &admin, 600).await;
    let body = r#"{"message":"你好"}"#;
    let nonce = unique("n");
    let r = signed(
        &srv,
        &cred,
        ("POST", "/api/v1/open/ping"),
        body,
        now_secs(),
        &nonce,
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let pong: Value = r.json().await.unwrap();
    assert_eq!(pong["message"], "你好");
    let r = signed(
        &srv,
        &cred,
        ("GET", "/api/v1/open/channel"),
        "",
        now_secs(),
        &unique("n"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["channel_id"],
        cred.channel_id
    );

    // Replay of the same nonce, a wrong secret, a stale and a future timestamp.
    problem(
        signed(
            &srv,
            &cred,
            ("POST", "/api/v1/open/ping"),
            body,
            now_secs(),
            &nonce,
            None,
        )
        .await,
        401,
        "replayed_nonce",
    )
    .await;
    problem(
        signed(
            &srv,
            &cred,
            ("POST", "/api/v1/open/ping"),
            body,
            now_secs(),
            &unique("n"),
            Some("not-the-secret"),
        )
        .await,
        401,
        "bad_signature",
    )
    .await;
    problem(
        signed(
            &srv,
            &cred,
            ("POST", "/api/v1/open/ping"),
            body,
            now_secs() - 301,
            &unique("n"),
            None,
        )
        .await,
        401,
        "stale_timestamp",
    )
    .await;
    problem(
        signed(
            &srv,
            &cred,
            ("POST", "/api/v1/open/ping"),
            body,
            now_secs() + 301,
            &unique("n"),
            None,
        )
        .await,
        401,
        "stale_timestamp",
    )
    .await;
    // A body changed after signing.
    let nonce2 = unique("n");
    let ts = now_secs();
    let sig = Signed {
        method: "POST",
        path: "/api/v1/open/ping",
        key_id: &cred.key_id,
        timestamp: &ts.to_string(),
        nonce: &nonce2,
        body: body.as_bytes(),
    }
    .sign(cred.secret.as_bytes());
    let r = srv
        .http
        .post(srv.url("/api/v1/open/ping"))
        .header("X-Haoka-Key", &cred.key_id)
        .header("X-Haoka-Timestamp", ts.to_string())
        .header("X-Haoka-Nonce", &nonce2)
        .header("X-Haoka-Signature", sig)
        .header("Content-Type", "application/json")
        .body(r#"{"message":"tampered"}"#)
        .send()
        .await
        .unwrap();
    problem(r, 401, "bad_signature").await;
    // No signature headers at all; a revoked key.
    problem(
        srv.http
            .get(srv.url("/api/v1/open/channel"))
            .send()
            .await
            .unwrap(),
        401,
        "signature_missing",
    )
    .await;
    let r = srv
        .call(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/channels/{}/credentials/{}",
                cred.channel_id, cred.key_id
            ),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    problem(
        signed(
            &srv,
            &cred,
            ("GET", "/api/v1/open/channel"),
            "",
            now_secs(),
            &unique("n"),
            None,
        )
        .await,
        401,
        "unknown_key",
    )
    .await;
}

#[tokio::test]
async fn the_rate_limit_refuses_calls_beyond_the_channel_quota() {
    let srv = start().await;
    let admin = srv.admin().await;
    let cred = channel_with_key(&srv, &admin, 3).await;
    // Stay inside one minute window so the count is exact.
    while now_secs() % 60 > 50 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    for _ in 0..3 {
        let r = signed(
            &srv,
            &cred,
            ("GET", "/api/v1/open/channel"),
            "",
            now_secs(),
            &unique("n"),
            None,
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let r = signed(
        &srv,
        &cred,
        ("GET", "/api/v1/open/channel"),
        "",
        now_secs(),
        &unique("n"),
        None,
    )
    .await;
    assert_eq!(r.headers().get("retry-after").unwrap(), "60");
    problem(r, 429, "rate_limited").await;
    // Another channel is not affected.
    let other = channel_with_key(&srv, &admin, 3).await;
    let r = signed(
        &srv,
        &other,
        ("GET", "/api/v1/open/channel"),
        "",
        now_secs(),
        &unique("n"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn every_channel_call_is_in_the_interface_log_without_secrets() {
    let srv = start().await;
    let admin = srv.admin().await;
    let cred = channel_with_key(&srv, &admin, 600).await;
    let body = json!({"message": "hello", "password": "do-not-log-me"}).to_string();
    let r = signed(
        &srv,
        &cred,
        ("POST", "/api/v1/open/ping"),
        &body,
        now_secs(),
        &unique("n"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = signed(
        &srv,
        &cred,
        ("POST", "/api/v1/open/ping"),
        &body,
        now_secs(),
        &unique("n"),
        Some("wrong"),
    )
    .await;
    assert_eq!(r.status(), 401);
    let long = json!({"message": "hi", "note": "x".repeat(3000)}).to_string();
    let r = signed(
        &srv,
        &cred,
        ("POST", "/api/v1/open/ping"),
        &long,
        now_secs(),
        &unique("n"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);

    let logs: Value = srv
        .get(
            &admin.token,
            &format!("/api/v1/logs/interface?key_id={}", cred.key_id),
        )
        .await
        .json()
        .await
        .unwrap();
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{logs}");
    let statuses: Vec<i64> = items
        .iter()
        .map(|i| i["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
    for item in items {
        assert_eq!(item["method"], "POST");
        assert_eq!(item["path"], "/api/v1/open/ping");
        assert!(item["latency_ms"].as_i64().unwrap() >= 0);
        assert!(item["request_id"].as_str().is_some());
        let text = item.to_string();
        assert!(!text.contains("do-not-log-me"), "{text}");
        assert!(!text.contains(&cred.secret));
    }
    // Verified calls carry the channel; so does the forged one, by the key
    // id it names (the channel sees its failing calls).
    assert_eq!(items[2]["channel_id"], cred.channel_id);
    assert!(items[2]["request_body"]
        .as_str()
        .unwrap()
        .contains(r#""password":"***""#));
    assert_eq!(items[1]["channel_id"], cred.channel_id);
    assert!(items[1]["response_body"]
        .as_str()
        .unwrap()
        .contains("bad_signature"));
    // Bodies are cut to 2000 bytes.
    let cut = items[0]["request_body"].as_str().unwrap();
    assert!(
        cut.starts_with(r#"{"message":"hi","note":"xxxx"#) && cut.len() == 2000,
        "{}",
        cut.len()
    );
    assert!(items[0]["response_body"].as_str().unwrap().len() <= 2000);
}
