//! The half-transaction outbox against the real proxy (127.0.0.1:3307) and
//! RabbitMQ (5672): every test uses its own exchange, queue and consumer
//! names and removes them (and its rows) at the end.

mod mq_support;

use std::time::Duration;

use haoka_services::mq::Mq;
use haoka_services::outbox::{
    self, list_dead, replay_dead, start_consumer, topology, ConsumerHandle, OutboxMetrics, Relay,
    RelayConfig, Replay,
};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use mq_support::{Blackhole, Doomed, EffectHandler, Probe, PROVINCE};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts};
use serde_json::json;

struct Env {
    pool: Pool,
    mq: Mq,
    metrics: OutboxMetrics,
    probe: Probe,
}

impl Env {
    async fn new() -> Env {
        Env {
            pool: Pool::new("mysql://haoka:haoka@127.0.0.1:3307/haoka"),
            mq: Mq::start("amqp://guest:guest@127.0.0.1:5672/%2f".into())
                .await
                .expect("RabbitMQ on 5672 (deploy/local/up.sh)"),
            metrics: OutboxMetrics::unregistered(),
            probe: Probe::new("outbox"),
        }
    }

    /// A relay of the probe's rows only (other processes' relays never
    /// touch them).
    fn relay_config(&self, tweak: impl FnOnce(&mut RelayConfig)) -> RelayConfig {
        let mut cfg = RelayConfig {
            provinces: vec![PROVINCE.into()],
            exchanges: vec![self.probe.exchange.clone()],
            poll_interval: Duration::from_millis(50),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..RelayConfig::default()
        };
        tweak(&mut cfg);
        cfg
    }

    fn relay(&self, tweak: impl FnOnce(&mut RelayConfig)) -> Relay {
        Relay::spawn(
            self.pool.clone(),
            self.mq.clone(),
            self.relay_config(tweak),
            self.metrics.clone(),
        )
    }

    async fn consume(&self, delivery_limit: u32, handler: EffectHandler) -> ConsumerHandle {
        let (pool, mq) = (self.pool.clone(), self.mq.clone());
        start_consumer(
            pool,
            mq,
            self.probe.spec(delivery_limit),
            handler,
            self.metrics.clone(),
        )
        .await
        .unwrap()
    }

    async fn begin(&self) -> Transaction<'static> {
        self.pool
            .start_transaction(TxOpts::default())
            .await
            .unwrap()
    }

    async fn write(&self, tx: &mut Transaction<'_>, n: u32) -> String {
        outbox::write(tx, &self.probe.message(n)).await.unwrap()
    }

    async fn committed(&self, n: u32) -> String {
        self.probe.committed(&self.pool, n).await
    }

    async fn effects(&self, id: &str) -> u64 {
        self.probe.effects(&self.pool, id).await
    }

    async fn status(&self, id: &str) -> Option<String> {
        self.probe.status(&self.pool, id).await
    }

    fn consumed(&self, outcome: &str) -> u64 {
        self.metrics
            .consumed
            .with_label_values(&[&self.probe.consumer, outcome])
            .get()
    }

    async fn cleanup(self) {
        self.probe.cleanup(&self.pool, &self.mq, &[]).await;
        self.mq.close().await;
        self.pool.disconnect().await.unwrap();
    }
}

async fn wait_for<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    mq_support::wait_for(what, 15, check).await
}

#[tokio::test]
async fn committed_message_takes_effect_once_even_when_delivered_twice() {
    let env = Env::new().await;
    let handler = env.probe.handler();
    let _consumer = env.consume(5, handler).await;
    let id = env.committed(1).await;
    let _relay = env.relay(|_| {});
    wait_for("the effect", || async { env.effects(&id).await == 1 }).await;
    wait_for("the row marked sent", || async {
        env.status(&id).await.as_deref() == Some("S")
    })
    .await;

    // The same message again, as a broker redelivery or a re-publish would.
    let ch = env.mq.channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("x-province"),
        AMQPValue::LongString(LongString::from(PROVINCE)),
    );
    ch.basic_publish(
        &env.probe.exchange,
        "card.moved",
        BasicPublishOptions::default(),
        json!({ "n": 1 }).to_string().as_bytes(),
        BasicProperties::default()
            .with_message_id(ShortString::from(id.as_str()))
            .with_headers(headers),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    wait_for("the duplicate to be skipped", || async {
        env.consumed("duplicate") == 1
    })
    .await;

    assert_eq!(env.effects(&id).await, 1, "the duplicate changed nothing");
    assert_eq!(env.consumed("handled"), 1);
    let ex = env.probe.exchange.clone();
    assert_eq!(env.metrics.confirmed.with_label_values(&[&ex]).get(), 1);
    env.cleanup().await;
}

