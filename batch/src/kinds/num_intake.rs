//! 号码入库 files: `phone_no,depot_id,pool_id` (pool_id may be empty).

use super::LineResult;

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
    super::columns(line_no, cells, HEADER)?;
    let key = cells[0].trim();
    Ok(Line {
        line_no,
        phone_no: key.to_string(),
        depot_id: super::id(line_no, key, "depot_id", &cells[1])?,
        pool_id: super::opt_id(line_no, key, "pool_id", &cells[2])?,
    })
}
