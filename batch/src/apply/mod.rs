//! Rows to changes through the centers' own code (history rows, premium
//! classification, scope checks): `prepare` checks a chunk and writes
//! nothing; `write` puts what passed on the chunk's transaction, which also
//! moves the job's checkpoint.

pub mod card_depot;
pub mod card_intake;
pub mod number_change;
pub mod number_intake;
pub mod org;

use std::collections::HashSet;

use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::problem::ApiError;
use haoka_number::shelf_cache::ShelfKey;
use mysql_async::Transaction;

use crate::centers::Centers;
use crate::decode::Row;
use crate::kinds::naming::FileName;
use crate::kinds::{self, Kind, LineResult, Outcome};
use crate::seen::Earlier;

/// Who applies: the process state and the loader's account.
pub struct Ctx<'a> {
    pub state: &'a Centers,
    pub actor: &'a Actor,
}

/// A checked chunk.
pub struct Prepared {
    /// The lines that do not go in.
    pub lines: Vec<LineResult>,
    /// Lines that go in.
    pub ok: u64,
    work: Work,
}

enum Work {
    NumberIntake(Vec<number_intake::Group>),
    CardIntake(Vec<card_intake::Batch>),
    NumberChange(Vec<number_change::Group>),
    CardDepot(Vec<card_depot::Group>),
    Org(Vec<org::Line>),
}

impl Prepared {
    pub fn count(&self, o: Outcome) -> u64 {
        self.lines.iter().filter(|l| l.outcome == o).count() as u64
    }

    /// Lines that were to go in and were refused while writing.
    fn refuse(&mut self, refused: Vec<LineResult>) {
        self.ok -= refused.len() as u64;
        self.lines.extend(refused);
        self.lines.sort_by_key(|l| l.line_no);
    }
}

impl Ctx<'_> {
    /// The loader's staff account (the loader never works as a channel).
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        match self.actor {
            Actor::Staff(p) => Ok(p),
            Actor::Channel(_) => Err(ApiError::Internal(
                "the batch loader works as a staff account".into(),
            )),
        }
    }
}

pub async fn prepare(
    file: &FileName,
    ctx: &Ctx<'_>,
    rows: &[Row],
    seen: &Earlier<'_>,
) -> Result<Prepared, ApiError> {
    match file.kind {
        Kind::NumberIntake => number_intake::prepare(ctx, rows, seen).await,
        Kind::CardIntake => card_intake::prepare(ctx, &file.province, rows, seen).await,
        Kind::NumberStatus => {
            number_change::prepare(ctx, number_change::parse_status, rows, seen).await
        }
        Kind::NumberDepot => {
            number_change::prepare(ctx, number_change::parse_depot, rows, seen).await
        }
        Kind::CardDepot => Ok(card_depot::prepare(rows, seen)),
        Kind::OrgDepartments => Ok(org::prepare(kinds::org::parse_department, rows, seen)),
        Kind::OrgChannels => Ok(org::prepare(kinds::org::parse_channel, rows, seen)),
        Kind::OrgStaff => Ok(org::prepare(kinds::org::parse_staff, rows, seen)),
    }
}

/// Writes a checked chunk on `tx`. Kinds whose refusals show only on the
/// transaction (status changes: row locks, the transition table) move those
/// lines from ok to refused here. Returns the shelves to announce after the
/// commit.
pub async fn write(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    p: &mut Prepared,
) -> Result<HashSet<ShelfKey>, ApiError> {
    match &p.work {
        Work::NumberIntake(groups) => number_intake::write(tx, ctx, groups).await?,
        Work::CardIntake(batches) => card_intake::write(tx, ctx, batches).await?,
        Work::NumberChange(groups) => {
            let (refused, shelves) = number_change::write(tx, ctx, groups).await?;
            p.refuse(refused);
            return Ok(shelves);
        }
        Work::CardDepot(groups) => {
            let refused = card_depot::write(tx, ctx, groups).await?;
            p.refuse(refused);
        }
        Work::Org(lines) => {
            let refused = org::write(ctx, lines).await?;
            p.refuse(refused);
        }
    }
    Ok(HashSet::new())
}

/// The key of each row (first column), as every kind has it: to rebuild
/// the "seen" set of rows before a checkpoint.
pub fn key_of(row: &Row) -> Option<&str> {
    row.cells
        .first()
        .map(String::as_str)
        .filter(|k| !k.is_empty())
}

/// A line refused for a reason of the file itself (e.g. listed twice).
fn refused(line_no: u32, key: &str, code: &str, reason: String) -> LineResult {
    LineResult {
        line_no,
        key: key.to_string(),
        outcome: Outcome::Refused,
        code: code.to_string(),
        reason,
    }
}

/// A key column that XLSX stored as a number: refused, not rounded.
fn numeric_key(row: &Row) -> Option<LineResult> {
    (row.numeric.first() == Some(&true)).then(|| LineResult {
        line_no: row.line_no,
        key: row.cells[0].clone(),
        outcome: Outcome::Invalid,
        code: "numeric_cell".into(),
        reason: "the key cell is stored as a number; store it as text".into(),
    })
}

/// A center's reason enum as its snake_case result code.
fn code_of(reason: impl serde::Serialize) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "refused".into())
}
