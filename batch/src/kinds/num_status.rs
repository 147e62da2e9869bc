//! 号码状态变更 files (上架/下架/预留…): `phone_no,to_status,reason`.
//! to_status is the status code (`01` idle … `08`), changed through the
//! number center's transition table; reason may be empty.

use haoka_number::status::NumberStatus;

use super::LineResult;

pub const HEADER: &[&str] = &["phone_no", "to_status", "reason"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_no: u32,
    pub phone_no: String,
    pub to: NumberStatus,
    pub reason: Option<String>,
}

pub fn parse(line_no: u32, cells: &[String]) -> Result<Line, LineResult> {
    super::columns(line_no, cells, HEADER)?;
    let key = cells[0].as_str();
    let to = NumberStatus::from_code(&cells[1]).ok_or_else(|| {
        super::invalid(
            line_no,
            key,
            "invalid",
            format!("to_status {:?} is not a status code (01 to 08)", cells[1]),
        )
    })?;
    Ok(Line {
        line_no,
        phone_no: key.to_string(),
        to,
        reason: Some(cells[2].clone()).filter(|r| !r.is_empty()),
    })
}
