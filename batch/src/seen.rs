//! The keys of a file's earlier lines, for "listed earlier in this file".
//! A 1,000,000-line file must fit in the loader's memory budget, so the
//! usual keys (phone numbers, ICCIDs: digit strings) are packed with their
//! length (a leading zero stays significant) into a u64 (up to 18 digits:
//! phone numbers, 8 bytes a key) or a u128 (up to 36: 19-20 digit
//! ICCIDs); other keys (staff numbers, codes) are kept as strings.

use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct Seen {
    short: HashSet<u64>,
    long: HashSet<u128>,
    other: HashSet<String>,
}

enum Packed {
    Short(u64),
    Long(u128),
    Other,
}

/// Up to 18 digits fit below 2^60 and 36 below 2^120; the length goes
/// above.
fn packed(k: &str) -> Packed {
    if k.is_empty() || k.len() > 36 || !k.bytes().all(|b| b.is_ascii_digit()) {
        return Packed::Other;
    }
    if k.len() <= 18 {
        return k
            .parse::<u64>()
            .map_or(Packed::Other, |v| Packed::Short(v | (k.len() as u64) << 60));
    }
    k.parse::<u128>().map_or(Packed::Other, |v| {
        Packed::Long(v | (k.len() as u128) << 120)
    })
}

impl Seen {
    pub fn contains(&self, k: &str) -> bool {
        match packed(k) {
            Packed::Short(p) => self.short.contains(&p),
            Packed::Long(p) => self.long.contains(&p),
            Packed::Other => self.other.contains(k),
        }
    }

    /// True when `k` was not seen before.
    pub fn insert(&mut self, k: &str) -> bool {
        match packed(k) {
            Packed::Short(p) => self.short.insert(p),
            Packed::Long(p) => self.long.insert(p),
            Packed::Other => self.other.insert(k.to_string()),
        }
    }

    /// Takes in the keys of `later` (the chunk that just went in).
    pub fn absorb(&mut self, later: Seen) {
        self.short.extend(later.short);
        self.long.extend(later.long);
        self.other.extend(later.other);
    }

    pub fn len(&self) -> usize {
        self.short.len() + self.long.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The keys of every line before a chunk: those applied (`applied`) and,
/// while the chunk before is still being written, that chunk's (`in_flight`).
/// The next chunk is checked while the one before commits, so its
/// "listed earlier" must see both without merging them first.
#[derive(Clone, Copy)]
pub struct Earlier<'a> {
    applied: &'a Seen,
    in_flight: Option<&'a Seen>,
}

impl<'a> Earlier<'a> {
    pub fn applied(applied: &'a Seen) -> Earlier<'a> {
        Earlier {
            applied,
            in_flight: None,
        }
    }

    pub fn with_in_flight(applied: &'a Seen, in_flight: &'a Seen) -> Earlier<'a> {
        Earlier {
            applied,
            in_flight: Some(in_flight),
        }
    }

    pub fn contains(&self, k: &str) -> bool {
        self.applied.contains(k) || self.in_flight.is_some_and(|f| f.contains(k))
    }
}

impl<S: AsRef<str>> Extend<S> for Seen {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for k in iter {
            self.insert(k.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_keep_their_length_and_others_are_strings() {
        let mut s = Seen::default();
        assert!(s.insert("13800000000"));
        assert!(!s.insert("13800000000"));
        assert!(s.insert("013800000000"), "a leading zero is another key");
        assert!(s.insert("89860012345678901234"));
        assert!(s.contains("89860012345678901234"));
        assert!(!s.contains("89860012345678901235"));
        assert!(s.insert("S001"));
        assert!(s.contains("S001"));
        assert!(s.insert(&"9".repeat(40)));
        assert!(s.contains(&"9".repeat(40)));
        assert!(s.insert(&"9".repeat(18)));
        assert!(s.insert(&"9".repeat(19)));
        assert!(!s.contains(&"9".repeat(17)));
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn earlier_lines_are_the_applied_and_the_in_flight_ones() {
        let mut applied = Seen::default();
        applied.insert("13800000000");
        let mut flight = Seen::default();
        flight.insert("13800000001");
        let only = Earlier::applied(&applied);
        assert!(only.contains("13800000000") && !only.contains("13800000001"));
        let both = Earlier::with_in_flight(&applied, &flight);
        assert!(both.contains("13800000000") && both.contains("13800000001"));
        assert!(!both.contains("13800000002"));
        applied.absorb(flight);
        assert!(applied.contains("13800000001") && applied.len() == 2);
    }
}
