//! MariaDB's conversions of numbers and strings to dates and times, for
//! comparing a DATE / DATETIME / TIME value with a literal (`HAVING md >
//! 20240301`, `HAVING mt = '1:00'`): the other side becomes a value of the
//! temporal type first. A value that is no valid date or time becomes the
//! zero value, as the server does (with a warning).

use bigdecimal::BigDecimal;

/// Which temporal type a value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TKind {
    Date,
    DateTime,
    Time,
}

/// A date, datetime or time broken into its parts. TIME keeps its hours
/// (up to 838) in `h` and its sign in `neg`; dates have `neg == false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Temporal {
    pub neg: bool,
    pub y: u32,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
    pub us: u32,
}

impl Temporal {
    /// One number ordering dates and datetimes (a date is its midnight).
    pub fn datetime_key(&self) -> i128 {
        super::value::date_key(
            self.y as i128,
            self.mo as i128,
            self.d as i128,
            self.h as i128,
            self.mi as i128,
            self.s as i128,
            self.us as i128,
        )
    }

    /// Signed microseconds of a TIME.
    pub fn time_key(&self) -> i128 {
        let v = ((self.h as i128 * 60 + self.mi as i128) * 60 + self.s as i128) * 1_000_000
            + self.us as i128;
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// The value as a number (`dt + 0`): YYYYMMDD, YYYYMMDDHHMMSS or HHMMSS,
    /// with microseconds as a fraction.
    pub fn number(&self, kind: TKind) -> BigDecimal {
        let int: i128 = match kind {
            TKind::Date => (self.y as i128 * 100 + self.mo as i128) * 100 + self.d as i128,
            TKind::DateTime => {
                ((((self.y as i128 * 100 + self.mo as i128) * 100 + self.d as i128) * 100
                    + self.h as i128)
                    * 100
                    + self.mi as i128)
                    * 100
                    + self.s as i128
            }
            TKind::Time => (self.h as i128 * 100 + self.mi as i128) * 100 + self.s as i128,
        };
        let n = BigDecimal::from(int)
            + if kind == TKind::Date {
                BigDecimal::from(0)
            } else {
                BigDecimal::new(self.us.into(), 6)
            };
        if self.neg {
            -n
        } else {
            n
        }
    }
}

fn valid_date(t: &Temporal) -> bool {
    // zero months and days are valid dates in the default sql_mode
    t.mo <= 12 && t.d <= 31 && t.h <= 23 && t.mi <= 59 && t.s <= 59
}

fn two_digit_year(y: u32) -> u32 {
    if y < 70 {
        2000 + y
    } else {
        1900 + y
    }
}

/// Microseconds of a fraction's digits (".5" -> 500000).
fn frac_us(digits: &str) -> u32 {
    let mut us = 0u32;
    for (i, c) in digits.bytes().take(6).enumerate() {
        us += (c - b'0') as u32 * 10u32.pow(5 - i as u32);
    }
    us
}

/// MariaDB's `number_to_datetime`: YYMMDD, YYYYMMDD, YYMMDDHHMMSS,
/// YYYYMMDDHHMMSS; a fraction counts only with a time part. None when it is
/// no datetime.
pub(crate) fn number_to_datetime(int: i128, frac: u32) -> Option<Temporal> {
    if int == 0 {
        return Some(Temporal::default());
    }
    let n = match int {
        i128::MIN..=100 => return None,
        101..=691_231 => (int + 20_000_000) * 1_000_000,
        691_232..=700_100 => return None,
        700_101..=991_231 => (int + 19_000_000) * 1_000_000,
        991_232..=10_000_100 => return None,
        10_000_101..=99_991_231 => int * 1_000_000,
        99_991_232..=100_999_999 => return None,
        101_000_000..=691_231_235_959 => int + 20_000_000_000_000,
        691_231_235_960..=700_100_999_999 => return None,
        700_101_000_000..=991_231_235_959 => int + 19_000_000_000_000,
        991_231_235_960..=99_991_231_235_959 => int,
        _ => return None,
    };
    let part = |div: i128| ((n / div) % 100) as u32;
    let t = Temporal {
        neg: false,
        y: (n / 10_000_000_000) as u32,
        mo: part(100_000_000),
        d: part(1_000_000),
        h: part(10_000),
        mi: part(100),
        s: part(1),
        us: if int > 99_991_231 { frac } else { 0 },
    };
    valid_date(&t).then_some(t)
}

/// MariaDB's lenient `str_to_datetime`: digits only are read as a number;
/// otherwise groups of digits with any punctuation between them (year,
/// month, day, then hour, minute, second after a space or `T`, then a
/// fraction), and anything after a valid date is ignored.
pub(crate) fn str_to_datetime(s: &str) -> Option<Temporal> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let v: i128 = int.parse().ok()?;
        return match int.len() {
            // a string of 6 or 12 digits has a two-digit year even when the
            // number would read otherwise
            6 | 8 | 12 | 14 => digits_datetime(int, frac),
            _ => number_to_datetime(v, frac_us(frac)),
        };
    }
    let b = s.as_bytes();
    let mut groups: Vec<&str> = Vec::new();
    let mut frac = "";
    let mut i = 0;
    let mut year_digits = 0;
    while i < b.len() && groups.len() < 6 {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            break;
        }
        if groups.is_empty() {
            year_digits = i - start;
        }
        groups.push(&s[start..i]);
        if i >= b.len() {
            break;
        }
        let sep = b[i];
        if groups.len() == 6 && sep == b'.' {
            let f = i + 1;
            let mut e = f;
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            frac = &s[f..e];
            break;
        }
        let date_time_sep = groups.len() == 3 && (sep == b' ' || sep == b'T');
        if !(sep.is_ascii_punctuation() || date_time_sep) {
            break;
        }
        i += 1;
    }
    if groups.len() < 3 {
        return None;
    }
    let num = |k: usize| {
        groups
            .get(k)
            .and_then(|g| g.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let y = if year_digits <= 2 {
        two_digit_year(num(0))
    } else {
        num(0)
    };
    let t = Temporal {
        neg: false,
        y,
        mo: num(1),
        d: num(2),
        h: num(3),
        mi: num(4),
        s: num(5),
        us: frac_us(frac),
    };
    valid_date(&t).then_some(t)
}

/// YYMMDD, YYYYMMDD, YYMMDDHHMMSS, YYYYMMDDHHMMSS written as one string.
fn digits_datetime(int: &str, frac: &str) -> Option<Temporal> {
    let (ylen, has_time) = match int.len() {
        6 => (2, false),
        8 => (4, false),
        12 => (2, true),
        _ => (4, true),
    };
    let p = |a: usize, l: usize| int[a..a + l].parse::<u32>().unwrap_or(0);
    let y = p(0, ylen);
    let r = ylen;
    let t = Temporal {
        neg: false,
        y: if ylen == 2 { two_digit_year(y) } else { y },
        mo: p(r, 2),
        d: p(r + 2, 2),
        h: if has_time { p(r + 4, 2) } else { 0 },
        mi: if has_time { p(r + 6, 2) } else { 0 },
        s: if has_time { p(r + 8, 2) } else { 0 },
        us: if has_time { frac_us(frac) } else { 0 },
    };
    valid_date(&t).then_some(t)
}

/// A number read as a TIME: [-]HHMMSS[.frac].
pub(crate) fn number_to_time(neg: bool, int: u128, frac: u32) -> Option<Temporal> {
    let (h, mi, s) = (
        (int / 10_000) as u32,
        ((int / 100) % 100) as u32,
        (int % 100) as u32,
    );
    (mi <= 59 && s <= 59 && h <= 838).then_some(Temporal {
        neg,
        h,
        mi,
        s,
        us: frac,
        ..Temporal::default()
    })
}

/// MariaDB's `str_to_time`: `[-][D ]H:MM[:SS][.frac]`, or digits read as
/// HHMMSS from the right (`'100'` is 00:01:00).
pub(crate) fn str_to_time(s: &str) -> Option<Temporal> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r.trim_start()),
        None => (false, s),
    };
    let (body, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !body.contains(':') {
        let digits: String = body.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            return None;
        }
        return number_to_time(neg, digits.parse().ok()?, frac_us(&frac));
    }
    let (days, hms) = match body.split_once(' ') {
        Some((d, rest)) if d.bytes().all(|b| b.is_ascii_digit()) => {
            (d.parse::<u32>().ok()?, rest.trim())
        }
        _ => (0, body),
    };
    let mut parts = hms.split(':');
    let mut next = || -> Option<u32> {
        match parts.next() {
            None => Some(0),
            Some(p) => {
                let d: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
                d.parse().ok()
            }
        }
    };
    let (h, mi, sec) = (next()?, next()?, next()?);
    let h = days * 24 + h;
    (mi <= 59 && sec <= 59 && h <= 838).then_some(Temporal {
        neg,
        h,
        mi,
        s: sec,
        us: frac_us(&frac),
        ..Temporal::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Temporal {
        Temporal {
            y,
            mo,
            d,
            h,
            mi,
            s,
            ..Temporal::default()
        }
    }

    #[test]
    fn numbers_as_datetimes() {
        assert_eq!(
            number_to_datetime(20240301, 0),
            Some(dt(2024, 3, 1, 0, 0, 0))
        );
        assert_eq!(number_to_datetime(240301, 0), Some(dt(2024, 3, 1, 0, 0, 0)));
        assert_eq!(number_to_datetime(990301, 0), Some(dt(1999, 3, 1, 0, 0, 0)));
        assert_eq!(
            number_to_datetime(20240301100000, 5),
            Some(Temporal {
                us: 5,
                ..dt(2024, 3, 1, 10, 0, 0)
            })
        );
        // a fraction of a date-only number is dropped (MariaDB: a Note)
        assert_eq!(
            number_to_datetime(20240301, 500_000),
            Some(dt(2024, 3, 1, 0, 0, 0))
        );
        assert_eq!(number_to_datetime(0, 0), Some(Temporal::default()));
        assert_eq!(number_to_datetime(123, 0), Some(dt(2000, 1, 23, 0, 0, 0)));
        for bad in [100, 2024, -1, 691232, 20241301, 99999999999999] {
            assert_eq!(number_to_datetime(bad, 0), None, "{bad}");
        }
        assert_eq!(
            number_to_datetime(20240001, 0),
            Some(dt(2024, 0, 1, 0, 0, 0))
        );
    }

    #[test]
    fn strings_as_datetimes() {
        let d = Some(dt(2024, 3, 1, 0, 0, 0));
        for s in [
            "2024-03-01",
            "2024-3-1",
            "20240301",
            "240301",
            "24-03-01",
            "2024.03.01",
            "2024-03-01 junk",
            "2024-03-01 00:00:00",
        ] {
            assert_eq!(str_to_datetime(s), d, "{s}");
        }
        assert_eq!(
            str_to_datetime("2024-03-01 10"),
            Some(dt(2024, 3, 1, 10, 0, 0))
        );
        assert_eq!(
            str_to_datetime("2024-03-01T10:00:00.5"),
            Some(Temporal {
                us: 500_000,
                ..dt(2024, 3, 1, 10, 0, 0)
            })
        );
        assert_eq!(
            str_to_datetime("20240301100000"),
            Some(dt(2024, 3, 1, 10, 0, 0))
        );
        assert_eq!(str_to_datetime("abc"), None);
        assert_eq!(str_to_datetime("2024-13-01"), None);
    }

    #[test]
    fn times() {
        let one = Some(Temporal {
            h: 1,
            ..Temporal::default()
        });
        for s in ["01:00:00", "1:00", "1:0:0", "010000", "01:00:00.000"] {
            assert_eq!(str_to_time(s), one, "{s}");
        }
        assert_eq!(str_to_time("100").map(|t| t.mi), Some(1));
        assert_eq!(str_to_time("1 01:00:00").map(|t| t.h), Some(25));
        assert_eq!(
            str_to_time("-01:00:00").map(|t| t.time_key()),
            Some(-3_600_000_000)
        );
        assert_eq!(number_to_time(false, 10000, 0), one);
        assert_eq!(number_to_time(false, 1, 0).map(|t| t.s), Some(1));
        assert_eq!(str_to_time("abc"), None);
        let t = str_to_time("10:00:00").unwrap();
        assert_eq!(t.number(TKind::Time), BigDecimal::from(100000));
    }
}
