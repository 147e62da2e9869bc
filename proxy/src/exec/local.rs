//! What the proxy answers itself or on one chosen shard: metadata about
//! logical tables, `SHOW HAOKA ...`, `EXPLAIN`, prepared-statement metadata.

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;

use super::catalog;
use super::session::{backend_err, route_err, Proto, Session};
use crate::backend::{ColumnDef, Response};
use crate::protocol::passthrough::forward_response;
use crate::protocol::{simple_column, ErrInfo, HandlerResult, ResponseWriter};
use crate::route::{
    explain, table_target, HaokaShow, Metadata, PreparedPlan, Routed, Target, EXPLAIN_COLUMNS,
};
use crate::rules::{Place, TableRule};

fn text(s: impl Into<String>) -> Value {
    Value::Bytes(s.into().into_bytes())
}

/// Writes a small result set of VARCHAR columns in the client's protocol.
fn write_rows(
    w: &mut ResponseWriter<'_>,
    names: &[&str],
    rows: Vec<Vec<Value>>,
    binary: bool,
    status: u16,
) {
    let cols: Vec<Column> = names
        .iter()
        .map(|n| simple_column(n, ColumnType::MYSQL_TYPE_VAR_STRING))
        .collect();
    write_result(w, &cols, &rows, binary, status);
}

/// A COM_STMT_PREPARE parameter definition as MariaDB writes one: named
/// `?`, type NULL (the type comes with each execute), binary.
fn param_column() -> Column {
    Column::new(ColumnType::MYSQL_TYPE_NULL)
        .with_name(b"?")
        .with_character_set(63)
        .with_flags(mysql_common::constants::ColumnFlags::BINARY_FLAG)
}

/// Writes a whole result set (columns, rows, terminator).
pub(super) fn write_result(
    w: &mut ResponseWriter<'_>,
    cols: &[Column],
    rows: &[Vec<Value>],
    binary: bool,
    status: u16,
) {
    let types: Vec<ColumnType> = cols.iter().map(|c| c.column_type()).collect();
    w.begin_result(cols.len());
    for c in cols {
        w.column(c);
    }
    w.columns_done();
    for r in rows {
        if binary {
            w.binary_row(&types, r);
        } else {
            w.text_row(r);
        }
    }
    w.end_result(0, status);
}

impl Session {
    /// Runs `sql` on one place and copies the answer (converted to binary
    /// rows for a prepared statement).
    pub(super) async fn run_on_one(
        &mut self,
        schema: usize,
        place: Place,
        sql: &str,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        if proto.is_binary() {
            let target = Target {
                place,
                sql: sql.to_string(),
                prepared: None,
            };
            return self.scatter(schema, vec![target], None, proto, w).await;
        }
        let mut conn = match self.take_conn(schema, place).await {
            Ok(c) => c,
            Err(e) => {
                w.err(&e);
                return Ok(());
            }
        };
        let first = match conn.send_query(sql.as_bytes()).await {
            Ok(()) => conn.read_response().await,
            Err(e) => Err(e),
        };
        match first {
            Ok(resp) => {
                let failed = matches!(resp, Response::Err(_));
                forward_response(&mut conn, w, resp).await?;
                if !failed {
                    let warnings = conn.warnings();
                    self.after_on_conn(&mut conn, warnings).await;
                }
            }
            Err(e) => w.err(&backend_err(&self.shared, schema, place, e)),
        }
        self.give_back(schema, place, conn).await;
        Ok(())
    }

