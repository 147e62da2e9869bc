//! Sharding algorithms: a shard-key value to a shard or physical-table index.

use super::{ProvinceMap, RulesError};

/// How a key value picks one of `count` places (shards or split tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Algorithm {
    /// 2-digit province code through the schema's province map (shared by
    /// the schema's tables; online resharding changes it).
    Province(ProvinceMap),
    /// Integer value mod count.
    Mod,
    /// CRC32 of the value's bytes mod count.
    Hash,
    /// (integer value div block) mod count: keeps ranges together.
    RangeMod { block: u64 },
}

/// A key value as the router extracted it from SQL or bound parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    Int(i128),
    Str(String),
}

impl KeyValue {
    /// The value as text, the way MySQL would compare it against a CHAR column.
    pub fn as_text(&self) -> String {
        match self {
            KeyValue::Int(i) => i.to_string(),
            KeyValue::Str(s) => s.clone(),
        }
    }

    /// The value as an integer, the way MySQL would coerce a numeric string.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            KeyValue::Int(i) => Some(*i),
            KeyValue::Str(s) => s.trim().parse().ok(),
        }
    }
}

impl Algorithm {
    /// The place (0..count) of a value, or an error that says why it has none.
    pub fn place(&self, value: &KeyValue, count: usize) -> Result<usize, RulesError> {
        match self {
            Algorithm::Province(map) => {
                let code = value.as_text();
                map.shard(code.trim()).map_err(|e| match e {
                    RulesError::UnknownProvince(_) => RulesError::UnknownProvince(code),
                    other => other,
                })
            }
            Algorithm::Mod => {
                let v = value
                    .as_int()
                    .ok_or_else(|| RulesError::NotAnInteger(value.as_text()))?;
                Ok(v.rem_euclid(count as i128) as usize)
            }
            Algorithm::Hash => {
                let text = value.as_text();
                Ok(crc32(text.as_bytes()) as usize % count)
            }
            Algorithm::RangeMod { block } => {
                let v = value
                    .as_int()
                    .ok_or_else(|| RulesError::NotAnInteger(value.as_text()))?;
                Ok(v.div_euclid(*block as i128).rem_euclid(count as i128) as usize)
            }
        }
    }

    /// For an inclusive integer range, the places it touches, or None when
    /// the algorithm cannot bound a range (the caller then scatters).
    pub fn places_for_range(&self, low: i128, high: i128, count: usize) -> Option<Vec<usize>> {
        if low > high {
            return Some(Vec::new());
        }
        let (first, last) = match self {
            Algorithm::Mod => (low, high),
            Algorithm::RangeMod { block } => (
                low.div_euclid(*block as i128),
                high.div_euclid(*block as i128),
            ),
            Algorithm::Province(_) | Algorithm::Hash => return None,
        };
        if last - first + 1 >= count as i128 {
            return Some((0..count).collect());
        }
        let mut places: Vec<usize> = (first..=last)
            .map(|b| b.rem_euclid(count as i128) as usize)
            .collect();
        places.sort_unstable();
        places.dedup();
        Some(places)
    }
}

/// CRC-32 (IEEE), bit by bit: only used on short keys, and keeping it here
/// avoids a dependency whose output we would have to pin anyway.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn range_mod_keeps_a_block_together() {
        let a = Algorithm::RangeMod { block: 1000 };
        assert_eq!(a.place(&KeyValue::Int(1), 8).unwrap(), 0);
        assert_eq!(a.place(&KeyValue::Int(999), 8).unwrap(), 0);
        assert_eq!(a.place(&KeyValue::Int(1000), 8).unwrap(), 1);
        assert_eq!(a.place(&KeyValue::Int(8000), 8).unwrap(), 0);
        assert_eq!(a.places_for_range(950, 1049, 8), Some(vec![0, 1]));
        assert_eq!(a.places_for_range(10, 99, 8), Some(vec![0]));
        assert_eq!(a.places_for_range(0, 100_000, 8).unwrap().len(), 8);
    }

    #[test]
    fn mod_accepts_numeric_strings_and_refuses_others() {
        assert_eq!(
            Algorithm::Mod
                .place(&KeyValue::Str("1301234".into()), 4)
                .unwrap(),
            1301234 % 4
        );
        assert!(matches!(
            Algorithm::Mod.place(&KeyValue::Str("abc".into()), 4),
            Err(RulesError::NotAnInteger(_))
        ));
    }

    #[test]
    fn province_map_refuses_unknown_codes() {
        let a = Algorithm::Province(ProvinceMap::new(
            [("51".to_string(), 5)]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        ));
        assert_eq!(a.place(&KeyValue::Str("51".into()), 8).unwrap(), 5);
        assert!(matches!(
            a.place(&KeyValue::Str("99".into()), 8),
            Err(RulesError::UnknownProvince(_))
        ));
    }
}
