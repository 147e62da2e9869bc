//! The proxy's own configuration file (deploy/local/proxy.toml): where it
//! listens, who may log in, how it reaches the shards. The sharding rules live
//! in a separate file that this one names.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::rules::{Rules, RulesError};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("cannot read backend password file {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Invalid(String),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    rules: PathBuf,
    #[serde(default)]
    listen: ListenConfig,
    #[serde(default)]
    users: Vec<UserConfig>,
    backend: BackendFile,
    #[serde(default)]
    pool: PoolSettings,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    replicas: ReplicaSettings,
    #[serde(default)]
    reshard: ReshardSettings,
    #[serde(default)]
    telemetry: haoka_telemetry::TelemetrySettings,
}

/// Online resharding (`ALTER HAOKA MOVE PROVINCE`, crate::reshard).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReshardSettings {
    /// Copy throttle, rows per second over all tables; 0 = no limit.
    pub rows_per_second: u64,
    /// Rows per copy chunk (and per verified checksum chunk).
    pub chunk_rows: usize,
    /// Longest a statement for a switching province is held before it
    /// fails; the switch gives up (and retries later) well before it.
    pub hold_limit_ms: u64,
    /// How often a proxy reads the rules version from the global shard to
    /// adopt moves another proxy switched.
    pub poll_interval_ms: u64,
}

impl Default for ReshardSettings {
    fn default() -> Self {
        ReshardSettings {
            rows_per_second: 20_000,
            chunk_rows: 500,
            hold_limit_ms: 2000,
            poll_interval_ms: 1000,
        }
    }
}

/// Backend pool sizing, timeouts and health checks, per shard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    pub max_size: usize,
    pub connect_timeout_ms: u64,
    pub checkout_timeout_ms: u64,
    pub idle_timeout_s: u64,
    /// Longest wait for a shard's answer to one statement; the statement is
    /// then killed on the shard and the client gets ER_STATEMENT_TIMEOUT.
    /// 0 = no limit.
    pub query_timeout_ms: u64,
    /// How often a healthy shard's pool pings an idle connection and replica
    /// lag is read; also the longest backoff between probes of a down shard.
    pub health_check_interval_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: 64,
            connect_timeout_ms: 3000,
            checkout_timeout_ms: 5000,
            idle_timeout_s: 300,
            query_timeout_ms: 0,
            health_check_interval_ms: 2000,
        }
    }
}

/// Client-facing limits and logging thresholds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_connections: usize,
    pub max_allowed_packet: usize,
    /// Statements slower than this are logged at WARN as slow queries.
    pub slow_query_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_allowed_packet: 64 << 20,
            slow_query_ms: 500,
        }
    }
}

/// Read/write split: reads outside transactions may go to a shard's
/// replicas (listed in the rules, each with its lag limit).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaSettings {
    /// After a session writes, its reads go to the primaries for this long,
    /// so it reads its own writes even from a lagging replica.
    pub primary_after_write_ms: u64,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings {
            primary_after_write_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// MySQL protocol address for clients.
    #[serde(default = "default_addr")]
    pub addr: String,
    /// HTTP address for Prometheus metrics.
    #[serde(default = "default_metrics_addr")]
    pub metrics_addr: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            addr: default_addr(),
            metrics_addr: default_metrics_addr(),
        }
    }
}

fn default_addr() -> String {
    "127.0.0.1:3307".into()
}

fn default_metrics_addr() -> String {
    "127.0.0.1:9307".into()
}

/// A client account of the proxy (not a MariaDB account).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password: String,
    /// Logical schemas this user may use; empty = all.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// May see and KILL every user's sessions (others: only their own).
    #[serde(default)]
    pub admin: bool,
}

impl std::fmt::Debug for UserConfig {
    // Never print passwords, not even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("schemas", &self.schemas)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendFile {
    user: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

/// The account the proxy uses on every shard.
#[derive(Clone)]
pub struct BackendAccount {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BackendAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendAccount")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub rules_path: PathBuf,
    pub listen: ListenConfig,
    pub users: Vec<UserConfig>,
    pub backend: BackendAccount,
    pub pool: PoolSettings,
    pub limits: Limits,
    pub replicas: ReplicaSettings,
    pub reshard: ReshardSettings,
    /// OTLP span export (`[telemetry]`), off by default.
    pub telemetry: haoka_telemetry::TelemetrySettings,
}

/// Environment variable that overrides the backend password (for Kubernetes secrets).
pub const BACKEND_PASSWORD_ENV: &str = "HAOKA_PROXY_BACKEND_PASSWORD";

impl ProxyConfig {
    /// Reads the config; relative paths inside it are relative to the file.
    pub fn load(path: impl AsRef<Path>) -> Result<ProxyConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let password = if let Ok(pw) = std::env::var(BACKEND_PASSWORD_ENV) {
            pw
        } else {
            match (&file.backend.password, &file.backend.password_file) {
                (Some(pw), None) => pw.clone(),
                (None, Some(pf)) => {
                    let pf = resolve(pf);
                    std::fs::read_to_string(&pf)
                        .map_err(|source| ConfigError::PasswordFile {
                            path: pf.display().to_string(),
                            source,
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_string()
                }
                _ => {
                    return Err(ConfigError::Invalid(
                        "[backend] needs exactly one of `password` or `password_file`".into(),
                    ))
                }
            }
        };
        Ok(ProxyConfig {
            rules_path: resolve(&file.rules),
            listen: file.listen,
            users: file.users,
            backend: BackendAccount {
                user: file.backend.user,
                password,
            },
            pool: file.pool,
            limits: file.limits,
            replicas: file.replicas,
            reshard: file.reshard,
            telemetry: file.telemetry,
        })
    }

    pub fn load_rules(&self) -> Result<Rules, ConfigError> {
        Ok(Rules::load(&self.rules_path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigFile;

    #[test]
    fn the_shipped_local_config_parses_with_its_timeouts() {
        let file: ConfigFile = toml::from_str(include_str!("../../deploy/local/proxy.toml"))
            .expect("deploy/local/proxy.toml is a valid proxy config");
        assert_eq!(file.pool.query_timeout_ms, 300_000);
        assert_eq!(file.pool.health_check_interval_ms, 2000);
        assert_eq!(file.replicas.primary_after_write_ms, 10_000);
        assert_eq!(
            file.telemetry.otlp_endpoint, None,
            "OTLP export is off by default"
        );
        let err = toml::from_str::<ConfigFile>(
            "rules = \"r.toml\"\n[backend]\nuser = \"u\"\npassword = \"p\"\n[pool]\nquery_timeout = 5\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("query_timeout"), "{err}");
    }
}
