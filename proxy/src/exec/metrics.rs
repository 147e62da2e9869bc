//! Prometheus metrics of the proxy, kept in atomics (the hot path only does
//! a few relaxed increments) and rendered in the text format on scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How a statement was routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// One shard.
    Single,
    /// Several shards (scatter read, split insert, fan-out write).
    Multi,
    /// Every copy of a broadcast table or a DDL fan-out.
    Broadcast,
    /// Answered by the proxy itself (session, metadata, admin).
    Local,
}

const ROUTE_KINDS: [(&str, RouteKind); 4] = [
    ("single", RouteKind::Single),
    ("multi", RouteKind::Multi),
    ("broadcast", RouteKind::Broadcast),
    ("local", RouteKind::Local),
];

const STMT_KINDS: [&str; 8] = [
    "select", "insert", "update", "delete", "ddl", "session", "admin", "other",
];

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

pub struct Metrics {
    queries: [[AtomicU64; 4]; STMT_KINDS.len()],
    latency: [Histogram; 4],
    errors: Mutex<BTreeMap<u16, u64>>,
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub slow_queries: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            queries: Default::default(),
            latency: [
                Histogram::new(),
                Histogram::new(),
                Histogram::new(),
                Histogram::new(),
            ],
            errors: Mutex::new(BTreeMap::new()),
            connections_total: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            slow_queries: AtomicU64::new(0),
        }
    }
}

fn route_index(r: RouteKind) -> usize {
    ROUTE_KINDS.iter().position(|(_, k)| *k == r).unwrap_or(0)
}

/// Index into `STMT_KINDS`.
pub fn stmt_index(kind: crate::route::StmtKind) -> usize {
    use crate::route::StmtKind as K;
    match kind {
        K::Select | K::NoTable => 0,
        K::Insert | K::Replace => 1,
        K::Update => 2,
        K::Delete => 3,
        K::Ddl => 4,
        K::Session => 5,
        K::Metadata | K::Haoka | K::Explain => 6,
        K::PassThrough => 7,
    }
}

impl Metrics {
    pub fn record(&self, stmt: usize, route: RouteKind, elapsed: Duration) {
        let r = route_index(route);
        self.queries[stmt.min(STMT_KINDS.len() - 1)][r].fetch_add(1, Ordering::Relaxed);
        self.latency[r].observe(elapsed);
    }

    pub fn error(&self, code: u16) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(code).or_default() += 1;
        }
    }

    pub fn queries_total(&self) -> u64 {
        self.queries
            .iter()
            .flat_map(|r| r.iter())
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition; `pools` are (schema, shard, in_use, idle).
    pub fn render(
        &self,
        pools: &[(String, String, usize, usize)],
        extra: &[(&str, u64)],
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP haoka_proxy_queries_total Statements by type and route kind.\n");
        out.push_str("# TYPE haoka_proxy_queries_total counter\n");
        for (si, s) in STMT_KINDS.iter().enumerate() {
            for (ri, (r, _)) in ROUTE_KINDS.iter().enumerate() {
                let v = self.queries[si][ri].load(Ordering::Relaxed);
                if v > 0 {
                    let _ = writeln!(
                        out,
                        "haoka_proxy_queries_total{{type=\"{s}\",route=\"{r}\"}} {v}"
                    );
                }
            }
        }
        out.push_str(
            "# HELP haoka_proxy_query_duration_seconds Statement latency by route kind.\n",
        );
        out.push_str("# TYPE haoka_proxy_query_duration_seconds histogram\n");
        for (ri, (r, _)) in ROUTE_KINDS.iter().enumerate() {
            let h = &self.latency[ri];
            let mut cum = 0;
            for (bi, b) in BUCKETS.iter().enumerate() {
                cum += h.buckets[bi].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "haoka_proxy_query_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {cum}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "haoka_proxy_query_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "haoka_proxy_query_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "haoka_proxy_query_duration_seconds_count{{route=\"{r}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP haoka_proxy_errors_total Errors sent to clients by MySQL error code.\n",
        );
        out.push_str("# TYPE haoka_proxy_errors_total counter\n");
        if let Ok(e) = self.errors.lock() {
            for (code, n) in e.iter() {
                let _ = writeln!(out, "haoka_proxy_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        out.push_str("# HELP haoka_proxy_backend_connections Backend pool connections by state.\n");
        out.push_str("# TYPE haoka_proxy_backend_connections gauge\n");
        for (schema, shard, in_use, idle) in pools {
            let _ = writeln!(out, "haoka_proxy_backend_connections{{schema=\"{schema}\",shard=\"{shard}\",state=\"in_use\"}} {in_use}");
            let _ = writeln!(out, "haoka_proxy_backend_connections{{schema=\"{schema}\",shard=\"{shard}\",state=\"idle\"}} {idle}");
        }
        for (name, help_value) in [
            (
                "haoka_proxy_client_connections_total",
                self.connections_total.load(Ordering::Relaxed),
            ),
            (
                "haoka_proxy_client_connections_open",
                self.connections_open.load(Ordering::Relaxed),
            ),
            (
                "haoka_proxy_slow_queries_total",
                self.slow_queries.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "{name} {help_value}");
        }
        for (name, v) in extra {
            let _ = writeln!(out, "{name} {v}");
        }
        out
    }
}

/// What a request line asks for: `GET /healthz` is the liveness probe
/// (containers and Kubernetes); any other path gets the metrics.
fn is_health_check(request: &[u8]) -> bool {
    request.starts_with(b"GET /healthz ") || request.starts_with(b"HEAD /healthz ")
}

/// Serves `GET /healthz` and `GET /metrics` (any other path) on `listener`
/// until the process ends.
pub async fn serve_metrics<F>(listener: tokio::net::TcpListener, render: F)
where
    F: Fn() -> String + Send + Sync + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let render = std::sync::Arc::new(render);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            // One request per connection; only its request line matters.
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            // The process answering is the liveness signal: no rendering needed.
            let (body, kind) = if is_health_check(&buf[..n]) {
                ("ok\n".to_string(), "text/plain")
            } else {
                (render(), "text/plain; version=0.0.4")
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::serve_metrics;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn healthz_answers_ok_and_other_paths_get_the_metrics() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_metrics(listener, || "haoka_proxy_up 1\n".to_string()));
        let health = get(addr, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
        assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.ends_with("haoka_proxy_up 1\n"), "{metrics}");
    }
}
