//! What pooling with health checks costs per statement, against MariaDB on
//! 127.0.0.1:3306 (root, no password): `cargo run --release -p haoka-proxy
//! --example pool_bench`.
//!
//! Baseline: `SELECT 1` on one held connection. Pooled: checkout (breaker
//! check, permit, LIFO pop, non-blocking liveness read) + `SELECT 1` +
//! return, as every proxied statement does; and the held connection with
//! the liveness read before each statement.

use std::time::{Duration, Instant};

use haoka_proxy::backend::{BackendConfig, Connection, Pool, PoolConfig};

const ROUNDS: u32 = 3;
const N: u32 = 20_000;

fn per_op(d: Duration, n: u32) -> f64 {
    d.as_nanos() as f64 / n as f64 / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cfg = BackendConfig {
        host: "127.0.0.1".into(),
        port: 3306,
        user: "root".into(),
        password: String::new(),
        database: None,
        connect_timeout: Duration::from_secs(5),
        found_rows: false,
    };
    let mut held = Connection::connect(&cfg).await.expect("MariaDB on 3306");
    let pool = Pool::new(cfg, PoolConfig::default());
    drop(pool.get().await.expect("pool"));

    let (mut direct, mut pooled, mut checked) = (f64::MAX, f64::MAX, f64::MAX);
    // Alternate the loops and keep each one's best round: the box is shared.
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..N {
            held.query_drop("SELECT 1").await.unwrap();
        }
        direct = direct.min(per_op(t.elapsed(), N));
        let t = Instant::now();
        for _ in 0..N {
            // The liveness read runs right after a response, as on checkout.
            assert!(held.looks_alive());
            held.query_drop("SELECT 1").await.unwrap();
        }
        checked = checked.min(per_op(t.elapsed(), N));
        let t = Instant::now();
        for _ in 0..N {
            let mut c = pool.get().await.unwrap();
            c.query_drop("SELECT 1").await.unwrap();
        }
        pooled = pooled.min(per_op(t.elapsed(), N));
    }

    println!("SELECT 1, held connection:             {direct:.1} µs/op (baseline)");
    println!(
        "SELECT 1, held + liveness read:        {checked:.1} µs/op (ratio {:.3})",
        checked / direct
    );
    println!(
        "SELECT 1, pool checkout + return:      {pooled:.1} µs/op (ratio {:.3})",
        pooled / direct
    );
}
