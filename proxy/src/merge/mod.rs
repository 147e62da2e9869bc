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
//!    (visible columns only, as the shards report them: the shards run
//!    AVG(x) themselves, so its type, scale — div_precision_increment
//!    included — and length are MariaDB's) and a [`Merged`] stream. Send `ColumnMeta::to_column()` of each output
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
//! # Contract details the router must follow
//!
//! * `order_by` (no aggregates): every shard returns rows in that order.
//! * `groups_sorted`: every shard returns rows ordered by the `group_by`
//!   columns **ascending** (e.g. `GROUP BY a, b ORDER BY a, b`), whatever the
//!   final `order_by` is; the merger re-sorts the combined groups when the
//!   final order is not a prefix of that. A shard whose rows are out of the
//!   promised order makes the merge fail with [`MergeError::UnsortedInput`]
//!   (checked when the merger reproduces the key columns' order exactly:
//!   everything but `_ci` collations other than utf8/utf8mb4_general_ci).
//! * AVG: the shard row carries the shard's own AVG(x) at `column` (its
//!   metadata is the result's), SUM(x) at `sum`, COUNT(x) at `count` and,
//!   when x divides, `CAST(SUM(x) AS DECIMAL(65,30))` at `exact`; the merged
//!   AVG replaces `column`. `sum`/`count` may have `Aggregate` entries of
//!   their own (HAVING SUM(x) next to AVG(x)).
//! * [`AggFunc::ExactSum`]: SUM(x) of a dividing x with its full-precision
//!   twin at `exact` (the shown sums are rounded per shard).
//! * Non-aggregate, non-group columns of an aggregated row take the value
//!   from the first shard row of the group (MySQL's "any value").
//!
//! # Adapting a shard connection
//!
//! Spawn one task per shard that runs the query and sends rows through
//! [`ChannelStream::channel`] (bounded, so a slow merge pauses the shard
//! reads). When `send` fails the merger has cancelled: stop reading and
//! `KILL QUERY` / discard the connection. Errors are sent as
//! `Err(MergeError::Shard { .. })` and end the merge with that error.
//!
//! # Semantics
//!
//! Values compare with MySQL semantics ([`compare_values`],
//! [`values_equal`]): NULL first; integers (text parsed to i128),
//! DECIMAL exactly ([`bigdecimal::BigDecimal`], arbitrary precision, so
//! DECIMAL(65,30) sums are exact), FLOAT/DOUBLE as f64, dates/times as
//! numbers (negative and >99h TIME included), strings by collation:
//! `binary` byte-wise, `*_bin` by code point with PAD SPACE, `*_ci` with
//! utf8mb4_general_ci weights (table generated from MariaDB: case- and
//! accent-insensitive, `'ß' = 's'`, PAD SPACE; `_nopad_` and MySQL 8
//! `0900` collations without padding). MariaDB reports a text column's
//! charset by its default collation and a `_bin` collation by the BINARY
//! flag only, so a text column with that flag compares as `_bin`.
//! SUM/AVG over integers/DECIMAL are exact (a dividing argument's sum from
//! its full-precision twin) and rounded half up once to the column's scale;
//! AVG is cut instead of rounded where MariaDB's quotient ends exactly at
//! the scale (a scale of 0, 9, 18, ... from a sum without extra digits:
//! AVG of a DECIMAL(n,5), or of integers with div_precision_increment 0).
//! SUM/AVG over FLOAT/DOUBLE are f64 and printed as MariaDB prints doubles
//! ([`format_double`]). HAVING compares a DATE/DATETIME/TIME with a number
//! or string after converting that to the temporal type (`20240301`,
//! `'2024-3-1'`; TIME `10000` = 01:00:00), as MariaDB does.
//!
//! # Not supported
//!
//! COUNT(DISTINCT)/SUM(DISTINCT), GROUP_CONCAT, STDDEV/VARIANCE, BIT_*
//! aggregates (not in [`AggFunc`]); WITH ROLLUP; collations other than
//! general_ci/bin are approximated by general_ci weights (e.g.
//! utf8mb4_unicode_ci expansions, 0900_ai_ci accent rules for rare
//! characters; MariaDB reports unicode_ci columns as general_ci); SUM of
//! doubles can differ from a single server in the last bits (addition
//! order); a grouped SUM/AVG of a dividing DECIMAL argument whose values
//! lie exactly halfway at the result's scale (k/32 at the default
//! increment): MariaDB rounds its running sum per row in scan order there,
//! so its last digit depends on the order of rows.

pub mod engine;
pub mod error;
mod general_ci;
pub mod having;
pub mod meta;
pub mod spec;
mod temporal;
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
