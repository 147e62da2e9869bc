//! Test harness: the frontend with the passthrough handler, in-process on
//! 127.0.0.1:0, in front of the local MariaDB (database `proto_test`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use haoka_proxy::backend::{BackendConfig, Connection};
use haoka_proxy::protocol::consts::{CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use haoka_proxy::protocol::passthrough::Passthrough;
use haoka_proxy::protocol::{server, FrontendConfig};
use tokio::sync::oneshot;

pub const DB: &str = "proto_test";
pub const USER: &str = "app";
pub const PASSWORD: &str = "s3cret";

pub fn backend(db: Option<&str>) -> BackendConfig {
    BackendConfig {
        host: "127.0.0.1".into(),
        port: 3306,
        user: "root".into(),
        password: String::new(),
        database: db.map(str::to_string),
        connect_timeout: Duration::from_secs(5),
        found_rows: false,
    }
}

pub struct Proxy {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Proxy {
    pub fn url(&self) -> String {
        format!(
            "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{DB}",
            self.addr.port()
        )
    }
}

pub async fn ensure_db() {
    let mut c = Connection::connect(&backend(None))
        .await
        .expect("MariaDB on 127.0.0.1:3306");
    c.query_drop(&format!("CREATE DATABASE IF NOT EXISTS {DB}"))
        .await
        .unwrap();
}

/// Starts a proxy announcing caching_sha2 (else native) with a packet limit.
pub async fn start_with(sha2: bool, max_allowed_packet: usize) -> Proxy {
    start_custom(|c| {
        c.max_allowed_packet = max_allowed_packet;
        c.auth_plugin = if sha2 {
            CACHING_SHA2_PASSWORD
        } else {
            NATIVE_PASSWORD
        };
    })
    .await
}

/// Starts a proxy with a tweaked frontend config.
pub async fn start_custom(tweak: impl FnOnce(&mut FrontendConfig)) -> Proxy {
    ensure_db().await;
    let users: HashMap<String, String> = [
        (USER.to_string(), PASSWORD.to_string()),
        ("root".to_string(), String::new()),
    ]
    .into();
    let mut cfg = FrontendConfig {
        users: Arc::new(users),
        server_version: "8.0.99-haoka".into(),
        ..Default::default()
    };
    tweak(&mut cfg);
    let cfg = Arc::new(cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let be = backend(None);
    tokio::spawn(server::run(
        listener,
        cfg,
        move || Passthrough::new(be.clone()),
        async move {
            let _ = rx.await;
        },
    ));
    Proxy { addr, _stop: tx }
}

pub async fn start() -> Proxy {
    start_with(false, 64 << 20).await
}
