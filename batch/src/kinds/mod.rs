//! The file kinds: each has a name prefix (see `naming`) and a header.

pub mod card_intake;
pub mod naming;
pub mod num_intake;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 号码入库
    NumberIntake,
    /// 成卡入库
    CardIntake,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[Kind::NumberIntake, Kind::CardIntake];

    pub fn prefix(self) -> &'static str {
        match self {
            Kind::NumberIntake => "NUM_INTAKE",
            Kind::CardIntake => "CARD_INTAKE",
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
