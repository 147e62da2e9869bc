//! The relay: publishes due outbox rows with publisher confirms.
//!
//! Several relays may run at once (one per process). A relay claims the due
//! rows of a pass with row locks (`FOR UPDATE SKIP LOCKED`) in a transaction
//! that lasts while it publishes them and waits for the confirms, and records
//! each outcome in that transaction: another relay skips the rows meanwhile.
//! A relay that dies mid-pass (crash, kill, an aborted task) takes its
//! connection with it, the transaction rolls back and the rows are due again
//! at once for the other relays; whatever it did publish is published again
//! (consumers are idempotent). A claim never outlives its relay, so a relay
//! in another process cannot hold a row back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Transaction, TxOpts};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::{OutboxError, OutboxMetrics, OutboxStatus, PROVINCE_HEADER};
use crate::mq::Mq;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Provinces this relay serves; each poll is a one-shard query.
    pub provinces: Vec<String>,
    /// Only rows for these exchanges (empty = all).
    pub exchanges: Vec<String>,
    pub batch: u32,
    /// Passes in flight at once (see `run`).
    pub passes_in_flight: usize,
    pub poll_interval: Duration,
    /// The longest a relay holds the rows of one pass: their publishes and
    /// confirms must come within a third of it, or the attempt fails (and is
    /// retried with back-off) and the rows are released.
    pub lease: Duration,
    /// First retry delay after a failed publish; doubles per attempt.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// After this many attempts the row is marked failed.
    pub max_attempts: u32,
    /// Rows pending longer than this are made due by the check-back.
    pub check_back_after: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            provinces: Vec::new(),
            exchanges: Vec::new(),
            batch: 100,
            passes_in_flight: 1,
            poll_interval: Duration::from_millis(200),
            lease: Duration::from_secs(30),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_attempts: 100,
            check_back_after: Duration::from_secs(120),
        }
    }
}

/// A running relay task. `stop` ends it after its current pass; dropping it
/// aborts it (like a crash: the pass's transaction rolls back, so its rows
/// are due again at once).
pub struct Relay {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Relay {
    pub fn spawn(pool: Pool, mq: Mq, cfg: RelayConfig, metrics: OutboxMetrics) -> Relay {
        Relay::spawn_woken_by(pool, mq, cfg, metrics, Arc::new(Notify::new()))
    }

    /// As `spawn`, also woken by whoever holds `wake` (the process's
    /// consumers, after they commit).
    pub fn spawn_woken_by(
        pool: Pool,
        mq: Mq,
        cfg: RelayConfig,
        metrics: OutboxMetrics,
        wake: Arc<Notify>,
    ) -> Relay {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(pool, mq, cfg, metrics, stop_rx, wake.clone()));
        Relay {
            task: Some(task),
            stop,
            wake,
        }
    }

    /// Starts a pass now instead of at the next poll (call after committing
    /// outbox rows).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Lets the current pass finish (its publishes confirmed and marked),
    /// waiting at most `grace`, then ends the task.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                tracing::warn!("outbox relay did not stop within the grace period; aborted");
                abort.abort();
            }
        }
    }
}

/// Passes in flight at once (`passes_in_flight`, all provinces): a pass spends most of its
/// time waiting for confirms and its commit, so passes overlap instead of
/// queueing. Rows a running pass holds are skipped by the next
/// (`FOR UPDATE SKIP LOCKED`): a new pass takes only rows that became due
/// since. Passes of one province take turns from claiming to the last
/// publish (`publish_turn`), so a province's messages still go out on the
/// channel oldest first; only the waits for confirms and commits overlap.
type PassResult = (String, Result<Pass, OutboxError>);

