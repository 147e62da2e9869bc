//! Binding a parameterised plan to values: routing, physical SQL, merge spec.
//! The entry point and the renderer shared by every statement kind are
//! here, then one module per kind (`dml` for SELECT/UPDATE/DELETE routing
//! and scatter merges, `insert` for rows split by shard, `lookup` for
//! routing through a global index).

mod dml;
mod insert;
mod lookup;

use dml::*;
use insert::*;
use lookup::*;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::RouteError;
use super::keys::{equalities, eval, place_row, Args, Layout, PairSet, SegmentMap};
use super::lexer::{
    planning_mode, push_quoted_ident, quote_ident, with_sql_mode, Hint, NamePart, Piece, Template,
};
use super::plan::*;
use crate::merge::Expr;
use crate::rules::{KeyValue, Place, Rules, Schema, ShardedTable};

/// Output of a render: the inlined SQL and (for prepared binds) the `?` form.
struct Out<'a> {
    args: &'a Args<'a>,
    text: String,
    prep: Option<(String, Vec<ParamSource>)>,
}

impl Out<'_> {
    fn new<'a>(args: &'a Args<'a>, prepared: bool) -> Out<'a> {
        Out {
            args,
            text: String::with_capacity(64),
            prep: prepared.then(|| (String::with_capacity(64), Vec::new())),
        }
    }
    fn text(&mut self, s: &str) {
        self.text.push_str(s);
        if let Some((p, _)) = &mut self.prep {
            p.push_str(s);
        }
    }
    fn param(&mut self, i: usize) {
        self.args.push_sql(i, &mut self.text);
        if let Some((p, v)) = &mut self.prep {
            p.push('?');
            v.push(ParamSource::Client(i));
        }
    }
    /// A value computed per execution: inlined in the text form, a `?` in
    /// the prepared form (whose text must not change between executions).
    fn computed(&mut self, n: u64) {
        self.text.push_str(&n.to_string());
        if let Some((p, v)) = &mut self.prep {
            p.push('?');
            v.push(ParamSource::Computed(n));
        }
    }
    /// A table name, quoted.
    fn ident(&mut self, name: &str) {
        push_quoted_ident(&mut self.text, name);
        if let Some((p, _)) = &mut self.prep {
            push_quoted_ident(p, name);
        }
    }

    /// A select item's alias: the client's text as a quoted identifier
    /// (the same in both forms; a prepared statement's `?` stays `?`).
    fn name(&mut self, parts: &[NamePart]) {
        let mut name = String::new();
        for p in parts {
            match p {
                NamePart::Text(t) => name.push_str(t),
                NamePart::Param(i) => match self.args {
                    Args::Lits(l) => name.push_str(l.get(*i).map_or("", |l| l.text.as_str())),
                    Args::Values(_) => name.push('?'),
                },
            }
        }
        self.ident(&name);
    }

    fn finish(self, place: Place) -> Target {
        Target {
            place,
            sql: self.text,
            prepared: self.prep.map(|(sql, params)| PreparedSql { sql, params }),
        }
    }
}

type RowsFill<'a> = (&'a [Template], &'a [usize], &'a [Option<u64>]);

struct Fill<'a> {
    names: &'a [String],
    limit: Option<u64>,
    /// For INSERT: row templates, the rows of this target, their ids.
    rows: Option<RowsFill<'a>>,
    /// (param replaced by the sequence id, id)
    seq: Option<(Option<usize>, u64)>,
    /// The condition excluding stale rows of moved provinces on this
    /// target (see `Piece::ExcludeOpen`); None on most.
    exclude: Option<&'a str>,
}

