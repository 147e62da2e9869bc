//! Number status codes (DESIGN.md §6) and the number center's result codes, as
//! types. The 2-digit / 4-digit strings appear only at the edges: SQL columns
//! and JSON.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 号码状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumberStatus {
    /// 01 空闲: idle in stock.
    Idle,
    /// 02 预留: reserved, not for sale.
    Reserved,
    /// 03 上架: on shelf, the only selectable state.
    OnShelf,
    /// 04 选占: held by a selection key.
    Held,
    /// 05 待预配: awaiting pairing with a card.
    AwaitingPairing,
    /// 06 预配: paired with a card.
    Paired,
    /// 07 预配套包: paired into a package.
    PairedPackage,
    /// 08 预占: pre-occupied by an order.
    PreOccupied,
    /// 09 占用未激活: occupied, not activated.
    OccupiedInactive,
    /// 10 占用: sold.
    Occupied,
    /// 11 冷冻: frozen, aging before reuse.
    Frozen,
    /// 12 携入: ported in.
    PortedIn,
    /// 13 携出: ported out.
    PortedOut,
    /// 14 待审批: pending approval.
    PendingApproval,
}

impl NumberStatus {
    pub const ALL: [NumberStatus; 14] = [
        NumberStatus::Idle,
        NumberStatus::Reserved,
        NumberStatus::OnShelf,
        NumberStatus::Held,
        NumberStatus::AwaitingPairing,
        NumberStatus::Paired,
        NumberStatus::PairedPackage,
        NumberStatus::PreOccupied,
        NumberStatus::OccupiedInactive,
        NumberStatus::Occupied,
        NumberStatus::Frozen,
        NumberStatus::PortedIn,
        NumberStatus::PortedOut,
        NumberStatus::PendingApproval,
    ];

    pub fn code(self) -> &'static str {
        use NumberStatus::*;
        match self {
            Idle => "01",
            Reserved => "02",
            OnShelf => "03",
            Held => "04",
            AwaitingPairing => "05",
            Paired => "06",
            PairedPackage => "07",
            PreOccupied => "08",
            OccupiedInactive => "09",
            Occupied => "10",
            Frozen => "11",
            PortedIn => "12",
            PortedOut => "13",
            PendingApproval => "14",
        }
    }

    pub fn from_code(code: &str) -> Option<NumberStatus> {
        NumberStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn title(self) -> &'static str {
        use NumberStatus::*;
        match self {
            Idle => "空闲",
            Reserved => "预留",
            OnShelf => "上架",
            Held => "选占",
            AwaitingPairing => "待预配",
            Paired => "预配",
            PairedPackage => "预配套包",
            PreOccupied => "预占",
            OccupiedInactive => "占用未激活",
            Occupied => "占用",
            Frozen => "冷冻",
            PortedIn => "携入",
            PortedOut => "携出",
            PendingApproval => "待审批",
        }
    }

    /// Handed to a customer (sold, in use or ported): its fees are settled,
    /// so a premium waiver no longer applies.
    pub fn sold(self) -> bool {
        matches!(
            self,
            NumberStatus::OccupiedInactive
                | NumberStatus::Occupied
                | NumberStatus::PortedIn
                | NumberStatus::PortedOut
        )
    }

    /// Still in the operator's stock (not handed to a customer): may change
    /// depot or pool.
    pub fn in_stock(self) -> bool {
        matches!(
            self,
            NumberStatus::Idle
                | NumberStatus::Reserved
                | NumberStatus::OnShelf
                | NumberStatus::Frozen
        )
    }
}

impl fmt::Display for NumberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.title())
    }
}

impl Serialize for NumberStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for NumberStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NumberStatus::from_code(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown number status {s:?}: use 01 to 14"))
        })
    }
}

/// The number center's result codes (DESIGN.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0000
    Ok,
    /// 0001 already taken (held or sold under another key).
    Taken,
    /// 0002 no such resource (or not visible to the caller).
    NoSuchResource,
    /// 0003 not for sale.
    NotForSale,
    /// 0004 the number's state does not allow this.
    StateNotUsable,
    /// 0005 wrong owning channel (or a pool the caller may not use).
    WrongChannel,
    /// 0006 free, so cannot be released.
    FreeCannotRelease,
    /// 0007 sold, so cannot be released.
    SoldCannotRelease,
}

impl ResultCode {
    pub const ALL: [ResultCode; 8] = [
        ResultCode::Ok,
        ResultCode::Taken,
        ResultCode::NoSuchResource,
        ResultCode::NotForSale,
        ResultCode::StateNotUsable,
        ResultCode::WrongChannel,
        ResultCode::FreeCannotRelease,
        ResultCode::SoldCannotRelease,
    ];

    pub fn code(self) -> &'static str {
        use ResultCode::*;
        match self {
            Ok => "0000",
            Taken => "0001",
            NoSuchResource => "0002",
            NotForSale => "0003",
            StateNotUsable => "0004",
            WrongChannel => "0005",
            FreeCannotRelease => "0006",
            SoldCannotRelease => "0007",
        }
    }

    pub fn message(self) -> &'static str {
        use ResultCode::*;
        match self {
            Ok => "ok",
            Taken => "the number is already taken by another key",
            NoSuchResource => "no such number",
            NotForSale => "the number is not for sale",
            StateNotUsable => "the number's state does not allow this",
            WrongChannel => "the number belongs to another channel or a pool you may not use",
            FreeCannotRelease => "the number is free, so it cannot be released",
            SoldCannotRelease => "the number is sold, so it cannot be released",
        }
    }

    pub fn from_code(code: &str) -> Option<ResultCode> {
        ResultCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl Serialize for ResultCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for ResultCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ResultCode::from_code(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown result code {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (i, s) in NumberStatus::ALL.into_iter().enumerate() {
            assert_eq!(s.code(), format!("{:02}", i + 1));
            assert_eq!(NumberStatus::from_code(s.code()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<NumberStatus>(&json).unwrap(), s);
        }
        assert!(serde_json::from_str::<NumberStatus>("\"15\"").is_err());
        for (i, c) in ResultCode::ALL.into_iter().enumerate() {
            assert_eq!(c.code(), format!("{i:04}"));
            assert_eq!(ResultCode::from_code(c.code()), Some(c));
        }
    }
}
