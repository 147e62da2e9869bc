//! 号码入库 files: `phone_no,depot_id,pool_id` (pool_id may be empty).

use super::{LineResult, Outcome};

pub const HEADER: &[&str] = &["phone_no", "depot_id", "pool_id"];

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_no: u32,
    pub phone_no: String,
    pub depot_id: i64,
    pub pool_id: Option<i64>,
}

/// A line's fields, or why it is invalid.
pub fn parse(line_no: u32, cells: &[String]) -> Result<Line, LineResult> {
    let key = cells
        .first()
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let invalid = |code: &str, reason: String| LineResult {
        line_no,
        key: key.clone(),
        outcome: Outcome::Invalid,
        code: code.to_string(),
        reason,
    };
    if cells.len() != HEADER.len() {
        return Err(invalid(
            "column_count",
            format!("{} columns, the header has {}", cells.len(), HEADER.len()),
        ));
    }
    let depot_id = cells[1].trim().parse::<i64>().map_err(|_| {
        invalid(
            "invalid",
            format!("depot_id {:?} is not a number", cells[1]),
        )
    })?;
    let pool_id = match cells[2].trim() {
        "" => None,
        p => Some(
            p.parse::<i64>()
                .map_err(|_| invalid("invalid", format!("pool_id {p:?} is not a number")))?,
        ),
    };
    Ok(Line {
        line_no,
        phone_no: key.clone(),
        depot_id,
        pool_id,
    })
}
