//! One client session: the `Handler` the protocol front end drives. It plans
//! each statement with the router and runs the plan (see `shards.rs` for
//! statements that reach shards, `local.rs` for what the proxy answers itself).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mysql_common::value::Value;

use super::diagnostics::{self, DiagRow, Diagnostics};
use super::metrics::{stmt_index, RouteKind};
use super::registry::SessionEntry;
use super::session_values::{self, InlineError, SessionValues, UserVars};
use super::Shared;
use crate::backend::{BackendError, PooledConn};
use crate::protocol::consts::{
    CLIENT_FOUND_ROWS, SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS,
};
use crate::protocol::{
    Answer, ConnectInfo, ErrInfo, ExecuteRequest, Handler, HandlerError, HandlerResult,
    ResponseWriter, SessionControl,
};
use crate::route::quote_ident;
use crate::route::{
    PreparedPlan, RouteError, Routed, SessionCommand, SqlMode, StmtFlags, StmtKind,
};
use crate::rules::{Place, Rules};
use crate::transactions::{self as txn, BranchKind, CommitKind, Transaction};

/// Shard errors that end the whole transaction: deadlock and lock wait
/// timeout (a distributed deadlock shows as the latter on one shard).
const TX_FATAL: [u16; 2] = [1213, 1205];

/// A SET the session replays on its backend connections.
pub(super) struct SessionSet {
    /// The variables it assigns (lower case, joined): a later SET of the
    /// same variables replaces it.
    pub key: String,
    pub sql: String,
}

/// A client's prepared statement.
pub(super) struct ClientStmt {
    /// None for a statement the session answers itself (`session_admin`).
    pub plan: Option<Arc<PreparedPlan>>,
    pub schema: usize,
    /// The statement uses session values (user variables, `DATABASE()`,
    /// ...): planned again at each execution with their current values.
    pub session_sql: Option<String>,
    /// KILL, SHOW WARNINGS, SHOW PROCESSLIST...: answered by the session.
    pub session_admin: Option<String>,
}

/// How the client asked: COM_QUERY (text rows) or COM_STMT_EXECUTE (binary
/// rows, parameters bound).
pub(super) enum Proto<'r, 'a> {
    Text,
    Binary {
        req: &'r ExecuteRequest<'a>,
        values: &'r [Value],
    },
}

impl Proto<'_, '_> {
    pub fn is_binary(&self) -> bool {
        matches!(self, Proto::Binary { .. })
    }
}

pub struct Session {
    pub(super) shared: Arc<Shared>,
    /// Current logical schema (None: the rules' default schema).
    pub(super) schema: Option<usize>,
    pub(super) user: String,
    /// autocommit, the open transaction, its branches and connections.
    pub(super) tx: Transaction,
    pub(super) stmts: HashMap<u32, ClientStmt>,
    pub(super) last_insert_id: u64,
    /// SET statements replayed on every backend connection this session uses.
    pub(super) set_sql: Vec<SessionSet>,
    pub(super) scratch: Vec<u8>,
    /// Authenticated (counted in the connection metrics).
    connected: bool,
    /// Primary or replica for the statement's reads (placement.rs).
    pub(super) placement: super::placement::StatementPlacement,
    /// How the session's MySQL reads statements (its sql_mode).
    pub(super) sql_mode: SqlMode,
    /// The id of the client's handshake (CONNECTION_ID(), KILL, PROCESSLIST).
    pub(super) conn_id: u32,
    pub(super) host: String,
    /// The client asked for CLIENT_FOUND_ROWS (its backend connections too).
    pub(super) found_rows_flag: bool,
    /// User variables, kept by the proxy (see session_values.rs).
    pub(super) user_vars: UserVars,
    /// FOUND_ROWS() and ROW_COUNT() of the last statement.
    pub(super) found_rows: u64,
    pub(super) row_count: i64,
    /// The running statement asked SQL_CALC_FOUND_ROWS: its shards' counts.
    pub(super) calc_found_rows: Option<u64>,
    /// SHOW WARNINGS of the last statement, and what the running one collects.
    pub(super) diagnostics: Diagnostics,
    pub(super) pending_diag: Vec<DiagRow>,
    pub(super) pending_warnings: u64,
    /// This session as KILL and SHOW PROCESSLIST see it.
    pub(super) entry: Option<Arc<SessionEntry>>,
    /// The kind of the prepared statement being executed.
    last_kind: Option<StmtKind>,
    /// The statement being executed is SHOW WARNINGS / ERRORS.
    diag_execute: bool,
    /// The request id a marker statement set (trace_context.rs): the logs of
    /// every later statement without its own comment name it.
    request_id: Option<Box<str>>,
}

pub(super) fn route_err(e: &RouteError) -> ErrInfo {
    ErrInfo::new(e.code(), e.sqlstate(), e.to_string())
}

/// A backend failure as the client sees it: server errors keep their own code;
/// connection trouble names the shard.
pub(super) fn backend_err(
    shared: &Shared,
    schema: usize,
    place: Place,
    e: BackendError,
) -> ErrInfo {
    match e {
        BackendError::Server(err) => err,
        other => {
            let s = &shared.rules.schemas[schema];
            let (code, state) = other.client_code();
            ErrInfo::new(
                code,
                state,
                format!(
                    "haoka: shard {} ({}) of schema {} is unavailable: {other}",
                    place_label(place),
                    s.target(place).database,
                    s.name
                ),
            )
        }
    }
}

fn shard_name(rules: &Rules, schema: usize, place: Place) -> String {
    format!(
        "shard {} ({})",
        place_label(place),
        rules.schemas[schema].target(place).database
    )
}

pub(super) fn place_label(place: Place) -> String {
    match place {
        Place::Data(i) => i.to_string(),
        Place::Global => "global".into(),
    }
}

