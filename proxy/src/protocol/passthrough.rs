//! A `Handler` that forwards each client session to one dedicated backend
//! connection, copying results through raw. Used by tests and the
//! passthrough benchmark; `forward_response` is the hot path the router
//! reuses for single-shard statements.

use std::collections::{HashMap, HashSet};

use super::command::ExecuteRequest;
use mysql_common::collations::{Collation, CollationId};

use super::consts::{SERVER_MORE_RESULTS_EXISTS, UTF8MB4_GENERAL_CI};
use super::handler::{ConnectInfo, Handler, HandlerError, HandlerResult};
use super::packets::ErrInfo;
use super::writer::ResponseWriter;
use crate::backend::{BackendConfig, BackendError, Connection, Response};

fn fatal(e: BackendError) -> HandlerError {
    HandlerError::Fatal(e.to_string())
}

/// Copies a backend response (all results of a multi-result) to the client.
/// `first` is what `read_response` (or `query`/`execute_raw`) returned.
/// Rows are forwarded as raw payloads; EOF/OK terminators are re-encoded
/// for the client's DEPRECATE_EOF choice.
pub async fn forward_response(
    conn: &mut Connection,
    w: &mut ResponseWriter<'_>,
    first: Response,
) -> HandlerResult {
    let mut resp = first;
    loop {
        match resp {
            Response::Ok(ok) => w.ok(&ok),
            Response::Err(e) => w.err(&e),
            Response::ResultSet { columns } => {
                w.begin_result(columns as usize);
                while let Some(c) = conn.next_column().await.map_err(fatal)? {
                    w.raw(c);
                }
                w.columns_done();
                loop {
                    match conn.next_row().await {
                        Ok(Some(row)) => w.raw_row(row),
                        Ok(None) => break,
                        Err(BackendError::Server(e)) => {
                            // ERR ends the result (and the response).
                            w.err(&e);
                            return Ok(());
                        }
                        Err(e @ BackendError::QueryTimeout { .. }) => {
                            // The statement was killed mid-result: end the
                            // result with an ERR as the server itself would;
                            // the client connection stays usable.
                            let (code, state) = e.client_code();
                            w.err(&ErrInfo::new(code, state, format!("haoka: {e}")));
                            return Ok(());
                        }
                        Err(e) => return Err(fatal(e)),
                    }
                    w.maybe_flush()
                        .await
                        .map_err(|e| HandlerError::Fatal(e.to_string()))?;
                }
                w.end_result(conn.warnings(), conn.status());
            }
        }
        w.set_status(conn.status() & !SERVER_MORE_RESULTS_EXISTS);
        if !conn.more_results() {
            return Ok(());
        }
        resp = conn.read_response().await.map_err(fatal)?;
    }
}

/// One backend connection per client session.
pub struct Passthrough {
    backend: BackendConfig,
    conn: Option<Connection>,
    /// client statement id -> backend statement id
    stmts: HashMap<u32, u32>,
    /// Statements whose next execute must re-send parameter types.
    retyped: HashSet<u32>,
    scratch: Vec<u8>,
}

