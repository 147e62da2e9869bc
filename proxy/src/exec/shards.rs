//! Running statements on shards: the single-shard fast path (results copied
//! through raw), scatter-gather reads through the merge engine, and writes or
//! DDL fanned out to several shards.

use std::sync::Arc;

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::metrics::RouteKind;
use super::session::{backend_err, place_label, Proto, Session};
use crate::backend::{
    decode_binary_row, decode_text_row, BackendError, ColumnDef, Connection, PooledConn, Response,
};
use crate::merge::{merge, ChannelStream, ColumnMeta, MergeError, MergeSpec, Protocol, RowStream};
use crate::protocol::passthrough::forward_response;
use crate::protocol::{
    ErrInfo, ExecuteRequest, HandlerError, HandlerResult, OkInfo, ResponseWriter,
};
use crate::route::{MergePlan, PreparedSql, ShardPlan, StmtKind, Target};
use crate::rules::Place;

/// Marks where a multi-shard statement inside a transaction started.
const STMT_SAVEPOINT: &str = "SAVEPOINT `__haoka_stmt`";

/// Shard errors after which a transaction is gone (deadlock, lock wait).
const TX_FATAL_CODES: [u16; 2] = [1213, 1205];

/// DDL errors that mean "this shard already has the change": a re-run of a
/// fan-out that failed half way accepts them where other shards succeed.
const CONVERGENT_DDL_ERRORS: [u16; 4] = [1050, 1051, 1061, 1091];

/// What one shard runs for a scatter read.
enum ShardStmt {
    Text(String),
    Prepared { sql: String, params: Vec<Value> },
}

fn fatal(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Fatal(e.to_string())
}

/// The backend statement id of `sql` on this connection, preparing it once.
async fn statement_id(
    conn: &mut Connection,
    sql: &str,
) -> Result<Result<u32, ErrInfo>, BackendError> {
    Ok(conn.prepare_cached(sql).await?.map(|p| p.stmt_id))
}

/// Runs a bound prepared statement; forwards the client's EXECUTE body when
/// the physical statement takes the client's parameters unchanged.
async fn execute_prepared(
    conn: &mut Connection,
    p: &PreparedSql,
    req: &ExecuteRequest<'_>,
    values: &[Value],
    scratch: &mut Vec<u8>,
) -> Result<Response, BackendError> {
    let id = match statement_id(conn, &p.sql).await? {
        Ok(id) => id,
        Err(e) => return Ok(Response::Err(e)),
    };
    if p.forwards_as_is(values.len()) {
        // A pooled connection may not have seen this client's parameter
        // types yet, so types are always sent unless the client sent them.
        if req.new_params_bound && !req.has_long_data() {
            conn.execute_raw(id, req.raw_after_stmt_id()).await
        } else {
            scratch.clear();
            req.encode_for_backend(id, scratch);
            conn.execute_payload(scratch).await
        }
    } else {
        conn.execute(id, &p.values(values)).await
    }
}

