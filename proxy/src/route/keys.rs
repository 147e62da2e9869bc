//! Shard-key conditions pulled out of WHERE / ON / VALUES, and their
//! evaluation (with the bound values) to a set of (shard, split-table) pairs.

use std::collections::BTreeSet;

use mysql_common::value::Value;

use super::error::RouteError;
use super::lexer::Lit;
use crate::rules::{Derivation, KeyValue, RulesError, ShardedTable};

/// Run-time values of the statement's placeholders.
#[derive(Debug, Clone, Copy)]
pub enum Args<'a> {
    /// Literals the normaliser took out of a text query.
    Lits(&'a [Lit]),
    /// Values bound to a prepared statement.
    Values(&'a [Value]),
}

impl Args<'_> {
    pub fn len(&self) -> usize {
        match self {
            Args::Lits(l) => l.len(),
            Args::Values(v) => v.len(),
        }
    }

    /// The value as a shard key; None for NULL or a value no key can have.
    pub fn key(&self, i: usize) -> Option<KeyValue> {
        match self {
            Args::Lits(l) => l.get(i).map(|l| l.value.key()),
            Args::Values(v) => match v.get(i)? {
                Value::NULL => None,
                Value::Int(x) => Some(KeyValue::Int(*x as i128)),
                Value::UInt(x) => Some(KeyValue::Int(*x as i128)),
                Value::Bytes(b) => Some(KeyValue::Str(String::from_utf8_lossy(b).into_owned())),
                other => Some(KeyValue::Str(
                    other.as_sql(false).trim_matches('\'').to_string(),
                )),
            },
        }
    }

    /// NULL or 0: what MySQL replaces with a generated id in an
    /// AUTO_INCREMENT column (without NO_AUTO_VALUE_ON_ZERO).
    pub fn is_null_or_zero(&self, i: usize) -> bool {
        match self {
            Args::Lits(l) => matches!(
                l.get(i).map(|l| &l.value),
                Some(super::lexer::LitValue::Int(0))
            ),
            Args::Values(v) => match v.get(i) {
                Some(Value::NULL) | Some(Value::Int(0)) | Some(Value::UInt(0)) => true,
                Some(Value::Bytes(b)) => b.as_slice() == b"0",
                _ => false,
            },
        }
    }

    /// A non-negative integer (LIMIT / OFFSET).
    pub fn uint(&self, i: usize) -> Option<u64> {
        match self.key(i)? {
            KeyValue::Int(x) => u64::try_from(x).ok(),
            KeyValue::Str(s) => s.trim().parse().ok(),
        }
    }

    /// Append the value as SQL text.
    pub fn push_sql(&self, i: usize, out: &mut String) {
        match self {
            Args::Lits(l) => match l.get(i) {
                Some(l) => out.push_str(&l.text),
                None => out.push_str("NULL"),
            },
            Args::Values(v) => match v.get(i) {
                Some(v) => {
                    let no_backslash = super::lexer::planning_mode().no_backslash_escapes;
                    out.push_str(&v.as_sql(no_backslash))
                }
                None => out.push_str("NULL"),
            },
        }
    }

    /// The value for a merge expression.
    pub fn value(&self, i: usize) -> Value {
        match self {
            Args::Lits(l) => match l.get(i).map(|l| &l.value) {
                Some(super::lexer::LitValue::Int(x)) => match i64::try_from(*x) {
                    Ok(v) => Value::Int(v),
                    Err(_) => Value::Bytes(x.to_string().into_bytes()),
                },
                Some(super::lexer::LitValue::Num(s)) => match s.parse::<f64>() {
                    Ok(f) if s.contains(['e', 'E']) => Value::Double(f),
                    _ => Value::Bytes(s.clone().into_bytes()),
                },
                Some(super::lexer::LitValue::Str(s)) => Value::Bytes(s.clone().into_bytes()),
                None => Value::NULL,
            },
            Args::Values(v) => v.get(i).cloned().unwrap_or(Value::NULL),
        }
    }
}

/// A value in a key condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Param(usize),
    Const(KeyValue),
}

