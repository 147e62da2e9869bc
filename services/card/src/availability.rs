//! 成卡可用验证: whether a card may be used for a new account or a
//! replacement by this caller — a pure verdict over the card row, its depot
//! and the caller's province, so the check endpoint and 成卡占用 (which
//! judges again under the row lock) can never disagree.

use serde::{Deserialize, Serialize};

use super::status::{CardStatus, CardType};
use super::store::Card;

/// What the card is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// 新开户: a new subscriber (a card paired to the same number is fine).
    NewAccount,
    /// 补换卡: a replacement for an existing subscriber's card.
    Replacement,
}

/// The reason behind a verdict; `Usable` is the only good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Usable,
    NoSuchCard,
    /// The card belongs to another province than the caller's.
    WrongProvince,
    InTransit,
    /// Occupied, frozen, scrapped or lost.
    NotInStock,
    /// Paired (预配) to another number, or to a number when none was named.
    PairedToAnotherNumber,
    /// A 套包 card: only for a new account.
    Bundled,
    WrongCardType,
    /// Its depot is disabled.
    DepotUnusable,
}

impl Reason {
    /// The stable code (also the problem code when 成卡占用 refuses).
    pub fn code(self) -> &'static str {
        use Reason::*;
        match self {
            Usable => "usable",
            NoSuchCard => "no_such_card",
            WrongProvince => "wrong_province",
            InTransit => "in_transit",
            NotInStock => "not_in_stock",
            PairedToAnotherNumber => "paired_to_another_number",
            Bundled => "bundled",
            WrongCardType => "wrong_card_type",
            DepotUnusable => "depot_unusable",
        }
    }
}

/// What the caller asks about a card.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    pub purpose: Purpose,
    /// The number the card is for (needed for a card paired to a number).
    #[param(pattern = "^1[0-9]{10}$")]
    pub phone_no: Option<String>,
    /// The card type the caller can use, if it matters.
    pub card_type: Option<CardType>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verdict {
    pub iccid: String,
    pub usable: bool,
    pub reason: Reason,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CardStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_type: Option<CardType>,
}

/// The card and the facts around it the verdict depends on.
pub struct Facts<'a> {
    pub card: Option<&'a Card>,
    pub depot_active: bool,
    /// None: the caller may use cards of every province.
    pub caller_province: Option<&'a str>,
}

fn verdict(iccid: &str, card: Option<&Card>, reason: Reason, message: String) -> Verdict {
    Verdict {
        iccid: iccid.to_string(),
        usable: reason == Reason::Usable,
        reason,
        message,
        status: card.map(|c| c.status),
        card_type: card.map(|c| c.card_type),
    }
}

