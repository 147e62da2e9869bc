//! The province → shard map, shared by every province-sharded table of a
//! schema and changeable while the proxy runs: online resharding
//! (crate::reshard) moves a province by freezing it (statements for it are
//! held by the executor), then pointing it at its new shard.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use super::RulesError;

#[derive(Default)]
struct Inner {
    map: RwLock<BTreeMap<String, usize>>,
    /// Provinces whose statements must wait: a move is switching them.
    frozen: RwLock<BTreeSet<String>>,
    /// Per province, the shards besides its current one that may hold its
    /// rows: the source and target of an unfinished move (the target's
    /// copies before the switch, the source's rows until COMPLETE). Rows of
    /// a province on a shard it is not routed to are never authoritative:
    /// statements exclude them there (see [`ProvinceMap::stale_on`]).
    copies: RwLock<BTreeMap<String, BTreeSet<usize>>>,
}

/// Cheap to clone: every clone sees the same map.
#[derive(Clone, Default)]
pub struct ProvinceMap(Arc<Inner>);

impl ProvinceMap {
    pub fn new(map: BTreeMap<String, usize>) -> ProvinceMap {
        ProvinceMap(Arc::new(Inner {
            map: RwLock::new(map),
            frozen: RwLock::default(),
            copies: RwLock::default(),
        }))
    }

    /// The shard of `code`; [`RulesError::ProvinceMoving`] while it is frozen.
    pub fn shard(&self, code: &str) -> Result<usize, RulesError> {
        if self.is_frozen(code) {
            return Err(RulesError::ProvinceMoving(code.to_string()));
        }
        self.current(code)
            .ok_or_else(|| RulesError::UnknownProvince(code.to_string()))
    }

    /// The shard of `code`, frozen or not.
    pub fn current(&self, code: &str) -> Option<usize> {
        self.0
            .map
            .read()
            .expect("province map lock")
            .get(code)
            .copied()
    }

    pub fn is_frozen(&self, code: &str) -> bool {
        let frozen = self.0.frozen.read().expect("province map lock");
        !frozen.is_empty() && frozen.contains(code)
    }

    pub fn freeze(&self, code: &str) {
        self.0
            .frozen
            .write()
            .expect("province map lock")
            .insert(code.to_string());
    }

    pub fn thaw(&self, code: &str) {
        self.0
            .frozen
            .write()
            .expect("province map lock")
            .remove(code);
    }

    /// Points `code` at `shard` (the caller checked the shard exists).
    pub fn assign(&self, code: &str, shard: usize) {
        self.0
            .map
            .write()
            .expect("province map lock")
            .insert(code.to_string(), shard);
    }

    /// Replaces the shards that may hold rows of a province besides its
    /// current one (from the unfinished moves on the global shard).
    pub fn set_copies(&self, copies: BTreeMap<String, BTreeSet<usize>>) {
        *self.0.copies.write().expect("province map lock") = copies;
    }

    /// The provinces whose rows on `shard` are stale (moved away, not yet
    /// deleted) or not yet live (copied there before the switch), sorted:
    /// statements reaching `shard` must not see them. Empty in normal
    /// operation.
    pub fn stale_on(&self, shard: usize) -> Vec<String> {
        let copies = self.0.copies.read().expect("province map lock");
        if copies.is_empty() {
            return Vec::new();
        }
        let map = self.0.map.read().expect("province map lock");
        copies
            .iter()
            .filter(|(p, shards)| shards.contains(&shard) && map.get(*p) != Some(&shard))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// A province being switched (frozen) whose rows `shard` may hold (the
    /// source or target of its move): a write reaching `shard` that does not
    /// name a province waits for the switch like the province's own
    /// statements do, then excludes the rows that became stale.
    pub fn frozen_on(&self, shard: usize) -> Option<String> {
        let frozen = self.0.frozen.read().expect("province map lock");
        if frozen.is_empty() {
            return None;
        }
        let copies = self.0.copies.read().expect("province map lock");
        frozen
            .iter()
            .find(|p| copies.get(*p).is_some_and(|s| s.contains(&shard)))
            .cloned()
    }

    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.0.map.read().expect("province map lock").clone()
    }

    pub fn is_empty(&self) -> bool {
        self.0.map.read().expect("province map lock").is_empty()
    }
}

impl std::fmt::Debug for ProvinceMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

impl PartialEq for ProvinceMap {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.snapshot() == other.snapshot()
    }
}

impl Eq for ProvinceMap {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_province_says_so_and_a_moved_one_routes_to_its_new_shard() {
        let m = ProvinceMap::new([("36".to_string(), 2), ("31".to_string(), 2)].into());
        let clone = m.clone();
        m.freeze("36");
        assert!(matches!(clone.shard("36"), Err(RulesError::ProvinceMoving(p)) if p == "36"));
        assert_eq!(clone.shard("31").unwrap(), 2);
        m.assign("36", 5);
        m.thaw("36");
        assert_eq!(clone.shard("36").unwrap(), 5);
        assert!(matches!(
            clone.shard("99"),
            Err(RulesError::UnknownProvince(_))
        ));
    }

    #[test]
    fn a_province_is_stale_on_the_shards_of_its_moves_it_is_not_routed_to() {
        let m = ProvinceMap::new([("36".to_string(), 0), ("31".to_string(), 0)].into());
        assert!(m.stale_on(0).is_empty() && m.stale_on(2).is_empty());
        m.set_copies([("36".to_string(), [0, 2].into())].into());
        // before the switch the target's copies are not live yet
        assert!(m.stale_on(0).is_empty());
        assert_eq!(m.stale_on(2), ["36"]);
        m.freeze("36");
        assert_eq!(m.frozen_on(0).as_deref(), Some("36"));
        assert_eq!(m.frozen_on(2).as_deref(), Some("36"));
        assert_eq!(m.frozen_on(1), None);
        m.assign("36", 2);
        m.thaw("36");
        assert_eq!(m.frozen_on(0), None);
        assert_eq!(m.stale_on(0), ["36"]);
        assert!(m.stale_on(2).is_empty() && m.stale_on(1).is_empty());
        m.set_copies(BTreeMap::new());
        assert!(m.stale_on(0).is_empty());
    }
}
