//! Scatter-gather merge: combines the row streams of several shards into the
//! one result the client would get from a single database.
//!
//! # How the executor uses it
//!
//! 1. The router produces a [`MergeSpec`] and the rewritten shard SQL.
//! 2. The executor sends the SQL to every shard and wraps each shard's result
//!    set in a [`RowStream`] (`next_row()` yields `Vec<Value>` rows, text
//!    protocol `Value::Bytes` or binary protocol typed values; `cancel()` is
//!    called when the merger needs no more rows). Shard column definitions
//!    become [`ColumnMeta`] via [`ColumnMeta::from_column`] (take them from
//!    any one shard: all shards run the same SQL).
//! 3. [`merge`]`(spec, columns, inputs)` returns the output column metadata
//!    (visible columns only: AVG columns turned into DECIMAL with the AVG
//!    scale, or DOUBLE for AVG over FLOAT/DOUBLE; everything else — COUNT as
//!    BIGINT, SUM as DECIMAL/DOUBLE — is what the shards already report) and
//!    a [`Merged`] stream. Send `ColumnMeta::to_column()` of each output
//!    column to the client, then pull rows with [`Merged::next_row`] until
//!    `None`. [`Merged::set_protocol`] picks text (default) or binary
//!    protocol values. After `None`, [`Merged::stopped_early`] says whether
//!    shards were cancelled because LIMIT was reached.
//!
//! # Pipeline and memory
//!
//! source → aggregation → HAVING → sort → DISTINCT → OFFSET/LIMIT → drop
//! hidden columns → protocol conversion.
//!
//! * source: plain concatenation (shard after shard) when no order is
//!   needed; a k-way merge with a binary heap holding one row per shard when
//!   the shards return sorted rows (ORDER BY, or sorted GROUP BY).
//! * aggregation: without GROUP BY one accumulator; with `groups_sorted`
//!   one group at a time (streaming); otherwise a hash table of all groups
//!   (memory: one row + accumulators per distinct group).
//! * sort: only when the final ORDER BY is not already the stream order
//!   (GROUP BY + ORDER BY on an aggregate, hash-aggregated groups). Holds the
//!   reduced rows; with a LIMIT it keeps at most `2 * (offset + limit)`
//!   (min 1024) rows (top-k). Hash-aggregated groups without ORDER BY are
//!   sorted by the group columns, as MariaDB does.
//! * DISTINCT: adjacent-duplicate removal when the stream is sorted by all
//!   visible columns, otherwise a hash set of every distinct row's
//!   collation-normalised visible values.
//!
//! Values compare with MySQL semantics: see [`compare_values`].

pub mod engine;
pub mod error;
mod general_ci;
pub mod having;
pub mod meta;
pub mod spec;
pub mod value;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod diff_tests;

pub use engine::{merge, ChannelStream, Merged, RowFuture, RowStream, VecStream};
pub use error::MergeError;
pub use having::eval_predicate;
pub use meta::{Collation, ColumnMeta};
pub use spec::{AggFunc, Aggregate, BinaryOp, Expr, MergeSpec, SortKey};
pub use value::{
    compare_values, format_decimal, format_double, sort_key, to_binary_value, to_text_value,
    values_equal, Protocol, ValueKey,
};
