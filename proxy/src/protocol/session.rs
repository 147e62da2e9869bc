//! One client connection: handshake, authentication, then the command loop
//! dispatching to a `Handler`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::codec::{PacketBuf, PacketReader};
use super::command::{decode, parse_execute, Command, StmtState};
use super::consts::*;
use super::error::{FrameError, ProtocolError};
use super::handler::{ConnectInfo, Handler, HandlerError, HandlerResult, SessionControl};
use super::handshake::{self, HandshakeResponse};
use super::packets::{encode_err, encode_ok, ErrInfo, OkInfo};
use super::writer::ResponseWriter;

/// Frontend settings shared by all sessions.
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// Announced in the greeting and by `SELECT VERSION()` if the handler
    /// answers it itself.
    pub server_version: String,
    /// user -> plaintext password.
    pub users: Arc<HashMap<String, String>>,
    /// Largest client packet accepted (ERR 1153 beyond).
    pub max_allowed_packet: usize,
    /// Concurrent client connections (ERR 1040 beyond).
    pub max_connections: usize,
    /// A client must finish authenticating within this (slot squatters).
    pub handshake_timeout: Duration,
    /// Close sessions idle between commands for this long (wait_timeout).
    pub idle_timeout: Option<Duration>,
    /// Plugin announced in the greeting: `mysql_native_password` (default)
    /// or `caching_sha2_password`. Clients may answer with either.
    pub auth_plugin: &'static str,
}

impl Default for FrontendConfig {
    fn default() -> Self {
        FrontendConfig {
            server_version: "8.0.99-haoka".into(),
            users: Arc::default(),
            max_allowed_packet: 64 << 20,
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
            auth_plugin: NATIVE_PASSWORD,
        }
    }
}

/// The handshake is small; never buffer more than this before auth.
const HANDSHAKE_MAX_PACKET: usize = 64 * 1024;

/// A command running longer than this has the client's socket watched: a
/// client that disconnects has its command cancelled (short commands pay no
/// syscall for the watch).
const WATCH_AFTER: Duration = Duration::from_millis(50);

/// A second handle on the client socket, to see it close while a command runs.
fn watcher(stream: &TcpStream) -> Option<TcpStream> {
    use std::os::fd::AsFd;
    let fd = stream.as_fd().try_clone_to_owned().ok()?;
    let std_stream = std::net::TcpStream::from(fd);
    std_stream.set_nonblocking(true).ok()?;
    TcpStream::from_std(std_stream).ok()
}

/// Completes when the client closed its end (EOF, reset, or a COM_QUIT sent
/// while its command runs); never when it sent another command instead.
async fn client_closed(watch: &TcpStream) {
    let mut b = [0u8; 5];
    match watch.peek(&mut b).await {
        Ok(0) | Err(_) => {}
        Ok(5) if b[..3] == [1, 0, 0] && b[4] == COM_QUIT => {}
        Ok(_) => std::future::pending().await,
    }
}

/// Runs a command; if it takes long, watches for the client leaving and
/// cancels the command when it does (the command then ends by itself).
async fn run_watched<F: std::future::Future<Output = HandlerResult>>(
    fut: F,
    watch: Option<&TcpStream>,
    control: Option<&SessionControl>,
) -> HandlerResult {
    let (Some(watch), Some(control)) = (watch, control) else {
        return fut.await;
    };
    tokio::pin!(fut);
    tokio::select! {
        biased;
        r = &mut fut => return r,
        _ = tokio::time::sleep(WATCH_AFTER) => {}
    }
    tokio::select! {
        biased;
        r = &mut fut => return r,
        _ = client_closed(watch) => (control.cancel)(),
    }
    fut.await
}

