//! `[telemetry] otlp_endpoint` of the loader's config: a real haoka-batch
//! process exports the `file` span of a file it answered with OTLP over
//! HTTP/protobuf to a receiver the test runs, flushed when it stops
//! (SIGINT). The off switch and the export code are haoka-telemetry's,
//! covered by the server's and the proxy's tests.

#[path = "../../services/tests/otlp_support/mod.rs"]
mod otlp_support;
mod support;

use std::process::{Child, Command, Stdio};

use otlp_support::*;

/// The loader process, killed if the test fails before stopping it.
struct Loader(Child);

impl Drop for Loader {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_spans_are_exported_with_otlp_when_the_switch_is_on() {
    let rx = Receiver::start().await;
    let env = support::env().await;
    let (depot, _) = env.depot("51").await;
    let seg = env.fresh_segments("51", 1).await[0];
    let nums: Vec<String> = (0..3).map(|i| format!("{seg}{i:04}")).collect();
    let mut csv = String::from("phone_no,depot_id,pool_id\n");
    for n in &nums {
        csv.push_str(&format!("{n},{depot},\n"));
    }
    let name = format!("NUM_INTAKE_51_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();

    let service = support::unique("haoka-batch-otlp-");
    let config = env.config_file(100, 5);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"{service}\"\n",
        rx.endpoint
    ));
    std::fs::write(&config, text).unwrap();
    let log = config.with_extension("log");
    // RUST_LOG=info: the `file` span is an info span, and spans the filter
    // drops are not exported.
    let mut child = Loader(
        Command::new(env!("CARGO_BIN_EXE_haoka-batch"))
            .arg("--config")
            .arg(&config)
            .env("HAOKA_DATABASE_URL", env.proxy.url())
            .env("HAOKA_SEAL_KEY", support::TEST_SEAL_KEY)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("haoka-batch starts"),
    );
    env.drop_file(&name, csv.as_bytes());
    let summary = env.wait_summary(&base, 120).await;
    assert_eq!(summary["status"], "D", "{summary}");
    // The batch exporter's interval is seconds long: the flush at shutdown
    // sends the span.
    let ok = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT");
    let status = wait_exit(&mut child.0, 60).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_file(&log);
    assert!(status.success(), "exit {status}: {log_text}");
    env.cleanup(&nums, depot).await;

    let got = rx.received();
    assert!(
        got.iter().any(|r| r.method == "POST"
            && r.path == "/v1/traces"
            && r.content_type == "application/x-protobuf"),
        "no protobuf POST /v1/traces: {got:?}\n{log_text}"
    );
    let spans = rx.spans();
    assert!(
        spans.iter().any(|sp| sp.name == "file"
            && sp.service == service
            && sp.attributes.get("file") == Some(&name)
            && sp.attributes.get("source").map(String::as_str) == Some("sftp")),
        "a `file` span of {service} for {name}: {spans:#?}"
    );
}
