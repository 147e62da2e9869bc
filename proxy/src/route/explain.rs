//! EXPLAIN through the proxy (like Vitess's vexplain): a plan as rows.

use super::plan::*;
use crate::merge::{AggFunc, MergeSpec};
use crate::rules::{Place, Schema};

/// Column names of the EXPLAIN result set.
pub const EXPLAIN_COLUMNS: [&str; 3] = ["shard", "database", "physical_sql"];

/// One EXPLAIN row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainRow {
    /// `0`..`N-1`, `global`, or a pseudo-row name (`merge`, `session`, ...).
    pub shard: String,
    pub database: String,
    pub physical_sql: String,
}

fn place_name(p: Place) -> String {
    match p {
        Place::Data(i) => i.to_string(),
        Place::Global => "global".into(),
    }
}

fn database(schema: &Schema, p: Place) -> String {
    match p {
        Place::Data(i) if i >= schema.shards.len() => String::new(),
        p => schema.target(p).database.clone(),
    }
}

fn row(
    shard: impl Into<String>,
    database: impl Into<String>,
    sql: impl Into<String>,
) -> ExplainRow {
    ExplainRow {
        shard: shard.into(),
        database: database.into(),
        physical_sql: sql.into(),
    }
}

/// Describe a merge spec in one line.
pub fn describe_merge(m: &MergeSpec, hidden: usize, wildcard: bool) -> String {
    let mut parts = vec![format!(
        "visible={}{}",
        if wildcard { "*" } else { "" },
        if wildcard {
            String::new()
        } else {
            m.visible.to_string()
        }
    )];
    if hidden > 0 {
        parts.push(format!("hidden={hidden}"));
    }
    if !m.group_by.is_empty() {
        parts.push(format!(
            "group_by={:?}{}",
            m.group_by,
            if m.groups_sorted { " (sorted)" } else { "" }
        ));
    }
    if !m.aggregates.is_empty() {
        let a: Vec<String> = m
            .aggregates
            .iter()
            .map(|a| match &a.func {
                AggFunc::Avg {
                    sum,
                    count,
                    exact: None,
                } => format!("avg(#{})=#{}/#{}", a.column, sum, count),
                AggFunc::Avg {
                    exact: Some(e),
                    count,
                    ..
                } => format!("avg(#{})=#{}/#{}", a.column, e, count),
                AggFunc::ExactSum { exact } => format!("sum(#{})=#{}", a.column, exact),
                f => format!("{}(#{})", format!("{f:?}").to_lowercase(), a.column),
            })
            .collect();
        parts.push(format!("aggregates=[{}]", a.join(", ")));
    }
    if m.having.is_some() {
        parts.push("having".into());
    }
    if m.distinct {
        parts.push("distinct".into());
    }
    if !m.order_by.is_empty() {
        let o: Vec<String> = m
            .order_by
            .iter()
            .map(|k| format!("#{}{}", k.column, if k.descending { " desc" } else { "" }))
            .collect();
        parts.push(format!("order_by=[{}]", o.join(", ")));
    }
    if let Some(l) = m.limit {
        parts.push(format!("offset={} limit={l}", m.offset));
    }
    parts.join(" ")
}

/// The rows of `EXPLAIN <stmt>` for a routed statement.
pub fn explain(routed: &Routed, schema: &Schema) -> Vec<ExplainRow> {
    let routed = match routed {
        Routed::Explain(inner) => inner.as_ref(),
        r => r,
    };
    match routed {
        Routed::Shards(p) => {
            let mut rows: Vec<ExplainRow> = p
                .targets
                .iter()
                .map(|t| {
                    row(
                        place_name(t.place),
                        database(schema, t.place),
                        t.sql.clone(),
                    )
                })
                .collect();
            if let Some(m) = &p.merge {
                rows.push(row(
                    "merge",
                    "",
                    describe_merge(m.spec(), m.hidden, m.wildcard),
                ));
            }
            if p.broadcast {
                rows.push(row(
                    "note",
                    "",
                    "every target in one distributed transaction",
                ));
            }
            if p.any_copy {
                rows.push(row("note", "", "broadcast read: any copy can answer"));
            }
            rows
        }
        Routed::NoTable { sql } => vec![row("any", "", sql.clone())],
        Routed::Session(c) => vec![row("session", "", format!("{c:?}"))],
        Routed::Metadata(m) => match m {
            Metadata::Table { db, table, show }
                if db
                    .as_ref()
                    .is_none_or(|d| d.eq_ignore_ascii_case(&schema.name)) =>
            {
                match super::show::table_target(schema, table, show) {
                    Ok(target) => vec![row(
                        place_name(target.place),
                        database(schema, target.place),
                        target.sql,
                    )],
                    Err(e) => vec![row("proxy", "", e.to_string())],
                }
            }
            other => vec![row("proxy", "", format!("{other:?}"))],
        },
        Routed::Haoka(h) => vec![row("proxy", "", format!("SHOW HAOKA {h:?}").to_uppercase())],
        Routed::PassThrough { sql } => vec![row("any", "", sql.clone())],
        Routed::NeedIds(p) => vec![row(
            "sequence",
            "",
            format!(
                "{} ids from sequence {} for column {}, then route by row",
                p.count, p.sequence, p.column
            ),
        )],
        Routed::NeedLookup(p) => {
            let mut rows: Vec<ExplainRow> = p
                .lookups
                .iter()
                .map(|t| {
                    row(
                        place_name(t.place),
                        database(schema, t.place),
                        t.sql.clone(),
                    )
                })
                .collect();
            rows.push(row(
                "lookup",
                "",
                format!(
                    "global index {}: route by the {} values returned above",
                    p.index, p.key_column
                ),
            ));
            rows
        }
        Routed::Explain(inner) => explain(inner, schema),
    }
}