impl Session {
    pub fn new(shared: Arc<Shared>) -> Session {
        shared
            .metrics
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        shared
            .metrics
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        Session {
            shared,
            schema: None,
            user: String::new(),
            tx: Transaction::default(),
            stmts: HashMap::new(),
            last_insert_id: 0,
            set_sql: Vec::new(),
            scratch: Vec::new(),
            connected: false,
            placement: Default::default(),
            sql_mode: SqlMode::default(),
            conn_id: 0,
            host: String::new(),
            found_rows_flag: false,
            user_vars: UserVars::new(),
            found_rows: 0,
            row_count: -1,
            calc_found_rows: None,
            diagnostics: Diagnostics::default(),
            pending_diag: Vec::new(),
            pending_warnings: 0,
            entry: None,
            last_kind: None,
            diag_execute: false,
            request_id: None,
        }
    }

    pub(super) fn in_tx(&self) -> bool {
        self.tx.is_open()
    }

    /// "shard 3 (haoka_s3)" for messages.
    pub(super) fn shard_name(&self, schema: usize, place: Place) -> String {
        shard_name(&self.shared.rules, schema, place)
    }

    /// A shard's error for a statement: inside a transaction, a deadlock, a
    /// lock wait timeout or a lost connection rolls the whole distributed
    /// transaction back (after the answer is written), and the client is
    /// told so — it retries the transaction.
    pub(super) fn shard_error(&mut self, mut e: ErrInfo, lost_conn: bool) -> ErrInfo {
        if self.in_tx() && !self.tx.is_implicit() && (lost_conn || TX_FATAL.contains(&e.code)) {
            self.tx.abort_after_statement();
            e.message
                .push_str("; haoka: the whole transaction was rolled back on every shard");
        }
        e
    }

    pub(super) fn schema_idx(&self) -> usize {
        self.schema.unwrap_or_else(|| {
            self.shared
                .rules
                .schemas
                .iter()
                .position(|s| s.is_default)
                .unwrap_or(0)
        })
    }

    pub(super) fn schema_name(&self) -> &str {
        &self.shared.rules.schemas[self.schema_idx()].name
    }

    /// SERVER_STATUS flags for synthesized OKs.
    pub(super) fn status(&self) -> u16 {
        let mut s = 0;
        if self.tx.autocommit() {
            s |= SERVER_STATUS_AUTOCOMMIT;
        }
        if self.tx.client_sees_open() {
            s |= SERVER_STATUS_IN_TRANS;
        }
        s
    }

    /// SERVER_STATUS flags for the answer to a statement that ran on shards:
    /// inside a transaction (BEGIN, or autocommit off) the statement's shard
    /// connections are pinned, so the transaction is open even when the
    /// connections go back to the session only after the answer is written.
    /// Clients such as MariaDB Connector/J send COMMIT only when this flag is set.
    pub(super) fn status_after_shards(&self) -> u16 {
        let mut s = self.status();
        if self.in_tx() {
            s |= SERVER_STATUS_IN_TRANS;
        }
        s
    }

    pub(super) fn may_use(&self, schema: &str) -> bool {
        match self.shared.users.get(&self.user) {
            Some(u) => {
                u.schemas.is_empty() || u.schemas.iter().any(|s| s.eq_ignore_ascii_case(schema))
            }
            None => false,
        }
    }

    /// A backend connection for `place`: the transaction's own, or a pooled
    /// one prepared with the session's SETs (and BEGIN inside a transaction).
    pub(super) async fn take_conn(
        &mut self,
        schema: usize,
        place: Place,
    ) -> Result<PooledConn, ErrInfo> {
        if let Some(mut c) = self.tx.take_pinned((schema, place)) {
            self.time_statement(&mut c);
            self.running(&c);
            return Ok(c);
        }
        if self.tx.lost_connection((schema, place)) {
            // Its earlier work went with the connection.
            let name = self.shard_name(schema, place);
            return Err(self.shard_error(
                ErrInfo::new(
                    1105,
                    "HY000",
                    format!("haoka: {name} lost its connection during this transaction"),
                ),
                true,
            ));
        }
        let shared = self.shared.clone();
        let wrap = |e| backend_err(&shared, schema, place, e);
        let mut conn = self.checkout(schema, place).await.map_err(wrap)?;
        self.running(&conn);
        if !self.set_sql.is_empty() {
            conn.dirty = true;
            for set in &self.set_sql {
                conn.query_drop(&set.sql).await.map_err(wrap)?;
            }
        }
        if self.in_tx() {
            let kind = self.tx.next_branch(&self.shared.rules, (schema, place));
            if kind == BranchKind::Local && self.tx.savepoints().is_empty() {
                // Sent in one write with the statement (no round trip).
                conn.begin_with_next_command();
            } else {
                conn.query_drop(&kind.start_sql(self.tx.savepoints()))
                    .await
                    .map_err(wrap)?;
            }
            self.tx.add_branch((schema, place), kind);
        }
        Ok(conn)
    }

    /// A connection of the global shard for the session's own upkeep
    /// (checking a SET, evaluating user variables), given the session's SETs:
    /// never a transaction branch. Hand it back with `end_upkeep`.
    pub(super) async fn upkeep_conn(&mut self, schema: usize) -> Result<PooledConn, ErrInfo> {
        let shared = self.shared.clone();
        let wrap = |e| backend_err(&shared, schema, Place::Global, e);
        let mut conn = self.checkout(schema, Place::Global).await.map_err(wrap)?;
        self.running(&conn);
        conn.dirty = true;
        for set in &self.set_sql {
            conn.query_drop(&set.sql).await.map_err(wrap)?;
        }
        Ok(conn)
    }

    /// Back to the pool, reset (it never joins the session's transaction).
    pub(super) async fn end_upkeep(&mut self, mut conn: PooledConn) {
        if let Some(e) = &self.entry {
            e.released(conn.connection_id());
        }
        if conn.is_idle() {
            let _ = conn.reset_connection().await;
        }
    }

    /// A backend connection the running statement uses (KILL QUERY cancels it).
    fn running(&self, conn: &PooledConn) {
        if let Some(e) = &self.entry {
            e.uses(conn.canceller());
        }
    }