async fn run(
    pool: Pool,
    mq: Mq,
    cfg: RelayConfig,
    metrics: OutboxMetrics,
    mut stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let cfg = Arc::new(cfg);
    let mut channel: Option<Channel> = None;
    let mut last_check_back = tokio::time::Instant::now();
    let mut passes: tokio::task::JoinSet<PassResult> = tokio::task::JoinSet::new();
    let mut turns: HashMap<String, Arc<tokio::sync::Mutex<()>>> = HashMap::new();
    let mut health = PassHealth::default();
    while !*stop.borrow() {
        if last_check_back.elapsed() >= cfg.check_back_after / 2 {
            last_check_back = tokio::time::Instant::now();
            for p in &cfg.provinces {
                match check_back(&pool, p, cfg.check_back_after).await {
                    Ok(n) => metrics.checked_back.with_label_values(&[p]).inc_by(n),
                    Err(e) => tracing::warn!(error = %e, "outbox check-back failed"),
                }
            }
        }
        let mut busy = false;
        while let Some(done) = passes.try_join_next() {
            busy |= health.record(done, &cfg, &mut channel);
        }
        let limit = cfg.passes_in_flight.max(1);
        if passes.len() < limit {
            // One scattered query finds the provinces with due rows, so an
            // idle poll costs one query per shard, not one per province.
            let due = match due_provinces(&pool, &cfg).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay poll failed");
                    Vec::new()
                }
            };
            for p in cfg.provinces.iter().filter(|p| !due.contains(p)) {
                metrics.relay_lag_ms.with_label_values(&[p]).set(0);
            }
            if !due.is_empty() {
                match open_channel(&mq, &mut channel).await {
                    Ok(ch) => {
                        for p in due.into_iter().take(limit - passes.len()) {
                            let turn = turns.entry(p.clone()).or_default().clone();
                            let (pool, ch, cfg, metrics) =
                                (pool.clone(), ch.clone(), cfg.clone(), metrics.clone());
                            passes.spawn(async move {
                                let r = relay_once(&pool, &ch, &cfg, &metrics, &p, &turn).await;
                                (p, r)
                            });
                        }
                    }
                    Err(e) => {
                        health.record(Ok(("*".to_string(), Err(e))), &cfg, &mut channel);
                    }
                }
            }
        }
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(cfg.poll_interval) => {}
                _ = wake.notified() => {}
                _ = stop.changed() => {}
                Some(done) = passes.join_next() => {
                    health.record(done, &cfg, &mut channel);
                }
            }
        }
    }
    // Stopping: the passes in flight finish (their rows are recorded).
    while let Some(done) = passes.join_next().await {
        health.record(done, &cfg, &mut channel);
    }
    if let Some(ch) = channel {
        let _ = ch.close(200, "relay stopped").await;
    }
}

/// While the broker is away every pass fails; say so once, then again only
/// every half minute, and once when passes succeed again.
#[derive(Default)]
struct PassHealth {
    failing_since: Option<tokio::time::Instant>,
    last_warned: Option<tokio::time::Instant>,
}

impl PassHealth {
    /// Takes a finished pass into account; true when its batch was full
    /// (more rows are due: poll again at once).
    fn record(
        &mut self,
        done: Result<PassResult, tokio::task::JoinError>,
        cfg: &RelayConfig,
        channel: &mut Option<Channel>,
    ) -> bool {
        let (province, pass) = match done {
            Ok(d) => d,
            // Aborted or panicked: its transaction rolled back with it.
            Err(e) => ("?".to_string(), Err(OutboxError::Invalid(e.to_string()))),
        };
        match pass {
            Ok(pass) => {
                if pass.stale_channel {
                    *channel = None;
                }
                if let Some(since) = self.failing_since.take() {
                    tracing::info!(after = ?since.elapsed(), "outbox relay passes succeed again");
                }
                pass.rows as u32 >= cfg.batch
            }
            Err(e) => {
                // The channel may be dead (broker restart): take a fresh one
                // from the reconnecting Mq next time.
                *channel = None;
                let now = tokio::time::Instant::now();
                let quiet = self
                    .last_warned
                    .is_some_and(|t| now - t < Duration::from_secs(30));
                if self.failing_since.is_none() || !quiet {
                    tracing::warn!(error = %e, %province, "outbox relay pass failed");
                    self.last_warned = Some(now);
                }
                self.failing_since.get_or_insert(now);
                false
            }
        }
    }
}

/// The configured provinces that have due rows now.
async fn due_provinces(pool: &Pool, cfg: &RelayConfig) -> Result<Vec<String>, OutboxError> {
    if cfg.provinces.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT province_code, COUNT(*) FROM outbox WHERE province_code IN ({}) \
         AND status = ? AND next_attempt_at <= NOW(3)",
        marks(cfg.provinces.len())
    );
    let mut params: Vec<mysql_async::Value> =
        cfg.provinces.iter().map(|p| p.as_str().into()).collect();
    params.push(OutboxStatus::Pending.code().into());
    push_exchanges(&mut sql, &mut params, cfg);
    sql.push_str(" GROUP BY province_code");
    let mut conn = pool.get_conn().await?;
    let rows: Vec<(String, i64)> = conn.exec(sql, params).await?;
    Ok(rows.into_iter().map(|(p, _)| p).collect())
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Restricts a query to the relay's exchanges (if it names any).
fn push_exchanges(sql: &mut String, params: &mut Vec<mysql_async::Value>, cfg: &RelayConfig) {
    if !cfg.exchanges.is_empty() {
        sql.push_str(&format!(
            " AND exchange_name IN ({})",
            marks(cfg.exchanges.len())
        ));
        params.extend(cfg.exchanges.iter().map(|e| e.as_str().into()));
    }
}

struct Row {
    message_id: String,
    exchange: String,
    routing_key: String,
    payload: String,
    attempts: u32,
    age_ms: i64,
}

