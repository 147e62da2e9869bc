//! Global secondary indexes kept in step with their base table (DESIGN.md
//! §3): INSERT writes the index rows in the same plan (router); DELETE reads
//! the indexed values of the rows it removes (locking them) and deletes
//! their index rows; UPDATE of the indexed column (to a literal) reads the
//! old values and covering columns the same way, then replaces the index
//! rows — all in one distributed transaction with the base rows. Statements
//! naming only the indexed column are routed through the index
//! (`index_keys`).
//!
//! Rows that move shards (a card transferred to another province as a half
//! transaction: the target inserts it before the source deletes it): a
//! single-row INSERT of a key the index holds for the same row identity
//! (the covering columns outside the base shard key, e.g. card_id)
//! re-points the index row (`check_index_move`); a DELETE removes only index
//! rows still pointing at the deleted row, so the source's later DELETE
//! leaves the re-pointed row alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use mysql_common::value::Value;

use super::session::{backend_err, Session};
use crate::protocol::{ErrInfo, OkInfo};
use crate::route::{
    parse_statements, string_value, PendingLookup, ShardPlan, SqlMode, StmtKind, Target,
};
use crate::rules::{KeyValue, Place, ShardedTable, TableRule};

/// What a write on an indexed table must also do.
pub(super) struct IndexUpkeep {
    /// Physical base table as the targets name it.
    base: String,
    /// The indexed column (same name in both tables).
    column: String,
    /// Columns the index row carries besides the indexed one.
    covering: Vec<String>,
    index: Arc<ShardedTable>,
    /// For an UPDATE that assigns the indexed column: the new value.
    new_value: Option<String>,
}

use crate::route::quote_ident as quote;

/// The literal an UPDATE assigns to `column`: `Ok(None)` when the UPDATE
/// does not assign it, `Err` when it assigns something else than a literal
/// or also assigns a covering column.
fn assigned_literal(
    sql: &str,
    column: &str,
    covering: &[String],
    mode: SqlMode,
) -> Result<Option<String>, String> {
    use sqlparser::ast::{AssignmentTarget, Expr, Statement, Value as V};
    let stmts = parse_statements(sql, mode).map_err(|e| e.to_string())?;
    let Some(Statement::Update(u)) = stmts.first() else {
        return Ok(None);
    };
    let mut found = None;
    for a in &u.assignments {
        let AssignmentTarget::ColumnName(n) = &a.target else {
            continue;
        };
        let name = n.to_string();
        let col = name.rsplit('.').next().unwrap_or("").trim_matches('`');
        if covering.iter().any(|c| c.eq_ignore_ascii_case(col)) {
            return Err(format!("also assigns {col}, which the index row carries"));
        }
        if !col.eq_ignore_ascii_case(column) {
            continue;
        }
        found = Some(match &a.value {
            Expr::Value(v) => match &v.value {
                V::SingleQuotedString(s) => string_value(s, '\'', mode),
                V::DoubleQuotedString(s) => string_value(s, '"', mode),
                V::Number(n, _) => n.to_string(),
                _ => return Err(format!("assigns {column} something else than a literal")),
            },
            _ => return Err(format!("assigns {column} something else than a literal")),
        });
    }
    Ok(found)
}

/// `UPDATE `t` SET ... <rest>` -> `SELECT cols FROM `t` <rest> FOR UPDATE`
/// (literals of `<rest>` kept as written).
fn locking_select_of_update(sql: &str, base: &str, cols: &str, mode: SqlMode) -> Option<String> {
    use sqlparser::ast::Statement;
    let stmts = parse_statements(sql, mode).ok()?;
    let Some(Statement::Update(u)) = stmts.first() else {
        return None;
    };
    if u.from.is_some() || !u.table.joins.is_empty() {
        return None;
    }
    if !u.table.relation.to_string().contains(base) {
        return None;
    }
    let mut q = format!("SELECT {cols} FROM {}", u.table);
    if let Some(w) = &u.selection {
        q.push_str(&format!(" WHERE {w}"));
    }
    if !u.order_by.is_empty() {
        let o: Vec<String> = u.order_by.iter().map(|e| e.to_string()).collect();
        q.push_str(&format!(" ORDER BY {}", o.join(", ")));
    }
    if let Some(l) = &u.limit {
        q.push_str(&format!(" LIMIT {l}"));
    }
    q.push_str(" FOR UPDATE");
    Some(q)
}

