//! Batch test support: a private haoka-proxy that knows the batch tables
//! (the shared one on 3307 runs main's rules), a number-center state on it,
//! the real SFTP drop through the real `sftp` client, fresh depots and
//! numbers. Every name carries a random suffix: tests run in parallel.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haoka_batch::centers::Centers;
use haoka_batch::config::{BatchConfig, Dirs, SftpConfig, SourceConfig};
use haoka_batch::jobs;
use haoka_batch::loader::Loader;
use haoka_services::app::AppState;
use haoka_services::config::Config;
use haoka_services::permission::seed;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use rand::Rng;

pub const TEST_SEAL_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub fn unique(prefix: &str) -> String {
    let n: u32 = rand::thread_rng().gen();
    format!("{prefix}{:x}{n:08x}", std::process::id())
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The checkout whose up.sh made the stack (its var/ has the SFTP key).
pub fn stack_root() -> PathBuf {
    std::env::var_os("HAOKA_STACK_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(repo)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A haoka-proxy of its own, killed on drop.
pub struct Proxy {
    pub port: u16,
    child: Child,
    _dir: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

impl Proxy {
    pub fn start() -> Proxy {
        let bin = std::env::var_os("HAOKA_PROXY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| stack_root().join("target/release/haoka-proxy"));
        assert!(
            bin.exists(),
            "no proxy binary at {} (set HAOKA_PROXY_BIN)",
            bin.display()
        );
        let dir = std::env::temp_dir().join(unique("h17proxy"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let metrics = free_port();
        let base = std::fs::read_to_string(repo().join("deploy/local/proxy.toml")).unwrap();
        let rules = repo().join("schema/rules.toml");
        let cfg = base
            .replace(
                "rules = \"../../schema/rules.toml\"",
                &format!("rules = \"{}\"", rules.display()),
            )
            .replace("127.0.0.1:3307", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:9307", &format!("127.0.0.1:{metrics}"));
        std::fs::write(dir.join("proxy.toml"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("proxy.log")).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(dir.join("proxy.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the proxy starts");
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the proxy did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Proxy {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("mysql://haoka:haoka@127.0.0.1:{}/haoka", self.port)
    }
}

pub struct Env {
    pub state: AppState,
    pub staff_no: String,
    pub tag: String,
    pub proxy: Proxy,
}

pub async fn env() -> Env {
    let proxy = Proxy::start();
    let mut cfg = Config {
        seal_key: Some(TEST_SEAL_KEY.into()),
        database_url: proxy.url(),
        roles: vec!["permission".into(), "number".into()],
        ..Config::default()
    };
    cfg.password.argon2_memory_kib = 1024;
    cfg.password.argon2_iterations = 1;
    let state = AppState::connect(cfg)
        .await
        .expect("the state connects (run deploy/local/up.sh)");
    jobs::migrate::ensure(&state.db).await.unwrap();
    let staff_no = unique("bat");
    seed::create_admin(&state, &staff_no, Some("Admin-Pass-2024!".into()))
        .await
        .unwrap()
        .expect("a new staff number");
    let tag = unique("t");
    sftp(&format!("mkdir /incoming/{tag}\nmkdir /results/{tag}\n"));
    Env {
        state,
        staff_no,
        tag,
        proxy,
    }
}

impl Drop for Env {
    /// Removes the test's folders of the drop (errors ignored: `-`).
    fn drop(&mut self) {
        let t = &self.tag;
        let _ = run_sftp(&format!(
            "-rm /incoming/{t}/*\n-rmdir /incoming/{t}\n-rm /results/{t}/done/*\n\
             -rmdir /results/{t}/done\n-rm /results/{t}/failed/*\n-rmdir /results/{t}/failed\n\
             -rm /results/{t}/*\n-rmdir /results/{t}\n"
        ));
    }
}

impl Env {
    pub fn dirs(&self) -> Dirs {
        Dirs {
            incoming: format!("/incoming/{}", self.tag),
            results: format!("/results/{}", self.tag),
            done: format!("/results/{}/done", self.tag),
            failed: format!("/results/{}/failed", self.tag),
        }
    }

    pub fn batch_config(&self, chunk_lines: usize) -> BatchConfig {
        let var = stack_root().join("var/sftp");
        BatchConfig {
            server_config: None,
            staff_no: self.staff_no.clone(),
            chunk_lines,
            poll_interval_ms: 100,
            lease_seconds: 30,
            metrics_addr: None,
            loader_id: None,
            sources: vec![SourceConfig::Sftp(SftpConfig {
                name: "sftp".into(),
                host: "127.0.0.1".into(),
                port: 2222,
                user: "sftp".into(),
                key: var.join("id_ed25519"),
                known_hosts: var.join("known_hosts"),
                dirs: self.dirs(),
            })],
            telemetry: Default::default(),
        }
    }

    pub fn loader(&self, chunk_lines: usize) -> Loader {
        Loader::new(
            Centers::new(self.state.number.clone(), self.state.card.clone()),
            self.batch_config(chunk_lines),
            unique("loader"),
        )
    }

    /// Puts `data` as incoming/<tag>/<name> with the real sftp client.
    pub fn drop_file(&self, name: &str, data: &[u8]) {
        let local = std::env::temp_dir().join(unique("h17up"));
        std::fs::write(&local, data).unwrap();
        sftp(&format!(
            "put {} /incoming/{}/{name}\n",
            local.display(),
            self.tag
        ));
        let _ = std::fs::remove_file(local);
    }

    /// A file of the drop read back with the sftp client (None: missing).
    pub fn fetch(&self, path: &str) -> Option<Vec<u8>> {
        let local = std::env::temp_dir().join(unique("h17down"));
        let ok = try_sftp(&format!("get {path} {}\n", local.display()));
        let data = ok.then(|| std::fs::read(&local).ok()).flatten();
        let _ = std::fs::remove_file(local);
        data
    }

    /// Polls until `name`'s summary is in results/ (at most 30 polls).
    pub async fn run_until_answered(&self, loader: &mut Loader, base: &str) -> serde_json::Value {
        let path = format!("/results/{}/{base}.summary.json", self.tag);
        for _ in 0..30 {
            loader.poll_once().await;
            if let Some(s) = self.fetch(&path) {
                if self
                    .fetch(&format!("/incoming/{}/{base}.csv", self.tag))
                    .is_none()
                    && self
                        .fetch(&format!("/incoming/{}/{base}.xlsx", self.tag))
                        .is_none()
                {
                    return serde_json::from_slice(&s).unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{base} was not answered");
    }

    /// A fresh active depot in the first city of `province`.
    pub async fn depot(&self, province: &str) -> (i64, String) {
        let segs = self
            .state
            .number
            .center
            .segments(&self.state.db)
            .await
            .unwrap();
        let city = segs.cities(province)[0].clone();
        let id: i64 = rand::thread_rng().gen_range(9_000_000_000..9_900_000_000);
        let mut c = self.state.db.conn().await.unwrap();
        c.exec_drop(
            "INSERT INTO depot (depot_id, province_code, city_code, name) VALUES (?, ?, ?, ?)",
            (id, province, &city, unique("depot")),
        )
        .await
        .unwrap();
        (id, city)
    }

    /// Takes `numbers` into stock through the number center, as the loader's
    /// account.
    pub async fn take_in(&self, numbers: &[String], depot: i64) {
        use haoka_services::auth::actor::Actor;
        use haoka_services::number::intake::{self, IntakeRequest};
        let me = haoka_services::auth::rbac::principal_of(&self.state, &self.staff_no, "test")
            .await
            .unwrap();
        let req = IntakeRequest {
            numbers: Some(numbers.to_vec()),
            range: None,
            depot_id: depot,
            pool_id: None,
        };
        let r = intake::run(&self.state.number, &Actor::Staff(me), &req)
            .await
            .unwrap();
        assert_eq!(r.accepted, numbers.len(), "{:?}", r.rejected);
    }

    /// `n` consecutive numbers in an unused segment of the city.
    pub async fn fresh_numbers(&self, province: &str, city: &str, n: usize) -> Vec<String> {
        let segs = self
            .state
            .number
            .center
            .segments(&self.state.db)
            .await
            .unwrap();
        let all = segs.segments_of(province, city);
        loop {
            let seg =
                all[all.len() / 2 + rand::thread_rng().gen_range(0..all.len() - all.len() / 2)];
            let start = rand::thread_rng().gen_range(0..10_000 - n);
            let mut c = self.state.db.conn().await.unwrap();
            let used: Option<i64> = c
                .exec_first(
                    "SELECT COUNT(*) FROM phone_number WHERE province_code = ? AND segment = ?",
                    (province, seg.to_string()),
                )
                .await
                .unwrap();
            if used == Some(0) {
                return (start..start + n).map(|i| format!("{seg}{i:04}")).collect();
            }
        }
    }

    /// `k` distinct segments of the province (any city, upper halves) with
    /// no number in stock.
    pub async fn fresh_segments(&self, province: &str, k: usize) -> Vec<u32> {
        let segs = self
            .state
            .number
            .center
            .segments(&self.state.db)
            .await
            .unwrap();
        let mut all: Vec<u32> = Vec::new();
        for city in segs.cities(province) {
            let s = segs.segments_of(province, &city);
            all.extend(&s[s.len() / 2..]);
        }
        assert!(
            all.len() >= k * 2,
            "province {province} has {} segments",
            all.len()
        );
        let mut out = Vec::new();
        let mut c = self.state.db.conn().await.unwrap();
        while out.len() < k {
            let seg = all[rand::thread_rng().gen_range(0..all.len())];
            let used: Option<i64> = c
                .exec_first(
                    "SELECT COUNT(*) FROM phone_number WHERE province_code = ? AND segment = ?",
                    (province, seg.to_string()),
                )
                .await
                .unwrap();
            if used == Some(0) && !out.contains(&seg) {
                out.push(seg);
            }
        }
        out
    }

    pub async fn count(&self, sql: &str, numbers: &[String]) -> i64 {
        let marks = vec!["?"; numbers.len()].join(", ");
        let mut c = self.state.db.conn().await.unwrap();
        let params: Vec<Value> = numbers.iter().map(|n| Value::from(n.as_str())).collect();
        c.exec_first(sql.replace("{in}", &marks), params)
            .await
            .unwrap()
            .unwrap_or(0)
    }

    /// The numbers the `number.taken_in` events of `depot` list (each as
    /// often as listed), sorted.
    pub async fn taken_in(&self, depot: i64) -> Vec<String> {
        let mut c = self.state.db.conn().await.unwrap();
        let rows: Vec<String> = c
            .exec(
                "SELECT payload FROM outbox WHERE routing_key = 'number.taken_in' AND payload LIKE ?",
                (format!("%\"depot_id\":{depot}%"),),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        for p in rows {
            let v: serde_json::Value = serde_json::from_str(&p).unwrap();
            if v["depot_id"] == depot {
                for n in v["phone_nos"].as_array().unwrap() {
                    out.push(n.as_str().unwrap().to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// A loader config file for haoka-batch processes on this test's
    /// folders of the drop (removed with the returned guard's path).
    pub fn config_file(&self, chunk_lines: usize, lease_seconds: u32) -> PathBuf {
        let d = self.dirs();
        let var = stack_root().join("var/sftp");
        let config = std::env::temp_dir()
            .join(unique("h17batch"))
            .with_extension("toml");
        std::fs::write(
            &config,
            format!(
                "staff_no = \"{}\"\nchunk_lines = {chunk_lines}\npoll_interval_ms = 200\n\
                 lease_seconds = {lease_seconds}\n\n\
                 [[sources]]\nkind = \"sftp\"\nname = \"sftp\"\nhost = \"127.0.0.1\"\nport = 2222\n\
                 user = \"sftp\"\nkey = \"{}\"\nknown_hosts = \"{}\"\nincoming = \"{}\"\n\
                 results = \"{}\"\ndone = \"{}\"\nfailed = \"{}\"\n",
                self.staff_no,
                var.join("id_ed25519").display(),
                var.join("known_hosts").display(),
                d.incoming,
                d.results,
                d.done,
                d.failed
            ),
        )
        .unwrap();
        config
    }

    /// A haoka-batch process of this build on `config`, its database
    /// through `db_url`.
    pub fn spawn_loader(&self, config: &Path, db_url: &str) -> Child {
        self.spawn_loader_to(config, db_url, Stdio::null())
    }

    /// `spawn_loader` with its log (warnings; tracing writes to stdout) to
    /// `log`.
    pub fn spawn_loader_to(&self, config: &Path, db_url: &str, log: Stdio) -> Child {
        Command::new(env!("CARGO_BIN_EXE_haoka-batch"))
            .arg("--config")
            .arg(config)
            .env("HAOKA_DATABASE_URL", db_url)
            .env("HAOKA_SEAL_KEY", TEST_SEAL_KEY)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(log)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("haoka-batch starts")
    }

    /// Waits for `base`'s summary in results/ (at most `secs`).
    pub async fn wait_summary(&self, base: &str, secs: u64) -> serde_json::Value {
        let path = format!("/results/{}/{base}.summary.json", self.tag);
        let t = Instant::now();
        loop {
            if let Some(s) = self.fetch(&path) {
                return serde_json::from_slice(&s).unwrap();
            }
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "{base} was not answered within {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Names of the files in a folder of the drop.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let out = sftp_command()
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(format!("ls -1 {dir}\n").as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("sftp>"))
            .filter_map(|l| l.trim().rsplit('/').next().map(str::to_string))
            .filter(|l| !l.is_empty())
            .collect()
    }

    pub async fn cleanup(&self, numbers: &[String], depot: i64) {
        let mut c = self.state.db.conn().await.unwrap();
        // Found by a plain read, deleted by key on their shard: a DELETE
        // ... LIKE would lock every shard's outbox and wait on the relay.
        let events: Vec<(String, String)> = c
            .exec(
                "SELECT province_code, message_id FROM outbox \
                 WHERE routing_key = 'number.taken_in' AND payload LIKE ?",
                (format!("%\"depot_id\":{depot}%"),),
            )
            .await
            .unwrap();
        for (province, id) in events {
            c.exec_drop(
                "DELETE FROM outbox WHERE province_code = ? AND message_id = ?",
                (province, id),
            )
            .await
            .unwrap();
        }
        for chunk in numbers.chunks(200) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let params: Vec<Value> = chunk.iter().map(|n| Value::from(n.as_str())).collect();
            for table in ["phone_number", "number_history"] {
                c.exec_drop(
                    format!("DELETE FROM {table} WHERE phone_no IN ({marks})"),
                    params.clone(),
                )
                .await
                .unwrap();
            }
        }
        c.exec_drop("DELETE FROM depot WHERE depot_id = ?", (depot,))
            .await
            .unwrap();
    }
}

fn sftp_command() -> Command {
    let var = stack_root().join("var/sftp");
    let mut c = Command::new("sftp");
    c.arg("-b")
        .arg("-")
        .arg("-q")
        .arg("-i")
        .arg(var.join("id_ed25519"))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            var.join("known_hosts").display()
        ))
        .arg("-o")
        .arg("StrictHostKeyChecking=yes")
        .arg("-P")
        .arg("2222")
        .arg("sftp@127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn run_sftp(script: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = sftp_command().spawn().expect("the sftp client runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn try_sftp(script: &str) -> bool {
    run_sftp(script).status.success()
}

/// Runs an sftp batch; every command must succeed.
/// A TCP relay to `target` on loopback whose connections can be cut at
/// once (a lost database connection, as a network or a proxy restart
/// makes it).
pub struct Relay {
    pub port: u16,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: u16) -> Relay {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> =
            Default::default();
        let c2 = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut a, _)) = l.accept().await {
                let t = tokio::spawn(async move {
                    if let Ok(mut b) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
                c2.lock().unwrap().push(t.abort_handle());
            }
        });
        Relay {
            port,
            conns,
            accept,
        }
    }

    /// Closes every connection relayed so far; returns how many.
    pub fn cut(&self) -> usize {
        let mut c = self.conns.lock().unwrap();
        let n = c.iter().filter(|h| !h.is_finished()).count();
        for h in c.drain(..) {
            h.abort();
        }
        n
    }

    pub fn url(&self) -> String {
        format!("mysql://haoka:haoka@127.0.0.1:{}/haoka", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

pub fn sftp(script: &str) {
    let out = run_sftp(script);
    assert!(
        out.status.success(),
        "sftp {script:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
