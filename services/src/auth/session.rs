//! Staff sessions: opaque random tokens; Redis holds them under the token's
//! SHA-256 (a Redis dump reveals no usable token) with an idle expiry, and the
//! absolute expiry is checked against the login time.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use crate::cache::{key, Cache};
use crate::config::SessionConfig;
use crate::problem::ApiError;

#[derive(Clone)]
pub struct Sessions {
    cache: Cache,
    idle: u64,
    absolute: u64,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub staff_id: i64,
    /// Unix milliseconds of the login.
    pub created_at: u64,
    /// The Redis key (hash of the token), to revoke it.
    pub id: String,
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

fn token_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Sessions {
    pub fn new(cache: Cache, cfg: &SessionConfig) -> Sessions {
        Sessions {
            cache,
            idle: cfg.idle_seconds.max(1),
            absolute: cfg.absolute_seconds.max(1),
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

    /// Looks the token up and extends its idle expiry (never past the absolute one).
    pub async fn touch(&self, token: &str) -> Result<Session, ApiError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::SessionInvalid);
        }
        let id = token_id(token);
        let k = session_key(&id);
        let mut c = self.cache.conn();
        let fields: HashMap<String, String> = c.hgetall(&k).await?;
        let (Some(staff_id), Some(created_at)) = (
            fields.get("staff_id").and_then(|v| v.parse::<i64>().ok()),
            fields.get("created_at").and_then(|v| v.parse::<u64>().ok()),
        ) else {
            return Err(ApiError::SessionInvalid);
        };
        let age_ms = now_ms().saturating_sub(created_at);
        let absolute_ms = self.absolute * 1000;
        if age_ms >= absolute_ms {
            let _: () = c.del(&k).await?;
            return Err(ApiError::SessionInvalid);
        }
        let ttl_ms = (self.idle * 1000).min(absolute_ms - age_ms);
        let _: () = c.pexpire(&k, ttl_ms as i64).await?;
        Ok(Session {
            staff_id,
            created_at,
            id,
        })
    }

    pub async fn revoke(&self, session: &Session) -> Result<(), ApiError> {
        let mut c = self.cache.conn();
        let _: () = c.del(session_key(&session.id)).await?;
        let _: () = c.srem(staff_key(session.staff_id), &session.id).await?;
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
