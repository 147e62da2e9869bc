//! Routing errors, each with the MySQL error code and SQLSTATE the proxy
//! sends to the client.

use crate::rules::RulesError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The statement is not valid SQL for haoka's parser.
    #[error("You have an error in your SQL syntax: {0}")]
    Syntax(String),
    /// ER_NO_SUCH_TABLE.
    #[error("Table '{schema}.{table}' doesn't exist")]
    NoSuchTable { schema: String, table: String },
    /// ER_BAD_DB_ERROR.
    #[error("Unknown database '{0}'")]
    UnknownSchema(String),
    /// ER_NOT_SUPPORTED_YET: something haoka cannot do correctly across shards.
    #[error("This version of haoka doesn't yet support '{what}': {why}")]
    NotSupported { what: String, why: String },
    /// A cross-shard join.
    #[error("haoka: cross-shard join not supported: {0}")]
    CrossShardJoin(String),
    /// An UPDATE (or ON DUPLICATE KEY UPDATE) that assigns a shard or split key.
    #[error("haoka: cannot update shard key column {column} of sharded table {table}; delete and re-insert the row instead")]
    ShardKeyUpdate { table: String, column: String },
    /// An UPDATE that assigns a column a global index is keyed on.
    #[error("haoka: cannot update column {column} of table {table}: global index {index} is keyed on it; delete and re-insert the row instead")]
    IndexedColumnUpdate {
        table: String,
        column: String,
        index: String,
    },
    /// An INSERT row that carries no shard key (and nothing to derive it from).
    #[error("haoka: row {row} of the INSERT into sharded table {table} has no value for routing key column {column} (nor a column it can be derived from); give the column a value in every row")]
    MissingShardKey {
        table: String,
        column: String,
        row: usize,
    },
    /// A province code that is not in the province map.
    #[error("haoka: province code '{0}' is not mapped to any shard; check the value or the rules' province map")]
    UnknownProvince(String),
    /// A province being switched to another shard (crate::reshard): the
    /// executor holds the statement and plans it again; a client sees this
    /// only when the switch took longer than the hold limit.
    #[error("haoka: province '{0}' is moving to another shard and its switch took longer than the hold limit; retry the statement")]
    ProvinceMoving(String),
    /// A segment the segment table does not know.
    #[error("haoka: number segment '{segment}' (from {column}) is not in the segment table; load the segment first or name province_code")]
    UnknownSegment { segment: String, column: String },
    /// A key value the algorithm cannot place (e.g. not an integer).
    #[error("haoka: value '{value}' of shard key column {column} is not valid for its sharding algorithm: {why}")]
    BadKeyValue {
        column: String,
        value: String,
        why: String,
    },
    /// A malformed `/*+ HAOKA ... */` hint.
    #[error("haoka: bad hint '{0}': expected /*+ HAOKA shard=N */ or /*+ HAOKA shard=global */")]
    BadHint(String),
    /// A hint that names a shard the schema does not have.
    #[error(
        "haoka: hint names shard {shard}, but schema {schema} has {count} data shards (0..{count})"
    )]
    HintShardOutOfRange {
        shard: usize,
        schema: String,
        count: usize,
    },
    /// EXECUTE with the wrong number of parameters.
    #[error("Incorrect arguments to mysqld_stmt_execute: the statement has {expected} parameters, {got} given")]
    WrongParamCount { expected: usize, got: usize },
    /// `bind_ids` with the wrong number of ids.
    #[error("haoka internal: the INSERT needs {expected} sequence ids, {got} given")]
    WrongIdCount { expected: usize, got: usize },
    /// An INSERT without a column list into a sharded table: the executor
    /// names the logical table's columns ([`super::with_column_list`]) and
    /// plans it again.
    #[error("haoka: INSERT without a column list into sharded table {table}: name the columns: INSERT INTO t (a, b, ...) VALUES (...)")]
    NeedsColumnList { table: String },
    /// A statement haoka does not know how to route at all.
    #[error("haoka: statement not supported through the proxy: {0}")]
    Unsupported(String),
}

impl RouteError {
    /// The MySQL error code sent to the client.
    pub fn code(&self) -> u16 {
        match self {
            RouteError::Syntax(_) => 1064,
            RouteError::NoSuchTable { .. } => 1146,
            RouteError::UnknownSchema(_) => 1049,
            RouteError::NotSupported { .. } | RouteError::CrossShardJoin(_) => 1235,
            RouteError::WrongParamCount { .. } => 1210,
            RouteError::Unsupported(_) | RouteError::NeedsColumnList { .. } => 1235,
            RouteError::ShardKeyUpdate { .. }
            | RouteError::IndexedColumnUpdate { .. }
            | RouteError::MissingShardKey { .. }
            | RouteError::UnknownProvince(_)
            | RouteError::ProvinceMoving(_)
            | RouteError::UnknownSegment { .. }
            | RouteError::BadKeyValue { .. }
            | RouteError::BadHint(_)
            | RouteError::HintShardOutOfRange { .. }
            | RouteError::WrongIdCount { .. } => 1105,
        }
    }

    /// The SQLSTATE sent with [`RouteError::code`].
    pub fn sqlstate(&self) -> &'static str {
        match self {
            RouteError::Syntax(_) => "42000",
            RouteError::NoSuchTable { .. } => "42S02",
            RouteError::UnknownSchema(_) => "42000",
            RouteError::NotSupported { .. }
            | RouteError::CrossShardJoin(_)
            | RouteError::Unsupported(_)
            | RouteError::NeedsColumnList { .. } => "42000",
            _ => "HY000",
        }
    }

    pub(crate) fn not_supported(what: impl Into<String>, why: impl Into<String>) -> RouteError {
        RouteError::NotSupported {
            what: what.into(),
            why: why.into(),
        }
    }

    pub(crate) fn from_rules(e: RulesError, column: &str) -> RouteError {
        match e {
            RulesError::UnknownProvince(p) => RouteError::UnknownProvince(p),
            RulesError::ProvinceMoving(p) => RouteError::ProvinceMoving(p),
            RulesError::NotAnInteger(v) => RouteError::BadKeyValue {
                column: column.to_string(),
                value: v,
                why: "the algorithm needs an integer".into(),
            },
            other => RouteError::BadKeyValue {
                column: column.to_string(),
                value: String::new(),
                why: other.to_string(),
            },
        }
    }
}
