//! In-process haoka-server on an ephemeral port against the real proxy
//! (127.0.0.1:3307), Redis and RabbitMQ that deploy/local/up.sh runs. Every
//! name a test creates carries a random suffix, so tests run in parallel and
//! again without colliding.
#![allow(dead_code)]

use std::net::SocketAddr;

use haoka_services::app::{self, AppState};
use haoka_services::config::Config;
use haoka_services::permission::seed;
use rand::Rng;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

pub const TEST_SEAL_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub fn unique(prefix: &str) -> String {
    let n: u32 = rand::thread_rng().gen();
    format!("{prefix}{:x}{n:08x}", std::process::id())
}

/// A loopback port nobody listens on now (for a process a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn test_config() -> Config {
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        seal_key: Some(TEST_SEAL_KEY.into()),
        ..Config::default()
    };
    // Cheap hashes: tests log in a lot; production keeps the OWASP cost.
    cfg.password.argon2_memory_kib = 1024;
    cfg.password.argon2_iterations = 1;
    // Every test calls the channel API from 127.0.0.1 and the per-address
    // window is shared in Redis: tests of that limit use their own address.
    cfg.channel_api.source_rate_limit_per_minute = 0;
    // Another proxy than up.sh's (one loaded with changed sharding rules).
    if let Ok(url) = std::env::var("HAOKA_TEST_DATABASE_URL") {
        cfg.database_url = url;
    }
    cfg
}

pub struct Server {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
    let mut cfg = test_config();
    tweak(&mut cfg);
    let state = AppState::connect(cfg)
        .await
        .expect("the server connects to the proxy, Redis and RabbitMQ (run deploy/local/up.sh)");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    tokio::spawn(async move {
        app::serve(listener, st, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        state,
        http: reqwest::Client::new(),
        _stop: tx,
    }
}

/// A logged-in staff member.
pub struct User {
    pub staff_id: i64,
    pub staff_no: String,
    pub password: String,
    pub token: String,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("the server answers")
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Response {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn login(&self, staff_no: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "staff_no": staff_no, "password": password })),
        )
        .await
    }

    pub async fn token(&self, staff_no: &str, password: &str) -> String {
        let r = self.login(staff_no, password).await;
        assert_eq!(r.status(), StatusCode::OK, "login of {staff_no}");
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A fresh headquarters administrator (all permissions, all provinces).
    pub async fn admin(&self) -> User {
        let staff_no = unique("adm");
        let password = "Admin-Pass-2024!".to_string();
        seed::create_admin(&self.state, &staff_no, Some(password.clone()))
            .await
            .unwrap()
            .expect("a new staff number");
        let token = self.token(&staff_no, &password).await;
        let me: Value = self
            .get(&token, "/api/v1/auth/me")
            .await
            .json()
            .await
            .unwrap();
        User {
            staff_id: me["staff"]["staff_id"].as_i64().unwrap(),
            staff_no,
            password,
            token,
        }
    }

    /// A staff member of `province` holding a new role with `perms` (the role
    /// grant adds `extra_province` to their scope), password already changed.
    pub async fn user(
        &self,
        admin: &User,
        province: Option<&str>,
        perms: &[&str],
        extra_province: Option<&str>,
    ) -> User {
        let role = self
            .post(
                &admin.token,
                "/api/v1/roles",
                json!({ "code": unique("r"), "name": "test role" }),
            )
            .await;
        assert_eq!(role.status(), StatusCode::CREATED);
        let role_id = role.json::<Value>().await.unwrap()["role_id"]
            .as_i64()
            .unwrap();
        let r = self
            .put(
                &admin.token,
                &format!("/api/v1/roles/{role_id}/permissions"),
                json!({ "permissions": perms }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let staff_no = unique("s");
        let created = self
            .post(
                &admin.token,
                "/api/v1/staff",
                json!({ "staff_no": staff_no, "name": "测试员工", "province_code": province }),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: Value = created.json().await.unwrap();
        let staff_id = created["staff"]["staff_id"].as_i64().unwrap();
        let initial = created["initial_password"].as_str().unwrap().to_string();
        let r = self
            .put(
                &admin.token,
                &format!("/api/v1/staff/{staff_id}/roles"),
                json!({ "roles": [{ "role_id": role_id, "extra_province": extra_province }] }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let first = self.token(&staff_no, &initial).await;
        let password = format!("Pw-{}-Xy9", unique("p"));
        let r = self
            .post(
                &first,
                "/api/v1/auth/password",
                json!({ "old_password": initial, "new_password": password }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let token = self.token(&staff_no, &password).await;
        User {
            staff_id,
            staff_no,
            password,
            token,
        }
    }
}

/// Asserts a problem body with this status and code; returns the body.
pub async fn problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

/// The (from, to, action) of a history endpoint's rows (numbers and cards
/// answer the same shape), oldest first.
pub async fn history_rows(
    s: &Server,
    token: &str,
    path: &str,
) -> Vec<(Option<String>, String, String)> {
    let r = s.get(token, path).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["from_status"].as_str().map(str::to_string),
                h["to_status"].as_str().unwrap().to_string(),
                h["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A consumer on a fresh exclusive queue bound to `exchange` with `key`:
/// what a test watches a server publish with.
pub async fn tap(s: &Server, exchange: &str, key: &str, no_ack: bool) -> lapin::Consumer {
    let ch = s.state.mq.channel().await.unwrap();
    haoka_services::mq::listen(&ch, exchange, key, no_ack)
        .await
        .unwrap()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn rfc3339_with_offset(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !(digits(0..4) && digits(5..7) && digits(8..10) && digits(11..13))
        || !(digits(14..16) && digits(17..19))
        || (b[4], b[7], b[10], b[13], b[16]) != (b'-', b'-', b'T', b':', b':')
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &f[n..];
    }
    rest == "Z"
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest[1..3].bytes().all(|c| c.is_ascii_digit())
            && rest.as_bytes()[3] == b':'
            && rest[4..6].bytes().all(|c| c.is_ascii_digit()))
}
