//! When a file is complete: either a marker `<name>.ok` sits beside it (the
//! sender writes it after the file), or its size stayed the same across two
//! polls. An empty file is never taken by size alone.

use std::collections::HashMap;

use super::Listed;

pub const MARKER: &str = ".ok";

/// A ready file and whether a marker said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub file: Listed,
    pub marker: bool,
}

/// Sizes seen at the previous poll, per source.
#[derive(Debug, Default)]
pub struct Tracker {
    seen: HashMap<(String, String), u64>,
}

impl Tracker {
    pub fn ready(&mut self, source: &str, listing: &[Listed]) -> Vec<Ready> {
        let markers: std::collections::HashSet<&str> = listing
            .iter()
            .filter_map(|l| l.name.strip_suffix(MARKER))
            .collect();
        let mut out = Vec::new();
        let mut now = HashMap::new();
        for l in listing {
            if l.name.ends_with(MARKER) || l.name.starts_with('.') {
                continue;
            }
            let key = (source.to_string(), l.name.clone());
            let marker = markers.contains(l.name.as_str());
            let stable = l.size > 0 && self.seen.get(&key) == Some(&l.size);
            if marker || stable {
                out.push(Ready {
                    file: l.clone(),
                    marker,
                });
            }
            now.insert(key, l.size);
        }
        // Forget this source's files that are gone; keep other sources'.
        self.seen.retain(|(s, _), _| s != source);
        self.seen.extend(now);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, size: u64) -> Listed {
        Listed {
            name: name.into(),
            size,
        }
    }

    #[test]
    fn stable_size_or_marker() {
        let mut t = Tracker::default();
        assert!(t.ready("s", &[l("a.csv", 10)]).is_empty());
        // grew: not yet
        assert!(t.ready("s", &[l("a.csv", 20)]).is_empty());
        let r = t.ready("s", &[l("a.csv", 20)]);
        assert_eq!(r.len(), 1);
        assert!(!r[0].marker);
        // a marker makes it ready at once
        let r = t.ready("s", &[l("b.csv", 5), l("b.csv.ok", 0)]);
        assert_eq!(
            r,
            vec![Ready {
                file: l("b.csv", 5),
                marker: true
            }]
        );
        // another source is tracked apart
        assert!(t.ready("x", &[l("a.csv", 20)]).is_empty());
    }
}