impl Passthrough {
    /// `backend.database` is replaced by the client's database on connect.
    pub fn new(backend: BackendConfig) -> Self {
        Passthrough {
            backend,
            conn: None,
            stmts: HashMap::new(),
            retyped: HashSet::new(),
            scratch: Vec::new(),
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, HandlerError> {
        self.conn
            .as_mut()
            .ok_or_else(|| HandlerError::Fatal("no backend connection".into()))
    }
}

impl Handler for Passthrough {
    async fn on_connect(&mut self, info: &ConnectInfo<'_>) -> Result<(), ErrInfo> {
        let mut cfg = self.backend.clone();
        cfg.database = info.database.map(str::to_string);
        match Connection::connect(&cfg).await {
            Ok(mut c) => {
                // Backends speak utf8mb4; follow the client's charset.
                if info.charset != UTF8MB4_GENERAL_CI {
                    let coll = Collation::resolve(CollationId::from(info.charset as u16));
                    if !coll.charset().is_empty() {
                        let sql =
                            format!("SET NAMES {} COLLATE {}", coll.charset(), coll.collation());
                        if let Err(e) = c.query_drop(&sql).await {
                            tracing::debug!(error = %e, "could not follow client charset");
                        }
                    }
                }
                self.conn = Some(c);
                Ok(())
            }
            // e.g. 1049 unknown database: the backend's own answer.
            Err(BackendError::Auth { err, .. }) if err.code != 1045 => Err(err),
            Err(e) => Err(ErrInfo::new(
                2003,
                "HY000",
                format!("Can't connect to backend: {e}"),
            )),
        }
    }

    async fn on_query(&mut self, sql: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        self.on_query_bytes(sql.as_bytes(), w).await
    }

    async fn on_query_bytes(&mut self, sql: &[u8], w: &mut ResponseWriter<'_>) -> HandlerResult {
        let conn = self.conn()?;
        conn.send_query(sql).await.map_err(fatal)?;
        let first = conn.read_response().await.map_err(fatal)?;
        forward_response(conn, w, first).await
    }

    async fn on_prepare(
        &mut self,
        stmt_id: u32,
        sql: &str,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<Option<u16>> {
        let conn = self.conn()?;
        match conn.prepare(sql).await.map_err(fatal)? {
            Err(e) => {
                w.err(&e);
                Ok(None)
            }
            Ok(p) => {
                w.prepare_ok(stmt_id, p.columns.len() as u16, p.num_params, p.warnings);
                for d in &p.params {
                    w.raw(&d.raw);
                }
                if !p.params.is_empty() {
                    w.columns_done();
                }
                for d in &p.columns {
                    w.raw(&d.raw);
                }
                if !p.columns.is_empty() {
                    w.columns_done();
                }
                self.stmts.insert(stmt_id, p.stmt_id);
                Ok(Some(p.num_params))
            }
        }
    }

    async fn on_execute(
        &mut self,
        req: ExecuteRequest<'_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let Some(&backend_id) = self.stmts.get(&req.stmt_id) else {
            return Err(ErrInfo::new(1243, "HY000", "Unknown prepared statement handler").into());
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        // The backend statement saw the same executes as the client's, so
        // the body can go through as-is unless long data must be inlined.
        // After a long-data execute the backend remembers the types we
        // re-encoded, which can differ from the client's: re-bind once.
        let retype =
            !self.retyped.is_empty() && self.retyped.remove(&req.stmt_id) && !req.new_params_bound;
        if req.has_long_data() {
            self.retyped.insert(req.stmt_id);
        }
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| HandlerError::Fatal("no backend connection".into()))?;
        let first = if req.has_long_data() || retype {
            scratch.clear();
            req.encode_for_backend(backend_id, &mut scratch);
            conn.execute_payload(&scratch).await
        } else {
            conn.execute_raw(backend_id, req.raw_after_stmt_id()).await
        }
        .map_err(fatal)?;
        let r = forward_response(conn, w, first).await;
        self.scratch = scratch;
        r
    }

    async fn on_close_stmt(&mut self, stmt_id: u32) {
        self.retyped.remove(&stmt_id);
        if let (Some(id), Some(conn)) = (self.stmts.remove(&stmt_id), self.conn.as_mut()) {
            let _ = conn.close_stmt(id).await;
        }
    }

    async fn on_reset_stmt(&mut self, stmt_id: u32, w: &mut ResponseWriter<'_>) -> HandlerResult {
        let Some(&id) = self.stmts.get(&stmt_id) else {
            return Err(ErrInfo::new(1243, "HY000", "Unknown prepared statement handler").into());
        };
        match self.conn()?.reset_stmt(id).await.map_err(fatal)? {
            Ok(ok) => w.ok(&ok),
            Err(e) => w.err(&e),
        }
        Ok(())
    }

    async fn on_init_db(&mut self, db: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        match self.conn()?.init_db(db).await.map_err(fatal)? {
            Ok(ok) => w.ok(&ok),
            Err(e) => w.err(&e),
        }
        Ok(())
    }

    async fn on_field_list(
        &mut self,
        table: &str,
        wildcard: &str,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        match self
            .conn()?
            .field_list(table, wildcard)
            .await
            .map_err(fatal)?
        {
            Ok(defs) => {
                for d in &defs {
                    w.raw(d);
                }
                let st = w.status();
                w.end_result(0, st);
            }
            Err(e) => w.err(&e),
        }
        Ok(())
    }

    async fn on_statistics(&mut self, w: &mut ResponseWriter<'_>) -> HandlerResult {
        let line = self.conn()?.statistics().await.map_err(fatal)?;
        w.raw(line.as_bytes());
        Ok(())
    }

    async fn on_ping(&mut self, w: &mut ResponseWriter<'_>) -> HandlerResult {
        self.conn()?.ping().await.map_err(fatal)?;
        w.ok_simple(0, 0);
        Ok(())
    }

    async fn on_reset_connection(&mut self, w: &mut ResponseWriter<'_>) -> HandlerResult {
        self.stmts.clear();
        match self.conn()?.reset_connection().await.map_err(fatal)? {
            Ok(ok) => {
                w.set_status(ok.status);
                w.ok(&ok)
            }
            Err(e) => w.err(&e),
        }
        Ok(())
    }

    async fn on_set_option(&mut self, option: u16, w: &mut ResponseWriter<'_>) -> HandlerResult {
        match self.conn()?.set_option(option).await.map_err(fatal)? {
            Ok(status) => w.end_result(0, status),
            Err(e) => w.err(&e),
        }
        Ok(())
    }

    async fn on_disconnect(&mut self) {
        if let Some(c) = self.conn.take() {
            c.quit().await;
        }
    }
}
