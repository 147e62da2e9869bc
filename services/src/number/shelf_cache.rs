//! The local selection cache: the on-shelf numbers of one (province, city,
//! pool), loaded from the proxy on first use, dropped by invalidation
//! broadcasts, with a short TTL as a safety net. Never used to decide a hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use super::msisdn::Msisdn;
use crate::db::Db;
use crate::problem::ApiError;

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

#[derive(Clone)]
pub struct ShelfCache {
    inner: moka::future::Cache<ShelfKey, Arc<Shelf>>,
    /// Bumped by every invalidation; a load that started before the last
    /// invalidation of its key is not trusted (it may predate the change).
    epoch: Arc<AtomicU64>,
    invalidated_at: Arc<Mutex<HashMap<ShelfKey, u64>>>,
    /// The same for changes that name a city but not the pool (every pool's
    /// shelf of the city).
    city_invalidated_at: Arc<Mutex<HashMap<(String, String), u64>>>,
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
            city_invalidated_at: Arc::default(),
        }
    }

    pub async fn get(&self, db: &Db, key: &ShelfKey) -> Result<Arc<Shelf>, ApiError> {
        for _ in 0..3 {
            let shelf = self
                .inner
                .try_get_with(
                    key.clone(),
                    load(db, key.clone(), self.epoch.load(Ordering::SeqCst)),
                )
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
        let shelf = self
            .invalidated_at
            .lock()
            .map(|m| m.get(key).copied().unwrap_or(0))
            .unwrap_or(u64::MAX);
        let city = self
            .city_invalidated_at
            .lock()
            .map(|m| {
                m.get(&(key.province.clone(), key.city.clone()))
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(u64::MAX);
        shelf.max(city)
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

    /// Every pool's shelf of a city (a change whose pool is not known here).
    pub fn invalidate_city(&self, province: &str, city: &str) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut m) = self.city_invalidated_at.lock() {
            m.insert((province.to_string(), city.to_string()), e);
        }
        // Pool shelves are refused by the epoch check and reloaded on use;
        // the public shelf (the big one) is freed now.
        let inner = self.inner.clone();
        let key = ShelfKey {
            province: province.to_string(),
            city: city.to_string(),
            pool: None,
        };
        tokio::spawn(async move { inner.invalidate(&key).await });
    }

    pub fn invalidate_all(&self) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut m) = self.invalidated_at.lock() {
            for v in m.values_mut() {
                *v = e;
            }
        }
        if let Ok(mut m) = self.city_invalidated_at.lock() {
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
             AND city_code = ? AND status = '03' AND pool_id = ?"
        }
        None => {
            "SELECT phone_no, premium_level FROM phone_number WHERE province_code = ? \
             AND city_code = ? AND status = '03' AND pool_id IS NULL"
        }
    };
    let mut params: Vec<mysql_async::Value> = vec![key.province.into(), key.city.into()];
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
