//! 成卡库位变更 lines through the card center's staged depot move
//! (`change::stage_depot_move`: row locks, the depot rules, history rows)
//! on the chunk's transaction: one move per depot of the chunk; the cards
//! the center refuses are found while staging and the rest staged again
//! without them.

use std::collections::{BTreeMap, HashMap, HashSet};

use haoka_card::change::{self, Outcome as CardOutcome};
use haoka_card::iccid::Iccid;
use haoka_core::problem::ApiError;
use mysql_async::Transaction;

use super::{numeric_key, refused, Ctx, Prepared, Work};
use crate::decode::Row;
use crate::kinds::card_depot;
use crate::kinds::{invalid, LineResult, Outcome};
use crate::seen::Earlier;

/// The chunk's cards for one depot.
pub struct Group {
    depot_id: i64,
    iccids: Vec<Iccid>,
    lines: HashMap<String, u32>,
}

pub fn prepare(rows: &[Row], seen: &Earlier<'_>) -> Prepared {
    let mut lines = Vec::new();
    let mut mine = HashSet::new();
    let mut groups: BTreeMap<i64, Vec<(Iccid, u32)>> = BTreeMap::new();
    for row in rows {
        if let Some(bad) = numeric_key(row) {
            lines.push(bad);
            continue;
        }
        let (raw, depot_id) = match card_depot::parse(row.line_no, &row.cells) {
            Ok(x) => x,
            Err(bad) => {
                lines.push(bad);
                continue;
            }
        };
        let iccid = match Iccid::parse(&raw) {
            Ok(i) => i,
            Err(e) => {
                lines.push(invalid(row.line_no, &raw, "invalid_iccid", e.to_string()));
                continue;
            }
        };
        if seen.contains(iccid.as_str()) || !mine.insert(iccid.as_str().to_string()) {
            lines.push(refused(
                row.line_no,
                iccid.as_str(),
                "duplicate_in_file",
                format!("{iccid} is listed earlier in this file"),
            ));
            continue;
        }
        groups
            .entry(depot_id)
            .or_default()
            .push((iccid, row.line_no));
    }
    let ok = groups.values().map(|g| g.len() as u64).sum();
    let work = groups
        .into_iter()
        .map(|(depot_id, list)| Group {
            depot_id,
            lines: list
                .iter()
                .map(|(i, l)| (i.as_str().to_string(), *l))
                .collect(),
            iccids: list.into_iter().map(|(i, _)| i).collect(),
        })
        .collect();
    lines.sort_by_key(|l| l.line_no);
    Prepared {
        lines,
        ok,
        work: Work::CardDepot(work),
    }
}

/// Stages every group on `tx`, again without the cards a try refused;
/// returns the refused lines.
pub async fn write(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    groups: &[Group],
) -> Result<Vec<LineResult>, ApiError> {
    let p = ctx.principal()?;
    let mut out = Vec::new();
    for g in groups {
        let mut cards = g.iccids.clone();
        while !cards.is_empty() {
            let staged =
                match change::stage_depot_move(&ctx.state.card, tx, p, &cards, g.depot_id).await {
                    Ok(s) => s,
                    // The depot itself is refused: every line naming it.
                    Err(e) if e.status().is_client_error() => {
                        for c in &cards {
                            let line_no = g.lines.get(c.as_str()).copied().unwrap_or(0);
                            out.push(refused(line_no, c.as_str(), e.code(), e.to_string()));
                        }
                        break;
                    }
                    Err(e) => return Err(e),
                };
            if staged.applied {
                break;
            }
            let mut bad = HashSet::new();
            for r in staged
                .results
                .iter()
                .filter(|r| r.outcome != CardOutcome::Ok)
            {
                bad.insert(r.iccid.clone());
                out.push(LineResult {
                    line_no: g.lines.get(&r.iccid).copied().unwrap_or(0),
                    key: r.iccid.clone(),
                    outcome: Outcome::Refused,
                    code: super::code_of(r.outcome),
                    reason: r.message.clone(),
                });
            }
            cards.retain(|c| !bad.contains(c.as_str()));
        }
    }
    Ok(out)
}
