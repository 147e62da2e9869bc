//! One client connection to a MySQL/MariaDB backend, with a streaming
//! result reader: rows come out as raw payloads borrowed from the read
//! buffer so they can be forwarded without decoding or allocation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_common::constants::ColumnType;
use mysql_common::proto::MySerialize;
use mysql_common::value::Value;
use tokio::net::TcpStream;
use tracing::debug;

use super::auth;
use super::error::{BackendError, Result};
use super::result::ColumnDef;
use crate::protocol::codec::{PacketBuf, PacketReader};
use crate::protocol::consts::*;
use crate::protocol::packets::{parse_err, parse_ok, ErrInfo, OkInfo, Reader};

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: Option<String>,
    pub connect_timeout: Duration,
    /// CLIENT_FOUND_ROWS: an UPDATE answers the rows it matched, not the
    /// rows it changed (what the proxy's client asked for at its handshake).
    pub found_rows: bool,
}

impl BackendConfig {
    /// `user@host:port/db`, used in error messages and logs.
    pub fn target(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user,
            self.host,
            self.port,
            self.database.as_deref().unwrap_or("")
        )
    }
}

/// First packet of a command's response.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Ok(OkInfo),
    Err(ErrInfo),
    /// A result set with this many columns follows: read them with
    /// `next_column`, then rows with `next_row`.
    ResultSet {
        columns: u64,
    },
}

/// Result of COM_STMT_PREPARE.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub stmt_id: u32,
    pub num_params: u16,
    pub warnings: u16,
    pub params: Vec<ColumnDef>,
    pub columns: Vec<ColumnDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// A command was sent; its (next) response has not been read.
    Pending,
    Columns {
        left: u64,
    },
    Rows,
}

/// Statements kept per connection by `prepare_cached`.
const STMT_CACHE_MAX: usize = 256;

/// Capabilities we ask backends for (DEPRECATE_EOF only if offered).
const CLIENT_CAPS: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | CLIENT_DEPRECATE_EOF;

/// Reads the next packet from disjoint fields (so the payload borrow does
/// not lock all of `self`); any failure marks the connection broken.
macro_rules! read_packet {
    ($s:ident) => {
        match match $s.deadline {
            None => $s.reader.next(&mut $s.stream).await,
            Some(deadline) => {
                match tokio::time::timeout_at(deadline, $s.reader.next(&mut $s.stream)).await {
                    Ok(r) => r,
                    Err(_) => {
                        // Mid-response: the connection cannot be reused.
                        $s.broken = true;
                        $s.timed_out = true;
                        return Err(BackendError::QueryTimeout {
                            target: $s.target.clone(),
                            timeout: $s.query_timeout.unwrap_or_default(),
                        });
                    }
                }
            }
        } {
            Ok(Some(p)) => p,
            Ok(None) => {
                $s.broken = true;
                return Err(BackendError::Frame(crate::protocol::FrameError::Truncated));
            }
            Err(e) => {
                $s.broken = true;
                return Err(e.into());
            }
        }
    };
}

pub struct Connection {
    stream: TcpStream,
    reader: PacketReader,
    out: PacketBuf,
    caps: u32,
    state: State,
    status: u16,
    warnings: u16,
    broken: bool,
    conn_id: u32,
    server_version: String,
    target: String,
    pub(crate) last_used: Instant,
    /// Statements prepared through `prepare_cached`, by SQL text.
    stmt_cache: HashMap<Arc<str>, Arc<Prepared>>,
    /// Session state (SET ...) was changed on behalf of one client; the
    /// connection must be reset before another client gets it.
    pub dirty: bool,
    /// How long a command may wait for its (whole) response; None = forever.
    query_timeout: Option<Duration>,
    /// When the response to the command in flight must have arrived.
    deadline: Option<tokio::time::Instant>,
    /// The query timeout hit: the backend may still run the statement.
    timed_out: bool,
    /// `BEGIN` goes out in the same write as the next command (a
    /// transaction branch opened without a round trip of its own).
    begin_with_next: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .field("conn_id", &self.conn_id)
            .field("state", &self.state)
            .finish()
    }
}

