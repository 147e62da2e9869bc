//! 号码状态变更 lines through the number center's status change
//! (`change::stage_status`: row locks, the transition table, history rows
//! and number.status_changed events on the chunk's transaction). Lines the
//! transition table or the pool rights refuse are found while staging, on
//! the transaction, and staged again without them.

use std::collections::{BTreeMap, HashMap, HashSet};

use haoka_services::number::change::{self, StatusRequest};
use haoka_services::number::shelf_cache::ShelfKey;
use haoka_services::number::status::{NumberStatus, ResultCode};
use haoka_services::number::{self as center};
use haoka_services::problem::ApiError;
use mysql_async::Transaction;

use super::{numeric_key, refused, Ctx, Prepared, Work};
use crate::decode::Row;
use crate::kinds::num_status::{self, Line};
use crate::kinds::{LineResult, Outcome};

/// The chunk's lines for one target status and reason.
pub struct Group {
    req: StatusRequest,
    lines: HashMap<String, u32>,
}

pub async fn prepare(
    ctx: &Ctx<'_>,
    rows: &[Row],
    seen: &HashSet<String>,
) -> Result<Prepared, ApiError> {
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    let mut mine = HashSet::new();
    let mut groups: BTreeMap<(NumberStatus, Option<String>), Vec<Line>> = BTreeMap::new();
    for row in rows {
        if let Some(k) = super::key_of(row) {
            keys.push(k.to_string());
        }
        if let Some(bad) = numeric_key(row) {
            lines.push(bad);
            continue;
        }
        let l = match num_status::parse(row.line_no, &row.cells) {
            Ok(l) => l,
            Err(bad) => {
                lines.push(bad);
                continue;
            }
        };
        if seen.contains(&l.phone_no) || !mine.insert(l.phone_no.clone()) {
            lines.push(refused(
                l.line_no,
                &l.phone_no,
                "duplicate_in_file",
                format!("{} is listed earlier in this file", l.phone_no),
            ));
            continue;
        }
        // Digits, segment and the loader account's scope, per line.
        let located = match center::locate(ctx.state, &l.phone_no).await {
            Ok(x) => x,
            Err(e) => {
                let outcome = if matches!(e, ApiError::Invalid(_)) {
                    Outcome::Invalid
                } else {
                    Outcome::Refused
                };
                lines.push(LineResult {
                    line_no: l.line_no,
                    key: l.phone_no.clone(),
                    outcome,
                    code: e.code().into(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if let Err(e) = ctx.actor.check_province(&located.area.province) {
            lines.push(refused(l.line_no, &l.phone_no, e.code(), e.to_string()));
            continue;
        }
        groups.entry((l.to, l.reason.clone())).or_default().push(l);
    }
    let ok = groups.values().map(|g| g.len() as u64).sum();
    let work = groups
        .into_iter()
        .map(|((to, reason), ls)| Group {
            req: StatusRequest {
                numbers: ls.iter().map(|l| l.phone_no.clone()).collect(),
                to,
                reason,
            },
            lines: ls.iter().map(|l| (l.phone_no.clone(), l.line_no)).collect(),
        })
        .collect();
    lines.sort_by_key(|l| l.line_no);
    Ok(Prepared {
        lines,
        ok,
        keys,
        work: Work::NumberStatus(work),
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
        .grants
        .rights(&ctx.state.db, ctx.actor)
        .await?;
    let mut out = Vec::new();
    let mut shelves = HashSet::new();
    for g in groups {
        let mut names: Vec<&str> = g.req.numbers.iter().map(String::as_str).collect();
        while !names.is_empty() {
            let staged =
                change::stage_status(tx, ctx.state, ctx.actor, &rights, &names, &g.req).await?;
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
