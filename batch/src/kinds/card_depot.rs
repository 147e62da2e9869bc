//! 成卡库位变更 files: `iccid,depot_id` (the card's new depot, of its
//! province; the card must be on a depot shelf).

use super::LineResult;

pub const HEADER: &[&str] = &["iccid", "depot_id"];

pub fn parse(line_no: u32, cells: &[String]) -> Result<(String, i64), LineResult> {
    super::columns(line_no, cells, HEADER)?;
    let key = cells[0].as_str();
    Ok((
        key.to_string(),
        super::id(line_no, key, "depot_id", &cells[1])?,
    ))
}
