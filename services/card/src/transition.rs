//! The card status transition table, as data. A change not listed is
//! refused; a listed one names the door it goes through, so the status
//! endpoint cannot pair, occupy or transfer a card behind the back of the
//! endpoints that keep the other rows (number, transfer order) in step.

use super::status::CardStatus::{self, *};

/// Who may drive a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `POST /api/v1/cards/status` by staff holding card:write.
    Manual,
    /// 成卡调拨: transfer orders (out of stock into transit, and back in).
    Transfer,
    /// 预配号卡: pairing and unpairing with a number.
    Pairing,
    /// 成卡占用 and its return, by staff or a channel.
    Occupy,
}

impl Door {
    /// The door's name in the API (`GET /api/v1/cards/transitions`) and the
    /// README's table.
    pub fn code(self) -> &'static str {
        match self {
            Door::Manual => "manual",
            Door::Transfer => "transfer",
            Door::Pairing => "pairing",
            Door::Occupy => "occupy",
        }
    }
}

impl Door {
    pub const ALL: [Door; 4] = [Door::Manual, Door::Transfer, Door::Pairing, Door::Occupy];

    /// Where a refused caller should go instead.
    pub fn endpoint(self) -> &'static str {
        match self {
            Door::Manual => "POST /api/v1/cards/status",
            Door::Transfer => "the transfer endpoints (/api/v1/cards/transfers)",
            Door::Pairing => "POST /api/v1/cards/pairings (and /unpair)",
            Door::Occupy => "POST /api/v1/cards/{iccid}/occupy (and /return)",
        }
    }
}

/// The verb a card history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Intake,
    TransferOut,
    TransferIn,
    Pair,
    Unpair,
    Package,
    Unpackage,
    Occupy,
    Activate,
    Return,
    Freeze,
    Unfreeze,
    Scrap,
    ReportLost,
    Found,
    MoveDepot,
}

impl Action {
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            Intake => "intake",
            TransferOut => "transfer_out",
            TransferIn => "transfer_in",
            Pair => "pair",
            Unpair => "unpair",
            Package => "package",
            Unpackage => "unpackage",
            Occupy => "occupy",
            Activate => "activate",
            Return => "return",
            Freeze => "freeze",
            Unfreeze => "unfreeze",
            Scrap => "scrap",
            ReportLost => "report_lost",
            Found => "found",
            MoveDepot => "move_depot",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: CardStatus,
    pub to: CardStatus,
    pub action: Action,
    pub door: Door,
}

const fn t(from: CardStatus, to: CardStatus, action: Action, door: Door) -> Transition {
    Transition {
        from,
        to,
        action,
        door,
    }
}

/// Every allowed status change.
pub const TRANSITIONS: &[Transition] = &[
    // 成卡调拨: out of the source depot, into the target (or back on refusal).
    t(InStock, InTransit, Action::TransferOut, Door::Transfer),
    t(InTransit, InStock, Action::TransferIn, Door::Transfer),
    // 预配号卡.
    t(InStock, Paired, Action::Pair, Door::Pairing),
    t(Paired, InStock, Action::Unpair, Door::Pairing),
    // 成卡占用 (a paired card is sold together with its number) and return.
    t(InStock, OccupiedInactive, Action::Occupy, Door::Occupy),
    t(InStock, Occupied, Action::Occupy, Door::Occupy),
    t(Paired, OccupiedInactive, Action::Occupy, Door::Occupy),
    t(Paired, Occupied, Action::Occupy, Door::Occupy),
    t(OccupiedInactive, Occupied, Action::Activate, Door::Occupy),
    t(OccupiedInactive, InStock, Action::Return, Door::Occupy),
    // An activated card that comes back is not resold at once.
    t(Occupied, Frozen, Action::Return, Door::Occupy),
    // Staff upkeep.
    t(InStock, Frozen, Action::Freeze, Door::Manual),
    t(Frozen, InStock, Action::Unfreeze, Door::Manual),
    t(InStock, Scrapped, Action::Scrap, Door::Manual),
    t(Frozen, Scrapped, Action::Scrap, Door::Manual),
    t(Occupied, Scrapped, Action::Scrap, Door::Manual),
    t(InStock, Lost, Action::ReportLost, Door::Manual),
    t(Occupied, Lost, Action::ReportLost, Door::Manual),
    // A found card is checked (frozen) before it goes back to stock.
    t(Lost, Frozen, Action::Found, Door::Manual),
];