/// Completes when the session was killed (never without a control).
async fn killed(control: &mut Option<SessionControl>) {
    match control {
        Some(c) => {
            if c.ended.wait_for(|e| *e).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Serves one client until it quits, errs or `shutdown` flips to true.
pub async fn serve<H: Handler>(
    mut stream: TcpStream,
    mut handler: H,
    cfg: Arc<FrontendConfig>,
    conn_id: u32,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProtocolError> {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let mut reader = PacketReader::new(HANDSHAKE_MAX_PACKET);
    let mut out = PacketBuf::new();
    let mut status = SERVER_STATUS_AUTOCOMMIT;

    let auth = authenticate(
        &mut stream,
        &mut reader,
        &mut out,
        &cfg,
        conn_id,
        &mut handler,
        peer,
    );
    let caps = match tokio::time::timeout(cfg.handshake_timeout, auth).await {
        Err(_) => return Err(ProtocolError::Handshake("timed out".into())),
        Ok(r) => r,
    };
    let caps = match caps {
        Ok(Some(caps)) => caps,
        Ok(None) => {
            out.flush(&mut stream).await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    out.flush(&mut stream).await?;
    reader.set_max_packet(cfg.max_allowed_packet);
    let mut control = handler.control();
    let watch = control.as_ref().and_then(|_| watcher(&stream));

    let mut stmts: HashMap<u32, StmtState> = HashMap::new();
    let mut next_stmt_id: u32 = 1;
    let result = loop {
        let next = tokio::select! {
            biased;
            r = reader.next(&mut stream) => r,
            _ = idle(cfg.idle_timeout) => {
                out.seq = 0;
                push_err(&mut out, &ErrInfo::new(4031, "HY000", "The client was disconnected by the server because of inactivity."));
                let _ = out.flush(&mut stream).await;
                break Ok(());
            }
            _ = shutdown.changed() => {
                out.seq = 0;
                push_err(&mut out, &ErrInfo::new(ER_SERVER_SHUTDOWN, "08S01", "Server shutdown in progress"));
                let _ = out.flush(&mut stream).await;
                break Ok(());
            }
            _ = killed(&mut control) => {
                out.seq = 0;
                push_err(&mut out, &ErrInfo::new(ER_CONNECTION_KILLED, "70100", "Connection was killed"));
                let _ = out.flush(&mut stream).await;
                break Ok(());
            }
        };
        let payload = match next {
            Ok(Some((seq, p))) => {
                out.seq = seq.wrapping_add(1);
                p
            }
            Ok(None) => break Ok(()),
            Err(FrameError::TooLarge { size, max }) => {
                debug!(conn_id, size, max, "client packet too large");
                out.seq = reader.last_seq().wrapping_add(1);
                push_err(
                    &mut out,
                    &ErrInfo::new(
                        ER_NET_PACKET_TOO_LARGE,
                        "08S01",
                        "Got a packet bigger than 'max_allowed_packet' bytes",
                    ),
                );
                let _ = out.flush(&mut stream).await;
                break Ok(());
            }
            Err(e) => break Err(e.into()),
        };
        let cmd = match decode(payload) {
            Ok(c) => c,
            Err(what) => {
                push_err(
                    &mut out,
                    &ErrInfo::new(
                        ER_MALFORMED_PACKET,
                        "08S01",
                        format!("Malformed packet: {what}"),
                    ),
                );
                out.flush(&mut stream).await?;
                continue;
            }
        };
        let mut w = ResponseWriter::new(&mut stream, &mut out, caps, &mut status);
        let r: HandlerResult = match cmd {
            Command::Quit => break Ok(()),
            Command::Query(sql) => match std::str::from_utf8(sql) {
                Ok(s) => {
                    run_watched(
                        handler.on_query(s, &mut w),
                        watch.as_ref(),
                        control.as_ref(),
                    )
                    .await
                }
                Err(_) => handler.on_query_bytes(sql, &mut w).await,
            },
            Command::InitDb(db) => {
                handler
                    .on_init_db(&String::from_utf8_lossy(db), &mut w)
                    .await
            }
            Command::Ping => handler.on_ping(&mut w).await,
            Command::FieldList { table, wildcard } => {
                let table = String::from_utf8_lossy(table);
                let wildcard = String::from_utf8_lossy(wildcard);
                handler.on_field_list(&table, &wildcard, &mut w).await
            }
            Command::StmtPrepare(sql) => {
                let id = next_stmt_id;
                next_stmt_id = next_stmt_id.wrapping_add(1).max(1);
                let sql = String::from_utf8_lossy(sql);
                match handler.on_prepare(id, &sql, &mut w).await {
                    Ok(Some(num_params)) => {
                        stmts.insert(id, StmtState::new(num_params));
                        Ok(())
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Command::StmtExecute(body) => {
                let id = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                match stmts.get_mut(&id) {
                    None => {
                        w.err(&unknown_stmt(id, "mysqld_stmt_execute"));
                        Ok(())
                    }
                    Some(st) => {
                        let r = match parse_execute(body, st) {
                            Ok(req) => {
                                let run = handler.on_execute(req, &mut w);
                                run_watched(run, watch.as_ref(), control.as_ref()).await
                            }
                            Err(what) => {
                                w.err(&ErrInfo::new(
                                    ER_MALFORMED_PACKET,
                                    "08S01",
                                    format!("Malformed packet: {what}"),
                                ));
                                Ok(())
                            }
                        };
                        if let Some(st) = stmts.get_mut(&id) {
                            st.clear_long_data();
                        }
                        r
                    }
                }
            }
            Command::StmtSendLongData {
                stmt_id,
                param,
                data,
            } => {
                if let Some(st) = stmts.get_mut(&stmt_id) {
                    st.append_long_data(param, data);
                }
                continue; // no response
            }
            Command::StmtClose(id) => {
                if stmts.remove(&id).is_some() {
                    handler.on_close_stmt(id).await;
                }
                continue; // no response
            }
            Command::StmtReset(id) => match stmts.get_mut(&id) {
                None => {
                    w.err(&unknown_stmt(id, "mysqld_stmt_reset"));
                    Ok(())
                }
                Some(st) => {
                    st.clear_long_data();
                    handler.on_reset_stmt(id, &mut w).await
                }
            },
            Command::SetOption(opt) => handler.on_set_option(opt, &mut w).await,
            Command::ResetConnection => {
                stmts.clear();
                handler.on_reset_connection(&mut w).await
            }
            Command::Statistics => handler.on_statistics(&mut w).await,
            Command::ProcessKill(id) => handler.on_process_kill(id, &mut w).await,
            Command::Unknown(c) => {
                debug!(conn_id, command = c, "unknown command");
                w.err(&ErrInfo::new(ER_UNKNOWN_COM, "08S01", "Unknown command"));
                Ok(())
            }
        };
        match r {
            Ok(()) => {}
            Err(HandlerError::Err(e)) if !w.has_written() => w.err(&e),
            Err(e) => {
                // Part of a response is out (or the session is unusable):
                // the only honest thing left is to drop the connection.
                warn!(conn_id, error = %e, "closing client session");
                if !w.has_written() {
                    w.err(&ErrInfo::new(2013, "HY000", e.to_string()));
                    let _ = w.flush().await;
                }
                break Ok(());
            }
        }
        w.flush().await?;
        if control.as_ref().is_some_and(|c| *c.ended.borrow()) {
            break Ok(()); // killed while the command ran: its answer went out
        }
    };
    handler.on_disconnect().await;
    result
}

/// Completes after `limit` (never without one).
async fn idle(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn unknown_stmt(id: u32, op: &str) -> ErrInfo {
    ErrInfo::new(
        ER_UNKNOWN_STMT_HANDLER,
        "HY000",
        format!("Unknown prepared statement handler ({id}) given to {op}"),
    )
}

fn push_err(out: &mut PacketBuf, e: &ErrInfo) {
    let s = out.begin();
    encode_err(&mut out.buf, e);
    out.finish(s);
}

/// Connection phase. `Ok(Some(caps))` when the session may start,
/// `Ok(None)` when it was refused (ERR already queued in `out`).
async fn authenticate<H: Handler>(
    stream: &mut TcpStream,
    reader: &mut PacketReader,
    out: &mut PacketBuf,
    cfg: &FrontendConfig,
    conn_id: u32,
    handler: &mut H,
    peer: Option<std::net::SocketAddr>,
) -> Result<Option<u32>, ProtocolError> {
    let nonce = handshake::new_nonce();
    out.seq = 0;
    out.push(&handshake::greeting(
        &cfg.server_version,
        conn_id,
        &nonce,
        SERVER_CAPABILITIES,
        cfg.auth_plugin,
    ));
    out.flush(stream).await?;

    let resp: HandshakeResponse = {
        let p = match reader.next(stream).await {
            Ok(Some((seq, p))) => {
                out.seq = seq.wrapping_add(1);
                p
            }
            Ok(None) => return Err(FrameError::Truncated.into()),
            Err(FrameError::TooLarge { .. }) => {
                out.seq = reader.last_seq().wrapping_add(1);
                push_err(out, &ErrInfo::new(ER_HANDSHAKE, "08S01", "Bad handshake"));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        match handshake::parse_response(p) {
            Ok(r) => r,
            Err(what) => {
                debug!(conn_id, what, "bad handshake response");
                push_err(
                    out,
                    &ErrInfo::new(ER_HANDSHAKE, "08S01", format!("Bad handshake: {what}")),
                );
                return Ok(None);
            }
        }
    };
    let caps = resp.capabilities & SERVER_CAPABILITIES;
    let host = peer
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "localhost".into());

    let mut plugin = resp
        .auth_plugin
        .clone()
        .unwrap_or_else(|| NATIVE_PASSWORD.to_string());
    let mut auth_data = resp.auth_response.clone();
    let password = cfg.users.get(&resp.user);
    let known = plugin == NATIVE_PASSWORD || plugin == CACHING_SHA2_PASSWORD;
    // Switch when the plugin is unknown (ed25519, dialog, ...), or when the
    // client sent no scramble although one is needed: libmariadb does that
    // when its default plugin differs from the one we announced.
    let empty_but_needed = auth_data.is_empty() && password.is_some_and(|p| !p.is_empty());
    if !known || empty_but_needed {
        if !known {
            plugin = NATIVE_PASSWORD.to_string();
        }
        out.push(&handshake::auth_switch(&plugin, &nonce));
        out.flush(stream).await?;
        match reader.next(stream).await? {
            Some((seq, p)) => {
                auth_data = p.to_vec();
                out.seq = seq.wrapping_add(1);
            }
            None => return Err(FrameError::Truncated.into()),
        }
    }

    let ok = match password {
        Some(pw) => handshake::verify(&plugin, &nonce, pw, &auth_data),
        None => false,
    };
    if !ok {
        let using = if auth_data.is_empty() { "NO" } else { "YES" };
        push_err(
            out,
            &ErrInfo::new(
                ER_ACCESS_DENIED,
                "28000",
                format!(
                    "Access denied for user '{}'@'{}' (using password: {using})",
                    resp.user, host
                ),
            ),
        );
        return Ok(None);
    }
    if plugin == CACHING_SHA2_PASSWORD && !auth_data.is_empty() {
        out.push(&[0x01, 0x03]); // AuthMoreData: fast auth success
    }

    let info = ConnectInfo {
        conn_id,
        user: &resp.user,
        database: resp.database.as_deref(),
        peer,
        capabilities: caps,
        charset: resp.charset,
        attributes: &resp.attributes,
    };
    if let Err(e) = handler.on_connect(&info).await {
        push_err(out, &e);
        return Ok(None);
    }
    let s = out.begin();
    encode_ok(
        &mut out.buf,
        0,
        &OkInfo {
            status: SERVER_STATUS_AUTOCOMMIT,
            ..Default::default()
        },
    );
    out.finish(s);
    Ok(Some(caps))
}