impl Operand {
    pub fn resolve(&self, args: &Args) -> Option<KeyValue> {
        match self {
            Operand::Param(i) => args.key(*i),
            Operand::Const(k) => Some(k.clone()),
        }
    }
}

/// A condition on the routing columns of table slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Nothing known: every place.
    True,
    Eq {
        slot: usize,
        column: String,
        value: Operand,
    },
    In {
        slot: usize,
        column: String,
        values: Vec<Operand>,
    },
    /// Inclusive bounds (a strict bound is widened: a superset is safe).
    Range {
        slot: usize,
        column: String,
        low: Option<Operand>,
        high: Option<Operand>,
    },
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// A set of (shard, split index) pairs of one table; `All` = every pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairSet {
    All,
    Some(BTreeSet<(usize, usize)>),
}

/// The segment lookup, loaded at run time from the broadcast segment table.
pub trait SegmentMap {
    /// The province code of a 7-digit segment, None when unknown.
    fn province_of(&self, segment: &str) -> Option<String>;
}

/// A segment map that knows nothing (for schemas without derived routing).
pub struct NoSegments;

impl SegmentMap for NoSegments {
    fn province_of(&self, _segment: &str) -> Option<String> {
        None
    }
}

impl<F: Fn(&str) -> Option<String>> SegmentMap for F {
    fn province_of(&self, segment: &str) -> Option<String> {
        self(segment)
    }
}

/// Shape of one sharded table's places.
pub struct Layout<'a> {
    pub table: &'a ShardedTable,
    pub shards: usize,
}

impl Layout<'_> {
    pub fn splits(&self) -> usize {
        self.table.split_by.as_ref().map(|s| s.count).unwrap_or(1)
    }

    /// Is `column` something routing can use?
    pub fn is_routing_column(&self, column: &str) -> bool {
        let t = self.table;
        t.shard_by.column == column
            || t.split_by.as_ref().is_some_and(|s| s.column == column)
            || t.derive.iter().any(|d| match d {
                Derivation::Prefix { from, .. } | Derivation::SegmentLookup { from, .. } => {
                    from == column
                }
            })
    }

    fn all(&self) -> BTreeSet<(usize, usize)> {
        let splits = self.splits();
        (0..self.shards)
            .flat_map(|s| (0..splits).map(move |p| (s, p)))
            .collect()
    }

    pub fn materialize(&self, set: &PairSet) -> BTreeSet<(usize, usize)> {
        match set {
            PairSet::All => self.all(),
            PairSet::Some(s) => s.clone(),
        }
    }

    /// The places of rows whose `column` equals `value`.
    pub fn point(
        &self,
        column: &str,
        value: &KeyValue,
        segs: &dyn SegmentMap,
    ) -> Result<PairSet, RouteError> {
        let t = self.table;
        let mut known: Vec<(&str, KeyValue)> = vec![(column, value.clone())];
        // derivations, to a fixed point (they are few)
        for _ in 0..t.derive.len() {
            for d in &t.derive {
                match d {
                    Derivation::Prefix { from, to, len } => {
                        if known.iter().any(|(c, _)| c == to) {
                            continue;
                        }
                        if let Some((_, v)) = known.iter().find(|(c, _)| c == from) {
                            let text = v.as_text();
                            if text.chars().count() < *len {
                                return Err(RouteError::BadKeyValue {
                                    column: from.clone(),
                                    value: text,
                                    why: format!("it is shorter than the {len} characters {to} is taken from"),
                                });
                            }
                            let p: String = text.chars().take(*len).collect();
                            known.push((to, KeyValue::Str(p)));
                        }
                    }
                    Derivation::SegmentLookup { from, to } => {
                        if known.iter().any(|(c, _)| c == to) {
                            continue;
                        }
                        if let Some((_, v)) = known.iter().find(|(c, _)| c == from) {
                            let seg = v.as_text();
                            let p = segs.province_of(&seg).ok_or_else(|| {
                                RouteError::UnknownSegment {
                                    segment: seg.clone(),
                                    column: column.to_string(),
                                }
                            })?;
                            known.push((to, KeyValue::Str(p)));
                        }
                    }
                }
            }
        }
        let get = |c: &str| known.iter().find(|(k, _)| *k == c).map(|(_, v)| v);
        let shard = match get(&t.shard_by.column) {
            Some(v) => Some(
                t.shard_by
                    .algorithm
                    .place(v, self.shards)
                    .map_err(|e| RouteError::from_rules(e, &t.shard_by.column))?,
            ),
            None => None,
        };
        let split = match (
            &t.split_by,
            t.split_by.as_ref().and_then(|s| get(&s.column)),
        ) {
            (Some(s), Some(v)) => Some(
                s.algorithm
                    .place(v, s.count)
                    .map_err(|e| RouteError::from_rules(e, &s.column))?,
            ),
            (None, _) => Some(0),
            _ => None,
        };
        Ok(match (shard, split) {
            (None, None) => PairSet::All,
            (Some(s), Some(p)) => PairSet::Some([(s, p)].into_iter().collect()),
            (Some(s), None) => PairSet::Some((0..self.splits()).map(|p| (s, p)).collect()),
            (None, Some(p)) => PairSet::Some((0..self.shards).map(|s| (s, p)).collect()),
        })
    }

    /// Do these column values decide the shard (whatever the split table)?
    pub fn point_known(&self, values: &[(&str, KeyValue)], segs: &dyn SegmentMap) -> bool {
        values.iter().any(|(c, v)| {
            matches!(self.point(c, v, segs), Ok(PairSet::Some(s))
                if s.iter().map(|p| p.0).collect::<BTreeSet<_>>().len() == 1
                    && (self.shards > 1 || self.table.shard_by.column == *c))
        })
    }

    fn range(&self, column: &str, low: Option<i128>, high: Option<i128>) -> PairSet {
        let t = self.table;
        let (lo, hi) = (low.unwrap_or(i128::MIN / 4), high.unwrap_or(i128::MAX / 4));
        if t.shard_by.column == column {
            if let Some(places) = t.shard_by.algorithm.places_for_range(lo, hi, self.shards) {
                let splits = self.splits();
                return PairSet::Some(
                    places
                        .into_iter()
                        .flat_map(|s| (0..splits).map(move |p| (s, p)))
                        .collect(),
                );
            }
        }
        if let Some(split) = &t.split_by {
            if split.column == column {
                if let Some(places) = split.algorithm.places_for_range(lo, hi, split.count) {
                    return PairSet::Some(
                        (0..self.shards)
                            .flat_map(|s| places.iter().map(move |p| (s, *p)))
                            .collect(),
                    );
                }
            }
        }
        PairSet::All
    }
}

