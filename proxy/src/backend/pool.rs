//! A connection pool per backend target.
//!
//! Checkout is cheap: a semaphore permit (max size) and a LIFO pop under a
//! short std mutex. A connection is pinged only if it sat idle longer than
//! `ping_after`; one that is broken or mid-result is dropped, not returned.
//! A reaper task closes connections idle past `idle_timeout` and refills up
//! to `min_idle`. A watcher task keeps the pool's `Health` (circuit breaker)
//! current: while the backend is down checkouts fail at once and the watcher
//! probes it with backoff; while up it pings an idle connection every
//! `health_interval`.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

use super::conn::{BackendConfig, Connection};
use super::error::{BackendError, Result};
use super::health::Health;

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub min_idle: usize,
    pub max_size: usize,
    pub checkout_timeout: Duration,
    pub idle_timeout: Duration,
    /// Ping a connection on checkout only if idle longer than this.
    pub ping_after: Duration,
    /// Longest wait for a command's response (None: no limit).
    pub query_timeout: Option<Duration>,
    /// How often the watcher checks a healthy backend, and the longest
    /// backoff between probes of a down one.
    pub health_interval: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            min_idle: 0,
            max_size: 64,
            checkout_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            ping_after: Duration::from_secs(30),
            query_timeout: None,
            health_interval: Duration::from_secs(2),
        }
    }
}

struct Inner {
    backend: BackendConfig,
    cfg: PoolConfig,
    target: String,
    idle: Mutex<VecDeque<Connection>>,
    permits: Arc<Semaphore>,
    health: Arc<Health>,
}

impl Inner {
    /// Opens a connection and updates the breaker with the outcome.
    async fn connect(&self) -> Result<Connection> {
        match Connection::connect(&self.backend).await {
            Ok(mut c) => {
                c.set_query_timeout(self.cfg.query_timeout);
                self.health.mark_up(&self.target);
                Ok(c)
            }
            Err(e) => {
                if e.is_unreachable() {
                    self.health.mark_down(&self.target, &e);
                    // Idle connections to a dead server are dead too.
                    drop(self.take_idle());
                }
                Err(e)
            }
        }
    }

    fn take_idle(&self) -> VecDeque<Connection> {
        self.idle
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }
}

/// Cloneable handle to one target's pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.inner.target)
            .finish()
    }
}

impl Pool {
    /// Creates the pool; must be called inside a tokio runtime (starts the
    /// reaper). Connections are opened lazily and by the reaper.
    pub fn new(backend: BackendConfig, cfg: PoolConfig) -> Self {
        Pool::start(backend, cfg, Arc::new(Health::default()))
    }

    /// A pool to the same server whose connections say CLIENT_FOUND_ROWS at
    /// their handshake (an UPDATE answers the rows it matched), sharing this
    /// pool's circuit breaker: a server down for one is down for both.
    pub fn found_rows_sibling(&self) -> Pool {
        let backend = BackendConfig {
            found_rows: true,
            ..self.inner.backend.clone()
        };
        Pool::start(backend, self.inner.cfg.clone(), self.inner.health.clone())
    }

    fn start(backend: BackendConfig, cfg: PoolConfig, health: Arc<Health>) -> Self {
        let inner = Arc::new(Inner {
            target: backend.target(),
            permits: Arc::new(Semaphore::new(cfg.max_size)),
            idle: Mutex::new(VecDeque::new()),
            health,
            backend,
            cfg,
        });
        tokio::spawn(reaper(Arc::downgrade(&inner)));
        tokio::spawn(watcher(Arc::downgrade(&inner), inner.health.clone()));
        Pool { inner }
    }

