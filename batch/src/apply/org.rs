//! BSDM org feed lines through the permission center's sync code (the
//! `/api/v1/sync/*` rules: codes, scope of the loader account, parents that
//! must exist, the operation log). Each row is one upsert in its own
//! transaction, as the endpoints do it; an upsert keyed by code is
//! idempotent, so a row applied again after a crash before the chunk's
//! checkpoint commit is simply `unchanged`.

use haoka_core::auth::password;
use haoka_core::problem::ApiError;
use haoka_permission::sync::{self, RowOutcome};

use super::{refused, Ctx, Prepared, Work};
use crate::decode::Row;
use crate::kinds::org::OrgLine;
use crate::kinds::LineResult;
use crate::seen::Earlier;

/// A line's row, or why it is malformed.
pub type Parse = fn(u32, &[String]) -> Result<OrgLine, LineResult>;

pub struct Line {
    line_no: u32,
    key: String,
    row: OrgLine,
}

pub fn prepare(parse: Parse, rows: &[Row], seen: &Earlier<'_>) -> Prepared {
    let mut lines = Vec::new();
    let mut mine = std::collections::HashSet::new();
    let mut work = Vec::new();
    for row in rows {
        let Some(key) = super::key_of(row) else {
            // An empty key: the parse names the missing column.
            if let Err(bad) = parse(row.line_no, &row.cells) {
                lines.push(bad);
            }
            continue;
        };
        let org = match parse(row.line_no, &row.cells) {
            Ok(o) => o,
            Err(bad) => {
                lines.push(bad);
                continue;
            }
        };
        if seen.contains(key) || !mine.insert(key.to_string()) {
            lines.push(refused(
                row.line_no,
                key,
                "duplicate_in_file",
                format!("{key} is listed earlier in this file"),
            ));
            continue;
        }
        work.push(Line {
            line_no: row.line_no,
            key: key.to_string(),
            row: org,
        });
    }
    Prepared {
        ok: work.len() as u64,
        lines,
        work: Work::Org(work),
    }
}

/// Upserts every line; returns the ones the center refused.
pub async fn write(ctx: &Ctx<'_>, work: &[Line]) -> Result<Vec<LineResult>, ApiError> {
    let who = ctx.principal()?;
    // New staff get no usable password (as the endpoint does): one hash of
    // a random password nobody knows, for the chunk.
    let mut unusable = None;
    let mut out = Vec::new();
    for l in work {
        let r = match &l.row {
            OrgLine::Department(row) => sync::upsert_department(ctx.state, who, row).await,
            OrgLine::Channel(row) => sync::upsert_channel(ctx.state, who, row).await,
            OrgLine::Staff(row) => {
                if unusable.is_none() {
                    unusable = Some(ctx.state.hasher.hash(&password::generate()).await?);
                }
                let hash = unusable.as_deref().unwrap_or_default();
                sync::upsert_staff(ctx.state, who, row, hash).await
            }
        };
        match r {
            Ok(RowOutcome::Failed) => out.push(refused(
                l.line_no,
                &l.key,
                "failed",
                "the feed row failed".into(),
            )),
            Ok(_) => {}
            Err(e) if e.status().is_client_error() => {
                out.push(refused(l.line_no, &l.key, e.code(), e.to_string()))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
