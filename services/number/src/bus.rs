//! Cache invalidation broadcast on RabbitMQ: a fanout exchange, one exclusive
//! auto-delete queue per process. Every change that takes a number on or off
//! the shelf (or changes pools or grants) is announced after its commit: the
//! announcing process drops the named cache entries at once, and a sender task
//! tells every other process. After (re)subscribing a process drops its whole
//! cache, since it may have missed messages meanwhile.

use std::collections::HashSet;
use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Consumer, ExchangeKind};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::access::GrantCache;
use super::shelf_cache::{ShelfCache, ShelfKey};
use crate::NumberInner;
use haoka_core::domain::msisdn::Msisdn;
use haoka_core::mq::{Mq, MqError};

pub const EXCHANGE: &str = "haoka.cache.invalidate";

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidation {
    /// The on-shelf numbers of one (province, city, pool) changed.
    Shelf(ShelfKey),
    /// A number left the shelf of its city (held); its pool is not known.
    Taken {
        province: String,
        city: String,
        phone_no: String,
    },
    /// Pools or pool grants changed.
    Pools,
}

/// The announcing side. `publish` only queues: a request never waits for
/// RabbitMQ. The sender task waits `linger` after the first queued message
/// and sends everything queued by then as one message, so a burst of holds
/// costs RabbitMQ one message per linger, not one per hold.
pub struct Bus {
    queue: mpsc::UnboundedSender<Invalidation>,
    /// Taken by `spawn_sender`.
    receiver: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Invalidation>>>,
    /// This process's name on its messages (AMQP app_id): its own listener
    /// skips them, the announcing call already dropped the entries here.
    origin: String,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        let (queue, receiver) = mpsc::unbounded_channel();
        let origin = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        Bus {
            queue,
            receiver: std::sync::Mutex::new(Some(receiver)),
            origin,
        }
    }

    /// Best effort: a message that cannot be sent is logged; the cache TTL
    /// then bounds the staleness.
    pub fn publish(&self, messages: impl IntoIterator<Item = Invalidation>) {
        for m in messages {
            // Fails only once the sender task is gone (the server is stopping).
            let _ = self.queue.send(m);
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Starts the task that sends what `publish` queues; it ends when the
    /// bus is dropped, after sending what was left.
    pub fn spawn_sender(&self, mq: Mq, linger: Duration) {
        let Some(rx) = self.receiver.lock().ok().and_then(|mut r| r.take()) else {
            return; // already running
        };
        tokio::spawn(run_sender(rx, mq, linger, self.origin.clone()));
    }
}

async fn run_sender(
    mut rx: mpsc::UnboundedReceiver<Invalidation>,
    mq: Mq,
    linger: Duration,
    origin: String,
) {
    let mut channel: Option<Channel> = None;
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(linger).await;
        let mut batch = HashSet::from([first]);
        while let Ok(m) = rx.try_recv() {
            batch.insert(m);
        }
        let batch: Vec<Invalidation> = batch.into_iter().collect();
        send(&mq, &mut channel, &batch, &origin).await;
    }
}

async fn send(mq: &Mq, channel: &mut Option<Channel>, messages: &[Invalidation], origin: &str) {
    let payload = match serde_json::to_vec(messages) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "invalidation not encoded");
            return;
        }
    };
    for attempt in 0..2 {
        match try_publish(mq, channel, &payload, origin).await {
            Ok(()) => return,
            Err(e) => {
                *channel = None;
                if attempt == 1 {
                    tracing::warn!(error = %e, "cache invalidation not published");
                }
            }
        }
    }
}

async fn try_publish(
    mq: &Mq,
    channel: &mut Option<Channel>,
    payload: &[u8],
    origin: &str,
) -> Result<(), MqError> {
    let ch = match channel.as_ref() {
        Some(c) if c.status().connected() => c.clone(),
        _ => {
            let c = mq.channel().await?;
            declare_exchange(&c).await?;
            *channel = Some(c.clone());
            c
        }
    };
    ch.basic_publish(
        EXCHANGE,
        "",
        BasicPublishOptions::default(),
        payload,
        BasicProperties::default().with_app_id(origin.into()),
    )
    .await?
    .await?;
    Ok(())
}

async fn declare_exchange(c: &Channel) -> Result<(), lapin::Error> {
    c.exchange_declare(
        EXCHANGE,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

async fn subscribe(mq: &Mq) -> Result<Consumer, MqError> {
    let c = mq.channel().await?;
    declare_exchange(&c).await?;
    Ok(haoka_core::mq::listen(&c, EXCHANGE, "", true).await?)
}

fn apply(shelf: &ShelfCache, grants: &GrantCache, data: &[u8]) {
    match serde_json::from_slice::<Vec<Invalidation>>(data) {
        Ok(list) => {
            for m in list {
                match m {
                    Invalidation::Shelf(k) => shelf.invalidate(&k),
                    Invalidation::Taken {
                        province,
                        city,
                        phone_no,
                    } => match Msisdn::parse(&phone_no) {
                        Ok(no) => shelf.take(&province, &city, no),
                        Err(_) => shelf.invalidate_all(),
                    },
                    Invalidation::Pools => grants.invalidate_all(),
                }
            }
        }
        Err(e) => {
            // Unknown message: drop everything rather than serve stale data.
            tracing::warn!(error = %e, "unreadable invalidation; flushing caches");
            shelf.invalidate_all();
            grants.invalidate_all();
        }
    }
}

/// The delivery was sent by the process named `origin`.
fn from(delivery: &lapin::message::Delivery, origin: &str) -> bool {
    delivery
        .properties
        .app_id()
        .as_ref()
        .is_some_and(|a| a.as_str() == origin)
}

/// Listens until the server is gone; resubscribes (and flushes) after every
/// connection loss.
pub fn spawn_listener(app: Weak<NumberInner>) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = app.upgrade() else { return };
            let mq = inner.mq.clone();
            let shelf = inner.center.shelf.clone();
            let grants = inner.center.grants.clone();
            let origin = inner.center.bus.origin().to_string();
            drop(inner);
            let sub = subscribe(&mq).await;
            drop(mq);
            match sub {
                Ok(mut consumer) => {
                    shelf.invalidate_all();
                    grants.invalidate_all();
                    tracing::info!("cache invalidation listener subscribed");
                    while let Some(d) = consumer.next().await {
                        match d {
                            Ok(delivery) if from(&delivery, &origin) => {}
                            Ok(delivery) => apply(&shelf, &grants, &delivery.data),
                            Err(e) => {
                                tracing::warn!(error = %e, "invalidation consumer failed");
                                break;
                            }
                        }
                    }
                    // Whatever arrived before the loss is applied; what is missed is
                    // covered by the flush on the next subscribe.
                    shelf.invalidate_all();
                    grants.invalidate_all();
                }
                Err(e) => tracing::debug!(error = %e, "invalidation listener not subscribed yet"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_process_names_its_messages_differently() {
        assert_ne!(Bus::new().origin(), Bus::new().origin());
    }
}
