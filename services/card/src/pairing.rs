//! 预配号卡 and 套包: a number and a card of the same province change
//! together in ONE local transaction on that province's shard — the number
//! row (number center's table and history) and the card row (card history)
//! — or not at all. Pairing across provinces is refused.

use axum::extract::State;
use mysql_async::prelude::Queryable;
use mysql_async::Transaction;
use serde::{Deserialize, Serialize};

use super::history::{self, Entry};
use super::status::CardStatus;
use super::store::{self, Card};
use super::transition::{self as card_tx, Action, Door};
use super::{get_card, packages};
use crate::CardState;
use haoka_core::auth::rbac::Principal;
use haoka_core::problem::{ApiError, Json};
use haoka_number::events::{self, StatusChanged, STATUS_CHANGED};
use haoka_number::history as number_history;
use haoka_number::status::NumberStatus;
use haoka_number::transition::{self as number_tx, Door as NumberDoor};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    #[schema(pattern = "^1[0-9]{10}$")]
    pub phone_no: String,
    #[schema(value_type = super::iccid::Iccid)]
    pub iccid: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardRequest {
    #[schema(value_type = super::iccid::Iccid)]
    pub iccid: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleRequest {
    #[schema(pattern = "^1[0-9]{10}$")]
    pub phone_no: String,
    #[schema(value_type = super::iccid::Iccid)]
    pub iccid: String,
    pub package_id: i64,
}

/// Both sides after the change.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PairView {
    pub phone_no: String,
    pub iccid: String,
    pub province_code: String,
    pub number_status: NumberStatus,
    pub card_status: CardStatus,
    pub package_id: Option<i64>,
}

/// The number's side, row-locked.
struct NumberRow {
    phone_no: String,
    province: String,
    status: NumberStatus,
    paired_iccid: Option<String>,
}

async fn lock_number<Q: Queryable>(
    c: &mut Q,
    province: &str,
    phone_no: &str,
) -> Result<NumberRow, ApiError> {
    let row: Option<(String, Option<String>)> = c
        .exec_first(
            "SELECT status, paired_iccid FROM phone_number WHERE province_code = ? AND phone_no = ? \
             FOR UPDATE",
            (province, phone_no),
        )
        .await?;
    let (st, paired_iccid) = row.ok_or_else(|| ApiError::not_found("number", phone_no))?;
    let status = NumberStatus::from_code(&st)
        .ok_or_else(|| ApiError::Internal(format!("number {phone_no} has status {st:?}")))?;
    Ok(NumberRow {
        phone_no: phone_no.to_string(),
        province: province.to_string(),
        status,
        paired_iccid,
    })
}

fn refused(code: &'static str, message: String) -> ApiError {
    ApiError::Refused { code, message }
}

/// One change of the number's side: guarded UPDATE, history row and event.
struct NumberChange<'a> {
    to: NumberStatus,
    paired_iccid: Option<&'a str>,
    detail: String,
}

async fn change_number(
    tx: &mut Transaction<'_>,
    n: &mut NumberRow,
    ch: NumberChange<'_>,
    staff_id: i64,
) -> Result<(), ApiError> {
    let t = number_tx::allowed(n.status, ch.to, NumberDoor::Card).ok_or_else(|| {
        refused(
            "number_not_pairable",
            format!(
                "number {} is {}: {} -> {} is not a pairing change",
                n.phone_no, n.status, n.status, ch.to
            ),
        )
    })?;
    tx.exec_drop(
        "UPDATE phone_number SET status = ?, paired_iccid = ?, version = version + 1 \
         WHERE province_code = ? AND phone_no = ? AND status = ?",
        (
            ch.to.code(),
            ch.paired_iccid,
            n.province.as_str(),
            n.phone_no.as_str(),
            n.status.code(),
        ),
    )
    .await?;
    if tx.affected_rows() != 1 {
        return Err(ApiError::Conflict(
            "the number changed meanwhile; retry".into(),
        ));
    }
    number_history::write(
        tx,
        &[number_history::Entry {
            phone_no: n.phone_no.clone(),
            province: n.province.clone(),
            from: Some(n.status),
            to: ch.to,
            action: t.action,
            hold_key: None,
            channel_id: None,
            staff_id: Some(staff_id),
            detail: Some(ch.detail.clone()),
        }],
    )
    .await?;
    events::write(
        tx,
        &n.province,
        STATUS_CHANGED,
        &StatusChanged {
            phone_no: n.phone_no.clone(),
            province_code: n.province.clone(),
            from: n.status,
            to: ch.to,
            action: t.action.name().to_string(),
            staff_id: Some(staff_id),
            reason: Some(ch.detail),
        },
    )
    .await?;
    n.status = ch.to;
    n.paired_iccid = ch.paired_iccid.map(str::to_string);
    Ok(())
}

