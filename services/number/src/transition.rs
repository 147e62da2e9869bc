//! The number status transition table, as data. A change not listed here is
//! refused (result code 0004); the listed ones say which door they go through:
//! the status endpoint (staff), the hold API (a selection key), the system
//! (sweeper, aging), or the card center (pairing with a card, 套包).

use super::status::NumberStatus::{self, *};

/// Who may drive a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `POST /api/v1/numbers/status` by staff holding number:write.
    Manual,
    /// The hold API, only with the holding key.
    Hold,
    /// Background tasks: hold expiry and 冷冻 aging.
    System,
    /// The card center's 预配号卡 and 套包 endpoints, which change the card
    /// row in the same transaction (a number is never paired without one).
    Card,
}

impl Door {
    /// The door's name in the API (`GET /api/v1/numbers/transitions`) and
    /// the README's table.
    pub fn code(self) -> &'static str {
        match self {
            Door::Manual => "manual",
            Door::Hold => "hold",
            Door::System => "system",
            Door::Card => "card",
        }
    }
}

/// The verb a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Intake,
    Shelve,
    Unshelve,
    Reserve,
    Unreserve,
    Hold,
    Extend,
    Release,
    Expire,
    Sell,
    PreOccupy,
    CancelPreOccupy,
    Occupy,
    Activate,
    AwaitPairing,
    CancelPairing,
    Pair,
    Unpair,
    Package,
    Unpackage,
    Cancel,
    Thaw,
    Recycle,
    PortIn,
    PortOut,
    SubmitApproval,
    Approve,
    Reject,
    MoveDepot,
    AssignPool,
    Reclassify,
}

impl Action {
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            Intake => "intake",
            Shelve => "shelve",
            Unshelve => "unshelve",
            Reserve => "reserve",
            Unreserve => "unreserve",
            Hold => "hold",
            Extend => "extend",
            Release => "release",
            Expire => "expire",
            Sell => "sell",
            PreOccupy => "pre_occupy",
            CancelPreOccupy => "cancel_pre_occupy",
            Occupy => "occupy",
            Activate => "activate",
            AwaitPairing => "await_pairing",
            CancelPairing => "cancel_pairing",
            Pair => "pair",
            Unpair => "unpair",
            Package => "package",
            Unpackage => "unpackage",
            Cancel => "cancel",
            Thaw => "thaw",
            Recycle => "recycle",
            PortIn => "port_in",
            PortOut => "port_out",
            SubmitApproval => "submit_approval",
            Approve => "approve",
            Reject => "reject",
            MoveDepot => "move_depot",
            AssignPool => "assign_pool",
            Reclassify => "reclassify",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: NumberStatus,
    pub to: NumberStatus,
    pub action: Action,
    pub door: Door,
}

const fn t(from: NumberStatus, to: NumberStatus, action: Action, door: Door) -> Transition {
    Transition {
        from,
        to,
        action,
        door,
    }
}

/// Every allowed status change.
pub const TRANSITIONS: &[Transition] = &[
    t(Idle, OnShelf, Action::Shelve, Door::Manual),
    t(OnShelf, Idle, Action::Unshelve, Door::Manual),
    t(Idle, Reserved, Action::Reserve, Door::Manual),
    t(OnShelf, Reserved, Action::Reserve, Door::Manual),
    t(Reserved, Idle, Action::Unreserve, Door::Manual),
    t(Reserved, OnShelf, Action::Shelve, Door::Manual),
    t(OnShelf, Held, Action::Hold, Door::Hold),
    // A hold released or expired goes straight back to the shelf: it was
    // never used (DESIGN.md §6); 冷冻 aging is for numbers that come back
    // from use (the cancels below).
    t(Held, OnShelf, Action::Release, Door::Hold),
    t(Held, OnShelf, Action::Expire, Door::System),
    t(Held, Occupied, Action::Sell, Door::Hold),
    t(OnShelf, PreOccupied, Action::PreOccupy, Door::Manual),
    t(PreOccupied, OnShelf, Action::CancelPreOccupy, Door::Manual),
    t(PreOccupied, OccupiedInactive, Action::Occupy, Door::Manual),
    t(OccupiedInactive, Occupied, Action::Activate, Door::Manual),
    t(OccupiedInactive, Frozen, Action::Cancel, Door::Manual),
    t(Idle, AwaitingPairing, Action::AwaitPairing, Door::Manual),
    t(AwaitingPairing, Idle, Action::CancelPairing, Door::Manual),
    t(AwaitingPairing, Paired, Action::Pair, Door::Card),
    t(Paired, Idle, Action::Unpair, Door::Card),
    t(Paired, PairedPackage, Action::Package, Door::Card),
    t(PairedPackage, Paired, Action::Unpackage, Door::Card),
    t(Paired, OnShelf, Action::Shelve, Door::Manual),
    t(Occupied, Frozen, Action::Cancel, Door::Manual),
    t(Occupied, PortedOut, Action::PortOut, Door::Manual),
    t(PortedOut, Frozen, Action::Cancel, Door::Manual),
    t(PortedIn, Occupied, Action::PortIn, Door::Manual),
    t(Frozen, Idle, Action::Recycle, Door::Manual),
    t(Frozen, OnShelf, Action::Thaw, Door::System),
    t(Idle, PendingApproval, Action::SubmitApproval, Door::Manual),
    t(PendingApproval, OnShelf, Action::Approve, Door::Manual),
    t(PendingApproval, Idle, Action::Reject, Door::Manual),
];

/// A transition from `from` to `to` the table has (through any door).
pub fn find(from: NumberStatus, to: NumberStatus) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.from == from && t.to == to)
}

