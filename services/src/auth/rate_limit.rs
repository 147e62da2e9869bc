//! Per-channel call limits: a fixed one-minute window counted in Redis, shared
//! by every server process.

use redis::Script;

use crate::cache::{key, Cache};
use crate::problem::ApiError;

/// INCR and start the window's expiry on its first call, atomically.
const WINDOW_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Counts one call of `channel_id`; refuses it once the minute's limit is used.
pub async fn check(
    cache: &Cache,
    channel_id: i64,
    per_minute: u32,
    now_secs: u64,
) -> Result<(), ApiError> {
    let window = now_secs / 60;
    let k = key(&["rate", &channel_id.to_string(), &window.to_string()]);
    let mut c = cache.conn();
    let n: u64 = Script::new(WINDOW_SCRIPT)
        .key(&k)
        .arg(120)
        .invoke_async(&mut c)
        .await?;
    if n > u64::from(per_minute) {
        return Err(ApiError::RateLimited(per_minute));
    }
    Ok(())
}
