//! Server configuration: a TOML file, then `HAOKA_*` environment overrides.
//! The centers' sections are plain data here (`number`, `card`, `report`,
//! `batch`, `portal`), so one file and one type describe a process.

pub mod batch;
pub mod card;
pub mod number;
pub mod portal;
pub mod report;

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("bad config {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("bad value for {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("seal key: {0}")]
    SealKey(String),
    #[error("bad [outbox] config: {0}")]
    Outbox(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Centers this process serves (`permission`, `number`, `card`, `report`).
    pub roles: Vec<String>,
    /// The haoka-proxy, never a shard.
    pub database_url: String,
    pub redis_url: String,
    pub amqp_url: String,
    /// 32-byte hex key that seals channel secrets at rest; or a file holding it.
    pub seal_key: Option<String>,
    pub seal_key_file: Option<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Local time zone of the operator, for login hours (China: +8).
    pub utc_offset_hours: i32,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub channel_api: ChannelApiConfig,
    pub number: number::NumberConfig,
    pub card: card::CardConfig,
    /// The half-transaction relay and consumers (`[outbox]`).
    pub outbox: crate::outbox::OutboxConfig,
    /// The operator portal's built files (`[portal]`).
    pub portal: portal::PortalConfig,
    /// The batch loader's API (`[batch]`: the upload drop).
    pub batch: batch::BatchApiConfig,
    /// The report center (`[report]`).
    pub report: report::ReportConfig,
    /// Span export (`[telemetry]`); off unless `otlp_endpoint` is set.
    pub telemetry: TelemetryConfig,
}

/// OpenTelemetry export of the process's spans: the `[telemetry]` type the
/// proxy and the batch loader share (haoka-server's `service_name` default
/// is `haoka-server`, given at `haoka_telemetry::init`).
pub use haoka_telemetry::TelemetrySettings as TelemetryConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_seconds: u64,
    /// A session ends this long after login whatever its use.
    pub absolute_seconds: u64,
    /// How long a process may reuse a session's resolved staff, permissions
    /// and scope without reading them again (0: read on every request).
    /// Permission-center changes end the reuse at once in every process.
    pub principal_cache_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Hashes (logins, password changes) running at once; more wait their turn.
    pub max_parallel_hashes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelApiConfig {
    /// Signed requests whose timestamp is further than this from now are refused.
    pub max_clock_skew_seconds: u64,
    /// Calls per minute one source address may make to /api/v1/open/*,
    /// counted before any signature check (0: no limit). Behind a load
    /// balancer every call comes from its address: raise this there.
    pub source_rate_limit_per_minute: u32,
    /// Largest body a channel call may carry, in bytes.
    pub body_limit_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("literal address"),
            roles: vec!["permission".into()],
            database_url: "mysql://haoka:haoka@127.0.0.1:3307/haoka".into(),
            redis_url: "redis://127.0.0.1:6379/".into(),
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            seal_key: None,
            seal_key_file: None,
            body_limit_bytes: 1024 * 1024,
            utc_offset_hours: 8,
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            channel_api: ChannelApiConfig::default(),
            number: Default::default(),
            card: Default::default(),
            outbox: Default::default(),
            portal: Default::default(),
            batch: Default::default(),
            report: Default::default(),
            telemetry: Default::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_seconds: 30 * 60,
            absolute_seconds: 12 * 3600,
            principal_cache_ms: 3000,
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            max_parallel_hashes: 8,
        }
    }
}

impl Default for ChannelApiConfig {
    fn default() -> Self {
        ChannelApiConfig {
            max_clock_skew_seconds: 300,
            source_rate_limit_per_minute: 120,
            body_limit_bytes: 64 * 1024,
        }
    }
}

