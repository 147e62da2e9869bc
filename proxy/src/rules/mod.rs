//! Sharding rules (schema/rules.toml): which shard and physical table holds
//! each logical table's rows. Loaded once at start; immutable afterwards but
//! for the province → shard map, which online resharding changes
//! ([`ProvinceMap`]).

mod algorithm;
mod file;
mod province_map;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

pub use algorithm::{crc32, Algorithm, KeyValue};
use file::{KeyFile, RulesFile, SchemaFile};
pub use province_map::ProvinceMap;

/// Default number of ids a proxy takes from a sequence at a time.
pub const DEFAULT_SEQUENCE_BLOCK: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("rules file is not valid TOML for haoka: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("rules file is invalid: {0}")]
    Invalid(String),
    #[error("province code '{0}' is not in the province map")]
    UnknownProvince(String),
    #[error("shard key value '{0}' is not an integer")]
    NotAnInteger(String),
    /// The province is being switched to another shard: its statements wait.
    #[error("province '{0}' is switching to another shard")]
    ProvinceMoving(String),
}

fn invalid(msg: impl Into<String>) -> RulesError {
    RulesError::Invalid(msg.into())
}

#[derive(Debug, Clone)]
pub struct Rules {
    pub datasources: Vec<DataSource>,
    pub schemas: Vec<Schema>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// One database on one datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTarget {
    /// Index into [`Rules::datasources`].
    pub datasource: usize,
    pub database: String,
    /// Read replicas holding the same database.
    pub replicas: Vec<Replica>,
}

/// A read replica of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Index into [`Rules::datasources`].
    pub datasource: usize,
    pub max_lag: std::time::Duration,
}

/// Where a physical table lives inside a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Data(usize),
    Global,
}

#[derive(Debug, Clone)]
pub enum TableRule {
    Sharded(Arc<ShardedTable>),
    Broadcast,
    Global,
}

#[derive(Debug, Clone)]
pub struct ShardedTable {
    pub name: String,
    pub shard_by: ShardKey,
    pub split_by: Option<SplitKey>,
    pub derive: Vec<Derivation>,
}

#[derive(Debug, Clone)]
pub struct ShardKey {
    pub column: String,
    pub algorithm: Algorithm,
}

#[derive(Debug, Clone)]
pub struct SplitKey {
    pub column: String,
    pub algorithm: Algorithm,
    pub count: usize,
}

