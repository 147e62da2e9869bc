//! Cache invalidation broadcast on RabbitMQ: a fanout exchange, one exclusive
//! auto-delete queue per process. Every change that takes a number on or off
//! the shelf (or changes pools or grants) is announced after its commit; each
//! process drops the named cache entries. After (re)subscribing a process
//! drops its whole cache, since it may have missed messages meanwhile.

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Consumer, ExchangeKind};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::access::GrantCache;
use super::shelf_cache::{ShelfCache, ShelfKey};
use crate::app::Inner;
use crate::mq::{Mq, MqError};

pub const EXCHANGE: &str = "haoka.cache.invalidate";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidation {
    /// The on-shelf numbers of one (province, city, pool) changed.
    Shelf(ShelfKey),
    /// The on-shelf numbers of some pool (or none) of a city changed.
    City { province: String, city: String },
    /// Pools or pool grants changed.
    Pools,
}

/// The publishing side: one channel, reopened when it breaks. Messages
/// announced while a publish is in flight go out together in the next one,
/// so a burst of holds costs RabbitMQ a few messages, not one per hold.
pub struct Bus {
    channel: Mutex<Option<Channel>>,
    pending: std::sync::Mutex<Vec<Invalidation>>,
    /// Held by the one caller currently sending what is pending.
    sending: Mutex<()>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        Bus {
            channel: Mutex::new(None),
            pending: std::sync::Mutex::default(),
            sending: Mutex::new(()),
        }
    }

    /// Best effort: a message that cannot be sent is logged; the cache TTL
    /// then bounds the staleness. Returns once the messages are sent, or
    /// handed to the caller that is sending (it sends them next).
    pub async fn publish(&self, mq: &Mq, messages: &[Invalidation]) {
        if messages.is_empty() {
            return;
        }
        self.queue(messages);
        loop {
            let Ok(_sending) = self.sending.try_lock() else {
                return;
            };
            loop {
                let batch = self.take();
                if batch.is_empty() {
                    break;
                }
                self.send(mq, &batch).await;
            }
            drop(_sending);
            // A message queued after the last take but before the lock was
            // dropped found the lock held: send it now.
            if self.pending.lock().map(|p| p.is_empty()).unwrap_or(true) {
                return;
            }
        }
    }

    fn queue(&self, messages: &[Invalidation]) {
        if let Ok(mut p) = self.pending.lock() {
            for m in messages {
                if !p.contains(m) {
                    p.push(m.clone());
                }
            }
        }
    }

    fn take(&self) -> Vec<Invalidation> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    async fn send(&self, mq: &Mq, messages: &[Invalidation]) {
        let payload = match serde_json::to_vec(messages) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "invalidation not encoded");
                return;
            }
        };
        for attempt in 0..2 {
            match self.try_publish(mq, &payload).await {
                Ok(()) => return,
                Err(e) => {
                    *self.channel.lock().await = None;
                    if attempt == 1 {
                        tracing::warn!(error = %e, "cache invalidation not published");
                    }
                }
            }
        }
    }

    async fn try_publish(&self, mq: &Mq, payload: &[u8]) -> Result<(), MqError> {
        let mut guard = self.channel.lock().await;
        let ch = match guard.as_ref() {
            Some(c) if c.status().connected() => c.clone(),
            _ => {
                let c = mq.channel().await?;
                declare_exchange(&c).await?;
                *guard = Some(c.clone());
                c
            }
        };
        drop(guard);
        ch.basic_publish(
            EXCHANGE,
            "",
            BasicPublishOptions::default(),
            payload,
            BasicProperties::default(),
        )
        .await?
        .await?;
        Ok(())
    }
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
    let q = c
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    c.queue_bind(
        q.name().as_str(),
        EXCHANGE,
        "",
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    Ok(c.basic_consume(
        q.name().as_str(),
        "",
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?)
}

fn apply(shelf: &ShelfCache, grants: &GrantCache, data: &[u8]) {
    match serde_json::from_slice::<Vec<Invalidation>>(data) {
        Ok(list) => {
            for m in list {
                match m {
                    Invalidation::Shelf(k) => shelf.invalidate(&k),
                    Invalidation::City { province, city } => {
                        shelf.invalidate_city(&province, &city)
                    }
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

/// Listens until the server is gone; resubscribes (and flushes) after every
/// connection loss.
pub fn spawn_listener(app: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = app.upgrade() else { return };
            let mq = inner.mq.clone();
            let shelf = inner.number.shelf.clone();
            let grants = inner.number.grants.clone();
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
    fn a_burst_is_sent_as_one_batch_without_repeats() {
        let bus = Bus::new();
        let city = Invalidation::City {
            province: "51".into(),
            city: "028".into(),
        };
        bus.queue(&[city.clone(), Invalidation::Pools]);
        bus.queue(std::slice::from_ref(&city));
        assert_eq!(bus.take(), vec![city, Invalidation::Pools]);
        assert!(bus.take().is_empty());
    }
}
