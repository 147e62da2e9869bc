//! 成卡入库 files: `iccid,imsi,card_type,depot_id,package_id`. card_type is
//! `made` (成卡, needs its IMSI) or `blank` (白卡, IMSI empty); package_id
//! may be empty. The cards belong to the file name's province.

use haoka_services::card::status::CardType;

use super::{LineResult, Outcome};

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
    let key = cells.first().cloned().unwrap_or_default();
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
    let card_type = card_type(&cells[2]).ok_or_else(|| {
        invalid(
            "invalid",
            format!("card_type {:?} is not made or blank", cells[2]),
        )
    })?;
    let depot_id = cells[3].parse::<i64>().map_err(|_| {
        invalid(
            "invalid",
            format!("depot_id {:?} is not a number", cells[3]),
        )
    })?;
    let package_id = match cells[4].as_str() {
        "" => None,
        p => Some(
            p.parse::<i64>()
                .map_err(|_| invalid("invalid", format!("package_id {p:?} is not a number")))?,
        ),
    };
    Ok(Line {
        line_no,
        iccid: key.clone(),
        imsi: Some(cells[1].clone()).filter(|s| !s.is_empty()),
        card_type,
        depot_id,
        package_id,
    })
}
