//! Outbox settings (`[outbox]` in the server config): whether this process
//! relays and consumes, and the relay's pace.

use std::time::Duration;

use serde::Deserialize;

use super::{topology, RelayConfig};
use crate::domain::PROVINCES;

/// Whether the relay runs in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayMode {
    /// When the process serves a center that writes outbox rows.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// `auto` (default), `on` or `off`. Several relays at once are safe: a
    /// relay row-locks the rows it publishes until their outcome commits.
    pub relay: RelayMode,
    /// Provinces whose rows this process relays; empty means all 31.
    pub provinces: Vec<String>,
    /// Exchanges whose rows this process relays; empty means every exchange.
    pub exchanges: Vec<String>,
    /// Rows claimed per province and poll.
    pub batch: u32,
    /// Relay passes in flight at once (1, the default = one pass after the
    /// other). More overlap the waits for confirms and commits, but on the
    /// two-core bench machine 8 gave fewer cross-province transfers than 1
    /// (BENCHMARKS.md, "relay passes"): the extra passes' queries cost more
    /// CPU than the waits they hide.
    pub relay_passes: u32,
    /// How often an idle relay looks for due rows. A commit in this process
    /// wakes it at once (`OutboxRuntime::wake`); the poll is the safety net.
    pub poll_interval_ms: u64,
    /// The longest a relay holds the rows of one pass: their publishes must
    /// be confirmed within a third of it or the attempt fails (back-off).
    pub lease_seconds: u64,
    /// First retry delay after a failed publish; doubles up to `max_backoff_ms`.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Publishing attempts before a row is marked failed.
    pub max_attempts: u32,
    /// Rows pending longer than this are made due by the check-back sweep
    /// (which runs every half of it).
    pub check_back_after_seconds: u64,
    /// Whether registered consumers consume in this process (their queues
    /// stay addressable by the dead-letter API either way).
    pub consumers: bool,
    /// Shutdown waits this long for in-flight messages and the relay's pass.
    pub shutdown_grace_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            relay: RelayMode::Auto,
            provinces: Vec::new(),
            exchanges: vec![topology::EVENTS_EXCHANGE.to_string()],
            batch: 100,
            relay_passes: 1,
            poll_interval_ms: 500,
            lease_seconds: 30,
            backoff_ms: 250,
            max_backoff_ms: 10_000,
            max_attempts: 100,
            check_back_after_seconds: 120,
            consumers: true,
            shutdown_grace_ms: 5_000,
        }
    }
}

impl OutboxConfig {
    /// Refuses values the relay cannot work with.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = self
            .provinces
            .iter()
            .find(|p| !PROVINCES.contains(&p.as_str()))
        {
            return Err(format!("provinces: unknown province code {p:?}"));
        }
        if self.exchanges.iter().any(|e| e.is_empty() || e.len() > 64) {
            return Err("exchanges: names must be 1..=64 characters".into());
        }
        for (name, v) in [
            ("batch", self.batch as u64),
            ("relay_passes", self.relay_passes as u64),
            ("poll_interval_ms", self.poll_interval_ms),
            ("lease_seconds", self.lease_seconds),
            ("max_attempts", self.max_attempts as u64),
            ("check_back_after_seconds", self.check_back_after_seconds),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.batch > 10_000 {
            return Err("batch must be at most 10000".into());
        }
        Ok(())
    }

    pub fn relay_config(&self) -> RelayConfig {
        let provinces = if self.provinces.is_empty() {
            PROVINCES.iter().map(|p| p.to_string()).collect()
        } else {
            self.provinces.clone()
        };
        RelayConfig {
            provinces,
            exchanges: self.exchanges.clone(),
            batch: self.batch,
            passes_in_flight: self.relay_passes as usize,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            lease: Duration::from_secs(self.lease_seconds),
            backoff: Duration::from_millis(self.backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms.max(self.backoff_ms)),
            max_attempts: self.max_attempts,
            check_back_after: Duration::from_secs(self.check_back_after_seconds),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_relay_every_province_of_the_events_exchange() {
        let cfg = OutboxConfig::default();
        assert!(cfg.validate().is_ok());
        let r = cfg.relay_config();
        assert_eq!(r.provinces.len(), 31);
        assert_eq!(r.exchanges, vec!["haoka.events".to_string()]);
    }

    #[test]
    fn bad_values_are_refused() {
        let cfg: OutboxConfig = toml::from_str("relay = \"on\"\nprovinces = [\"12\"]").unwrap();
        assert_eq!(cfg.relay, RelayMode::On);
        assert!(cfg.validate().unwrap_err().contains("12"));
        let cfg: OutboxConfig = toml::from_str("batch = 0").unwrap();
        assert!(cfg.validate().is_err());
        assert!(toml::from_str::<OutboxConfig>("relay = \"sometimes\"").is_err());
        assert!(toml::from_str::<OutboxConfig>("poll = 5").is_err());
    }
}