#[tokio::test]
async fn rolled_back_message_is_never_published() {
    let env = Env::new().await;
    let handler = env.probe.handler();
    let seen = handler.seen.clone();
    let _consumer = env.consume(5, handler).await;
    let mut tx = env.begin().await;
    let rolled_back = env.write(&mut tx, 1).await;
    tx.rollback().await.unwrap();
    let committed = env.committed(2).await;
    let _relay = env.relay(|_| {});
    wait_for("the committed message", || async {
        env.effects(&committed).await == 1
    })
    .await;

    assert_eq!(
        env.status(&rolled_back).await,
        None,
        "no outbox row survived the rollback"
    );
    assert_eq!(*seen.lock().unwrap(), vec![committed.clone()]);
    let ex = env.probe.exchange.clone();
    assert_eq!(env.metrics.published.with_label_values(&[&ex]).get(), 1);
    env.cleanup().await;
}

#[tokio::test]
async fn failing_message_is_dead_lettered_while_later_ones_flow_and_replay_redelivers_it() {
    let env = Env::new().await;
    let handler = env.probe.handler();
    let poison = handler.poison.clone();
    let first = env.committed(1).await;
    *poison.lock().unwrap() = Some(first.clone());
    let later = [env.committed(2).await, env.committed(3).await];
    let _consumer = env.consume(2, handler).await;
    let _relay = env.relay(|_| {});
    for id in &later {
        wait_for("a later message", || async { env.effects(id).await == 1 }).await;
    }
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = list_dead(&env.mq, &env.probe.queue, 10, |_| true)
            .await
            .unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].message_id.as_deref(), Some(first.as_str()));
    assert_eq!(dead[0].routing_key, "card.moved");
    assert_eq!(env.effects(&first).await, 0);
    let name = env.probe.consumer.clone();
    assert!(env.metrics.dead_lettered.with_label_values(&[&name]).get() >= 1);
    // Listing removed nothing.
    assert_eq!(
        list_dead(&env.mq, &env.probe.queue, 10, |_| true)
            .await
            .unwrap()
            .len(),
        1
    );

    *poison.lock().unwrap() = None; // the operator fixed the cause
    assert!(matches!(
        replay_dead(&env.mq, &env.probe.queue, "no-such-message", |_| true)
            .await
            .unwrap(),
        Replay::NotFound
    ));
    assert!(matches!(
        replay_dead(&env.mq, &env.probe.queue, &first, |_| false)
            .await
            .unwrap(),
        Replay::Refused(_)
    ));
    assert!(matches!(
        replay_dead(&env.mq, &env.probe.queue, &first, |_| true)
            .await
            .unwrap(),
        Replay::Replayed(_)
    ));
    wait_for("the replayed message", || async {
        env.effects(&first).await == 1
    })
    .await;
    assert!(list_dead(&env.mq, &env.probe.queue, 10, |_| true)
        .await
        .unwrap()
        .is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn restarted_relay_republishes_unconfirmed_rows_without_loss() {
    let env = Env::new().await;
    // The exchange exists but nothing is bound yet: every publish comes back
    // unroutable, which must leave the rows pending.
    let ch = env.mq.channel().await.unwrap();
    topology::declare_topic(&ch, &env.probe.exchange)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(env.committed(n).await);
    }
    let relay = env.relay(|_| {});
    let ex = env.probe.exchange.clone();
    wait_for("unroutable failures", || async {
        env.metrics.publish_failed.with_label_values(&[&ex]).get() >= 10
    })
    .await;
    drop(relay);
    assert_eq!(env.metrics.confirmed.with_label_values(&[&ex]).get(), 0);
    for id in &ids {
        assert_eq!(
            env.status(id).await.as_deref(),
            Some("P"),
            "unroutable is not sent"
        );
    }
    // A row in a long back-off: only the check-back makes it due again.
    let mut c = env.pool.get_conn().await.unwrap();
    c.exec_drop(
        "UPDATE outbox SET next_attempt_at = DATE_ADD(NOW(3), INTERVAL 1 HOUR) \
         WHERE province_code = ? AND message_id = ?",
        (PROVINCE, &ids[0]),
    )
    .await
    .unwrap();
    drop(c);

    let handler = env.probe.handler();
    let _consumer = env.consume(5, handler).await;
    let _relay = env.relay(|cfg| cfg.check_back_after = Duration::from_secs(1));
    for id in &ids {
        wait_for("every row delivered", || async {
            env.effects(id).await == 1
        })
        .await;
        wait_for("every row sent", || async {
            env.status(id).await.as_deref() == Some("S")
        })
        .await;
    }
    // The last effect may be visible a moment before its count.
    wait_for("every delivery counted", || async {
        env.consumed("handled") >= 10
    })
    .await;
    assert_eq!(env.consumed("handled"), 10);
    assert!(
        env.metrics
            .checked_back
            .with_label_values(&[PROVINCE])
            .get()
            >= 1
    );
    env.cleanup().await;
}

