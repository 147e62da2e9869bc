//! A connection pool per backend target.
//!
//! Checkout is cheap: a semaphore permit (max size) and a LIFO pop under a
//! short std mutex. A connection is pinged only if it sat idle longer than
//! `ping_after`; one that is broken or mid-result is dropped, not returned.
//! A reaper task closes connections idle past `idle_timeout` and refills up
//! to `min_idle`.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

use super::conn::{BackendConfig, Connection};
use super::error::{BackendError, Result};

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub min_idle: usize,
    pub max_size: usize,
    pub checkout_timeout: Duration,
    pub idle_timeout: Duration,
    /// Ping a connection on checkout only if idle longer than this.
    pub ping_after: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            min_idle: 0,
            max_size: 64,
            checkout_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            ping_after: Duration::from_secs(30),
        }
    }
}

struct Inner {
    backend: BackendConfig,
    cfg: PoolConfig,
    target: String,
    idle: Mutex<VecDeque<Connection>>,
    permits: Arc<Semaphore>,
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
        let inner = Arc::new(Inner {
            target: backend.target(),
            permits: Arc::new(Semaphore::new(cfg.max_size)),
            idle: Mutex::new(VecDeque::new()),
            backend,
            cfg,
        });
        tokio::spawn(reaper(Arc::downgrade(&inner)));
        Pool { inner }
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
    pub async fn get(&self) -> Result<PooledConn> {
        let inner = &self.inner;
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
        let conn = Connection::connect(&inner.backend).await?;
        Ok(PooledConn {
            conn: Some(conn),
            pool: Arc::downgrade(inner),
            _permit: permit,
        })
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
        let Some(conn) = self.conn.take() else { return };
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
            match Connection::connect(&p.backend).await {
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
