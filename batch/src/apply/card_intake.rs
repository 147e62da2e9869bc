//! 成卡入库 lines through the card center's intake (`check_request` and
//! `write`): one intake request per chunk, each card naming its depot.

use std::collections::{HashMap, HashSet};

use haoka_card::intake::{self, Checked, IntakeRequest, NewCard, RejectReason};
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::ApiError;
use mysql_async::Transaction;

use super::{numeric_key, refused, Ctx, Prepared, Work};
use crate::decode::Row;
use crate::kinds::card_intake;
use crate::kinds::{LineResult, Outcome};
use crate::seen::Earlier;

pub struct Batch {
    req: IntakeRequest,
    checked: Checked,
}

pub async fn prepare(
    ctx: &Ctx<'_>,
    province: &str,
    rows: &[Row],
    seen: &Earlier<'_>,
) -> Result<Prepared, ApiError> {
    let mut lines = Vec::new();
    let mut mine = HashSet::new();
    let mut good = Vec::new();
    for row in rows {
        if let Some(bad) = numeric_key(row) {
            lines.push(bad);
            continue;
        }
        match card_intake::parse(row.line_no, &row.cells) {
            Err(bad) => lines.push(bad),
            Ok(l) if seen.contains(&l.iccid) || !mine.insert(l.iccid.clone()) => {
                lines.push(refused(
                    l.line_no,
                    &l.iccid,
                    "duplicate_in_file",
                    format!("{} is listed earlier in this file", l.iccid),
                ));
            }
            Ok(l) => good.push(l),
        }
    }
    let mut ok = 0;
    let mut work = Vec::new();
    // The feed's province must be in the loader account's scope.
    let scope = ctx.actor.check_province(province);
    let pc = ProvinceCode::parse(province);
    let whole_file = match (&scope, &pc) {
        (Err(e), _) => Some((e.code().to_string(), e.to_string())),
        (_, None) => Some(("invalid".into(), format!("province {province} is unknown"))),
        _ => None,
    };
    if let Some((code, reason)) = whole_file {
        for l in &good {
            lines.push(refused(l.line_no, &l.iccid, &code, reason.clone()));
        }
    } else if let (Some(first), Some(pc)) = (good.first(), pc) {
        let req = IntakeRequest {
            province_code: pc,
            depot_id: first.depot_id,
            package_id: None,
            cards: good
                .iter()
                .map(|l| NewCard {
                    iccid: l.iccid.clone(),
                    imsi: l.imsi.clone(),
                    card_type: l.card_type,
                    depot_id: Some(l.depot_id),
                    package_id: l.package_id,
                })
                .collect(),
        };
        let by_key: HashMap<&str, u32> =
            good.iter().map(|l| (l.iccid.as_str(), l.line_no)).collect();
        let mut checked = intake::check_request(&ctx.state.card, &req).await?;
        let mut out: HashSet<String> = HashSet::new();
        for r in &checked.rejected {
            out.insert(r.iccid.clone());
            lines.push(LineResult {
                line_no: by_key.get(r.iccid.as_str()).copied().unwrap_or(0),
                key: r.iccid.clone(),
                outcome: if r.reason.malformed() && r.reason != RejectReason::DuplicateInRequest {
                    Outcome::Invalid
                } else {
                    Outcome::Refused
                },
                code: super::code_of(r.reason),
                reason: r.message.clone(),
            });
        }
        checked.retain(|k| !out.contains(k));
        ok = checked.accepted() as u64;
        if ok > 0 {
            work.push(Batch { req, checked });
        }
    }
    lines.sort_by_key(|l| l.line_no);
    Ok(Prepared {
        lines,
        ok,
        work: Work::CardIntake(work),
    })
}

pub async fn write(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    batches: &[Batch],
) -> Result<(), ApiError> {
    let staff = ctx.actor.staff_id();
    for b in batches {
        intake::write(tx, staff, &b.req, &b.checked).await?;
    }
    Ok(())
}
