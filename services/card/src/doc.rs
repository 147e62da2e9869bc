//! OpenAPI pieces of the card center the derives cannot say: the code enums
//! (spoken as codes, not as the Rust names), the ICCID and
//! ICCID lists.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::iccid::Iccid;
use super::intake::NewCard;
use super::status::{CardStatus, CardType};
use super::transfer::api::TransferRequest;
use super::transfer::TransferStatus;

/// What `Iccid::parse` accepts, but for the Luhn check digit (which the
/// custom format `iccid` names; tests/schemathesis_hooks.py generates it).
pub const ICCID_PATTERN: &str = "^898(601|606|609)[0-9]{13,14}$";

pub fn iccid() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ICCID_PATTERN))
        .format(Some(SchemaFormat::Custom("iccid".into())))
        .description(Some(
            "a 19- or 20-digit ICCID: prefix 898601, 898606 or 898609, ending in a Luhn check digit",
        ))
}

/// What `Imsi::parse` accepts.
pub fn imsi() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^460(01|06|09)[0-9]{10}$"))
        .description(Some("a 15-digit IMSI of MCC 460 and MNC 01, 06 or 09"))
}

fn nullable(o: ObjectBuilder, t: Type) -> ObjectBuilder {
    o.schema_type(utoipa::openapi::schema::SchemaType::from_iter([
        t,
        Type::Null,
    ]))
}

fn id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
}

impl PartialSchema for Iccid {
    fn schema() -> RefOr<Schema> {
        iccid().into()
    }
}
impl ToSchema for Iccid {}

impl PartialSchema for NewCard {
    /// A 成卡 (made) names its IMSI; a 白卡 (blank) may.
    fn schema() -> RefOr<Schema> {
        let card = |kind: CardType, imsi_required: bool| {
            let o = ObjectBuilder::new()
                .property("iccid", iccid())
                .required("iccid")
                .property(
                    "card_type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([serde_json::to_value(kind).unwrap_or_default()])),
                )
                .required("card_type")
                .property("depot_id", nullable(id(), Type::Integer))
                .property("package_id", nullable(id(), Type::Integer))
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            if imsi_required {
                o.property("imsi", imsi()).required("imsi")
            } else {
                o.property("imsi", nullable(imsi(), Type::String))
            }
        };
        OneOfBuilder::new()
            .item(card(CardType::Made, true))
            .item(card(CardType::Blank, false))
            .description(Some(
                "a card to take in (depot and package default to the request's)",
            ))
            .into()
    }
}
impl ToSchema for NewCard {}

impl PartialSchema for TransferRequest {
    /// The cards by ICCID, or a count of in-stock cards.
    fn schema() -> RefOr<Schema> {
        let max = super::config::CardConfig::default().max_per_request as i64;
        let common = |o: ObjectBuilder| {
            o.property("from_depot_id", id())
                .required("from_depot_id")
                .property("to_depot_id", id())
                .required("to_depot_id")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        let by_list = common(
            ObjectBuilder::new()
                .property("iccids", iccids())
                .required("iccids")
                .property("count", ObjectBuilder::new().schema_type(Type::Null)),
        );
        let by_count = common(
            ObjectBuilder::new()
                .property(
                    "count",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(max)),
                )
                .required("count")
                .property("iccids", ObjectBuilder::new().schema_type(Type::Null)),
        );
        OneOfBuilder::new()
            .item(by_list)
            .item(by_count)
            .description(Some(
                "the cards by ICCID, or any `count` in-stock cards of the source depot (two different depots)",
            ))
            .into()
    }
}
impl ToSchema for TransferRequest {}

/// The `iccids` list of the batch endpoints.
pub fn iccids() -> ArrayBuilder {
    let max = super::config::CardConfig::default().max_per_request;
    ArrayBuilder::new()
        .items(iccid())
        .min_items(Some(1))
        .max_items(Some(max))
        .unique_items(true)
}

impl PartialSchema for CardStatus {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(CardStatus::ALL.iter().map(|s| s.code())))
            .description(Some(
                "卡状态: 01 在库, 02 调拨在途, 03 预配, 04 占用未激活, 05 占用, 06 冻结, 07 报废, 08 遗失",
            ))
            .into()
    }
}
impl ToSchema for CardStatus {}

impl PartialSchema for TransferStatus {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(TransferStatus::ALL.iter().map(|s| s.name())))
            .description(Some(
                "in_transit: the target has not answered; done: in the target depot; refused: back in the source depot",
            ))
            .into()
    }
}
impl ToSchema for TransferStatus {}
