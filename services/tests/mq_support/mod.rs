//! A probe consumer for the outbox tests against the real proxy and RabbitMQ:
//! its own exchange, queue and consumer name (a random tag), a handler whose
//! effect is a completion outbox row written in the consumer's transaction
//! (so "how many times did it take effect" is a COUNT), and clean-up.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haoka_services::mq::Mq;
use haoka_services::outbox::{
    self, topology, ConsumerSpec, Handler, HandlerError, HandlerFuture, OutboxMessage,
    OutboxMetrics, Received,
};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PROVINCE: &str = "11";

pub struct Probe {
    pub tag: String,
    pub exchange: String,
    pub queue: String,
    pub consumer: String,
    /// The handler's effect: a completion message written in its transaction.
    pub done_exchange: String,
}

impl Probe {
    pub fn new(prefix: &str) -> Probe {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        Probe {
            exchange: format!("t.{prefix}.{tag}"),
            queue: format!("t.{prefix}.{tag}.q"),
            consumer: format!("t-{prefix}-{tag}"),
            done_exchange: format!("t.{prefix}.{tag}.done"),
            tag,
        }
    }

    pub fn spec(&self, delivery_limit: u32) -> ConsumerSpec {
        ConsumerSpec {
            name: self.consumer.clone(),
            exchange: self.exchange.clone(),
            queue: self.queue.clone(),
            binding_key: "card.#".into(),
            prefetch: 8,
            concurrency: 1,
            delivery_limit,
        }
    }

    pub fn handler(&self) -> EffectHandler {
        EffectHandler {
            done_exchange: self.done_exchange.clone(),
            poison: Arc::new(Mutex::new(None)),
            seen: Arc::new(Mutex::new(Vec::new())),
            slow_ms: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(AtomicU64::new(0)),
            max_in_flight: Arc::new(AtomicU64::new(0)),
            keyed_overlaps: Arc::new(AtomicU64::new(0)),
            keyed_running: Arc::new(Mutex::new(std::collections::HashSet::new())),
        }
    }

    pub fn message(&self, n: u32) -> OutboxMessage {
        OutboxMessage {
            province_code: PROVINCE.into(),
            exchange: self.exchange.clone(),
            routing_key: "card.moved".into(),
            payload: json!({ "n": n }),
        }
    }