    /// Returns a connection: kept for the transaction, else back to the pool.
    pub(super) async fn give_back(&mut self, schema: usize, place: Place, mut conn: PooledConn) {
        if let Some(e) = &self.entry {
            e.released(conn.connection_id());
        }
        if conn.is_idle() {
            match self.tx.pin((schema, place), conn) {
                None => return,
                Some(c) => conn = c,
            }
        }
        if conn.dirty && conn.is_idle() {
            // Session state must not leak to the next client of this connection.
            let _ = conn.reset_connection().await;
        }
    }

    /// Ends the transaction on every branch: COMMIT (one-phase, or XA
    /// two-phase when several branches wrote) or ROLLBACK.
    pub(super) async fn finish_tx(&mut self, commit: bool) -> Result<(), ErrInfo> {
        let rules = &self.shared.rules;
        let ended = self
            .tx
            .end(|(schema, place)| shard_name(rules, schema, place));
        let (parts, gtrid) = (ended.participants, ended.gtrid);
        for conn in ended.idle {
            txn::branch::release(conn).await;
        }
        if parts.is_empty() {
            return Ok(());
        }
        let m = &self.shared.txn;
        if !commit {
            m.rollbacks.fetch_add(1, Ordering::Relaxed);
            txn::rollback(parts).await;
            return Ok(());
        }
        match txn::commit(parts, gtrid.as_deref()).await {
            Ok(CommitKind::TwoPhase) => {
                m.commits_xa.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(_) => {
                m.commits_local.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                m.rollbacks.fetch_add(1, Ordering::Relaxed);
                let err = e.to_err_info();
                self.shared.metrics.error(err.code);
                Err(err)
            }
        }
    }

    /// Runs `sql` on every branch of the transaction (savepoint statements).
    async fn on_all_branches(&mut self, sql: &str) -> Result<(), ErrInfo> {
        for ((schema, place), conn) in self.tx.pinned_all() {
            if let Err(e) = conn.query_drop(sql).await {
                return Err(backend_err(&self.shared, schema, place, e));
            }
        }
        Ok(())
    }

    fn savepoint_pos(&self, name: &str) -> Result<usize, ErrInfo> {
        self.tx
            .savepoint_pos(name)
            .ok_or_else(|| ErrInfo::new(1305, "42000", format!("SAVEPOINT {name} does not exist")))
    }

    /// One statement of a COM_QUERY.
    async fn run_text(&mut self, sql: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        let started = Instant::now();
        // `/*!40101 SET ... */` as the backend would read it (dumps are full of them).
        let expanded =
            crate::route::expand_executable_comments(sql, self.shared.identity.version_number);
        let sql: &str = &expanded;
        // SHOW WARNINGS and friends read the diagnostics area, not reset it.
        let diag = diagnostics::parse(sql).is_some();
        if self.run_session_admin(sql, false, w).await? {
            let answer = w.take_answer();
            if !diag {
                self.finish_statement(None, answer);
            }
            return Ok(());
        }
        let schema = self.schema_idx();
        // A statement for a province being switched to another shard waits
        // here (reshard::hold) and is planned on the new map afterwards.
        let (mut routed, mut _in_flight) = self
            .shared
            .reshard
            .hold(|| self.plan_text(schema, sql))
            .await;
        // Session values (LAST_INSERT_ID(), DATABASE(), @v...) go in as
        // literals and the statement is planned again with them (a user
        // variable may route it). A statement the router cannot plan as
        // written may need them too.
        let inlined;
        let mut sql = sql;
        if routed.as_ref().map_or(true, |(_, f)| f.session_values) {
            match self.with_session_values(sql) {
                Err(InlineError::Assignment) => {
                    self.run_assignment(schema, sql, w).await?;
                    let answer = w.take_answer();
                    self.finish_statement(Some(StmtKind::NoTable), answer);
                    return Ok(());
                }
                Ok(text) if text != sql => {
                    inlined = text;
                    sql = &inlined;
                    (routed, _in_flight) = self
                        .shared
                        .reshard
                        .hold(|| self.plan_text(schema, sql))
                        .await;
                }
                Ok(_) => {}
            }
        }
        if reads_backend_processlist(sql) {
            w.err(&processlist_refused());
            let answer = w.take_answer();
            self.finish_statement(None, answer);
            return Ok(());
        }
        let with_columns;
        if let Err(RouteError::NeedsColumnList { table }) = &routed {
            // INSERT INTO t VALUES (...): name the logical table's columns.
            match self.insert_columns(schema, table).await {
                Ok(cols) => {
                    with_columns = crate::route::with_column_list(sql, &cols);
                    if let Some(text) = &with_columns {
                        sql = text;
                        (routed, _in_flight) = self
                            .shared
                            .reshard
                            .hold(|| self.plan_text(schema, sql))
                            .await;
                    }
                }
                Err(e) => {
                    w.err(&e);
                    let answer = w.take_answer();
                    self.finish_statement(None, answer);
                    return Ok(());
                }
            }
        }
        let (routed, flags) = match routed {
            Ok(r) => r,
            Err(e) => {
                self.shared.metrics.error(e.code());
                w.err(&route_err(&e));
                let answer = w.take_answer();
                self.finish_statement(None, answer);
                return Ok(());
            }
        };
        self.calc_found_rows = flags.calc_found_rows.then_some(0);
        let kind = routed.kind();
        let route = self
            .run_routed(schema, routed, flags, sql, &Proto::Text, w)
            .await?;
        let answer = w.take_answer();
        self.finish_statement(Some(kind), answer);
        self.observe(kind, route, started, sql);
        Ok(())
    }

    fn plan_text(&self, schema: usize, sql: &str) -> Result<(Routed, StmtFlags), RouteError> {
        let segs = &self.shared.schemas[schema].segments;
        self.shared.router.plan_text_flagged(
            &self.shared.rules.schemas[schema].name,
            sql,
            segs,
            self.sql_mode,
        )
    }

    /// The columns of a logical table in their order, from its first
    /// physical copy.
    async fn insert_columns(&mut self, schema: usize, table: &str) -> Result<Vec<String>, ErrInfo> {
        let s = &self.shared.rules.schemas[schema];
        let Some((place, physical)) = s.physical_tables(table).and_then(|v| v.into_iter().next())
        else {
            return Err(route_err(&RouteError::NoSuchTable {
                schema: s.name.clone(),
                table: table.to_string(),
            }));
        };
        let sql = format!("SHOW COLUMNS FROM {}", crate::route::quote_ident(&physical));
        self.first_column(schema, place, &sql).await
    }

    /// The session's values at this point (for inlining into a statement).
    pub(super) fn session_values(&self) -> SessionValues {
        SessionValues {
            connection_id: self.conn_id,
            user: self.user.clone(),
            host: self.host.clone(),
            database: self.schema_name().to_string(),
            last_insert_id: self.last_insert_id,
            found_rows: self.found_rows,
            row_count: self.row_count,
            autocommit: self.tx.autocommit(),
            warning_count: self.diagnostics.warning_count(),
            error_count: self.diagnostics.error_count(),
            version: self.shared.identity.version.clone(),
            version_comment: self.shared.identity.comment.clone(),
            renamed_variables: self.shared.identity.renamed_variables(),
        }
    }

    /// `sql` with the session's values put in (the same text when it uses
    /// none; ask the plan's [`StmtFlags::session_values`] first).
    pub(super) fn with_session_values(&self, sql: &str) -> Result<String, InlineError> {
        session_values::inline(
            sql,
            &self.session_values(),
            Some(&self.user_vars),
            self.sql_mode,
        )
    }

    /// After a statement: ROW_COUNT(), FOUND_ROWS() and the diagnostics area
    /// from what it answered. A statement that uses no table and raised no
    /// message leaves the diagnostics of the one before (as MariaDB does).
    pub(super) fn finish_statement(&mut self, kind: Option<StmtKind>, answer: Answer) {
        let mut rows = std::mem::take(&mut self.pending_diag);
        let counted = std::mem::take(&mut self.pending_warnings);
        let calc = self.calc_found_rows.take();
        let uses_tables = kind.is_some_and(|k| {
            !matches!(
                k,
                StmtKind::NoTable | StmtKind::Session | StmtKind::Haoka | StmtKind::Explain
            )
        });
        match answer {
            Answer::Nothing => return,
            Answer::Ok { affected_rows, .. } => self.row_count = affected_rows as i64,
            Answer::Rows { rows: n, .. } => {
                self.row_count = -1;
                self.found_rows = calc.unwrap_or(n);
            }
            Answer::Err(e) => {
                self.row_count = -1;
                rows.push(diagnostics::error_row(&e));
                self.diagnostics.set(rows, counted);
                return;
            }
        }
        for r in &mut rows {
            r.message = crate::protocol::writer::replace_words(
                &r.message,
                &self.shared.logical_names[self.schema_idx()],
            );
        }
        if !rows.is_empty() || counted > 0 || uses_tables {
            self.diagnostics.set(rows, counted);
        }
    }

    /// Right after a statement ran on `conn`: FOUND_ROWS() for
    /// SQL_CALC_FOUND_ROWS, and the warnings it counted (`warnings`).
    pub(super) async fn after_on_conn(&mut self, conn: &mut PooledConn, warnings: u16) {
        if !conn.is_idle() {
            return;
        }
        if let Some(total) = self.calc_found_rows {
            if let Ok(r) = conn.query_collect("SELECT FOUND_ROWS()").await {
                let n = r
                    .rows
                    .first()
                    .and_then(|row| row.first())
                    .and_then(|v| match v {
                        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse::<u64>().ok(),
                        Value::UInt(u) => Some(*u),
                        Value::Int(i) => u64::try_from(*i).ok(),
                        _ => None,
                    })
                    .unwrap_or(0);
                self.calc_found_rows = Some(total + n);
            }
        }
        if warnings > 0 {
            self.pending_warnings += warnings as u64;
            if let Ok(r) = conn.query_collect("SHOW WARNINGS").await {
                self.pending_diag
                    .extend(diagnostics::rows_from_backend(r.rows));
            }
        }
    }

    pub(super) fn observe(&self, kind: StmtKind, route: RouteKind, started: Instant, sql: &str) {
        let elapsed = started.elapsed();
        self.shared.metrics.record(stmt_index(kind), route, elapsed);
        if elapsed >= self.shared.slow_query {
            self.shared
                .metrics
                .slow_queries
                .fetch_add(1, Ordering::Relaxed);
            let shown: String = sql.chars().take(1000).collect();
            tracing::warn!(
                target: "slow_query",
                elapsed_ms = elapsed.as_millis() as u64,
                schema = self.schema_name(),
                user = %self.user,
                sql = %shown,
                "slow query"
            );
        }
    }

    /// Runs any routed statement; returns how it was routed (for metrics).
    pub(super) async fn run_routed(
        &mut self,
        schema: usize,
        routed: Routed,
        flags: StmtFlags,
        sql: &str,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<RouteKind> {
        let kind = routed.kind();
        self.tx
            .start_statement(kind.is_write() || kind == StmtKind::PassThrough);
        self.place_statement(&routed, flags);
        let r = self.run_routed_inner(schema, routed, sql, proto, w).await;
        if self.tx.take_abort() {
            self.shared
                .txn
                .forced_rollbacks
                .fetch_add(1, Ordering::Relaxed);
            let _ = self.finish_tx(false).await;
        }
        r
    }

    async fn run_routed_inner(
        &mut self,
        schema: usize,
        routed: Routed,
        sql: &str,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<RouteKind> {
        match routed {
            Routed::Shards(plan) => self.run_shards(schema, plan, sql, proto, w).await,
            Routed::NeedIds(pending) => {
                let seq = &self.shared.rules.schemas[schema]
                    .sequences
                    .iter()
                    .find(|s| s.name == pending.sequence)
                    .map(|s| s.block)
                    .unwrap_or(crate::rules::DEFAULT_SEQUENCE_BLOCK);
                let ranges = match self.shared.schemas[schema]
                    .sequences
                    .next_ids(&pending.sequence, pending.count as u64, *seq)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        w.err(&ErrInfo::new(1105, "HY000", format!("haoka: {e}")));
                        return Ok(RouteKind::Local);
                    }
                };
                let ids: Vec<u64> = ranges.into_iter().flatten().map(|i| i as u64).collect();
                let segs = &self.shared.schemas[schema].segments;
                let (bound, _in_flight) = self
                    .shared
                    .reshard
                    .hold(|| pending.bind_ids(&ids, segs))
                    .await;
                match bound {
                    Ok(Routed::Shards(plan)) => self.run_shards(schema, plan, sql, proto, w).await,
                    Ok(_) => {
                        w.err(&ErrInfo::new(
                            1105,
                            "HY000",
                            "haoka: internal: sequence insert did not route to shards",
                        ));
                        Ok(RouteKind::Local)
                    }
                    Err(e) => {
                        w.err(&route_err(&e));
                        Ok(RouteKind::Local)
                    }
                }
            }
            Routed::NeedLookup(pending) => {
                // Global secondary index: read the owning shard keys first,
                // then route the statement to those shards only.
                let keys = match self.index_keys(schema, &pending).await {
                    Ok(k) => k,
                    Err(e) => {
                        w.err(&e);
                        return Ok(RouteKind::Local);
                    }
                };
                let segs = &self.shared.schemas[schema].segments;
                let (bound, _in_flight) = self
                    .shared
                    .reshard
                    .hold(|| pending.bind_keys(&keys, segs))
                    .await;
                match bound {
                    Ok(Routed::Shards(plan)) => self.run_shards(schema, plan, sql, proto, w).await,
                    Ok(_) => {
                        w.err(&ErrInfo::new(
                            1105,
                            "HY000",
                            "haoka: internal: index lookup did not route to shards",
                        ));
                        Ok(RouteKind::Local)
                    }
                    Err(e) => {
                        w.err(&route_err(&e));
                        Ok(RouteKind::Local)
                    }
                }
            }
            Routed::Session(cmd) => {
                self.run_session(cmd, w).await?;
                Ok(RouteKind::Local)
            }
            Routed::NoTable { sql } => {
                let place = Place::Global;
                self.run_on_one(schema, place, &sql, proto, w).await?;
                Ok(RouteKind::Single)
            }
            Routed::PassThrough { sql } => {
                self.run_on_one(schema, Place::Global, &sql, proto, w)
                    .await?;
                Ok(RouteKind::Single)
            }
            Routed::Metadata(m) => {
                self.run_metadata(schema, m, proto, w).await?;
                Ok(RouteKind::Local)
            }
            Routed::Haoka(show) => {
                self.run_haoka_show(show, w);
                Ok(RouteKind::Local)
            }
            Routed::Explain(inner) => {
                self.explain_resolved(schema, *inner, w).await;
                Ok(RouteKind::Local)
            }
        }
    }

    /// EXPLAIN; a statement routed through a global index shows the index
    /// lookup and then the shards the looked-up keys route it to.
    async fn explain_resolved(&mut self, schema: usize, inner: Routed, w: &mut ResponseWriter<'_>) {
        let Routed::NeedLookup(pending) = &inner else {
            self.run_explain(schema, &inner, w);
            return;
        };
        let s = &self.shared.rules.schemas[schema];
        let mut rows = crate::route::explain(&inner, s);
        let bound = match self.index_keys(schema, pending).await {
            Ok(keys) => pending.bind_keys(&keys, &self.shared.schemas[schema].segments),
            Err(e) => {
                w.err(&e);
                return;
            }
        };
        match bound {
            Ok(routed) => {
                let s = &self.shared.rules.schemas[schema];
                rows.extend(crate::route::explain(&routed, s));
                self.write_explain(rows, w);
            }
            Err(e) => w.err(&route_err(&e)),
        }
    }

    /// Runs the session's SETs on a backend connection of the global shard
    /// (an invalid one fails there, and is not kept); `reads_mode`: then
    /// takes the session's sql_mode from it, for reading later statements.
    async fn apply_set(&mut self, reads_mode: bool) -> Result<(), ErrInfo> {
        let schema = self.schema_idx();
        let mut conn = self.upkeep_conn(schema).await?;
        let mode = if reads_mode {
            conn.query_collect("SELECT @@SESSION.sql_mode")
                .await
                .map(|r| {
                    r.rows.first().and_then(|row| row.first()).map(|v| match v {
                        Value::Bytes(b) => SqlMode::parse(&String::from_utf8_lossy(b)),
                        _ => SqlMode::default(),
                    })
                })
        } else {
            Ok(None)
        };
        self.end_upkeep(conn).await;
        match mode {
            Ok(Some(m)) => self.sql_mode = m,
            Ok(None) => {}
            Err(e) => return Err(backend_err(&self.shared, schema, Place::Global, e)),
        }
        Ok(())
    }

    async fn run_session(
        &mut self,
        cmd: SessionCommand,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let mut result = Ok(());
        match cmd {
            SessionCommand::Begin { read_only } => {
                // Like MySQL, BEGIN inside a transaction commits it first.
                if self.in_tx() {
                    result = self.finish_tx(true).await;
                }
                self.tx.begin(read_only);
            }
            SessionCommand::Commit => result = self.finish_tx(true).await,
            SessionCommand::Rollback => result = self.finish_tx(false).await,
            SessionCommand::Savepoint(name) => {
                // Outside a transaction a savepoint is a no-op, as in MySQL.
                if self.in_tx() {
                    result = self
                        .on_all_branches(&format!("SAVEPOINT {}", quote_ident(&name)))
                        .await;
                    if result.is_ok() {
                        self.tx.add_savepoint(name);
                    }
                }
            }
            SessionCommand::RollbackToSavepoint(name) => match self.savepoint_pos(&name) {
                Ok(pos) => {
                    let sql = format!("ROLLBACK TO SAVEPOINT {}", quote_ident(&name));
                    result = self.on_all_branches(&sql).await;
                    self.tx.rolled_back_to(pos);
                }
                Err(e) => result = Err(e),
            },
            SessionCommand::ReleaseSavepoint(name) => match self.savepoint_pos(&name) {
                Ok(pos) => {
                    let sql = format!("RELEASE SAVEPOINT {}", quote_ident(&name));
                    result = self.on_all_branches(&sql).await;
                    self.tx.released(pos);
                }
                Err(e) => result = Err(e),
            },
            SessionCommand::Use(db) => {
                let Some(idx) = self
                    .shared
                    .rules
                    .schemas
                    .iter()
                    .position(|s| s.name.eq_ignore_ascii_case(&db))
                else {
                    w.err(&ErrInfo::new(
                        1049,
                        "42000",
                        format!("Unknown database '{db}'"),
                    ));
                    return Ok(());
                };
                if !self.may_use(&db) {
                    w.err(&ErrInfo::new(
                        1044,
                        "42000",
                        format!("Access denied for user '{}' to database '{db}'", self.user),
                    ));
                    return Ok(());
                }
                self.schema = Some(idx);
                if let Some(e) = &self.entry {
                    e.set_db(&self.shared.rules.schemas[idx].name);
                }
            }
            SessionCommand::SetNames { charset, collation } => {
                result = self.set_names(&charset, collation.as_deref()).await;
            }
            SessionCommand::LockTables => {
                if self.in_tx() {
                    result = self.finish_tx(true).await;
                }
            }
            SessionCommand::UnlockTables | SessionCommand::KeysToggle => {}
            SessionCommand::SetAutocommit(on) => {
                if on && self.in_tx() {
                    result = self.finish_tx(true).await;
                }
                self.tx.set_autocommit(on);
            }
            SessionCommand::Set { sql, variables } => {
                result = self.set_system_vars(sql, &variables).await;
            }
        }
        w.set_status(self.status());
        match result {
            Ok(()) => w.ok_simple(0, 0),
            Err(e) => w.err(&e),
        }
        Ok(())
    }
}

impl Session {
    /// `SET` of system variables (`variables`, as the router read them).
    pub(super) async fn set_system_vars(
        &mut self,
        sql: String,
        variables: &[String],
    ) -> Result<(), ErrInfo> {
        let sql = self.shared.identity.map_set(&sql).into_owned();
        let key = variables
            .iter()
            .map(|v| v.trim_start_matches('@').to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(",");
        // A SET that reads no variable (`sql_mode = CONCAT(@@sql_mode,
        // ...)` does) makes an earlier SET of the same ones moot.
        let absolute = !key.is_empty() && !sql.contains('@');
        // A backend checks it (and says what sql_mode it makes).
        let reads_mode = variables
            .iter()
            .any(|v| v.to_ascii_lowercase().ends_with("sql_mode"));
        self.keep_set(sql, key, absolute, reads_mode).await
    }

    /// A SET the shards must see, kept under `key` (the variables it sets):
    /// applied now to the transaction's connections, checked on a backend
    /// connection (a SET the shards refuse fails here, not on every later
    /// statement), then replayed on each connection the session takes. The
    /// new value replaces an earlier `absolute` SET of the same variables.
    async fn keep_set(
        &mut self,
        sql: String,
        key: String,
        absolute: bool,
        reads_mode: bool,
    ) -> Result<(), ErrInfo> {
        for ((schema, place), conn) in self.tx.pinned_all() {
            conn.dirty = true;
            if let Err(e) = conn.query_drop(&sql).await {
                return Err(backend_err(&self.shared, schema, place, e));
            }
        }
        let replaces = absolute && self.set_sql.iter().any(|s| s.key == key);
        if self.set_sql.len() >= 64 && !replaces {
            return Err(ErrInfo::new(
                1235,
                "42000",
                "haoka: a session keeps at most 64 SET statements of different variables; use COM_RESET_CONNECTION",
            ));
        }
        self.set_sql.push(SessionSet {
            key: key.clone(),
            sql,
        });
        if let Err(e) = self.apply_set(reads_mode).await {
            self.set_sql.pop();
            return Err(e);
        }
        let last = self.set_sql.len() - 1;
        if let Some(i) = self.set_sql[..last]
            .iter()
            .position(|s| absolute && s.key == key)
        {
            self.set_sql.remove(i);
        }
        Ok(())
    }

    /// SET NAMES / SET CHARACTER SET. Backend connections speak
    /// utf8mb4_general_ci, so a utf8 charset with that (or no) collation
    /// needs nothing replayed; MySQL 8's utf8mb4_0900_* collations, which
    /// MariaDB lacks, map to their MariaDB counterparts.
    async fn set_names(&mut self, charset: &str, collation: Option<&str>) -> Result<(), ErrInfo> {
        let unquote = |s: &str| {
            s.trim_matches(|c| c == '\'' || c == '"' || c == '`')
                .to_ascii_lowercase()
        };
        let cs = unquote(charset);
        let coll = collation.map(|c| {
            let c = unquote(c);
            super::identity::mariadb_collation(&c)
                .map(str::to_string)
                .unwrap_or(c)
        });
        self.set_sql.retain(|s| s.key != "names");
        let utf8 = matches!(cs.as_str(), "utf8mb4" | "utf8" | "utf8mb3");
        let backend_collation = coll.as_deref().is_none_or(|c| {
            matches!(
                c,
                "utf8mb4_general_ci" | "utf8mb3_general_ci" | "utf8_general_ci"
            )
        });
        if utf8 && backend_collation {
            return Ok(());
        }
        let mut sql = format!("SET NAMES {cs}");
        if let Some(c) = coll {
            sql.push_str(&format!(" COLLATE {c}"));
        }
        self.keep_set(sql, "names".into(), true, false).await
    }

    /// The client's handshake character set: replayed as SET NAMES unless it
    /// is a utf8 one (what backend connections already speak). MySQL 8's
    /// default collation (255, utf8mb4_0900_ai_ci) is utf8mb4.
    fn follow_handshake_charset(&mut self, id: u8) {
        use mysql_common::collations::{Collation, CollationId};
        let coll = Collation::resolve(CollationId::from(id as u16));
        let cs = coll.charset().to_ascii_lowercase();
        if cs.is_empty() || matches!(cs.as_str(), "utf8mb4" | "utf8" | "utf8mb3") {
            return;
        }
        self.set_sql.push(SessionSet {
            key: "names".into(),
            sql: format!("SET NAMES {cs} COLLATE {}", coll.collation()),
        });
    }
}

/// The statements of a multi-statement COM_QUERY under the session's
/// sql_mode; a text that holds one statement is run as sent.
fn statements(sql: &str, mode: SqlMode) -> Vec<&str> {
    if !sql.contains(';') {
        return vec![sql];
    }
    let parts = crate::route::split_statements(sql, mode);
    if parts.len() <= 1 {
        return vec![sql];
    }
    parts
}

impl Handler for Session {
    async fn on_connect(&mut self, info: &ConnectInfo<'_>) -> Result<(), ErrInfo> {
        self.user = info.user.to_string();
        self.conn_id = info.conn_id;
        self.host = info
            .peer
            .map(|p| p.ip().to_string())
            .unwrap_or_else(|| "localhost".into());
        self.found_rows_flag = info.capabilities & CLIENT_FOUND_ROWS != 0;
        self.connected = true;
        self.follow_handshake_charset(info.charset);
        let m = &self.shared.metrics;
        m.connections_total.fetch_add(1, Ordering::Relaxed);
        m.connections_open.fetch_add(1, Ordering::Relaxed);
        if let Some(db) = info.database.filter(|d| !d.is_empty()) {
            let Some(idx) = self
                .shared
                .rules
                .schemas
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(db))
            else {
                return Err(ErrInfo::new(
                    1049,
                    "42000",
                    format!("Unknown database '{db}'"),
                ));
            };
            if !self.may_use(db) {
                return Err(ErrInfo::new(
                    1044,
                    "42000",
                    format!("Access denied for user '{}' to database '{db}'", info.user),
                ));
            }
            self.schema = Some(idx);
        }
        let entry = SessionEntry::new(self.conn_id, &self.user, &self.host, self.schema_name());
        self.shared.sessions.register(entry.clone());
        self.entry = Some(entry);
        Ok(())
    }

