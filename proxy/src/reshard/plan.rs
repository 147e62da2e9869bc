//! A move's plan and state: the row in `haoka_reshard_move` on the global
//! shard (so a restarted proxy resumes), the physical tables it moves, and
//! how a primary key is written down (copy position, change rows).

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::{at, ReshardError};
use crate::exec::Shared;
use crate::rules::{Algorithm, TableRule};

/// The proxy's resharding tables on a schema's global shard.
pub const STATE_DDL: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS haoka_reshard_move (
        move_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        province VARCHAR(8) NOT NULL,
        source_shard INT NOT NULL,
        target_shard INT NOT NULL,
        phase VARCHAR(16) NOT NULL,
        table_idx INT NOT NULL DEFAULT 0,
        last_pk TEXT NULL,
        rows_copied BIGINT NOT NULL DEFAULT 0,
        rows_total BIGINT NOT NULL DEFAULT 0,
        pause_ms BIGINT NULL,
        error TEXT NULL,
        created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS haoka_rules_version (
        province VARCHAR(8) NOT NULL PRIMARY KEY,
        shard INT NOT NULL,
        version BIGINT NOT NULL,
        move_id BIGINT NOT NULL
    ) ENGINE=InnoDB",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Copy,
    CatchUp,
    Verify,
    Switch,
    /// Clients use the target; the source rows are still there.
    Switched,
    /// COMPLETE: the source rows are being deleted.
    Cleanup,
    Completed,
    Cancelled,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Copy => "copy",
            Phase::CatchUp => "catchup",
            Phase::Verify => "verify",
            Phase::Switch => "switch",
            Phase::Switched => "switched",
            Phase::Cleanup => "cleanup",
            Phase::Completed => "completed",
            Phase::Cancelled => "cancelled",
            Phase::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Phase {
        match s {
            "copy" => Phase::Copy,
            "catchup" => Phase::CatchUp,
            "verify" => Phase::Verify,
            "switch" => Phase::Switch,
            "switched" => Phase::Switched,
            "cleanup" => Phase::Cleanup,
            "completed" => Phase::Completed,
            "cancelled" => Phase::Cancelled,
            _ => Phase::Failed,
        }
    }

    /// Before the switch: clients still use the source.
    pub fn before_switch(self) -> bool {
        matches!(
            self,
            Phase::Copy | Phase::CatchUp | Phase::Verify | Phase::Switch
        )
    }
}

/// One move, as `haoka_reshard_move` holds it.
#[derive(Debug, Clone)]
pub struct Move {
    pub id: u64,
    pub province: String,
    pub source: usize,
    pub target: usize,
    pub phase: Phase,
    /// Copy position: the table being copied and the last key copied in it.
    pub table_idx: usize,
    pub last_pk: Option<String>,
    pub rows_copied: u64,
    pub rows_total: u64,
    pub pause_ms: Option<u64>,
    pub error: Option<String>,
    pub updated_at: String,
}

/// A physical province-sharded table of the move.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    /// Its province column.
    pub province_col: String,
    pub pk: Vec<String>,
    pub columns: Vec<String>,
}

pub fn q(ident: &str) -> String {
    crate::route::quote_ident(ident)
}

