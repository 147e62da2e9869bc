//! The contract between the router and the merger: how to combine shard rows.
//!
//! Column numbers index the row a shard returns. The router may append hidden
//! columns after the `visible` ones (an ORDER BY expression the client did not
//! select, AVG's SUM and COUNT parts); the merger drops them before the client
//! sees the row.

use mysql_common::value::Value;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeSpec {
    /// How many leading columns the client sees.
    pub visible: usize,
    /// GROUP BY key columns; empty with aggregates = one group over all rows.
    pub group_by: Vec<usize>,
    /// True when every shard returns its rows ordered by `group_by` (ascending),
    /// so groups can be merged as they stream instead of being held.
    pub groups_sorted: bool,
    /// Columns holding aggregates and how to combine them across shards.
    pub aggregates: Vec<Aggregate>,
    /// HAVING, evaluated on the merged row (after aggregates are combined).
    pub having: Option<Expr>,
    /// SELECT DISTINCT over the visible columns.
    pub distinct: bool,
    /// Final order; every shard returns its rows in this order too.
    pub order_by: Vec<SortKey>,
    /// Rows to skip after merging (the shards were sent `LIMIT 0, offset+limit`).
    pub offset: u64,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The column (in the merged row) that carries the result.
    pub column: usize,
    pub func: AggFunc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggFunc {
    /// COUNT(*) / COUNT(x): shard counts are summed.
    Count,
    Sum,
    /// SUM(x) whose result column carries each shard's sum rounded to x's
    /// declared scale while x's values have more digits (x divides: `k/7`
    /// is 0.142857142 inside, 0.1429 on the wire). `exact` is a hidden
    /// column with the same per-shard sum at full precision
    /// (`CAST(SUM(x) AS DECIMAL(65,30))`); those are added and the total is
    /// rounded once to the result column's scale, as one server does.
    /// A FLOAT/DOUBLE result column is summed as it is.
    ExactSum {
        exact: usize,
    },
    Min,
    Max,
    /// AVG(x), rewritten on the shards to SUM(x) at `sum` and COUNT(x) at
    /// `count` (and, when x divides, the full-precision sum at `exact`, see
    /// [`AggFunc::ExactSum`]). The result replaces `column`, whose shard
    /// metadata (the shards' own AVG(x)) gives MariaDB's scale and length.
    /// The router may merge `sum` and `count` as SUM/COUNT aggregates of
    /// their own (HAVING SUM(x) next to AVG(x)).
    Avg {
        sum: usize,
        count: usize,
        exact: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub column: usize,
    pub descending: bool,
}

/// A small expression language for HAVING over a merged row.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Column(usize),
    Literal(Value),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Not(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `expr [NOT] IN (list)`
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `expr [NOT] BETWEEN low AND high`
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Plus,
    Minus,
    Multiply,
    Divide,
}