/// One change of the card's side: guarded UPDATE of status, pairing and
/// package, and the history row.
async fn change_card(
    tx: &mut Transaction<'_>,
    card: &mut Card,
    to: CardStatus,
    action: Action,
    paired: Option<&str>,
    package: Option<i64>,
    staff_id: i64,
) -> Result<(), ApiError> {
    // Pair / unpair move the card through the table; (un)packaging keeps a
    // paired card paired (checked by the caller).
    if !matches!(action, Action::Package | Action::Unpackage) {
        if let Some(why) = card_tx::refusal(card.status, to, Door::Pairing) {
            return Err(refused("card_not_pairable", why));
        }
    }
    tx.exec_drop(
        "UPDATE sim_card SET status = ?, paired_phone_no = ?, package_id = ?, version = version + 1 \
         WHERE province_code = ? AND card_id = ? AND status = ?",
        (
            to.code(),
            paired,
            package,
            card.province_code.as_str(),
            card.card_id,
            card.status.code(),
        ),
    )
    .await?;
    if tx.affected_rows() != 1 {
        return Err(ApiError::Conflict(
            "the card changed meanwhile; retry".into(),
        ));
    }
    history::write(
        tx,
        &[Entry {
            card_id: card.card_id,
            iccid: card.iccid.clone(),
            province: card.province_code.clone(),
            from: Some(card.status),
            to,
            from_depot: Some(card.depot_id),
            to_depot: Some(card.depot_id),
            action,
            staff_id: Some(staff_id),
            channel_id: None,
            detail: Some(match (paired, package) {
                (Some(n), Some(p)) => format!("number {n}, package {p}"),
                (Some(n), None) => format!("number {n}"),
                (None, _) => format!(
                    "was number {}",
                    card.paired_phone_no.as_deref().unwrap_or("-")
                ),
            }),
        }],
    )
    .await?;
    card.status = to;
    card.paired_phone_no = paired.map(str::to_string);
    card.package_id = package;
    Ok(())
}

/// Both rows of a pairing request, locked in one transaction on their
/// province's shard (cross-province pairs are refused before).
async fn begin_pair(
    state: &CardState,
    p: &Principal,
    phone_no: &str,
    iccid: &str,
) -> Result<(Transaction<'static>, NumberRow, Card), ApiError> {
    let located = haoka_number::locate(&state.number, phone_no).await?;
    p.scope.check(Some(&located.area.province))?;
    let card = get_card(state, &p.scope, iccid).await?;
    if card.province_code != located.area.province {
        return Err(refused(
            "cross_province",
            format!(
                "number {} is of province {}, card {} of province {}: a number is paired only \
                 with a card of its own province",
                located.no, located.area.province, card.iccid, card.province_code
            ),
        ));
    }
    let mut tx = state.db.begin().await?;
    let number = lock_number(&mut tx, &located.area.province, located.no.as_str()).await?;
    let card = store::lock_one(&mut tx, &card).await?;
    Ok((tx, number, card))
}

