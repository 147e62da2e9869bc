//! Prometheus metrics, served at /metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::state::Shared;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    pub logins: IntCounterVec,
    pub channel_calls: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("haoka_server".into()), None)
            .expect("static registry prefix");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )
        .expect("static metric");
        let http_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_seconds", "HTTP request latency"),
            &["method", "route"],
        )
        .expect("static metric");
        let logins = IntCounterVec::new(
            Opts::new("logins_total", "staff login attempts by outcome"),
            &["outcome"],
        )
        .expect("static metric");
        let channel_calls = IntCounterVec::new(
            Opts::new("channel_calls_total", "channel API calls by status"),
            &["status"],
        )
        .expect("static metric");
        for c in [&http_requests, &logins, &channel_calls] {
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(http_seconds.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            http_requests,
            http_seconds,
            logins,
            channel_calls,
        }
    }

    /// The process registry, for metrics other parts own (outbox, ...).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The method as a label: the standard ones by name, any other token a
/// client makes up as `other` (a label value per made-up method would let
/// anyone grow the series without bound).
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Counts and times every request by its route template (not the raw path,
/// which would explode the label set) and method label.
pub async fn track(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.http_seconds
        .with_label_values(&[method, &route])
        .observe(start.elapsed().as_secs_f64());
    m.http_requests
        .with_label_values(&[method, &route, resp.status().as_str()])
        .inc();
    resp
}

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn serve(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