/// A relay of another process that dies while it publishes (killed, or an
/// in-process server whose test ended) must not hold its rows back: the
/// other relays publish them at once, not after a lease. The dying relay
/// runs on its own runtime, database pool and broker connection (as a
/// process of its own would), its broker connection through a hop that
/// swallows its publish, so it is caught between claim and confirm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_dies_mid_publish_does_not_hold_its_rows_back() {
    let env = Env::new().await;
    let handler = env.probe.handler();
    let _consumer = env.consume(5, handler).await;
    let hole = Blackhole::start().await;
    // The default lease (30 s) of the CI stall.
    let cfg = env.relay_config(|_| {});
    assert_eq!(cfg.lease, RelayConfig::default().lease);
    let url = hole.url.clone();
    let doomed = Doomed::start(move || async move {
        let pool = Pool::new("mysql://haoka:haoka@127.0.0.1:3307/haoka");
        let mq = Mq::start(url).await.unwrap();
        Relay::spawn(pool, mq, cfg, OutboxMetrics::unregistered())
    });
    // Through the hop the relay publishes as usual (its channel is open).
    let warm = env.committed(0).await;
    wait_for("the doomed relay's first publish", || async {
        env.effects(&warm).await == 1
    })
    .await;
    hole.swallow();
    let id = env.committed(1).await;
    wait_for("the doomed relay to publish into the void", || async {
        hole.swallowed() > 0
    })
    .await;
    doomed.kill().await;
    let died = std::time::Instant::now();
    let _relay = env.relay(|_| {});
    mq_support::wait_for("the row published by the surviving relay", 10, || async {
        env.effects(&id).await == 1
    })
    .await;
    eprintln!("published {:?} after the relay died", died.elapsed());
    wait_for("the row marked sent", || async {
        env.status(&id).await.as_deref() == Some("S")
    })
    .await;
    assert_eq!(env.effects(&id).await, 1);
    drop(hole);
    env.cleanup().await;
}

/// Deliveries are applied several at a time, but the messages of one order
/// key one after another in the order they were written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_run_side_by_side_while_one_key_keeps_its_order() {
    let env = Env::new().await;
    let relay = env.relay(|_| {});
    let handler = env.probe.handler();
    handler
        .slow_ms
        .store(150, std::sync::atomic::Ordering::SeqCst);
    let mut spec = env.probe.spec(5);
    spec.concurrency = 4;
    let consumer = start_consumer(
        env.pool.clone(),
        env.mq.clone(),
        spec,
        handler.clone(),
        env.metrics.clone(),
    )
    .await
    .unwrap();
    // Six messages of one key, interleaved with six without a key.
    let mut keyed = Vec::new();
    let mut all = Vec::new();
    for n in 0..12u32 {
        let mut m = env.probe.message(n);
        if n % 2 == 0 {
            m.payload = json!({ "n": n, "key": "transfer-1" });
        }
        let mut tx = env.begin().await;
        let id = outbox::write(&mut tx, &m).await.unwrap();
        tx.commit().await.unwrap();
        if n % 2 == 0 {
            keyed.push(id.clone());
        }
        all.push(id);
    }
    for id in &all {
        let id = id.clone();
        let env = &env;
        wait_for("every message applied", move || {
            let id = id.clone();
            async move { env.effects(&id).await == 1 }
        })
        .await;
    }
    let most = handler
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(most > 1, "deliveries were applied one at a time");
    assert!(most <= 4, "more deliveries at once than lanes: {most}");
    assert_eq!(
        handler
            .keyed_overlaps
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "two messages of one key ran at the same time"
    );
    let seen = handler.seen.lock().unwrap().clone();
    let keyed_seen: Vec<&String> = seen.iter().filter(|id| keyed.contains(id)).collect();
    assert_eq!(
        keyed_seen,
        keyed.iter().collect::<Vec<_>>(),
        "one key's messages out of order"
    );
    assert_eq!(env.consumed("handled"), 12);
    consumer.stop(Duration::from_secs(5)).await;
    relay.stop(Duration::from_secs(5)).await;
    env.cleanup().await;
}
