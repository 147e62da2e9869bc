//! The file kinds: each has a name prefix (see `naming`) and a header.

pub mod card_depot;
pub mod card_intake;
pub mod naming;
pub mod num_depot;
pub mod num_intake;
pub mod num_status;
pub mod org;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 号码入库
    NumberIntake,
    /// 成卡入库
    CardIntake,
    /// 号码状态变更 (上架/下架/预留…)
    NumberStatus,
    /// 号码库位变更
    NumberDepot,
    /// 成卡库位变更
    CardDepot,
    /// BSDM org feed: 部门
    OrgDepartments,
    /// BSDM org feed: 渠道
    OrgChannels,
    /// BSDM org feed: 员工
    OrgStaff,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::NumberIntake,
        Kind::CardIntake,
        Kind::NumberStatus,
        Kind::NumberDepot,
        Kind::CardDepot,
        Kind::OrgDepartments,
        Kind::OrgChannels,
        Kind::OrgStaff,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            Kind::NumberIntake => "NUM_INTAKE",
            Kind::CardIntake => "CARD_INTAKE",
            Kind::NumberStatus => "NUM_STATUS",
            Kind::NumberDepot => "NUM_DEPOT",
            Kind::CardDepot => "CARD_DEPOT",
            Kind::OrgDepartments => "BSDM_DEPT",
            Kind::OrgChannels => "BSDM_CHANNEL",
            Kind::OrgStaff => "BSDM_STAFF",
        }
    }

    pub fn from_prefix(p: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.prefix() == p)
    }

    /// The columns the header must name, in this order.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            Kind::NumberIntake => num_intake::HEADER,
            Kind::CardIntake => card_intake::HEADER,
            Kind::NumberStatus => num_status::HEADER,
            Kind::NumberDepot => num_depot::HEADER,
            Kind::CardDepot => card_depot::HEADER,
            Kind::OrgDepartments => org::DEPT_HEADER,
            Kind::OrgChannels => org::CHANNEL_HEADER,
            Kind::OrgStaff => org::STAFF_HEADER,
        }
    }
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The stock or the rules refused it (duplicate, unknown depot, scope…).
    Refused,
    /// The line itself is malformed (wrong digits, missing column…).
    Invalid,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Invalid => "invalid",
        }
    }

    pub fn from_name(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "invalid" => Outcome::Invalid,
            _ => Outcome::Refused,
        }
    }
}

/// A line that did not go in, with the center's code and a readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineResult {
    pub line_no: u32,
    pub key: String,
    pub outcome: Outcome,
    pub code: String,
    pub reason: String,
}

/// A malformed line.
pub(crate) fn invalid(line_no: u32, key: &str, code: &str, reason: String) -> LineResult {
    LineResult {
        line_no,
        key: key.to_string(),
        outcome: Outcome::Invalid,
        code: code.to_string(),
        reason,
    }
}

/// The line has as many cells as the header.
pub(crate) fn columns(line_no: u32, cells: &[String], header: &[&str]) -> Result<(), LineResult> {
    if cells.len() == header.len() {
        return Ok(());
    }
    Err(invalid(
        line_no,
        cells.first().map_or("", String::as_str),
        "column_count",
        format!("{} columns, the header has {}", cells.len(), header.len()),
    ))
}

/// An optional integer cell (empty: none).
pub(crate) fn opt_id(
    line_no: u32,
    key: &str,
    name: &str,
    cell: &str,
) -> Result<Option<i64>, LineResult> {
    match cell.trim() {
        "" => Ok(None),
        v => v.parse::<i64>().map(Some).map_err(|_| {
            invalid(
                line_no,
                key,
                "invalid",
                format!("{name} {v:?} is not a number"),
            )
        }),
    }
}

/// A required integer cell.
pub(crate) fn id(line_no: u32, key: &str, name: &str, cell: &str) -> Result<i64, LineResult> {
    opt_id(line_no, key, name, cell)?
        .ok_or_else(|| invalid(line_no, key, "invalid", format!("{name} is empty")))
}