/// The relay's channel in confirm mode, opened again when it died.
async fn open_channel(mq: &Mq, channel: &mut Option<Channel>) -> Result<Channel, OutboxError> {
    match channel {
        Some(ch) if ch.status().connected() => Ok(ch.clone()),
        _ => {
            let ch = mq.channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            *channel = Some(ch.clone());
            Ok(ch)
        }
    }
}

/// What one pass did.
struct Pass {
    /// Rows it claimed and published.
    rows: usize,
    /// A publish or confirm missed the deadline: open a fresh channel.
    stale_channel: bool,
}

/// One poll of one province: lock the due rows, publish them, await the
/// confirms, record the outcomes, commit. `publish_turn` is held from the
/// claim to the last publish.
async fn relay_once(
    pool: &Pool,
    ch: &Channel,
    cfg: &RelayConfig,
    metrics: &OutboxMetrics,
    province: &str,
    publish_turn: &tokio::sync::Mutex<()>,
) -> Result<Pass, OutboxError> {
    let mut conn = pool.get_conn().await?;
    let turn = publish_turn.lock().await;
    let due = due_rows(&mut conn, cfg, province).await?;
    metrics
        .relay_lag_ms
        .with_label_values(&[province])
        .set(due.first().map_or(0, |r| r.age_ms));
    if due.is_empty() {
        return Ok(Pass {
            rows: 0,
            stale_channel: false,
        });
    }
    // The claim: row locks held until the outcomes commit (see the module
    // comment). Rows another relay holds are skipped, not waited for.
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let claimed = lock_due(&mut tx, province, due).await?;
    // Rows a pass still in flight holds were skipped: only what this pass
    // took counts towards a full batch (poll again at once).
    let count = claimed.len();
    // Publishing and confirming share one deadline well inside the lease: a
    // publish stuck on the connection or a confirm that never comes fails
    // the attempt (retried with back-off) instead of holding the rows, and
    // the next pass opens a fresh channel.
    let limit = (cfg.lease / 3).max(Duration::from_secs(1));
    let deadline = Instant::now() + limit;
    let late = || format!("not published and confirmed within {limit:?}");
    let mut stale_channel = false;
    let mut in_flight = Vec::new();
    let mut sent = Vec::new();
    for row in claimed {
        let published = tokio::time::timeout_at(
            deadline,
            ch.basic_publish(
                &row.exchange,
                &row.routing_key,
                BasicPublishOptions {
                    mandatory: true, // unroutable comes back as a failure
                    ..Default::default()
                },
                row.payload.as_bytes(),
                properties(&row.message_id, province),
            ),
        )
        .await;
        let confirm = match published {
            Ok(Ok(pending)) => Ok(pending),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => {
                stale_channel = true;
                Err(late())
            }
        };
        metrics.published.with_label_values(&[&row.exchange]).inc();
        in_flight.push((row, confirm));
    }
    // The next pass of the province may claim and publish now.
    drop(turn);
    for (row, confirm) in in_flight {
        let outcome = match confirm {
            Ok(pending) => match tokio::time::timeout_at(deadline, pending).await {
                Err(_) => {
                    stale_channel = true;
                    Err(late())
                }
                Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                Ok(Ok(Confirmation::Ack(Some(ret)))) => {
                    Err(format!("unroutable: {} {}", ret.reply_code, ret.reply_text))
                }
                Ok(Ok(Confirmation::Nack(_))) => Err("nacked by the broker".to_string()),
                Ok(Ok(Confirmation::NotRequested)) => {
                    Err("channel not in confirm mode".to_string())
                }
                Ok(Err(e)) => Err(e.to_string()),
            },
            Err(reason) => Err(reason),
        };
        match outcome {
            Ok(()) => {
                metrics.confirmed.with_label_values(&[&row.exchange]).inc();
                sent.push(row.message_id);
            }
            Err(reason) => {
                metrics
                    .publish_failed
                    .with_label_values(&[&row.exchange])
                    .inc();
                tracing::warn!(message_id = %row.message_id, %reason, "outbox publish not confirmed");
                mark_failed_attempt(&mut tx, cfg, province, &row, &reason).await?;
            }
        }
    }
    mark_sent(&mut tx, province, &sent).await?;
    tx.commit().await?;
    Ok(Pass {
        rows: count,
        stale_channel,
    })
}

fn properties(message_id: &str, province: &str) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(PROVINCE_HEADER),
        AMQPValue::LongString(LongString::from(province)),
    );
    BasicProperties::default()
        .with_message_id(ShortString::from(message_id))
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2) // persistent
        .with_headers(headers)
}

