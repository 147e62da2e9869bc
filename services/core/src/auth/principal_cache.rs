//! A session's resolved staff row, permission codes and province scope,
//! reused for a short time so a request does not pay three queries through
//! the proxy before its real work. An entry is used only while the principal
//! epoch (a Redis counter read with the session itself, bumped by every
//! permission-center change) is the one it was loaded under, so a change in
//! any process applies to the next request everywhere; revoked sessions are
//! gone from Redis and never reach the cache.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::scope::Scope;
use super::session::Session;

/// What a session resolves to.
#[derive(Debug)]
pub struct Resolved {
    pub staff_no: String,
    pub province: Option<String>,
    pub permissions: HashSet<String>,
    pub scope: Scope,
    pub must_change_password: bool,
}

struct Entry {
    staff_id: i64,
    epoch: u64,
    resolved: Arc<Resolved>,
}

/// Keyed by the session id (the token's hash, never the token).
#[derive(Clone)]
pub struct PrincipalCache {
    /// None: caching is off (`principal_cache_ms = 0`).
    inner: Option<moka::future::Cache<String, Arc<Entry>>>,
}

impl PrincipalCache {
    pub fn new(ttl_ms: u64) -> PrincipalCache {
        PrincipalCache {
            inner: (ttl_ms > 0).then(|| {
                moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_millis(ttl_ms))
                    .build()
            }),
        }
    }

    /// The cached principal of `session`, if loaded under its current epoch.
    pub async fn get(&self, session: &Session) -> Option<Arc<Resolved>> {
        let e = self.inner.as_ref()?.get(&session.id).await?;
        (e.epoch == session.principal_epoch && e.staff_id == session.staff_id)
            .then(|| e.resolved.clone())
    }

    /// Remembers what `session` resolved to; the epoch is the one read with
    /// the session, before the load, so a change racing the load is caught.
    pub async fn put(&self, session: &Session, resolved: Arc<Resolved>) {
        if let Some(c) = &self.inner {
            let e = Entry {
                staff_id: session.staff_id,
                epoch: session.principal_epoch,
                resolved,
            };
            c.insert(session.id.clone(), Arc::new(e)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(epoch: u64) -> Session {
        Session {
            staff_id: 7,
            created_at: 0,
            id: "abc".into(),
            principal_epoch: epoch,
        }
    }

    fn resolved() -> Arc<Resolved> {
        Arc::new(Resolved {
            staff_no: "s7".into(),
            province: None,
            permissions: HashSet::new(),
            scope: Scope::All,
            must_change_password: false,
        })
    }

    #[tokio::test]
    async fn an_entry_serves_only_its_epoch() {
        let c = PrincipalCache::new(60_000);
        assert!(c.get(&session(3)).await.is_none());
        c.put(&session(3), resolved()).await;
        assert_eq!(c.get(&session(3)).await.unwrap().staff_no, "s7");
        assert!(c.get(&session(4)).await.is_none(), "epoch moved on");
        let off = PrincipalCache::new(0);
        off.put(&session(3), resolved()).await;
        assert!(off.get(&session(3)).await.is_none(), "caching off");
    }
}
