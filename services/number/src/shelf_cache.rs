//! The local selection cache: the on-shelf numbers of one (province, city,
//! pool), loaded from the proxy on first use, dropped by invalidation
//! broadcasts, with a short TTL as a safety net. Never used to decide a hold.
//! A number taken off the shelf (a hold) does not drop any shelf: it is noted
//! per city and skipped by selections on shelves loaded before it was taken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use haoka_core::db::Db;
use haoka_core::domain::msisdn::Msisdn;
use haoka_core::problem::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShelfKey {
    pub province: String,
    pub city: String,
    /// None: the public shelf (numbers in no pool).
    pub pool: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct ShelfNumber {
    pub no: Msisdn,
    pub level: u8,
}

/// A loaded shelf, sorted by number, with the invalidation epoch it was
/// loaded under.
pub struct Shelf {
    pub numbers: Vec<ShelfNumber>,
    epoch: u64,
}

/// province → city → number → (epoch of the take, when); looked up by
/// `&str` on every selection, so nothing is allocated there.
type TakenByCity = HashMap<String, HashMap<String, HashMap<Msisdn, (u64, Instant)>>>;

#[derive(Clone)]
pub struct ShelfCache {
    inner: moka::future::Cache<ShelfKey, Arc<Shelf>>,
    /// Bumped by every invalidation; a load that started before the last
    /// invalidation of its key is not trusted (it may predate the change).
    epoch: Arc<AtomicU64>,
    invalidated_at: Arc<Mutex<HashMap<ShelfKey, u64>>>,
    /// Numbers taken off the shelves of each city.
    taken: Arc<Mutex<TakenByCity>>,
    /// How long a taken number is remembered: past it, every shelf loaded
    /// before the take has expired.
    remember_taken: Duration,
    /// Shelves loaded from the proxy (what invalidations cost).
    loads: Arc<AtomicU64>,
}

impl ShelfCache {
    pub fn new(ttl_seconds: u64) -> ShelfCache {
        ShelfCache {
            inner: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(ttl_seconds.max(1)))
                .build(),
            epoch: Arc::new(AtomicU64::new(1)),
            invalidated_at: Arc::default(),
            taken: Arc::default(),
            // A load may finish a while after it started: twice the TTL.
            remember_taken: Duration::from_secs(2 * ttl_seconds.max(1) + 10),
            loads: Arc::default(),
        }
    }

    /// How many shelves were loaded from the proxy since start.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    pub async fn get(&self, db: &Db, key: &ShelfKey) -> Result<Arc<Shelf>, ApiError> {
        for _ in 0..3 {
            let shelf = self
                .inner
                .try_get_with(key.clone(), async {
                    self.loads.fetch_add(1, Ordering::Relaxed);
                    load(db, key.clone(), self.epoch.load(Ordering::SeqCst)).await
                })
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            if shelf.epoch >= self.last_invalidation(key) {
                return Ok(shelf);
            }
            self.inner.invalidate(key).await;
        }
        // Invalidations keep racing the load: answer from the database.
        load(db, key.clone(), 0).await
    }

    fn last_invalidation(&self, key: &ShelfKey) -> u64 {
        self.invalidated_at
            .lock()
            .map(|m| m.get(key).copied().unwrap_or(0))
            .unwrap_or(u64::MAX)
    }

    pub fn invalidate(&self, key: &ShelfKey) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut m) = self.invalidated_at.lock() {
            m.insert(key.clone(), e);
        }
        // The epoch check already refuses the old entry; this frees it.
        let inner = self.inner.clone();
        let key = key.clone();
        tokio::spawn(async move { inner.invalidate(&key).await });
    }

    /// `no` left the shelf of its city (whichever pool it is in): shelves
    /// loaded before now keep listing it, and selections skip it there.
    pub fn take(&self, province: &str, city: &str, no: Msisdn) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Instant::now();
        if let Ok(mut m) = self.taken.lock() {
            let city = m
                .entry(province.to_string())
                .or_default()
                .entry(city.to_string())
                .or_default();
            city.insert(no, (e, now));
            if city.len() % 256 == 0 {
                let keep = self.remember_taken;
                city.retain(|_, (_, at)| now.duration_since(*at) < keep);
            }
        }
    }

    /// The numbers of `key`'s city taken after `shelf` was loaded, sorted:
    /// a selection on `shelf` skips them.
    pub fn taken_after(&self, key: &ShelfKey, shelf: &Shelf) -> Vec<Msisdn> {
        let Ok(m) = self.taken.lock() else {
            return Vec::new();
        };
        let Some(city) = m.get(&key.province).and_then(|p| p.get(&key.city)) else {
            return Vec::new();
        };
        let mut out: Vec<Msisdn> = city
            .iter()
            .filter(|(_, (e, _))| *e > shelf.epoch)
            .map(|(no, _)| *no)
            .collect();
        out.sort_unstable();
        out
    }

    pub fn invalidate_all(&self) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut m) = self.invalidated_at.lock() {
            for v in m.values_mut() {
                *v = e;
            }
        }
        self.inner.invalidate_all();
    }
}

async fn load(db: &Db, key: ShelfKey, epoch: u64) -> Result<Arc<Shelf>, ApiError> {
    let mut c = db.conn().await?;
    let sql = match key.pool {
        Some(_) => {
            "SELECT phone_no, premium_level FROM phone_number WHERE province_code = ? \
             AND city_code = ? AND status = ? AND pool_id = ?"
        }
        None => {
            "SELECT phone_no, premium_level FROM phone_number WHERE province_code = ? \
             AND city_code = ? AND status = ? AND pool_id IS NULL"
        }
    };
    let mut params: Vec<mysql_async::Value> = vec![
        key.province.into(),
        key.city.into(),
        super::status::NumberStatus::OnShelf.code().into(),
    ];
    if let Some(p) = key.pool {
        params.push(p.into());
    }
    let rows: Vec<(String, u8)> = c.exec(sql, params).await?;
    let mut numbers: Vec<ShelfNumber> = rows
        .into_iter()
        .filter_map(|(n, level)| Msisdn::parse(&n).ok().map(|no| ShelfNumber { no, level }))
        .collect();
    numbers.sort_unstable_by_key(|n| n.no);
    Ok(Arc::new(Shelf { numbers, epoch }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_number_is_skipped_only_on_shelves_loaded_before_the_take() {
        let cache = ShelfCache::new(30);
        let key = ShelfKey {
            province: "51".into(),
            city: "028".into(),
            pool: None,
        };
        let no = Msisdn::parse("13800280001").unwrap();
        let before = Shelf {
            numbers: Vec::new(),
            epoch: cache.epoch.load(Ordering::SeqCst),
        };
        cache.take("51", "028", no);
        cache.take("51", "010", Msisdn::parse("13800100001").unwrap());
        let after = Shelf {
            numbers: Vec::new(),
            epoch: cache.epoch.load(Ordering::SeqCst),
        };
        assert_eq!(cache.taken_after(&key, &before), vec![no]);
        assert!(cache.taken_after(&key, &after).is_empty());
    }
}
