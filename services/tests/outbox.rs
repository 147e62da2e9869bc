//! The half-transaction outbox against the real proxy (127.0.0.1:3307) and
//! RabbitMQ (5672): every test uses its own exchange, queue and consumer
//! names and removes them (and its rows) at the end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use haoka_services::mq::Mq;
use haoka_services::outbox::{
    self, list_dead, replay_dead, start_consumer, topology, ConsumerHandle, ConsumerSpec, Handler,
    HandlerError, HandlerFuture, OutboxMessage, OutboxMetrics, Received, Relay, RelayConfig,
};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts};
use serde_json::json;

const PROVINCE: &str = "11";

struct Env {
    pool: Pool,
    mq: Mq,
    metrics: OutboxMetrics,
    tag: String,
    exchange: String,
    queue: String,
    /// The handler's effect: a completion message written in its transaction.
    done_exchange: String,
}

impl Env {
    async fn new() -> Env {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        Env {
            pool: Pool::new("mysql://haoka:haoka@127.0.0.1:3307/haoka"),
            mq: Mq::start("amqp://guest:guest@127.0.0.1:5672/%2f".into())
                .await
                .expect("RabbitMQ on 5672 (deploy/local/up.sh)"),
            metrics: OutboxMetrics::unregistered(),
            exchange: format!("t.outbox.{tag}"),
            queue: format!("t.outbox.{tag}.q"),
            done_exchange: format!("t.outbox.{tag}.done"),
            tag,
        }
    }

    fn spec(&self, delivery_limit: u32) -> ConsumerSpec {
        ConsumerSpec {
            name: format!("t-{}", self.tag),
            exchange: self.exchange.clone(),
            queue: self.queue.clone(),
            binding_key: "card.#".into(),
            prefetch: 8,
            delivery_limit,
        }
    }

    fn relay(&self, tweak: impl FnOnce(&mut RelayConfig)) -> Relay {
        let mut cfg = RelayConfig {
            provinces: vec![PROVINCE.into()],
            exchanges: vec![self.exchange.clone()],
            poll_interval: Duration::from_millis(50),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..RelayConfig::default()
        };
        tweak(&mut cfg);
        Relay::spawn(
            self.pool.clone(),
            self.mq.clone(),
            cfg,
            self.metrics.clone(),
        )
    }

    async fn consume(&self, delivery_limit: u32, handler: TestHandler) -> ConsumerHandle {
        let (pool, mq) = (self.pool.clone(), self.mq.clone());
        start_consumer(
            pool,
            mq,
            self.spec(delivery_limit),
            handler,
            self.metrics.clone(),
        )
        .await
        .unwrap()
    }