    fn control(&self) -> Option<SessionControl> {
        let entry = self.entry.clone()?;
        let ended = entry.ended();
        Some(SessionControl {
            ended,
            cancel: Arc::new(move || {
                let entry = entry.clone();
                tokio::spawn(async move { entry.kill_query().await });
            }),
        })
    }

    async fn on_query(&mut self, sql: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        w.set_status(self.status());
        w.rename_in_errors(self.shared.logical_names[self.schema_idx()].clone());
        if let Some(e) = &self.entry {
            e.begin("Query", Some(sql));
        }
        // A client's request id (sqlcommenter) follows the statement into
        // the slow-query and per-shard statement logs.
        if let Some(set) = super::trace_context::marker(sql) {
            self.request_id = set.map(Box::from);
            w.ok_simple(0, 0);
            if let Some(e) = &self.entry {
                e.end();
            }
            return Ok(());
        }
        let id = super::trace_context::request_id(sql).or(self.request_id.as_deref());
        let r = match id.map(statement_span) {
            Some(span) => {
                use tracing::Instrument;
                self.run_query(sql, w).instrument(span).await
            }
            None => self.run_query(sql, w).await,
        };
        if let Some(e) = &self.entry {
            e.end();
        }
        r
    }

    async fn on_query_bytes(&mut self, sql: &[u8], w: &mut ResponseWriter<'_>) -> HandlerResult {
        match crate::route::binary_literals_as_hex(sql) {
            Some(text) => self.on_query(&text, w).await,
            None => {
                w.err(&ErrInfo::new(
                    1300,
                    "HY000",
                    "Query text is not valid UTF-8",
                ));
                Ok(())
            }
        }
    }

