//! Who is asking the number center and what they may touch: a staff member
//! (province scope) or a channel (its own province), and their 号码池授权
//! pool rights. Numbers outside any pool are the public shelf of their
//! province; pool numbers need a grant (pool administrators — staff holding
//! pool:write — see every pool of their scope).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Permission;
use haoka_core::db::Db;
use haoka_core::problem::ApiError;

/// `pool_grant.grantee_kind` and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grantee {
    Staff(i64),
    Channel(i64),
}

impl Grantee {
    pub fn of(actor: &Actor) -> Grantee {
        match actor {
            Actor::Staff(p) => Grantee::Staff(p.staff_id),
            Actor::Channel(c) => Grantee::Channel(c.channel_id),
        }
    }
    pub fn kind(self) -> &'static str {
        match self {
            Grantee::Staff(_) => "S",
            Grantee::Channel(_) => "C",
        }
    }
    pub fn id(self) -> i64 {
        match self {
            Grantee::Staff(i) | Grantee::Channel(i) => i,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub province: String,
    pub view: bool,
    pub use_: bool,
    pub operate: bool,
}

/// The pools a caller may view / use / operate.
#[derive(Debug, Clone)]
pub struct PoolRights {
    pub all: bool,
    pub grants: Arc<HashMap<i64, Grant>>,
}

impl PoolRights {
    pub fn can_view(&self, pool: Option<i64>) -> bool {
        self.check(pool, |g| g.view || g.use_ || g.operate)
    }
    pub fn can_use(&self, pool: Option<i64>) -> bool {
        self.check(pool, |g| g.use_)
    }
    pub fn can_operate(&self, pool: Option<i64>) -> bool {
        self.check(pool, |g| g.operate)
    }
    fn check(&self, pool: Option<i64>, f: impl Fn(&Grant) -> bool) -> bool {
        match pool {
            None => true,
            Some(_) if self.all => true,
            Some(p) => self.grants.get(&p).is_some_and(f),
        }
    }
    /// Granted pools of a province the caller may view.
    pub fn viewable_in(&self, province: &str) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.province == province && (g.view || g.use_ || g.operate))
            .map(|(p, _)| *p)
            .collect();
        v.sort_unstable();
        v
    }
    /// Pools the caller may use, for the hold's WHERE clause (None: all).
    pub fn usable(&self) -> Option<Vec<i64>> {
        if self.all {
            return None;
        }
        let mut v: Vec<i64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.use_)
            .map(|(p, _)| *p)
            .collect();
        v.sort_unstable();
        Some(v)
    }
}

/// Pool grants per grantee and the active pools per province, cached
/// briefly and dropped on every pool or grant change (invalidation broadcast).
#[derive(Clone)]
pub struct GrantCache {
    inner: moka::future::Cache<Grantee, Arc<HashMap<i64, Grant>>>,
    pools: moka::future::Cache<String, Arc<Vec<i64>>>,
}

impl GrantCache {
    pub fn new(ttl_seconds: u64) -> GrantCache {
        GrantCache {
            inner: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(ttl_seconds.max(1)))
                .build(),
            pools: moka::future::Cache::builder()
                .max_capacity(100)
                .time_to_live(Duration::from_secs(ttl_seconds.max(1)))
                .build(),
        }
    }

    /// The active pools of a province.
    pub async fn pools_in(&self, db: &Db, province: &str) -> Result<Arc<Vec<i64>>, ApiError> {
        let p = province.to_string();
        self.pools
            .try_get_with(p.clone(), async move {
                let mut c = db.conn().await?;
                let ids: Vec<i64> = c
                    .exec(
                        "SELECT pool_id FROM number_pool WHERE province_code = ? AND status = 'A' \
                         ORDER BY pool_id",
                        (p,),
                    )
                    .await?;
                Ok::<_, ApiError>(Arc::new(ids))
            })
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }

    pub async fn rights(&self, db: &Db, actor: &Actor) -> Result<PoolRights, ApiError> {
        if pool_admin(actor) {
            return Ok(PoolRights {
                all: true,
                grants: Arc::default(),
            });
        }
        let who = Grantee::of(actor);
        let grants = self
            .inner
            .try_get_with(who, load(db, who))
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(PoolRights { all: false, grants })
    }

    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
        self.pools.invalidate_all();
    }
}

/// Pool administrators (pool:write) see and use every pool of their scope.
fn pool_admin(actor: &Actor) -> bool {
    matches!(actor, Actor::Staff(p) if p.has(Permission::PoolWrite))
}

async fn load(db: &Db, who: Grantee) -> Result<Arc<HashMap<i64, Grant>>, ApiError> {
    let mut c = db.conn().await?;
    let rows: Vec<(i64, String, i64, i64, i64)> = c
        .exec(
            "SELECT pool_id, province_code, can_view, can_use, can_operate FROM pool_grant \
             WHERE grantee_kind = ? AND grantee_id = ?",
            (who.kind(), who.id()),
        )
        .await?;
    Ok(Arc::new(
        rows.into_iter()
            .map(|(p, province, v, u, o)| {
                (
                    p,
                    Grant {
                        province,
                        view: v != 0,
                        use_: u != 0,
                        operate: o != 0,
                    },
                )
            })
            .collect(),
    ))
}
