//! Channel API (能力开放) request signatures. A channel signs
//!
//! ```text
//! METHOD \n PATH[?QUERY] \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
//! ```
//!
//! with HMAC-SHA256 under its secret and sends `X-Haoka-Key`,
//! `X-Haoka-Timestamp` (unix seconds), `X-Haoka-Nonce` and `X-Haoka-Signature`
//! (hex). Stale timestamps and reused nonces are refused.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use mysql_async::prelude::Queryable;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::cache::key;
use crate::db::col;
use crate::problem::ApiError;

pub const HDR_KEY: &str = "x-haoka-key";
pub const HDR_TIMESTAMP: &str = "x-haoka-timestamp";
pub const HDR_NONCE: &str = "x-haoka-nonce";
pub const HDR_SIGNATURE: &str = "x-haoka-signature";

pub fn string_to_sign(
    method: &str,
    path: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{path}\n{timestamp}\n{nonce}\n{}",
        hex::encode(Sha256::digest(body))
    )
}

/// The hex signature a channel sends.
pub fn sign(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(string_to_sign(method, path, timestamp, nonce, body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The channel behind a verified request.
#[derive(Debug, Clone)]
pub struct ChannelCaller {
    pub channel_id: i64,
    pub channel_code: String,
    pub province: Option<String>,
    pub key_id: String,
    pub rate_limit_per_minute: u32,
}

fn refuse(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Signature {
        code,
        message: message.into(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refuse("signature_missing", format!("header {name} is required")))
}

/// The key id a request claims (for the interface log, before verification).
pub fn claimed_key(headers: &HeaderMap) -> Option<String> {
    header(headers, HDR_KEY)
        .ok()
        .filter(|k| k.len() == 24 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// Checks timestamp, signature and nonce (in that order, so a forged request
/// cannot burn a real nonce) and returns the calling channel.
pub async fn verify(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    now_secs: u64,
) -> Result<ChannelCaller, ApiError> {
    let key_id = header(headers, HDR_KEY)?;
    let timestamp = header(headers, HDR_TIMESTAMP)?;
    let nonce = header(headers, HDR_NONCE)?;
    let signature = header(headers, HDR_SIGNATURE)?;
    let ts: u64 = timestamp.parse().map_err(|_| {
        refuse(
            "signature_malformed",
            "X-Haoka-Timestamp must be unix seconds",
        )
    })?;
    let skew = state.cfg.channel_api.max_clock_skew_seconds;
    if ts.abs_diff(now_secs) > skew {
        return Err(refuse(
            "stale_timestamp",
            format!("X-Haoka-Timestamp is more than {skew} s away from the server clock"),
        ));
    }
    if nonce.len() < 8
        || nonce.len() > 64
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(refuse(
            "signature_malformed",
            "X-Haoka-Nonce must be 8 to 64 letters, digits, '-' or '_'",
        ));
    }
    let sig = hex::decode(signature)
        .map_err(|_| refuse("signature_malformed", "X-Haoka-Signature must be hex"))?;
    let mut conn = state.db.conn().await?;
    let row: Option<mysql_async::Row> = conn
        .exec_first(
            "SELECT c.channel_id, k.secret_sealed, c.code, c.province_code, c.rate_limit_per_minute \
             FROM channel_credential k JOIN channel c ON c.channel_id = k.channel_id \
             WHERE k.key_id = ? AND k.status = 'A' AND c.status = 'A'",
            (key_id,),
        )
        .await?;
    let Some(row) = row else {
        return Err(refuse(
            "unknown_key",
            "no active credential has this key id",
        ));
    };
    let (channel_id, sealed, channel_code, province, limit): (
        i64,
        Vec<u8>,
        String,
        Option<String>,
        i64,
    ) = (
        col(&row, 0),
        col(&row, 1),
        col(&row, 2),
        col(&row, 3),
        col(&row, 4),
    );
    let secret = state
        .sealer
        .open(&sealed)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
    mac.update(string_to_sign(method, path, timestamp, nonce, body).as_bytes());
    if mac.verify_slice(&sig).is_err() {
        return Err(refuse(
            "bad_signature",
            "the signature does not match the request",
        ));
    }
    let mut c = state.cache.conn();
    let first: bool = redis::cmd("SET")
        .arg(key(&["nonce", key_id, nonce]))
        .arg(1)
        .arg("NX")
        .arg("EX")
        .arg(skew * 2 + 1)
        .query_async::<Option<String>>(&mut c)
        .await?
        .is_some();
    if !first {
        return Err(refuse("replayed_nonce", "this nonce was already used"));
    }
    Ok(ChannelCaller {
        channel_id,
        channel_code,
        province,
        key_id: key_id.to_string(),
        rate_limit_per_minute: limit.clamp(0, i64::from(u32::MAX)) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_every_part() {
        let base = sign(b"k", "POST", "/api/v1/open/ping", "100", "nonce-1", b"{}");
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            sign(b"k", "GET", "/api/v1/open/ping", "100", "nonce-1", b"{}")
        );
        assert_ne!(
            base,
            sign(b"k", "POST", "/api/v1/open/pong", "100", "nonce-1", b"{}")
        );
        assert_ne!(
            base,
            sign(b"k", "POST", "/api/v1/open/ping", "101", "nonce-1", b"{}")
        );
        assert_ne!(
            base,
            sign(b"k", "POST", "/api/v1/open/ping", "100", "nonce-2", b"{}")
        );
        assert_ne!(
            base,
            sign(b"k", "POST", "/api/v1/open/ping", "100", "nonce-1", b"[]")
        );
        assert_ne!(
            base,
            sign(b"j", "POST", "/api/v1/open/ping", "100", "nonce-1", b"{}")
        );
    }
}
