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
    // A released hold ages in 冷冻 before it may be sold again (DESIGN.md §6);
    // only an expired hold goes straight back to the shelf.
    t(Held, Frozen, Action::Release, Door::Hold),
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

/// The transition from `from` to `to`, if the table has it.
pub fn find(from: NumberStatus, to: NumberStatus) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.from == from && t.to == to)
}

/// The transition a given door may take, if any.
pub fn allowed(from: NumberStatus, to: NumberStatus, door: Door) -> Option<&'static Transition> {
    find(from, to).filter(|t| t.door == door)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_decided_by_the_table() {
        let mut allowed_pairs = 0;
        for from in NumberStatus::ALL {
            for to in NumberStatus::ALL {
                let listed = TRANSITIONS.iter().filter(|t| t.from == from && t.to == to);
                assert!(listed.count() <= 1, "{from} -> {to} listed twice");
                match find(from, to) {
                    Some(t) => {
                        allowed_pairs += 1;
                        assert_ne!(from, to, "no self transitions");
                        assert_eq!((t.from, t.to), (from, to));
                        for door in [Door::Manual, Door::Hold, Door::System, Door::Card] {
                            assert_eq!(allowed(from, to, door).is_some(), t.door == door);
                        }
                    }
                    None => {
                        for door in [Door::Manual, Door::Hold, Door::System, Door::Card] {
                            assert!(allowed(from, to, door).is_none());
                        }
                    }
                }
            }
        }
        assert_eq!(allowed_pairs, TRANSITIONS.len());
        // Holds and sales only with a key; aging only by the system.
        assert_eq!(find(OnShelf, Held).unwrap().door, Door::Hold);
        assert_eq!(find(Held, Occupied).unwrap().door, Door::Hold);
        assert_eq!(find(Frozen, OnShelf).unwrap().door, Door::System);
        // Pairing and 套包 only with the card, through the card center.
        assert_eq!(find(AwaitingPairing, Paired).unwrap().door, Door::Card);
        assert_eq!(find(Paired, PairedPackage).unwrap().door, Door::Card);
        // Release freezes; only expiry shelves a held number directly.
        let release = find(Held, Frozen).unwrap();
        assert_eq!(
            (release.door, release.action),
            (Door::Hold, Action::Release)
        );
        let expire = find(Held, OnShelf).unwrap();
        assert_eq!((expire.door, expire.action), (Door::System, Action::Expire));
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
    fn every_status_is_reachable_and_left() {
        for s in NumberStatus::ALL {
            let into = TRANSITIONS.iter().any(|t| t.to == s);
            let out = TRANSITIONS.iter().any(|t| t.from == s);
            // Idle is entered by intake; PortedIn is entered by port-in intake.
            assert!(into || matches!(s, PortedIn), "{s} cannot be entered");
            assert!(out, "{s} is a dead end");
        }
    }
}
