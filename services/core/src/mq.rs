//! RabbitMQ: one AMQP connection per process, re-established in the background
//! whenever it drops. Readiness reports whether it is up right now.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::RwLock;

#[derive(Clone)]
pub struct Mq {
    conn: Arc<RwLock<Option<Connection>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum MqError {
    #[error("RabbitMQ is not connected")]
    NotConnected,
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
}

impl Mq {
    /// Connects once (so a bad URL fails at start-up), then keeps the
    /// connection alive with a supervisor task.
    pub async fn start(url: String) -> Result<Mq, MqError> {
        let first = connect(&url).await?;
        let mq = Mq {
            conn: Arc::new(RwLock::new(Some(first))),
        };
        let conn = mq.conn.clone();
        tokio::spawn(async move { supervise(url, conn).await });
        Ok(mq)
    }

    pub async fn connected(&self) -> bool {
        self.conn
            .read()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    /// A fresh channel on the live connection.
    pub async fn channel(&self) -> Result<Channel, MqError> {
        let guard = self.conn.read().await;
        match guard.as_ref() {
            Some(c) if c.status().connected() => Ok(c.create_channel().await?),
            _ => Err(MqError::NotConnected),
        }
    }

    pub async fn close(&self) {
        if let Some(c) = self.conn.write().await.take() {
            let _ = c.close(200, "shutdown").await;
        }
    }
}

/// Consumes a fresh exclusive, auto-deleted queue bound to `exchange` with
/// `key`: a listener that only wants what is published from now on, and
/// whose queue goes away with its channel. `no_ack`: deliveries need no ack.
pub async fn listen(
    ch: &Channel,
    exchange: &str,
    key: &str,
    no_ack: bool,
) -> Result<lapin::Consumer, lapin::Error> {
    use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let q = ch
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
    ch.queue_bind(
        q.name().as_str(),
        exchange,
        key,
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    ch.basic_consume(
        q.name().as_str(),
        "",
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

async fn connect(url: &str) -> Result<Connection, lapin::Error> {
    Connection::connect(url, ConnectionProperties::default()).await
}

/// Checks the connection every second; a dropped one is replaced, with a
/// back-off capped at 2 s (a refused connect is cheap, and consumers and the
/// relay should resume within seconds of the broker's return). Stops when `close` took the connection away.
async fn supervise(url: String, conn: Arc<RwLock<Option<Connection>>>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if Arc::strong_count(&conn) == 1 {
            return; // every Mq handle is gone
        }
        let healthy = conn.read().await.as_ref().map(|c| c.status().connected());
        match healthy {
            None => return,
            Some(true) => continue,
            Some(false) => {}
        }
        tracing::warn!("RabbitMQ connection lost; reconnecting");
        loop {
            match connect(&url).await {
                Ok(c) => {
                    *conn.write().await = Some(c);
                    tracing::info!("RabbitMQ reconnected");
                    backoff = Duration::from_millis(250);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "RabbitMQ reconnect failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}
