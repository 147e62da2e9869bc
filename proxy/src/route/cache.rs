//! The plan cache: normalised statement text -> parameterised plan.

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::lexer::{Hint, SqlMode};
use super::plan::Plan;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub schema: usize,
    /// A statement reads differently under NO_BACKSLASH_ESCAPES / ANSI_QUOTES.
    pub sql_mode: SqlMode,
    pub hint: Option<Hint>,
    pub text: String,
}

/// A bounded LRU, split in a few independently locked parts so that
/// connections on different cores rarely wait for each other.
pub(crate) struct PlanCache {
    parts: Vec<Mutex<LruCache<Key, Arc<Plan>>>>,
    hasher: std::collections::hash_map::RandomState,
}

const PARTS: usize = 8;

impl PlanCache {
    pub fn new(capacity: usize) -> PlanCache {
        let per = NonZeroUsize::new(capacity.div_ceil(PARTS).max(1)).unwrap_or(NonZeroUsize::MIN);
        PlanCache {
            parts: (0..PARTS).map(|_| Mutex::new(LruCache::new(per))).collect(),
            hasher: Default::default(),
        }
    }

    fn part(&self, k: &Key) -> &Mutex<LruCache<Key, Arc<Plan>>> {
        &self.parts[(self.hasher.hash_one(k) as usize) % PARTS]
    }

    pub fn get(&self, k: &Key) -> Option<Arc<Plan>> {
        let mut g = self.part(k).lock().unwrap_or_else(|e| e.into_inner());
        g.get(k).cloned()
    }

    pub fn put(&self, k: Key, plan: Arc<Plan>) {
        let mut g = self.part(&k).lock().unwrap_or_else(|e| e.into_inner());
        g.put(k, plan);
    }

    pub fn len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn clear(&self) {
        for p in &self.parts {
            p.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}