/// The transition from `from` to `to`, if the table has it.
pub fn find(from: CardStatus, to: CardStatus) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.from == from && t.to == to)
}

/// The transition a given door may take, if any.
pub fn allowed(from: CardStatus, to: CardStatus, door: Door) -> Option<&'static Transition> {
    find(from, to).filter(|t| t.door == door)
}

/// The one check every writer of a card's status makes: the transition
/// `door` takes from `from` to `to`, or why not (as a 409 naming the
/// statuses allowed instead).
pub fn check(
    from: CardStatus,
    to: CardStatus,
    door: Door,
) -> Result<&'static Transition, haoka_core::problem::ApiError> {
    allowed(from, to, door).ok_or_else(|| haoka_core::problem::ApiError::Refused {
        code: "transition_refused",
        message: refusal(from, to, door).unwrap_or_default(),
    })
}

/// The statuses `door` may move a card in `from` to.
pub fn targets(from: CardStatus, door: Door) -> Vec<CardStatus> {
    let mut v: Vec<CardStatus> = TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.door == door)
        .map(|t| t.to)
        .collect();
    v.dedup();
    v
}

/// Why a change is refused, for people: names the door to use instead when
/// the change exists behind another one, and what this door allows from
/// the card's status.
pub fn refusal(from: CardStatus, to: CardStatus, door: Door) -> Option<String> {
    let allowed: Vec<String> = targets(from, door).iter().map(|s| s.to_string()).collect();
    let here = format!(
        "from {from} this allows: {}",
        if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed.join(", ")
        }
    );
    match find(from, to) {
        Some(t) if t.door == door => None,
        Some(t) => Some(format!(
            "{from} -> {to} is done through {}, not here; {here}",
            t.door.endpoint()
        )),
        None => Some(format!(
            "{from} -> {to} is not an allowed card status change; {here}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_decided_by_the_table() {
        let mut listed_pairs = 0;
        for from in CardStatus::ALL {
            for to in CardStatus::ALL {
                let listed = TRANSITIONS.iter().filter(|t| t.from == from && t.to == to);
                assert!(listed.count() <= 1, "{from} -> {to} listed twice");
                for door in Door::ALL {
                    let ok = allowed(from, to, door).is_some();
                    assert_eq!(ok, refusal(from, to, door).is_none());
                    assert_eq!(ok, find(from, to).is_some_and(|t| t.door == door));
                }
                if let Some(t) = find(from, to) {
                    listed_pairs += 1;
                    assert_ne!(from, to, "no self transitions");
                    assert_eq!((t.from, t.to), (from, to));
                }
            }
        }
        assert_eq!(listed_pairs, TRANSITIONS.len());
        // Pairing, occupation and transit only through their own doors.
        assert_eq!(find(InStock, Paired).unwrap().door, Door::Pairing);
        assert_eq!(find(InStock, InTransit).unwrap().door, Door::Transfer);
        assert_eq!(find(InStock, Occupied).unwrap().door, Door::Occupy);
        assert!(refusal(InStock, Paired, Door::Manual)
            .unwrap()
            .contains("pairings"));
        let why = refusal(InStock, Occupied, Door::Manual).unwrap();
        for to in [Frozen, Scrapped, Lost] {
            assert!(why.contains(&to.to_string()), "{why} lacks {to}");
        }
        assert!(refusal(Scrapped, InStock, Door::Manual)
            .unwrap()
            .ends_with("this allows: none"));
        assert!(find(Scrapped, InStock).is_none(), "scrapping is final");
        assert!(
            find(Occupied, InStock).is_none(),
            "a used card is not resold at once"
        );
    }

    #[test]
    fn every_status_is_reachable_and_only_scrapped_is_final() {
        for s in CardStatus::ALL {
            let into = TRANSITIONS.iter().any(|t| t.to == s);
            let out = TRANSITIONS.iter().any(|t| t.from == s);
            // InStock is also entered by intake.
            assert!(into, "{s} cannot be entered");
            assert_eq!(out, s != Scrapped, "{s}");
        }
    }

    /// The README's table lists every transition, so the two cannot drift.
    #[test]
    fn the_readme_lists_every_transition() {
        let readme = include_str!("../../README.md");
        for t in TRANSITIONS {
            let row = format!(
                "| {} | {} | {} | {} |",
                t.from,
                t.to,
                t.action.name(),
                t.door.code()
            );
            assert!(readme.contains(&row), "services/README.md lacks {row}");
        }
    }
}
