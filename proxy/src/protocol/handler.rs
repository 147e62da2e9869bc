//! The trait the proxy core implements to answer client sessions.
//!
//! One `Handler` value lives per client connection (made by the server's
//! factory), so it can own per-session state: backend connections, prepared
//! statement maps, transaction state. Every method answers through the
//! `ResponseWriter`; the session flushes it when the method returns.

use std::future::Future;
use std::net::SocketAddr;

use super::command::ExecuteRequest;
use super::consts::*;
use super::packets::ErrInfo;
use super::writer::ResponseWriter;

/// Who connected, after the password check passed.
#[derive(Debug, Clone)]
pub struct ConnectInfo<'a> {
    pub conn_id: u32,
    pub user: &'a str,
    pub database: Option<&'a str>,
    pub peer: Option<SocketAddr>,
    pub capabilities: u32,
    pub charset: u8,
    pub attributes: &'a [(String, String)],
}

/// How the server loop lets a session be stopped from outside: `ended`
/// turns true when another session killed it (KILL CONNECTION), and
/// `cancel` cancels its running command (the client vanished mid-command).
#[derive(Clone)]
pub struct SessionControl {
    pub ended: tokio::sync::watch::Receiver<bool>,
    pub cancel: std::sync::Arc<dyn Fn() + Send + Sync>,
}

/// A handler failure.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Answer the command with this ERR (or close the connection if part of
    /// a response was already sent).
    #[error("{0}")]
    Err(ErrInfo),
    /// The session cannot go on (backend lost mid-result, ...): close it.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl From<ErrInfo> for HandlerError {
    fn from(e: ErrInfo) -> Self {
        HandlerError::Err(e)
    }
}

pub type HandlerResult<T = ()> = Result<T, HandlerError>;

/// Per-session command handler. Methods with a default answer the way a
/// plain MySQL server would.
pub trait Handler: Send {
    /// After authentication: accept the session or refuse it (e.g. ERR 1049
    /// for an unknown database).
    fn on_connect(
        &mut self,
        info: &ConnectInfo<'_>,
    ) -> impl Future<Output = Result<(), ErrInfo>> + Send;

    /// COM_QUERY with valid UTF-8 text (may hold several statements when the
    /// client set CLIENT_MULTI_STATEMENTS).
    fn on_query(
        &mut self,
        sql: &str,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send;

    /// COM_QUERY whose bytes are not UTF-8 (binary literals in a non-UTF-8
    /// charset). Refused unless the handler can forward bytes.
    fn on_query_bytes(
        &mut self,
        _sql: &[u8],
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        w.err(&ErrInfo::new(
            1300,
            "HY000",
            "Query text is not valid UTF-8",
        ));
        std::future::ready(Ok(()))
    }

    /// COM_STMT_PREPARE. `stmt_id` is the id the session assigned; answer
    /// with `w.prepare_ok(stmt_id, ..)` + definitions and return the number
    /// of parameters, or write an ERR and return `None`.
    fn on_prepare(
        &mut self,
        stmt_id: u32,
        sql: &str,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult<Option<u16>>> + Send;

    /// COM_STMT_EXECUTE for a statement this session prepared.
    fn on_execute(
        &mut self,
        req: ExecuteRequest<'_>,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send;

    /// COM_STMT_CLOSE (no response is sent).
    fn on_close_stmt(&mut self, _stmt_id: u32) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    /// COM_STMT_RESET (long data was already cleared by the session).
    fn on_reset_stmt(
        &mut self,
        _stmt_id: u32,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        w.ok_simple(0, 0);
        std::future::ready(Ok(()))
    }

    /// COM_INIT_DB (`USE db`).
    fn on_init_db(
        &mut self,
        db: &str,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send;

    /// COM_FIELD_LIST (deprecated; old clients' tab completion).
    fn on_field_list(
        &mut self,
        _table: &str,
        _wildcard: &str,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        let st = w.status();
        w.end_result(0, st);
        std::future::ready(Ok(()))
    }

    fn on_ping(
        &mut self,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        w.ok_simple(0, 0);
        std::future::ready(Ok(()))
    }

    /// COM_RESET_CONNECTION: the session already dropped its statements.
    fn on_reset_connection(
        &mut self,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        w.set_status(SERVER_STATUS_AUTOCOMMIT);
        w.ok_simple(0, 0);
        std::future::ready(Ok(()))
    }

    /// COM_SET_OPTION (0 = multi statements on, 1 = off); answered with EOF.
    fn on_set_option(
        &mut self,
        _option: u16,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        let st = w.status();
        w.end_result(0, st);
        std::future::ready(Ok(()))
    }

    /// COM_STATISTICS: a human-readable string packet.
    fn on_statistics(
        &mut self,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        w.raw(b"Uptime: 0  Threads: 1  Questions: 0  Slow queries: 0  Opens: 0  Open tables: 0");
        std::future::ready(Ok(()))
    }

    /// COM_PROCESS_KILL.
    fn on_process_kill(
        &mut self,
        id: u32,
        w: &mut ResponseWriter<'_>,
    ) -> impl Future<Output = HandlerResult> + Send {
        w.err(&ErrInfo::new(
            1094,
            "HY000",
            format!("Unknown thread id: {id}"),
        ));
        std::future::ready(Ok(()))
    }

    /// After `on_connect`: how the session can be killed or cancelled from
    /// outside (None: it cannot).
    fn control(&self) -> Option<SessionControl> {
        None
    }

    /// The client is gone (QUIT, EOF, error or shutdown).
    fn on_disconnect(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}