    async fn on_prepare(
        &mut self,
        stmt_id: u32,
        sql: &str,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<Option<u16>> {
        let schema = self.schema_idx();
        let expanded =
            crate::route::expand_executable_comments(sql, self.shared.identity.version_number);
        let sql: &str = &expanded;
        w.rename_in_errors(self.shared.logical_names[schema].clone());
        if reads_backend_processlist(sql) {
            w.err(&processlist_refused());
            return Ok(None);
        }
        if self.is_session_admin(sql) {
            w.prepare_ok(stmt_id, 0, 0, 0);
            self.stmts.insert(
                stmt_id,
                ClientStmt {
                    plan: None,
                    schema,
                    session_sql: None,
                    session_admin: Some(sql.to_string()),
                },
            );
            return Ok(Some(0));
        }
        // Session values are put in at each execution (they change).
        let (planned, session_sql) = match self.prepare_plan(schema, sql) {
            Ok(p) if !p.flags().session_values => (Ok(p), None),
            raw => match self.with_session_values(sql) {
                Err(InlineError::Assignment) => (Err(assignment_refused()), None),
                Ok(text) if text != sql => {
                    (self.prepare_plan(schema, &text), Some(sql.to_string()))
                }
                Ok(_) => (raw, None),
            },
        };
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                w.err(&e);
                return Ok(None);
            }
        };
        let params = plan.params() as u16;
        self.describe_prepared(schema, &plan, stmt_id, params, w)
            .await?;
        self.stmts.insert(
            stmt_id,
            ClientStmt {
                plan: Some(plan),
                schema,
                session_sql,
                session_admin: None,
            },
        );
        Ok(Some(params))
    }

