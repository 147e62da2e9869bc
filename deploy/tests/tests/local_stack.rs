//! The local stack that deploy/local/up.sh brings up: idempotent, the SFTP
//! drop takes files from a real client, and the reference data is whole.

use std::path::{Path, PathBuf};
use std::process::Command;

use mysql_async::prelude::Queryable;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_up() -> String {
    let out = Command::new(repo().join("deploy/local/up.sh"))
        .output()
        .expect("up.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "up.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn sshd_pid() -> String {
    std::fs::read_to_string(repo().join("var/run/sshd.pid"))
        .expect("up.sh leaves var/run/sshd.pid")
        .trim()
        .to_string()
}

#[test]
fn up_sh_run_twice_changes_nothing_the_second_time() {
    run_up();
    let pid = sshd_pid();
    let second = run_up();
    let changes: Vec<&str> = second.lines().filter(|l| l.starts_with("up: +")).collect();
    assert!(changes.is_empty(), "second run changed things: {changes:?}");
    assert!(second.contains("up: done, 0 change(s)"), "{second}");
    assert_eq!(sshd_pid(), pid, "sshd was restarted");
}

fn sftp(batch: &str) -> std::process::Output {
    use std::io::Write;
    let var = repo().join("var/sftp");
    let mut child = Command::new("sftp")
        .args(["-q", "-b", "-", "-P", "2222", "-i"])
        .arg(var.join("id_ed25519"))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            var.join("known_hosts").display()
        ))
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("sftp@127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the sftp client runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn an_sftp_client_logs_in_with_the_generated_key_and_puts_a_file() {
    run_up();
    let name = format!("stack-test-{}.txt", std::process::id());
    let dir = std::env::temp_dir().join(format!("haoka-sftp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join(&name);
    let body = "13012345678,51,510\n13012345679,51,510\n";
    std::fs::write(&local, body).unwrap();
    let back = dir.join("back.txt");

    let out = sftp(&format!(
        "put {} {name}\nget {name} {}\nrm {name}\n",
        local.display(),
        back.display()
    ));
    assert!(
        out.status.success(),
        "sftp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&back).unwrap(), body);

    // Password logins and other users are refused.
    let denied = Command::new("sftp")
        .args(["-q", "-b", "-", "-P", "2222", "-o", "BatchMode=yes"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .arg("root@127.0.0.1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!denied.status.success(), "root must not log in to the drop");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn every_haoka_database_has_whole_reference_data() {
    run_up();
    let pw = std::fs::read_to_string("/var/lib/haoka/secrets/proxy-backend.password").unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("haoka_proxy"))
        .pass(Some(pw.trim().to_string()));
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    let mut dbs = vec!["haoka_global".to_string()];
    dbs.extend((0..8).map(|i| format!("haoka_s{i}")));
    for db in dbs {
        let (p, c, s): (u64, u64, u64) = conn
            .query_first(format!(
                "SELECT (SELECT COUNT(*) FROM `{db}`.province), (SELECT COUNT(*) FROM `{db}`.city), \
                 (SELECT COUNT(*) FROM `{db}`.segment)"
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((p, s), (31, 120_000), "{db}");
        assert!(c >= 62, "{db}: {c} cities");
        let orphans: u64 = conn
            .query_first(format!(
                "SELECT COUNT(*) FROM `{db}`.segment s LEFT JOIN `{db}`.city c \
                 ON c.city_code = s.city_code AND c.province_code = s.province_code \
                 WHERE c.city_code IS NULL"
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            orphans, 0,
            "{db}: segments whose city is not in their province"
        );
    }
    conn.disconnect().await.unwrap();
}

/// A plain HTTP/1.0 exchange with the local haoka-server; returns (status, body).
fn http(method: &str, path: &str, bearer: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect("127.0.0.1:8080").expect("haoka-server listens on 8080");
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn up_sh_runs_haoka_server_with_an_administrator_who_can_log_in() {
    run_up();
    let (status, body) = http("GET", "/readyz", None, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""ready":true"#), "{body}");
    let password = std::fs::read_to_string("/var/lib/haoka/secrets/admin.password")
        .expect("up.sh keeps the administrator's password");
    let login = format!(r#"{{"staff_no":"admin","password":"{}"}}"#, password.trim());
    let (status, body) = http("POST", "/api/v1/auth/login", None, &login);
    assert_eq!(status, 200, "{body}");
    let token = body
        .split(r#""token":""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (status, body) = http("GET", "/api/v1/auth/me", Some(token), "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""provinces":["all"]"#), "{body}");
    let (status, _) = http("POST", "/api/v1/auth/logout", Some(token), "");
    assert_eq!(status, 204);
}