    /// The backend's circuit breaker.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    pub fn target(&self) -> &str {
        &self.inner.target
    }

    pub fn backend(&self) -> &BackendConfig {
        &self.inner.backend
    }

    /// Idle connections right now.
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Checked-out connections right now.
    pub fn in_use(&self) -> usize {
        self.inner.cfg.max_size - self.inner.permits.available_permits()
    }

    /// A connection, waiting up to `checkout_timeout` when all are in use.
    /// Fails at once with `BackendError::Down` while the backend is down.
    pub async fn get(&self) -> Result<PooledConn> {
        let inner = &self.inner;
        inner.health.check(&inner.target)?;
        let permit = match inner.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let wait = inner.permits.clone().acquire_owned();
                match tokio::time::timeout(inner.cfg.checkout_timeout, wait).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        return Err(BackendError::PoolTimeout {
                            target: inner.target.clone(),
                            waited: inner.cfg.checkout_timeout,
                            max: inner.cfg.max_size,
                        })
                    }
                }
            }
        };
        loop {
            let popped = inner.idle.lock().ok().and_then(|mut q| q.pop_back());
            let Some(mut conn) = popped else { break };
            // A server that died (or restarted) leaves an EOF in the
            // socket: one non-blocking read finds it, without a round trip.
            if !conn.looks_alive() {
                debug!(target = %inner.target, "dropping closed pooled connection");
                continue;
            }
            if conn.last_used.elapsed() > inner.cfg.ping_after {
                if let Err(e) = conn.ping().await {
                    debug!(target = %inner.target, error = %e, "dropping dead pooled connection");
                    continue;
                }
            }
            return Ok(PooledConn {
                conn: Some(conn),
                pool: Arc::downgrade(inner),
                _permit: permit,
            });
        }
        let conn = inner.connect().await?;
        Ok(PooledConn {
            conn: Some(conn),
            pool: Arc::downgrade(inner),
            _permit: permit,
        })
    }
}

/// Cancels the statement a backend connection runs (`KILL QUERY` of its
/// thread over a fresh connection to the same server).
#[derive(Debug, Clone)]
pub struct Canceller {
    pool: Weak<Inner>,
    thread_id: u32,
}

impl Canceller {
    /// The backend's thread id of the connection.
    pub fn thread_id(&self) -> u32 {
        self.thread_id
    }

    pub async fn cancel(&self) {
        if let Some(pool) = self.pool.upgrade() {
            kill_statement(pool, self.thread_id).await;
        }
    }
}

/// A checked-out connection; returns to the pool on drop if reusable.
pub struct PooledConn {
    conn: Option<Connection>,
    pool: Weak<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for PooledConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledConn").field(&self.conn).finish()
    }
}

impl PooledConn {
    /// The query timeout for the next statements: `timeout`, or the pool's
    /// own when None (restored when the connection goes back to the pool).
    pub fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        let default = self.pool.upgrade().and_then(|p| p.cfg.query_timeout);
        if let Some(c) = self.conn.as_mut() {
            c.set_query_timeout(timeout.or(default));
        }
    }

    /// A handle that cancels what this connection runs, from another task.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            pool: self.pool.clone(),
            thread_id: self.conn.as_ref().map_or(0, |c| c.connection_id()),
        }
    }

    /// Takes the connection out of the pool's accounting for good.
    pub fn detach(mut self) -> Connection {
        self.conn.take().expect("connection present until drop")
    }
}

impl Deref for PooledConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // A branch opened but never used: its BEGIN was never sent.
        conn.forget_begin();
        if conn.timed_out() {
            if let Some(pool) = self.pool.upgrade() {
                pool.health.record_timeout();
                tokio::spawn(kill_statement(pool, conn.connection_id()));
            }
            return;
        }
        if conn.is_broken() {
            // Broken in use: the server may have gone; probe it now.
            if let Some(pool) = self.pool.upgrade() {
                pool.health.suspect();
            }
            return;
        }
        if !conn.is_idle() || conn.dirty {
            // A busy, broken or session-dirty connection must not serve
            // another client: close it instead.
            debug!(
                target = conn.target(),
                dirty = conn.dirty,
                "not returning a busy, broken or dirty connection"
            );
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            let mut conn = conn;
            conn.set_query_timeout(pool.cfg.query_timeout);
            if let Ok(mut q) = pool.idle.lock() {
                q.push_back(conn);
            }
        }
    }
}

