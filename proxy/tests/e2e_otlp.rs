//! `[telemetry] otlp_endpoint`: the proxy exports the span of a statement
//! carrying a request id (sqlcommenter comment) with OTLP over
//! HTTP/protobuf to a receiver the test runs, flushed at shutdown
//! (SIGTERM); without the setting it sends nothing.

mod e2e_common;
#[path = "../../services/tests/otlp_support/mod.rs"]
mod otlp_support;

use std::time::Duration;

use e2e_common::*;
use mysql_async::prelude::*;
use otlp_support::*;

/// Runs one statement with `id` in its comment, then stops the proxy.
async fn one_statement_then_sigterm(p: &mut ProxyProc, id: &str) {
    let mut c = p.conn("haoka").await;
    let n: Option<u64> = c
        .query_first(format!(
            "SELECT COUNT(*) FROM phone_number WHERE province_code = '51' /*request_id='{id}'*/"
        ))
        .await
        .unwrap();
    assert!(n.is_some());
    c.disconnect().await.unwrap();
    sigterm(p.pid());
    assert!(p.wait_exit(Duration::from_secs(30)), "{}", p.log());
}

// Multi-threaded: the receiver answers while the test waits for the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_spans_are_exported_with_otlp_when_the_switch_is_on() {
    let rx = Receiver::start().await;
    let service = format!("haoka-proxy-otlp-{}", std::process::id());
    let mut p = ProxyProc::start_with(&format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"{service}\"\n",
        rx.endpoint
    ));
    let id = format!("e2e-otlp-{}", std::process::id());
    one_statement_then_sigterm(&mut p, &id).await;

    let got = rx.received();
    assert!(
        got.iter().any(|r| r.method == "POST"
            && r.path == "/v1/traces"
            && r.content_type == "application/x-protobuf"),
        "no protobuf POST /v1/traces: {got:?}\n{}",
        p.log()
    );
    let spans = rx.spans();
    assert!(
        spans.iter().any(|sp| sp.name == "statement"
            && sp.service == service
            && sp.attributes.get("request_id") == Some(&id)),
        "a `statement` span of {service} with request_id {id}: {spans:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_exported_when_the_switch_is_off() {
    let rx = Receiver::start().await;
    let traces = format!("{}/v1/traces", rx.endpoint);
    let mut p = ProxyProc::start_env(
        "",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
        ],
    );
    one_statement_then_sigterm(&mut p, &format!("e2e-otlp-off-{}", std::process::id())).await;
    assert!(rx.received().is_empty(), "{:?}", rx.received());
}
