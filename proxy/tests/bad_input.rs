//! Hostile and broken input: every case gets an ERR with the right code or a
//! clean close, and a client connected meanwhile keeps working.

mod common;

use std::time::Duration;

use common::*;
use haoka_proxy::protocol::codec::{PacketBuf, PacketReader};
use haoka_proxy::protocol::consts::*;
use haoka_proxy::protocol::packets::{parse_err, ErrInfo};
use mysql_async::prelude::*;
use mysql_async::Opts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Raw {
    s: TcpStream,
    r: PacketReader,
    out: PacketBuf,
}

impl Raw {
    /// Connects and reads the greeting.
    async fn connect(addr: std::net::SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw {
            s,
            r: PacketReader::new(1 << 24),
            out: PacketBuf::new(),
        };
        let (seq, g) = raw.r.next(&mut raw.s).await.unwrap().unwrap();
        assert_eq!((seq, g[0]), (0, 10), "greeting");
        raw
    }

    /// Logs in as root (empty password).
    async fn login(addr: std::net::SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        let caps = CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_DEPRECATE_EOF;
        let mut p = caps.to_le_bytes().to_vec();
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"root\0\0mysql_native_password\0");
        raw.send(1, &p).await;
        let resp = raw.recv().await.expect("auth answer");
        assert_eq!(resp[0], 0, "login OK");
        raw
    }

    async fn send(&mut self, seq: u8, payload: &[u8]) {
        self.out.seq = seq;
        self.out.push(payload);
        self.out.flush(&mut self.s).await.unwrap();
    }

    async fn send_bytes(&mut self, b: &[u8]) {
        self.s.write_all(b).await.unwrap();
    }

    /// Next payload, or None on close.
    async fn recv(&mut self) -> Option<Vec<u8>> {
        match tokio::time::timeout(Duration::from_secs(5), self.r.next(&mut self.s))
            .await
            .expect("timely answer")
        {
            Ok(Some((_, p))) => Some(p.to_vec()),
            _ => None,
        }
    }

    async fn expect_err(&mut self) -> ErrInfo {
        let p = self.recv().await.expect("an ERR packet");
        assert_eq!(p[0], 0xff, "expected ERR, got {p:?}");
        parse_err(&p)
    }

    async fn expect_closed(&mut self) {
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut b))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "expected close, got {n:?}");
    }
}