    /// Writes message `n` in its own committed transaction; returns its id.
    pub async fn committed(&self, pool: &Pool, n: u32) -> String {
        let mut tx = pool.start_transaction(TxOpts::default()).await.unwrap();
        let id = outbox::write(&mut tx, &self.message(n)).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// How many times the handler's effect for `id` committed.
    pub async fn effects(&self, pool: &Pool, id: &str) -> u64 {
        let mut c = pool.get_conn().await.unwrap();
        c.exec_first(
            "SELECT COUNT(*) FROM outbox WHERE province_code = ? AND exchange_name = ? AND payload = ?",
            (PROVINCE, &self.done_exchange, json!({ "of": id }).to_string()),
        )
        .await
        .unwrap()
        .unwrap()
    }

    pub async fn status(&self, pool: &Pool, id: &str) -> Option<String> {
        let mut c = pool.get_conn().await.unwrap();
        c.exec_first(
            "SELECT status FROM outbox WHERE province_code = ? AND message_id = ?",
            (PROVINCE, id),
        )
        .await
        .unwrap()
    }

    /// Deliveries of the probe's consumer that took effect, per `metrics`.
    pub fn handled(&self, metrics: &OutboxMetrics) -> u64 {
        metrics
            .consumed
            .with_label_values(&[&self.consumer, "handled"])
            .get()
    }

    /// Removes the probe's rows, queues and exchanges. Stop its consumer
    /// first, or it re-declares the queue it loses.
    pub async fn cleanup(&self, pool: &Pool, mq: &Mq, extra_exchanges: &[&str]) {
        let mut c = pool.get_conn().await.unwrap();
        c.exec_drop(
            "DELETE FROM outbox WHERE province_code = ? AND exchange_name IN (?, ?)",
            (PROVINCE, &self.exchange, &self.done_exchange),
        )
        .await
        .unwrap();
        for x in extra_exchanges {
            c.exec_drop(
                "DELETE FROM outbox WHERE province_code = ? AND exchange_name = ?",
                (PROVINCE, x),
            )
            .await
            .unwrap();
        }
        c.exec_drop(
            "DELETE FROM processed_message WHERE province_code = ? AND consumer = ?",
            (PROVINCE, &self.consumer),
        )
        .await
        .unwrap();
        drop(c);
        let ch = mq.channel().await.unwrap();
        for q in [self.queue.clone(), topology::dead_queue(&self.queue)] {
            let _ = ch.queue_delete(&q, QueueDeleteOptions::default()).await;
        }
        for x in [self.exchange.clone(), topology::dead_exchange(&self.queue)] {
            let _ = ch
                .exchange_delete(&x, ExchangeDeleteOptions::default())
                .await;
        }
        let _ = ch.close(200, "cleaned up").await;
    }
}

#[derive(Clone)]
pub struct EffectHandler {
    done_exchange: String,
    /// A message id that fails while set.
    pub poison: Arc<Mutex<Option<String>>>,
    /// Every message id handed to the handler, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
    /// How long each message takes to handle.
    pub slow_ms: Arc<AtomicU64>,
    /// Messages being handled right now, and the most there ever were.
    pub in_flight: Arc<AtomicU64>,
    pub max_in_flight: Arc<AtomicU64>,
    /// Keyed messages (payload `key`) being handled right now, by key: a
    /// second one of a key while another runs is an ordering violation.
    pub keyed_overlaps: Arc<AtomicU64>,
    keyed_running: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Handler for EffectHandler {
    fn handle<'a>(
        &'a self,
        tx: &'a mut Transaction<'static>,
        msg: &'a Received,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(msg.message_id.clone());
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let key = msg.payload["key"].as_str().map(str::to_string);
            if let Some(k) = &key {
                if !self.keyed_running.lock().unwrap().insert(k.clone()) {
                    self.keyed_overlaps.fetch_add(1, Ordering::SeqCst);
                }
            }
            let slow = self.slow_ms.load(Ordering::SeqCst);
            if slow > 0 {
                tokio::time::sleep(Duration::from_millis(slow)).await;
            }
            if let Some(k) = &key {
                self.keyed_running.lock().unwrap().remove(k);
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
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

    fn order_key(&self, msg: &Received) -> Option<String> {
        msg.payload["key"].as_str().map(str::to_string)
    }
}

/// Polls `check` every 50 ms until it holds; panics after `secs` seconds.
pub async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// A TCP hop in front of RabbitMQ (5672) that can start swallowing what its
/// clients send: a client behind it that publishes after `swallow` believes
/// it did (its socket writes succeed) while the broker never hears of it.
pub struct Blackhole {
    /// The AMQP URL to connect through the hop.
    pub url: String,
    swallow: Arc<AtomicBool>,
    swallowed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Blackhole {
    pub async fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let swallow = Arc::new(AtomicBool::new(false));
        let swallowed = Arc::new(AtomicU64::new(0));
        let (sw, count) = (swallow.clone(), swallowed.clone());
        let task = tokio::spawn(async move {
            // Dropped with this task, the pumps end with it.
            let mut pumps = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = TcpStream::connect("127.0.0.1:5672").await else {
                    continue;
                };
                let (mut client_in, mut client_out) = client.into_split();
                let (mut broker_in, mut broker_out) = broker.into_split();
                let (sw, count) = (sw.clone(), count.clone());
                pumps.spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match client_in.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if sw.load(Ordering::SeqCst) {
                            count.fetch_add(n as u64, Ordering::SeqCst);
                        } else if broker_out.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                pumps.spawn(async move {
                    let _ = tokio::io::copy(&mut broker_in, &mut client_out).await;
                });
            }
        });
        Blackhole {
            url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            swallow,
            swallowed,
            task,
        }
    }

    /// From now on nothing the clients send reaches the broker.
    pub fn swallow(&self) {
        self.swallow.store(true, Ordering::SeqCst);
    }

    /// Bytes swallowed so far.
    pub fn swallowed(&self) -> u64 {
        self.swallowed.load(Ordering::SeqCst)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Something (a relay, a whole server) on a runtime of its own in a thread
/// of its own, with its own connections, as another process would run it.
/// `kill` drops that runtime wherever its tasks are, as the end of a test
/// drops the test's in-process server (or as SIGKILL ends a process).
pub struct Doomed {
    die: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Doomed {
    /// Runs `setup` on the new runtime and keeps what it returns alive.
    pub fn start<F, Fut, T>(setup: F) -> Doomed
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T>,
    {
        let (die, dead) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let _alive = setup().await;
                while dead.try_recv().is_err() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
        });
        Doomed {
            die,
            thread: Some(thread),
        }
    }

    pub async fn kill(mut self) {
        let _ = self.die.send(());
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
        }
    }
}