fn intersect(a: PairSet, b: PairSet) -> PairSet {
    match (a, b) {
        (PairSet::All, x) | (x, PairSet::All) => x,
        (PairSet::Some(a), PairSet::Some(b)) => {
            PairSet::Some(a.intersection(&b).copied().collect())
        }
    }
}

fn union(a: PairSet, b: PairSet) -> PairSet {
    match (a, b) {
        (PairSet::All, _) | (_, PairSet::All) => PairSet::All,
        (PairSet::Some(mut a), PairSet::Some(b)) => {
            a.extend(b);
            PairSet::Some(a)
        }
    }
}

/// The places of `slot`'s rows that can satisfy `cond`.
pub fn eval(
    cond: &Cond,
    slot: usize,
    layout: &Layout,
    args: &Args,
    segs: &dyn SegmentMap,
) -> Result<PairSet, RouteError> {
    match cond {
        Cond::True => Ok(PairSet::All),
        Cond::Eq {
            slot: s,
            column,
            value,
        } => {
            if *s != slot {
                return Ok(PairSet::All);
            }
            match value.resolve(args) {
                Some(v) => point_lenient(layout, column, &v, segs),
                // `= NULL` matches nothing: any one place answers correctly
                None => Ok(PairSet::All),
            }
        }
        Cond::In {
            slot: s,
            column,
            values,
        } => {
            if *s != slot {
                return Ok(PairSet::All);
            }
            let mut acc = PairSet::Some(BTreeSet::new());
            for v in values {
                match v.resolve(args) {
                    Some(v) => acc = union(acc, point_lenient(layout, column, &v, segs)?),
                    None => continue,
                }
            }
            Ok(acc)
        }
        Cond::Range {
            slot: s,
            column,
            low,
            high,
        } => {
            if *s != slot {
                return Ok(PairSet::All);
            }
            let bound = |o: &Option<Operand>| -> Result<Option<i128>, ()> {
                match o {
                    None => Ok(None),
                    Some(o) => o.resolve(args).and_then(|v| v.as_int()).map(Some).ok_or(()),
                }
            };
            match (bound(low), bound(high)) {
                (Ok(l), Ok(h)) => Ok(layout.range(column, l, h)),
                _ => Ok(PairSet::All),
            }
        }
        Cond::And(cs) => {
            let mut acc = PairSet::All;
            // ranges on one column combine into one interval first
            let mut ranges: Vec<(&str, Option<i128>, Option<i128>)> = Vec::new();
            for c in cs {
                if let Cond::Range {
                    slot: s,
                    column,
                    low,
                    high,
                } = c
                {
                    if *s == slot {
                        let b = |o: &Option<Operand>| {
                            o.as_ref()
                                .and_then(|o| o.resolve(args))
                                .and_then(|v| v.as_int())
                        };
                        let (l, h) = (b(low), b(high));
                        match ranges.iter_mut().find(|r| r.0 == column.as_str()) {
                            Some(r) => {
                                r.1 = match (r.1, l) {
                                    (Some(a), Some(b)) => Some(a.max(b)),
                                    (a, b) => a.or(b),
                                };
                                r.2 = match (r.2, h) {
                                    (Some(a), Some(b)) => Some(a.min(b)),
                                    (a, b) => a.or(b),
                                };
                            }
                            None => ranges.push((column.as_str(), l, h)),
                        }
                        continue;
                    }
                }
                acc = intersect(acc, eval(c, slot, layout, args, segs)?);
            }
            for (column, l, h) in ranges {
                if l.is_some() || h.is_some() {
                    acc = intersect(acc, layout.range(column, l, h));
                }
            }
            Ok(acc)
        }
        Cond::Or(cs) => {
            let mut acc = PairSet::Some(BTreeSet::new());
            for c in cs {
                acc = union(acc, eval(c, slot, layout, args, segs)?);
                if acc == PairSet::All {
                    break;
                }
            }
            Ok(acc)
        }
    }
}