pub fn judge(iccid: &str, facts: &Facts<'_>, ask: &Ask) -> Verdict {
    use Reason::*;
    let Some(card) = facts.card else {
        return verdict(
            iccid,
            None,
            NoSuchCard,
            format!("card {iccid} does not exist"),
        );
    };
    let v = |reason: Reason, message: String| verdict(iccid, Some(card), reason, message);
    if facts
        .caller_province
        .is_some_and(|p| p != card.province_code)
    {
        // Nothing about another province's card beyond that it is theirs:
        // not its status, not its type.
        return verdict(
            iccid,
            None,
            WrongProvince,
            format!("the card belongs to province {}", card.province_code),
        );
    }
    match card.status {
        CardStatus::InStock => {}
        CardStatus::InTransit => {
            return v(InTransit, "the card is in transit between depots".into())
        }
        CardStatus::Paired => {
            let paired = card.paired_phone_no.as_deref().unwrap_or("");
            let same = ask.phone_no.as_deref() == Some(paired);
            if ask.purpose == Purpose::Replacement || !same {
                return v(
                    PairedToAnotherNumber,
                    format!("the card is paired (预配) to number {paired}"),
                );
            }
        }
        other => {
            return v(
                NotInStock,
                format!("a card in status {other} cannot be used"),
            )
        }
    }
    if ask.purpose == Purpose::Replacement && card.package_id.is_some() {
        return v(
            Bundled,
            "a 套包 card is only for a new account, not a replacement".into(),
        );
    }
    if let Some(want) = ask.card_type {
        if want != card.card_type {
            return v(
                WrongCardType,
                format!(
                    "the card is a {}, not a {}",
                    card.card_type.title(),
                    want.title()
                ),
            );
        }
    }
    if !facts.depot_active {
        return v(
            DepotUnusable,
            format!("depot {} is disabled", card.depot_id),
        );
    }
    v(Usable, "the card can be used".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(status: CardStatus) -> Card {
        Card {
            card_id: 1,
            iccid: "8986011788201100228".into(),
            imsi: Some("460011234567890".into()),
            province_code: "51".into(),
            city_code: "510".into(),
            depot_id: 7,
            card_type: CardType::Made,
            status,
            package_id: None,
            paired_phone_no: None,
            transfer_id: None,
            version: 0,
            updated_at: Default::default(),
            occupied_channel_id: None,
            occupied_staff_id: None,
        }
    }

    fn ask(purpose: Purpose, phone: Option<&str>) -> Ask {
        Ask {
            purpose,
            phone_no: phone.map(str::to_string),
            card_type: None,
        }
    }

    fn reason(c: Option<&Card>, province: Option<&str>, a: &Ask) -> Reason {
        let f = Facts {
            card: c,
            depot_active: true,
            caller_province: province,
        };
        judge("8986011788201100228", &f, a).reason
    }

    #[test]
    fn verdicts() {
        use Reason::*;
        let new = ask(Purpose::NewAccount, None);
        let repl = ask(Purpose::Replacement, None);
        let c = card(CardStatus::InStock);
        assert_eq!(reason(None, None, &new), NoSuchCard);
        assert_eq!(reason(Some(&c), Some("51"), &new), Usable);
        assert_eq!(reason(Some(&c), None, &repl), Usable);
        assert_eq!(reason(Some(&c), Some("11"), &new), WrongProvince);
        let elsewhere = Facts {
            card: Some(&c),
            depot_active: true,
            caller_province: Some("11"),
        };
        let v = judge(&c.iccid, &elsewhere, &new);
        assert_eq!(
            (v.status, v.card_type),
            (None, None),
            "no status of another province's card"
        );
        for (st, r) in [
            (CardStatus::InTransit, InTransit),
            (CardStatus::OccupiedInactive, NotInStock),
            (CardStatus::Occupied, NotInStock),
            (CardStatus::Frozen, NotInStock),
            (CardStatus::Scrapped, NotInStock),
            (CardStatus::Lost, NotInStock),
        ] {
            assert_eq!(reason(Some(&card(st)), None, &new), r, "{st}");
        }
        let mut paired = card(CardStatus::Paired);
        paired.paired_phone_no = Some("18600000001".into());
        assert_eq!(reason(Some(&paired), None, &new), PairedToAnotherNumber);
        let same = ask(Purpose::NewAccount, Some("18600000001"));
        assert_eq!(reason(Some(&paired), None, &same), Usable);
        let other = ask(Purpose::NewAccount, Some("18600000002"));
        assert_eq!(reason(Some(&paired), None, &other), PairedToAnotherNumber);
        let repl_same = ask(Purpose::Replacement, Some("18600000001"));
        assert_eq!(
            reason(Some(&paired), None, &repl_same),
            PairedToAnotherNumber
        );
        let mut bundled = card(CardStatus::InStock);
        bundled.package_id = Some(3);
        assert_eq!(reason(Some(&bundled), None, &repl), Bundled);
        assert_eq!(reason(Some(&bundled), None, &new), Usable);
        let blank = Ask {
            card_type: Some(CardType::Blank),
            ..ask(Purpose::NewAccount, None)
        };
        assert_eq!(reason(Some(&c), None, &blank), WrongCardType);
        let f = Facts {
            card: Some(&c),
            depot_active: false,
            caller_province: None,
        };
        assert_eq!(judge(&c.iccid, &f, &new).reason, DepotUnusable);
        assert!(!judge(&c.iccid, &f, &new).usable);
    }
}
