//! End-to-end harness: runs the real `haoka-proxy` binary on free ports in
//! front of the local stack (deploy/local/up.sh: MariaDB on 127.0.0.1:3306
//! with the haoka_* and sbtest_* shard databases) and kills it on drop.

#![allow(dead_code)]

pub mod txn;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "haoka";
pub const PASSWORD: &str = "haoka";
pub const BACKEND_PASSWORD_FILE: &str = "/var/lib/haoka/secrets/proxy-backend.password";

/// The repository root (proxy/..).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("proxy/ has a parent")
        .to_path_buf()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A running haoka-proxy child process, killed on drop.
pub struct ProxyProc {
    pub port: u16,
    pub metrics_port: u16,
    child: Child,
    dir: PathBuf,
}

impl ProxyProc {
    /// Starts the proxy with deploy/local/proxy.toml's settings.
    pub fn start() -> ProxyProc {
        Self::start_with("")
    }

    /// Starts the proxy; `extra` is appended to the config (e.g. a `[limits]` table).
    pub fn start_with(extra: &str) -> ProxyProc {
        Self::start_env(extra, &[])
    }

    /// Starts the proxy with extra environment variables (e.g. a failpoint).
    pub fn start_env(extra: &str, env: &[(&str, &str)]) -> ProxyProc {
        let mut last_err = String::new();
        // The free port can be taken between probing and binding: retry a few times.
        for _ in 0..3 {
            match Self::try_start(extra, env) {
                Ok(p) => return p,
                Err(e) => last_err = e,
            }
        }
        panic!("haoka-proxy did not start: {last_err}");
    }

    fn try_start(extra: &str, env: &[(&str, &str)]) -> Result<ProxyProc, String> {
        let port = free_port();
        let metrics_port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "haoka-e2e-{}-{}-{}",
            std::process::id(),
            port,
            metrics_port
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let rules = repo_root().join("schema/rules.toml");
        let config = format!(
            r#"rules = "{rules}"

[listen]
addr = "127.0.0.1:{port}"
metrics_addr = "127.0.0.1:{metrics_port}"

[[users]]
name = "{USER}"
password = "{PASSWORD}"
schemas = ["haoka", "sbtest"]

[backend]
user = "haoka_proxy"
password_file = "{BACKEND_PASSWORD_FILE}"
{extra}
"#,
            rules = rules.display()
        );
        let cfg_path = dir.join("proxy.toml");
        std::fs::File::create(&cfg_path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("proxy.log")).map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_haoka-proxy"))
            .arg("--config")
            .arg(&cfg_path)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn haoka-proxy: {e}"))?;
        let mut p = ProxyProc {
            port,
            metrics_port,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!("exited with {status}: {}", p.log()));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(p);
            }
            if Instant::now() > deadline {
                return Err(format!("port {port} not open after 20 s: {}", p.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The proxy's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The Prometheus text from the metrics port.
    pub fn metrics(&self) -> String {
        use std::io::Read;
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics port");
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
            .expect("metrics request");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// One sample of the metrics (first line starting with `name`), 0 if absent.
    pub fn metric(&self, name: &str) -> u64 {
        self.metrics()
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the process is still alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self, db: &str) -> String {
        format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    pub async fn pool(&self, db: &str) -> mysql_async::Pool {
        mysql_async::Pool::new(mysql_async::Opts::from_url(&self.url(db)).unwrap())
    }

    pub async fn conn(&self, db: &str) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.url(db))
            .await
            .unwrap_or_else(|e| panic!("connect to proxy /{db}: {e}\n{}", self.log()))
    }
}

impl Drop for ProxyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log();
        let _ = std::fs::remove_dir_all(&self.dir);
        // A panic inside a proxy task only shows in its log: fail the test.
        if !std::thread::panicking() && log.contains("panicked at") {
            panic!("haoka-proxy panicked during the test:\n{log}");
        }
    }
}

/// A direct connection to MariaDB on 3306 (root, no password).
pub async fn direct(db: Option<&str>) -> mysql_async::Conn {
    let url = match db {
        Some(db) => format!("mysql://root@127.0.0.1:3306/{db}"),
        None => "mysql://root@127.0.0.1:3306".to_string(),
    };
    mysql_async::Conn::from_url(url)
        .await
        .expect("MariaDB on 127.0.0.1:3306 (deploy/local/up.sh)")
}

/// range_mod shard for the sbtest tables: (id div 1000) mod 8.
pub fn sbtest_shard(id: i64) -> usize {
    (id.div_euclid(1000)).rem_euclid(8) as usize
}

/// A small deterministic PRNG (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}
