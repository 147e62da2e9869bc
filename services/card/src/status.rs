//! Card status codes and card types (DESIGN.md §6) as types. The 2-digit and
//! 1-letter strings appear only at the edges: SQL columns and JSON.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 卡状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CardStatus {
    /// 01 在库: in stock.
    InStock,
    /// 02 调拨在途: in transit between depots.
    InTransit,
    /// 03 预配: paired with a number.
    Paired,
    /// 04 占用未激活: occupied, not activated.
    OccupiedInactive,
    /// 05 占用: occupied (in a customer's phone).
    Occupied,
    /// 06 冻结: frozen.
    Frozen,
    /// 07 报废: scrapped.
    Scrapped,
    /// 08 遗失: lost.
    Lost,
}

impl CardStatus {
    pub const ALL: [CardStatus; 8] = [
        CardStatus::InStock,
        CardStatus::InTransit,
        CardStatus::Paired,
        CardStatus::OccupiedInactive,
        CardStatus::Occupied,
        CardStatus::Frozen,
        CardStatus::Scrapped,
        CardStatus::Lost,
    ];

    pub fn code(self) -> &'static str {
        use CardStatus::*;
        match self {
            InStock => "01",
            InTransit => "02",
            Paired => "03",
            OccupiedInactive => "04",
            Occupied => "05",
            Frozen => "06",
            Scrapped => "07",
            Lost => "08",
        }
    }

    pub fn from_code(code: &str) -> Option<CardStatus> {
        CardStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn title(self) -> &'static str {
        use CardStatus::*;
        match self {
            InStock => "在库",
            InTransit => "调拨在途",
            Paired => "预配",
            OccupiedInactive => "占用未激活",
            Occupied => "占用",
            Frozen => "冻结",
            Scrapped => "报废",
            Lost => "遗失",
        }
    }

    /// Physically on a depot shelf of the operator: may change depot.
    pub fn on_shelf(self) -> bool {
        matches!(
            self,
            CardStatus::InStock | CardStatus::Paired | CardStatus::Frozen
        )
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.title())
    }
}

impl Serialize for CardStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for CardStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CardStatus::from_code(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown card status {s:?}: use 01 to 08"))
        })
    }
}

/// 卡类型: stored as `M` / `B`, spoken in JSON as `made` / `blank`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CardType {
    /// 成卡: pre-made, IMSI written at the factory.
    Made,
    /// 白卡: blank, written at the point of sale (no IMSI until then).
    Blank,
}

impl CardType {
    pub fn db(self) -> &'static str {
        match self {
            CardType::Made => "M",
            CardType::Blank => "B",
        }
    }

    pub fn from_db(s: &str) -> Option<CardType> {
        match s {
            "M" => Some(CardType::Made),
            "B" => Some(CardType::Blank),
            _ => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CardType::Made => "成卡",
            CardType::Blank => "白卡",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (i, s) in CardStatus::ALL.into_iter().enumerate() {
            assert_eq!(s.code(), format!("{:02}", i + 1));
            assert_eq!(CardStatus::from_code(s.code()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<CardStatus>(&json).unwrap(), s);
        }
        assert!(serde_json::from_str::<CardStatus>("\"09\"").is_err());
        for t in [CardType::Made, CardType::Blank] {
            assert_eq!(CardType::from_db(t.db()), Some(t));
        }
        assert_eq!(
            serde_json::to_string(&CardType::Blank).unwrap(),
            "\"blank\""
        );
        assert_eq!(CardType::from_db("X"), None);
    }
}
