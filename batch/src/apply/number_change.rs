//! 号码状态变更 and 库位变更 lines through the number center's staged
//! changes (`change::stage_status`: row locks, the transition table,
//! history rows and number.status_changed events; `change::stage_depot_move`)
//! on the chunk's transaction. Lines the center refuses are found while
//! staging, on the transaction, and the rest staged again without them.

use std::collections::{BTreeMap, HashMap, HashSet};

use haoka_core::problem::ApiError;
use haoka_number as center;
use haoka_number::change::{self, StatusRequest};
use haoka_number::shelf_cache::ShelfKey;
use haoka_number::status::{NumberStatus, ResultCode};
use mysql_async::Transaction;

use super::{numeric_key, refused, Ctx, Prepared, Work};
use crate::decode::Row;
use crate::kinds::num_status::{self, Line};
use crate::kinds::{LineResult, Outcome};
use crate::seen::Earlier;

/// What a group of lines asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Status(NumberStatus, Option<String>),
    Depot(i64),
}

/// The chunk's lines for one change.
pub struct Group {
    op: Op,
    numbers: Vec<String>,
    lines: HashMap<String, u32>,
}

/// A line's number and change, or why it is malformed.
pub type Parse = fn(u32, &[String]) -> Result<(String, Op), LineResult>;

pub fn parse_status(line_no: u32, cells: &[String]) -> Result<(String, Op), LineResult> {
    let l: Line = num_status::parse(line_no, cells)?;
    Ok((l.phone_no, Op::Status(l.to, l.reason)))
}

pub fn parse_depot(line_no: u32, cells: &[String]) -> Result<(String, Op), LineResult> {
    let (no, depot) = crate::kinds::num_depot::parse(line_no, cells)?;
    Ok((no, Op::Depot(depot)))
}

pub async fn prepare(
    ctx: &Ctx<'_>,
    parse: Parse,
    rows: &[Row],
    seen: &Earlier<'_>,
) -> Result<Prepared, ApiError> {
    let mut lines = Vec::new();
    let mut mine = HashSet::new();
    let mut groups: BTreeMap<Op, Vec<(String, u32)>> = BTreeMap::new();
    for row in rows {
        if let Some(bad) = numeric_key(row) {
            lines.push(bad);
            continue;
        }
        let (phone_no, op) = match parse(row.line_no, &row.cells) {
            Ok(x) => x,
            Err(bad) => {
                lines.push(bad);
                continue;
            }
        };
        let line_no = row.line_no;
        if seen.contains(&phone_no) || !mine.insert(phone_no.clone()) {
            lines.push(refused(
                line_no,
                &phone_no,
                "duplicate_in_file",
                format!("{phone_no} is listed earlier in this file"),
            ));
            continue;
        }
        // Digits, segment and the loader account's scope, per line.
        let located = match center::locate(&ctx.state.number, &phone_no).await {
            Ok(x) => x,
            Err(e) => {
                let outcome = if matches!(e, ApiError::Invalid(_)) {
                    Outcome::Invalid
                } else {
                    Outcome::Refused
                };
                lines.push(LineResult {
                    line_no,
                    key: phone_no.clone(),
                    outcome,
                    code: e.code().into(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if let Err(e) = ctx.actor.check_province(&located.area.province) {
            lines.push(refused(line_no, &phone_no, e.code(), e.to_string()));
            continue;
        }
        groups.entry(op).or_default().push((phone_no, line_no));
    }
    let ok = groups.values().map(|g| g.len() as u64).sum();
    let work = groups
        .into_iter()
        .map(|(op, ls)| Group {
            op,
            numbers: ls.iter().map(|(n, _)| n.clone()).collect(),
            lines: ls.into_iter().collect(),
        })
        .collect();
    lines.sort_by_key(|l| l.line_no);
    Ok(Prepared {
        lines,
        ok,
        work: Work::NumberChange(work),
    })
}

/// Stages every group on `tx`, again without the numbers a try refused;
/// returns the refused lines and the shelves to announce after the commit.
pub async fn write(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    groups: &[Group],
) -> Result<(Vec<LineResult>, HashSet<ShelfKey>), ApiError> {
    let rights = ctx
        .state
        .number
        .center
        .grants
        .rights(&ctx.state.db, ctx.actor)
        .await?;
    let mut out = Vec::new();
    let mut shelves = HashSet::new();
    for g in groups {
        let mut names: Vec<&str> = g.numbers.iter().map(String::as_str).collect();
        while !names.is_empty() {
            let staged = match &g.op {
                Op::Status(to, reason) => {
                    let req = StatusRequest {
                        numbers: Vec::new(),
                        to: *to,
                        reason: reason.clone(),
                    };
                    change::stage_status(tx, &ctx.state.number, ctx.actor, &rights, &names, &req)
                        .await?
                }
                Op::Depot(d) => match change::stage_depot_move(tx, ctx.actor, &names, *d).await {
                    Ok(s) => s,
                    // The depot itself is refused: every line naming it.
                    Err(e) if e.status().is_client_error() => {
                        for n in &names {
                            let line_no = g.lines.get(*n).copied().unwrap_or(0);
                            out.push(refused(line_no, n, e.code(), e.to_string()));
                        }
                        break;
                    }
                    Err(e) => return Err(e),
                },
            };
            if staged.applied {
                shelves.extend(staged.shelves);
                break;
            }
            let bad: HashSet<&str> = staged
                .results
                .iter()
                .filter(|r| r.code != ResultCode::Ok)
                .map(|r| r.phone_no.as_str())
                .collect();
            for r in staged.results.iter().filter(|r| r.code != ResultCode::Ok) {
                out.push(LineResult {
                    line_no: g.lines.get(&r.phone_no).copied().unwrap_or(0),
                    key: r.phone_no.clone(),
                    outcome: Outcome::Refused,
                    code: super::code_of(r.code),
                    reason: if r.message.is_empty() {
                        format!("{:?}", r.code)
                    } else {
                        r.message.clone()
                    },
                });
            }
            names.retain(|n| !bad.contains(n));
        }
    }
    Ok((out, shelves))
}