/// How the router finds a key column's value from another column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derivation {
    /// `to` = the first `len` characters of `from`.
    Prefix {
        from: String,
        to: String,
        len: usize,
    },
    /// `to` = the schema's segment lookup applied to `from`.
    SegmentLookup { from: String, to: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentLookup {
    pub table: String,
    pub key: String,
    pub province: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Row name in the `haoka_sequence` table; the table's name.
    pub name: String,
    pub table: String,
    pub column: String,
    pub block: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalIndex {
    pub name: String,
    pub table: String,
    pub column: String,
    pub index_table: String,
    pub covering: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub name: String,
    pub is_default: bool,
    pub global_shard: ShardTarget,
    pub shards: Vec<ShardTarget>,
    /// The province map as the rules file wrote it.
    pub province_shards: BTreeMap<String, usize>,
    /// The live province map every province-sharded table routes through.
    pub provinces: ProvinceMap,
    pub segment_lookup: Option<SegmentLookup>,
    pub sequences: Vec<Sequence>,
    pub global_indexes: Vec<GlobalIndex>,
    /// Keyed by lower-case logical table name.
    tables: HashMap<String, TableRule>,
}

impl Rules {
    pub fn load(path: impl AsRef<Path>) -> Result<Rules, RulesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Rules::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Rules, RulesError> {
        let file: RulesFile = toml::from_str(text)?;
        if file.version != 1 {
            return Err(invalid(format!(
                "version {} is not supported (expected 1)",
                file.version
            )));
        }
        let mut datasources = Vec::new();
        for ds in file.datasources {
            if datasources.iter().any(|d: &DataSource| d.name == ds.name) {
                return Err(invalid(format!(
                    "datasource '{}' is declared twice",
                    ds.name
                )));
            }
            datasources.push(DataSource {
                name: ds.name,
                host: ds.host,
                port: ds.port,
            });
        }
        let mut schemas: Vec<Schema> = Vec::new();
        for sf in file.schemas {
            if schemas
                .iter()
                .any(|s| s.name.eq_ignore_ascii_case(&sf.name))
            {
                return Err(invalid(format!("schema '{}' is declared twice", sf.name)));
            }
            schemas.push(build_schema(sf, &datasources)?);
        }
        match schemas.iter().filter(|s| s.is_default).count() {
            0 if schemas.len() == 1 => schemas[0].is_default = true,
            1 => {}
            0 => return Err(invalid("no schema is marked `default = true`")),
            _ => return Err(invalid("more than one schema is marked `default = true`")),
        }
        Ok(Rules {
            datasources,
            schemas,
        })
    }

    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn default_schema(&self) -> &Schema {
        self.schemas
            .iter()
            .find(|s| s.is_default)
            .expect("validated: exactly one default schema")
    }
}

/// Tables the proxy keeps for itself in every schema (global sequences,
/// schema/ddl/90_proxy.sql; the XA decision log): not part of the logical
/// schema a client's catalog shows.
pub const PROXY_INTERNAL_TABLES: [&str; 2] = ["haoka_sequence", "haoka_xa_decision"];

impl Schema {
    /// The rule of a logical table (names compare case-insensitively).
    pub fn table(&self, name: &str) -> Option<&TableRule> {
        self.tables.get(&name.to_ascii_lowercase())
    }

    /// Every logical table name with its rule, in name order.
    pub fn tables(&self) -> Vec<(&str, &TableRule)> {
        let mut all: Vec<_> = self.tables.iter().map(|(k, v)| (k.as_str(), v)).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// The logical tables a client's catalog shows: every table but the
    /// proxy's own bookkeeping ([`PROXY_INTERNAL_TABLES`]).
    pub fn catalog_tables(&self) -> Vec<(&str, &TableRule)> {
        self.tables()
            .into_iter()
            .filter(|(n, _)| !PROXY_INTERNAL_TABLES.contains(n))
            .collect()
    }

    pub fn target(&self, place: Place) -> &ShardTarget {
        match place {
            Place::Data(i) => &self.shards[i],
            Place::Global => &self.global_shard,
        }
    }

    /// Every place a table's rule puts data, data shards first.
    pub fn all_places(&self) -> impl Iterator<Item = Place> + '_ {
        (0..self.shards.len())
            .map(Place::Data)
            .chain(std::iter::once(Place::Global))
    }

    /// Every physical copy of a logical table: (place, physical table name).
    pub fn physical_tables(&self, table: &str) -> Option<Vec<(Place, String)>> {
        let rule = self.table(table)?;
        let name = table.to_ascii_lowercase();
        Some(match rule {
            TableRule::Global => vec![(Place::Global, name)],
            TableRule::Broadcast => self.all_places().map(|p| (p, name.clone())).collect(),
            TableRule::Sharded(t) => (0..self.shards.len())
                .flat_map(|shard| {
                    t.physical_names()
                        .into_iter()
                        .map(move |n| (Place::Data(shard), n))
                })
                .collect(),
        })
    }

    pub fn sequence_for(&self, table: &str) -> Option<&Sequence> {
        self.sequences
            .iter()
            .find(|s| s.table.eq_ignore_ascii_case(table))
    }
}

impl ShardedTable {
    /// Physical table names inside one shard, in split order.
    pub fn physical_names(&self) -> Vec<String> {
        match &self.split_by {
            None => vec![self.name.clone()],
            Some(split) => (0..split.count).map(|i| self.physical_name(i)).collect(),
        }
    }

    /// The physical name of split table `index` (the logical name when unsplit).
    pub fn physical_name(&self, index: usize) -> String {
        match &self.split_by {
            None => self.name.clone(),
            Some(_) => format!("{}_{}", self.name, index),
        }
    }
}

fn build_schema(sf: SchemaFile, datasources: &[DataSource]) -> Result<Schema, RulesError> {
    let ctx = |msg: String| invalid(format!("schema '{}': {msg}", sf.name));
    let find = |name: &str| -> Result<usize, RulesError> {
        datasources
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| ctx(format!("unknown datasource '{name}'")))
    };
    let target = |s: &file::ShardFile| -> Result<ShardTarget, RulesError> {
        let datasource = find(&s.datasource)?;
        let mut replicas = Vec::new();
        for r in &s.replicas {
            let ds = find(&r.datasource)?;
            if ds == datasource || replicas.iter().any(|x: &Replica| x.datasource == ds) {
                return Err(ctx(format!(
                    "shard {}: datasource '{}' is listed twice (primary and replicas must differ)",
                    s.database, r.datasource
                )));
            }
            replicas.push(Replica {
                datasource: ds,
                max_lag: std::time::Duration::from_secs(r.max_lag_s),
            });
        }
        Ok(ShardTarget {
            datasource,
            database: s.database.clone(),
            replicas,
        })
    };
    let global_shard = target(&sf.global_shard)?;
    let shards = sf
        .shards
        .iter()
        .map(target)
        .collect::<Result<Vec<_>, _>>()?;
    if shards.is_empty() {
        return Err(ctx("has no shards".into()));
    }
    let mut databases: Vec<(usize, &str)> = shards
        .iter()
        .chain(std::iter::once(&global_shard))
        .map(|t| (t.datasource, t.database.as_str()))
        .collect();
    databases.sort_unstable();
    if databases.windows(2).any(|w| w[0] == w[1]) {
        return Err(ctx("two shards name the same database".into()));
    }
    for (code, &shard) in &sf.province_shards {
        if shard >= shards.len() {
            return Err(ctx(format!(
                "province {code} maps to shard {shard}, but there are only {} shards",
                shards.len()
            )));
        }
    }

    let provinces = ProvinceMap::new(sf.province_shards.clone());
    let mut tables: HashMap<String, TableRule> = HashMap::new();
    let mut add = |name: &str, rule: TableRule| -> Result<(), RulesError> {
        let key = name.to_ascii_lowercase();
        if tables.insert(key, rule).is_some() {
            return Err(ctx(format!(
                "table '{name}' is covered by more than one rule"
            )));
        }
        Ok(())
    };
    for t in &sf.broadcast_tables {
        add(t, TableRule::Broadcast)?;
    }
    for t in &sf.global_tables {
        add(t, TableRule::Global)?;
    }
    for sh in &sf.sharded {
        let names: Vec<String> = match (&sh.table, &sh.tables) {
            (Some(t), None) => vec![t.clone()],
            (None, Some(ts)) if !ts.is_empty() => ts.clone(),
            _ => {
                return Err(ctx(
                    "a [[sharded]] rule needs exactly one of `table` or `tables`".into(),
                ))
            }
        };
        let shard_algo = algorithm(&sh.shard_by, &provinces, true)
            .map_err(|m| ctx(format!("{}: shard_by: {m}", names.join(","))))?;
        if let Some(count) = sh.shard_by.count {
            if count != shards.len() {
                return Err(ctx(format!(
                    "{}: shard_by.count must be the shard count ({}) or absent",
                    names.join(","),
                    shards.len()
                )));
            }
        }
        let split_by = match &sh.split_by {
            None => None,
            Some(k) => {
                let algo = algorithm(k, &provinces, false)
                    .map_err(|m| ctx(format!("{}: split_by: {m}", names.join(","))))?;
                let count = k.count.filter(|c| *c > 0).ok_or_else(|| {
                    ctx(format!("{}: split_by needs a count > 0", names.join(",")))
                })?;
                Some(SplitKey {
                    column: k.column.to_ascii_lowercase(),
                    algorithm: algo,
                    count,
                })
            }
        };
        let mut derive = Vec::new();
        for d in &sh.derive {
            let from = d.from.to_ascii_lowercase();
            let to = d.to.to_ascii_lowercase();
            derive.push(match (d.prefix, &d.lookup) {
                (Some(len), None) if len > 0 => Derivation::Prefix { from, to, len },
                (None, Some(l)) => {
                    let lookup = sf.segment_lookup.as_ref().ok_or_else(|| {
                        ctx("a derive uses a lookup but [segment_lookup] is missing".into())
                    })?;
                    if !l.eq_ignore_ascii_case(&lookup.table) {
                        return Err(ctx(format!("unknown lookup '{l}'")));
                    }
                    Derivation::SegmentLookup { from, to }
                }
                _ => {
                    return Err(ctx(format!(
                        "derive {} -> {} needs exactly one of `prefix` or `lookup`",
                        d.from, d.to
                    )))
                }
            });
        }
        for name in names {
            let table = ShardedTable {
                name: name.to_ascii_lowercase(),
                shard_by: ShardKey {
                    column: sh.shard_by.column.to_ascii_lowercase(),
                    algorithm: shard_algo.clone(),
                },
                split_by: split_by.clone(),
                derive: derive.clone(),
            };
            add(&name, TableRule::Sharded(Arc::new(table)))?;
        }
    }

    let segment_lookup = match sf.segment_lookup {
        None => None,
        Some(l) => {
            if !matches!(
                tables.get(&l.table.to_ascii_lowercase()),
                Some(TableRule::Broadcast)
            ) {
                return Err(ctx(format!(
                    "segment_lookup table '{}' must be a broadcast table",
                    l.table
                )));
            }
            Some(SegmentLookup {
                table: l.table.to_ascii_lowercase(),
                key: l.key.to_ascii_lowercase(),
                province: l.province.to_ascii_lowercase(),
            })
        }
    };

    let mut sequences: Vec<Sequence> = Vec::new();
    for s in sf.sequences {
        if !tables.contains_key(&s.table.to_ascii_lowercase()) {
            return Err(ctx(format!("sequence for unknown table '{}'", s.table)));
        }
        if sequences
            .iter()
            .any(|x| x.table.eq_ignore_ascii_case(&s.table))
        {
            return Err(ctx(format!("table '{}' has two sequences", s.table)));
        }
        let block = s.block.unwrap_or(DEFAULT_SEQUENCE_BLOCK);
        if block == 0 {
            return Err(ctx(format!("sequence of '{}' has block 0", s.table)));
        }
        sequences.push(Sequence {
            name: s.table.to_ascii_lowercase(),
            table: s.table.to_ascii_lowercase(),
            column: s.column.to_ascii_lowercase(),
            block,
        });
    }

    let mut global_indexes = Vec::new();
    for g in sf.global_indexes {
        for t in [&g.table, &g.index_table] {
            if !matches!(
                tables.get(&t.to_ascii_lowercase()),
                Some(TableRule::Sharded(_))
            ) {
                return Err(ctx(format!(
                    "global index '{}': table '{t}' must be a sharded table",
                    g.name
                )));
            }
        }
        global_indexes.push(GlobalIndex {
            name: g.name,
            table: g.table.to_ascii_lowercase(),
            column: g.column.to_ascii_lowercase(),
            index_table: g.index_table.to_ascii_lowercase(),
            covering: g.covering.iter().map(|c| c.to_ascii_lowercase()).collect(),
        });
    }

    Ok(Schema {
        name: sf.name,
        is_default: sf.default,
        global_shard,
        shards,
        province_shards: sf.province_shards,
        provinces,
        segment_lookup,
        sequences,
        global_indexes,
        tables,
    })
}

fn algorithm(
    key: &KeyFile,
    provinces: &ProvinceMap,
    is_shard_level: bool,
) -> Result<Algorithm, String> {
    match key.algorithm.as_str() {
        "province" if is_shard_level => {
            if provinces.is_empty() {
                return Err("algorithm 'province' needs [province_shards]".into());
            }
            Ok(Algorithm::Province(provinces.clone()))
        }
        "mod" => Ok(Algorithm::Mod),
        "hash" => Ok(Algorithm::Hash),
        "range_mod" => match key.block {
            Some(block) if block > 0 => Ok(Algorithm::RangeMod { block }),
            _ => Err("algorithm 'range_mod' needs block > 0".into()),
        },
        other => Err(format!(
            "unknown algorithm '{other}' (expected province, mod, hash or range_mod)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
version = 1
[[datasources]]
name = "a"
host = "127.0.0.1"
port = 3306
[[schemas]]
name = "s"
global_shard = { datasource = "a", database = "g" }
shards = [{ datasource = "a", database = "s0" }, { datasource = "a", database = "s1" }]
broadcast_tables = ["b"]
global_tables = ["g1"]
[[schemas.sharded]]
table = "t"
shard_by = { column = "id", algorithm = "mod" }
split_by = { column = "k", algorithm = "mod", count = 3 }
"#;

    #[test]
    fn minimal_rules_load_and_place_tables() {
        let rules = Rules::from_toml(MINIMAL).unwrap();
        let s = rules.default_schema();
        assert_eq!(
            s.physical_tables("G1").unwrap(),
            vec![(Place::Global, "g1".into())]
        );
        assert_eq!(s.physical_tables("b").unwrap().len(), 3);
        let t = s.physical_tables("t").unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(t[0], (Place::Data(0), "t_0".to_string()));
        assert!(s.table("nope").is_none());
    }

    #[test]
    fn a_table_in_two_rules_is_refused() {
        let text = MINIMAL.replace(r#"global_tables = ["g1"]"#, r#"global_tables = ["b"]"#);
        let err = Rules::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("more than one rule"), "{err}");
    }

    #[test]
    fn shards_name_their_own_datasource_and_replicas() {
        let text = MINIMAL
            .replace(
                "port = 3306\n",
                "port = 3306\n[[datasources]]\nname = \"b\"\nhost = \"10.0.0.2\"\nport = 3307\n[[datasources]]\nname = \"r\"\nhost = \"10.0.0.3\"\nport = 3306\n",
            )
            .replace(
                "{ datasource = \"a\", database = \"s1\" }",
                "{ datasource = \"b\", database = \"s1\", replicas = [{ datasource = \"r\", max_lag_s = 5 }] }",
            );
        let rules = Rules::from_toml(&text).unwrap();
        let s = rules.default_schema();
        assert_eq!(
            rules.datasources[s.target(Place::Data(1)).datasource].name,
            "b"
        );
        assert_eq!(
            s.target(Place::Data(1)).replicas,
            vec![Replica {
                datasource: 2,
                max_lag: std::time::Duration::from_secs(5)
            }]
        );
        assert!(s.target(Place::Data(0)).replicas.is_empty());
        let err =
            Rules::from_toml(&text.replace("datasource = \"r\", max", "datasource = \"b\", max"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("listed twice"), "{err}");
        let err =
            Rules::from_toml(&text.replace("datasource = \"r\", max", "datasource = \"zz\", max"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown datasource 'zz'"), "{err}");
    }

    #[test]
    fn unknown_algorithm_and_datasource_are_named() {
        let err = Rules::from_toml(&MINIMAL.replace("\"mod\" }\nsplit", "\"modulo\" }\nsplit"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown algorithm 'modulo'"), "{err}");
        let err = Rules::from_toml(&MINIMAL.replace("database = \"s1\"", "database = \"s0\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("same database"), "{err}");
        let err = Rules::from_toml(&MINIMAL.replace(
            "datasource = \"a\", database = \"g\"",
            "datasource = \"x\", database = \"g\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown datasource 'x'"), "{err}");
    }
}
