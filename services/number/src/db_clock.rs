//! The database's wall clock (`NOW()`), known here without a query per call:
//! its offset from this process's clock is measured once a minute. A hold
//! writes its deadline as a value from this clock, so the answer can name
//! the stored deadline without reading the row back, while the sweeper and
//! the `hold_deadline > NOW(3)` checks keep comparing on the database.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;

use haoka_core::db::Db;
use haoka_core::problem::ApiError;
use haoka_core::time::civil_from_days;

/// How long a measured offset is trusted.
const REFRESH: Duration = Duration::from_secs(60);

/// A DATETIME(3) value: milliseconds since 1970-01-01 00:00 on the
/// database's wall clock (its session time zone, no conversion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbTime(pub i64);

impl DbTime {
    pub fn plus_seconds(self, s: u64) -> DbTime {
        DbTime(self.0.saturating_add(s.saturating_mul(1000) as i64))
    }

    fn parts(self) -> (i64, u32, u32, i64, i64, i64, i64) {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ms)
    }

    /// As a SQL literal for a DATETIME(3) parameter.
    pub fn sql(self) -> String {
        let (y, m, d, h, mi, s, ms) = self.parts();
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}")
    }

    /// As the API shows deadlines (the same wall clock the columns hold).
    pub fn api(self) -> haoka_core::time::Timestamp {
        haoka_core::time::Timestamp::from_wall_millis(self.0)
    }
}

fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Default)]
pub struct DbClock {
    /// (when measured, database ms minus local ms)
    offset: Mutex<Option<(Instant, i64)>>,
}

impl DbClock {
    /// The database's `NOW(3)` as of now (within the query's round trip).
    pub async fn now(&self, db: &Db) -> Result<DbTime, ApiError> {
        let known = self
            .offset
            .lock()
            .ok()
            .and_then(|o| *o)
            .filter(|(at, _)| at.elapsed() < REFRESH);
        let offset = match known {
            Some((_, off)) => off,
            None => {
                let off = measure(db).await?;
                if let Ok(mut o) = self.offset.lock() {
                    *o = Some((Instant::now(), off));
                }
                off
            }
        };
        Ok(DbTime(local_ms() + offset))
    }
}

/// Database ms minus local ms, taken at the middle of the round trip.
async fn measure(db: &Db) -> Result<i64, ApiError> {
    let mut c = db.conn().await?;
    let before = local_ms();
    let ms: Option<i64> = c
        .query_first("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', NOW(6)) DIV 1000")
        .await?;
    let after = local_ms();
    let ms = ms.ok_or_else(|| ApiError::Internal("the database gave no NOW()".into()))?;
    Ok(ms - (before + after) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_database() {
        assert_eq!(DbTime(0).sql(), "1970-01-01 00:00:00.000");
        // 2024-02-29 23:59:59.123 (a leap day), then a year turning over.
        let t = DbTime(1_709_251_199_123);
        assert_eq!(t.sql(), "2024-02-29 23:59:59.123");
        assert_eq!(t.api().to_string(), "2024-02-29T23:59:59.123+00:00");
        assert_eq!(t.plus_seconds(1).sql(), "2024-03-01 00:00:00.123");
        assert_eq!(DbTime(1_767_225_599_999).sql(), "2025-12-31 23:59:59.999");
        assert_eq!(DbTime(1_767_225_600_000).sql(), "2026-01-01 00:00:00.000");
        assert_eq!(DbTime(951_782_400_000).sql(), "2000-02-29 00:00:00.000");
    }
}