    pub(super) async fn run_metadata(
        &mut self,
        schema: usize,
        m: Metadata,
        proto: &Proto<'_, '_>,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let binary = proto.is_binary();
        let sql = match m {
            Metadata::Databases { filter } => catalog::show_databases_sql(&filter),
            Metadata::Tables { full, db, filter } => match self.resolve_schema(db.as_deref()) {
                Ok(idx) => {
                    let name = &self.shared.rules.schemas[idx].name;
                    catalog::show_tables_sql(name, full, &filter)
                }
                Err(e) => {
                    w.err(&e);
                    return Ok(());
                }
            },
            Metadata::TableStatus { db, filter } => match self.resolve_schema(db.as_deref()) {
                Ok(idx) => {
                    let name = &self.shared.rules.schemas[idx].name;
                    catalog::show_table_status_sql(name, &filter)
                }
                Err(e) => {
                    w.err(&e);
                    return Ok(());
                }
            },
            Metadata::Table { db, table, show } => {
                let target = self.resolve_schema(db.as_deref()).and_then(|idx| {
                    table_target(&self.shared.rules.schemas[idx], &table, &show)
                        .map(|t| (idx, t))
                        .map_err(|e| route_err(&e))
                });
                match target {
                    Ok((idx, target)) => {
                        self.describe_table(idx, &table.to_ascii_lowercase(), target, binary, w)
                            .await?
                    }
                    Err(e) => w.err(&e),
                }
                return Ok(());
            }
            Metadata::CreateDatabase { db, if_not_exists } => {
                match self.resolve_schema(Some(&db)) {
                    Ok(idx) => {
                        self.show_create_database(idx, if_not_exists, binary, w)
                            .await?
                    }
                    Err(e) => w.err(&e),
                }
                return Ok(());
            }
            Metadata::AnyShard { sql } => {
                if let Some(show) = super::identity::show_variables(&sql) {
                    return self.show_variables(schema, show, binary, w).await;
                }
                sql
            }
        };
        let sql = match self.logical_catalog(schema, &sql).await {
            Ok(s) => s,
            Err(e) => {
                w.err(&e);
                return Ok(());
            }
        };
        self.run_on_one(schema, Place::Global, &sql, proto, w).await
    }