/// Pairs a number in 05 待预配 with an in-stock card (both rows in `tx`).
async fn pair_rows(
    tx: &mut Transaction<'_>,
    number: &mut NumberRow,
    card: &mut Card,
    staff_id: i64,
) -> Result<(), ApiError> {
    let package = card.package_id;
    let phone = number.phone_no.clone();
    change_card(
        tx,
        card,
        CardStatus::Paired,
        Action::Pair,
        Some(&phone),
        package,
        staff_id,
    )
    .await?;
    let iccid = card.iccid.clone();
    change_number(
        tx,
        number,
        NumberChange {
            to: NumberStatus::Paired,
            paired_iccid: Some(&iccid),
            detail: format!("card {iccid}"),
        },
        staff_id,
    )
    .await
}

fn view(number: &NumberRow, card: &Card) -> PairView {
    PairView {
        phone_no: number.phone_no.clone(),
        iccid: card.iccid.clone(),
        province_code: card.province_code.clone(),
        number_status: number.status,
        card_status: card.status,
        package_id: card.package_id,
    }
}

/// The number paired with this card, checked from both sides.
fn check_paired_together(number: &NumberRow, card: &Card) -> Result<(), ApiError> {
    let together = card.status == CardStatus::Paired
        && card.paired_phone_no.as_deref() == Some(number.phone_no.as_str())
        && number.paired_iccid.as_deref() == Some(card.iccid.as_str())
        && matches!(
            number.status,
            NumberStatus::Paired | NumberStatus::PairedPackage
        );
    if together {
        Ok(())
    } else {
        Err(refused(
            "not_paired_together",
            format!(
                "number {} ({}) and card {} ({}) are not paired with each other",
                number.phone_no, number.status, card.iccid, card.status
            ),
        ))
    }
}

/// 预配号卡: number 05 → 06, card 01 → 03, in one local transaction.
#[utoipa::path(post, operation_id = "card_pair", path = "/api/v1/cards/pairings", tag = "cards", request_body = PairRequest,
    security(("bearer" = [])), responses((status = 200, body = PairView)))]
pub async fn pair(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<PairRequest>,
) -> Result<Json<PairView>, ApiError> {
    let (mut tx, mut number, mut card) = begin_pair(&state, &p, &req.phone_no, &req.iccid).await?;
    pair_rows(&mut tx, &mut number, &mut card, p.staff_id).await?;
    state.outbox.commit(tx).await?; // with its number.status_changed event
    Ok(Json(view(&number, &card)))
}

/// The card's partner number (it must be paired).
async fn begin_partner(
    state: &CardState,
    p: &Principal,
    iccid: &str,
) -> Result<(Transaction<'static>, NumberRow, Card), ApiError> {
    let card = get_card(state, &p.scope, iccid).await?;
    let phone = match (card.status, &card.paired_phone_no) {
        (CardStatus::Paired, Some(n)) => n.clone(),
        _ => {
            return Err(refused(
                "card_not_paired",
                format!(
                    "card {} is {}, not paired with a number",
                    card.iccid, card.status
                ),
            ))
        }
    };
    begin_pair(state, p, &phone, &card.iccid).await
}

/// Unpairing: number 06 → 01, card 03 → 01 (a 套包 must be undone first).
#[utoipa::path(post, operation_id = "card_unpair", path = "/api/v1/cards/pairings/unpair", tag = "cards", request_body = CardRequest,
    security(("bearer" = [])), responses((status = 200, body = PairView)))]
pub async fn unpair(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<CardRequest>,
) -> Result<Json<PairView>, ApiError> {
    let (mut tx, mut number, mut card) = begin_partner(&state, &p, &req.iccid).await?;
    check_paired_together(&number, &card)?;
    if number.status == NumberStatus::PairedPackage {
        return Err(refused(
            "bundled",
            format!("number {} is in a 套包: unbundle it first", number.phone_no),
        ));
    }
    let package = card.package_id;
    change_card(
        &mut tx,
        &mut card,
        CardStatus::InStock,
        Action::Unpair,
        None,
        package,
        p.staff_id,
    )
    .await?;
    let detail = format!("card {}", card.iccid);
    change_number(
        &mut tx,
        &mut number,
        NumberChange {
            to: NumberStatus::Idle,
            paired_iccid: None,
            detail,
        },
        p.staff_id,
    )
    .await?;
    state.outbox.commit(tx).await?; // with its number.status_changed event
    Ok(Json(view(&number, &card)))
}

