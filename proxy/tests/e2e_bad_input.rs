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

/// Sends one packet with sequence id `seq`.
async fn send(s: &mut TcpStream, seq: u8, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
    p.extend_from_slice(payload);
    s.write_all(&p).await.unwrap();
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

/// mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
fn native_scramble(password: &str, scramble: &[u8]) -> Vec<u8> {
    let h1 = sha1(&[password.as_bytes()]);
    let h2 = sha1(&[&h1]);
    let h3 = sha1(&[scramble, &h2]);
    h1.iter().zip(h3).map(|(a, b)| a ^ b).collect()
}

/// A raw, authenticated protocol connection (no DEPRECATE_EOF, no CLIENT_MULTI_STATEMENTS).
async fn raw_login(port: u16, db: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (_, g) = read_packet(&mut s).await.expect("greeting");
    let mut pos = 1 + g[1..].iter().position(|&b| b == 0).unwrap() + 1; // version
    pos += 4; // connection id
    let mut scramble = g[pos..pos + 8].to_vec();
    pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    let rest = &g[pos..];
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(rest.len())
        .min(12);
    scramble.extend_from_slice(&rest[..end]);
    let caps: u32 = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x8_0000;
    let mut resp = Vec::new();
    resp.extend_from_slice(&caps.to_le_bytes());
    resp.extend_from_slice(&(16u32 << 20).to_le_bytes());
    resp.push(45);
    resp.extend_from_slice(&[0u8; 23]);
    resp.extend_from_slice(USER.as_bytes());
    resp.push(0);
    let auth = native_scramble(PASSWORD, &scramble);
    resp.push(auth.len() as u8);
    resp.extend_from_slice(&auth);
    resp.extend_from_slice(db.as_bytes());
    resp.push(0);
    resp.extend_from_slice(b"mysql_native_password\0");
    send(&mut s, 1, &resp).await;
    let (seq, p) = read_packet(&mut s).await.expect("auth answer");
    let p = if p[0] == 0xfe {
        // AuthSwitchRequest: plugin name, then the new scramble.
        let name_end = 1 + p[1..].iter().position(|&b| b == 0).unwrap();
        let data = &p[name_end + 1..];
        let data = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
        send(&mut s, seq + 1, &native_scramble(PASSWORD, data)).await;
        read_packet(&mut s).await.expect("auth answer").1
    } else {
        p
    };
    assert_eq!(p[0], 0, "login OK: {p:?}");
    s
}

/// Sends COM_QUERY and reads the answer: Ok(rows as text cells) or Err(code).
async fn raw_query(s: &mut TcpStream, sql: &[u8]) -> Result<Vec<Vec<String>>, u16> {
    let mut payload = vec![3u8];
    payload.extend_from_slice(sql);
    send(s, 0, &payload).await;
    let (_, first) = read_packet(s).await.expect("answer");
    match first[0] {
        0xff => return Err(u16::from_le_bytes([first[1], first[2]])),
        0x00 => return Ok(Vec::new()),
        _ => {}
    }
    // Column definitions up to EOF, then rows up to EOF.
    loop {
        let (_, p) = read_packet(s).await.expect("column");
        if p[0] == 0xfe && p.len() < 9 {
            break;
        }
    }
    let mut rows = Vec::new();
    loop {
        let (_, p) = read_packet(s).await.expect("row");
        if p[0] == 0xfe && p.len() < 9 {
            break;
        }
        if p[0] == 0xff {
            return Err(u16::from_le_bytes([p[1], p[2]]));
        }
        let mut cells = Vec::new();
        let mut i = 0;
        while i < p.len() {
            if p[i] == 0xfb {
                cells.push("NULL".to_string());
                i += 1;
            } else {
                let n = p[i] as usize; // short cells only in these tests
                cells.push(String::from_utf8_lossy(&p[i + 1..i + 1 + n]).into_owned());
                i += 1 + n;
            }
        }
        rows.push(cells);
    }
    Ok(rows)
}

/// Sends a command and expects one ERR packet; returns its code.
async fn raw_expect_err(s: &mut TcpStream, payload: &[u8]) -> Option<u16> {
    send(s, 0, payload).await;
    let r = tokio::time::timeout(Duration::from_secs(8), read_packet(s))
        .await
        .expect("answer in time");
    r.map(|(_, p)| {
        assert_eq!(p[0], 0xff, "expected ERR, got {p:?}");
        u16::from_le_bytes([p[1], p[2]])
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_after_login() {
    let mut proxy = ProxyProc::start();
    let mut by = proxy.conn("haoka").await;
    let mut s = raw_login(proxy.port, "haoka").await;
    assert_eq!(
        raw_query(&mut s, b"SELECT 1").await,
        Ok(vec![vec!["1".into()]])
    );

    // Invalid UTF-8 in a query outside string literals: an error, the
    // session goes on. (Raw bytes inside a literal are a binary value, as a
    // dump writes VARBINARY columns: e2e_dump.)
    let code = raw_expect_err(&mut s, b"\x03SELECT \xff\xfe").await;
    assert_eq!(code, Some(1300), "invalid utf-8 closed the session");
    assert_eq!(
        raw_query(&mut s, b"SELECT 2").await,
        Ok(vec![vec!["2".into()]])
    );

    // Empty query.
    assert!(raw_query(&mut s, b"").await.is_err());
    assert!(raw_query(&mut s, b"   ;  ").await.is_err());

    // Unknown statement id for execute / reset; close of an unknown id is silent.
    let mut exec = vec![0x17u8];
    exec.extend_from_slice(&999u32.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]);
    assert_eq!(raw_expect_err(&mut s, &exec).await, Some(1243));
    let mut close = vec![0x19u8];
    close.extend_from_slice(&999u32.to_le_bytes());
    send(&mut s, 0, &close).await;
    assert_eq!(
        raw_query(&mut s, b"SELECT 3").await,
        Ok(vec![vec!["3".into()]])
    );

    // Deeply nested expression: an error, not a crashed proxy.
    let deep = format!("SELECT {}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let r = raw_query(&mut s, deep.as_bytes()).await;
    assert!(r.is_err() || r == Ok(vec![vec!["1".into()]]), "{r:?}");
    assert!(
        proxy.alive(),
        "deep nesting killed the proxy: {}",
        proxy.log()
    );
    assert_eq!(
        raw_query(&mut s, b"SELECT 4").await,
        Ok(vec![vec!["4".into()]])
    );

    // Prepare, then execute with the parameter block cut short.
    let mut prep = vec![0x16u8];
    prep.extend_from_slice(b"SELECT name FROM province WHERE province_code = ?");
    send(&mut s, 0, &prep).await;
    let (_, ok) = read_packet(&mut s).await.unwrap();
    assert_eq!(ok[0], 0, "prepare OK: {ok:?}");
    let stmt = u32::from_le_bytes([ok[1], ok[2], ok[3], ok[4]]);
    let (ncols, nparams) = (
        u16::from_le_bytes([ok[5], ok[6]]),
        u16::from_le_bytes([ok[7], ok[8]]),
    );
    assert_eq!(nparams, 1);
    // param defs + EOF, column defs + EOF
    for _ in 0..(nparams as usize + 1 + ncols as usize + usize::from(ncols > 0)) {
        read_packet(&mut s).await.unwrap();
    }
    let mut exec = vec![0x17u8];
    exec.extend_from_slice(&stmt.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]);
    exec.extend_from_slice(&[0, 1, 0xfe]); // null bitmap, bound, half a type
    let code = raw_expect_err(&mut s, &exec).await;
    if code.is_some() {
        assert_eq!(
            raw_query(&mut s, b"SELECT 5").await,
            Ok(vec![vec!["5".into()]])
        );
    }

    // An unknown command byte: ERR (and maybe a disconnect), never a hang.
    let _ = raw_expect_err(&mut s, &[0xee, 1, 2, 3]).await;
    drop(s);

    bystander_ok(&mut by, "bad commands").await;
    assert!(proxy.alive(), "proxy died: {}", proxy.log());
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
