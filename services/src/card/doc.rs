//! OpenAPI pieces of the card center the derives cannot say: the code enums
//! (spoken as codes, not as the Rust names), the ICCID and
//! ICCID lists.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::status::CardStatus;
use super::transfer::TransferStatus;

/// What `Iccid::parse` accepts as to form (the prefix and the Luhn digit
/// are checked by the server).
pub const ICCID_PATTERN: &str = "^[0-9]{19,20}$";

pub fn iccid() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ICCID_PATTERN))
        .description(Some(
            "a 19- or 20-digit ICCID (prefix 898601, 898606 or 898609, Luhn check digit)",
        ))
}

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