async fn healthy(c: &mut mysql_async::Conn) {
    let v: Option<i32> = c.query_first("SELECT 42").await.unwrap();
    assert_eq!(v, Some(42));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_oversized_and_unknown() {
    let p = start_with(false, 1 << 20).await;
    let mut other = mysql_async::Conn::new(Opts::from_url(&p.url()).unwrap())
        .await
        .unwrap();

    // An HTTP request instead of a handshake response.
    let mut raw = Raw::connect(p.addr).await;
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(raw.expect_err().await.code, ER_HANDSHAKE);
    raw.expect_closed().await;
    healthy(&mut other).await;

    // A well-framed but meaningless handshake response.
    let mut raw = Raw::connect(p.addr).await;
    raw.send(1, &[1, 2, 3, 4, 5]).await;
    assert_eq!(raw.expect_err().await.code, ER_HANDSHAKE);
    raw.expect_closed().await;

    // Wrong password over the raw protocol.
    let mut raw = Raw::connect(p.addr).await;
    let caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    let mut hs = caps.to_le_bytes().to_vec();
    hs.extend_from_slice(&[0, 0, 0, 1, 45]);
    hs.extend_from_slice(&[0; 23]);
    hs.extend_from_slice(b"app\0\x14aaaaaaaaaaaaaaaaaaaamysql_native_password\0");
    raw.send(1, &hs).await;
    let e = raw.expect_err().await;
    assert_eq!((e.code, e.state_str()), (1045, "28000"));
    assert!(
        e.message
            .contains("'app'@'127.0.0.1' (using password: YES)"),
        "{}",
        e.message
    );

    // Truncated packet, then the client goes away: a clean close.
    let mut raw = Raw::login(p.addr).await;
    raw.send_bytes(&[100, 0, 0, 0, COM_QUERY, b'S', b'E']).await;
    raw.s.shutdown().await.unwrap();
    raw.expect_closed().await;
    healthy(&mut other).await;

    // Oversized packet header: ERR 1153 then disconnect.
    let mut raw = Raw::login(p.addr).await;
    raw.send_bytes(&[0xff, 0xff, 0xff, 0, COM_QUERY]).await;
    let e = raw.expect_err().await;
    assert_eq!((e.code, e.state_str()), (ER_NET_PACKET_TOO_LARGE, "08S01"));
    raw.expect_closed().await;
    healthy(&mut other).await;

    // Unknown command, empty command, bad statement ids, garbage execute.
    let mut raw = Raw::login(p.addr).await;
    raw.send(0, &[0x55, 1, 2]).await;
    assert_eq!(raw.expect_err().await.code, ER_UNKNOWN_COM);
    raw.send(0, &[]).await;
    assert_eq!(raw.expect_err().await.code, ER_MALFORMED_PACKET);
    raw.send(0, &[COM_STMT_EXECUTE, 9, 9, 0, 0, 0, 1, 0, 0, 0])
        .await;
    assert_eq!(raw.expect_err().await.code, ER_UNKNOWN_STMT_HANDLER);
    raw.send(0, &[COM_STMT_EXECUTE, 1]).await;
    assert_eq!(raw.expect_err().await.code, ER_MALFORMED_PACKET);
    raw.send(0, b"\x16SELECT ?, ?").await;
    let ok = raw.recv().await.unwrap();
    assert_eq!(ok[0], 0, "prepare ok");
    for _ in 0..4 {
        raw.recv().await.unwrap(); // 2 params + 2 columns (DEPRECATE_EOF: no EOFs)
    }
    // Types say two LONGLONGs but only 3 value bytes follow.
    raw.send(
        0,
        &[
            COM_STMT_EXECUTE,
            1,
            0,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            1,
            8,
            0,
            8,
            0,
            1,
            2,
            3,
        ],
    )
    .await;
    assert_eq!(raw.expect_err().await.code, ER_MALFORMED_PACKET);
    // Execute without ever binding types.
    raw.send(0, &[COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
        .await;
    assert_eq!(raw.expect_err().await.code, ER_MALFORMED_PACKET);
    // ...and the same session still answers queries.
    raw.send(0, b"\x03SELECT 7").await;
    assert_eq!(raw.recv().await.unwrap(), vec![1]);
    raw.recv().await.unwrap(); // column definition
    assert_eq!(raw.recv().await.unwrap(), b"\x017");
    assert_eq!(raw.recv().await.unwrap()[0], 0xfe); // OK terminator
    raw.send(0, &[COM_STATISTICS]).await;
    let stats = raw.recv().await.unwrap();
    assert!(String::from_utf8_lossy(&stats).contains("Uptime"));
    raw.send(0, b"\x04no_such_table\0").await;
    assert_eq!(raw.expect_err().await.code, 1046); // no database selected
    raw.send(0, b"\x02proto_test").await;
    assert_eq!(raw.recv().await.unwrap()[0], 0);
    raw.send(0, b"\x03CREATE TABLE IF NOT EXISTS t_fl (a INT, b TEXT)")
        .await;
    assert_eq!(raw.recv().await.unwrap()[0], 0);
    raw.send(0, b"\x04t_fl\0").await;
    let mut n = 0;
    while raw.recv().await.unwrap()[0] != 0xfe {
        n += 1;
    }
    assert_eq!(n, 2, "two field definitions then the terminator");
    raw.send(0, &[COM_PING]).await;
    raw.send(0, &[COM_QUIT]).await;
    healthy(&mut other).await;

    // A real client exceeding max_allowed_packet.
    let mut big = mysql_async::Conn::new(Opts::from_url(&p.url()).unwrap())
        .await
        .unwrap();
    let sql = format!("SELECT '{}'", "x".repeat(2 << 20));
    let err = big.query_drop(sql).await.unwrap_err();
    assert!(
        err.to_string().contains("1153") || err.to_string().to_lowercase().contains("connection"),
        "{err}"
    );
    healthy(&mut other).await;
    other.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_and_shutdown() {
    let p = start_custom(|c| c.max_connections = 1).await;
    let mut first = mysql_async::Conn::new(Opts::from_url(&p.url()).unwrap())
        .await
        .unwrap();
    let s = TcpStream::connect(p.addr).await.unwrap();
    let mut raw = Raw {
        s,
        r: PacketReader::new(1 << 20),
        out: PacketBuf::new(),
    };
    assert_eq!(raw.expect_err().await.code, ER_CON_COUNT);
    healthy(&mut first).await;
    // Graceful shutdown: idle sessions are told and closed.
    drop(p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = tokio::time::timeout(Duration::from_secs(5), first.query_drop("SELECT 1"))
        .await
        .unwrap();
    assert!(r.is_err());
}

/// COM_STMT_SEND_LONG_DATA is accumulated per parameter and inlined for the
/// backend; the following execute without types still decodes right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_data_then_unbound_execute() {
    let p = start().await;
    let mut raw = Raw::login(p.addr).await;
    raw.send(0, b"\x16SELECT CONCAT(?, '|', ?)").await;
    let ok = raw.recv().await.unwrap();
    assert_eq!(ok[0], 0);
    let stmt = u32::from_le_bytes([ok[1], ok[2], ok[3], ok[4]]);
    for _ in 0..3 {
        raw.recv().await.unwrap(); // 2 params + 1 column
    }
    let id = stmt.to_le_bytes();
    for chunk in [&b"abc"[..], b"def"] {
        let mut ld = vec![COM_STMT_SEND_LONG_DATA];
        ld.extend_from_slice(&id);
        ld.extend_from_slice(&0u16.to_le_bytes());
        ld.extend_from_slice(chunk);
        raw.send(0, &ld).await;
    }
    let exec = |types: bool, values: &[u8]| {
        let mut e = vec![COM_STMT_EXECUTE];
        e.extend_from_slice(&id);
        e.extend_from_slice(&[0, 1, 0, 0, 0, 0]); // flags, iterations, null bitmap
        if types {
            e.extend_from_slice(&[1, 0xfe, 0, 8, 0]); // STRING, LONGLONG
        } else {
            e.push(0);
        }
        e.extend_from_slice(values);
        e
    };
    let row_of = |raw_row: &[u8]| String::from_utf8_lossy(&raw_row[3..]).into_owned();
    raw.send(0, &exec(true, &41i64.to_le_bytes())).await;
    assert_eq!(raw.recv().await.unwrap(), vec![1]);
    raw.recv().await.unwrap(); // column
    assert_eq!(row_of(&raw.recv().await.unwrap()), "abcdef|41");
    assert_eq!(raw.recv().await.unwrap()[0], 0xfe);
    // Same statement, types not re-sent, value inline this time.
    let mut v = b"\x02zz".to_vec();
    v.extend_from_slice(&7i64.to_le_bytes());
    raw.send(0, &exec(false, &v)).await;
    assert_eq!(raw.recv().await.unwrap(), vec![1]);
    raw.recv().await.unwrap();
    assert_eq!(row_of(&raw.recv().await.unwrap()), "zz|7");
    assert_eq!(raw.recv().await.unwrap()[0], 0xfe);
}

/// A client that never finishes the handshake, or idles past idle_timeout,
/// loses its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_and_idle_timeouts() {
    let p = start_custom(|c| {
        c.handshake_timeout = Duration::from_millis(200);
        c.idle_timeout = Some(Duration::from_millis(300));
    })
    .await;
    let mut squatter = Raw::connect(p.addr).await;
    squatter.expect_closed().await;
    let mut idle = Raw::login(p.addr).await;
    assert_eq!(idle.expect_err().await.code, 4031);
    idle.expect_closed().await;
    // An active client is not affected.
    let mut c = mysql_async::Conn::new(Opts::from_url(&p.url()).unwrap())
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        healthy(&mut c).await;
    }
}
