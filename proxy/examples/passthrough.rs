//! Passthrough proxy for benchmarks and manual testing.
//!
//! `passthrough [LISTEN] [BACKEND_HOST:PORT]` — defaults 127.0.0.1:3399 and
//! 127.0.0.1:3306. Clients log in as root (empty password) or test/test;
//! the backend is reached as root with an empty password.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use haoka_proxy::backend::BackendConfig;
use haoka_proxy::protocol::passthrough::Passthrough;
use haoka_proxy::protocol::{server, FrontendConfig};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3399".into());
    let backend = args.next().unwrap_or_else(|| "127.0.0.1:3306".into());
    let (host, port) = backend
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("backend must be host:port"))?;
    let backend = BackendConfig {
        host: host.into(),
        port: port.parse()?,
        user: "root".into(),
        password: String::new(),
        database: None,
        connect_timeout: Duration::from_secs(5),
        found_rows: false,
    };
    let users: HashMap<String, String> = [
        ("root".to_string(), String::new()),
        ("test".to_string(), "test".to_string()),
    ]
    .into();
    let cfg = Arc::new(FrontendConfig {
        users: Arc::new(users),
        ..Default::default()
    });
    let threads = std::env::var("PROXY_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        eprintln!("passthrough listening on {}", listener.local_addr()?);
        server::run(
            listener,
            cfg,
            move || Passthrough::new(backend.clone()),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
        Ok(())
    })
}