fn render(t: &Template, fill: &Fill, out: &mut Out) {
    for p in &t.0 {
        match p {
            Piece::Text(s) => out.text(s),
            Piece::Param(i) => match fill.seq {
                Some((Some(sp), id)) if sp == *i => out.computed(id),
                _ => out.param(*i),
            },
            Piece::Table(n) => out.ident(fill.names.get(*n).map_or("", |s| s.as_str())),
            Piece::LimitSum => out.computed(fill.limit.unwrap_or(u64::MAX)),
            Piece::SeqId => {
                if let Some((_, id)) = fill.seq {
                    out.computed(id)
                } else {
                    out.text("NULL")
                }
            }
            Piece::Name(parts) => out.name(parts),
            // INSERT rows are rendered by `render_insert`
            Piece::Rows => {}
            Piece::ExcludeOpen => {
                if fill.exclude.is_some() {
                    out.text("(")
                }
            }
            Piece::ExcludeClose => {
                if let Some(c) = fill.exclude {
                    out.text(") AND ");
                    out.text(c);
                }
            }
            Piece::ExcludeWhere => {
                if let Some(c) = fill.exclude {
                    out.text(" WHERE ");
                    out.text(c);
                }
            }
        }
    }
}

fn logical_names(slots: &[Slot]) -> Vec<String> {
    slots.iter().map(|s| s.name.clone()).collect()
}

fn layout<'a>(t: &'a ShardedTable, schema: &Schema) -> Layout<'a> {
    Layout {
        table: t,
        shards: schema.shards.len(),
    }
}

fn check_hint(hint: Option<Hint>, schema: &Schema) -> Result<(), RouteError> {
    if let Some(Hint::Shard(n)) = hint {
        if n >= schema.shards.len() {
            return Err(RouteError::HintShardOutOfRange {
                shard: n,
                schema: schema.name.clone(),
                count: schema.shards.len(),
            });
        }
    }
    Ok(())
}

pub(crate) fn bind(
    plan: &Arc<Plan>,
    rules: &Arc<Rules>,
    schema_idx: usize,
    args: Args,
    segs: &dyn SegmentMap,
) -> Result<Routed, RouteError> {
    let schema = rules
        .schemas
        .get(schema_idx)
        .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
    if args.len() != plan.params {
        return Err(RouteError::WrongParamCount {
            expected: plan.params,
            got: args.len(),
        });
    }
    check_hint(plan.hint, schema)?;
    let prepared = matches!(args, Args::Values(_));
    match &plan.body {
        Body::Fixed(r) => Ok(r.as_ref().clone()),
        Body::NoTable(t) => Ok(Routed::NoTable {
            sql: render_inline(t, &args),
        }),
        Body::Catalog(t) => Ok(Routed::Metadata(Metadata::AnyShard {
            sql: render_inline(t, &args),
        })),
        Body::Explain(inner) => Ok(Routed::Explain(Box::new(bind(
            inner, rules, schema_idx, args, segs,
        )?))),
        Body::Dml(d) => bind_dml(plan, d, rules, schema_idx, &args, segs, prepared, None),
        Body::Insert(ip) => {
            let needs: Vec<bool> = match &ip.sequence {
                None => Vec::new(),
                Some(s) => s
                    .rows
                    .iter()
                    .map(|r| match r {
                        None => true,
                        Some(usize::MAX) => false,
                        Some(p) => args.is_null_or_zero(*p),
                    })
                    .collect(),
            };
            let count = needs.iter().filter(|n| **n).count();
            if count > 0 {
                let s = ip
                    .sequence
                    .as_ref()
                    .map(|s| (s.name.clone(), s.column.clone()));
                let (sequence, column) = s.unwrap_or_default();
                return Ok(Routed::NeedIds(PendingInsert {
                    kind: plan.kind,
                    sequence,
                    column,
                    count,
                    plan: plan.clone(),
                    rules: rules.clone(),
                    schema_idx,
                    args: match args {
                        Args::Lits(l) => OwnedArgs::Lits(l.to_vec()),
                        Args::Values(v) => OwnedArgs::Values(v.to_vec()),
                    },
                    needs,
                    sql_mode: planning_mode(),
                }));
            }
            bind_insert(plan, ip, schema, &args, segs, &needs, &[], prepared)
        }
    }
}

/// A statement without tables with its parameters as literals.
fn render_inline(t: &Template, args: &Args<'_>) -> String {
    let mut out = Out::new(args, false);
    render(
        t,
        &Fill {
            names: &[],
            limit: None,
            rows: None,
            seq: None,
            exclude: None,
        },
        &mut out,
    );
    out.text
}
