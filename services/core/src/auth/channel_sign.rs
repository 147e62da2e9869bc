//! Channel API (能力开放) request signatures. A channel signs
//!
//! ```text
//! METHOD \n PATH[?QUERY] \n KEY_ID \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
//! ```
//!
//! with HMAC-SHA256 under its secret and sends `X-Haoka-Key`,
//! `X-Haoka-Timestamp` (unix seconds), `X-Haoka-Nonce` and `X-Haoka-Signature`
//! (hex). Stale timestamps and reused nonces are refused. The key id is
//! signed and must be spelled exactly as issued (24 lower-case hex digits),
//! and a nonce is remembered under the credential's own key id: a captured
//! call cannot be sent again under another spelling of the key.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use mysql_async::prelude::Queryable;
use sha2::{Digest, Sha256};

use crate::cache::key;
use crate::db::col;
use crate::problem::ApiError;
use crate::state::Shared;

pub const HDR_KEY: &str = "x-haoka-key";
pub const HDR_TIMESTAMP: &str = "x-haoka-timestamp";
pub const HDR_NONCE: &str = "x-haoka-nonce";
pub const HDR_SIGNATURE: &str = "x-haoka-signature";

/// Hex digits of a key id (12 random bytes).
pub const KEY_ID_LEN: usize = 24;

/// The parts of a call its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path with its query string, as sent.
    pub path: &'a str,
    pub key_id: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

impl Signed<'_> {
    pub fn string_to_sign(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path,
            self.key_id,
            self.timestamp,
            self.nonce,
            hex::encode(Sha256::digest(self.body))
        )
    }

    fn mac(&self, secret: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(self.string_to_sign().as_bytes());
        mac
    }

    /// The hex signature a channel sends.
    pub fn sign(&self, secret: &[u8]) -> String {
        hex::encode(self.mac(secret).finalize().into_bytes())
    }

    fn verify(&self, secret: &[u8], signature: &[u8]) -> bool {
        self.mac(secret).verify_slice(signature).is_ok()
    }
}

/// A key id exactly as the server issues them.
pub fn is_canonical_key(k: &str) -> bool {
    k.len() == KEY_ID_LEN && k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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
    state: &Shared,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    now_secs: u64,
) -> Result<ChannelCaller, ApiError> {
    let key_id = header(headers, HDR_KEY)?;
    if !is_canonical_key(key_id) {
        return Err(refuse(
            "signature_malformed",
            "X-Haoka-Key must be the key id as issued: 24 lower-case hex digits",
        ));
    }
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
            "SELECT c.channel_id, k.secret_sealed, c.code, c.province_code, c.rate_limit_per_minute, \
             k.key_id FROM channel_credential k JOIN channel c ON c.channel_id = k.channel_id \
             WHERE k.key_id = ? AND k.status = 'A' AND c.status = 'A'",
            (key_id,),
        )
        .await?;
    // The column compares without regard to case: only the very spelling
    // issued names the credential.
    let Some(row) = row.filter(|r| col::<String>(r, 5) == key_id) else {
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
    let signed = Signed {
        method,
        path,
        key_id,
        timestamp,
        nonce,
        body,
    };
    if !signed.verify(&secret, &sig) {
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
        let call = Signed {
            method: "POST",
            path: "/api/v1/open/ping",
            key_id: "0123456789abcdef01234567",
            timestamp: "100",
            nonce: "nonce-1",
            body: b"{}",
        };
        let base = call.sign(b"k");
        assert_eq!(base.len(), 64);
        let variants = [
            Signed {
                method: "GET",
                ..call
            },
            Signed {
                path: "/api/v1/open/pong",
                ..call
            },
            Signed {
                key_id: "0123456789ABCDEF01234567",
                ..call
            },
            Signed {
                timestamp: "101",
                ..call
            },
            Signed {
                nonce: "nonce-2",
                ..call
            },
            Signed {
                body: b"[]",
                ..call
            },
        ];
        for v in variants {
            assert_ne!(base, v.sign(b"k"), "{v:?}");
        }
        assert_ne!(base, call.sign(b"j"));
        assert!(call.verify(b"k", &hex::decode(&base).unwrap()));
    }

    #[test]
    fn only_issued_spellings_are_key_ids() {
        assert!(is_canonical_key("0123456789abcdef01234567"));
        assert!(!is_canonical_key("0123456789aBcdef01234567"));
        assert!(!is_canonical_key("0123456789abcdef0123456"));
        assert!(!is_canonical_key("0123456789abcdef0123456g"));
    }
}
