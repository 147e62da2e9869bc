//! A protocol-blind TCP relay in front of MariaDB: the floor any proxy on
//! this box can reach (the same extra hop, sockets and wake-ups, zero
//! parsing). `haoka-loadtest sysbench` runs it in the same run as direct
//! MariaDB and the proxy, so the proxy is judged against the hop itself.
//!
//! It runs on its own two-thread runtime (as a proxy would), on an OS
//! thread of this process; this process does nothing else while sysbench
//! drives the relay, so the process's CPU time is the relay's.
//! `haoka-loadtest relay LISTEN BACKEND` runs one on its own (for
//! `proxy/bench/passthrough.sh`); a BACKEND starting with `/` is a Unix
//! socket (the cost of a same-host shard reached without TCP).

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::{TcpListener, TcpStream, UnixStream};

/// Where the relay connects.
#[derive(Debug, Clone)]
pub enum Backend {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Backend {
    /// `host:port`, or a path starting with `/` for a Unix socket.
    pub async fn parse(text: &str) -> anyhow::Result<Backend> {
        if text.starts_with('/') {
            return Ok(Backend::Unix(text.into()));
        }
        let addr = tokio::net::lookup_host(text)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{text} does not resolve"))?;
        Ok(Backend::Tcp(addr))
    }
}

/// A running relay; it stops with the process.
pub struct Relay {
    pub addr: SocketAddr,
}

/// Starts a relay on 127.0.0.1 (an ephemeral port) to `backend`.
pub fn start(backend: Backend, threads: usize) -> anyhow::Result<Relay> {
    start_on("127.0.0.1:0", backend, threads)
}

/// Starts a relay on `listen` to `backend`.
pub fn start_on(listen: &str, backend: Backend, threads: usize) -> anyhow::Result<Relay> {
    let std_listener = std::net::TcpListener::bind(listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("relay")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(pipe(client, backend.clone()));
                }
            })
        })?;
    Ok(Relay { addr })
}

async fn pipe(mut client: TcpStream, backend: Backend) {
    let _ = client.set_nodelay(true);
    match backend {
        Backend::Tcp(addr) => {
            let Ok(mut server) = TcpStream::connect(addr).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Backend::Unix(path) => {
            let Ok(mut server) = UnixStream::connect(path).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_go_both_ways_unchanged() {
        // An echo server that answers each read with the bytes reversed, so a
        // relay that answered itself (or dropped bytes) would fail.
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            buf.truncate(n);
            buf.reverse();
            s.write_all(&buf).await.unwrap();
        });
        let relay = start(Backend::Tcp(echo_addr), 1).unwrap();
        let mut c = TcpStream::connect(relay.addr).await.unwrap();
        c.write_all(b"\x00\x01select 1").await.unwrap();
        let mut got = vec![0u8; 10];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"1 tceles\x01\x00");
    }
}