    async fn on_execute(
        &mut self,
        req: ExecuteRequest<'_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        w.rename_in_errors(self.shared.logical_names[self.schema_idx()].clone());
        if let Some(e) = &self.entry {
            e.begin("Execute", None);
        }
        let r = match self.request_id.as_deref().map(statement_span) {
            Some(span) => {
                use tracing::Instrument;
                self.execute(req, w).instrument(span).await
            }
            None => self.execute(req, w).await,
        };
        let answer = w.take_answer();
        if !std::mem::take(&mut self.diag_execute) {
            self.finish_statement(self.last_kind, answer);
        }
        if let Some(e) = &self.entry {
            e.end();
        }
        r
    }

    async fn on_close_stmt(&mut self, stmt_id: u32) {
        self.stmts.remove(&stmt_id);
    }

    async fn on_init_db(&mut self, db: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        self.run_session(SessionCommand::Use(db.to_string()), w)
            .await
    }

    async fn on_field_list(
        &mut self,
        table: &str,
        _wildcard: &str,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        self.field_list(table, w).await
    }

    async fn on_reset_connection(&mut self, w: &mut ResponseWriter<'_>) -> HandlerResult {
        let _ = self.finish_tx(false).await;
        self.stmts.clear();
        self.set_sql.clear();
        self.tx.set_autocommit(true);
        self.last_insert_id = 0;
        self.sql_mode = SqlMode::default();
        self.user_vars.clear();
        self.diagnostics.clear();
        self.found_rows = 0;
        self.row_count = -1;
        self.request_id = None;
        w.set_status(self.status());
        w.ok_simple(0, 0);
        Ok(())
    }

