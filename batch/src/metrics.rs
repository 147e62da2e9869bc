//! Prometheus metrics of the loader: files by outcome, lines by outcome,
//! rows/s of the last chunk, the age of the oldest ready file (lag), the
//! seconds of each chunk's check and write.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub files: IntCounterVec,
    pub lines: IntCounterVec,
    pub rows_per_second: Gauge,
    pub lag_seconds: Gauge,
    /// Seconds per chunk in each phase: `check` (reads only), `write` (its
    /// changes), `checkpoint` (the job row: waits for the chunk before to
    /// commit) and `commit`.
    pub chunk_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let files = IntCounterVec::new(
            Opts::new("haoka_batch_files_total", "files answered, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let lines = IntCounterVec::new(
            Opts::new("haoka_batch_lines_total", "lines applied, by outcome"),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let rows_per_second = Gauge::new(
            "haoka_batch_rows_per_second",
            "lines per second of the last chunk",
        )
        .expect("valid metric");
        let lag_seconds = Gauge::new(
            "haoka_batch_lag_seconds",
            "seconds from a file being ready to its answer (last file)",
        )
        .expect("valid metric");
        let chunk_seconds = HistogramVec::new(
            HistogramOpts::new(
                "haoka_batch_chunk_seconds",
                "seconds per chunk, by phase (check: reads only; write: its changes; checkpoint: the job row, after the chunk before commits; commit)",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["phase"],
        )
        .expect("valid metric");
        for c in [
            Box::new(files.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(lines.clone()),
            Box::new(rows_per_second.clone()),
            Box::new(lag_seconds.clone()),
            Box::new(chunk_seconds.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics {
            registry,
            files,
            lines,
            rows_per_second,
            lag_seconds,
            chunk_seconds,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Serves `GET /metrics` on `addr` in the background.
pub async fn serve(addr: std::net::SocketAddr, m: Metrics) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let m = m.clone();
            tokio::spawn(async move {
                // One tiny request per connection: any path gets the metrics.
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let body = m.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok(())
}
