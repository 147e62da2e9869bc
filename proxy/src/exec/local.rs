//! What the proxy answers itself or on one chosen shard: metadata about
//! logical tables, `SHOW HAOKA ...`, `EXPLAIN`, prepared-statement metadata.

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;

use super::session::{backend_err, Proto, Session};
use crate::backend::{ColumnDef, Response};
use crate::protocol::passthrough::forward_response;
use crate::protocol::{simple_column, ErrInfo, HandlerResult, ResponseWriter};
use crate::route::{explain, HaokaShow, Metadata, PreparedPlan, Routed, Target, EXPLAIN_COLUMNS};
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

/// SQL LIKE with % and _ (case-insensitive, as on a _ci column).
fn like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some('_') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some(c) => s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

/// The quoted pattern of `... LIKE 'pattern'`, if any.
fn like_pattern(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let at = lower.find(" like ")? + 6;
    let rest = sql[at..].trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &rest[1..];
    Some(body[..body.find(quote)?].to_string())
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
        let status = self.status();
        let rules = self.shared.rules.clone();
        match m {
            Metadata::Databases => {
                let user = self.shared.users.get(&self.user);
                let mut rows = vec![vec![text("information_schema")]];
                for s in &rules.schemas {
                    let allowed = user.is_some_and(|u| {
                        u.schemas.is_empty()
                            || u.schemas.iter().any(|x| x.eq_ignore_ascii_case(&s.name))
                    });
                    if allowed {
                        rows.push(vec![text(s.name.clone())]);
                    }
                }
                write_rows(w, &["Database"], rows, binary, status);
            }
            Metadata::Tables { full, sql } => {
                let s = &rules.schemas[schema];
                let pattern = like_pattern(&sql);
                let rows: Vec<Vec<Value>> = s
                    .tables()
                    .into_iter()
                    .filter(|(name, _)| pattern.as_deref().is_none_or(|p| like(p, name)))
                    .map(|(name, _)| {
                        let mut r = vec![text(name)];
                        if full {
                            r.push(text("BASE TABLE"));
                        }
                        r
                    })
                    .collect();
                let col = format!("Tables_in_{}", s.name);
                if full {
                    write_rows(w, &[col.as_str(), "Table_type"], rows, binary, status);
                } else {
                    write_rows(w, &[col.as_str()], rows, binary, status);
                }
            }
            Metadata::Table { table, target } => {
                self.describe_table(schema, &table, target, binary, w)
                    .await?;
            }
            Metadata::AnyShard { sql } => {
                let sql = match self.logical_catalog(schema, &sql).await {
                    Ok(s) => s,
                    Err(e) => {
                        w.err(&e);
                        return Ok(());
                    }
                };
                self.run_on_one(schema, Place::Global, &sql, proto, w)
                    .await?;
            }
        }
        Ok(())
    }

    /// information_schema.TABLES / COLUMNS queries rewritten to show logical
    /// tables (see `catalog.rs`); other statements unchanged.
    async fn logical_catalog(&mut self, schema: usize, sql: &str) -> Result<String, ErrInfo> {
        let Some(table) = super::catalog::catalog_table(sql) else {
            return Ok(sql.to_string());
        };
        let mut conn = self.take_conn(schema, Place::Global).await?;
        let q = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = '{}' ORDER BY ORDINAL_POSITION",
            table.to_ascii_uppercase()
        );
        let result = conn.query_collect(&q).await;
        self.give_back(schema, Place::Global, conn).await;
        let result = result.map_err(|e| backend_err(&self.shared, schema, Place::Global, e))?;
        let columns: Vec<String> = result
            .rows
            .into_iter()
            .filter_map(|r| match r.into_iter().next() {
                Some(Value::Bytes(b)) => String::from_utf8(b).ok(),
                _ => None,
            })
            .collect();
        let derived = super::catalog::derived_table(&self.shared.rules, table, &columns);
        Ok(super::catalog::rewrite(sql, &derived).unwrap_or_else(|| sql.to_string()))
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
                    out = out.replacen(&format!("`{p}`"), &format!("`{table}`"), 1);
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
            w.column(&simple_column("?", ColumnType::MYSQL_TYPE_VAR_STRING));
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
        let sql = format!("SELECT * FROM `{physical}` LIMIT 0");
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

    #[test]
    fn like_matches_sql_patterns() {
        assert!(like("phone%", "phone_number"));
        assert!(like("%card%", "sim_card"));
        assert!(like("sbtest_", "sbtest1"));
        assert!(!like("sbtest_", "sbtest12"));
        assert!(like("PROVINCE", "province"));
        assert_eq!(
            like_pattern("SHOW TABLES LIKE 'sb%'").as_deref(),
            Some("sb%")
        );
        assert_eq!(like_pattern("SHOW TABLES"), None);
    }
}