    /// The schema a metadata statement names (None: the session's), if the
    /// user may see it: 1049 for an unknown one, 1044 for another's.
    pub(super) fn resolve_schema(&self, db: Option<&str>) -> Result<usize, ErrInfo> {
        let Some(db) = db else {
            return Ok(self.schema_idx());
        };
        let idx = self
            .shared
            .rules
            .schemas
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(db))
            .ok_or_else(|| ErrInfo::new(1049, "42000", format!("Unknown database '{db}'")))?;
        if !self.may_use(db) {
            return Err(ErrInfo::new(
                1044,
                "42000",
                format!("Access denied for user '{}' to database '{db}'", self.user),
            ));
        }
        Ok(idx)
    }

    /// The schemas this session's user may see.
    fn visible_schemas(&self) -> Vec<usize> {
        (0..self.shared.rules.schemas.len())
            .filter(|&i| self.may_use(&self.shared.rules.schemas[i].name))
            .collect()
    }

    /// information_schema tables named in `sql` replaced by their logical
    /// views (see `catalog.rs`); other statements unchanged.
    async fn logical_catalog(&mut self, schema: usize, sql: &str) -> Result<String, ErrInfo> {
        let refs = catalog::references(sql);
        if refs.is_empty() {
            return Ok(sql.to_string());
        }
        let shared = self.shared.clone();
        let view = catalog::LogicalView::new(&shared.rules, self.visible_schemas());
        let mut derived: Vec<(&'static str, String)> = Vec::new();
        for r in &refs {
            if derived.iter().any(|(n, _)| *n == r.table.name) {
                continue;
            }
            let columns = match shared.catalog_columns.get(r.table) {
                Some(c) => c,
                None => {
                    let names = self.catalog_column_names(schema, r.table).await?;
                    shared.catalog_columns.put(r.table, names)
                }
            };
            derived.push((r.table.name, view.derived_table(r.table, &columns)));
        }
        Ok(catalog::rewrite(sql, &refs, |t| {
            derived
                .iter()
                .find(|(n, _)| *n == t.name)
                .map(|(_, d)| d.clone())
                .unwrap_or_default()
        }))
    }

    async fn catalog_column_names(
        &mut self,
        schema: usize,
        table: &catalog::CatalogTable,
    ) -> Result<Vec<String>, ErrInfo> {
        self.first_column(schema, Place::Global, &catalog::columns_query(table))
            .await
    }

    /// The first column of `sql`'s answer on `place`, as strings.
    pub(super) async fn first_column(
        &mut self,
        schema: usize,
        place: Place,
        sql: &str,
    ) -> Result<Vec<String>, ErrInfo> {
        let result = self.collect_on(schema, place, sql).await?;
        Ok(result
            .rows
            .into_iter()
            .filter_map(|r| match r.into_iter().next() {
                Some(Value::Bytes(b)) => String::from_utf8(b).ok(),
                _ => None,
            })
            .collect())
    }

    /// SHOW CREATE DATABASE: the global shard's database, under the
    /// logical name.
    async fn show_create_database(
        &mut self,
        schema: usize,
        if_not_exists: bool,
        binary: bool,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let s = &self.shared.rules.schemas[schema];
        let (logical, physical) = (s.name.clone(), s.global_shard.database.clone());
        let sql = format!(
            "SHOW CREATE DATABASE {}{}",
            if if_not_exists { "IF NOT EXISTS " } else { "" },
            crate::route::quote_ident(&physical)
        );
        let result = match self.collect_on(schema, Place::Global, &sql).await {
            Ok(r) => r,
            Err(e) => {
                w.err(&e);
                return Ok(());
            }
        };
        let quoted = crate::route::quote_ident(&physical);
        let rows: Vec<Vec<Value>> = result
            .rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| match v {
                        Value::Bytes(b) if b == physical.as_bytes() => text(logical.clone()),
                        Value::Bytes(b) => {
                            let s = String::from_utf8_lossy(&b).replacen(
                                &quoted,
                                &crate::route::quote_ident(&logical),
                                1,
                            );
                            text(s)
                        }
                        other => other,
                    })
                    .collect()
            })
            .collect();
        self.write_collected(&result.columns, &rows, binary, w);
        Ok(())
    }

    /// A collected shard answer, rows replaced, in the client's protocol.
    fn write_collected(
        &self,
        columns: &[ColumnDef],
        rows: &[Vec<Value>],
        binary: bool,
        w: &mut ResponseWriter<'_>,
    ) {
        let cols: Vec<Column> = columns.iter().map(|d| d.column.clone()).collect();
        write_result(w, &cols, rows, binary, self.status());
    }

    /// SHOW VARIABLES with the proxy's own identity in place of the
    /// backend's (version, version_comment).
    async fn show_variables(
        &mut self,
        schema: usize,
        sql: String,
        binary: bool,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let result = match self.collect_on(schema, Place::Global, &sql).await {
            Ok(r) => r,
            Err(e) => {
                w.err(&e);
                return Ok(());
            }
        };
        let identity = &self.shared.identity;
        let rows: Vec<Vec<Value>> = result
            .rows
            .into_iter()
            .map(|mut r| {
                let own = match r.first() {
                    Some(Value::Bytes(name)) => identity.variable(&String::from_utf8_lossy(name)),
                    _ => None,
                };
                if let (Some(v), Some(slot)) = (own, r.get_mut(1)) {
                    *slot = text(v);
                }
                r
            })
            .collect();
        self.write_collected(&result.columns, &rows, binary, w);
        Ok(())
    }

    /// Runs `sql` on `place` and collects the whole answer.
    pub(super) async fn collect_on(
        &mut self,
        schema: usize,
        place: Place,
        sql: &str,
    ) -> Result<crate::backend::QueryResult, ErrInfo> {
        let mut conn = self.take_conn(schema, place).await?;
        let result = conn.query_collect(sql).await;
        self.give_back(schema, place, conn).await;
        result.map_err(|e| backend_err(&self.shared, schema, place, e))
    }

    /// SHOW COLUMNS / CREATE TABLE / INDEX of a logical table: asked of one
    /// physical copy, answered under the logical name.
    async fn describe_table(
        &mut self,
        schema: usize,
        table: &str,
        target: Target,
        binary: bool,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let physical: Vec<String> = self.shared.rules.schemas[schema]
            .physical_tables(table)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, n)| n)
            .filter(|n| n != table)
            .collect();
        let mut conn = match self.take_conn(schema, target.place).await {
            Ok(c) => c,
            Err(e) => {
                w.err(&e);
                return Ok(());
            }
        };
        let result = conn.query_collect(&target.sql).await;
        self.give_back(schema, target.place, conn).await;
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                w.err(&backend_err(&self.shared, schema, target.place, e));
                return Ok(());
            }
        };
        let rename = |v: Value| -> Value {
            let Value::Bytes(b) = &v else { return v };
            let Ok(s) = std::str::from_utf8(b) else {
                return v;
            };
            // One shard's counter is not the logical table's (ids come from
            // sequences): SHOW CREATE TABLE shows none.
            let mut out = without_auto_increment(s);
            for p in &physical {
                if out == *p {
                    out = table.to_string();
                } else {
                    let q = crate::route::quote_ident;
                    out = out.replacen(&q(p), &q(table), 1);
                }
            }
            text(out)
        };
        let rows: Vec<Vec<Value>> = result
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(rename).collect())
            .collect();
        let cols: Vec<Column> = result.columns.iter().map(|d| d.column.clone()).collect();
        let status = self.status();
        write_result(w, &cols, &rows, binary, status);
        Ok(())
    }

    pub(super) fn run_haoka_show(&mut self, show: HaokaShow, w: &mut ResponseWriter<'_>) {
        let rules = self.shared.rules.clone();
        let status = self.status();
        match show {
            HaokaShow::Shards => {
                let rows = super::backend_status::backend_rows(&self.shared)
                    .into_iter()
                    .map(|r| {
                        vec![
                            text(r.schema),
                            text(r.shard),
                            text(r.datasource),
                            text(r.address),
                            text(r.database),
                            text(r.in_use.to_string()),
                            text(r.idle.to_string()),
                            text(r.role.as_str().to_string()),
                            text(
                                r.replica_state
                                    .unwrap_or(r.health.state.as_str())
                                    .to_string(),
                            ),
                            text(r.health.down_for.as_millis().to_string()),
                            text(r.health.last_error),
                            r.lag_s.map_or(Value::NULL, |l| text(l.to_string())),
                        ]
                    })
                    .collect();
                write_rows(
                    w,
                    &[
                        "schema",
                        "shard",
                        "datasource",
                        "address",
                        "database",
                        "pool_in_use",
                        "pool_idle",
                        "role",
                        "state",
                        "down_ms",
                        "last_error",
                        "lag_s",
                    ],
                    rows,
                    false,
                    status,
                );
            }
            HaokaShow::Rules => {
                let mut rows = Vec::new();
                for s in &rules.schemas {
                    for (name, rule) in s.tables() {
                        let (kind, shard_by, split_by) = match rule {
                            TableRule::Broadcast => ("broadcast", String::new(), String::new()),
                            TableRule::Global => ("global", String::new(), String::new()),
                            TableRule::Sharded(t) => (
                                "sharded",
                                format!("{} ({:?})", t.shard_by.column, t.shard_by.algorithm)
                                    .replace("Province({", "province(")
                                    .chars()
                                    .take(80)
                                    .collect(),
                                t.split_by
                                    .as_ref()
                                    .map(|k| format!("{} mod {}", k.column, k.count))
                                    .unwrap_or_default(),
                            ),
                        };
                        let seq = s
                            .sequence_for(name)
                            .map(|q| format!("{} <- sequence {}", q.column, q.name))
                            .unwrap_or_default();
                        rows.push(vec![
                            text(s.name.clone()),
                            text(name),
                            text(kind),
                            text(shard_by),
                            text(split_by),
                            text(seq),
                        ]);
                    }
                }
                write_rows(
                    w,
                    &[
                        "schema", "table", "kind", "shard_by", "split_by", "sequence",
                    ],
                    rows,
                    false,
                    status,
                );
            }
            HaokaShow::Status => {
                let m = &self.shared.metrics;
                use std::sync::atomic::Ordering::Relaxed;
                let mut rows = vec![
                    vec![
                        text("uptime_seconds"),
                        text(self.shared.started.elapsed().as_secs().to_string()),
                    ],
                    vec![
                        text("client_connections_open"),
                        text(m.connections_open.load(Relaxed).to_string()),
                    ],
                    vec![
                        text("client_connections_total"),
                        text(m.connections_total.load(Relaxed).to_string()),
                    ],
                    vec![text("queries_total"), text(m.queries_total().to_string())],
                    vec![
                        text("slow_queries_total"),
                        text(m.slow_queries.load(Relaxed).to_string()),
                    ],
                    vec![
                        text("plan_cache_entries"),
                        text(self.shared.router.cached_plans().to_string()),
                    ],
                ];
                for (s, rt) in rules.schemas.iter().zip(&self.shared.schemas) {
                    rows.push(vec![
                        text(format!("segments_loaded.{}", s.name)),
                        text(rt.segments.len().to_string()),
                    ]);
                }
                write_rows(w, &["variable", "value"], rows, false, status);
            }
        }
    }

    pub(super) fn run_explain(
        &mut self,
        schema: usize,
        inner: &Routed,
        w: &mut ResponseWriter<'_>,
    ) {
        let rows = explain(inner, &self.shared.rules.schemas[schema]);
        self.write_explain(rows, w);
    }

    pub(super) fn write_explain(
        &self,
        rows: Vec<crate::route::ExplainRow>,
        w: &mut ResponseWriter<'_>,
    ) {
        let rows = rows
            .into_iter()
            .map(|r| vec![text(r.shard), text(r.database), text(r.physical_sql)])
            .collect();
        write_rows(w, &EXPLAIN_COLUMNS, rows, false, self.status());
    }

    /// COM_STMT_PREPARE's answer: parameter and column definitions. Columns
    /// come from preparing the physical statement on the shard a sample
    /// binding routes to.
    pub(super) async fn describe_prepared(
        &mut self,
        schema: usize,
        plan: &PreparedPlan,
        stmt_id: u32,
        params: u16,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let mut columns: Vec<ColumnDef> = Vec::new();
        if matches!(plan.kind(), crate::route::StmtKind::Select) {
            let samples = [Value::Int(1), Value::NULL];
            for sample in samples {
                let args = vec![sample; params as usize];
                let Ok(Routed::Shards(sp)) =
                    plan.bind(&args, &self.shared.schemas[schema].segments)
                else {
                    continue;
                };
                let Some(t) = sp.targets.first() else {
                    continue;
                };
                let sql = t
                    .prepared
                    .as_ref()
                    .map(|p| p.sql.clone())
                    .unwrap_or_else(|| t.sql.clone());
                let Ok(mut conn) = self.take_conn(schema, t.place).await else {
                    break;
                };
                let prepared = conn.prepare_cached(&sql).await;
                if let Ok(Ok(p)) = prepared {
                    let visible = sp
                        .merge
                        .as_ref()
                        .map(|m| m.spec_for(p.columns.len()).visible)
                        .unwrap_or(p.columns.len());
                    columns = p.columns.iter().take(visible).cloned().collect();
                }
                self.give_back(schema, t.place, conn).await;
                break;
            }
        }
        w.prepare_ok(stmt_id, columns.len() as u16, params, 0);
        for _ in 0..params {
            w.column(&param_column());
        }
        if params > 0 {
            w.columns_done();
        }
        for c in &columns {
            w.raw(&c.raw);
        }
        if !columns.is_empty() {
            w.columns_done();
        }
        Ok(())
    }

    /// COM_FIELD_LIST: the columns of one physical copy of a logical table.
    pub(super) async fn field_list(
        &mut self,
        table: &str,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let schema = self.schema_idx();
        let Some((place, physical)) = self.shared.rules.schemas[schema]
            .physical_tables(table)
            .and_then(|v| v.into_iter().next())
        else {
            w.err(&ErrInfo::new(
                1146,
                "42S02",
                format!("Table '{}.{table}' doesn't exist", self.schema_name()),
            ));
            return Ok(());
        };
        let mut conn = match self.take_conn(schema, place).await {
            Ok(c) => c,
            Err(e) => {
                w.err(&e);
                return Ok(());
            }
        };
        let sql = format!(
            "SELECT * FROM {} LIMIT 0",
            crate::route::quote_ident(&physical)
        );
        match conn.query(&sql).await {
            Ok(Response::ResultSet { .. }) => match conn.columns().await {
                Ok(defs) => {
                    for d in &defs {
                        w.raw(&d.raw);
                    }
                    let _ = conn.drain().await;
                    let st = self.status();
                    w.end_result(0, st);
                }
                Err(e) => w.err(&backend_err(&self.shared, schema, place, e)),
            },
            Ok(Response::Err(e)) => w.err(&e),
            Ok(Response::Ok(_)) => {
                let st = self.status();
                w.end_result(0, st);
            }
            Err(e) => w.err(&backend_err(&self.shared, schema, place, e)),
        }
        self.give_back(schema, place, conn).await;
        Ok(())
    }
}

/// `... ) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT ...` without the
/// `AUTO_INCREMENT=42` table option (a column's AUTO_INCREMENT stays).
fn without_auto_increment(create: &str) -> String {
    const OPT: &str = " AUTO_INCREMENT=";
    let Some(at) = create.rfind(OPT) else {
        return create.to_string();
    };
    let digits = create[at + OPT.len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 || !create[..at].contains(')') {
        return create.to_string();
    }
    format!("{}{}", &create[..at], &create[at + OPT.len() + digits..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_table_loses_the_shards_auto_increment() {
        assert_eq!(
            without_auto_increment(
                "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4"
            ),
            "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        assert_eq!(without_auto_increment("Field"), "Field");
    }
}
