//! Protocol-blind TCP relay: the floor any MySQL proxy on this box can
//! reach (same sockets and wake-ups, zero parsing). Used by
//! `bench/passthrough.sh` as a reference point.
//!
//! `tcp_relay [LISTEN] [BACKEND]` — defaults 127.0.0.1:3398 -> 127.0.0.1:3306;
//! a BACKEND starting with `/` is a Unix socket path.

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3398".into());
    let backend = args.next().unwrap_or_else(|| "127.0.0.1:3306".into());
    let threads = std::env::var("PROXY_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        loop {
            let (mut client, _) = listener.accept().await?;
            let backend = backend.clone();
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                // A path means a Unix socket backend (same host only).
                if backend.starts_with('/') {
                    let Ok(mut server) = tokio::net::UnixStream::connect(&backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    return;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    })
}
