//! RabbitMQ goes away under a running server (`rabbitmqctl stop_app`) while
//! outbox rows keep being committed, then comes back (`start_app`): the relay
//! and the registered consumer recover by themselves and every message takes
//! effect exactly once. This stops the shared broker for a few seconds, so it
//! is the only test of its binary; a guard restarts the broker if it fails.

mod common;
mod mq_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::start_with;
use haoka_services::outbox::RelayMode;
use mq_support::{wait_for, Probe, PROVINCE};

fn rabbitmqctl(action: &str) {
    let out = Command::new("rabbitmqctl")
        .arg(action)
        .output()
        .expect("rabbitmqctl runs (deploy/local/up.sh installs RabbitMQ)");
    assert!(
        out.status.success(),
        "rabbitmqctl {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the broker again if the test ends while it is stopped.
struct RestartOnDrop(bool);

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if self.0 {
            let _ = Command::new("rabbitmqctl").arg("start_app").status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_and_consumer_resume_after_a_broker_restart_and_deliver_exactly_once() {
    let probe = Probe::new("mqr");
    let exchange = probe.exchange.clone();
    let srv = start_with(move |cfg| {
        cfg.outbox.relay = RelayMode::On;
        cfg.outbox.exchanges = vec![exchange];
        cfg.outbox.provinces = vec![PROVINCE.into()];
        cfg.outbox.poll_interval_ms = 100;
        cfg.outbox.backoff_ms = 100;
        cfg.outbox.max_backoff_ms = 1000;
    })
    .await;
    let pool = srv.state.db.pool();
    srv.state
        .outbox
        .register(probe.spec(50), probe.handler())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(probe.committed(&pool, n).await);
    }
    for id in &ids {
        wait_for("delivery before the restart", 20, || async {
            probe.effects(&pool, id).await == 1
        })
        .await;
    }

    let mut guard = RestartOnDrop(true);
    tokio::task::spawn_blocking(|| rabbitmqctl("stop_app"))
        .await
        .unwrap();
    let mut during = Vec::new();
    for n in 5..15 {
        during.push(probe.committed(&pool, n).await);
        srv.state.outbox.wake();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &during {
        assert_eq!(
            probe.status(&pool, id).await.as_deref(),
            Some("P"),
            "nothing is marked sent while the broker is down"
        );
    }
    tokio::task::spawn_blocking(|| rabbitmqctl("start_app"))
        .await
        .unwrap();
    guard.0 = false;
    let back = Instant::now();
    ids.extend(during);
    for id in &ids {
        wait_for("delivery after the restart", 30, || async {
            probe.effects(&pool, id).await == 1
                && probe.status(&pool, id).await.as_deref() == Some("S")
        })
        .await;
    }
    let recovered = back.elapsed();
    eprintln!("all rows delivered {recovered:?} after start_app returned");
    assert!(recovered < Duration::from_secs(15), "{recovered:?}");
    // The consumer still runs: a later row flows too.
    let later = probe.committed(&pool, 99).await;
    srv.state.outbox.wake();
    wait_for("a row after recovery", 20, || async {
        probe.effects(&pool, &later).await == 1
    })
    .await;
    ids.push(later);

    // Exactly once: redeliveries and re-publishes changed nothing twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &ids {
        assert_eq!(probe.effects(&pool, id).await, 1, "{id}");
    }
    let handled = probe.handled(&srv.state.outbox.metrics);
    assert_eq!(handled, ids.len() as u64);

    srv.state.outbox.shutdown().await;
    probe.cleanup(&pool, &srv.state.mq, &[]).await;
}
