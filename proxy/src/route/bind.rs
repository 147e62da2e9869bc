//! Binding a parameterised plan to values: routing, physical SQL, merge spec.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::RouteError;
use super::keys::{equalities, eval, place_row, Args, Layout, PairSet, SegmentMap};
use super::lexer::{planning_mode, with_sql_mode, Hint, NamePart, Piece, Template};
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
    /// A select item's alias: the client's text as a quoted identifier
    /// (the same in both forms; a prepared statement's `?` stays `?`).
    fn name(&mut self, parts: &[NamePart]) {
        let mut name = String::from("`");
        for p in parts {
            match p {
                NamePart::Text(t) => name.push_str(&t.replace('`', "``")),
                NamePart::Param(i) => match self.args {
                    Args::Lits(l) => {
                        name.push_str(&l.get(*i).map_or("", |l| l.text.as_str()).replace('`', "``"))
                    }
                    Args::Values(_) => name.push('?'),
                },
            }
        }
        name.push('`');
        self.text(&name);
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
}

fn render(t: &Template, fill: &Fill, out: &mut Out) {
    for p in &t.0 {
        match p {
            Piece::Text(s) => out.text(s),
            Piece::Param(i) => match fill.seq {
                Some((Some(sp), id)) if sp == *i => out.computed(id),
                _ => out.param(*i),
            },
            Piece::Table(n) => {
                out.text("`");
                out.text(fill.names.get(*n).map(|s| s.as_str()).unwrap_or(""));
                out.text("`");
            }
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

impl PendingInsert {
    /// Give the ids (exactly `count`, from sequence `sequence`) and get the
    /// routed INSERT.
    pub fn bind_ids(&self, ids: &[u64], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        with_sql_mode(self.sql_mode, || self.bind_ids_now(ids, segs))
    }

    fn bind_ids_now(&self, ids: &[u64], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        if ids.len() != self.count {
            return Err(RouteError::WrongIdCount {
                expected: self.count,
                got: ids.len(),
            });
        }
        let schema = self
            .rules
            .schemas
            .get(self.schema_idx)
            .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
        let Body::Insert(ip) = &self.plan.body else {
            return Err(RouteError::Unsupported("internal: not an insert".into()));
        };
        let (args, prepared) = match &self.args {
            OwnedArgs::Lits(l) => (Args::Lits(l), false),
            OwnedArgs::Values(v) => (Args::Values(v), true),
        };
        bind_insert(
            &self.plan,
            ip,
            schema,
            &args,
            segs,
            &self.needs,
            ids,
            prepared,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn bind_insert(
    plan: &Plan,
    ip: &InsertPlan,
    schema: &Schema,
    args: &Args,
    segs: &dyn SegmentMap,
    needs: &[bool],
    ids: &[u64],
    prepared: bool,
) -> Result<Routed, RouteError> {
    let nrows = ip.rows.len();
    let mut row_ids: Vec<Option<u64>> = vec![None; nrows];
    let mut it = ids.iter();
    for (r, n) in needs.iter().enumerate() {
        if *n {
            row_ids[r] = it.next().copied();
        }
    }
    let seq_param = |r: usize| -> Option<usize> {
        ip.sequence
            .as_ref()
            .and_then(|s| s.rows.get(r).copied().flatten())
            .filter(|p| *p != usize::MAX)
    };
    // group rows by (place, physical name)
    let mut groups: BTreeMap<(Place, String), Vec<usize>> = BTreeMap::new();
    let mut broadcast = false;
    match (&ip.slot.rule, plan.hint) {
        (_, Some(Hint::Global)) => {
            groups.insert((Place::Global, ip.slot.name.clone()), (0..nrows).collect());
        }
        (SlotRule::Sharded(t), hint) => {
            let l = layout(t, schema);
            let seq_col = ip.sequence.as_ref().map(|s| s.column.as_str());
            #[allow(clippy::needless_range_loop)]
            for r in 0..nrows {
                let mut vals: Vec<(&str, KeyValue)> = Vec::new();
                for (c, op) in ip.row_keys.get(r).map(|v| v.as_slice()).unwrap_or(&[]) {
                    let from_seq = Some(c.as_str()) == seq_col
                        && (op.is_none()
                            || (needs.get(r) == Some(&true) && seq_param(r).is_some()));
                    let v = if from_seq {
                        row_ids[r].map(|i| KeyValue::Int(i as i128))
                    } else {
                        op.as_ref().and_then(|o| o.resolve(args))
                    };
                    if let Some(v) = v {
                        vals.push((c.as_str(), v));
                    }
                }
                let (shard, split) = match place_row(&l, &vals, segs)? {
                    Some(p) => p,
                    None => match hint {
                        Some(Hint::Shard(n)) if t.split_by.is_none() => (n, 0),
                        _ => {
                            // name the split column when the shard is known
                            let shard_known = l.point_known(&vals, segs);
                            let column = match (&t.split_by, shard_known) {
                                (Some(sp), true) => sp.column.clone(),
                                _ => t.shard_by.column.clone(),
                            };
                            return Err(RouteError::MissingShardKey {
                                table: t.name.clone(),
                                column,
                                row: r + 1,
                            });
                        }
                    },
                };
                let shard = match hint {
                    Some(Hint::Shard(n)) => n,
                    _ => shard,
                };
                groups
                    .entry((Place::Data(shard), t.physical_name(split)))
                    .or_default()
                    .push(r);
            }
        }
        (SlotRule::Broadcast, Some(Hint::Shard(n))) => {
            groups.insert((Place::Data(n), ip.slot.name.clone()), (0..nrows).collect());
        }
        (SlotRule::Broadcast, _) => {
            broadcast = true;
            for p in schema.all_places() {
                groups.insert((p, ip.slot.name.clone()), (0..nrows).collect());
            }
        }
        (SlotRule::Global, _) => {
            groups.insert((Place::Global, ip.slot.name.clone()), (0..nrows).collect());
        }
    }
    // per row: the parameter that carries the sequence column (replaced by
    // the id when the row gets one)
    let seq_p: Vec<Option<usize>> = match &ip.sequence {
        Some(s) => s
            .rows
            .iter()
            .map(|r| r.filter(|p| *p != usize::MAX))
            .collect(),
        None => Vec::new(),
    };
    let mut targets = Vec::with_capacity(groups.len());
    let mut rows = Vec::with_capacity(groups.len());
    for ((place, name), rs) in &groups {
        let names = [name.clone()];
        let fill = Fill {
            names: &names,
            limit: None,
            rows: Some((&ip.rows, rs, &row_ids)),
            seq: None,
        };
        let mut out = Out::new(args, prepared);
        render_insert(&ip.template, &fill, &mut out, &seq_p);
        targets.push(out.finish(*place));
        rows.push(rs.len());
    }
    let mut index_move = false;
    if let Some(ix) = &ip.index {
        let l = layout(&ix.table, schema);
        let template = match &ix.move_template {
            Some(m) if nrows == 1 && !broadcast => {
                index_move = true;
                m
            }
            _ => &ix.template,
        };
        let mut by_shard: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for r in 0..nrows {
            let key = ix
                .keys
                .get(r)
                .cloned()
                .flatten()
                .and_then(|o| o.resolve(args))
                .ok_or_else(|| RouteError::MissingShardKey {
                    table: ip.slot.name.clone(),
                    column: ix.table.shard_by.column.clone(),
                    row: r + 1,
                })?;
            let (shard, _) = place_row(&l, &[(ix.table.shard_by.column.as_str(), key)], segs)?
                .ok_or_else(|| RouteError::MissingShardKey {
                    table: ip.slot.name.clone(),
                    column: ix.table.shard_by.column.clone(),
                    row: r + 1,
                })?;
            by_shard.entry(shard).or_default().push(r);
        }
        for (shard, rs) in by_shard {
            let fill = Fill {
                names: &[],
                limit: None,
                rows: Some((&ix.rows, &rs, &row_ids)),
                seq: None,
            };
            let mut out = Out::new(args, prepared);
            render_insert(template, &fill, &mut out, &seq_p);
            targets.push(out.finish(Place::Data(shard)));
            rows.push(rs.len());
        }
    }
    Ok(Routed::Shards(ShardPlan {
        kind: plan.kind,
        targets,
        merge: None,
        broadcast,
        any_copy: false,
        rows,
        ids: row_ids.iter().flatten().copied().collect(),
        index_move,
    }))
}

/// An INSERT template: rows get their own sequence id.
fn render_insert(t: &Template, fill: &Fill, out: &mut Out, seq_p: &[Option<usize>]) {
    for p in &t.0 {
        match p {
            Piece::Rows => {
                let Some((templates, rows, ids)) = fill.rows else {
                    continue;
                };
                for (k, r) in rows.iter().enumerate() {
                    if k > 0 {
                        out.text(", ");
                    }
                    let Some(rt) = templates.get(*r) else {
                        continue;
                    };
                    let id = ids.get(*r).copied().flatten();
                    let sub = Fill {
                        names: fill.names,
                        limit: None,
                        rows: None,
                        seq: id.map(|id| (seq_p.get(*r).copied().flatten(), id)),
                    };
                    render(rt, &sub, out);
                }
            }
            other => render(
                &Template(vec![other.clone()]),
                &Fill {
                    names: fill.names,
                    limit: None,
                    rows: None,
                    seq: None,
                },
                out,
            ),
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
        },
        &mut out,
    );
    out.text
}

#[allow(clippy::too_many_arguments)]
fn bind_dml(
    plan: &Arc<Plan>,
    d: &DmlPlan,
    rules: &Arc<Rules>,
    schema_idx: usize,
    args: &Args,
    segs: &dyn SegmentMap,
    prepared: bool,
    known: Option<&BTreeSet<usize>>,
) -> Result<Routed, RouteError> {
    let schema = rules
        .schemas
        .get(schema_idx)
        .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
    let write = plan.kind.is_write();
    let mut broadcast = false;
    let mut any_copy = false;
    // (place, physical names per slot)
    let mut targets: Vec<(Place, Vec<String>)> = Vec::new();
    match (&d.placement, plan.hint) {
        (_, Some(Hint::Global)) | (Placement::Global, _) => {
            targets.push((Place::Global, logical_names(&d.slots)));
        }
        (Placement::Broadcast, Some(Hint::Shard(n))) => {
            targets.push((Place::Data(n), logical_names(&d.slots)));
        }
        (Placement::Broadcast, None) => {
            if write {
                broadcast = true;
                for p in schema.all_places() {
                    targets.push((p, logical_names(&d.slots)));
                }
            } else {
                any_copy = true;
                targets.push((Place::Data(0), logical_names(&d.slots)));
            }
        }
        (Placement::Sharded { group, sub }, hint) => {
            let mut shards: Option<BTreeSet<usize>> = None;
            let mut splits: Option<BTreeSet<(usize, usize)>> = None;
            let drivers = if group.is_empty() { sub } else { group };
            for &g in drivers {
                let SlotRule::Sharded(t) = &d.slots[g].rule else {
                    continue;
                };
                let l = layout(t, schema);
                let set = eval(&d.cond, g, &l, args, segs)?;
                if set == PairSet::All && t.split_by.is_none() {
                    continue;
                }
                let m = l.materialize(&set);
                let sh: BTreeSet<usize> = m.iter().map(|p| p.0).collect();
                shards = Some(match shards {
                    None => sh,
                    Some(s) => s.intersection(&sh).copied().collect(),
                });
                if t.split_by.is_some() {
                    splits = Some(match splits {
                        None => m,
                        Some(s) => s.intersection(&m).copied().collect(),
                    });
                }
            }
            let mut shards: BTreeSet<usize> =
                shards.unwrap_or_else(|| (0..schema.shards.len()).collect());
            match (known, &d.lookup, hint) {
                (Some(k), _, _) => shards = shards.intersection(k).copied().collect(),
                (None, Some(lk), None) if shards.len() == schema.shards.len() => {
                    if let Some(vals) = equalities(&d.cond, lk.slot, &lk.column, args) {
                        if !vals.is_empty() {
                            return lookup(plan, lk, rules, schema_idx, args, segs, vals);
                        }
                    }
                }
                _ => {}
            }
            let mut pairs: Vec<(usize, Option<usize>)> = match &splits {
                Some(sp) => sp
                    .iter()
                    .filter(|(s, _)| shards.contains(s))
                    .map(|(s, p)| (*s, Some(*p)))
                    .collect(),
                None => shards.iter().map(|s| (*s, None)).collect(),
            };
            if let Some(Hint::Shard(n)) = hint {
                let mut sp: BTreeSet<Option<usize>> = pairs.iter().map(|p| p.1).collect();
                if sp.is_empty() {
                    sp = match &splits {
                        Some(_) => split_count(d, drivers)
                            .map(|c| (0..c).map(Some).collect())
                            .unwrap_or_default(),
                        None => [None].into_iter().collect(),
                    };
                }
                pairs = sp.into_iter().map(|p| (n, p)).collect();
            }
            if pairs.is_empty() {
                // contradictory conditions: no row anywhere; one place answers
                pairs.push((0, splits.as_ref().map(|_| 0)));
            }
            let mut sub_names: Vec<(usize, String)> = Vec::new();
            if !sub.is_empty() {
                if pairs.len() != 1 {
                    return Err(RouteError::not_supported(
                        "a subquery, derived table or UNION on sharded tables across several shards",
                        "add shard-key conditions so that every table routes to the same single shard",
                    ));
                }
                let shard = pairs[0].0;
                for &s in sub {
                    let SlotRule::Sharded(t) = &d.slots[s].rule else {
                        continue;
                    };
                    let l = layout(t, schema);
                    let set = eval(&d.cond, s, &l, args, segs)?;
                    let m = l.materialize(&set);
                    let on: Vec<&(usize, usize)> = m.iter().filter(|p| p.0 == shard).collect();
                    let all_same = m.iter().all(|p| p.0 == shard);
                    if on.len() != 1 || !all_same {
                        return Err(RouteError::not_supported(
                            format!(
                                "a subquery on sharded table {} that does not route to the same single shard as the statement",
                                t.name
                            ),
                            "add shard-key conditions to the subquery so it reaches the same shard",
                        ));
                    }
                    sub_names.push((s, t.physical_name(on[0].1)));
                }
            }
            for (shard, split) in pairs {
                let names = d
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        if let Some((_, n)) = sub_names.iter().find(|(k, _)| *k == i) {
                            return n.clone();
                        }
                        match (&s.rule, split) {
                            (SlotRule::Sharded(t), Some(p)) if t.split_by.is_some() => {
                                t.physical_name(p)
                            }
                            _ => s.name.clone(),
                        }
                    })
                    .collect();
                targets.push((Place::Data(shard), names));
            }
        }
    }
    let (kind, single) = (plan.kind, targets.len() == 1);
    if single || write {
        if !single {
            if let Some(e) = &d.multi_write_error {
                return Err(e.clone());
            }
        }
        let targets = targets
            .into_iter()
            .map(|(place, names)| {
                let mut out = Out::new(args, prepared);
                render(
                    &d.single,
                    &Fill {
                        names: &names,
                        limit: None,
                        rows: None,
                        seq: None,
                    },
                    &mut out,
                );
                out.finish(place)
            })
            .collect();
        return Ok(Routed::Shards(ShardPlan {
            kind,
            targets,
            merge: None,
            broadcast,
            any_copy,
            rows: Vec::new(),
            ids: Vec::new(),
            index_move: false,
        }));
    }
    let sc = match &d.scatter {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(e.clone()),
        None => {
            return Err(RouteError::Unsupported(
                "internal: several targets without a merge plan".into(),
            ))
        }
    };
    let mut spec = sc.merge.clone();
    let mut limit_sum = None;
    if let Some(l) = &sc.limit {
        let get = |o: &super::keys::Operand| -> Result<u64, RouteError> {
            match o {
                super::keys::Operand::Param(i) => args.uint(*i),
                super::keys::Operand::Const(k) => k.as_int().and_then(|v| u64::try_from(v).ok()),
            }
            .ok_or_else(|| RouteError::Syntax("LIMIT needs non-negative integers".into()))
        };
        let count = get(&l.count)?;
        let offset = match &l.offset {
            Some(o) => get(o)?,
            None => 0,
        };
        spec.offset = offset;
        spec.limit = Some(count);
        limit_sum = Some(offset.saturating_add(count));
    }
    if let Some(h) = &sc.having {
        spec.having = Some(having(h, args));
    }
    let targets = targets
        .into_iter()
        .map(|(place, names)| {
            let mut out = Out::new(args, prepared);
            render(
                &sc.template,
                &Fill {
                    names: &names,
                    limit: limit_sum,
                    rows: None,
                    seq: None,
                },
                &mut out,
            );
            out.finish(place)
        })
        .collect();
    Ok(Routed::Shards(ShardPlan {
        kind,
        targets,
        merge: Some(MergePlan::new(spec, sc.hidden, sc.wildcard)),
        broadcast: false,
        any_copy: false,
        rows: Vec::new(),
        ids: Vec::new(),
        index_move: false,
    }))
}

/// A key value as a literal the session's MySQL reads back exactly.
fn sql_literal(v: &KeyValue) -> String {
    match v {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::Str(s) => {
            let escapes = !planning_mode().no_backslash_escapes;
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\'' if escapes => out.push_str("\\'"),
                    '\'' => out.push_str("''"),
                    '\\' if escapes => out.push_str("\\\\"),
                    '\0' if escapes => out.push_str("\\0"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
    }
}

fn owned(args: &Args) -> OwnedArgs {
    match args {
        Args::Lits(l) => OwnedArgs::Lits(l.to_vec()),
        Args::Values(v) => OwnedArgs::Values(v.to_vec()),
    }
}

fn lookup(
    plan: &Arc<Plan>,
    lk: &LookupPlan,
    rules: &Arc<Rules>,
    schema_idx: usize,
    args: &Args,
    segs: &dyn SegmentMap,
    vals: Vec<KeyValue>,
) -> Result<Routed, RouteError> {
    let schema = &rules.schemas[schema_idx.min(rules.schemas.len().saturating_sub(1))];
    let l = layout(&lk.index_table, schema);
    let mut by_shard: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for v in &vals {
        let set = l.materialize(&l.point(&lk.column, v, segs)?);
        for (shard, _) in set {
            let lit = sql_literal(v);
            let e = by_shard.entry(shard).or_default();
            if !e.contains(&lit) {
                e.push(lit);
            }
        }
    }
    let lookups = by_shard
        .into_iter()
        .map(|(shard, vs)| Target {
            place: Place::Data(shard),
            sql: format!(
                "SELECT DISTINCT `{}` FROM `{}` WHERE `{}` IN ({})",
                lk.key_column,
                lk.index_table.physical_name(0),
                lk.column,
                vs.join(", ")
            ),
            prepared: None,
        })
        .collect();
    Ok(Routed::NeedLookup(PendingLookup {
        kind: plan.kind,
        index: lk.index.clone(),
        lookups,
        key_column: lk.key_column.clone(),
        plan: plan.clone(),
        rules: rules.clone(),
        schema_idx,
        args: owned(args),
        sql_mode: planning_mode(),
    }))
}

impl PendingLookup {
    /// Give the shard-key values the lookups returned (all rows of all
    /// lookups; none when the index has no entry) and get the routed statement.
    pub fn bind_keys(&self, keys: &[String], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        with_sql_mode(self.sql_mode, || self.bind_keys_now(keys, segs))
    }

    fn bind_keys_now(&self, keys: &[String], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        let schema = self
            .rules
            .schemas
            .get(self.schema_idx)
            .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
        let Body::Dml(d) = &self.plan.body else {
            return Err(RouteError::Unsupported("internal: not a DML plan".into()));
        };
        let Some(lk) = &d.lookup else {
            return Err(RouteError::Unsupported("internal: no lookup".into()));
        };
        let SlotRule::Sharded(base) = &d.slots[lk.slot].rule else {
            return Err(RouteError::Unsupported(
                "internal: lookup on unsharded".into(),
            ));
        };
        let l = layout(base, schema);
        let mut known = BTreeSet::new();
        for k in keys {
            let set = l.materialize(&l.point(&lk.key_column, &KeyValue::Str(k.clone()), segs)?);
            known.extend(set.into_iter().map(|p| p.0));
        }
        let (args, prepared) = match &self.args {
            OwnedArgs::Lits(l) => (Args::Lits(l), false),
            OwnedArgs::Values(v) => (Args::Values(v), true),
        };
        bind_dml(
            &self.plan,
            d,
            &self.rules,
            self.schema_idx,
            &args,
            segs,
            prepared,
            Some(&known),
        )
    }
}

fn split_count(d: &DmlPlan, group: &[usize]) -> Option<usize> {
    group.iter().find_map(|g| match &d.slots[*g].rule {
        SlotRule::Sharded(t) => t.split_by.as_ref().map(|s| s.count),
        _ => None,
    })
}

fn having(h: &HExpr, args: &Args) -> Expr {
    match h {
        HExpr::Column(c) => Expr::Column(*c),
        HExpr::Literal(v) => Expr::Literal(v.clone()),
        HExpr::Param(i) => Expr::Literal(args.value(*i)),
        HExpr::Binary { op, left, right } => Expr::Binary {
            op: *op,
            left: Box::new(having(left, args)),
            right: Box::new(having(right, args)),
        },
        HExpr::Not(x) => Expr::Not(Box::new(having(x, args))),
        HExpr::IsNull { expr, negated } => Expr::IsNull {
            expr: Box::new(having(expr, args)),
            negated: *negated,
        },
        HExpr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: Box::new(having(expr, args)),
            list: list.iter().map(|x| having(x, args)).collect(),
            negated: *negated,
        },
        HExpr::Between {
            expr,
            low,
            high,
            negated,
        } => Expr::Between {
            expr: Box::new(having(expr, args)),
            low: Box::new(having(low, args)),
            high: Box::new(having(high, args)),
            negated: *negated,
        },
    }
}