/// The physical table of a routed `UPDATE `t` ...`.
fn updated_table(sql: &str) -> Option<&str> {
    let rest = sql.strip_prefix("UPDATE `")?;
    rest.split('`').next()
}

/// The physical table of a routed `DELETE FROM `t` ...`.
fn deleted_table(sql: &str) -> Option<&str> {
    let rest = sql.strip_prefix("DELETE FROM `")?;
    rest.split('`').next()
}

/// `DELETE FROM `t` <rest>` -> `SELECT cols FROM `t` <rest> FOR UPDATE`.
fn locking_select(sql: &str, base: &str, cols: &str) -> Option<String> {
    let table = quote(base);
    let rest = sql.strip_prefix(&format!("DELETE FROM {table}"))?;
    Some(format!("SELECT {cols} FROM {table}{rest} FOR UPDATE"))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        _ => None,
    }
}

/// After a single-row INSERT whose index row may move (`ShardPlan::index_move`):
/// the base row counts 1 and the index row 1 (new), 2 (moved) or 0 (its key
/// belongs to another row). A total under `expected` (one per target row) is
/// that duplicate: it becomes the index target's error, so the statement is
/// undone like any failed write.
pub(super) fn check_index_move(
    targets: &[Target],
    expected: u64,
    results: &mut [(Place, Result<OkInfo, ErrInfo>)],
) {
    if results.iter().any(|(_, r)| r.is_err()) {
        return;
    }
    let total: u64 = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|o| o.affected_rows))
        .sum();
    if total >= expected {
        return;
    }
    let Some(index) = targets.last() else {
        return;
    };
    let table = index
        .sql
        .strip_prefix("INSERT INTO `")
        .and_then(|r| r.split('`').next())
        .unwrap_or("the global index");
    let err = ErrInfo::new(
        1062,
        "23000",
        format!("Duplicate entry for key 'PRIMARY' of {table}: the indexed value belongs to another row"),
    );
    if let Some(slot) = results.iter_mut().find(|(p, _)| *p == index.place) {
        slot.1 = Err(err);
    }
}

impl Session {
    /// The index upkeep a DELETE plan needs (None: no index on its table).
    pub(super) fn index_upkeep(
        &self,
        schema: usize,
        plan: &ShardPlan,
    ) -> Result<Option<IndexUpkeep>, ErrInfo> {
        let s = &self.shared.rules.schemas[schema];
        let Some(first) = plan.targets.first() else {
            return Ok(None);
        };
        let base = match plan.kind {
            StmtKind::Delete => deleted_table(&first.sql),
            StmtKind::Update => updated_table(&first.sql),
            _ => None,
        };
        let Some(base) = base else {
            return Ok(None);
        };
        let Some(gi) = s.global_indexes.iter().find(|g| {
            base == g.table
                || base
                    .strip_prefix(g.table.as_str())
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        }) else {
            return Ok(None);
        };
        let new_value = if plan.kind == StmtKind::Update {
            match assigned_literal(&first.sql, &gi.column, &gi.covering, self.sql_mode) {
                Ok(Some(v)) => Some(v),
                Ok(None) => return Ok(None),
                Err(why) => {
                    return Err(ErrInfo::new(
                        1235,
                        "42000",
                        format!(
                            "haoka: this UPDATE of {base} {why}; global index {} cannot follow it (set {} to a literal, or delete and re-insert the row)",
                            gi.name, gi.column
                        ),
                    ))
                }
            }
        } else {
            None
        };
        match s.table(&gi.index_table) {
            Some(TableRule::Sharded(it)) if it.split_by.is_none() => Ok(Some(IndexUpkeep {
                base: base.to_string(),
                column: gi.column.clone(),
                covering: gi.covering.clone(),
                index: it.clone(),
                new_value,
            })),
            _ => Err(ErrInfo::new(
                1235,
                "42000",
                format!(
                    "haoka: global index {} needs an unsplit sharded index table {}",
                    gi.name, gi.index_table
                ),
            )),
        }
    }

