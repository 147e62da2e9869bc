//! `[telemetry] otlp_endpoint`: a real haoka-server process exports its
//! request spans with OTLP over HTTP/protobuf to a receiver the test runs,
//! the request id on the span, flushed at shutdown (SIGTERM); without the
//! setting it sends nothing, even with the standard `OTEL_*` variables set.

mod common;
mod otlp_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, unique, TEST_SEAL_KEY};
use otlp_support::*;

struct Server {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Server {
    /// haoka-server (permission role) with `toml` as its config file.
    async fn start(toml: &str, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("haoka-otlp-"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("server.toml"), toml).unwrap();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_haoka-server"))
            .arg("--config")
            .arg(dir.join("server.toml"))
            .env("HAOKA_LISTEN", format!("127.0.0.1:{port}"))
            .env("HAOKA_ROLES", "permission")
            .env("HAOKA_SEAL_KEY", TEST_SEAL_KEY)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("haoka-server starts");
        let s = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let http = reqwest::Client::new();
        let t = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", s.base)).send().await {
                if r.status() == 200 {
                    return s;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "not ready: {}",
                s.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One API request carrying `id` as its request id.
    async fn request(&self, id: &str) {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/auth/me", self.base))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        // Unauthenticated: a problem+json 401, still a traced request.
        assert_eq!(r.status(), 401, "{}", self.log());
        assert_eq!(r.headers()["x-request-id"], id);
    }

    /// SIGTERM, then waits for the graceful exit.
    async fn stop(&mut self) {
        sigterm(self.child.id());
        let status = wait_exit(&mut self.child, 30).await;
        assert!(status.success(), "exit {status}: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn request_spans_are_exported_with_otlp_when_the_switch_is_on() {
    let rx = Receiver::start().await;
    let service = unique("haoka-server-otlp-");
    let toml = format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"{service}\"\n",
        rx.endpoint
    );
    let mut s = Server::start(&toml, &[]).await;
    let id = unique("otlp-");
    s.request(&id).await;
    // The batch exporter's interval is seconds long: the flush at shutdown
    // sends the span.
    s.stop().await;

    let got = rx.received();
    let posts: Vec<_> = got.iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(
        !posts.is_empty(),
        "no POST /v1/traces: {got:?}\n{}",
        s.log()
    );
    for p in &posts {
        assert_eq!(p.method, "POST");
        assert_eq!(p.content_type, "application/x-protobuf");
    }
    let spans = rx.spans();
    let mine: Vec<_> = spans
        .iter()
        .filter(|sp| sp.attributes.get("request_id") == Some(&id))
        .collect();
    assert!(
        mine.iter()
            .any(|sp| sp.name == "request" && sp.service == service),
        "a `request` span of {service} with request_id {id}: {spans:#?}"
    );
    assert!(
        mine.iter()
            .any(|sp| sp.attributes.get("uri").map(String::as_str) == Some("/api/v1/auth/me")),
        "{mine:#?}"
    );
}

#[tokio::test]
async fn nothing_is_exported_when_the_switch_is_off() {
    let rx = Receiver::start().await;
    // The OTel SDK's own variables point at the receiver: without
    // [telemetry] no exporter exists to read them.
    let traces = format!("{}/v1/traces", rx.endpoint);
    let mut s = Server::start(
        "[telemetry]\nservice_name = \"haoka-off\"\n",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
        ],
    )
    .await;
    s.request(&unique("otlp-off-")).await;
    s.stop().await;
    assert!(rx.received().is_empty(), "{:?}\n{}", rx.received(), s.log());
}