impl Connection {
    /// Connects, authenticates and selects `cfg.database` (utf8mb4).
    pub async fn connect(cfg: &BackendConfig) -> Result<Self> {
        let target = cfg.target();
        let fut = async {
            let stream = TcpStream::connect((cfg.host.as_str(), cfg.port))
                .await
                .map_err(|e| BackendError::Io {
                    target: target.clone(),
                    source: e,
                })?;
            stream.set_nodelay(true).ok();
            let mut c = Connection {
                stream,
                reader: PacketReader::new(1 << 30),
                out: PacketBuf::new(),
                caps: 0,
                state: State::Idle,
                status: 0,
                warnings: 0,
                broken: false,
                conn_id: 0,
                server_version: String::new(),
                target: target.clone(),
                last_used: Instant::now(),
                stmt_cache: HashMap::new(),
                dirty: false,
                query_timeout: None,
                deadline: None,
                timed_out: false,
                begin_with_next: false,
            };
            c.handshake(cfg).await?;
            Ok(c)
        };
        match tokio::time::timeout(cfg.connect_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::ConnectTimeout {
                target,
                timeout: cfg.connect_timeout,
            }),
        }
    }

    pub fn server_version(&self) -> &str {
        &self.server_version
    }
    pub fn connection_id(&self) -> u32 {
        self.conn_id
    }
    pub fn capabilities(&self) -> u32 {
        self.caps
    }
    /// Status flags of the last OK/EOF (IN_TRANS, AUTOCOMMIT, MORE_RESULTS...).
    pub fn status(&self) -> u16 {
        self.status
    }
    /// Warnings of the last OK/EOF.
    pub fn warnings(&self) -> u16 {
        self.warnings
    }
    /// True when another result of the same command follows.
    pub fn more_results(&self) -> bool {
        self.state == State::Pending
    }
    /// True when no response is left unread (safe to reuse / pool).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle && !self.broken
    }
    pub fn is_broken(&self) -> bool {
        self.broken
    }
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Bounds the wait for every later command's response (from sending it
    /// to its last packet); on expiry the command fails with
    /// `BackendError::QueryTimeout` and the connection is broken.
    pub fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout.filter(|t| !t.is_zero());
    }

    /// The query timeout hit while the backend was still working: whoever
    /// drops this connection should kill the statement on the server.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// An idle connection whose server went away has its EOF (or an
    /// unexpected packet) waiting in the socket: a non-blocking read tells,
    /// without a round trip.
    pub fn looks_alive(&self) -> bool {
        if !self.is_idle() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    async fn flush(&mut self) -> Result<()> {
        if let Err(e) = self.out.flush(&mut self.stream).await {
            self.broken = true;
            return Err(e.into());
        }
        Ok(())
    }

    async fn handshake(&mut self, cfg: &BackendConfig) -> Result<()> {
        let (seq, p) = read_packet!(self);
        if p.first() == Some(&0xff) {
            return Err(BackendError::Auth {
                target: self.target.clone(),
                err: parse_err(p),
            });
        }
        let mut r = Reader::new(p);
        let bad = || BackendError::Protocol("malformed server greeting".into());
        if r.u8().ok_or_else(bad)? != 10 {
            return Err(BackendError::Protocol(
                "unsupported protocol version".into(),
            ));
        }
        self.server_version = String::from_utf8_lossy(r.null_str()).into_owned();
        self.conn_id = r.u32().ok_or_else(bad)?;
        let mut nonce = r.take(8).ok_or_else(bad)?.to_vec();
        r.u8().ok_or_else(bad)?;
        let caps_lo = r.u16().ok_or_else(bad)? as u32;
        let _charset = r.u8();
        let _status = r.u16();
        let caps_hi = r.u16().unwrap_or(0) as u32;
        let server_caps = caps_lo | caps_hi << 16;
        let data_len = r.u8().unwrap_or(0) as usize;
        r.take(10);
        if server_caps & CLIENT_SECURE_CONNECTION != 0 {
            let n = data_len.saturating_sub(8).max(13);
            let part2 = r.take(n).unwrap_or_else(|| r.rest());
            nonce.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
        }
        let plugin = if server_caps & CLIENT_PLUGIN_AUTH != 0 {
            String::from_utf8_lossy(r.null_str()).into_owned()
        } else {
            NATIVE_PASSWORD.to_string()
        };
        let mut caps = CLIENT_CAPS & server_caps | CLIENT_PROTOCOL_41;
        if cfg.found_rows {
            caps |= CLIENT_FOUND_ROWS & server_caps;
        }
        if cfg.database.is_some() {
            caps |= CLIENT_CONNECT_WITH_DB & server_caps;
        }
        self.caps = caps;
        let plugin = if plugin.is_empty() {
            NATIVE_PASSWORD.to_string()
        } else {
            plugin
        };
        let scramble = auth::scramble(&plugin, &nonce, &cfg.password).unwrap_or_default();

        let mut b = Vec::with_capacity(128);
        b.extend_from_slice(&caps.to_le_bytes());
        b.extend_from_slice(&(1u32 << 30).to_le_bytes());
        b.push(UTF8MB4_GENERAL_CI);
        b.extend_from_slice(&[0; 23]);
        b.extend_from_slice(cfg.user.as_bytes());
        b.push(0);
        if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            mysql_common::io::BufMutExt::put_lenenc_int(&mut b, scramble.len() as u64);
        } else {
            b.push(scramble.len() as u8);
        }
        b.extend_from_slice(&scramble);
        if let Some(db) = cfg
            .database
            .as_deref()
            .filter(|_| caps & CLIENT_CONNECT_WITH_DB != 0)
        {
            b.extend_from_slice(db.as_bytes());
            b.push(0);
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            b.extend_from_slice(plugin.as_bytes());
            b.push(0);
        }
        self.out.seq = seq.wrapping_add(1);
        self.out.push(&b);
        self.flush().await?;
        self.auth_loop(cfg, plugin, nonce).await
    }

    /// Reads auth results until OK, following AuthSwitch and caching_sha2
    /// fast/full auth.
    async fn auth_loop(
        &mut self,
        cfg: &BackendConfig,
        mut plugin: String,
        mut nonce: Vec<u8>,
    ) -> Result<()> {
        loop {
            let target = self.target.clone();
            let (seq, p) = read_packet!(self);
            self.out.seq = seq.wrapping_add(1);
            match p.first().copied() {
                Some(0x00) => {
                    self.status = parse_ok(p).map(|o| o.status).unwrap_or(0);
                    return Ok(());
                }
                Some(0xff) => {
                    return Err(BackendError::Auth {
                        target,
                        err: parse_err(p),
                    })
                }
                Some(0xfe) => {
                    // AuthSwitchRequest: plugin name + new nonce.
                    let mut r = Reader::new(&p[1..]);
                    plugin = String::from_utf8_lossy(r.null_str()).into_owned();
                    let rest = r.rest();
                    nonce = rest.strip_suffix(&[0]).unwrap_or(rest).to_vec();
                    let Some(s) = auth::scramble(&plugin, &nonce, &cfg.password) else {
                        return Err(BackendError::Protocol(format!(
                            "unsupported auth plugin {plugin}"
                        )));
                    };
                    self.out.push(&s);
                    self.flush().await?;
                }
                Some(0x01) if plugin == CACHING_SHA2_PASSWORD => match p.get(1) {
                    Some(0x03) => {} // fast auth success; OK follows
                    Some(0x04) => {
                        // Full auth without TLS: ask for the public key.
                        self.out.push(&[0x02]);
                        self.flush().await?;
                        let (seq, key) = read_packet!(self);
                        let key = key.get(1..).unwrap_or_default().to_vec();
                        self.out.seq = seq.wrapping_add(1);
                        let enc = auth::encrypt_password(&cfg.password, &nonce, &key)
                            .map_err(BackendError::Protocol)?;
                        self.out.push(&enc);
                        self.flush().await?;
                    }
                    _ => {
                        return Err(BackendError::Protocol(
                            "unexpected caching_sha2 auth data".into(),
                        ))
                    }
                },
                _ => {
                    return Err(BackendError::Protocol(
                        "unexpected packet during authentication".into(),
                    ))
                }
            }
        }
    }

    // ---- sending -----------------------------------------------------------

    fn check_idle(&self) -> Result<()> {
        if self.broken {
            return Err(BackendError::State("connection is broken"));
        }
        if self.state != State::Idle {
            return Err(BackendError::State("previous result was not fully read"));
        }
        Ok(())
    }

    /// Opens a local transaction with the next command that expects an
    /// answer: `BEGIN` is written together with it, so the server reads both
    /// at once and the branch costs no round trip of its own.
    pub fn begin_with_next_command(&mut self) {
        self.begin_with_next = true;
    }

    /// A `BEGIN` is waiting for the next command (nothing was sent yet).
    pub fn begin_pending(&self) -> bool {
        self.begin_with_next
    }

    /// Forgets a `BEGIN` that was never sent: no transaction was opened.
    pub(crate) fn forget_begin(&mut self) {
        self.begin_with_next = false;
    }

    /// Sends one command packet (header byte + body) in one write, after a
    /// pending `BEGIN` when it expects an answer.
    async fn send(&mut self, cmd: u8, parts: &[&[u8]], expect_response: bool) -> Result<()> {
        self.check_idle()?;
        let begin = expect_response && std::mem::take(&mut self.begin_with_next);
        if begin {
            self.out.seq = 0;
            let s = self.out.begin();
            self.out.buf.push(COM_QUERY);
            self.out.buf.extend_from_slice(b"BEGIN");
            self.out.finish(s);
        }
        if cmd == COM_QUERY || cmd == COM_STMT_PREPARE {
            // The per-shard statement log: off unless shard_statement=debug;
            // inside a client statement's span it carries its request id.
            debug!(target: "shard_statement", backend = %self.target,
                sql = %String::from_utf8_lossy(parts.first().copied().unwrap_or_default()));
        }
        self.out.seq = 0;
        let s = self.out.begin();
        self.out.buf.push(cmd);
        for p in parts {
            self.out.buf.extend_from_slice(p);
        }
        self.out.finish(s);
        self.flush().await?;
        self.last_used = Instant::now();
        if expect_response {
            self.state = State::Pending;
            self.deadline = self.query_timeout.map(|t| tokio::time::Instant::now() + t);
        }
        if begin {
            self.read_begin_answer().await?;
        }
        Ok(())
    }

    /// Reads the answer to a `BEGIN` sent ahead of a command. BEGIN on a
    /// connection without a transaction does not fail short of the
    /// connection failing; if it ever does, the command behind it may have
    /// run outside a transaction, so the connection is given up and the
    /// error names that.
    async fn read_begin_answer(&mut self) -> Result<()> {
        let (_, p) = read_packet!(self);
        match p.first() {
            Some(0x00) => Ok(()),
            Some(0xff) => {
                let mut e = parse_err(p);
                self.broken = true;
                e.message = format!(
                    "BEGIN failed ({}); the statement sent with it may have run outside the transaction",
                    e.message
                );
                Err(BackendError::Server(e))
            }
            _ => {
                self.broken = true;
                Err(BackendError::Protocol("unexpected answer to BEGIN".into()))
            }
        }
    }

    /// Sends COM_QUERY; read the answer with `read_response`.
    pub async fn send_query(&mut self, sql: &[u8]) -> Result<()> {
        self.send(COM_QUERY, &[sql], true).await
    }

    /// COM_QUERY + first response packet.
    pub async fn query(&mut self, sql: &str) -> Result<Response> {
        self.send_query(sql.as_bytes()).await?;
        self.read_response().await
    }

    /// Reads the first packet of the next response (after a command, or
    /// after a result whose status had MORE_RESULTS_EXISTS).
    pub async fn read_response(&mut self) -> Result<Response> {
        if self.state != State::Pending {
            return Err(BackendError::State("no response pending"));
        }
        let (_, p) = read_packet!(self);
        match p.first().copied() {
            Some(0x00) => {
                let ok =
                    parse_ok(p).ok_or_else(|| BackendError::Protocol("malformed OK".into()))?;
                self.status = ok.status;
                self.warnings = ok.warnings;
                self.state = if ok.status & SERVER_MORE_RESULTS_EXISTS != 0 {
                    State::Pending
                } else {
                    State::Idle
                };
                Ok(Response::Ok(ok))
            }
            Some(0xff) => {
                self.state = State::Idle;
                Ok(Response::Err(parse_err(p)))
            }
            Some(0xfb) => {
                self.broken = true;
                Err(BackendError::Protocol(
                    "LOCAL INFILE is not supported".into(),
                ))
            }
            Some(_) => {
                let n = Reader::new(p)
                    .lenenc()
                    .ok_or_else(|| BackendError::Protocol("bad column count".into()))?;
                self.state = State::Columns { left: n };
                Ok(Response::ResultSet { columns: n })
            }
            None => {
                self.broken = true;
                Err(BackendError::Protocol("empty response packet".into()))
            }
        }
    }

    /// Next raw column definition; `None` after the last one.
    pub async fn next_column(&mut self) -> Result<Option<&[u8]>> {
        let State::Columns { left } = self.state else {
            return Err(BackendError::State("not reading columns"));
        };
        if left == 0 {
            if self.caps & CLIENT_DEPRECATE_EOF == 0 {
                read_packet!(self); // EOF after column definitions
            }
            self.state = State::Rows;
            return Ok(None);
        }
        self.state = State::Columns { left: left - 1 };
        let (_, p) = read_packet!(self);
        Ok(Some(p))
    }

    /// All remaining column definitions, parsed (allocates; not the hot path).
    pub async fn columns(&mut self) -> Result<Vec<ColumnDef>> {
        let mut cols = Vec::new();
        while let Some(raw) = self.next_column().await? {
            cols.push(ColumnDef::new(raw)?);
        }
        Ok(cols)
    }

    /// Next raw row payload (text or binary protocol per the command);
    /// `None` at the end of the result set, after which `status()` and
    /// `more_results()` describe the terminator. A server ERR in the
    /// middle of rows is returned as `BackendError::Server`.
    pub async fn next_row(&mut self) -> Result<Option<&[u8]>> {
        if let State::Columns { .. } = self.state {
            while self.next_column().await?.is_some() {}
        }
        if self.state != State::Rows {
            return Err(BackendError::State("not reading rows"));
        }
        let deprecate = self.caps & CLIENT_DEPRECATE_EOF != 0;
        let (_, p) = read_packet!(self);
        match p.first() {
            Some(0xfe) if p.len() < 0xff_ffff && (deprecate || p.len() < 9) => {
                let (warnings, status) = if deprecate {
                    let ok = parse_ok(p).unwrap_or_default();
                    (ok.warnings, ok.status)
                } else {
                    let mut r = Reader::new(&p[1..]);
                    (r.u16().unwrap_or(0), r.u16().unwrap_or(0))
                };
                self.warnings = warnings;
                self.status = status;
                self.state = if status & SERVER_MORE_RESULTS_EXISTS != 0 {
                    State::Pending
                } else {
                    State::Idle
                };
                Ok(None)
            }
            Some(0xff) => {
                let e = parse_err(p);
                self.state = State::Idle;
                Err(BackendError::Server(e))
            }
            _ => Ok(Some(p)),
        }
    }

    /// Skips whatever is left of the current response, all results.
    pub async fn drain(&mut self) -> Result<()> {
        loop {
            match self.state {
                State::Idle => return Ok(()),
                State::Pending => {
                    self.read_response().await?;
                }
                State::Columns { .. } | State::Rows => match self.next_row().await {
                    Ok(_) | Err(BackendError::Server(_)) => {}
                    Err(e) => return Err(e),
                },
            }
        }
    }

    /// Runs `sql` and discards results; the first server error is returned.
    pub async fn query_drop(&mut self, sql: &str) -> Result<()> {
        let mut first_err = None;
        let mut resp = self.query(sql).await?;
        loop {
            if let Response::Err(e) = resp {
                first_err.get_or_insert(e);
            }
            while self.state == State::Rows || matches!(self.state, State::Columns { .. }) {
                if let Err(BackendError::Server(e)) = self.next_row().await {
                    first_err.get_or_insert(e);
                }
            }
            if self.state != State::Pending {
                break;
            }
            resp = self.read_response().await?;
        }
        match first_err {
            Some(e) => Err(BackendError::Server(e)),
            None => Ok(()),
        }
    }

    /// Runs `sql` and collects its first result (columns + text rows decoded
    /// to values); further results are drained. For control paths and
    /// merging, not for forwarding.
    pub async fn query_collect(&mut self, sql: &str) -> Result<QueryResult> {
        let resp = self.query(sql).await?;
        let r = self.collect(resp, false).await;
        self.drain().await?;
        r
    }

    /// Collects the current result set as values (`binary` for execute).
    pub async fn collect(&mut self, resp: Response, binary: bool) -> Result<QueryResult> {
        match resp {
            Response::Err(e) => Err(BackendError::Server(e)),
            Response::Ok(ok) => Ok(QueryResult {
                columns: Vec::new(),
                rows: Vec::new(),
                ok: Some(ok),
            }),
            Response::ResultSet { .. } => {
                let columns = self.columns().await?;
                let cols: std::sync::Arc<[mysql_common::packets::Column]> =
                    columns.iter().map(|c| c.column.clone()).collect();
                let mut rows = Vec::new();
                while let Some(raw) = self.next_row().await? {
                    rows.push(if binary {
                        super::result::decode_binary_row(raw, cols.clone())?
                    } else {
                        super::result::decode_text_row(raw, cols.clone())?
                    });
                }
                Ok(QueryResult {
                    columns,
                    rows,
                    ok: None,
                })
            }
        }
    }

    // ---- prepared statements ---------------------------------------------------

    /// COM_STMT_PREPARE. `Ok(Err(..))` is the server refusing the statement.
    pub async fn prepare(&mut self, sql: &str) -> Result<std::result::Result<Prepared, ErrInfo>> {
        self.send(COM_STMT_PREPARE, &[sql.as_bytes()], true).await?;
        let (_, p) = read_packet!(self);
        if p.first() == Some(&0xff) {
            self.state = State::Idle;
            return Ok(Err(parse_err(p)));
        }
        let mut r = Reader::new(p);
        let bad = || BackendError::Protocol("malformed COM_STMT_PREPARE_OK".into());
        r.u8().ok_or_else(bad)?;
        let stmt_id = r.u32().ok_or_else(bad)?;
        let num_columns = r.u16().ok_or_else(bad)?;
        let num_params = r.u16().ok_or_else(bad)?;
        r.u8();
        let warnings = r.u16().unwrap_or(0);
        let deprecate = self.caps & CLIENT_DEPRECATE_EOF != 0;
        let mut params = Vec::with_capacity(num_params as usize);
        for _ in 0..num_params {
            let (_, p) = read_packet!(self);
            params.push(ColumnDef::new(p)?);
        }
        if num_params > 0 && !deprecate {
            read_packet!(self);
        }
        let mut columns = Vec::with_capacity(num_columns as usize);
        for _ in 0..num_columns {
            let (_, p) = read_packet!(self);
            columns.push(ColumnDef::new(p)?);
        }
        if num_columns > 0 && !deprecate {
            read_packet!(self);
        }
        self.state = State::Idle;
        Ok(Ok(Prepared {
            stmt_id,
            num_params,
            warnings,
            params,
            columns,
        }))
    }

    /// COM_STMT_EXECUTE with a client's body after the statement id
    /// (`ExecuteRequest::raw_after_stmt_id`), only the id replaced.
    pub async fn execute_raw(&mut self, stmt_id: u32, body_after_id: &[u8]) -> Result<Response> {
        self.send(
            COM_STMT_EXECUTE,
            &[&stmt_id.to_le_bytes(), body_after_id],
            true,
        )
        .await?;
        self.read_response().await
    }

    /// COM_STMT_EXECUTE with a full payload already built (e.g. by
    /// `ExecuteRequest::encode_for_backend`, command byte included).
    pub async fn execute_payload(&mut self, payload: &[u8]) -> Result<Response> {
        let (&cmd, body) = payload
            .split_first()
            .ok_or(BackendError::State("empty payload"))?;
        self.send(cmd, &[body], true).await?;
        self.read_response().await
    }

    /// COM_STMT_EXECUTE from values (types inferred from the variants).
    pub async fn execute(&mut self, stmt_id: u32, params: &[Value]) -> Result<Response> {
        let mut b = Vec::with_capacity(16 + params.len() * 10);
        b.extend_from_slice(&stmt_id.to_le_bytes());
        b.push(0);
        b.extend_from_slice(&1u32.to_le_bytes());
        if !params.is_empty() {
            let bm = b.len();
            b.resize(bm + params.len().div_ceil(8), 0);
            for (i, v) in params.iter().enumerate() {
                if matches!(v, Value::NULL) {
                    b[bm + i / 8] |= 1 << (i % 8);
                }
            }
            b.push(1);
            for v in params {
                let (ty, fl) = match v {
                    Value::NULL => (ColumnType::MYSQL_TYPE_NULL, 0),
                    Value::Bytes(_) => (ColumnType::MYSQL_TYPE_VAR_STRING, 0),
                    Value::Int(_) => (ColumnType::MYSQL_TYPE_LONGLONG, 0),
                    Value::UInt(_) => (ColumnType::MYSQL_TYPE_LONGLONG, 0x80),
                    Value::Float(_) => (ColumnType::MYSQL_TYPE_FLOAT, 0),
                    Value::Double(_) => (ColumnType::MYSQL_TYPE_DOUBLE, 0),
                    Value::Date(..) => (ColumnType::MYSQL_TYPE_DATETIME, 0),
                    Value::Time(..) => (ColumnType::MYSQL_TYPE_TIME, 0),
                };
                b.extend_from_slice(&[ty as u8, fl]);
            }
            for v in params {
                v.serialize(&mut b);
            }
        }
        self.send(COM_STMT_EXECUTE, &[&b], true).await?;
        self.read_response().await
    }

    /// COM_STMT_SEND_LONG_DATA (no response).
    pub async fn send_long_data(&mut self, stmt_id: u32, param: u16, data: &[u8]) -> Result<()> {
        self.send(
            COM_STMT_SEND_LONG_DATA,
            &[&stmt_id.to_le_bytes(), &param.to_le_bytes(), data],
            false,
        )
        .await
    }

    /// COM_STMT_CLOSE (no response).
    pub async fn close_stmt(&mut self, stmt_id: u32) -> Result<()> {
        self.send(COM_STMT_CLOSE, &[&stmt_id.to_le_bytes()], false)
            .await
    }

    /// Sends a command answered by one OK or ERR.
    async fn simple(
        &mut self,
        cmd: u8,
        body: &[u8],
    ) -> Result<std::result::Result<OkInfo, ErrInfo>> {
        self.send(cmd, &[body], true).await?;
        match self.read_response().await? {
            Response::Ok(ok) => Ok(Ok(ok)),
            Response::Err(e) => Ok(Err(e)),
            Response::ResultSet { .. } => {
                self.broken = true;
                Err(BackendError::Protocol("unexpected result set".into()))
            }
        }
    }

    pub async fn reset_stmt(
        &mut self,
        stmt_id: u32,
    ) -> Result<std::result::Result<OkInfo, ErrInfo>> {
        self.simple(COM_STMT_RESET, &stmt_id.to_le_bytes()).await
    }

    pub async fn ping(&mut self) -> Result<()> {
        match self.simple(COM_PING, &[]).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(BackendError::Server(e)),
        }
    }

    pub async fn init_db(&mut self, db: &str) -> Result<std::result::Result<OkInfo, ErrInfo>> {
        self.simple(COM_INIT_DB, db.as_bytes()).await
    }

    /// COM_RESET_CONNECTION: drops session state (variables, temp tables,
    /// prepared statements, transaction) on the backend.
    pub async fn reset_connection(&mut self) -> Result<std::result::Result<OkInfo, ErrInfo>> {
        self.stmt_cache.clear();
        let r = self.simple(COM_RESET_CONNECTION, &[]).await;
        if matches!(r, Ok(Ok(_))) {
            self.dirty = false;
        }
        r
    }

    /// Prepares `sql` once per connection and reuses the statement: how a
    /// router runs a client's statement on whichever pooled connection it
    /// got (execute it with `ExecuteRequest::encode_for_backend`, which
    /// always binds types). Bounded; the oldest half is closed when full.
    pub async fn prepare_cached(
        &mut self,
        sql: &str,
    ) -> Result<std::result::Result<Arc<Prepared>, ErrInfo>> {
        if let Some(p) = self.stmt_cache.get(sql) {
            // The per-shard statement log names every execution of a cached
            // statement too, not only the prepare that put it in the cache.
            debug!(target: "shard_statement", backend = %self.target, sql = %sql, cached = true);
            return Ok(Ok(p.clone()));
        }
        if self.stmt_cache.len() >= STMT_CACHE_MAX {
            let victims: Vec<Arc<str>> = self
                .stmt_cache
                .keys()
                .take(STMT_CACHE_MAX / 2)
                .cloned()
                .collect();
            for k in victims {
                if let Some(p) = self.stmt_cache.remove(&k) {
                    self.close_stmt(p.stmt_id).await?;
                }
            }
        }
        match self.prepare(sql).await? {
            Ok(p) => {
                let p = Arc::new(p);
                self.stmt_cache.insert(Arc::from(sql), p.clone());
                Ok(Ok(p))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// COM_SET_OPTION (answered with EOF, or OK with DEPRECATE_EOF).
    pub async fn set_option(&mut self, option: u16) -> Result<std::result::Result<u16, ErrInfo>> {
        self.send(COM_SET_OPTION, &[&option.to_le_bytes()], true)
            .await?;
        let (_, p) = read_packet!(self);
        self.state = State::Idle;
        match p.first() {
            Some(0xff) => Ok(Err(parse_err(p))),
            Some(0xfe) if p.len() < 9 => Ok(Ok(Reader::new(p.get(3..).unwrap_or_default())
                .u16()
                .unwrap_or(self.status))),
            _ => Ok(Ok(parse_ok(p).map(|o| o.status).unwrap_or(self.status))),
        }
    }

    /// COM_FIELD_LIST: raw column definitions of `table` (deprecated
    /// command, still used by old clients' tab completion).
    pub async fn field_list(
        &mut self,
        table: &str,
        wildcard: &str,
    ) -> Result<std::result::Result<Vec<Vec<u8>>, ErrInfo>> {
        self.send(
            COM_FIELD_LIST,
            &[table.as_bytes(), &[0], wildcard.as_bytes()],
            true,
        )
        .await?;
        let mut defs = Vec::new();
        loop {
            let (_, p) = read_packet!(self);
            match p.first() {
                Some(0xff) => {
                    self.state = State::Idle;
                    return Ok(Err(parse_err(p)));
                }
                Some(0xfe)
                    if p.len() < 0xff_ffff
                        && (p.len() < 9 || self.caps & CLIENT_DEPRECATE_EOF != 0) =>
                {
                    self.state = State::Idle;
                    return Ok(Ok(defs));
                }
                _ => defs.push(p.to_vec()),
            }
        }
    }

    /// COM_STATISTICS: the server's status line.
    pub async fn statistics(&mut self) -> Result<String> {
        self.send(COM_STATISTICS, &[], true).await?;
        let (_, p) = read_packet!(self);
        let s = String::from_utf8_lossy(p).into_owned();
        self.state = State::Idle;
        Ok(s)
    }

    /// COM_QUIT, best effort.
    pub async fn quit(mut self) {
        if self.send(COM_QUIT, &[], false).await.is_err() {
            debug!(target = %self.target, "quit failed");
        }
    }
}

/// A fully read result (see `query_collect`).
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub columns: Vec<ColumnDef>,
    pub rows: Vec<Vec<Value>>,
    /// Set when the statement returned OK instead of rows.
    pub ok: Option<OkInfo>,
}
