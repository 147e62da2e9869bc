//! The segment → province map behind derived routing (DESIGN.md §3): loaded
//! from the broadcast segment table on the global shard, reloaded after a
//! write through the proxy touches that table.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::backend::{BackendError, Pool};
use crate::route::SegmentMap;
use crate::rules::SegmentLookup;

#[derive(Default)]
pub struct SegmentTable {
    map: RwLock<Arc<HashMap<u32, [u8; 2]>>>,
}

impl SegmentTable {
    /// Reads the whole lookup table (120k rows: a few hundred ms at most).
    pub async fn load(&self, pool: &Pool, lookup: &SegmentLookup) -> Result<usize, BackendError> {
        let mut conn = pool.get().await?;
        let q = crate::route::quote_ident;
        let sql = format!(
            "SELECT {}, {} FROM {}",
            q(&lookup.key),
            q(&lookup.province),
            q(&lookup.table)
        );
        let result = conn.query_collect(&sql).await?;
        let mut map = HashMap::with_capacity(result.rows.len());
        for row in result.rows {
            let (Some(seg), Some(prov)) = (row.first(), row.get(1)) else {
                continue;
            };
            let (mysql_common::value::Value::Bytes(seg), mysql_common::value::Value::Bytes(prov)) =
                (seg, prov)
            else {
                continue;
            };
            let Some(seg) = std::str::from_utf8(seg).ok().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let [a, b] = prov.as_slice() {
                map.insert(seg, [*a, *b]);
            }
        }
        let n = map.len();
        *self.map.write().expect("segment map lock") = Arc::new(map);
        Ok(n)
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SegmentMap for SegmentTable {
    fn province_of(&self, segment: &str) -> Option<String> {
        let seg: u32 = segment.parse().ok()?;
        let map = self.map.read().ok()?;
        map.get(&seg)
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }
}
