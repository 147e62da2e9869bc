//! Accept loop (after tokio's mini-redis): a task per connection, a
//! connection limit, and graceful shutdown through a watch channel.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use super::codec::PacketBuf;
use super::consts::ER_CON_COUNT;
use super::handler::Handler;
use super::packets::{encode_err, ErrInfo};
use super::session::{serve, FrontendConfig};

/// How long shutdown waits for sessions to finish their current command.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the frontend until `shutdown` completes, then tells every session to
/// stop after its current command and waits for them (bounded).
pub async fn run<F, H>(
    listener: TcpListener,
    cfg: Arc<FrontendConfig>,
    factory: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Fn() -> H + Send + Sync + 'static,
    H: Handler + 'static,
{
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn_ids = AtomicU32::new(1);
    let accept = async {
        loop {
            let (mut stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    let mut out = PacketBuf::new();
                    let s = out.begin();
                    encode_err(
                        &mut out.buf,
                        &ErrInfo::new(ER_CON_COUNT, "08004", "Too many connections"),
                    );
                    out.finish(s);
                    let _ = out.flush(&mut stream).await;
                });
                continue;
            };
            let conn_id = conn_ids.fetch_add(1, Ordering::Relaxed);
            let handler = factory();
            let cfg = cfg.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(stream, handler, cfg, conn_id, stop).await {
                    if e.is_disconnect() {
                        debug!(conn_id, %peer, "client went away: {e}");
                    } else {
                        info!(conn_id, %peer, "session ended: {e}");
                    }
                }
                drop(permit);
            });
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = shutdown => {}
    }
    let _ = stop_tx.send(true);
    let drained = limit.acquire_many(cfg.max_connections as u32);
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        warn!("shutdown: sessions still busy after {:?}", DRAIN_TIMEOUT);
    }
}
