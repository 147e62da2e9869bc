//! The failed-password budget of a staff member, kept in Redis and decided
//! before the (slow) password check: a check first claims a slot of the
//! `max_failures` a period allows, atomically, so parallel guesses cannot
//! all be verified while the first ones are still hashing. A right password
//! gives its slot back (the count starts again); the failure that uses the
//! last slot locks the account for `lock_minutes` (the period restarts from
//! it); a claim past the budget is refused unverified. `lock_minutes = 0`
//! counts but never locks: the failure that would lock clears the count.
//!
//! Logins and password changes (the old password) draw on the same budget.
//! `staff.locked_until` mirrors the lock for the staff views and is checked
//! too; an unlock or password reset clears both.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};

use super::login_limits::LoginLimits;
use crate::cache::{key, Cache};
use crate::problem::ApiError;

/// The period a first failure opens when no lock is configured.
const DEFAULT_PERIOD_MS: u64 = 60_000;

/// KEYS: the staff member's counter; ARGV: max failures, period (ms).
/// Returns {1, slot} for a granted claim, {0, ms left} for a refused one.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then left = 0 end
  return {0, left}
end
return {1, n}
",
    )
});

/// KEYS: the counter; ARGV: lock (ms, 0 = none). The failure that used the
/// last slot: lock (the counter lives on for the lock) or start over.
static LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if tonumber(ARGV[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
else
  redis.call('DEL', KEYS[1])
end
return 1
",
    )
});

/// The Redis key counting the password checks of `staff_id` in the current period.
pub fn counter(staff_id: i64) -> String {
    key(&["login-failures", &staff_id.to_string()])
}

fn lock_ms(limits: &LoginLimits) -> u64 {
    u64::from(limits.lock_minutes) * 60_000
}

/// A claimed right to check one password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    staff_id: i64,
    number: u64,
}

/// What a failed check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Slots are left in this period.
    Counted,
    /// This failure used the last slot: the account is locked now.
    LockedNow,
}

/// Claims a slot, or says how long the account stays locked (seconds).
pub async fn claim(
    cache: &Cache,
    staff_id: i64,
    limits: &LoginLimits,
) -> Result<Result<Slot, u64>, ApiError> {
    let period = match lock_ms(limits) {
        0 => DEFAULT_PERIOD_MS,
        ms => ms,
    };
    let mut c = cache.conn();
    let (granted, n): (i64, u64) = CLAIM
        .key(counter(staff_id))
        .arg(limits.max_failures.max(1))
        .arg(period)
        .invoke_async(&mut c)
        .await?;
    Ok(if granted == 1 {
        Ok(Slot {
            staff_id,
            number: n,
        })
    } else {
        Err(n.div_ceil(1000).max(1))
    })
}

/// The password was right: the count starts again.
pub async fn succeeded(cache: &Cache, slot: Slot) -> Result<(), ApiError> {
    clear(cache, slot.staff_id).await
}

/// The password was wrong.
pub async fn failed(cache: &Cache, slot: Slot, limits: &LoginLimits) -> Result<Failure, ApiError> {
    if slot.number < u64::from(limits.max_failures.max(1)) {
        return Ok(Failure::Counted);
    }
    let mut c = cache.conn();
    let _: i64 = LOCK
        .key(counter(slot.staff_id))
        .arg(lock_ms(limits))
        .invoke_async(&mut c)
        .await?;
    Ok(if limits.lock_minutes > 0 {
        Failure::LockedNow
    } else {
        Failure::Counted
    })
}

/// Forgets a staff member's failures (unlock, password reset or change).
pub async fn clear(cache: &Cache, staff_id: i64) -> Result<(), ApiError> {
    let mut c = cache.conn();
    let _: () = c.del(counter(staff_id)).await?;
    Ok(())
}
