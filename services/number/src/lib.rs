//! The number center (号码中心): intake, shelf and status changes, depots,
//! selection from a local cache, holds and sales decided on the shard, premium
//! rules and waivers, pools and their grants, and the number history.
//!
//! Folder map: `status`/`transition` are the domain codes and the transition
//! table; `segments`, `premium` are pure number rules (the phone number is
//! `haoka_core::domain::msisdn`); `access` is
//! the caller and their pool rights; `history` writes 号历史 rows; `intake`,
//! `change` (status / depot), `hold`, `select`, `pool`, `rules`, `waiver`,
//! `stock` (stock list, counts, activity, transitions) are the endpoints; `shelf_cache` + `bus` keep the selection cache fresh;
//! `sweeper` expires holds and ages frozen numbers; `events` puts sales and
//! staff status changes on the outbox; `routes` mounts it all and `doc` adds
//! what the OpenAPI derives cannot say.

pub mod access;
pub mod bus;
pub mod change;
pub mod db_clock;
pub mod doc;
pub mod events;
pub mod history;
pub mod hold;
pub mod intake;
pub mod migrate;
pub mod pool;
pub mod premium;
pub mod retire;
pub mod routes;
pub mod rules;
pub mod segments;
pub mod select;
pub mod shelf_cache;
pub mod status;
pub mod stock;
pub mod sweeper;
pub mod transition;
pub mod waiver;

/// The `[number]` settings: plain data, kept with the other sections in
/// haoka-core's config.
pub use haoka_core::config::number as config;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::access::GrantCache;
use self::bus::{Bus, Invalidation};
use self::config::NumberConfig;
use self::db_clock::DbClock;
use self::segments::{Area, SegmentMap};
use self::shelf_cache::{ShelfCache, ShelfKey};
use self::status::{NumberStatus, ResultCode};
use haoka_core::db::Db;
use haoka_core::domain::msisdn::Msisdn;
use haoka_core::problem::ApiError;
use haoka_core::state::Shared;

pub use routes::router;

/// The number center's per-process state: caches and the publisher.
pub struct NumberCenter {
    pub cfg: NumberConfig,
    segments: tokio::sync::OnceCell<Arc<SegmentMap>>,
    pub shelf: ShelfCache,
    pub grants: GrantCache,
    pub bus: Bus,
    pub clock: DbClock,
}

impl NumberCenter {
    pub fn new(cfg: &NumberConfig) -> NumberCenter {
        NumberCenter {
            shelf: ShelfCache::new(cfg.shelf_cache_ttl_seconds),
            grants: GrantCache::new(cfg.grant_cache_ttl_seconds),
            segments: tokio::sync::OnceCell::new(),
            bus: Bus::new(),
            clock: DbClock::default(),
            cfg: cfg.clone(),
        }
    }

    pub async fn segments(&self, db: &Db) -> Result<Arc<SegmentMap>, ApiError> {
        self.segments
            .get_or_try_init(|| async { SegmentMap::load(db).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Drops the named shelves here at once and tells every other process.
    /// Call after the commit.
    pub fn announce(&self, shelves: HashSet<ShelfKey>) {
        self.bus.publish(shelves.into_iter().map(|k| {
            self.shelf.invalidate(&k);
            Invalidation::Shelf(k)
        }));
    }

    /// A number left the shelf (a hold, decided without reading its pool):
    /// selections here and in every other process skip it from now on,
    /// without reloading any shelf.
    pub fn announce_taken(&self, province: &str, city: &str, no: Msisdn) {
        self.shelf.take(province, city, no);
        self.bus.publish([Invalidation::Taken {
            province: province.to_string(),
            city: city.to_string(),
            phone_no: no.to_string(),
        }]);
    }

    pub fn announce_grants(&self) {
        self.grants.invalidate_all();
        self.bus.publish([Invalidation::Pools]);
    }
}

/// The number center's state: the shared parts and its own. Cheap to clone;
/// its background tasks hold it weakly and stop when the server drops it.
#[derive(Clone)]
pub struct NumberState(pub Arc<NumberInner>);

pub struct NumberInner {
    pub shared: Shared,
    pub center: NumberCenter,
}

impl NumberState {
    pub fn new(shared: Shared) -> NumberState {
        NumberState(Arc::new(NumberInner {
            center: NumberCenter::new(&shared.cfg.number),
            shared,
        }))
    }
}

impl std::ops::Deref for NumberState {
    type Target = NumberInner;
    fn deref(&self) -> &NumberInner {
        &self.0
    }
}

impl std::ops::Deref for NumberInner {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// Seeds premium levels and default rules, declares the event feed, starts
/// the invalidation listener and the sweeper.
pub async fn start(state: &NumberState) -> Result<(), ApiError> {
    migrate::ensure(&state.db).await?;
    rules::seed(state).await?;
    // Not fatal: until it exists the relay keeps number events pending.
    if let Err(e) = events::declare_feed(&state.mq).await {
        tracing::warn!(error = %e, "declaring the number event feed failed");
    }
    state.center.bus.spawn_sender(
        state.mq.clone(),
        Duration::from_millis(state.center.cfg.invalidation_linger_ms),
    );
    bus::spawn_listener(Arc::downgrade(&state.0));
    sweeper::spawn(Arc::downgrade(&state.0));
    Ok(())
}

/// A number and where it lives.
#[derive(Debug, Clone)]
pub struct Located {
    pub no: Msisdn,
    pub area: Area,
}

/// Parses a number and finds its area; `None` area means an unallocated segment.
pub async fn locate(state: &NumberState, raw: &str) -> Result<Located, ApiError> {
    let no = Msisdn::parse(raw).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let segs = state.center.segments(&state.db).await?;
    // A number of an unallocated segment cannot exist.
    let area = segs
        .area(no.segment_number())
        .cloned()
        .ok_or_else(|| ApiError::not_found("number", format!("{no} (segment not allocated)")))?;
    Ok(Located { no, area })
}

/// The answer of a hold-style call: the number center's result code.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumberResult {
    pub code: ResultCode,
    pub message: String,
    pub phone_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NumberStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_deadline: Option<haoka_core::time::Timestamp>,
}

impl NumberResult {
    pub fn new(code: ResultCode, phone_no: &str) -> NumberResult {
        NumberResult {
            code,
            message: code.message().to_string(),
            phone_no: phone_no.to_string(),
            status: None,
            hold_key: None,
            hold_deadline: None,
        }
    }
}

/// A city code that is not a city of the province.
pub fn unknown_city(province: &str, city: &str) -> ApiError {
    ApiError::not_found("city", format!("{city:?} of province {province}"))
}
