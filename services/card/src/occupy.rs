//! 成卡可用验证, 成卡占用 and its return, for staff and (signed) channels.
//! Occupation judges the card again under its row lock with the same
//! verdict the check gives, so a card is never occupied twice. The card
//! records who occupied it (a channel, or a staff member); only they
//! activate or return it, and each change is an UPDATE conditional on the
//! status (and, for those two, on the occupier).

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use super::availability::{self, Ask, Facts, Purpose, Reason, Verdict};
use super::history::{self, Entry};
use super::status::{CardStatus, CardType};
use super::store::{self, Card};
use super::transition::{self, Door};
use super::{depots, parse_iccid};
use crate::CardState;
use haoka_core::auth::actor::Actor;
use haoka_core::domain::msisdn::Msisdn;
use haoka_core::problem::ApiError;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OccupyRequest {
    pub purpose: Purpose,
    #[schema(pattern = "^1[0-9]{10}$")]
    pub phone_no: Option<String>,
    pub card_type: Option<CardType>,
    /// Activated at once (05 占用) or not yet (04 占用未激活).
    pub activated: bool,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardChange {
    pub iccid: String,
    pub from_status: CardStatus,
    pub status: CardStatus,
}

/// The province whose cards the caller may use; staff outside their scope
/// get a 403 (channels get the `wrong_province` verdict instead).
fn caller_province<'a>(actor: &'a Actor, card: &Card) -> Result<Option<&'a str>, ApiError> {
    match actor {
        Actor::Staff(p) => {
            p.scope.check(Some(&card.province_code))?;
            Ok(None)
        }
        Actor::Channel(c) => Ok(c.province.as_deref()),
    }
}

/// Whether `actor` occupied `card`: only they activate or return it. A card
/// occupied before occupiers were recorded (neither is set) is staff's.
fn is_occupier(actor: &Actor, card: &Card) -> bool {
    match (card.occupied_channel_id, card.occupied_staff_id, actor) {
        (Some(ch), _, Actor::Channel(c)) => ch == c.channel_id,
        (None, Some(st), Actor::Staff(p)) => st == p.staff_id,
        (None, None, Actor::Staff(_)) => true,
        _ => false,
    }
}

/// Moves `card` (as read under its row lock) to `to` with `occupier`
/// recorded (and the `extra` assignments), only if its status and occupier
/// are still what was read.
async fn move_card(
    tx: &mut mysql_async::Transaction<'_>,
    card: &Card,
    to: CardStatus,
    occupier: (Option<i64>, Option<i64>),
    extra: &str,
) -> Result<(), ApiError> {
    tx.exec_drop(
        format!(
            "UPDATE sim_card SET status = ?, occupied_channel_id = ?, occupied_staff_id = ?{extra}, \
             version = version + 1 WHERE province_code = ? AND card_id = ? AND status = ? \
             AND occupied_channel_id <=> ? AND occupied_staff_id <=> ?"
        ),
        (
            to.code(),
            occupier.0,
            occupier.1,
            card.province_code.as_str(),
            card.card_id,
            card.status.code(),
            card.occupied_channel_id,
            card.occupied_staff_id,
        ),
    )
    .await?;
    if tx.affected_rows() != 1 {
        return Err(ApiError::Conflict(
            "the card changed meanwhile; retry".into(),
        ));
    }
    Ok(())
}

fn check_phone(ask: &Ask) -> Result<(), ApiError> {
    if let Some(n) = &ask.phone_no {
        Msisdn::parse(n).map_err(|e| ApiError::Invalid(format!("phone_no: {e}")))?;
    }
    Ok(())
}

async fn depot_active<Q: Queryable>(c: &mut Q, depot_id: i64) -> Result<bool, ApiError> {
    Ok(depots::one(c, depot_id)
        .await?
        .is_some_and(|d| d.takes_cards))
}

/// 成卡可用验证.
pub async fn check(
    state: &CardState,
    actor: &Actor,
    raw: &str,
    ask: &Ask,
) -> Result<Verdict, ApiError> {
    let iccid = parse_iccid(raw)?;
    check_phone(ask)?;
    let mut c = state.db.conn().await?;
    let card = store::find(&mut c, iccid.as_str()).await?;
    let (caller, active) = match &card {
        Some(k) => (
            caller_province(actor, k)?,
            depot_active(&mut c, k.depot_id).await?,
        ),
        None => (None, false),
    };
    let facts = Facts {
        card: card.as_ref(),
        depot_active: active,
        caller_province: caller,
    };
    Ok(availability::judge(iccid.as_str(), &facts, ask))
}

fn refused(v: &Verdict) -> ApiError {
    ApiError::Refused {
        code: v.reason.code(),
        message: format!("the card cannot be occupied: {}", v.message),
    }
}

/// The card (found through the global index) or a 404.
async fn locate(state: &CardState, raw: &str) -> Result<Card, ApiError> {
    let iccid = parse_iccid(raw)?;
    let mut c = state.db.conn().await?;
    store::find(&mut c, iccid.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("card", iccid))
}