    /// Runs a DELETE or UPDATE and keeps the index: reads the indexed values
    /// and covering columns of the rows it writes (FOR UPDATE, on the base
    /// shards), runs the statement, deletes the index rows that still point
    /// at those rows (same covering values: a row that moved shards has
    /// re-pointed its index row, which stays) and, for an UPDATE of the
    /// indexed column, inserts the new ones. Results per place, as
    /// `write_all`.
    pub(super) async fn write_with_index(
        &mut self,
        schema: usize,
        targets: &[Target],
        u: &IndexUpkeep,
    ) -> Vec<(Place, Result<OkInfo, ErrInfo>)> {
        let mut cols = vec![quote(&u.column)];
        cols.extend(u.covering.iter().map(|c| quote(c)));
        let cols = cols.join(", ");
        // Per written row: its indexed value and its covering values.
        let mut written: Vec<(String, Vec<Value>)> = Vec::new();
        for t in targets {
            let select = match u.new_value {
                None => locking_select(&t.sql, &u.base, &cols),
                Some(_) => locking_select_of_update(&t.sql, &u.base, &cols, self.sql_mode),
            };
            let Some(select) = select else {
                return vec![(
                    t.place,
                    Err(ErrInfo::new(
                        1235,
                        "42000",
                        format!(
                            "haoka: this statement form on {} cannot keep its global index",
                            u.base
                        ),
                    )),
                )];
            };
            let mut conn = match self.take_conn(schema, t.place).await {
                Ok(c) => c,
                Err(e) => return vec![(t.place, Err(e))],
            };
            let r = conn.query_collect(&select).await;
            self.give_back(schema, t.place, conn).await;
            match r {
                Ok(res) => {
                    for row in res.rows {
                        if let Some(v) = row.first().and_then(text) {
                            written.push((v, row.into_iter().skip(1).collect()));
                        }
                    }
                }
                Err(e) => {
                    return vec![(t.place, Err(backend_err(&self.shared, schema, t.place, e)))]
                }
            }
        }
        let mut results = self.write_all(schema, targets, false).await;
        if results.iter().any(|(_, r)| r.is_err()) || written.is_empty() {
            return results;
        }
        if let Some(new) = &u.new_value {
            let carried = written.iter().map(|(_, c)| c.clone()).collect();
            if let Err(e) = self.insert_index_rows(schema, u, new, carried).await {
                results.push(e);
                return results;
            }
        }
        let shards = self.shared.rules.schemas[schema].shards.len();
        let mut by_place: BTreeMap<Place, Vec<Vec<Value>>> = BTreeMap::new();
        for (v, carried) in written {
            match u
                .index
                .shard_by
                .algorithm
                .place(&KeyValue::Str(v.clone()), shards)
            {
                Ok(i) => {
                    let mut params = vec![Value::Bytes(v.into_bytes())];
                    params.extend(carried);
                    by_place.entry(Place::Data(i)).or_default().push(params);
                }
                Err(e) => {
                    results.push((
                        Place::Global,
                        Err(ErrInfo::new(
                            1105,
                            "HY000",
                            format!("haoka: index key {v}: {e}"),
                        )),
                    ));
                    return results;
                }
            }
        }
        let mut cond = format!("{} = ?", quote(&u.column));
        for c in &u.covering {
            cond.push_str(&format!(" AND {} <=> ?", quote(c)));
        }
        let sql = format!(
            "DELETE FROM {} WHERE {cond}",
            quote(&u.index.physical_name(0))
        );
        for (place, rows) in by_place {
            let r = self.run_prepared_each(schema, place, &sql, rows).await;
            results.push((place, r.map(|()| OkInfo::default())));
        }
        results
    }