    fn handler(&self) -> TestHandler {
        TestHandler {
            done_exchange: self.done_exchange.clone(),
            poison: Arc::new(Mutex::new(None)),
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    async fn begin(&self) -> Transaction<'static> {
        self.pool
            .start_transaction(TxOpts::default())
            .await
            .unwrap()
    }

    async fn write(&self, tx: &mut Transaction<'_>, n: u32) -> String {
        let msg = OutboxMessage {
            province_code: PROVINCE.into(),
            exchange: self.exchange.clone(),
            routing_key: "card.moved".into(),
            payload: json!({ "n": n }),
        };
        outbox::write(tx, &msg).await.unwrap()
    }

    async fn committed(&self, n: u32) -> String {
        let mut tx = self.begin().await;
        let id = self.write(&mut tx, n).await;
        tx.commit().await.unwrap();
        id
    }

    /// How many times the handler's effect for `id` committed.
    async fn effects(&self, id: &str) -> u64 {
        let mut c = self.pool.get_conn().await.unwrap();
        c.exec_first(
            "SELECT COUNT(*) FROM outbox WHERE province_code = ? AND exchange_name = ? AND payload = ?",
            (PROVINCE, &self.done_exchange, json!({ "of": id }).to_string()),
        )
        .await
        .unwrap()
        .unwrap()
    }

    async fn status(&self, id: &str) -> Option<String> {
        let mut c = self.pool.get_conn().await.unwrap();
        c.exec_first(
            "SELECT status FROM outbox WHERE province_code = ? AND message_id = ?",
            (PROVINCE, id),
        )
        .await
        .unwrap()
    }

    fn consumed(&self, outcome: &str) -> u64 {
        self.metrics
            .consumed
            .with_label_values(&[&format!("t-{}", self.tag), outcome])
            .get()
    }

    async fn cleanup(self) {
        let mut c = self.pool.get_conn().await.unwrap();
        c.exec_drop(
            "DELETE FROM outbox WHERE province_code = ? AND exchange_name IN (?, ?)",
            (PROVINCE, &self.exchange, &self.done_exchange),
        )
        .await
        .unwrap();
        c.exec_drop(
            "DELETE FROM processed_message WHERE province_code = ? AND consumer = ?",
            (PROVINCE, format!("t-{}", self.tag)),
        )
        .await
        .unwrap();
        drop(c);
        let ch = self.mq.channel().await.unwrap();
        for q in [self.queue.clone(), topology::dead_queue(&self.queue)] {
            let _ = ch.queue_delete(&q, QueueDeleteOptions::default()).await;
        }
        for x in [self.exchange.clone(), topology::dead_exchange(&self.queue)] {
            let _ = ch
                .exchange_delete(&x, ExchangeDeleteOptions::default())
                .await;
        }
        self.mq.close().await;
        self.pool.disconnect().await.unwrap();
    }
}

#[derive(Clone)]
struct TestHandler {
    done_exchange: String,
    /// A message id that fails while set.
    poison: Arc<Mutex<Option<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Handler for TestHandler {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static>,
        msg: &'a Received,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(msg.message_id.clone());
            if self.poison.lock().unwrap().as_deref() == Some(msg.message_id.as_str()) {
                return Err(HandlerError::Rejected("poison".into()));
            }
            // The completion goes back through the outbox, in this transaction.
            let done = OutboxMessage {
                province_code: msg.province_code.clone(),
                exchange: self.done_exchange.clone(),
                routing_key: "card.done".into(),
                payload: json!({ "of": msg.message_id }),
            };
            outbox::write(tx, &done)
                .await
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            Ok(())
        })
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn committed_message_takes_effect_once_even_when_delivered_twice() {
    let env = Env::new().await;
    let handler = env.handler();
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
        &env.exchange,
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
    let ex = env.exchange.clone();
    assert_eq!(env.metrics.confirmed.with_label_values(&[&ex]).get(), 1);
    env.cleanup().await;
}

#[tokio::test]
async fn rolled_back_message_is_never_published() {
    let env = Env::new().await;
    let handler = env.handler();
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
    let ex = env.exchange.clone();
    assert_eq!(env.metrics.published.with_label_values(&[&ex]).get(), 1);
    env.cleanup().await;
}

#[tokio::test]
async fn failing_message_is_dead_lettered_while_later_ones_flow_and_replay_redelivers_it() {
    let env = Env::new().await;
    let handler = env.handler();
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
        dead = list_dead(&env.mq, &env.queue, 10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].message_id.as_deref(), Some(first.as_str()));
    assert_eq!(dead[0].routing_key, "card.moved");
    assert_eq!(env.effects(&first).await, 0);
    let name = format!("t-{}", env.tag);
    assert!(env.metrics.dead_lettered.with_label_values(&[&name]).get() >= 1);
    // Listing removed nothing.
    assert_eq!(list_dead(&env.mq, &env.queue, 10).await.unwrap().len(), 1);

    *poison.lock().unwrap() = None; // the operator fixed the cause
    assert!(!replay_dead(&env.mq, &env.queue, "no-such-message")
        .await
        .unwrap());
    assert!(replay_dead(&env.mq, &env.queue, &first).await.unwrap());
    wait_for("the replayed message", || async {
        env.effects(&first).await == 1
    })
    .await;
    assert!(list_dead(&env.mq, &env.queue, 10).await.unwrap().is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn restarted_relay_republishes_unconfirmed_rows_without_loss() {
    let env = Env::new().await;
    // The exchange exists but nothing is bound yet: every publish comes back
    // unroutable, which must leave the rows pending.
    let ch = env.mq.channel().await.unwrap();
    topology::declare_topic(&ch, &env.exchange).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(env.committed(n).await);
    }
    let relay = env.relay(|_| {});
    let ex = env.exchange.clone();
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
    // A relay that died holding a long lease on one row: only the check-back
    // makes it due again.
    let mut c = env.pool.get_conn().await.unwrap();
    c.exec_drop(
        "UPDATE outbox SET next_attempt_at = DATE_ADD(NOW(3), INTERVAL 1 HOUR) \
         WHERE province_code = ? AND message_id = ?",
        (PROVINCE, &ids[0]),
    )
    .await
    .unwrap();
    drop(c);

    let handler = env.handler();
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
