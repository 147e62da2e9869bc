//! Global secondary indexes kept in step with their base table (DESIGN.md
//! §3): INSERT writes the index rows in the same plan (router); DELETE reads
//! the indexed values of the rows it removes (locking them) and deletes
//! their index rows, all in one distributed transaction. Statements naming
//! only the indexed column are routed through the index (`index_keys`).

use std::collections::BTreeMap;
use std::sync::Arc;

use mysql_common::value::Value;

use super::session::{backend_err, Session};
use crate::protocol::{ErrInfo, OkInfo};
use crate::route::{PendingLookup, ShardPlan, StmtKind, Target};
use crate::rules::{KeyValue, Place, ShardedTable, TableRule};

/// What a DELETE on an indexed table must also do.
pub(super) struct IndexUpkeep {
    /// Physical base table as the targets name it.
    base: String,
    /// The indexed column (same name in both tables).
    column: String,
    index: Arc<ShardedTable>,
}

/// The physical table of a routed `DELETE FROM `t` ...`.
fn deleted_table(sql: &str) -> Option<&str> {
    let rest = sql.strip_prefix("DELETE FROM `")?;
    rest.split('`').next()
}

/// `DELETE FROM `t` <rest>` -> `SELECT `col` FROM `t` <rest> FOR UPDATE`.
fn locking_select(sql: &str, base: &str, column: &str) -> Option<String> {
    let head = format!("DELETE FROM `{base}`");
    let rest = sql.strip_prefix(&head)?;
    Some(format!(
        "SELECT `{}` FROM `{base}`{rest} FOR UPDATE",
        column.replace('`', "``")
    ))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        _ => None,
    }
}

impl Session {
    /// The index upkeep a DELETE plan needs (None: no index on its table).
    pub(super) fn index_upkeep(
        &self,
        schema: usize,
        plan: &ShardPlan,
    ) -> Result<Option<IndexUpkeep>, ErrInfo> {
        if plan.kind != StmtKind::Delete {
            return Ok(None);
        }
        let s = &self.shared.rules.schemas[schema];
        let Some(base) = plan.targets.first().and_then(|t| deleted_table(&t.sql)) else {
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
        match s.table(&gi.index_table) {
            Some(TableRule::Sharded(it)) if it.split_by.is_none() => Ok(Some(IndexUpkeep {
                base: base.to_string(),
                column: gi.column.clone(),
                index: it.clone(),
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

    /// Deletes base rows and their index rows: reads the indexed values of
    /// the rows to delete (FOR UPDATE, on the base shards), runs the DELETE,
    /// then deletes those index rows. Results per place, as `write_all`.
    pub(super) async fn delete_with_index(
        &mut self,
        schema: usize,
        targets: &[Target],
        u: &IndexUpkeep,
    ) -> Vec<(Place, Result<OkInfo, ErrInfo>)> {
        let mut values = Vec::new();
        for t in targets {
            let Some(select) = locking_select(&t.sql, &u.base, &u.column) else {
                return vec![(
                    t.place,
                    Err(ErrInfo::new(
                        1235,
                        "42000",
                        format!(
                            "haoka: this DELETE form on {} cannot keep its global index",
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
                Ok(res) => values.extend(res.rows.iter().filter_map(|r| r.first().and_then(text))),
                Err(e) => {
                    return vec![(t.place, Err(backend_err(&self.shared, schema, t.place, e)))]
                }
            }
        }
        let mut results = self.write_all(schema, targets).await;
        if results.iter().any(|(_, r)| r.is_err()) || values.is_empty() {
            return results;
        }
        let shards = self.shared.rules.schemas[schema].shards.len();
        let mut by_place: BTreeMap<Place, Vec<String>> = BTreeMap::new();
        for v in values {
            match u
                .index
                .shard_by
                .algorithm
                .place(&KeyValue::Str(v.clone()), shards)
            {
                Ok(i) => by_place.entry(Place::Data(i)).or_default().push(v),
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
        let sql = format!(
            "DELETE FROM `{}` WHERE `{}` = ?",
            u.index.physical_name(0),
            u.column.replace('`', "``")
        );
        for (place, vals) in by_place {
            let r = self.run_prepared_each(schema, place, &sql, vals).await;
            results.push((place, r.map(|()| OkInfo::default())));
        }
        results
    }

    /// Runs prepared `sql` once per value on `place` (in the transaction).
    async fn run_prepared_each(
        &mut self,
        schema: usize,
        place: Place,
        sql: &str,
        values: Vec<String>,
    ) -> Result<(), ErrInfo> {
        let mut conn = self.take_conn(schema, place).await?;
        let mut r = Ok(());
        for v in values {
            let step = match conn.prepare_cached(sql).await {
                Ok(Ok(p)) => {
                    let id = p.stmt_id;
                    match conn.execute(id, &[Value::Bytes(v.into_bytes())]).await {
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

    #[test]
    fn delete_becomes_a_locking_select() {
        let sql = "DELETE FROM `sim_card` WHERE iccid = '8986' LIMIT 1";
        assert_eq!(deleted_table(sql), Some("sim_card"));
        assert_eq!(
            locking_select(sql, "sim_card", "iccid").as_deref(),
            Some("SELECT `iccid` FROM `sim_card` WHERE iccid = '8986' LIMIT 1 FOR UPDATE")
        );
        assert_eq!(
            locking_select("DELETE sim_card FROM x", "sim_card", "iccid"),
            None
        );
    }
}
