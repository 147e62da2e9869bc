//! The one timestamp form of the API: RFC 3339 with the offset,
//! `2026-12-01T21:40:55.508+00:00`. Every DATETIME a response carries is
//! selected with [`ts_col!`] and read as a [`Timestamp`], so no endpoint can
//! answer in a form of its own.
//!
//! DATETIME columns hold the database's wall clock (its session time zone,
//! `NOW(3)`); the offset of that clock is a fact about the database, learned
//! once at start-up ([`learn_offset`]) and kept process-wide because a
//! serializer has no state to ask.

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{FromValueError, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

/// A DATETIME column as the text [`Timestamp`] reads (one SQL form for all).
#[macro_export]
macro_rules! ts_col {
    ($col:literal) => {
        concat!("DATE_FORMAT(", $col, ", '%Y-%m-%d %H:%i:%s.%f')")
    };
}

/// Minutes the database's wall clock is ahead of UTC.
static DB_OFFSET_MINUTES: AtomicI32 = AtomicI32::new(0);

/// Reads the database's UTC offset (once per process start).
pub async fn learn_offset<Q: Queryable>(c: &mut Q) -> Result<i32, mysql_async::Error> {
    let minutes: Option<i64> = c
        .query_first("SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())")
        .await?;
    let m = minutes.unwrap_or(0) as i32;
    DB_OFFSET_MINUTES.store(m, Ordering::Relaxed);
    Ok(m)
}

/// A point in time on the database's wall clock, in milliseconds since
/// 1970-01-01 00:00 of that clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn from_wall_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub fn wall_millis(self) -> i64 {
        self.0
    }

    /// A Unix time (seconds, UTC) on the database's wall clock.
    pub fn from_unix_secs(secs: u64) -> Timestamp {
        let off = i64::from(DB_OFFSET_MINUTES.load(Ordering::Relaxed)) * 60_000;
        Timestamp((secs as i64).saturating_mul(1000).saturating_add(off))
    }

    /// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH:MM]`: the wall clock (an
    /// offset, when given, is the one the text was written in, not applied).
    pub fn parse(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 19 || !matches!(b[10], b' ' | b'T') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let t = s.get(r)?;
            t.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| t.parse().ok())?
        };
        if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut rest = &s[19..];
        let mut ms = 0;
        if let Some(f) = rest.strip_prefix('.') {
            let digits = f.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let frac = &f[..digits];
            ms = format!("{:0<3}", &frac[..digits.min(3)]).parse().ok()?;
            rest = &f[digits..];
        }
        let zone_ok = rest.is_empty()
            || rest == "Z"
            || (rest.len() == 6
                && matches!(rest.as_bytes()[0], b'+' | b'-')
                && rest.as_bytes()[3] == b':');
        if !zone_ok {
            return None;
        }
        let days = days_from_civil(y, mo as u32, d as u32);
        Some(Timestamp(
            ((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms,
        ))
    }
}

/// A calendar day `YYYY-MM-DD` as the DATETIME text of its midnight
/// (for range filters), if it is one.
pub fn midnight(day: &str) -> Option<String> {
    let text = format!("{day} 00:00:00");
    (day.len() == 10 && Timestamp::parse(&text).is_some()).then_some(text)
}

/// Day count since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        let off = DB_OFFSET_MINUTES.load(Ordering::Relaxed);
        let sign = if off < 0 { '-' } else { '+' };
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}{sign}{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
            off.unsigned_abs() / 60,
            off.unsigned_abs() % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {s:?}")))
    }
}

impl TryFrom<Value> for Timestamp {
    type Error = FromValueError;
    fn try_from(v: Value) -> Result<Timestamp, FromValueError> {
        match &v {
            Value::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(Timestamp::parse)
                .ok_or(FromValueError(v)),
            Value::Date(y, mo, d, h, mi, s, us) => Ok(Timestamp(
                (days_from_civil(i64::from(*y), u32::from(*mo), u32::from(*d)) * 86_400
                    + i64::from(*h) * 3600
                    + i64::from(*mi) * 60
                    + i64::from(*s))
                    * 1000
                    + i64::from(*us / 1000),
            )),
            _ => Err(FromValueError(v)),
        }
    }
}

/// As a DATETIME(3) parameter (the wall clock, like the columns).
impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Value {
        let s = t.to_string();
        Value::Bytes(format!("{} {}", &s[..10], &s[11..23]).into_bytes())
    }
}

impl FromValue for Timestamp {
    type Intermediate = Timestamp;
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "RFC 3339 with the offset, e.g. 2026-12-01T21:40:55.508+08:00",
            ))
            .into()
    }
}
impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_database_text_and_writes_rfc_3339() {
        let t = Timestamp::parse("2024-02-29 23:59:59.123000").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.123+00:00");
        assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        assert_eq!(
            Timestamp::parse("2026-12-01 21:40:55.000000")
                .unwrap()
                .to_string(),
            "2026-12-01T21:40:55.000+00:00"
        );
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(
            Value::from(t),
            Value::Bytes(b"2024-02-29 23:59:59.123".to_vec())
        );
        assert_eq!(Timestamp::try_from(Value::from(t)).unwrap(), t);
        assert_eq!(
            Timestamp::try_from(Value::Date(2000, 2, 29, 0, 0, 1, 5000)).unwrap(),
            Timestamp::parse("2000-02-29 00:00:01.005").unwrap()
        );
        for bad in [
            "",
            "2026-12-01",
            "2026-13-01 00:00:00",
            "2026-12-01 00:00:00+8",
            "x026-12-01 00:00:00",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
        for days in [-1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