    async fn on_process_kill(&mut self, id: u32, w: &mut ResponseWriter<'_>) -> HandlerResult {
        self.kill(id, false, w).await;
        Ok(())
    }

    async fn on_disconnect(&mut self) {
        // A client that leaves mid-transaction gets it rolled back.
        let _ = self.finish_tx(false).await;
        if let Some(e) = self.entry.take() {
            self.shared.sessions.remove(e.id);
        }
        if std::mem::take(&mut self.connected) {
            self.shared
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Session {
    /// The statements of one COM_QUERY.
    async fn run_query(&mut self, sql: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        let parts = statements(sql, self.sql_mode);
        let n = parts.len();
        for (i, part) in parts.iter().enumerate() {
            w.set_more_results(i + 1 < n);
            self.run_text(part, w).await?;
            w.maybe_flush()
                .await
                .map_err(|e| HandlerError::Fatal(e.to_string()))?;
        }
        w.set_more_results(false);
        w.set_status(self.status());
        Ok(())
    }

    /// Plans a statement for COM_STMT_PREPARE under the session's sql_mode.
    fn prepare_plan(&self, schema: usize, sql: &str) -> Result<Arc<PreparedPlan>, ErrInfo> {
        self.shared
            .router
            .prepare_in(&self.shared.rules.schemas[schema].name, sql, self.sql_mode)
            .map_err(|e| route_err(&e))
    }

    /// COM_STMT_EXECUTE of a statement this session prepared.
    async fn execute(
        &mut self,
        req: ExecuteRequest<'_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let started = Instant::now();
        self.last_kind = None;
        w.set_status(self.status());
        let Some(stmt) = self.stmts.get(&req.stmt_id) else {
            w.err(&ErrInfo::new(
                1243,
                "HY000",
                "Unknown prepared statement handler",
            ));
            return Ok(());
        };
        let schema = stmt.schema;
        let mut plan = match (&stmt.plan, stmt.session_admin.clone()) {
            (Some(p), _) => p.clone(),
            (None, sql) => {
                let sql = sql.unwrap_or_default();
                // SHOW WARNINGS reads the diagnostics area, not resets it
                self.diag_execute = diagnostics::parse(&sql).is_some();
                self.last_kind = Some(StmtKind::Session);
                self.run_session_admin(&sql, true, w).await?;
                return Ok(());
            }
        };
        if let Some(sql) = stmt.session_sql.clone() {
            let planned = match self.with_session_values(&sql) {
                Ok(text) => self.prepare_plan(schema, &text),
                Err(InlineError::Assignment) => Err(assignment_refused()),
            };
            match planned {
                Ok(p) => plan = p,
                Err(e) => {
                    w.err(&e);
                    return Ok(());
                }
            }
        }
        self.calc_found_rows = plan.flags().calc_found_rows.then_some(0);
        let values = match req.params() {
            Ok(v) => v,
            Err(msg) => {
                w.err(&ErrInfo::new(
                    1210,
                    "HY000",
                    format!("Incorrect arguments to mysqld_stmt_execute: {msg}"),
                ));
                return Ok(());
            }
        };
        let segs = &self.shared.schemas[schema].segments;
        let (routed, _in_flight) = self.shared.reshard.hold(|| plan.bind(&values, segs)).await;
        let routed = match routed {
            Ok(r) => r,
            Err(e) => {
                self.shared.metrics.error(e.code());
                w.err(&route_err(&e));
                return Ok(());
            }
        };
        let kind = routed.kind();
        self.last_kind = Some(kind);
        let proto = Proto::Binary {
            req: &req,
            values: &values,
        };
        let flags = plan.flags();
        let route = self
            .run_routed(schema, routed, flags, "", &proto, w)
            .await?;
        self.observe(kind, route, started, "(prepared statement)");
        Ok(())
    }
}

/// Does the statement read information_schema.PROCESSLIST? (cheap first)
fn reads_backend_processlist(sql: &str) -> bool {
    let has = |word: &[u8]| session_values::contains_ignore_case(sql.as_bytes(), word);
    has(b"PROCESSLIST") && has(b"information_schema")
}

fn processlist_refused() -> ErrInfo {
    ErrInfo::new(
        1235,
        "42000",
        "haoka: information_schema.PROCESSLIST would list the backend's threads; use SHOW [FULL] PROCESSLIST for the proxy's sessions",
    )
}

/// `@v := ...` where the proxy cannot keep the variable.
pub(super) fn assignment_refused() -> ErrInfo {
    ErrInfo::new(
        1235,
        "42000",
        "haoka: assigning a user variable (@v := ..., INTO @v) inside a statement that reads tables, or in a prepared statement, is not supported; SELECT the value, then SET @v = <value>",
    )
}

/// The span a statement with a request id runs in. WARN: a span below the
/// filter's level is dropped with its fields, and the slow-query line (a
/// WARN) must keep the id.
fn statement_span(id: &str) -> tracing::Span {
    tracing::warn_span!("statement", request_id = %id)
}
