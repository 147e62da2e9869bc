//! The loader's TOML configuration.
//!
//! ```toml
//! server_config = "/etc/haoka/server.toml" # haoka-server's, for the DB, Redis, RabbitMQ
//! staff_no = "batch"          # the account the loader works as (its scope applies)
//! chunk_lines = 1000          # lines per transaction
//! poll_interval_ms = 2000
//! lease_seconds = 60
//! metrics_addr = "127.0.0.1:9320"
//!
//! [[sources]]
//! name = "sftp"
//! kind = "sftp"
//! host = "127.0.0.1"
//! port = 2222
//! user = "sftp"
//! key = "var/sftp/id_ed25519"
//! known_hosts = "var/sftp/known_hosts"
//! incoming = "/incoming"      # results = "/results", done = "/done", failed = "/failed"
//!
//! [[sources]]
//! name = "store"
//! kind = "local"
//! root = "var/batch-store"    # incoming/ results/ done/ failed/ under it
//!
//! [[sources]]
//! name = "s3"
//! kind = "s3"                 # any S3-compatible store
//! bucket = "feeds"
//! prefix = "haoka"            # <prefix>/incoming/ …; empty: the bucket's root
//! endpoint = "http://127.0.0.1:9310" # none: AWS
//! region = "us-east-1"
//! access_key_id = "…"
//! secret_access_key = "…"
//! allow_http = true
//!
//! [telemetry]                 # optional: OTLP span export, off by default
//! otlp_endpoint = "http://127.0.0.1:4318" # spans go to <this>/v1/traces
//! service_name = "haoka-batch" # the default
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// `service.name` of the loader's spans unless `[telemetry]` names one.
pub const SERVICE_NAME: &str = "haoka-batch";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// haoka-server's config file (connections); none: its defaults + env.
    pub server_config: Option<PathBuf>,
    pub staff_no: String,
    #[serde(default = "default_chunk")]
    pub chunk_lines: usize,
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_lease")]
    pub lease_seconds: u32,
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// This loader's name in job leases (default: host name + pid).
    pub loader_id: Option<String>,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// OTLP span export (`[telemetry]`), off by default; `service_name`
    /// defaults to `haoka-batch`. The server config's `[telemetry]` is not
    /// the loader's.
    #[serde(default)]
    pub telemetry: haoka_telemetry::TelemetrySettings,
}

fn default_chunk() -> usize {
    1000
}
fn default_poll() -> u64 {
    2000
}
fn default_lease() -> u32 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    Sftp(SftpConfig),
    Local(LocalConfig),
    S3(S3Config),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Sftp(c) => &c.name,
            SourceConfig::Local(c) => &c.name,
            SourceConfig::S3(c) => &c.name,
        }
    }
}

/// The four folders of a drop (flattened into its source: no
/// deny_unknown_fields, serde cannot have both).
#[derive(Debug, Clone, Deserialize)]
pub struct Dirs {
    #[serde(default = "d_incoming")]
    pub incoming: String,
    #[serde(default = "d_results")]
    pub results: String,
    #[serde(default = "d_done")]
    pub done: String,
    #[serde(default = "d_failed")]
    pub failed: String,
}

impl Default for Dirs {
    fn default() -> Dirs {
        Dirs {
            incoming: d_incoming(),
            results: d_results(),
            done: d_done(),
            failed: d_failed(),
        }
    }
}

fn d_incoming() -> String {
    "/incoming".into()
}
fn d_results() -> String {
    "/results".into()
}
fn d_done() -> String {
    "/done".into()
}
fn d_failed() -> String {
    "/failed".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct SftpConfig {
    pub name: String,
    pub host: String,
    #[serde(default = "d_port")]
    pub port: u16,
    pub user: String,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    #[serde(flatten)]
    pub dirs: Dirs,
}

fn d_port() -> u16 {
    22
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocalConfig {
    pub name: String,
    pub root: PathBuf,
}

/// A bucket of an S3-compatible store (AWS, MinIO, Ceph, moto) as a drop:
/// `<prefix>/incoming/` … under it.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Config {
    pub name: String,
    pub bucket: String,
    /// Folder of the bucket the drop lives under (empty: the bucket's root).
    #[serde(default)]
    pub prefix: String,
    /// e.g. `http://127.0.0.1:9310`; none = AWS itself.
    pub endpoint: Option<String>,
    #[serde(default = "d_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Whether a plain-http endpoint is allowed (loopback test stores).
    #[serde(default)]
    pub allow_http: bool,
}

fn d_region() -> String {
    "us-east-1".into()
}

impl BatchConfig {
    /// Reads the file; relative paths in it are relative to the file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<BatchConfig> {
        let text = std::fs::read_to_string(path)?;
        let mut cfg: BatchConfig = toml::from_str(&text)?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(p) = cfg.server_config.as_mut() {
            fix(p);
        }
        for s in &mut cfg.sources {
            match s {
                SourceConfig::Sftp(c) => {
                    fix(&mut c.key);
                    fix(&mut c.known_hosts);
                }
                SourceConfig::Local(c) => fix(&mut c.root),
                SourceConfig::S3(_) => {}
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_stack_config_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/batch.toml");
        let cfg = BatchConfig::load(&path).unwrap();
        assert_eq!(cfg.sources.len(), 2);
        let SourceConfig::Sftp(s) = &cfg.sources[0] else {
            panic!("the first source is the SFTP drop");
        };
        assert_eq!(s.dirs.done, "/done");
        assert!(s.key.starts_with(path.parent().unwrap()));
        assert!(matches!(&cfg.sources[1], SourceConfig::Local(l) if l.root.is_absolute()));
        assert!(cfg.server_config.unwrap().ends_with("server.toml"));
    }

    #[test]
    fn telemetry_is_optional_and_off_by_default() {
        let cfg: BatchConfig = toml::from_str("staff_no = \"b\"\n").unwrap();
        assert_eq!(cfg.telemetry.traces_endpoint(), None);
        assert_eq!(cfg.telemetry.service_name_or(SERVICE_NAME), "haoka-batch");
        let cfg: BatchConfig =
            toml::from_str("staff_no = \"b\"\n[telemetry]\notlp_endpoint = \"http://c:4318\"\n")
                .unwrap();
        assert_eq!(
            cfg.telemetry.traces_endpoint().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(cfg.telemetry.service_name_or(SERVICE_NAME), "haoka-batch");
        let err =
            toml::from_str::<BatchConfig>("staff_no = \"b\"\n[telemetry]\nendpoint = \"x\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("endpoint"), "{err}");
    }

    #[test]
    fn the_container_config_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/docker/config/batch.toml");
        let cfg = BatchConfig::load(&path).unwrap();
        assert_eq!(cfg.sources.len(), 2);
        assert!(cfg.metrics_addr.is_some());
    }
}
