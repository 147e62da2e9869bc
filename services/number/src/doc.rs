//! OpenAPI pieces of the number center that the derives cannot say: the
//! 2-/4-digit code enums, phone-number lists, and the
//! request bodies whose fields depend on each other (as `oneOf`).

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::hold::HoldRequest;
use super::intake::{IntakeRequest, NumberRange};
use super::premium::PatternClass;
use super::rules::NewRule;
use super::status::{NumberStatus, ResultCode};
use super::waiver::WaiverRequest;

/// What `Msisdn::parse` accepts.
pub const PHONE_PATTERN: &str = "^1[0-9]{10}$";

/// Most numbers one status / depot / pool / reclassify call names.
pub const MAX_NUMBERS: usize = super::change::MAX_PER_REQUEST;

pub fn phone_no() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(PHONE_PATTERN))
        .description(Some("an 11-digit phone number starting with 1"))
}

/// 1 to `max` distinct phone numbers.
pub fn phone_list(max: usize) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(phone_no())
        .min_items(Some(1))
        .max_items(Some(max))
        .unique_items(true)
}

/// The `numbers` list of the batch endpoints.
pub fn numbers() -> ArrayBuilder {
    phone_list(MAX_NUMBERS)
}

fn nullable(t: Type) -> SchemaType {
    SchemaType::from_iter([t, Type::Null])
}

fn null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// An integer within `min..=max`.
fn int(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
}

impl PartialSchema for NumberStatus {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(NumberStatus::ALL.iter().map(|s| s.code())))
            .description(Some(
                "号码状态: 01 空闲, 02 预留, 03 上架, 04 选占, 05 待预配, 06 预配, 07 预配套包, \
                 08 预占, 09 占用未激活, 10 占用, 11 冷冻, 12 携入, 13 携出, 14 待审批",
            ))
            .into()
    }
}
impl ToSchema for NumberStatus {}

impl PartialSchema for ResultCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ResultCode::ALL.iter().map(|c| c.code())))
            .description(Some(
                "result code: 0000 ok, 0001 already taken, 0002 no such resource, 0003 not for \
                 sale, 0004 state not usable, 0005 wrong owning channel, 0006 free so cannot be \
                 released, 0007 sold so cannot be released",
            ))
            .into()
    }
}
impl ToSchema for ResultCode {}

fn hold_key() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(haoka_core::validate::CODE_PATTERN))
}

/// Seconds a hold lasts; the staff limit is the server default
/// (`number.hold_max_seconds`), a channel's is its `hold_minutes`.
pub fn hold_seconds() -> ObjectBuilder {
    let max = super::config::NumberConfig::default().hold_max_seconds as i64;
    int(1, max).schema_type(nullable(Type::Integer))
}

impl PartialSchema for HoldRequest {
    /// A random key needs no `key` (one given is used); a customer or order
    /// id key must name it.
    fn schema() -> RefOr<Schema> {
        let random = ObjectBuilder::new()
            .property(
                "key_kind",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    // null (or no key_kind) means random, like "random".
                    .enum_values(Some([
                        serde_json::Value::from("random"),
                        serde_json::Value::Null,
                    ])),
            )
            .property("key", hold_key().schema_type(nullable(Type::String)))
            .property("hold_seconds", hold_seconds())
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let named = ObjectBuilder::new()
            .property(
                "key_kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["customer_id", "order_id"])),
            )
            .required("key_kind")
            .property("key", hold_key())
            .required("key")
            .property("hold_seconds", hold_seconds())
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .item(random)
            .item(named)
            .description(Some("a hold: the key kind and key, and how long it lasts"))
            .into()
    }
}
impl ToSchema for HoldRequest {}

impl PartialSchema for IntakeRequest {
    /// Either a list or a range of numbers.
    fn schema() -> RefOr<Schema> {
        let common = |o: ObjectBuilder| {
            o.property("depot_id", i64::schema())
                .required("depot_id")
                .property(
                    "pool_id",
                    ObjectBuilder::new().schema_type(nullable(Type::Integer)),
                )
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        let max = super::config::NumberConfig::default().max_intake;
        let list = common(
            ObjectBuilder::new()
                .property("numbers", phone_list(max))
                .required("numbers")
                .property("range", null()),
        );
        let range = common(
            ObjectBuilder::new()
                .property("range", NumberRange::schema())
                .required("range")
                .property("numbers", null()),
        );
        OneOfBuilder::new()
            .item(list)
            .item(range)
            .description(Some(
                "numbers by list, or by range (from and a count of consecutive numbers)",
            ))
            .into()
    }
}
impl ToSchema for IntakeRequest {}

impl PartialSchema for NewRule {
    /// A TAIL rule names its tail digits; the other classes take no pattern.
    fn schema() -> RefOr<Schema> {
        let common = |o: ObjectBuilder| {
            o.property("level", int(1, 6))
                .required("level")
                .property("priority", int(i32::MIN.into(), i32::MAX.into()))
                .required("priority")
                .property(
                    "province",
                    ObjectBuilder::new()
                        .schema_type(nullable(Type::String))
                        .enum_values(Some(haoka_core::domain::PROVINCES.iter().copied()))
                        .description(Some("absent: a national rule")),
                )
                .property("enabled", bool::schema())
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        let classes = |tail: bool| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(
                    PatternClass::ALL
                        .iter()
                        .filter(move |c| (**c == PatternClass::Tail) == tail)
                        .map(|c| c.code()),
                ))
        };
        let tail = common(
            ObjectBuilder::new()
                .property("class", classes(true))
                .required("class")
                .property(
                    "pattern",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("^[0-9]{1,8}$")),
                )
                .required("pattern"),
        );
        let other = common(
            ObjectBuilder::new()
                .property("class", classes(false))
                .required("class")
                .property(
                    "pattern",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([""])),
                ),
        );
        OneOfBuilder::new().item(tail).item(other).into()
    }
}
impl ToSchema for NewRule {}

impl PartialSchema for WaiverRequest {
    /// At least one of the two amounts is 1 cent or more.
    fn schema() -> RefOr<Schema> {
        let waiving = |positive: &str, other: &str| {
            ObjectBuilder::new()
                .property(positive, int(1, i64::MAX))
                .required(positive)
                .property(other, int(0, i64::MAX))
                .property(
                    "reason",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(256))
                        .pattern(Some(r"^[^\x00-\x1F\x7F-\x9F]+$")),
                )
                .required("reason")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        AnyOfBuilder::new()
            .item(waiving("deposit_waived_cents", "monthly_waived_cents"))
            .item(waiving("monthly_waived_cents", "deposit_waived_cents"))
            .description(Some(
                "cents of the level's pre-deposit and minimum monthly spend to waive (not both 0)",
            ))
            .into()
    }
}
impl ToSchema for WaiverRequest {}
