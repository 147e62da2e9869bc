//! Merge errors.

/// Everything that can go wrong while merging shard results.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A shard stream failed (network, server error); carries its message.
    #[error("shard {shard}: {message}")]
    Shard { shard: usize, message: String },
    /// A shard row has fewer columns than the metadata / spec needs.
    #[error("row has {got} columns, expected at least {want}")]
    RowWidth { got: usize, want: usize },
    /// The spec names a column that does not exist.
    #[error("merge spec refers to column {column} but there are {columns} columns")]
    BadColumn { column: usize, columns: usize },
    /// A value could not be read as its column's type (e.g. a SUM that is not a number).
    #[error("column {column}: cannot interpret value {value:?}")]
    BadValue { column: usize, value: String },
    /// A shard's rows are not in the order the spec says they are
    /// (ORDER BY, or GROUP BY ascending with `groups_sorted`).
    #[error("shard {shard} returned rows out of the expected order")]
    UnsortedInput { shard: usize },
    /// The merge spec is inconsistent (e.g. `visible` larger than the row).
    #[error("invalid merge spec: {0}")]
    InvalidSpec(String),
}
