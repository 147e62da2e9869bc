//! The keys of a file's earlier lines, for "listed earlier in this file".
//! A 1,000,000-line file must fit in the loader's memory budget, so the
//! usual keys (phone numbers, ICCIDs: digit strings) are packed into a
//! u128 with their length (a leading zero stays significant); other keys
//! (staff numbers, codes) are kept as strings.

use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct Seen {
    digits: HashSet<u128>,
    other: HashSet<String>,
}

/// Up to 36 digits fit below 2^120; the length goes above.
fn packed(k: &str) -> Option<u128> {
    if k.is_empty() || k.len() > 36 || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u128 = k.parse().ok()?;
    Some(v | (k.len() as u128) << 120)
}

impl Seen {
    pub fn contains(&self, k: &str) -> bool {
        match packed(k) {
            Some(p) => self.digits.contains(&p),
            None => self.other.contains(k),
        }
    }

    /// True when `k` was not seen before.
    pub fn insert(&mut self, k: &str) -> bool {
        match packed(k) {
            Some(p) => self.digits.insert(p),
            None => self.other.insert(k.to_string()),
        }
    }

    pub fn len(&self) -> usize {
        self.digits.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        assert_eq!(s.len(), 5);
    }
}