/// Reads one shard's result set into the merge channel.
async fn shard_task(
    mut conn: PooledConn,
    stmt: ShardStmt,
    shard: usize,
    rows: mpsc::Sender<Result<Vec<Value>, MergeError>>,
    cols: oneshot::Sender<Result<Vec<ColumnDef>, BackendError>>,
) -> Option<PooledConn> {
    let binary = matches!(stmt, ShardStmt::Prepared { .. });
    let resp = match &stmt {
        ShardStmt::Text(sql) => conn.query(sql).await,
        ShardStmt::Prepared { sql, params } => match statement_id(&mut conn, sql).await {
            Ok(Ok(id)) => conn.execute(id, params).await,
            Ok(Err(e)) => Ok(Response::Err(e)),
            Err(e) => Err(e),
        },
    };
    match resp {
        Err(e) => {
            let _ = cols.send(Err(e));
        }
        Ok(Response::Err(e)) => {
            let _ = cols.send(Err(BackendError::Server(e)));
        }
        Ok(Response::Ok(_)) => {
            let _ = cols.send(Ok(Vec::new()));
        }
        Ok(Response::ResultSet { .. }) => {
            let defs = match conn.columns().await {
                Ok(d) => d,
                Err(e) => {
                    let _ = cols.send(Err(e));
                    return None;
                }
            };
            let arc: Arc<[Column]> = defs.iter().map(|d| d.column.clone()).collect();
            if cols.send(Ok(defs)).is_err() {
                let _ = conn.drain().await;
            } else {
                loop {
                    match conn.next_row().await {
                        Ok(Some(raw)) => {
                            let row = if binary {
                                decode_binary_row(raw, arc.clone())
                            } else {
                                decode_text_row(raw, arc.clone())
                            }
                            .map_err(|e| MergeError::Shard {
                                shard,
                                message: e.to_string(),
                            });
                            if rows.send(row).await.is_err() {
                                // The merge stopped early (LIMIT): finish the
                                // result so the connection can be reused.
                                let _ = conn.drain().await;
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = rows
                                .send(Err(MergeError::Shard {
                                    shard,
                                    message: e.to_string(),
                                }))
                                .await;
                            break;
                        }
                    }
                }
            }
        }
    }
    if conn.more_results() {
        let _ = conn.drain().await;
    }
    conn.is_idle().then_some(conn)
}

/// Rows a chained target may buffer while it waits for its connection.
const CHAINED_BUFFER: usize = 1 << 28;

/// One target's statement and where its answer goes.
struct ShardJob {
    stmt: ShardStmt,
    shard: usize,
    rows: mpsc::Sender<Result<Vec<Value>, MergeError>>,
    cols: oneshot::Sender<Result<Vec<ColumnDef>, BackendError>>,
}

/// Runs the targets of one connection one after another.
async fn chain_task(conn: PooledConn, jobs: Vec<ShardJob>) -> Option<PooledConn> {
    let mut conn = Some(conn);
    for job in jobs {
        match conn.take() {
            Some(c) => conn = shard_task(c, job.stmt, job.shard, job.rows, job.cols).await,
            None => {
                let _ = job.cols.send(Err(BackendError::Protocol(
                    "the shard connection was lost by an earlier statement on it".into(),
                )));
            }
        }
    }
    conn
}

fn response_to_ok(resp: Result<Response, BackendError>) -> Result<OkInfo, BackendError> {
    match resp? {
        Response::Ok(ok) => Ok(ok),
        Response::Err(e) => Err(BackendError::Server(e)),
        Response::ResultSet { .. } => Ok(OkInfo::default()),
    }
}

impl Session {
    pub(super) async fn run_shards(
        &mut self,
        schema: usize,
        plan: ShardPlan,
        sql: &str,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<RouteKind> {
        if plan.targets.is_empty() {
            w.err(&ErrInfo::new(
                1105,
                "HY000",
                "haoka: the statement routes to no shard",
            ));
            return Ok(RouteKind::Local);
        }
        if plan.merge.is_some() {
            let merge_plan = plan.merge.clone();
            self.scatter(schema, plan.targets, merge_plan, proto, w)
                .await?;
            return Ok(RouteKind::Multi);
        }
        let upkeep = match self.index_upkeep(schema, &plan) {
            Ok(u) => u,
            Err(e) => {
                w.err(&e);
                return Ok(RouteKind::Local);
            }
        };
        if plan.targets.len() == 1 && upkeep.is_none() {
            let target = plan.targets.into_iter().next().expect("one target");
            if proto.is_binary() && target.prepared.is_none() && plan.kind == StmtKind::Select {
                // Text SQL answering a binary client: convert via the merger.
                self.scatter(schema, vec![target], None, proto, w).await?;
            } else {
                self.single(schema, target, &plan.ids, proto, w).await?;
            }
            return Ok(RouteKind::Single);
        }
        let route = if plan.broadcast {
            RouteKind::Broadcast
        } else {
            RouteKind::Multi
        };
        self.multi_write(schema, plan, sql, upkeep, w).await?;
        Ok(route)
    }

    /// The hot path: one shard, its answer copied through.
    async fn single(
        &mut self,
        schema: usize,
        target: Target,
        ids: &[u64],
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let mut conn = match self.take_conn(schema, target.place).await {
            Ok(c) => c,
            Err(e) => {
                self.shared.metrics.error(e.code);
                w.err(&e);
                return Ok(());
            }
        };
        let resp = match (proto, &target.prepared) {
            (Proto::Binary { req, values }, Some(p)) => {
                let mut scratch = std::mem::take(&mut self.scratch);
                let r = execute_prepared(&mut conn, p, req, values, &mut scratch).await;
                self.scratch = scratch;
                r
            }
            _ => match conn.send_query(target.sql.as_bytes()).await {
                Ok(()) => conn.read_response().await,
                Err(e) => Err(e),
            },
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let lost = !matches!(e, BackendError::Server(_));
                let err = backend_err(&self.shared, schema, target.place, e);
                let err = self.shard_error(err, lost);
                self.shared.metrics.error(err.code);
                w.err(&err);
                return Ok(());
            }
        };
        let mut warnings = 0;
        match resp {
            Response::Ok(mut ok) if !conn.more_results() => {
                warnings = ok.warnings;
                if let Some(first) = ids.first() {
                    ok.last_insert_id = *first;
                }
                if ok.last_insert_id != 0 {
                    self.last_insert_id = ok.last_insert_id;
                }
                ok.status = (ok.status & !crate::protocol::consts::SERVER_STATUS_IN_TRANS)
                    | (self.status_after_shards()
                        & crate::protocol::consts::SERVER_STATUS_IN_TRANS);
                w.ok(&ok);
            }
            Response::Err(e) => {
                let e = self.shard_error(e, false);
                self.shared.metrics.error(e.code);
                w.err(&e);
            }
            other => {
                forward_response(&mut conn, w, other).await?;
                warnings = conn.warnings();
            }
        }
        self.after_on_conn(&mut conn, warnings).await;
        self.give_back(schema, target.place, conn).await;
        Ok(())
    }

    /// Scatter-gather read: every target streams into the merge engine; rows
    /// go to the client as they come out of it.
    pub(super) async fn scatter(
        &mut self,
        schema: usize,
        targets: Vec<Target>,
        merge_plan: Option<MergePlan>,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let binary = proto.is_binary();
        if self.calc_found_rows.is_some() && targets.len() > 1 {
            if let Some(m) = &merge_plan {
                let s = m.spec();
                if !s.group_by.is_empty() || !s.aggregates.is_empty() || s.distinct {
                    w.err(&ErrInfo::new(
                        1235,
                        "42000",
                        "haoka: SQL_CALC_FOUND_ROWS with GROUP BY, DISTINCT or aggregates across shards is not supported (the shards' counts would not add up); add a shard-key condition or run SELECT COUNT(*) separately",
                    ));
                    return Ok(());
                }
            }
        }
        // Inside a transaction a place has one connection: targets on the
        // same place (the split tables of one shard) run one after another
        // on it, as one task.
        let mut groups: Vec<(Place, Vec<usize>)> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|(p, _)| *p == t.place && self.in_tx())
            {
                Some((_, members)) => members.push(i),
                None => groups.push((t.place, vec![i])),
            }
        }
        // Connections first, so a shard that is down fails the statement
        // before any other shard starts work.
        let mut conns = Vec::with_capacity(groups.len());
        for (place, _) in &groups {
            match self.take_conn(schema, *place).await {
                Ok(c) => conns.push(c),
                Err(e) => {
                    for ((place, _), c) in groups.iter().zip(conns) {
                        self.give_back(schema, *place, c).await;
                    }
                    self.shared.metrics.error(e.code);
                    w.err(&e);
                    return Ok(());
                }
            }
        }
        let target_places: Vec<Place> = targets.iter().map(|t| t.place).collect();
        let mut jobs: Vec<Option<ShardJob>> = Vec::with_capacity(targets.len());
        let mut streams: Vec<Box<dyn RowStream + Send>> = Vec::new();
        let mut col_rx = Vec::new();
        for (i, t) in targets.into_iter().enumerate() {
            let stmt = match (proto, t.prepared) {
                (Proto::Binary { values, .. }, Some(p)) => ShardStmt::Prepared {
                    params: p.values(values),
                    sql: p.sql,
                },
                _ => ShardStmt::Text(t.sql),
            };
            // A target that waits for another on its connection must not
            // block it: its rows are buffered until the merge reads them.
            let last_of_group = groups.iter().any(|(_, m)| m.last() == Some(&i));
            let buffer = if last_of_group { 256 } else { CHAINED_BUFFER };
            let (tx, stream) = ChannelStream::channel(buffer);
            let (ctx, crx) = oneshot::channel();
            jobs.push(Some(ShardJob {
                stmt,
                shard: i,
                rows: tx,
                cols: ctx,
            }));
            streams.push(Box::new(stream));
            col_rx.push(crx);
        }
        let mut tasks: Vec<(Place, JoinHandle<Option<PooledConn>>)> = Vec::new();
        for ((place, members), conn) in groups.iter().zip(conns) {
            let chain: Vec<ShardJob> = members.iter().filter_map(|&i| jobs[i].take()).collect();
            // The statement's span (its request id) goes along to the shard task.
            let task = tracing::Instrument::in_current_span(chain_task(conn, chain));
            tasks.push((*place, tokio::spawn(task)));
        }
        let mut defs: Vec<Vec<ColumnDef>> = Vec::new();
        let mut failure: Option<ErrInfo> = None;
        for (i, rx) in col_rx.into_iter().enumerate() {
            match rx.await {
                Ok(Ok(d)) => defs.push(d),
                Ok(Err(e)) => {
                    if failure.is_none() {
                        let place = target_places[i];
                        let mut err = backend_err(&self.shared, schema, place, e);
                        if target_places.len() > 1 {
                            err.message = format!("shard {}: {}", place_label(place), err.message);
                        }
                        failure = Some(err);
                    }
                }
                Err(_) => {
                    failure.get_or_insert_with(|| {
                        ErrInfo::new(1105, "HY000", "haoka: a shard task ended unexpectedly")
                    });
                }
            }
        }
        if let Some(e) = failure {
            drop(streams);
            self.collect(schema, tasks, false).await;
            let e = self.shard_error(e, false);
            self.shared.metrics.error(e.code);
            w.err(&e);
            return Ok(());
        }
        let first = defs.swap_remove(0);
        if first.is_empty() {
            drop(streams);
            self.collect(schema, tasks, false).await;
            w.ok_simple(0, 0);
            return Ok(());
        }
        let metas: Vec<ColumnMeta> = first
            .iter()
            .map(|d| ColumnMeta::from_column(&d.column))
            .collect();
        let spec = match &merge_plan {
            Some(m) => m.spec_for(metas.len()),
            None => MergeSpec {
                visible: metas.len(),
                ..MergeSpec::default()
            },
        };
        let (out, mut merged) = match merge(spec, metas, streams) {
            Ok(x) => x,
            Err(e) => {
                self.collect(schema, tasks, false).await;
                w.err(&ErrInfo::new(
                    1105,
                    "HY000",
                    format!("haoka: cannot merge shard results: {e}"),
                ));
                return Ok(());
            }
        };
        if binary {
            merged.set_protocol(Protocol::Binary);
        }
        let cols: Vec<Column> = out.iter().map(|m| m.to_column()).collect();
        let types: Vec<ColumnType> = cols.iter().map(|c| c.column_type()).collect();
        w.begin_result(cols.len());
        for c in &cols {
            w.column(c);
        }
        w.columns_done();
        let mut result = Ok(());
        loop {
            match merged.next_row().await {
                Ok(Some(row)) => {
                    if binary {
                        w.binary_row(&types, &row);
                    } else {
                        w.text_row(&row);
                    }
                    if let Err(e) = w.maybe_flush().await {
                        result = Err(fatal(e));
                        break;
                    }
                }
                Ok(None) => {
                    // The shards' warnings add up (their connections first).
                    drop(merged);
                    let warnings = self.collect(schema, std::mem::take(&mut tasks), true).await;
                    w.end_result(warnings, self.status_after_shards());
                    return result;
                }
                Err(e) => {
                    // An ERR packet ends a result set that already started.
                    if self.entry.as_ref().is_some_and(|e| e.interrupted()) {
                        // KILL QUERY: what MariaDB answers a killed statement
                        w.err(&ErrInfo::new(
                            1317,
                            "70100",
                            "Query execution was interrupted",
                        ));
                    } else {
                        w.err(&ErrInfo::new(1105, "HY000", format!("haoka: {e}")));
                    }
                    break;
                }
            }
        }
        drop(merged);
        self.collect(schema, tasks, false).await;
        result
    }

    /// Takes the connections back from finished shard tasks; after a whole
    /// result (`done`), with their warnings (fetched, and their count
    /// summed) and found rows.
    async fn collect(
        &mut self,
        schema: usize,
        tasks: Vec<(Place, JoinHandle<Option<PooledConn>>)>,
        done: bool,
    ) -> u16 {
        let mut warnings = 0u16;
        for (place, handle) in tasks {
            if let Ok(Some(mut conn)) = handle.await {
                if done {
                    let n = conn.warnings();
                    warnings = warnings.saturating_add(n);
                    self.after_on_conn(&mut conn, n).await;
                }
                self.give_back(schema, place, conn).await;
            }
        }
        warnings
    }

    /// A write or DDL on several shards, in parallel. Outside a transaction
    /// a write runs as its own distributed transaction (all shards change or
    /// none); inside one it uses the transaction's branches.
    async fn multi_write(
        &mut self,
        schema: usize,
        plan: ShardPlan,
        sql: &str,
        upkeep: Option<super::global_index::IndexUpkeep>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let n = plan.targets.len();
        let implicit = !self.in_tx() && plan.kind != StmtKind::Ddl;
        self.tx.set_implicit(implicit);
        // Inside a transaction the statement gets a savepoint on each of its
        // shards, so that a failure on one takes it back on all of them.
        let undoable = !implicit && self.in_tx() && plan.kind != StmtKind::Ddl && upkeep.is_none();
        let mut results = match &upkeep {
            Some(u) => self.write_with_index(schema, &plan.targets, u).await,
            None => self.write_all(schema, &plan.targets, undoable).await,
        };
        let expected: u64 = plan.rows.iter().map(|r| *r as u64).sum();
        if plan.index_move {
            super::global_index::check_index_move(&plan.targets, expected, &mut results);
        }
        let all_ok = results.iter().all(|(_, r)| r.is_ok());
        let mut undone = false;
        if implicit {
            let done = self.finish_tx(all_ok).await;
            self.tx.set_implicit(false);
            if let Err(e) = done {
                self.shared.metrics.error(e.code);
                w.err(&e);
                return Ok(());
            }
        } else if !all_ok && plan.kind != StmtKind::Ddl {
            let fatal = results
                .iter()
                .any(|(_, r)| r.as_ref().is_err_and(|e| TX_FATAL_CODES.contains(&e.code)));
            undone = undoable && !fatal && self.undo_statement(schema, &results).await;
            // Otherwise some shards keep their part: the transaction ends.
            if !undone {
                self.tx.abort_after_statement();
            }
        }
        if let Some(pos) = results
            .iter()
            .position(|(_, r)| r.as_ref().is_err_and(|e| TX_FATAL_CODES.contains(&e.code)))
        {
            // Keep the deadlock first so clients see the code they retry on.
            results.swap(0, pos);
        }
        let is_ddl = plan.kind == StmtKind::Ddl;
        let oks = results.iter().filter(|(_, r)| r.is_ok()).count();
        let failed: Vec<(Place, &ErrInfo)> = results
            .iter()
            .filter_map(|(p, r)| r.as_ref().err().map(|e| (*p, e)))
            .filter(|(_, e)| !(is_ddl && oks > 0 && CONVERGENT_DDL_ERRORS.contains(&e.code)))
            .collect();
        if let Some((_, first)) = failed.first() {
            let names = &self.shared.rules.schemas[schema];
            let detail: Vec<String> = failed
                .iter()
                .map(|(p, e)| {
                    format!(
                        "shard {} ({}): {}",
                        place_label(*p),
                        names.target(*p).database,
                        e.message
                    )
                })
                .collect();
            let tail = if is_ddl {
                "; the other shards applied it: fix the cause and re-run the statement (shards that already have the change accept it again)"
            } else if implicit {
                "; no shard changed (the statement ran as one distributed transaction)"
            } else if undone {
                "; the statement was undone on every shard (the transaction stays open)"
            } else {
                "; the whole transaction was rolled back on every shard"
            };
            let err = ErrInfo::new(
                first.code,
                std::str::from_utf8(&first.state).unwrap_or("HY000"),
                format!(
                    "haoka: failed on {} of {n} shards: {}{tail}",
                    failed.len(),
                    detail.join("; ")
                ),
            );
            self.shared.metrics.error(err.code);
            w.err(&err);
            return Ok(());
        }
        let affected = results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|o| o.affected_rows));
        let affected_rows = if plan.broadcast && !is_ddl {
            // Every copy changed the same rows: report one copy's count.
            affected.max().unwrap_or(0)
        } else if plan.index_move {
            // A moved index row counts 2 in MySQL's ODKU bookkeeping: report
            // it as the one row it is.
            affected.sum::<u64>().min(expected)
        } else {
            affected.sum()
        };
        let warnings = results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|o| o.warnings))
            .sum();
        let last_insert_id = plan.ids.first().copied().unwrap_or(0);
        if last_insert_id != 0 {
            self.last_insert_id = last_insert_id;
        }
        if is_ddl {
            self.after_ddl(schema, sql).await;
        } else if plan.broadcast {
            self.after_broadcast_write(schema, sql).await;
        }
        w.ok(&OkInfo {
            affected_rows,
            last_insert_id,
            status: self.status_after_shards(),
            warnings,
            info: String::new(),
        });
        Ok(())
    }

    /// Runs each target's statement on its connection (the transaction's
    /// branch inside one), all shards in parallel.
    pub(super) async fn write_all(
        &mut self,
        schema: usize,
        targets: &[Target],
        savepoint: bool,
    ) -> Vec<(Place, Result<OkInfo, ErrInfo>)> {
        // Targets on one place (a row and its index row on the same shard)
        // run one after the other on that place's connection.
        let mut by_place: Vec<(Place, Vec<String>)> = Vec::new();
        for t in targets {
            match by_place.iter_mut().find(|(p, _)| *p == t.place) {
                Some((_, sqls)) => sqls.push(t.sql.clone()),
                None => by_place.push((t.place, vec![t.sql.clone()])),
            }
        }
        let mut conns = Vec::with_capacity(by_place.len());
        for (place, sqls) in by_place.iter().cloned() {
            match self.take_conn(schema, place).await {
                Ok(c) => conns.push((place, c, sqls)),
                Err(e) => {
                    for (place, c, _) in conns {
                        self.give_back(schema, place, c).await;
                    }
                    return vec![(place, Err(e))];
                }
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for (i, (place, mut conn, sqls)) in conns.into_iter().enumerate() {
            set.spawn(tracing::Instrument::in_current_span(async move {
                let mut total = OkInfo::default();
                let mut r = Ok(());
                if savepoint {
                    r = conn.query_drop(STMT_SAVEPOINT).await;
                }
                for sql in sqls.iter().take(if r.is_ok() { sqls.len() } else { 0 }) {
                    match response_to_ok(conn.query(sql).await) {
                        Ok(ok) => {
                            let _ = conn.drain().await;
                            total.affected_rows += ok.affected_rows;
                            total.warnings += ok.warnings;
                        }
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                (i, place, conn, r.map(|()| total))
            }));
        }
        let mut done = Vec::with_capacity(by_place.len());
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(x) => done.push(x),
                Err(e) => tracing::error!(error = %e, "shard write task failed"),
            }
        }
        done.sort_by_key(|(i, ..)| *i);
        let mut results = Vec::with_capacity(done.len());
        for (_, place, mut conn, r) in done {
            let warnings = r.as_ref().map_or(0, |ok| ok.warnings);
            self.after_on_conn(&mut conn, warnings).await;
            self.give_back(schema, place, conn).await;
            results.push((
                place,
                r.map_err(|e| backend_err(&self.shared, schema, place, e)),
            ));
        }
        if results.len() < by_place.len() {
            results.push((
                by_place[results.len()].0,
                Err(ErrInfo::new(
                    1105,
                    "HY000",
                    "haoka: a shard write task failed",
                )),
            ));
        }
        results
    }

    /// Takes a failed statement back on every shard it ran on (to the
    /// savepoint `write_all` set); false if some shard could not.
    async fn undo_statement(
        &mut self,
        schema: usize,
        results: &[(Place, Result<OkInfo, ErrInfo>)],
    ) -> bool {
        let sql = format!(
            "ROLLBACK TO SAVEPOINT {}",
            &STMT_SAVEPOINT["SAVEPOINT ".len()..]
        );
        for (place, _) in results {
            let Some(conn) = self.tx.pinned_mut((schema, *place)) else {
                return false;
            };
            if conn.query_drop(&sql).await.is_err() {
                return false;
            }
        }
        true
    }

    /// CREATE TABLE and TRUNCATE start the table's sequence again at 1, as
    /// they would an AUTO_INCREMENT counter.
    async fn after_ddl(&mut self, schema: usize, sql: &str) {
        let Some(table) = ddl_resets_table(sql) else {
            return;
        };
        let s = &self.shared.rules.schemas[schema];
        if let Some(seq) = s.sequence_for(&table) {
            if let Err(e) = self.shared.schemas[schema].sequences.reset(&seq.name).await {
                tracing::warn!(table, error = %e, "could not reset the table's sequence");
            }
        }
    }

    /// A write to the segment table changes derived routing: reload it.
    async fn after_broadcast_write(&mut self, schema: usize, sql: &str) {
        let s = &self.shared.rules.schemas[schema];
        let Some(lookup) = &s.segment_lookup else {
            return;
        };
        if !sql.to_ascii_lowercase().contains(&lookup.table) {
            return;
        }
        let rt = &self.shared.schemas[schema];
        if let Err(e) = rt.segments.load(&rt.global, lookup).await {
            tracing::warn!(error = %e, "segment map reload failed");
        }
    }
}

/// The table of a `CREATE TABLE` or `TRUNCATE [TABLE]` statement.
fn ddl_resets_table(sql: &str) -> Option<String> {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '(')
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.trim_matches('`').to_ascii_lowercase())
        .collect();
    let rest: &[String] = match words.as_slice() {
        [a, b, rest @ ..] if a == "create" && b == "table" => rest,
        [a, b, rest @ ..] if a == "truncate" && b == "table" => rest,
        [a, rest @ ..] if a == "truncate" => rest,
        _ => return None,
    };
    let mut it = rest
        .iter()
        .skip_while(|w| ["if", "not", "exists"].contains(&w.as_str()));
    let name = it.next()?;
    Some(name.rsplit('.').next()?.trim_matches('`').to_string())
}

#[cfg(test)]
mod tests {
    use super::ddl_resets_table;

    #[test]
    fn finds_the_table_of_create_and_truncate() {
        assert_eq!(
            ddl_resets_table("CREATE TABLE sbtest1(\n id INT)").as_deref(),
            Some("sbtest1")
        );
        assert_eq!(
            ddl_resets_table("create table if not exists `sbtest2` (id int)").as_deref(),
            Some("sbtest2")
        );
        assert_eq!(
            ddl_resets_table("TRUNCATE TABLE sbtest.sbtest3").as_deref(),
            Some("sbtest3")
        );
        assert_eq!(ddl_resets_table("truncate t4").as_deref(), Some("t4"));
        assert_eq!(ddl_resets_table("CREATE INDEX k ON sbtest1(k)"), None);
        assert_eq!(ddl_resets_table("DROP TABLE sbtest1"), None);
    }
}
