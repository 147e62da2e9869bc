//! Staff sessions: opaque random tokens; Redis holds them under the token's
//! SHA-256 (a Redis dump reveals no usable token) with an idle expiry, and the
//! absolute expiry is checked against the login time.

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use redis::{AsyncCommands, Script};
use sha2::{Digest, Sha256};

use super::principal_cache::PrincipalCache;
use crate::cache::{key, Cache};
use crate::config::SessionConfig;
use crate::problem::ApiError;

#[derive(Clone)]
pub struct Sessions {
    cache: Cache,
    idle: u64,
    absolute: u64,
    /// What each live session resolved to, reused briefly (see rbac).
    pub principals: PrincipalCache,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub staff_id: i64,
    /// Unix milliseconds of the login.
    pub created_at: u64,
    /// The Redis key (hash of the token), to revoke it.
    pub id: String,
    /// The principal epoch read with the session (see `principals_changed`).
    pub principal_epoch: u64,
}

/// What the client gets at login.
pub struct Issued {
    pub token: String,
    /// Unix seconds when the session ends at the latest.
    pub absolute_expiry: u64,
    pub idle_seconds: u64,
}

pub fn now_secs() -> u64 {
    now_ms() / 1000
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn session_key(id: &str) -> String {
    key(&["session", id])
}

fn staff_key(staff_id: i64) -> String {
    key(&["staff-sessions", &staff_id.to_string()])
}

fn principal_epoch_key() -> String {
    key(&["principal-epoch"])
}

/// The session lookup in one round trip: the fields, the absolute expiry
/// (the session is deleted past it), the idle expiry pushed out (never past
/// the absolute one), and the principal epoch.
/// KEYS: session, principal epoch; ARGV: now, idle, absolute (ms).
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local f = redis.call('HMGET', KEYS[1], 'staff_id', 'created_at')
if not f[1] or not f[2] then return false end
local age = tonumber(ARGV[1]) - tonumber(f[2])
local absolute = tonumber(ARGV[3])
if age >= absolute then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), absolute - age))
return {f[1], f[2], redis.call('GET', KEYS[2]) or '0'}
",
    )
});

fn token_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    pub fn new(cache: Cache, cfg: &SessionConfig) -> Sessions {
        Sessions {
            cache,
            idle: cfg.idle_seconds.max(1),
            absolute: cfg.absolute_seconds.max(1),
            principals: PrincipalCache::new(cfg.principal_cache_ms),
        }
    }

    pub async fn create(&self, staff_id: i64) -> Result<Issued, ApiError> {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let id = token_id(&token);
        let now = now_ms();
        let mut c = self.cache.conn();
        let k = session_key(&id);
        let _: () = c
            .hset_multiple(
                &k,
                &[
                    ("staff_id", staff_id.to_string()),
                    ("created_at", now.to_string()),
                ],
            )
            .await?;
        let _: () = c.expire(&k, self.idle.min(self.absolute) as i64).await?;
        // The per-staff index lets a disable or password reset end every session.
        let sk = staff_key(staff_id);
        let _: () = c.sadd(&sk, &id).await?;
        let _: () = c.expire(&sk, self.absolute as i64).await?;
        Ok(Issued {
            token,
            absolute_expiry: now / 1000 + self.absolute,
            idle_seconds: self.idle,
        })
    }

    /// Looks the token up and extends its idle expiry (never past the
    /// absolute one), reading the principal epoch in the same round trip.
    pub async fn touch(&self, token: &str) -> Result<Session, ApiError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::SessionInvalid);
        }
        let id = token_id(token);
        let mut c = self.cache.conn();
        let found: Option<(String, String, String)> = TOUCH
            .key(session_key(&id))
            .key(principal_epoch_key())
            .arg(now_ms())
            .arg(self.idle * 1000)
            .arg(self.absolute * 1000)
            .invoke_async(&mut c)
            .await?;
        let Some((staff_id, created_at, epoch)) = found else {
            return Err(ApiError::SessionInvalid);
        };
        let (Ok(staff_id), Ok(created_at)) = (staff_id.parse::<i64>(), created_at.parse::<u64>())
        else {
            return Err(ApiError::SessionInvalid);
        };
        Ok(Session {
            staff_id,
            created_at,
            id,
            principal_epoch: epoch.parse().unwrap_or(0),
        })
    }

    /// Tells every process that staff, roles, grants or scopes changed: a
    /// cached principal resolved under an older epoch is not used again.
    /// Call after the change commits.
    pub async fn principals_changed(&self) -> Result<(), ApiError> {
        let mut c = self.cache.conn();
        let _: u64 = c.incr(principal_epoch_key(), 1).await?;
        Ok(())
    }

    pub async fn revoke(&self, session: &Session) -> Result<(), ApiError> {
        let mut c = self.cache.conn();
        let _: () = c.del(session_key(&session.id)).await?;
        let _: () = c.srem(staff_key(session.staff_id), &session.id).await?;
        Ok(())
    }

    /// Ends every session of `keep`'s staff member but `keep` itself.
    pub async fn revoke_others(&self, keep: &Session) -> Result<(), ApiError> {
        let mut c = self.cache.conn();
        let sk = staff_key(keep.staff_id);
        let ids: Vec<String> = c.smembers(&sk).await?;
        for id in ids.iter().filter(|id| **id != keep.id) {
            let _: () = c.del(session_key(id)).await?;
            let _: () = c.srem(&sk, id).await?;
        }
        Ok(())
    }

    /// Ends every session of a staff member.
    pub async fn revoke_all(&self, staff_id: i64) -> Result<(), ApiError> {
        let mut c = self.cache.conn();
        let sk = staff_key(staff_id);
        let ids: Vec<String> = c.smembers(&sk).await?;
        for id in ids {
            let _: () = c.del(session_key(&id)).await?;
        }
        let _: () = c.del(&sk).await?;
        Ok(())
    }
}
