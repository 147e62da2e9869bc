//! Quick routing micro-benchmark (no criterion): `cargo run --release -p
//! haoka-proxy --example route_bench`.

use std::sync::Arc;
use std::time::Instant;

use haoka_proxy::route::{NoSegments, Routed, Router};
use haoka_proxy::rules::Rules;
use mysql_common::value::Value;

fn main() {
    let rules = Arc::new(
        Rules::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/rules.toml")).expect("rules"),
    );
    let router = Router::new(rules);
    let segs = NoSegments;
    let sql = "SELECT c FROM sbtest1 WHERE id=123";
    let n = 1_000_000u32;

    let mut sink = 0usize;
    let t = Instant::now();
    for _ in 0..n {
        if let Ok(Routed::Shards(p)) = router.plan_text("sbtest", sql, &segs) {
            sink += p.targets[0].sql.len();
        }
    }
    let hit = t.elapsed().as_nanos() as f64 / n as f64;

    let ps = router
        .prepare("sbtest", "SELECT c FROM sbtest1 WHERE id=?")
        .expect("prepare");
    let params = [Value::Int(123)];
    let t = Instant::now();
    for _ in 0..n {
        if let Ok(Routed::Shards(p)) = ps.bind(&params, &segs) {
            sink += p.targets[0].sql.len();
        }
    }
    let bind = t.elapsed().as_nanos() as f64 / n as f64;

    let cold_n = 20_000u32;
    let t = Instant::now();
    for _ in 0..cold_n {
        router.clear_cache();
        if let Ok(Routed::Shards(p)) = router.plan_text("sbtest", sql, &segs) {
            sink += p.targets[0].sql.len();
        }
    }
    let cold = t.elapsed().as_nanos() as f64 / cold_n as f64;

    let range = "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 950 AND 1049 ORDER BY c";
    let t = Instant::now();
    for _ in 0..n / 4 {
        if let Ok(Routed::Shards(p)) = router.plan_text("sbtest", range, &segs) {
            sink += p.targets.len();
        }
    }
    let scatter = t.elapsed().as_nanos() as f64 / (n / 4) as f64;

    println!("cache-hit plan_text point select: {hit:.0} ns/op");
    println!("prepared bind point select:       {bind:.0} ns/op");
    println!("cold (parse + plan + bind):       {cold:.0} ns/op");
    println!("cache-hit 2-shard DISTINCT range: {scatter:.0} ns/op");
    println!("(checksum {sink})");
}
