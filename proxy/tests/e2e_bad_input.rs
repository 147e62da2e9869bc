//! Bad input against the real haoka-proxy binary: raw garbage, truncated and
//! oversized packets, bad credentials, bad SQL. Each case must get an error or
//! a clean disconnect, and a client connected the whole time keeps working.

mod e2e_common;

use std::time::Duration;

use e2e_common::*;
use mysql_async::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one packet (header + payload), or None on EOF.
async fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await.ok()?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some((h[3], body))
}

/// Connects and reads the server greeting.
async fn greeted(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (_, greeting) = tokio::time::timeout(Duration::from_secs(5), read_packet(&mut s))
        .await
        .expect("greeting in time")
        .expect("greeting");
    assert_eq!(greeting[0], 10, "protocol v10 greeting");
    s
}

/// After bad input: the proxy answers with ERR packets and/or closes; it
/// must not hang. Returns the ERR codes seen.
async fn expect_err_or_close(s: &mut TcpStream, what: &str) -> Vec<u16> {
    let mut codes = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(8), async {
        while let Some((_, p)) = read_packet(s).await {
            if p.len() >= 3 && p[0] == 0xff {
                codes.push(u16::from_le_bytes([p[1], p[2]]));
            } else {
                panic!("{what}: unexpected non-error packet {p:?}");
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "{what}: proxy neither answered nor closed in 8 s"
    );
    codes
}

/// The bystander connection still works: a local query and a scatter query.
async fn bystander_ok(c: &mut mysql_async::Conn, what: &str) {
    let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "after {what}");
    let n: Option<i64> = c
        .query_first("SELECT COUNT(*) FROM province")
        .await
        .unwrap_or_else(|e| panic!("after {what}: {e}"));
    assert!(n.unwrap() > 0, "after {what}");
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_never_hurts_other_clients() {
    // A small packet limit so "oversized" is cheap to send.
    let mut proxy = ProxyProc::start_with("[limits]\nmax_allowed_packet = 1048576\n");
    let port = proxy.port;
    let mut by = proxy.conn("haoka").await;
    bystander_ok(&mut by, "start").await;

    // 1. Garbage bytes instead of a handshake response.
    {
        let mut s = greeted(port).await;
        let mut garbage = Vec::new();
        let mut rng = Rng::new(7);
        for _ in 0..300 {
            garbage.push(rng.next_u64() as u8);
        }
        // A sane header so the garbage is a "packet"; then random bytes.
        let mut pkt = vec![200, 0, 0, 1];
        pkt.extend_from_slice(&garbage[..200]);
        s.write_all(&pkt).await.unwrap();
        s.write_all(&garbage[200..]).await.unwrap();
        let codes = expect_err_or_close(&mut s, "garbage").await;
        assert!(
            codes
                .iter()
                .all(|c| [1043, 1045, 1835, 1156, 1158].contains(c)),
            "garbage: {codes:?}"
        );
    }
    bystander_ok(&mut by, "garbage").await;

    // 2. Truncated packet: the header promises 100 bytes, 10 come, then EOF.
    {
        let mut s = greeted(port).await;
        let mut pkt = vec![100, 0, 0, 1];
        pkt.extend_from_slice(&[0x0d, 0xa2, 0, 0, 0, 0, 0, 1, 0x21, 0]);
        s.write_all(&pkt).await.unwrap();
        s.shutdown().await.unwrap();
        expect_err_or_close(&mut s, "truncated").await;
    }
    bystander_ok(&mut by, "truncated").await;

    // 3. Oversized packet header before auth: 16 MiB - 1 > 1 MiB limit.
    {
        let mut s = greeted(port).await;
        s.write_all(&[0xff, 0xff, 0xff, 1]).await.unwrap();
        s.write_all(&[0u8; 1024]).await.unwrap();
        let codes = expect_err_or_close(&mut s, "oversized header").await;
        assert!(
            codes.iter().all(|c| [1153, 1835, 1043].contains(c)),
            "oversized header: {codes:?}"
        );
    }
    bystander_ok(&mut by, "oversized header").await;

    // 4. Oversized query after auth: ERR 1153 or a disconnect, never a hang.
    {
        let mut c = proxy.conn("haoka").await;
        let big = format!("SELECT '{}'", "x".repeat(2 << 20));
        let r = tokio::time::timeout(Duration::from_secs(10), c.query_drop(big)).await;
        let r = r.expect("oversized query answered in time");
        let e = r.expect_err("2 MiB query over a 1 MiB limit must fail");
        if let Some(code) = server_code(&e) {
            assert_eq!(code, 1153, "{e}");
        }
    }
    bystander_ok(&mut by, "oversized query").await;

    // 5. Wrong password: 1045.
    {
        let url = format!("mysql://{USER}:wrong@127.0.0.1:{port}/haoka");
        let Err(e) = mysql_async::Conn::from_url(url).await else {
            panic!("wrong password accepted");
        };
        assert_eq!(server_code(&e), Some(1045), "{e}");
    }
    bystander_ok(&mut by, "wrong password").await;

    // 6. Unknown database: 1049.
    {
        let Err(e) = mysql_async::Conn::from_url(proxy.url("no_such_db_e2e")).await else {
            panic!("unknown database accepted");
        };
        assert_eq!(server_code(&e), Some(1049), "{e}");
        let mut c = proxy.conn("haoka").await;
        let e = c.query_drop("USE no_such_db_e2e").await.unwrap_err();
        assert_eq!(server_code(&e), Some(1049), "{e}");
        // The session survives and keeps its schema.
        let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
    }
    bystander_ok(&mut by, "unknown database").await;

    // 7-9. SQL errors on one connection that keeps working afterwards.
    {
        let mut c = proxy.conn("sbtest").await;
        let e = c.query_drop("SELEC id FROM sbtest9").await.unwrap_err();
        assert_eq!(server_code(&e), Some(1064), "{e}");
        let e = c
            .query_drop("SELECT * FROM no_such_table_e2e")
            .await
            .unwrap_err();
        assert_eq!(server_code(&e), Some(1146), "{e}");
        let e = c
            .exec_drop("SELECT * FROM no_such_table_e2e WHERE id = ?", (1,))
            .await
            .unwrap_err();
        assert_eq!(server_code(&e), Some(1146), "prepared: {e}");
        let e = c
            .query_drop("UPDATE sbtest9 SET id = 5 WHERE id = 3")
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("shard key") && e.to_string().contains("id"),
            "{e}"
        );
        let e = c
            .exec_drop("UPDATE sbtest9 SET id = ? WHERE id = ?", (5, 3))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("shard key"), "prepared: {e}");
        let e = c
            .query_drop("SELECT * FROM sbtest9 WHERE id = 'abc' AND (")
            .await
            .unwrap_err();
        assert_eq!(server_code(&e), Some(1064), "{e}");
        let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
    }
    bystander_ok(&mut by, "sql errors").await;

    // 10. Many abrupt disconnects mid-handshake.
    for _ in 0..20 {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        drop(s);
    }
    bystander_ok(&mut by, "abrupt disconnects").await;
    assert!(proxy.alive(), "proxy died: {}", proxy.log());
}
