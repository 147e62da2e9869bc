//! Health of one backend target: a circuit breaker the pool consults before
//! every checkout. When the backend cannot be reached the breaker opens and
//! checkouts fail at once (instead of each paying a connect timeout); the
//! pool's watcher probes the backend with a growing backoff and closes the
//! breaker as soon as a connection succeeds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::error::BackendError;

/// First probe delay after a failure; doubles up to the health-check interval.
const FIRST_PROBE: Duration = Duration::from_millis(100);

/// Whether a backend takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendState {
    Up,
    Down,
}

impl BackendState {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Up => "up",
            BackendState::Down => "down",
        }
    }
}

/// What `SHOW HAOKA SHARDS` and the metrics report.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    pub state: BackendState,
    /// Time since the breaker opened (zero when up).
    pub down_for: Duration,
    /// The error that opened the breaker, or the last failed probe's.
    pub last_error: String,
    /// How often the backend went down since the start.
    pub outages: u64,
    /// Statements that hit the query timeout on this backend.
    pub query_timeouts: u64,
}

#[derive(Default)]
struct Outage {
    since: Option<Instant>,
    last_error: String,
    failed_probes: u32,
}

#[derive(Default)]
pub struct Health {
    down: AtomicBool,
    outage: Mutex<Outage>,
    outages: AtomicU64,
    query_timeouts: AtomicU64,
    /// Wakes the watcher for an immediate probe.
    pub(super) wake: Notify,
}

impl Health {
    pub fn state(&self) -> BackendState {
        if self.down.load(Ordering::Relaxed) {
            BackendState::Down
        } else {
            BackendState::Up
        }
    }

    pub fn is_down(&self) -> bool {
        self.state() == BackendState::Down
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.state();
        HealthSnapshot {
            state,
            down_for: match (state, o.since) {
                (BackendState::Down, Some(t)) => t.elapsed(),
                _ => Duration::ZERO,
            },
            last_error: o.last_error.clone(),
            outages: self.outages.load(Ordering::Relaxed),
            query_timeouts: self.query_timeouts.load(Ordering::Relaxed),
        }
    }

    /// Fails fast while the breaker is open.
    pub(super) fn check(&self, target: &str) -> Result<(), BackendError> {
        if !self.is_down() {
            return Ok(());
        }
        let s = self.snapshot();
        Err(BackendError::Down {
            target: target.to_string(),
            down_for: s.down_for,
            last_error: s.last_error,
        })
    }

    /// Opens the breaker (or records another failed probe).
    pub(super) fn mark_down(&self, target: &str, err: &BackendError) {
        let mut o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        o.last_error = err.to_string();
        if self.down.swap(true, Ordering::Relaxed) {
            o.failed_probes = o.failed_probes.saturating_add(1);
        } else {
            o.since = Some(Instant::now());
            o.failed_probes = 0;
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target, error = %err, "backend down: failing fast, probing in the background");
        }
    }

    /// Closes the breaker after a successful connection.
    pub(super) fn mark_up(&self, target: &str) {
        if self.down.swap(false, Ordering::Relaxed) {
            let o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
            let down_for = o.since.map(|t| t.elapsed()).unwrap_or_default();
            tracing::warn!(target, ?down_for, "backend up again");
        }
    }

    pub(super) fn record_timeout(&self) {
        self.query_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection broke in use: have the watcher probe now.
    pub(super) fn suspect(&self) {
        self.wake.notify_one();
    }

    /// How long the watcher waits before the next probe while down.
    pub(super) fn probe_delay(&self, cap: Duration) -> Duration {
        let failed = self
            .outage
            .lock()
            .map(|o| o.failed_probes)
            .unwrap_or_default();
        FIRST_PROBE
            .saturating_mul(1u32 << failed.min(16))
            .min(cap.max(FIRST_PROBE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> BackendError {
        BackendError::Io {
            target: "t".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        }
    }

    #[test]
    fn breaker_opens_backs_off_and_closes() {
        let h = Health::default();
        assert!(h.check("t").is_ok());
        h.mark_down("t", &refused());
        let err = h.check("t").unwrap_err().to_string();
        assert!(err.contains("is down"), "{err}");
        assert!(err.contains("refused"), "{err}");
        let cap = Duration::from_secs(1);
        assert_eq!(h.probe_delay(cap), Duration::from_millis(100));
        h.mark_down("t", &refused());
        h.mark_down("t", &refused());
        assert_eq!(h.probe_delay(cap), Duration::from_millis(400));
        for _ in 0..10 {
            h.mark_down("t", &refused());
        }
        assert_eq!(h.probe_delay(cap), cap);
        assert_eq!(h.snapshot().outages, 1);
        h.mark_up("t");
        assert!(h.check("t").is_ok());
        assert_eq!(h.snapshot().state, BackendState::Up);
        h.mark_down("t", &refused());
        assert_eq!(h.snapshot().outages, 2);
        assert_eq!(h.probe_delay(cap), Duration::from_millis(100));
    }
}
