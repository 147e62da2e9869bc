//! 成卡入库 files: `iccid,imsi,card_type,depot_id,package_id`. card_type is
//! `made` (成卡, needs its IMSI) or `blank` (白卡, IMSI empty); package_id
//! may be empty. The cards belong to the file name's province.

use haoka_card::status::CardType;

use super::LineResult;

pub const HEADER: &[&str] = &["iccid", "imsi", "card_type", "depot_id", "package_id"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_no: u32,
    pub iccid: String,
    pub imsi: Option<String>,
    pub card_type: CardType,
    pub depot_id: i64,
    pub package_id: Option<i64>,
}

fn card_type(s: &str) -> Option<CardType> {
    match s.to_ascii_lowercase().as_str() {
        "made" | "m" | "成卡" => Some(CardType::Made),
        "blank" | "b" | "白卡" => Some(CardType::Blank),
        _ => None,
    }
}

pub fn parse(line_no: u32, cells: &[String]) -> Result<Line, LineResult> {
    super::columns(line_no, cells, HEADER)?;
    let key = cells[0].as_str();
    let card_type = card_type(&cells[2]).ok_or_else(|| {
        super::invalid(
            line_no,
            key,
            "invalid",
            format!("card_type {:?} is not made or blank", cells[2]),
        )
    })?;
    Ok(Line {
        line_no,
        iccid: key.to_string(),
        imsi: Some(cells[1].clone()).filter(|s| !s.is_empty()),
        card_type,
        depot_id: super::id(line_no, key, "depot_id", &cells[3])?,
        package_id: super::opt_id(line_no, key, "package_id", &cells[4])?,
    })
}