impl TableInfo {
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| q(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn pk_list(&self) -> String {
        self.pk.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
    }

    /// `(pk...) > (?...)` (keyset pagination).
    pub fn pk_after(&self) -> String {
        let marks = vec!["?"; self.pk.len()].join(", ");
        format!("({}) > ({marks})", self.pk_list())
    }

    /// `(pk...) <= (?...)`.
    pub fn pk_upto(&self) -> String {
        let marks = vec!["?"; self.pk.len()].join(", ");
        format!("({}) <= ({marks})", self.pk_list())
    }

    /// `pk1 = ? AND pk2 = ?`.
    pub fn pk_equals(&self) -> String {
        self.pk
            .iter()
            .map(|c| format!("{} = ?", q(c)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Positions of the primary-key columns among `columns`.
    pub fn pk_positions(&self) -> Vec<usize> {
        self.pk
            .iter()
            .map(|k| self.columns.iter().position(|c| c == k).unwrap_or(0))
            .collect()
    }
}

/// A key as text: each column's value as MySQL would print it, hex-encoded,
/// joined by commas (the triggers write the same form).
pub fn encode_key(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| hex(&value_text(v)))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn decode_key(text: &str) -> Vec<Value> {
    text.split(',').map(|h| Value::Bytes(unhex(h))).collect()
}

fn value_text(v: &Value) -> Vec<u8> {
    match v {
        Value::NULL => Vec::new(),
        Value::Bytes(b) => b.clone(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::UInt(u) => u.to_string().into_bytes(),
        Value::Float(f) => f.to_string().into_bytes(),
        Value::Double(d) => d.to_string().into_bytes(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}").into_bytes()
        }
        Value::Time(neg, d, h, mi, s, us) => format!(
            "{}{:02}:{mi:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            *d as u64 * 24 + *h as u64
        )
        .into_bytes(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Every physical table sharded by province in `schema`, with its columns
/// and primary key as the source shard has them.
pub async fn tables(
    shared: &Shared,
    schema: usize,
    source: &mysql_async::Pool,
    _province: &str,
) -> Result<Vec<TableInfo>, ReshardError> {
    let s = &shared.rules.schemas[schema];
    let mut conn = source.get_conn().await.map_err(at("source shard"))?;
    let mut out = Vec::new();
    for (_, rule) in s.tables() {
        let TableRule::Sharded(t) = rule else {
            continue;
        };
        if !matches!(t.shard_by.algorithm, Algorithm::Province(_)) {
            continue;
        }
        for physical in t.physical_names() {
            let columns: Vec<String> = conn
                .exec(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                    (physical.clone(),),
                )
                .await
                .map_err(at("source shard"))?;
            if columns.is_empty() {
                continue;
            }
            let pk: Vec<String> = conn
                .exec(
                    "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' \
                     ORDER BY SEQ_IN_INDEX",
                    (physical.clone(),),
                )
                .await
                .map_err(at("source shard"))?;
            if pk.is_empty() {
                return Err(ReshardError::NoPrimaryKey { table: physical });
            }
            let province_col = columns
                .iter()
                .find(|c| c.eq_ignore_ascii_case(&t.shard_by.column))
                .cloned()
                .unwrap_or_else(|| t.shard_by.column.clone());
            out.push(TableInfo {
                name: physical,
                province_col,
                pk,
                columns,
            });
        }
    }
    Ok(out)
}

pub async fn ensure_tables(global: &mysql_async::Pool) -> Result<(), ReshardError> {
    let mut c = global.get_conn().await.map_err(at("global shard"))?;
    for ddl in STATE_DDL {
        c.query_drop(ddl).await.map_err(at("global shard"))?;
    }
    Ok(())
}

const COLUMNS: &str = "move_id, province, source_shard, target_shard, phase, table_idx, last_pk, \
     rows_copied, rows_total, pause_ms, error, CAST(updated_at AS CHAR)";

fn from_row(r: Row) -> Move {
    let (id, province, source, target, phase, table_idx, last_pk): (
        u64,
        String,
        usize,
        usize,
        String,
        usize,
        Option<String>,
    ) = (
        r.get(0).unwrap_or(0),
        r.get(1).unwrap_or_default(),
        r.get(2).unwrap_or(0),
        r.get(3).unwrap_or(0),
        r.get(4).unwrap_or_default(),
        r.get(5).unwrap_or(0),
        r.get(6).unwrap_or(None),
    );
    Move {
        id,
        province,
        source,
        target,
        phase: Phase::parse(&phase),
        table_idx,
        last_pk,
        rows_copied: r.get(7).unwrap_or(0),
        rows_total: r.get(8).unwrap_or(0),
        pause_ms: r.get(9).unwrap_or(None),
        error: r.get(10).unwrap_or(None),
        updated_at: r.get(11).unwrap_or_default(),
    }
}

pub async fn load(global: &mysql_async::Pool, id: u64) -> Result<Option<Move>, ReshardError> {
    let mut c = global.get_conn().await.map_err(at("global shard"))?;
    let row: Result<Option<Row>, _> = c
        .exec_first(
            format!("SELECT {COLUMNS} FROM haoka_reshard_move WHERE move_id = ?"),
            (id,),
        )
        .await;
    match row {
        Ok(row) => Ok(row.map(from_row)),
        // No move was ever started on this global shard.
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(None),
        Err(e) => Err(at("global shard")(e)),
    }
}

/// Every move, newest first (an absent state table: none).
pub async fn list(global: &mysql_async::Pool) -> Result<Vec<Move>, ReshardError> {
    let mut c = global.get_conn().await.map_err(at("global shard"))?;
    let rows: Result<Vec<Row>, _> = c
        .query(format!(
            "SELECT {COLUMNS} FROM haoka_reshard_move ORDER BY move_id DESC"
        ))
        .await;
    match rows {
        Ok(rows) => Ok(rows.into_iter().map(from_row).collect()),
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(Vec::new()),
        Err(e) => Err(at("global shard")(e)),
    }
}

/// Moves a driver must take up again after a restart (a switched one: its
/// capture may still be installed if the proxy died right after the switch).
pub async fn unfinished(global: &mysql_async::Pool) -> Result<Vec<u64>, ReshardError> {
    Ok(list(global)
        .await?
        .into_iter()
        .filter(|m| m.phase.before_switch() || matches!(m.phase, Phase::Cleanup | Phase::Switched))
        .map(|m| m.id)
        .collect())
}

/// Records a new move (phase copy); its id.
pub async fn insert(
    global: &mysql_async::Pool,
    province: &str,
    source: usize,
    target: usize,
    rows_total: u64,
) -> Result<u64, ReshardError> {
    let mut c = global.get_conn().await.map_err(at("global shard"))?;
    c.exec_drop(
        "INSERT INTO haoka_reshard_move (province, source_shard, target_shard, phase, rows_total) \
         VALUES (?, ?, ?, 'copy', ?)",
        (province, source, target, rows_total),
    )
    .await
    .map_err(at("global shard"))?;
    Ok(c.last_insert_id().unwrap_or(0))
}

pub async fn save(global: &mysql_async::Pool, m: &Move) -> Result<(), ReshardError> {
    let mut c = global.get_conn().await.map_err(at("global shard"))?;
    c.exec_drop(
        "UPDATE haoka_reshard_move SET phase = ?, table_idx = ?, last_pk = ?, rows_copied = ?, \
         rows_total = ?, pause_ms = ?, error = ? WHERE move_id = ?",
        (
            m.phase.as_str(),
            m.table_idx,
            m.last_pk.clone(),
            m.rows_copied,
            m.rows_total,
            m.pause_ms,
            m.error.clone(),
            m.id,
        ),
    )
    .await
    .map_err(at("global shard"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_their_text_form() {
        let k = encode_key(&[Value::Int(-12), Value::Bytes(b"a,b".to_vec())]);
        assert_eq!(k, "2D3132,612C62");
        assert_eq!(
            decode_key(&k),
            vec![Value::Bytes(b"-12".to_vec()), Value::Bytes(b"a,b".to_vec())]
        );
    }
}