/// The transition a given door may take, if any.
pub fn allowed(from: NumberStatus, to: NumberStatus, door: Door) -> Option<&'static Transition> {
    TRANSITIONS
        .iter()
        .find(|t| t.from == from && t.to == to && t.door == door)
}

/// The statuses `door` may move a number in `from` to.
pub fn targets(from: NumberStatus, door: Door) -> Vec<NumberStatus> {
    TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.door == door)
        .map(|t| t.to)
        .collect()
}

/// `03 上架, 04 选占` (or `none`).
pub fn list(statuses: &[NumberStatus]) -> String {
    if statuses.is_empty() {
        return "none".into();
    }
    statuses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `door` may not move a number from `from` to `to`, naming what it may
/// do from there instead; None when it may.
pub fn refusal(from: NumberStatus, to: NumberStatus, door: Door) -> Option<String> {
    if allowed(from, to, door).is_some() {
        return None;
    }
    let here = format!("from {from} this allows: {}", list(&targets(from, door)));
    Some(match find(from, to) {
        Some(t) => format!(
            "{from} -> {to} is done by {}, not here; {here}",
            t.door.name()
        ),
        None => format!("{from} -> {to} is not an allowed status change; {here}"),
    })
}

/// The one check every writer of a number's status makes: the transition
/// `door` takes from `from` to `to`, or why not.
pub fn check(
    from: NumberStatus,
    to: NumberStatus,
    door: Door,
) -> Result<&'static Transition, Refused> {
    allowed(from, to, door).ok_or_else(|| Refused {
        from,
        to,
        message: refusal(from, to, door).unwrap_or_default(),
    })
}

/// A status change the table does not allow through this door.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub from: NumberStatus,
    pub to: NumberStatus,
    pub message: String,
}

impl Door {
    pub const ALL: [Door; 4] = [Door::Manual, Door::Hold, Door::System, Door::Card];

    /// Who drives it, for people.
    pub fn name(self) -> &'static str {
        match self {
            Door::Manual => "staff (POST /api/v1/numbers/status)",
            Door::Hold => "the hold API (with the holding key)",
            Door::System => "the system (hold expiry, aging)",
            Door::Card => "the card center (pairing, 套包)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_decided_by_the_table() {
        let mut allowed_triples = 0;
        for from in NumberStatus::ALL {
            for to in NumberStatus::ALL {
                for door in Door::ALL {
                    let listed = TRANSITIONS
                        .iter()
                        .filter(|t| t.from == from && t.to == to && t.door == door);
                    assert!(listed.count() <= 1, "{from} -> {to} listed twice");
                    let ok = allowed(from, to, door).is_some();
                    assert_eq!(ok, refusal(from, to, door).is_none());
                    assert_eq!(ok, check(from, to, door).is_ok());
                    assert_eq!(ok, targets(from, door).contains(&to));
                    if ok {
                        allowed_triples += 1;
                        assert_ne!(from, to, "no self transitions");
                    }
                }
            }
        }
        assert_eq!(allowed_triples, TRANSITIONS.len());
        // Holds and sales only with a key; aging only by the system.
        assert!(allowed(OnShelf, Held, Door::Hold).is_some());
        assert!(allowed(OnShelf, Held, Door::Manual).is_none());
        assert!(allowed(Held, Occupied, Door::Hold).is_some());
        assert_eq!(find(Frozen, OnShelf).unwrap().door, Door::System);
        // Pairing and 套包 only with the card, through the card center.
        assert_eq!(find(AwaitingPairing, Paired).unwrap().door, Door::Card);
        assert_eq!(find(Paired, PairedPackage).unwrap().door, Door::Card);
        // A released hold and an expired one both go back to the shelf; no
        // hold ends in 冷冻.
        assert_eq!(
            allowed(Held, OnShelf, Door::Hold).unwrap().action,
            Action::Release
        );
        assert_eq!(
            allowed(Held, OnShelf, Door::System).unwrap().action,
            Action::Expire
        );
        assert!(find(Held, Frozen).is_none(), "a hold never freezes");
        // Only numbers coming back from use age in 冷冻.
        for from in [Occupied, OccupiedInactive, PortedOut] {
            assert_eq!(find(from, Frozen).unwrap().action, Action::Cancel);
        }
        assert!(
            find(Occupied, OnShelf).is_none(),
            "a sold number never goes straight back"
        );
        assert!(
            find(Idle, Held).is_none(),
            "only on-shelf numbers can be held"
        );
    }

    #[test]
    fn a_refusal_names_the_allowed_targets() {
        let why = refusal(OnShelf, Occupied, Door::Manual).unwrap();
        assert!(
            why.contains("03 上架 -> 10 占用 is not an allowed"),
            "{why}"
        );
        for to in [Idle, Reserved, PreOccupied] {
            assert!(why.contains(&to.to_string()), "{why} lacks {to}");
        }
        let why = refusal(OnShelf, Held, Door::Manual).unwrap();
        assert!(why.contains("the hold API"), "{why}");
        assert!(refusal(Idle, OnShelf, Door::Manual).is_none());
    }

    #[test]
    fn every_status_is_reachable_and_left() {
        for s in NumberStatus::ALL {
            let into = TRANSITIONS.iter().any(|t| t.to == s);
            let out = TRANSITIONS.iter().any(|t| t.from == s);
            // Idle is entered by intake; PortedIn is entered by port-in intake.
            assert!(into || matches!(s, PortedIn), "{s} cannot be entered");
            assert!(out, "{s} is a dead end");
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
