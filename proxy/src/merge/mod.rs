//! Scatter-gather merge: combines the row streams of several shards into the
//! one result the client would get from a single database.

pub mod spec;

pub use spec::{AggFunc, Aggregate, BinaryOp, Expr, MergeSpec, SortKey};
