//! 号码入库 lines through the number center's intake (`intake::check` and
//! `intake::write`): one intake request per depot and pool of the chunk.

use std::collections::{BTreeMap, HashMap, HashSet};

use haoka_core::problem::ApiError;
use haoka_number::intake::{self, Checked, IntakeRequest, RejectReason};
use mysql_async::Transaction;

use super::{numeric_key, refused, Ctx, Prepared, Work};
use crate::decode::Row;
use crate::kinds::num_intake::{self, Line};
use crate::kinds::{LineResult, Outcome};
use crate::seen::Earlier;

/// The chunk's lines for one depot and pool, checked.
pub struct Group {
    req: IntakeRequest,
    checked: Checked,
}

pub async fn prepare(
    ctx: &Ctx<'_>,
    rows: &[Row],
    seen: &Earlier<'_>,
) -> Result<Prepared, ApiError> {
    let mut lines = Vec::new();
    let mut mine = HashSet::new();
    let mut groups: BTreeMap<(i64, Option<i64>), Vec<Line>> = BTreeMap::new();
    for row in rows {
        if let Some(bad) = numeric_key(row) {
            lines.push(bad);
            continue;
        }
        let line = match num_intake::parse(row.line_no, &row.cells) {
            Ok(l) => l,
            Err(bad) => {
                lines.push(bad);
                continue;
            }
        };
        if seen.contains(&line.phone_no) || !mine.insert(line.phone_no.clone()) {
            lines.push(refused(
                line.line_no,
                &line.phone_no,
                "duplicate_in_file",
                format!("{} is listed earlier in this file", line.phone_no),
            ));
            continue;
        }
        groups
            .entry((line.depot_id, line.pool_id))
            .or_default()
            .push(line);
    }
    let mut out = Vec::new();
    let mut ok = 0;
    for ((depot_id, pool_id), group) in groups {
        let req = IntakeRequest {
            numbers: Some(group.iter().map(|l| l.phone_no.clone()).collect()),
            range: None,
            depot_id,
            pool_id,
        };
        let mut checked = match intake::check(&ctx.state.number, ctx.actor, &req).await {
            Ok(c) => c,
            // The depot or pool itself is refused (unknown, disabled, out of
            // scope): every line naming it.
            Err(e) if e.status().is_client_error() => {
                for l in &group {
                    lines.push(refused(l.line_no, &l.phone_no, e.code(), e.to_string()));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let by_no: HashMap<&str, u32> = group
            .iter()
            .map(|l| (l.phone_no.as_str(), l.line_no))
            .collect();
        let mut out_of: HashSet<String> = HashSet::new();
        for r in &checked.rejected {
            let line_no = by_no.get(r.phone_no.as_str()).copied().unwrap_or(0);
            out_of.insert(r.phone_no.clone());
            lines.push(LineResult {
                line_no,
                key: r.phone_no.clone(),
                outcome: if r.reason == RejectReason::Invalid {
                    Outcome::Invalid
                } else {
                    Outcome::Refused
                },
                code: super::code_of(r.reason),
                reason: r.message.clone(),
            });
        }
        checked.retain(|no| !out_of.contains(no));
        ok += checked.accepted() as u64;
        if checked.accepted() > 0 {
            out.push(Group { req, checked });
        }
    }
    lines.sort_by_key(|l| l.line_no);
    Ok(Prepared {
        lines,
        ok,
        work: Work::NumberIntake(out),
    })
}

pub async fn write(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    groups: &[Group],
) -> Result<(), ApiError> {
    for g in groups {
        intake::write(tx, &ctx.state.number, ctx.actor, &g.req, &g.checked).await?;
    }
    Ok(())
}