async fn due_rows(
    conn: &mut mysql_async::Conn,
    cfg: &RelayConfig,
    province: &str,
) -> Result<Vec<Row>, OutboxError> {
    let mut sql = String::from(
        "SELECT message_id, exchange_name, routing_key, payload, attempts, \
         TIMESTAMPDIFF(MICROSECOND, created_at, NOW(3)) DIV 1000 AS age_ms \
         FROM outbox WHERE province_code = ? AND status = ? AND next_attempt_at <= NOW(3)",
    );
    let mut params: Vec<mysql_async::Value> =
        vec![province.into(), OutboxStatus::Pending.code().into()];
    push_exchanges(&mut sql, &mut params, cfg);
    // Oldest first; the batch size is a number from our own config.
    sql.push_str(&format!(
        " ORDER BY created_at, message_id LIMIT {}",
        cfg.batch
    ));
    let rows: Vec<(String, String, String, String, u32, i64)> = conn.exec(sql, params).await?;
    Ok(rows
        .into_iter()
        .map(
            |(message_id, exchange, routing_key, payload, attempts, age_ms)| Row {
                message_id,
                exchange,
                routing_key,
                payload,
                attempts,
                age_ms,
            },
        )
        .collect())
}

/// Locks the rows of `rows` that are still due, skipping those another
/// relay holds; returns them with their current attempt counts.
async fn lock_due(
    tx: &mut Transaction<'_>,
    province: &str,
    rows: Vec<Row>,
) -> Result<Vec<Row>, OutboxError> {
    // By primary key: only these rows are locked, no range of the table.
    let sql = format!(
        "SELECT message_id, attempts FROM outbox WHERE province_code = ? \
         AND message_id IN ({}) AND status = ? AND next_attempt_at <= NOW(3) \
         FOR UPDATE SKIP LOCKED",
        marks(rows.len())
    );
    let mut params: Vec<mysql_async::Value> = vec![province.into()];
    params.extend(rows.iter().map(|r| r.message_id.as_str().into()));
    params.push(OutboxStatus::Pending.code().into());
    let locked: HashMap<String, u32> = tx
        .exec::<(String, u32), _, _>(sql, params)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|mut r| {
            r.attempts = *locked.get(&r.message_id)?;
            Some(r)
        })
        .collect())
}

/// Records the confirmed rows of a pass, in one statement.
async fn mark_sent(
    tx: &mut Transaction<'_>,
    province: &str,
    message_ids: &[String],
) -> Result<(), OutboxError> {
    if message_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE outbox SET status = ?, attempts = attempts + 1, sent_at = NOW(3), \
         last_error = NULL WHERE province_code = ? AND message_id IN ({}) AND status = ?",
        marks(message_ids.len())
    );
    let mut params: Vec<mysql_async::Value> =
        vec![OutboxStatus::Sent.code().into(), province.into()];
    params.extend(message_ids.iter().map(|m| m.as_str().into()));
    params.push(OutboxStatus::Pending.code().into());
    tx.exec_drop(sql, params).await?;
    Ok(())
}

async fn mark_failed_attempt(
    tx: &mut Transaction<'_>,
    cfg: &RelayConfig,
    province: &str,
    row: &Row,
    reason: &str,
) -> Result<(), OutboxError> {
    let attempts = row.attempts + 1;
    let status = if attempts >= cfg.max_attempts {
        OutboxStatus::Failed
    } else {
        OutboxStatus::Pending
    };
    let delay = cfg
        .backoff
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(cfg.max_backoff);
    let reason: String = reason.chars().take(500).collect();
    tx.exec_drop(
        "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, \
         next_attempt_at = DATE_ADD(NOW(3), INTERVAL ? MICROSECOND) \
         WHERE province_code = ? AND message_id = ? AND status = ?",
        (
            status.code(),
            reason,
            delay.as_micros() as u64,
            province,
            &row.message_id,
            OutboxStatus::Pending.code(),
        ),
    )
    .await?;
    Ok(())
}

/// The check-back: rows of `province` pending longer than `older_than` and
/// not due (a long back-off, or a claim of an older relay) are made due now,
/// so the next poll re-publishes them. Returns how many rows it touched.
pub async fn check_back(
    pool: &Pool,
    province: &str,
    older_than: Duration,
) -> Result<u64, OutboxError> {
    let mut conn = pool.get_conn().await?;
    conn.exec_drop(
        "UPDATE outbox SET next_attempt_at = NOW(3) \
         WHERE province_code = ? AND status = ? AND next_attempt_at > NOW(3) \
         AND created_at < DATE_SUB(NOW(3), INTERVAL ? MICROSECOND)",
        (
            province,
            OutboxStatus::Pending.code(),
            older_than.as_micros() as u64,
        ),
    )
    .await?;
    Ok(conn.affected_rows())
}
