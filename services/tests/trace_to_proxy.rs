//! One API request's id follows it into the proxy: the server names the
//! request on every connection it uses (a sqlcommenter marker) and the
//! proxy's per-shard statement log (target shard_statement) carries the id
//! on the statements the request caused — and on no other statement.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A haoka-proxy of its own, with the per-shard statement log on, on the
/// local stack's rules and backend account (deploy/local/proxy.toml).
struct TracingProxy {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl TracingProxy {
    fn start() -> TracingProxy {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        // up.sh builds the release proxy before the suite runs; a debug build
        // works too (in CARGO_TARGET_DIR when the caller set one).
        let targets = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .into_iter()
            .chain([root.join("target")]);
        let bin = targets
            .flat_map(|t| ["release", "debug"].map(|p| t.join(p).join("haoka-proxy")))
            .find(|p| p.exists())
            .expect("a built haoka-proxy (run deploy/local/up.sh)");
        let port = free_port();
        let metrics = free_port();
        let dir = std::env::temp_dir().join(format!("haoka-trace-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let local = std::fs::read_to_string(root.join("deploy/local/proxy.toml")).unwrap();
        let rules = root.join("schema/rules.toml").canonicalize().unwrap();
        let cfg = local
            .replace(
                "rules = \"../../schema/rules.toml\"",
                &format!("rules = \"{}\"", rules.display()),
            )
            .replace("127.0.0.1:3307", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:9307", &format!("127.0.0.1:{metrics}"));
        assert!(cfg.contains(&format!("127.0.0.1:{port}")), "{cfg}");
        std::fs::File::create(dir.join("proxy.toml"))
            .and_then(|mut f| f.write_all(cfg.as_bytes()))
            .unwrap();
        let log = std::fs::File::create(dir.join("proxy.log")).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(dir.join("proxy.toml"))
            .env("RUST_LOG", "warn,shard_statement=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn haoka-proxy");
        let p = TracingProxy { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "proxy not up: {}", p.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }
}

impl Drop for TracingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn an_api_request_id_is_on_the_proxy_lines_of_its_shard_statements() {
    let proxy = TracingProxy::start();
    let url = format!("mysql://haoka:haoka@127.0.0.1:{}/haoka", proxy.port);
    let s = start_with(|cfg| {
        cfg.database_url = url;
        cfg.roles = vec!["permission".into(), "number".into()];
    })
    .await;
    let admin = s.admin().await;

    let id = unique("trace-");
    let r = s
        .http
        .get(s.url("/api/v1/numbers?province_code=51&status=03"))
        .bearer_auth(&admin.token)
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], id.as_str());
    // Another request right after, on the same pooled connections.
    let other = unique("trace-other-");
    let r = s
        .http
        .get(s.url("/api/v1/numbers?province_code=11&status=03"))
        .bearer_auth(&admin.token)
        .header("x-request-id", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let log = proxy.log();
    let lines = |id: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("shard_statement") && l.contains(&format!("request_id={id}")))
            .map(str::to_string)
            .collect()
    };
    let mine = lines(&id);
    // Province 51 lives on shard 5 (haoka_s5), 11 on shard 0.
    assert!(
        mine.iter()
            .any(|l| l.contains("haoka_s5") && l.contains("phone_number")),
        "the listing's shard-5 statements carry the request id:\n{log}"
    );
    assert!(
        mine.iter()
            .all(|l| !(l.contains("haoka_s0") && l.contains("phone_number"))),
        "the first request touched no shard-0 table:\n{log}"
    );
    let theirs = lines(&other);
    assert!(
        theirs
            .iter()
            .any(|l| l.contains("haoka_s0") && l.contains("phone_number")),
        "the second request's statements carry its own id:\n{log}"
    );
    assert!(
        theirs
            .iter()
            .all(|l| !(l.contains("haoka_s5") && l.contains("phone_number"))),
        "no statement of the second request is named after the first:\n{log}"
    );
    drop(s);
}
