//! End-to-end harness: runs the real `haoka-proxy` binary on free ports in
//! front of the local stack (deploy/local/up.sh: MariaDB on 127.0.0.1:3306
//! with the haoka_* and sbtest_* shard databases) and kills it on drop.

#![allow(dead_code)]

pub mod logical;
pub mod own_tables;
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
        Self::start_with_rules(None, extra)
    }

    /// Starts the proxy with extra environment variables (e.g. a failpoint).
    pub fn start_env(extra: &str, env: &[(&str, &str)]) -> ProxyProc {
        Self::start_full(None, extra, env)
    }

    /// Starts the proxy on its own rules file (`rules`: the TOML text; None:
    /// schema/rules.toml); `extra` is appended to the config.
    pub fn start_with_rules(rules: Option<&str>, extra: &str) -> ProxyProc {
        Self::start_full(rules, extra, &[])
    }

    fn start_full(rules: Option<&str>, extra: &str, env: &[(&str, &str)]) -> ProxyProc {
        let mut last_err = String::new();
        // The free port can be taken between probing and binding: retry a few times.
        for _ in 0..3 {
            match Self::try_start(rules, extra, env) {
                Ok(p) => return p,
                Err(e) => last_err = e,
            }
        }
        panic!("haoka-proxy did not start: {last_err}");
    }

    fn try_start(
        custom_rules: Option<&str>,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Result<ProxyProc, String> {
        let port = free_port();
        let metrics_port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "haoka-e2e-{}-{}-{}",
            std::process::id(),
            port,
            metrics_port
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (rules, schemas) = match custom_rules {
            None => (
                repo_root().join("schema/rules.toml"),
                r#"schemas = ["haoka", "sbtest"]"#,
            ),
            Some(text) => {
                let path = dir.join("rules.toml");
                std::fs::write(&path, text).map_err(|e| e.to_string())?;
                (path, "")
            }
        };
        let config = format!(
            r#"rules = "{rules}"

[listen]
addr = "127.0.0.1:{port}"
metrics_addr = "127.0.0.1:{metrics_port}"

[[users]]
name = "{USER}"
password = "{PASSWORD}"
{schemas}

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
            // Ready when the port greets like a MySQL server: something
            // else on it (another test's process that drew the same free
            // port) is not this proxy, and the ports are drawn again.
            match greets(port) {
                Greeting::Mysql => return Ok(p),
                Greeting::Other => return Err(format!("port {port} is another process's")),
                Greeting::Nothing => {}
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

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
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

/// The password of the proxy's backend account (created by up.sh).
pub fn backend_password() -> String {
    std::fs::read_to_string(BACKEND_PASSWORD_FILE)
        .expect("backend password file (deploy/local/up.sh)")
        .trim_end()
        .to_string()
}

/// A private MariaDB server for one test: its own datadir and port, started
/// as a child process, killed (SIGKILL) and restarted on demand, removed on
/// drop. Root has no password; the proxy's backend account exists.
pub struct MariadbInstance {
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl MariadbInstance {
    /// Installs a datadir and starts the server; `args` are extra server
    /// options (e.g. `--log-bin`, `--server-id=2`).
    pub fn start(name: &str, args: &[&str]) -> MariadbInstance {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "haoka-mariadb-{name}-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create instance dir");
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg(format!("--user={}", current_user()))
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut m = MariadbInstance {
            port,
            dir,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("instance log");
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!("--user={}", current_user()))
            .arg("--skip-networking=0")
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=16M")
            .arg("--innodb-log-file-size=8M")
            .arg("--performance-schema=OFF")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn mariadbd");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Blocks until the server answers on its port (at most 30 s).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("mariadbd exited with {status}: {}", self.log());
            }
            let ready = Command::new("mariadb")
                .args(["-uroot", "-h127.0.0.1", "--connect-timeout=1"])
                .arg(format!("-P{}", self.port))
                .args(["-e", "SELECT 1"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd on {} not ready: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGKILL: the server vanishes as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same datadir and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs statements as root (panics on error).
    pub async fn exec(&self, sql: &[&str]) {
        use mysql_async::prelude::Queryable;
        let mut c = self.root().await;
        for s in sql {
            c.query_drop(*s)
                .await
                .unwrap_or_else(|e| panic!("{s} on instance {}: {e}", self.port));
        }
    }

    pub async fn root(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(format!("mysql://root@127.0.0.1:{}", self.port))
            .await
            .expect("connect to private mariadbd")
    }

    /// Creates the proxy's backend account with every privilege.
    pub async fn add_proxy_account(&self) {
        let pw = backend_password().replace('\'', "''");
        self.exec(&[
            &format!("CREATE USER IF NOT EXISTS 'haoka_proxy'@'127.0.0.1' IDENTIFIED BY '{pw}'"),
            "GRANT ALL PRIVILEGES ON *.* TO 'haoka_proxy'@'127.0.0.1'",
        ])
        .await;
    }
}

impl Drop for MariadbInstance {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The user tests run as (mariadbd refuses root unless told `--user=root`).
fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "root".into())
}

/// A test rules file: loopback datasources (name, port), then one schema
/// `name` whose global shard is `<name>_g` on "main", with `shards` (TOML
/// inline tables) and table `item` sharded by `id mod <shard count>`.
pub fn item_rules(datasources: &[(&str, u16)], name: &str, shards: &[String]) -> String {
    item_rules_global_on(datasources, name, "main", shards)
}

/// `item_rules` with the global shard on datasource `global`.
pub fn item_rules_global_on(
    datasources: &[(&str, u16)],
    name: &str,
    global: &str,
    shards: &[String],
) -> String {
    let mut out = String::from("version = 1\n");
    for (ds, port) in datasources {
        out.push_str(&format!(
            "[[datasources]]\nname = \"{ds}\"\nhost = \"127.0.0.1\"\nport = {port}\n"
        ));
    }
    out.push_str(&format!(
        "[[schemas]]\nname = \"{name}\"\nglobal_shard = {{ datasource = \"{global}\", database = \"{name}_g\" }}\n\
         shards = [\n  {}\n]\nglobal_tables = [\"haoka_sequence\"]\n\
         [[schemas.sharded]]\ntable = \"item\"\nshard_by = {{ column = \"id\", algorithm = \"mod\" }}\n",
        shards.join(",\n  ")
    ));
    out
}

enum Greeting {
    Mysql,
    Other,
    Nothing,
}

/// What a connection to `port` answers first: a MySQL handshake (protocol
/// version 10 after the 4-byte packet header), something else, or nothing
/// yet (not listening, or no greeting within a second).
fn greets(port: u16) -> Greeting {
    use std::io::Read;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return Greeting::Nothing;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut head = [0u8; 5];
    match s.read_exact(&mut head) {
        Ok(()) if head[4] == 10 => Greeting::Mysql,
        Ok(()) => Greeting::Other,
        Err(_) => Greeting::Nothing,
    }
}
