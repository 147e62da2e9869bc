//! Domain values shared by the centers, as types: province codes, record
//! status, channel types; `msisdn` is the phone number.

pub mod msisdn;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The operator's 2-digit province codes (DESIGN.md §3).
pub const PROVINCES: [&str; 31] = [
    "11", "13", "18", "19", "10", "91", "90", "97", "31", "34", "36", "30", "38", "75", "17", "76",
    "71", "74", "51", "59", "50", "83", "81", "85", "86", "79", "84", "87", "70", "88", "89",
];

/// A province code known to the operator; anything else fails to deserialize.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct ProvinceCode(String);

impl ProvinceCode {
    pub fn parse(s: &str) -> Option<ProvinceCode> {
        PROVINCES.contains(&s).then(|| ProvinceCode(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProvinceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProvinceCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProvinceCode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown province code {s:?}")))
    }
}

impl utoipa::PartialSchema for ProvinceCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(PROVINCES.iter().copied()))
            .description(Some("the operator's 2-digit province code"))
            .into()
    }
}
impl utoipa::ToSchema for ProvinceCode {}

/// Whether a record may be used. Stored as `A` / `D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordStatus {
    Active,
    Disabled,
}

impl RecordStatus {
    pub fn db(self) -> &'static str {
        match self {
            RecordStatus::Active => "A",
            RecordStatus::Disabled => "D",
        }
    }
    pub fn from_db(s: &str) -> RecordStatus {
        if s == "A" {
            RecordStatus::Active
        } else {
            RecordStatus::Disabled
        }
    }
}

/// 渠道类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// 自有营业厅
    Hall,
    /// 社会渠道门店
    Shop,
    /// 电子渠道
    Ecommerce,
    /// 合作伙伴
    Partner,
    /// 代理商
    Agent,
}

impl ChannelType {
    pub fn db(self) -> &'static str {
        match self {
            ChannelType::Hall => "hall",
            ChannelType::Shop => "shop",
            ChannelType::Ecommerce => "ecommerce",
            ChannelType::Partner => "partner",
            ChannelType::Agent => "agent",
        }
    }
    pub fn from_db(s: &str) -> ChannelType {
        match s {
            "hall" => ChannelType::Hall,
            "ecommerce" => ChannelType::Ecommerce,
            "partner" => ChannelType::Partner,
            "agent" => ChannelType::Agent,
            _ => ChannelType::Shop,
        }
    }
}
