//! XA transaction ids of this proxy.
//!
//! `gtrid` = `hk<process tag><sequence>@<schema>.<place>`: unique over
//! processes and restarts, and it names the coordinator (the place whose
//! decision table holds the outcome). `bqual` = `<schema>.<place>` of the
//! branch. Our own formatID keeps foreign XA transactions out of recovery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::rules::Place;

/// formatID of haoka's XA branches ("HKXA").
pub const FORMAT_ID: u32 = 0x484B_5841;

/// A transaction's coordinator or branch location: (schema name, place).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Site {
    pub schema: String,
    pub place: Place,
}

impl Site {
    fn label(&self) -> String {
        let p = match self.place {
            Place::Data(i) => i.to_string(),
            Place::Global => "g".into(),
        };
        format!("{}.{p}", self.schema)
    }

    fn parse(s: &str) -> Option<Site> {
        let (schema, p) = s.rsplit_once('.')?;
        let place = match p {
            "g" => Place::Global,
            n => Place::Data(n.parse().ok()?),
        };
        (!schema.is_empty()).then(|| Site {
            schema: schema.to_string(),
            place,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Xid {
    pub gtrid: String,
    pub bqual: String,
}

/// Characters our ids are made of; anything else is not ours (and never
/// reaches SQL text).
fn safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

/// A new global transaction id coordinated at `coordinator`.
pub fn new_gtrid(coordinator: &Site) -> String {
    static TAG: OnceLock<u64> = OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(1);
    let tag = *TAG.get_or_init(|| rand::random::<u64>() & 0xffff_ffff_ffff);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("hk{tag:012x}{seq:x}@{}", coordinator.label())
}

impl Xid {
    pub fn new(gtrid: &str, branch: &Site) -> Xid {
        Xid {
            gtrid: gtrid.to_string(),
            bqual: branch.label(),
        }
    }

    /// `'gtrid','bqual',formatID` for XA statements.
    pub fn sql(&self) -> String {
        format!("'{}','{}',{FORMAT_ID}", self.gtrid, self.bqual)
    }

    /// Where the decision of this transaction is logged.
    pub fn coordinator(&self) -> Option<Site> {
        Site::parse(self.gtrid.rsplit_once('@')?.1)
    }

    /// The branch's own location.
    pub fn branch(&self) -> Option<Site> {
        Site::parse(&self.bqual)
    }

    /// One row of `XA RECOVER` (formatID, gtrid_length, bqual_length, data):
    /// `Some` only for a well-formed xid of ours.
    pub fn from_recover(
        format_id: i64,
        gtrid_len: usize,
        bqual_len: usize,
        data: &[u8],
    ) -> Option<Xid> {
        if format_id != i64::from(FORMAT_ID) || data.len() < gtrid_len + bqual_len {
            return None;
        }
        let gtrid = std::str::from_utf8(&data[..gtrid_len]).ok()?;
        let bqual = std::str::from_utf8(&data[gtrid_len..gtrid_len + bqual_len]).ok()?;
        if !safe(gtrid) || !safe(bqual) || !gtrid.starts_with("hk") {
            return None;
        }
        let x = Xid {
            gtrid: gtrid.to_string(),
            bqual: bqual.to_string(),
        };
        (x.coordinator().is_some() && x.branch().is_some()).then_some(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_xa_recover_rows() {
        let coord = Site {
            schema: "haoka".into(),
            place: Place::Data(3),
        };
        let g = new_gtrid(&coord);
        assert!(safe(&g), "{g}");
        assert_ne!(g, new_gtrid(&coord));
        let x = Xid::new(
            &g,
            &Site {
                schema: "haoka".into(),
                place: Place::Global,
            },
        );
        let data = format!("{}{}", x.gtrid, x.bqual);
        let back = Xid::from_recover(
            i64::from(FORMAT_ID),
            x.gtrid.len(),
            x.bqual.len(),
            data.as_bytes(),
        )
        .unwrap();
        assert_eq!(back, x);
        assert_eq!(back.coordinator(), Some(coord));
        assert_eq!(back.branch().unwrap().place, Place::Global);
        // foreign ids are never ours
        assert_eq!(Xid::from_recover(1, 2, 1, b"abc"), None);
        assert_eq!(Xid::from_recover(i64::from(FORMAT_ID), 3, 1, b"x'yz"), None);
    }
}
