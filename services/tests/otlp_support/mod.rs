//! A tiny OTLP/HTTP receiver for the export tests: an axum server on a free
//! port that records every request it gets (any method, any path) and
//! decodes the `POST /v1/traces` bodies as OTLP protobuf. Shared with the
//! proxy's test (proxy/tests/e2e_otlp.rs includes this file).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message as _;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub content_type: String,
    pub body: Bytes,
}

/// One exported span, flattened: its resource's `service.name`, its name
/// and its string attributes.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    pub service: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
}

pub struct Receiver {
    /// The base URL to configure as `otlp_endpoint`.
    pub endpoint: String,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = got.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let record = record.clone();
                async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    record.lock().unwrap().push(Received {
                        method,
                        path: uri.path().to_string(),
                        content_type,
                        body,
                    });
                    // An empty ExportTraceServiceResponse: full success.
                    ([("content-type", "application/x-protobuf")], Bytes::new())
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            endpoint,
            got,
            task,
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The spans of every `POST /v1/traces` so far; panics on a body that
    /// is not an OTLP protobuf trace export.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        let mut out = Vec::new();
        for r in self.received() {
            if r.method != Method::POST || r.path != "/v1/traces" {
                continue;
            }
            let req = ExportTraceServiceRequest::decode(r.body.clone())
                .unwrap_or_else(|e| panic!("not an OTLP trace export ({e}): {r:?}"));
            for rs in req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|res| strings(&res.attributes).remove("service.name"))
                    .unwrap_or_default();
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        out.push(ExportedSpan {
                            service: service.clone(),
                            name: span.name,
                            attributes: strings(&span.attributes),
                        });
                    }
                }
            }
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn strings(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// SIGTERM to a child process: its graceful shutdown (which flushes spans).
pub fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -TERM {pid}");
}

/// Waits (without blocking the runtime serving the receiver) up to `secs`
/// for the child to exit; its exit status.
pub async fn wait_exit(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {} did not exit within {secs} s of SIGTERM",
            child.id()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