/// The values `column` of `slot` must equal for a row to match (from
/// top-level `=` / `IN`, through AND and OR), None when not restricted.
pub fn equalities(cond: &Cond, slot: usize, column: &str, args: &Args) -> Option<Vec<KeyValue>> {
    match cond {
        Cond::Eq {
            slot: s,
            column: c,
            value,
        } if *s == slot && c == column => Some(value.resolve(args).into_iter().collect()),
        Cond::In {
            slot: s,
            column: c,
            values,
        } if *s == slot && c == column => {
            Some(values.iter().filter_map(|v| v.resolve(args)).collect())
        }
        Cond::And(cs) => cs.iter().find_map(|c| equalities(c, slot, column, args)),
        Cond::Or(cs) => {
            let mut all = Vec::new();
            for c in cs {
                all.extend(equalities(c, slot, column, args)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// A point lookup in a WHERE: a value an integer algorithm cannot place
/// matches no row there, so it restricts nothing (MySQL returns no rows).
fn point_lenient(
    layout: &Layout,
    column: &str,
    v: &KeyValue,
    segs: &dyn SegmentMap,
) -> Result<PairSet, RouteError> {
    match layout.point(column, v, segs) {
        Err(RouteError::BadKeyValue { .. }) => Ok(PairSet::All),
        other => other,
    }
}

/// Place one INSERT row: every key must be known.
pub fn place_row(
    layout: &Layout,
    values: &[(&str, KeyValue)],
    segs: &dyn SegmentMap,
) -> Result<Option<(usize, usize)>, RouteError> {
    let mut acc = PairSet::All;
    for (c, v) in values {
        if layout.is_routing_column(c) {
            acc = intersect(acc, layout.point(c, v, segs)?);
        }
    }
    Ok(match acc {
        PairSet::Some(s) if s.len() == 1 => s.into_iter().next(),
        _ => None,
    })
}

#[allow(dead_code)]
fn _assert_rules_error(_: RulesError) {}
