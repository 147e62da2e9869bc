//! Issue 7's fault tests: a stream of cross-province transfers through a
//! real haoka-server process, (a) SIGKILLed mid-stream and restarted, (b)
//! with RabbitMQ stopped mid-stream (`rabbitmqctl stop_app`, then
//! `start_app`). Either way every card ends in exactly one depot (one row on
//! one shard, the ICCID index pointing at it), every transfer is done or
//! refused, and every transfer the API accepted exists. The two tests take
//! turns (they disturb the broker and the process).

mod common;
mod transfer_support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haoka_services::app::AppState;
use haoka_services::permission::seed;
use mysql_async::Pool;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use transfer_support::*;

static TURN: Mutex<()> = Mutex::const_new(());

const CARDS: usize = 80;
const TRANSFERS: usize = 30;
const PER_TRANSFER: usize = 2;

/// Short confirm limits and check-backs: failed publishes come due quickly.
const SERVER_TOML: &str = r#"
[password]
argon2_memory_kib = 1024
argon2_iterations = 1

[outbox]
poll_interval_ms = 50
lease_seconds = 2
check_back_after_seconds = 3
backoff_ms = 100
max_backoff_ms = 1000
"#;

struct ServerProc {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl ServerProc {
    fn spawn(port: u16, dir: &std::path::Path) -> ServerProc {
        let config = dir.join("server.toml");
        std::fs::write(&config, SERVER_TOML).unwrap();
        let log = dir.join("server.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_haoka-server"))
            .arg("--config")
            .arg(&config)
            .env("HAOKA_LISTEN", format!("127.0.0.1:{port}"))
            .env("HAOKA_ROLES", "permission,card")
            .env("HAOKA_DATABASE_URL", PROXY_URL)
            .env("HAOKA_SEAL_KEY", common::TEST_SEAL_KEY)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("haoka-server starts");
        ServerProc {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn ready(&self, http: &reqwest::Client) {
        ready(http, &self.base, &self.log).await
    }

    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

/// Waits for /readyz (the proxy, Redis and RabbitMQ answer).
async fn ready(http: &reqwest::Client, base: &str, log: &std::path::Path) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "haoka-server not ready after 30 s; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(common::unique("haoka-fault-"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headquarters administrator (made in-process: the permission center
/// writes no outbox rows, so this process neither relays nor consumes).
async fn admin() -> (String, String) {
    let mut cfg = common::test_config();
    cfg.roles = vec!["permission".into()];
    let state = AppState::connect(cfg).await.unwrap();
    let staff_no = common::unique("ft");
    let password = "Fault-Test-2024!".to_string();
    seed::create_admin(&state, &staff_no, Some(password.clone()))
        .await
        .unwrap()
        .expect("a new staff number");
    (staff_no, password)
}

async fn login(http: &reqwest::Client, base: &str, who: &(String, String)) -> String {
    let v: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"staff_no": who.0, "password": who.1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().expect("a token").to_string()
}

/// What one transfer request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Accepted(i64),
    /// 409: no free card in stock at that moment.
    NoStock,
    /// No answer (the server died or the request failed).
    Unknown,
}

/// Sends `TRANSFERS` transfers of `PER_TRANSFER` cards from two clients;
/// calls `fault` once after `at` accepted ones and `recover` right after.
async fn stream<F, R>(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    depots: (i64, i64),
    at: usize,
    fault: F,
    recover: R,
) -> Vec<Sent>
where
    F: std::future::Future<Output = ()>,
    R: std::future::Future<Output = ()>,
{
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let fire = |n: usize| {
        let (http, sent) = (http.clone(), sent.clone());
        let url = format!("{base}/api/v1/cards/transfers");
        let token = token.to_string();
        async move {
            for _ in 0..n {
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"from_depot_id": depots.0, "to_depot_id": depots.1, "count": PER_TRANSFER}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let outcome = match r {
                    Ok(r) if r.status() == 202 => {
                        let v: Value = r.json().await.unwrap();
                        Sent::Accepted(v["transfer_id"].as_i64().unwrap())
                    }
                    Ok(r) if r.status().is_server_error() => Sent::Unknown,
                    Ok(r) if r.status() == 409 => Sent::NoStock,
                    Ok(r) => panic!(
                        "transfer refused: {} {}",
                        r.status(),
                        r.text().await.unwrap()
                    ),
                    Err(_) => Sent::Unknown,
                };
                sent.lock().unwrap().push(outcome);
            }
        }
    };
    // Before the fault.
    tokio::join!(fire(at / 2), fire(at - at / 2));
    // The fault lands while two more requests are in flight.
    let (_, _, _) = tokio::join!(fire(1), fire(1), fault);
    recover.await;
    let rest = TRANSFERS.saturating_sub(at + 2);
    tokio::join!(fire(rest / 2), fire(rest - rest / 2));
    let out = sent.lock().unwrap().clone();
    out
}

/// Waits for quiescence, then checks conservation and that no accepted
/// transfer is missing.
async fn check(db: &Pool, from: (&str, i64), to: i64, cards: &[String], sent: &[Sent]) {
    quiesce(db, from.0, from.1, Duration::from_secs(40)).await;
    let transfers: BTreeMap<i64, (String, i64)> = transfers_from(db, from.0, from.1).await;
    for s in sent {
        if let Sent::Accepted(id) = s {
            assert!(transfers.contains_key(id), "accepted transfer {id} is lost");
        }
    }
    assert!(
        transfers.values().all(|(s, _)| s == "D" || s == "R"),
        "{transfers:?}"
    );
    let per_depot = assert_conserved(db, cards, &[from.1, to]).await;
    let moved: i64 = transfers
        .values()
        .filter(|(s, _)| s == "D")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(per_depot.get(&to).copied().unwrap_or(0) as i64, moved);
    let accepted = sent
        .iter()
        .filter(|s| matches!(s, Sent::Accepted(_)))
        .count();
    assert!(
        accepted >= TRANSFERS - 4,
        "only {accepted} of {TRANSFERS} accepted"
    );
    assert!(moved > 0);
}

async fn setup(from: &str, to: &str) -> (Pool, (i64, i64), Vec<String>) {
    let db = Pool::new(PROXY_URL);
    let (a, city) = depot(&db, from, true, true).await;
    let (b, _) = depot(&db, to, true, true).await;
    let cards = stock(&db, from, (a, &city), CARDS).await;
    (db, (a, b), cards)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_no_card() {
    let _turn = TURN.lock().await;
    let who = admin().await;
    let (db, depots, cards) = setup("19", "59").await;
    let dir = temp_dir();
    let port = common::free_port();
    let http = reqwest::Client::new();
    let server = Arc::new(std::sync::Mutex::new(ServerProc::spawn(port, &dir)));
    let base = server.lock().unwrap().base.clone();
    let log = dir.join("server.log");
    ready(&http, &base, &log).await;
    let token = login(&http, &base, &who).await;
    let killer = {
        let server = server.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            server.lock().unwrap().sigkill();
        }
    };
    let restart = {
        let server = server.clone();
        let dir = dir.clone();
        async move {
            *server.lock().unwrap() = ServerProc::spawn(port, &dir);
        }
    };
    let sent = stream(&http, &base, &token, depots, 10, killer, async {
        restart.await;
        ready(&http, &base, &log).await;
    })
    .await;
    eprintln!("{sent:?}");
    assert!(
        sent.contains(&Sent::Unknown) || sent.len() == TRANSFERS,
        "{sent:?}"
    );
    check(&db, ("19", depots.0), depots.1, &cards, &sent).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn rabbitmqctl(cmd: &str) {
    let st = Command::new("rabbitmqctl")
        .arg(cmd)
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmqctl runs");
    assert!(st.success(), "rabbitmqctl {cmd}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_stopped_mid_stream_loses_and_duplicates_no_card() {
    let _turn = TURN.lock().await;
    let who = admin().await;
    let (db, depots, cards) = setup("90", "85").await;
    let dir = temp_dir();
    let server = ServerProc::spawn(common::free_port(), &dir);
    let http = reqwest::Client::new();
    server.ready(&http).await;
    let token = login(&http, &server.base, &who).await;
    let stop = async {
        tokio::task::spawn_blocking(|| rabbitmqctl("stop_app"))
            .await
            .unwrap();
    };
    let start = async {
        // Requests keep being accepted meanwhile: they need only the database.
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::spawn_blocking(|| rabbitmqctl("start_app"))
            .await
            .unwrap();
    };
    let sent = stream(&http, &server.base, &token, depots, 10, stop, start).await;
    check(&db, ("90", depots.0), depots.1, &cards, &sent).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