    /// Index rows for the new value of an UPDATE: one per updated row, with
    /// the covering columns it had.
    async fn insert_index_rows(
        &mut self,
        schema: usize,
        u: &IndexUpkeep,
        new: &str,
        carried: Vec<Vec<Value>>,
    ) -> Result<(), (Place, Result<OkInfo, ErrInfo>)> {
        let shards = self.shared.rules.schemas[schema].shards.len();
        let place = match u
            .index
            .shard_by
            .algorithm
            .place(&KeyValue::Str(new.to_string()), shards)
        {
            Ok(i) => Place::Data(i),
            Err(e) => {
                return Err((
                    Place::Global,
                    Err(ErrInfo::new(
                        1105,
                        "HY000",
                        format!("haoka: index key {new}: {e}"),
                    )),
                ))
            }
        };
        let mut cols = vec![quote(&u.column)];
        cols.extend(u.covering.iter().map(|c| quote(c)));
        let marks = vec!["?"; cols.len()].join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            quote(&u.index.physical_name(0)),
            cols.join(", ")
        );
        let rows = carried
            .into_iter()
            .map(|rest| {
                let mut row = vec![Value::Bytes(new.as_bytes().to_vec())];
                row.extend(rest);
                row
            })
            .collect();
        self.run_prepared_each(schema, place, &sql, rows)
            .await
            .map_err(|e| (place, Err(e)))
    }

    /// Runs prepared `sql` once per parameter row on `place` (in the
    /// transaction).
    async fn run_prepared_each(
        &mut self,
        schema: usize,
        place: Place,
        sql: &str,
        rows: Vec<Vec<Value>>,
    ) -> Result<(), ErrInfo> {
        let mut conn = self.take_conn(schema, place).await?;
        let mut r = Ok(());
        for params in rows {
            let step = match conn.prepare_cached(sql).await {
                Ok(Ok(p)) => {
                    let id = p.stmt_id;
                    match conn.execute(id, &params).await {
                        Ok(crate::backend::Response::Err(e)) => Err(e),
                        Ok(_) => conn
                            .drain()
                            .await
                            .map_err(|e| backend_err(&self.shared, schema, place, e)),
                        Err(e) => Err(backend_err(&self.shared, schema, place, e)),
                    }
                }
                Ok(Err(e)) => Err(e),
                Err(e) => Err(backend_err(&self.shared, schema, place, e)),
            };
            if step.is_err() {
                r = step;
                break;
            }
        }
        self.give_back(schema, place, conn).await;
        r
    }

    /// The base table's shard-key values for a statement routed through a
    /// global index.
    pub(super) async fn index_keys(
        &mut self,
        schema: usize,
        pending: &PendingLookup,
    ) -> Result<Vec<String>, ErrInfo> {
        let mut keys = Vec::new();
        for t in &pending.lookups {
            let mut conn = self.take_conn(schema, t.place).await?;
            let r = conn.query_collect(&t.sql).await;
            self.give_back(schema, t.place, conn).await;
            match r {
                Ok(res) => keys.extend(
                    res.rows
                        .into_iter()
                        .filter_map(|row| row.first().and_then(text)),
                ),
                Err(e) => return Err(backend_err(&self.shared, schema, t.place, e)),
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: SqlMode = SqlMode::DEFAULT;

    #[test]
    fn delete_becomes_a_locking_select() {
        let sql = "DELETE FROM `sim_card` WHERE iccid = '8986' LIMIT 1";
        assert_eq!(deleted_table(sql), Some("sim_card"));
        assert_eq!(
            locking_select(sql, "sim_card", "`iccid`, `card_id`").as_deref(),
            Some(
                "SELECT `iccid`, `card_id` FROM `sim_card` WHERE iccid = '8986' LIMIT 1 FOR UPDATE"
            )
        );
        assert_eq!(
            locking_select("DELETE sim_card FROM x", "sim_card", "`iccid`"),
            None
        );
    }

    #[test]
    fn update_of_the_indexed_column_is_read_first() {
        let cov = vec!["province_code".to_string(), "card_id".to_string()];
        let sql = "UPDATE `sim_card` SET status = '02', iccid = '8986' WHERE card_id = 5";
        assert_eq!(updated_table(sql), Some("sim_card"));
        assert_eq!(
            assigned_literal(sql, "iccid", &cov, M),
            Ok(Some("8986".into()))
        );
        assert_eq!(
            assigned_literal("UPDATE `sim_card` SET status = '02'", "iccid", &cov, M),
            Ok(None)
        );
        assert!(assigned_literal(
            "UPDATE `sim_card` SET iccid = CONCAT(iccid, '1')",
            "iccid",
            &cov,
            M
        )
        .is_err());
        assert!(assigned_literal(
            "UPDATE `sim_card` SET iccid = '1', card_id = 2",
            "iccid",
            &cov,
            M
        )
        .is_err());
        assert_eq!(
            locking_select_of_update(sql, "sim_card", "`iccid`, `card_id`", M).as_deref(),
            Some("SELECT `iccid`, `card_id` FROM `sim_card` WHERE card_id = 5 FOR UPDATE")
        );
        // literals of the WHERE clause come back as written
        let sql = r"UPDATE `sim_card` SET iccid = 'a\\b' WHERE note = 'C:\\new\'s'";
        assert_eq!(
            assigned_literal(sql, "iccid", &cov, M),
            Ok(Some(r"a\b".into()))
        );
        assert_eq!(
            locking_select_of_update(sql, "sim_card", "`iccid`", M).as_deref(),
            Some(r"SELECT `iccid` FROM `sim_card` WHERE note = 'C:\\new\'s' FOR UPDATE")
        );
    }
}
