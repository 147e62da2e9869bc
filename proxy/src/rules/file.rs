//! The rules file as written (serde mirror of schema/rules.toml). `model.rs`
//! turns it into the validated form the router uses.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    pub version: u32,
    pub datasources: Vec<DataSourceFile>,
    pub schemas: Vec<SchemaFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSourceFile {
    pub name: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    pub datasource: String,
    pub database: String,
    /// Read replicas of this shard (same database name on each).
    #[serde(default)]
    pub replicas: Vec<ReplicaFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaFile {
    pub datasource: String,
    /// A replica further behind than this (or not replicating) takes no reads.
    pub max_lag_s: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    pub name: String,
    #[serde(default)]
    pub default: bool,
    pub global_shard: ShardFile,
    pub shards: Vec<ShardFile>,
    #[serde(default)]
    pub broadcast_tables: Vec<String>,
    #[serde(default)]
    pub global_tables: Vec<String>,
    #[serde(default)]
    pub sequences: Vec<SequenceFile>,
    #[serde(default)]
    pub province_shards: BTreeMap<String, usize>,
    pub segment_lookup: Option<SegmentLookupFile>,
    #[serde(default)]
    pub sharded: Vec<ShardedFile>,
    #[serde(default)]
    pub global_indexes: Vec<GlobalIndexFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceFile {
    pub table: String,
    pub column: String,
    /// How many ids a proxy takes from the global shard at a time.
    pub block: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentLookupFile {
    pub table: String,
    pub key: String,
    pub province: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardedFile {
    pub table: Option<String>,
    pub tables: Option<Vec<String>>,
    pub shard_by: KeyFile,
    pub split_by: Option<KeyFile>,
    #[serde(default)]
    pub derive: Vec<DeriveFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub column: String,
    pub algorithm: String,
    pub count: Option<usize>,
    pub block: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveFile {
    pub from: String,
    pub to: String,
    /// `to` is the first `prefix` characters of `from`.
    pub prefix: Option<usize>,
    /// `to` is looked up from `from` in the schema's lookup of this name.
    pub lookup: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalIndexFile {
    pub name: String,
    pub table: String,
    pub column: String,
    pub index_table: String,
    #[serde(default)]
    pub covering: Vec<String>,
}
