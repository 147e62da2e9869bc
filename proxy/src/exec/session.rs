//! One client session: the `Handler` the protocol front end drives. It plans
//! each statement with the router and runs the plan (see `shards.rs` for
//! statements that reach shards, `local.rs` for what the proxy answers itself).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mysql_common::value::Value;

use super::metrics::{stmt_index, RouteKind};
use super::Shared;
use crate::admin::apply_schema::split_statements;
use crate::backend::{BackendError, PooledConn};
use crate::protocol::consts::{SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS};
use crate::protocol::{
    ConnectInfo, ErrInfo, ExecuteRequest, Handler, HandlerError, HandlerResult, ResponseWriter,
};
use crate::route::{PreparedPlan, RouteError, Routed, SessionCommand, StmtKind};
use crate::rules::Place;
use crate::transactions::branch::quote_ident;
use crate::transactions::coordinator::Participant;
use crate::transactions::xid::{new_gtrid, Site};
use crate::transactions::{self as txn, Branch, BranchKind, CommitKind, Xid};

/// Shard errors that end the whole transaction: deadlock and lock wait
/// timeout (a distributed deadlock shows as the latter on one shard).
const TX_FATAL: [u16; 2] = [1213, 1205];

/// A client's prepared statement.
pub(super) struct ClientStmt {
    pub plan: Arc<PreparedPlan>,
    pub schema: usize,
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
    pub(super) autocommit: bool,
    pub(super) explicit_tx: bool,
    pub(super) tx_read_only: bool,
    /// Backend connections held for the open transaction, by (schema, place).
    pub(super) pinned: BTreeMap<(usize, Place), PooledConn>,
    /// The transaction's branches (kept while a connection is out running a
    /// statement; a branch without a pinned connection lost it).
    pub(super) branches: BTreeMap<(usize, Place), Branch>,
    /// XA gtrid, made when the second branch starts.
    gtrid: Option<String>,
    /// Open savepoints, oldest first (replayed on branches started later).
    savepoints: Vec<String>,
    /// An autocommit write on several shards runs as its own distributed
    /// transaction.
    pub(super) implicit_tx: bool,
    /// The running statement may change data (marks the branches it uses).
    stmt_writes: bool,
    /// A shard ended the transaction (deadlock, lost connection): roll back
    /// every branch once the statement's answer is written.
    pub(super) abort_pending: bool,
    pub(super) stmts: HashMap<u32, ClientStmt>,
    pub(super) last_insert_id: u64,
    /// SET statements replayed on every backend connection this session uses.
    pub(super) set_sql: Vec<String>,
    pub(super) scratch: Vec<u8>,
    /// Authenticated (counted in the connection metrics).
    connected: bool,
    /// Primary or replica for the statement's reads (placement.rs).
    pub(super) placement: super::placement::StatementPlacement,
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
            autocommit: true,
            explicit_tx: false,
            tx_read_only: false,
            pinned: BTreeMap::new(),
            branches: BTreeMap::new(),
            gtrid: None,
            savepoints: Vec::new(),
            implicit_tx: false,
            stmt_writes: false,
            abort_pending: false,
            stmts: HashMap::new(),
            last_insert_id: 0,
            set_sql: Vec::new(),
            scratch: Vec::new(),
            connected: false,
            placement: Default::default(),
        }
    }

    pub(super) fn in_tx(&self) -> bool {
        self.explicit_tx || !self.autocommit || self.implicit_tx
    }

    /// "shard 3 (haoka_s3)" for messages.
    pub(super) fn shard_name(&self, schema: usize, place: Place) -> String {
        format!(
            "shard {} ({})",
            place_label(place),
            self.shared.rules.schemas[schema].target(place).database
        )
    }

    /// A shard's error for a statement: inside a transaction, a deadlock, a
    /// lock wait timeout or a lost connection rolls the whole distributed
    /// transaction back (after the answer is written), and the client is
    /// told so — it retries the transaction.
    pub(super) fn shard_error(&mut self, mut e: ErrInfo, lost_conn: bool) -> ErrInfo {
        if self.in_tx() && !self.implicit_tx && (lost_conn || TX_FATAL.contains(&e.code)) {
            self.abort_pending = true;
            e.message
                .push_str("; haoka: the whole transaction was rolled back on every shard");
        }
        e
    }

    /// How the next branch of the transaction starts: the first is local,
    /// later ones are XA branches of one gtrid coordinated by the first.
    fn next_branch(&mut self, schema: usize, place: Place) -> BranchKind {
        if self.tx_read_only {
            return BranchKind::ReadOnly;
        }
        let Some(&(cs, cp)) = self
            .branches
            .iter()
            .find(|(_, b)| b.kind == BranchKind::Local)
            .map(|(k, _)| k)
        else {
            return BranchKind::Local;
        };
        let rules = &self.shared.rules;
        let gtrid = self.gtrid.get_or_insert_with(|| {
            new_gtrid(&Site {
                schema: rules.schemas[cs].name.clone(),
                place: cp,
            })
        });
        BranchKind::Xa(Xid::new(
            gtrid,
            &Site {
                schema: rules.schemas[schema].name.clone(),
                place,
            },
        ))
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
        if self.autocommit {
            s |= SERVER_STATUS_AUTOCOMMIT;
        }
        if self.explicit_tx || (!self.autocommit && !self.pinned.is_empty()) {
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
        if let Some(mut c) = self.pinned.remove(&(schema, place)) {
            self.time_statement(&mut c);
            if let Some(b) = self.branches.get_mut(&(schema, place)) {
                b.wrote |= self.stmt_writes;
            }
            return Ok(c);
        }
        if self.in_tx() && self.branches.contains_key(&(schema, place)) {
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
        if !self.set_sql.is_empty() {
            conn.dirty = true;
            for sql in &self.set_sql {
                conn.query_drop(sql).await.map_err(wrap)?;
            }
        }
        if self.in_tx() {
            let kind = self.next_branch(schema, place);
            if kind == BranchKind::Local && self.savepoints.is_empty() {
                // Sent in one write with the statement (no round trip).
                conn.begin_with_next_command();
            } else {
                conn.query_drop(&kind.start_sql(&self.savepoints))
                    .await
                    .map_err(wrap)?;
            }
            self.branches.insert(
                (schema, place),
                Branch {
                    kind,
                    wrote: self.stmt_writes,
                },
            );
        }
        Ok(conn)
    }

    /// Returns a connection: kept for the transaction, else back to the pool.
    pub(super) async fn give_back(&mut self, schema: usize, place: Place, mut conn: PooledConn) {
        if self.in_tx() && conn.is_idle() {
            self.pinned.insert((schema, place), conn);
            return;
        }
        if conn.dirty && conn.is_idle() {
            // Session state must not leak to the next client of this connection.
            let _ = conn.reset_connection().await;
        }
    }

    /// Ends the transaction on every branch: COMMIT (one-phase, or XA
    /// two-phase when several branches wrote) or ROLLBACK.
    pub(super) async fn finish_tx(&mut self, commit: bool) -> Result<(), ErrInfo> {
        let mut pinned = std::mem::take(&mut self.pinned);
        let branches = std::mem::take(&mut self.branches);
        let gtrid = self.gtrid.take();
        self.savepoints.clear();
        self.explicit_tx = false;
        self.tx_read_only = false;
        let parts: Vec<Participant> = branches
            .into_iter()
            .map(|((schema, place), b)| Participant {
                label: self.shard_name(schema, place),
                kind: b.kind,
                wrote: b.wrote,
                conn: pinned.remove(&(schema, place)),
            })
            .collect();
        for (_, conn) in pinned {
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
        for ((schema, place), conn) in self.pinned.iter_mut() {
            if let Err(e) = conn.query_drop(sql).await {
                return Err(backend_err(&self.shared, *schema, *place, e));
            }
        }
        Ok(())
    }

    fn savepoint_pos(&self, name: &str) -> Result<usize, ErrInfo> {
        self.savepoints
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name))
            .ok_or_else(|| ErrInfo::new(1305, "42000", format!("SAVEPOINT {name} does not exist")))
    }

    /// One statement of a COM_QUERY.
    async fn run_text(&mut self, sql: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        let started = Instant::now();
        let schema = self.schema_idx();
        let expanded =
            crate::route::expand_executable_comments(sql, self.shared.identity.version_number);
        let mut sql: &str = &expanded;
        let mut routed = self.plan_text(schema, sql);
        let with_columns;
        if let Err(RouteError::NeedsColumnList { table }) = &routed {
            // INSERT INTO t VALUES (...): name the logical table's columns.
            match self.insert_columns(schema, table).await {
                Ok(cols) => {
                    with_columns = crate::route::with_column_list(sql, &cols);
                    if let Some(text) = &with_columns {
                        sql = text;
                        routed = self.plan_text(schema, sql);
                    }
                }
                Err(e) => {
                    w.err(&e);
                    return Ok(());
                }
            }
        }
        let routed = match routed {
            Ok(r) => r,
            Err(e) => {
                self.shared.metrics.error(e.code());
                w.err(&route_err(&e));
                return Ok(());
            }
        };
        let kind = routed.kind();
        let route = self
            .run_routed(schema, routed, sql, &Proto::Text, w)
            .await?;
        self.observe(kind, route, started, sql);
        Ok(())
    }

    fn plan_text(&self, schema: usize, sql: &str) -> Result<Routed, RouteError> {
        let segs = &self.shared.schemas[schema].segments;
        self.shared
            .router
            .plan_text(&self.shared.rules.schemas[schema].name, sql, segs)
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
        let sql = format!("SHOW COLUMNS FROM `{}`", physical.replace('`', "``"));
        self.first_column(schema, place, &sql).await
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
        sql: &str,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<RouteKind> {
        let kind = routed.kind();
        self.stmt_writes = kind.is_write() || kind == StmtKind::PassThrough;
        self.place_statement(&routed, sql);
        let r = self.run_routed_inner(schema, routed, sql, proto, w).await;
        if std::mem::take(&mut self.abort_pending) {
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
                let bound = pending.bind_ids(&ids, &self.shared.schemas[schema].segments);
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
                match pending.bind_keys(&keys, &self.shared.schemas[schema].segments) {
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
                let sql = self.inline_session_values(&sql);
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

    /// `LAST_INSERT_ID()`, `DATABASE()` / `SCHEMA()` and `@@autocommit` are
    /// session state the proxy keeps (ids come from its sequences, the
    /// logical schema is not the global shard's database, and autocommit is
    /// not replayed on backend connections): put their values into the
    /// statement before a shard runs it. A bare select item keeps its name
    /// (`SELECT DATABASE()` still returns a column named `DATABASE()`).
    pub(super) fn inline_session_values(&self, sql: &str) -> String {
        let schema = format!("'{}'", self.schema_name().replace('\'', "''"));
        let autocommit = if self.autocommit { "1" } else { "0" };
        let last_id = self.last_insert_id.to_string();
        let subs: [(&str, &str); 6] = [
            ("last_insert_id()", &last_id),
            ("database()", &schema),
            ("schema()", &schema),
            ("@@session.autocommit", autocommit),
            ("@@local.autocommit", autocommit),
            ("@@autocommit", autocommit),
        ];
        let mut out = sql.to_string();
        for (needle, value) in subs {
            out = replace_session_value(&out, needle, value);
        }
        for (needle, value) in self.shared.identity.substitutions() {
            out = replace_session_value(&out, &needle, &value);
        }
        out
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
                self.explicit_tx = true;
                self.tx_read_only = read_only;
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
                        self.savepoints.retain(|s| !s.eq_ignore_ascii_case(&name));
                        self.savepoints.push(name);
                    }
                }
            }
            SessionCommand::RollbackToSavepoint(name) => match self.savepoint_pos(&name) {
                Ok(pos) => {
                    let sql = format!("ROLLBACK TO SAVEPOINT {}", quote_ident(&name));
                    result = self.on_all_branches(&sql).await;
                    // Later savepoints are gone; this one stays.
                    self.savepoints.truncate(pos + 1);
                }
                Err(e) => result = Err(e),
            },
            SessionCommand::ReleaseSavepoint(name) => match self.savepoint_pos(&name) {
                Ok(pos) => {
                    let sql = format!("RELEASE SAVEPOINT {}", quote_ident(&name));
                    result = self.on_all_branches(&sql).await;
                    self.savepoints.truncate(pos);
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
                self.autocommit = on;
            }
            SessionCommand::Set { sql, .. } => {
                let sql = self.shared.identity.map_set(&sql).into_owned();
                result = self.apply_set(sql).await;
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
    /// A SET the shards must see. Outside a transaction it is tried on one
    /// backend connection first, so a SET the shards refuse fails here and
    /// not on every later statement; inside one it goes to the transaction's
    /// connections now. Then it is replayed on each connection the session
    /// takes.
    async fn apply_set(&mut self, sql: String) -> Result<(), ErrInfo> {
        if self.pinned.is_empty() && !self.in_tx() {
            let schema = self.schema_idx();
            let mut conn = self.take_conn(schema, Place::Global).await?;
            conn.dirty = true;
            let tried = conn.query_drop(&sql).await;
            self.give_back(schema, Place::Global, conn).await;
            tried.map_err(|e| backend_err(&self.shared, schema, Place::Global, e))?;
        }
        for ((schema, place), conn) in self.pinned.iter_mut() {
            conn.dirty = true;
            if let Err(e) = conn.query_drop(&sql).await {
                return Err(backend_err(&self.shared, *schema, *place, e));
            }
        }
        if self.set_sql.len() < 64 {
            self.set_sql.push(sql);
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
        self.set_sql.retain(|s| !s.starts_with("SET NAMES "));
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
        self.apply_set(sql).await
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
        self.set_sql
            .push(format!("SET NAMES {cs} COLLATE {}", coll.collation()));
    }
}

/// Splits a multi-statement COM_QUERY (only when it really holds several).
fn statements(sql: &str) -> Vec<String> {
    let trimmed = sql.trim().trim_end_matches(';');
    if !trimmed.contains(';') {
        return vec![sql.to_string()];
    }
    split_statements(sql)
}

impl Handler for Session {
    async fn on_connect(&mut self, info: &ConnectInfo<'_>) -> Result<(), ErrInfo> {
        self.user = info.user.to_string();
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
        Ok(())
    }

    async fn on_query(&mut self, sql: &str, w: &mut ResponseWriter<'_>) -> HandlerResult {
        w.set_status(self.status());
        let parts = statements(sql);
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
        let sql =
            crate::route::expand_executable_comments(sql, self.shared.identity.version_number);
        let plan = match self
            .shared
            .router
            .prepare(&self.shared.rules.schemas[schema].name, &sql)
        {
            Ok(p) => p,
            Err(e) => {
                w.err(&route_err(&e));
                return Ok(None);
            }
        };
        let params = plan.params() as u16;
        self.describe_prepared(schema, &plan, stmt_id, params, w)
            .await?;
        self.stmts.insert(stmt_id, ClientStmt { plan, schema });
        Ok(Some(params))
    }

    async fn on_execute(
        &mut self,
        req: ExecuteRequest<'_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let started = Instant::now();
        w.set_status(self.status());
        let Some(stmt) = self.stmts.get(&req.stmt_id) else {
            w.err(&ErrInfo::new(
                1243,
                "HY000",
                "Unknown prepared statement handler",
            ));
            return Ok(());
        };
        let (plan, schema) = (stmt.plan.clone(), stmt.schema);
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
        let routed = plan.bind(&values, &self.shared.schemas[schema].segments);
        let routed = match routed {
            Ok(r) => r,
            Err(e) => {
                self.shared.metrics.error(e.code());
                w.err(&route_err(&e));
                return Ok(());
            }
        };
        let kind = routed.kind();
        let proto = Proto::Binary {
            req: &req,
            values: &values,
        };
        let route = self.run_routed(schema, routed, "", &proto, w).await?;
        self.observe(kind, route, started, "(prepared statement)");
        Ok(())
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
        self.autocommit = true;
        self.last_insert_id = 0;
        w.set_status(self.status());
        w.ok_simple(0, 0);
        Ok(())
    }

    async fn on_disconnect(&mut self) {
        // A client that leaves mid-transaction gets it rolled back.
        let _ = self.finish_tx(false).await;
        if std::mem::take(&mut self.connected) {
            self.shared
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Replaces `needle` (lower case; matched case-insensitively, on word
/// boundaries, outside quotes) by `value`. Where the match is a whole select
/// item without an alias, the item keeps its name: `value AS `<original>``.
fn replace_session_value(sql: &str, needle: &str, value: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains(needle) {
        return sql.to_string();
    }
    let bytes = sql.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'@' || b == b'.';
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote: Option<u8> = None;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' && q != b'`' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if b == b'\'' || b == b'"' || b == b'`' {
            quote = Some(b);
            i += 1;
            continue;
        }
        let end = i + needle.len();
        if lower.as_bytes()[i..].starts_with(needle.as_bytes())
            && (i == 0 || !word(bytes[i - 1]))
            && (end >= bytes.len() || !word(bytes[end]) || needle.ends_with(')'))
        {
            let before = sql[..i].trim_end().to_ascii_lowercase();
            let after = sql[end..].trim_start();
            let after_lower = after.to_ascii_lowercase();
            let item_start = before.ends_with(',')
                || before.ends_with("select")
                    && before[..before.len() - 6]
                        .chars()
                        .last()
                        .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
            let item_end = after.is_empty()
                || after.starts_with(',')
                || after.starts_with(';')
                || (after_lower.starts_with("from")
                    && !after_lower[4..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
            out.push_str(&sql[copied..i]);
            out.push_str(value);
            if item_start && item_end {
                out.push_str(" AS `");
                out.push_str(&sql[i..end].replace('`', "``"));
                out.push('`');
            }
            i = end;
            copied = end;
            continue;
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    out
}

#[cfg(test)]
mod session_value_tests {
    use super::replace_session_value as r;

    #[test]
    fn replaces_and_keeps_names() {
        assert_eq!(
            r("SELECT DATABASE()", "database()", "'x'"),
            "SELECT 'x' AS `DATABASE()`"
        );
        assert_eq!(
            r("select database(), 1", "database()", "'x'"),
            "select 'x' AS `database()`, 1"
        );
        assert_eq!(
            r("SELECT DATABASE() AS db", "database()", "'x'"),
            "SELECT 'x' AS db"
        );
        assert_eq!(
            r("SELECT IFNULL(DATABASE(), 'n')", "database()", "'x'"),
            "SELECT IFNULL('x', 'n')"
        );
        assert_eq!(
            r("SELECT 'database()'", "database()", "'x'"),
            "SELECT 'database()'"
        );
        assert_eq!(
            r("SELECT my_database()", "database()", "'x'"),
            "SELECT my_database()"
        );
        assert_eq!(
            r("SELECT @@autocommit, @@autocommit_x", "@@autocommit", "0"),
            "SELECT 0 AS `@@autocommit`, @@autocommit_x"
        );
        assert_eq!(
            r("SELECT @@session.autocommit", "@@autocommit", "0"),
            "SELECT @@session.autocommit"
        );
        assert_eq!(
            r("SELECT LAST_INSERT_ID() FROM dual", "last_insert_id()", "7"),
            "SELECT 7 AS `LAST_INSERT_ID()` FROM dual"
        );
    }
}