/// 成卡占用: a usable card becomes 04 (not activated) or 05; a 04 card
/// is activated to 05.
pub async fn occupy(
    state: &CardState,
    actor: &Actor,
    raw: &str,
    req: &OccupyRequest,
) -> Result<CardChange, ApiError> {
    let ask = Ask {
        purpose: req.purpose,
        phone_no: req.phone_no.clone(),
        card_type: req.card_type,
    };
    check_phone(&ask)?;
    let found = locate(state, raw).await?;
    let caller = caller_province(actor, &found)?;
    let province = found.province_code.clone();
    let mut tx = state.db.begin().await?;
    let card = store::lock_one(&mut tx, &found).await?;
    let to = if req.activated {
        CardStatus::Occupied
    } else {
        CardStatus::OccupiedInactive
    };
    if card.status != CardStatus::OccupiedInactive || !req.activated {
        let facts = Facts {
            card: Some(&card),
            depot_active: depot_active(&mut tx, card.depot_id).await?,
            caller_province: caller,
        };
        let v = availability::judge(&card.iccid, &facts, &ask);
        if v.reason != Reason::Usable {
            tx.rollback().await?;
            return Err(refused(&v));
        }
    } else if caller.is_some_and(|p| p != card.province_code) {
        tx.rollback().await?;
        return Err(ApiError::Refused {
            code: Reason::WrongProvince.code(),
            message: format!("the card belongs to province {}", card.province_code),
        });
    } else if !is_occupier(actor, &card) {
        // For anyone but its occupier the card is simply not in stock.
        tx.rollback().await?;
        return Err(ApiError::Refused {
            code: Reason::NotInStock.code(),
            message: "the card cannot be occupied: another channel or staff member occupied it"
                .into(),
        });
    }
    let t =
        transition::allowed(card.status, to, Door::Occupy).ok_or_else(|| ApiError::Refused {
            code: "transition_refused",
            message: transition::refusal(card.status, to, Door::Occupy).unwrap_or_default(),
        })?;
    // Activation keeps the occupier; an occupation records the caller.
    let occupier = if card.status == CardStatus::OccupiedInactive {
        (card.occupied_channel_id, card.occupied_staff_id)
    } else {
        (actor.channel_id(), actor.staff_id())
    };
    if let Err(e) = move_card(&mut tx, &card, to, occupier, "").await {
        tx.rollback().await?;
        return Err(e);
    }
    let detail = format!(
        "{}{}",
        match req.purpose {
            Purpose::NewAccount => "new account",
            Purpose::Replacement => "replacement",
        },
        req.phone_no
            .as_deref()
            .map(|n| format!(", number {n}"))
            .unwrap_or_default()
    );
    history::write(
        &mut tx,
        &[Entry {
            card_id: card.card_id,
            iccid: card.iccid.clone(),
            province: province.clone(),
            from: Some(card.status),
            to,
            from_depot: Some(card.depot_id),
            to_depot: Some(card.depot_id),
            action: t.action,
            staff_id: actor.staff_id(),
            channel_id: actor.channel_id(),
            detail: Some(detail),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(CardChange {
        iccid: card.iccid,
        from_status: card.status,
        status: to,
    })
}

/// Return of an occupied card: not activated → back in stock; activated →
/// frozen. Either way it is no longer paired.
pub async fn give_back(
    state: &CardState,
    actor: &Actor,
    raw: &str,
    req: &ReturnRequest,
) -> Result<CardChange, ApiError> {
    if let Some(r) = &req.reason {
        haoka_core::validate::text("reason", r, 0, 256)?;
    }
    let found = locate(state, raw).await?;
    let caller = caller_province(actor, &found)?;
    if caller.is_some_and(|p| p != found.province_code) {
        return Err(ApiError::not_found("card", &found.iccid));
    }
    let province = found.province_code.clone();
    let mut tx = state.db.begin().await?;
    let card = store::lock_one(&mut tx, &found).await?;
    let to = match card.status {
        CardStatus::OccupiedInactive => CardStatus::InStock,
        CardStatus::Occupied => CardStatus::Frozen,
        other => {
            tx.rollback().await?;
            return Err(ApiError::Refused {
                code: "card_not_occupied",
                message: format!(
                    "a card in status {other} is not occupied, so it cannot be returned"
                ),
            });
        }
    };
    if !is_occupier(actor, &card) {
        tx.rollback().await?;
        return Err(ApiError::Refused {
            code: "not_the_occupier",
            message: "another channel or staff member occupied the card: only they may return it"
                .into(),
        });
    }
    let t = transition::allowed(card.status, to, Door::Occupy)
        .ok_or_else(|| ApiError::Internal("transition table lacks a return".into()))?;
    if let Err(e) = move_card(&mut tx, &card, to, (None, None), ", paired_phone_no = NULL").await {
        tx.rollback().await?;
        return Err(e);
    }
    history::write(
        &mut tx,
        &[Entry {
            card_id: card.card_id,
            iccid: card.iccid.clone(),
            province,
            from: Some(card.status),
            to,
            from_depot: Some(card.depot_id),
            to_depot: Some(card.depot_id),
            action: t.action,
            staff_id: actor.staff_id(),
            channel_id: actor.channel_id(),
            detail: req.reason.clone(),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(CardChange {
        iccid: card.iccid,
        from_status: card.status,
        status: to,
    })
}