impl Config {
    /// Reads `path` (if given), then applies the environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: p.display().to_string(),
                    source,
                })?
            }
            None => Config::default(),
        };
        if let (Some(dir), Some(base)) = (&cfg.portal.dir, path.and_then(Path::parent)) {
            cfg.portal.dir = Some(base.join(dir));
        }
        cfg.apply_env(|name| std::env::var(name).ok())?;
        cfg.outbox.validate().map_err(ConfigError::Outbox)?;
        Ok(cfg)
    }

    /// Environment overrides, e.g. `HAOKA_LISTEN=0.0.0.0:8080`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("HAOKA_LISTEN") {
            self.listen = v.parse().map_err(|e| ConfigError::Env {
                name: "HAOKA_LISTEN",
                message: format!("{e}"),
            })?;
        }
        if let Some(v) = get("HAOKA_ROLES") {
            self.roles = v.split(',').map(|s| s.trim().to_string()).collect();
        }
        if let Some(v) = get("HAOKA_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("HAOKA_REDIS_URL") {
            self.redis_url = v;
        }
        if let Some(v) = get("HAOKA_AMQP_URL") {
            self.amqp_url = v;
        }
        if let Some(v) = get("HAOKA_SEAL_KEY") {
            self.seal_key = Some(v);
        }
        if let Some(v) = get("HAOKA_SEAL_KEY_FILE") {
            self.seal_key_file = Some(v);
        }
        if let Some(v) = get("HAOKA_REPORT_DIR") {
            self.report.store_dir = v;
        }
        if let Some(v) = get("HAOKA_PORTAL_DIR") {
            self.portal.dir = Some(v.into());
        }
        if let Some(v) = get("HAOKA_OTLP_ENDPOINT") {
            self.telemetry.otlp_endpoint = Some(v);
        }
        if let Some(v) = get("HAOKA_OUTBOX_RELAY") {
            self.outbox.relay =
                toml::Value::String(v.clone())
                    .try_into()
                    .map_err(|_| ConfigError::Env {
                        name: "HAOKA_OUTBOX_RELAY",
                        message: format!("expected auto, on or off, got {v:?}"),
                    })?;
        }
        Ok(())
    }

    /// The seal key bytes: inline hex, else the file's hex content.
    pub fn seal_key_bytes(&self) -> Result<[u8; 32], ConfigError> {
        let text = match (&self.seal_key, &self.seal_key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| ConfigError::SealKey(format!("cannot read {f}: {e}")))?,
            (None, None) => {
                return Err(ConfigError::SealKey(
                    "set seal_key, seal_key_file or HAOKA_SEAL_KEY (64 hex digits)".into(),
                ))
            }
        };
        let bytes =
            hex::decode(text.trim()).map_err(|e| ConfigError::SealKey(format!("not hex: {e}")))?;
        bytes
            .try_into()
            .map_err(|_| ConfigError::SealKey("must be 32 bytes (64 hex digits)".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_the_file() {
        let mut cfg: Config =
            toml::from_str("listen = \"127.0.0.1:9000\"\n[session]\nidle_seconds = 5\n").unwrap();
        cfg.apply_env(|n| (n == "HAOKA_LISTEN").then(|| "127.0.0.1:9001".to_string()))
            .unwrap();
        assert_eq!(cfg.listen.port(), 9001);
        assert_eq!(cfg.session.idle_seconds, 5);
        assert_eq!(cfg.session.absolute_seconds, 12 * 3600);
    }

    #[test]
    fn outbox_section_and_relay_override() {
        let mut cfg: Config = toml::from_str("[outbox]\nrelay = \"off\"\nbatch = 7\n").unwrap();
        assert_eq!(cfg.outbox.relay, crate::outbox::RelayMode::Off);
        assert_eq!(cfg.outbox.batch, 7);
        cfg.apply_env(|n| (n == "HAOKA_OUTBOX_RELAY").then(|| "on".to_string()))
            .unwrap();
        assert_eq!(cfg.outbox.relay, crate::outbox::RelayMode::On);
        let bad = cfg.apply_env(|n| (n == "HAOKA_OUTBOX_RELAY").then(|| "maybe".to_string()));
        assert!(matches!(bad, Err(ConfigError::Env { .. })));
    }

    #[test]
    fn portal_dir_is_taken_from_the_config_folder() {
        let dir = std::env::temp_dir().join(format!("haoka-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(&file, "[portal]\ndir = \"../portal/dist\"\n").unwrap();
        let cfg = Config::load(Some(&file)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cfg.portal.dir, Some(dir.join("../portal/dist")));
        let mut cfg = Config::default();
        cfg.apply_env(|n| (n == "HAOKA_PORTAL_DIR").then(|| "/srv/portal".to_string()))
            .unwrap();
        assert_eq!(
            cfg.portal.dir,
            Some(std::path::PathBuf::from("/srv/portal"))
        );
    }

    #[test]
    fn telemetry_is_off_unless_an_endpoint_is_set() {
        let cfg = Config::default();
        assert_eq!(cfg.telemetry.otlp_endpoint, None);
        let mut cfg: Config =
            toml::from_str("[telemetry]\nservice_name = \"haoka-number\"\n").unwrap();
        assert_eq!(cfg.telemetry.otlp_endpoint, None);
        assert_eq!(cfg.telemetry.service_name, "haoka-number");
        cfg.apply_env(|n| (n == "HAOKA_OTLP_ENDPOINT").then(|| "http://c:4318".to_string()))
            .unwrap();
        assert_eq!(
            cfg.telemetry.otlp_endpoint.as_deref(),
            Some("http://c:4318")
        );
        assert!(toml::from_str::<Config>("[telemetry]\nendpoint = \"x\"\n").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_seal_keys_are_refused() {
        assert!(toml::from_str::<Config>("lisen = 1").is_err());
        let cfg = Config {
            seal_key: Some("abcd".into()),
            ..Config::default()
        };
        assert!(matches!(cfg.seal_key_bytes(), Err(ConfigError::SealKey(_))));
    }
}