async fn reaper(pool: Weak<Inner>) {
    let period = match pool.upgrade() {
        Some(p) => {
            (p.cfg.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
        }
        None => return,
    };
    loop {
        let Some(p) = pool.upgrade() else { return };
        // Close connections idle too long (oldest are at the front).
        let stale: Vec<Connection> = match p.idle.lock() {
            Ok(mut q) => {
                let mut out = Vec::new();
                while q.len() > p.cfg.min_idle
                    && q.front()
                        .is_some_and(|c| c.last_used.elapsed() > p.cfg.idle_timeout)
                {
                    out.extend(q.pop_front());
                }
                out
            }
            Err(_) => Vec::new(),
        };
        drop(stale);
        // Refill to min_idle within max_size.
        let have = p.idle.lock().map(|q| q.len()).unwrap_or(0);
        for _ in have..p.cfg.min_idle {
            let Ok(permit) = p.permits.clone().try_acquire_owned() else {
                break;
            };
            match p.connect().await {
                Ok(c) => {
                    if let Ok(mut q) = p.idle.lock() {
                        q.push_back(c);
                    }
                }
                Err(e) => {
                    warn!(target = %p.target, error = %e, "pool refill failed");
                    break;
                }
            }
            drop(permit);
        }
        drop(p);
        tokio::time::sleep(period).await;
    }
}

/// Kills what a connection is running, over a fresh connection (a timed-out
/// one is closed by the caller).
async fn kill_statement(pool: Arc<Inner>, thread_id: u32) {
    let r = async {
        let mut c = Connection::connect(&pool.backend).await?;
        c.set_query_timeout(Some(pool.backend.connect_timeout));
        c.query_drop(&format!("KILL QUERY {thread_id}")).await
    }
    .await;
    match r {
        Ok(()) => debug!(target = %pool.target, thread_id, "killed a backend statement"),
        // 1094: the thread already ended.
        Err(BackendError::Server(e)) if e.code == 1094 => {}
        Err(e) => {
            warn!(target = %pool.target, thread_id, error = %e, "could not kill a backend statement")
        }
    }
}

/// Keeps the pool's health current: probes a down backend with backoff
/// (at once when a connection broke in use) and pings an idle connection
/// of a healthy one every `health_interval`.
async fn watcher(pool: Weak<Inner>, health: Arc<Health>) {
    loop {
        let Some(interval) = pool.upgrade().map(|p| p.cfg.health_interval) else {
            return;
        };
        let wait = if health.is_down() {
            health.probe_delay(interval)
        } else {
            interval
        };
        let woken = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = health.wake.notified() => true,
        };
        let Some(p) = pool.upgrade() else { return };
        if health.is_down() || woken {
            probe(&p).await;
        } else {
            ping_oldest_idle(&p).await;
        }
    }
}

/// Opens a connection; on success it joins the idle set.
async fn probe(p: &Inner) {
    if let Ok(c) = p.connect().await {
        if let Ok(mut q) = p.idle.lock() {
            q.push_back(c);
        }
    }
}

/// Pings the longest-idle connection without renewing its idle time (the
/// reaper still closes it on schedule); a failed ping leads to a probe.
async fn ping_oldest_idle(p: &Inner) {
    let Ok(_permit) = p.permits.clone().try_acquire_owned() else {
        return; // every connection is busy: the backend is clearly answering
    };
    let popped = p.idle.lock().ok().and_then(|mut q| q.pop_front());
    let Some(mut conn) = popped else { return };
    let used = conn.last_used;
    if conn.ping().await.is_ok() {
        conn.last_used = used;
        if let Ok(mut q) = p.idle.lock() {
            q.push_front(conn);
        }
    } else {
        drop(conn);
        probe(p).await;
    }
}
