//! Call limits: fixed one-minute windows counted in Redis, shared by every
//! server process — per channel (after its signature is verified) and per
//! source address (before anything else is done with a channel call, so
//! unsigned floods cost one Redis round trip each and nothing more).

use std::net::IpAddr;

use redis::Script;

use crate::cache::{key, Cache};
use crate::problem::ApiError;

/// INCR and start the window's expiry on its first call, atomically.
const WINDOW_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Counts one call in the current minute of the window named by `parts`;
/// returns the calls counted so far (this one included).
async fn count(cache: &Cache, parts: &[&str], now_secs: u64) -> Result<u64, ApiError> {
    let window = (now_secs / 60).to_string();
    let mut names = parts.to_vec();
    names.push(&window);
    let mut c = cache.conn();
    Ok(Script::new(WINDOW_SCRIPT)
        .key(key(&names))
        .arg(120)
        .invoke_async(&mut c)
        .await?)
}

/// Counts one call of `channel_id`; refuses it once the minute's limit is used.
pub async fn check(
    cache: &Cache,
    channel_id: i64,
    per_minute: u32,
    now_secs: u64,
) -> Result<(), ApiError> {
    let n = count(cache, &["rate", &channel_id.to_string()], now_secs).await?;
    if n > u64::from(per_minute) {
        return Err(ApiError::RateLimited(per_minute));
    }
    Ok(())
}

/// What the per-address limit says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceVerdict {
    Allowed,
    /// The first call of the window over the limit (worth one log row).
    FirstRefused,
    /// Later refusals in the same window.
    Refused,
}

/// Counts one channel-API call from `ip` (`per_minute` 0: no limit).
pub async fn check_source(
    cache: &Cache,
    ip: IpAddr,
    per_minute: u32,
    now_secs: u64,
) -> Result<SourceVerdict, ApiError> {
    if per_minute == 0 {
        return Ok(SourceVerdict::Allowed);
    }
    let n = count(cache, &["source-rate", &ip.to_string()], now_secs).await?;
    let limit = u64::from(per_minute);
    Ok(if n <= limit {
        SourceVerdict::Allowed
    } else if n == limit + 1 {
        SourceVerdict::FirstRefused
    } else {
        SourceVerdict::Refused
    })
}
