//! The segment map (号段 → province, city), read once from the broadcast
//! `segment` table: intake derives a number's area from it, selection lists a
//! province's cities from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mysql_async::prelude::Queryable;

use haoka_core::db::Db;
use haoka_core::problem::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub province: String,
    pub city: String,
}

#[derive(Debug, Default)]
pub struct SegmentMap {
    by_segment: HashMap<u32, Area>,
    cities: BTreeMap<String, BTreeSet<String>>,
}

impl SegmentMap {
    pub async fn load(db: &Db) -> Result<SegmentMap, ApiError> {
        let mut c = db.conn().await?;
        let rows: Vec<(String, String, String)> = c
            .query("SELECT segment, province_code, city_code FROM segment")
            .await?;
        let mut map = SegmentMap::default();
        for (seg, province, city) in rows {
            if let Ok(s) = seg.parse::<u32>() {
                map.cities
                    .entry(province.clone())
                    .or_default()
                    .insert(city.clone());
                map.by_segment.insert(s, Area { province, city });
            }
        }
        Ok(map)
    }

    pub fn area(&self, segment: u32) -> Option<&Area> {
        self.by_segment.get(&segment)
    }

    /// The cities of a province that have segments.
    pub fn cities(&self, province: &str) -> Vec<String> {
        self.cities
            .get(province)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn city_in(&self, province: &str, city: &str) -> bool {
        self.cities.get(province).is_some_and(|c| c.contains(city))
    }

    /// The segments of a province and city, ascending.
    pub fn segments_of(&self, province: &str, city: &str) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .by_segment
            .iter()
            .filter(|(_, a)| a.province == province && a.city == city)
            .map(|(s, _)| *s)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn len(&self) -> usize {
        self.by_segment.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_segment.is_empty()
    }
}