/// Puts a paired pair into a package (number 06 → 07) or takes it out
/// (07 → 06); the card stays 03 and carries the package or not.
async fn set_package(
    tx: &mut Transaction<'_>,
    number: &mut NumberRow,
    card: &mut Card,
    pkg: Option<&packages::Package>,
    staff_id: i64,
) -> Result<(), ApiError> {
    let phone = number.phone_no.clone();
    let (action, to) = match pkg {
        Some(_) => (Action::Package, NumberStatus::PairedPackage),
        None => (Action::Unpackage, NumberStatus::Paired),
    };
    let package_id = pkg.map(|p| p.package_id);
    change_card(
        tx,
        card,
        CardStatus::Paired,
        action,
        Some(&phone),
        package_id,
        staff_id,
    )
    .await?;
    let iccid = card.iccid.clone();
    let detail = match pkg {
        Some(p) => format!("card {iccid}, package {} {}", p.package_id, p.code),
        None => format!("card {iccid}"),
    };
    change_number(
        tx,
        number,
        NumberChange {
            to,
            paired_iccid: Some(&iccid),
            detail,
        },
        staff_id,
    )
    .await
}

/// 套包: number + card + package → number 07 预配套包, the card (03) carries
/// the package. A number still 05 is paired with the card on the way.
#[utoipa::path(post, operation_id = "card_bundle", path = "/api/v1/cards/bundles", tag = "cards", request_body = BundleRequest,
    security(("bearer" = [])), responses((status = 200, body = PairView)))]
pub async fn bundle(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<BundleRequest>,
) -> Result<Json<PairView>, ApiError> {
    let mut c = state.db.conn().await?;
    let pkg = packages::one(&mut c, req.package_id).await?;
    drop(c);
    let (mut tx, mut number, mut card) = begin_pair(&state, &p, &req.phone_no, &req.iccid).await?;
    if !pkg.covers(&card.province_code) {
        return Err(refused(
            "wrong_package_province",
            format!(
                "package {} is a package of another province",
                pkg.package_id
            ),
        ));
    }
    if card.package_id.is_some_and(|p| p != pkg.package_id) {
        return Err(refused(
            "card_in_other_package",
            format!(
                "card {} already carries package {}",
                card.iccid,
                card.package_id.unwrap_or_default()
            ),
        ));
    }
    if number.status == NumberStatus::AwaitingPairing {
        pair_rows(&mut tx, &mut number, &mut card, p.staff_id).await?;
    }
    check_paired_together(&number, &card)?;
    set_package(&mut tx, &mut number, &mut card, Some(&pkg), p.staff_id).await?;
    state.outbox.commit(tx).await?; // with its number.status_changed event
    Ok(Json(view(&number, &card)))
}

/// Undoes a 套包: number 07 → 06, the card drops the package (stays paired).
#[utoipa::path(post, operation_id = "card_unbundle", path = "/api/v1/cards/bundles/unbundle", tag = "cards", request_body = CardRequest,
    security(("bearer" = [])), responses((status = 200, body = PairView)))]
pub async fn unbundle(
    State(state): State<CardState>,
    p: Principal,
    Json(req): Json<CardRequest>,
) -> Result<Json<PairView>, ApiError> {
    let (mut tx, mut number, mut card) = begin_partner(&state, &p, &req.iccid).await?;
    check_paired_together(&number, &card)?;
    if number.status != NumberStatus::PairedPackage {
        return Err(refused(
            "not_bundled",
            format!(
                "number {} is {}, not in a 套包",
                number.phone_no, number.status
            ),
        ));
    }
    set_package(&mut tx, &mut number, &mut card, None, p.staff_id).await?;
    state.outbox.commit(tx).await?; // with its number.status_changed event
    Ok(Json(view(&number, &card)))
}
