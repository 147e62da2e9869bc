//! Statistics computed through the proxy: one statement per report, which
//! the proxy sends to every shard holding the asked provinces once (one
//! consistent read per shard) and merges (GROUP BY across shards); a trend
//! with a statistics table reads it for the days rolled up (`plan.rs`).

use mysql_async::prelude::Queryable;
use serde::Serialize;
use utoipa::ToSchema;

use super::filters::Filters;
use super::plan;
use super::table::{Cell, Column, Kind, Row};
use super::templates::{Shape, Template};
use haoka_core::problem::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct StatTable {
    pub template: &'static str,
    pub name: &'static str,
    pub columns: Vec<Column>,
    /// One array of cells per row, in the order of `columns`.
    #[schema(value_type = Vec<Vec<Cell>>)]
    pub rows: Vec<Row>,
    /// More rows exist than `[report] max_stat_rows`: export the report instead.
    pub truncated: bool,
}

/// A database row as cells of the template's column kinds.
pub fn cells(row: mysql_async::Row, kinds: &[Kind]) -> Row {
    row.unwrap()
        .into_iter()
        .zip(kinds)
        .map(|(v, k)| Cell::from_value(v, *k))
        .collect()
}

/// Runs `t` under (resolved) `filters`, keeping at most `max` rows.
pub async fn compute<Q: Queryable>(
    c: &mut Q,
    t: &'static Template,
    filters: &Filters,
    max: usize,
) -> Result<StatTable, ApiError> {
    let kinds = t.kinds();
    let mut rows = Vec::new();
    let mut truncated = false;
    for (mut sql, params) in plan::statements(c, t, filters).await? {
        if truncated {
            break;
        }
        if t.shape == Shape::Detail {
            // A preview of a detail report: the proxy stops each shard early.
            sql.push_str(&format!(" LIMIT {}", max + 1));
        }
        let mut result = c.exec_iter(sql, params).await?;
        while let Some(row) = result.next().await? {
            if rows.len() == max {
                truncated = true;
                // Drain the rest: the connection must be left clean.
                continue;
            }
            rows.push(cells(row, &kinds));
        }
    }
    Ok(StatTable {
        template: t.code,
        name: t.name,
        columns: t.columns(),
        rows,
        truncated,
    })
}
