//! The streaming merge engine: shard streams in, one pull-based stream out.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bigdecimal::{BigDecimal, RoundingMode};
use mysql_common::value::Value;

use super::having::eval_predicate;
use super::meta::{ColumnMeta, TypeClass};
use super::spec::{AggFunc, MergeSpec, SortKey};
use super::value::{
    format_decimal, format_double, sort_key, to_binary_value, to_text_value, value_to_decimal,
    value_to_f64, value_to_i128, Protocol, ValueKey,
};
use super::MergeError;

/// The future a [`RowStream`] returns for its next row.
pub type RowFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Vec<Value>>, MergeError>> + Send + 'a>>;

/// One shard's result rows, in the order the shard returns them.
///
/// `next_row` yields `Ok(None)` at the end. `cancel` is called (at most once)
/// when the merger needs no more rows from this stream (LIMIT reached); the
/// stream should then stop the shard query (e.g. mark the connection for
/// `KILL QUERY` / discard) — it is dropped right after.
pub trait RowStream: Send {
    fn next_row(&mut self) -> RowFuture<'_>;
    fn cancel(&mut self) {}
}

/// An in-memory [`RowStream`] (tests, broadcast results, cached rows).
pub struct VecStream {
    rows: std::vec::IntoIter<Vec<Value>>,
    /// Set when the merger cancelled the stream.
    pub cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl VecStream {
    pub fn new(rows: Vec<Vec<Value>>) -> Self {
        VecStream {
            rows: rows.into_iter(),
            cancelled: Arc::default(),
        }
    }
}

impl RowStream for VecStream {
    fn next_row(&mut self) -> RowFuture<'_> {
        let r = self.rows.next();
        Box::pin(async move { Ok(r) })
    }
    fn cancel(&mut self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A [`RowStream`] fed through a bounded channel: the executor spawns one
/// task per shard that reads rows off the shard connection and sends them;
/// the bounded buffer gives backpressure, so memory per shard stays at
/// `buffer` rows. When the merger cancels, the receiver is closed, the
/// task's next `send` fails, and it should stop reading (and `KILL QUERY` or
/// drop the connection).
pub struct ChannelStream {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<Value>, MergeError>>,
}

impl ChannelStream {
    /// A sender for the shard task and the stream to hand to [`merge`].
    pub fn channel(
        buffer: usize,
    ) -> (
        tokio::sync::mpsc::Sender<Result<Vec<Value>, MergeError>>,
        ChannelStream,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(buffer.max(1));
        (tx, ChannelStream { rx })
    }
}

impl RowStream for ChannelStream {
    fn next_row(&mut self) -> RowFuture<'_> {
        Box::pin(async move { self.rx.recv().await.transpose() })
    }
    fn cancel(&mut self) {
        self.rx.close();
    }
}

type Input = Box<dyn RowStream + Send>;

// ---------------------------------------------------------------------------
// Sources: concatenation or k-way ordered merge.

struct HeapEntry {
    keys: Vec<ValueKey>,
    desc: Arc<[bool]>,
    shard: usize,
    row: Vec<Value>,
}

fn cmp_keys(a: &[ValueKey], b: &[ValueKey], desc: &[bool]) -> Ordering {
    for ((x, y), d) in a.iter().zip(b).zip(desc) {
        let o = x.cmp(y);
        let o = if *d { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl PartialEq for HeapEntry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for HeapEntry {}
impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for HeapEntry {
    // BinaryHeap is a max-heap: reverse so the smallest row (then the lowest
    // shard number) is on top.
    fn cmp(&self, o: &Self) -> Ordering {
        cmp_keys(&self.keys, &o.keys, &self.desc)
            .then(self.shard.cmp(&o.shard))
            .reverse()
    }
}

fn check_width(row: &[Value], want: usize) -> Result<(), MergeError> {
    if row.len() < want {
        return Err(MergeError::RowWidth {
            got: row.len(),
            want,
        });
    }
    Ok(())
}

fn row_keys(row: &[Value], keys: &[SortKey], metas: &[ColumnMeta]) -> Vec<ValueKey> {
    keys.iter()
        .map(|k| sort_key(&row[k.column], &metas[k.column]))
        .collect()
}

enum Source {
    Concat {
        inputs: Vec<Option<Input>>,
        cur: usize,
    },
    Ordered {
        inputs: Vec<Option<Input>>,
        keys: Vec<SortKey>,
        desc: Arc<[bool]>,
        heap: BinaryHeap<HeapEntry>,
        primed: bool,
        max_heap: usize,
        /// Reject shards whose rows are out of order (only when every key
        /// column's order is emulated exactly; see [`exact_order`]).
        strict: bool,
    },
}

/// True when the merger reproduces the server's order of this column exactly
/// (numbers, temporals, binary and `_bin` strings, general_ci); other `_ci`
/// collations are approximated with general_ci weights.
fn exact_order(meta: &ColumnMeta) -> bool {
    match meta.class() {
        TypeClass::Str(super::meta::Collation::Ci { .. }) => {
            matches!(meta.collation, 33 | 45 | 1057 | 1069)
        }
        _ => true,
    }
}

impl Source {
    fn inputs_mut(&mut self) -> &mut Vec<Option<Input>> {
        match self {
            Source::Concat { inputs, .. } | Source::Ordered { inputs, .. } => inputs,
        }
    }

    async fn next(&mut self, metas: &[ColumnMeta]) -> Result<Option<Vec<Value>>, MergeError> {
        let width = metas.len();
        match self {
            Source::Concat { inputs, cur } => {
                while *cur < inputs.len() {
                    if let Some(s) = inputs[*cur].as_mut() {
                        if let Some(row) = s.next_row().await? {
                            check_width(&row, width)?;
                            return Ok(Some(row));
                        }
                    }
                    inputs[*cur] = None;
                    *cur += 1;
                }
                Ok(None)
            }
            Source::Ordered {
                inputs,
                keys,
                desc,
                heap,
                primed,
                max_heap,
                strict,
            } => {
                if !*primed {
                    *primed = true;
                    for (shard, slot) in inputs.iter_mut().enumerate() {
                        let s = match slot.as_mut() {
                            Some(s) => s,
                            None => continue,
                        };
                        match s.next_row().await? {
                            Some(row) => {
                                check_width(&row, width)?;
                                heap.push(HeapEntry {
                                    keys: row_keys(&row, keys, metas),
                                    desc: desc.clone(),
                                    shard,
                                    row,
                                });
                            }
                            None => *slot = None,
                        }
                    }
                    *max_heap = (*max_heap).max(heap.len());
                }
                let top = match heap.pop() {
                    Some(t) => t,
                    None => return Ok(None),
                };
                let shard = top.shard;
                if let Some(s) = inputs[shard].as_mut() {
                    match s.next_row().await? {
                        Some(row) => {
                            check_width(&row, width)?;
                            let new_keys = row_keys(&row, keys, metas);
                            if *strict && cmp_keys(&new_keys, &top.keys, desc) == Ordering::Less {
                                return Err(MergeError::UnsortedInput { shard });
                            }
                            heap.push(HeapEntry {
                                keys: new_keys,
                                desc: desc.clone(),
                                shard,
                                row,
                            });
                            *max_heap = (*max_heap).max(heap.len());
                        }
                        None => inputs[shard] = None,
                    }
                }
                Ok(Some(top.row))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Aggregation

#[derive(Debug)]
enum Acc {
    Count(i128),
    SumDec(Option<BigDecimal>),
    SumDbl(Option<f64>),
    Min(Option<(ValueKey, Value)>),
    Max(Option<(ValueKey, Value)>),
    AvgDec(Option<BigDecimal>, i128),
    AvgDbl(Option<f64>, i128),
}

fn overflow(column: usize) -> MergeError {
    MergeError::BadValue {
        column,
        value: "count overflow".into(),
    }
}

fn is_float(meta: &ColumnMeta) -> bool {
    meta.class() == TypeClass::Float
}

/// One aggregate of the merged row: where its result goes, how it combines,
/// and which input column is accumulated.
struct AggSlot {
    column: usize,
    func: AggFunc,
    /// The input column added up (`exact` for a full-precision sum).
    source: usize,
}

struct AggPlan {
    group_by: Vec<usize>,
    aggs: Vec<AggSlot>,
    /// Column metadata (as the shards send it; also the merged row's).
    metas: Vec<ColumnMeta>,
}

/// The largest absolute value `CAST(... AS DECIMAL(65,30))` can hold: a
/// shard sum at that bound was clipped.
fn exact_sum_clipped(d: &BigDecimal) -> bool {
    static BOUND: std::sync::OnceLock<BigDecimal> = std::sync::OnceLock::new();
    let bound = BOUND.get_or_init(|| {
        let nines = format!("{}.{}", "9".repeat(35), "9".repeat(30));
        nines.parse().expect("a decimal literal")
    });
    d.abs() >= *bound
}

impl AggPlan {
    fn slots(aggregates: &[super::spec::Aggregate], metas: &[ColumnMeta]) -> Vec<AggSlot> {
        aggregates
            .iter()
            .map(|a| {
                let source = match a.func {
                    AggFunc::ExactSum { exact } if !is_float(&metas[a.column]) => exact,
                    AggFunc::Avg {
                        sum,
                        exact: Some(exact),
                        ..
                    } if !is_float(&metas[sum]) => exact,
                    AggFunc::Avg { sum, .. } => sum,
                    _ => a.column,
                };
                AggSlot {
                    column: a.column,
                    func: a.func.clone(),
                    source,
                }
            })
            .collect()
    }

    fn new_accs(&self) -> Vec<Acc> {
        self.aggs
            .iter()
            .map(|a| match &a.func {
                AggFunc::Count => Acc::Count(0),
                AggFunc::Sum | AggFunc::ExactSum { .. } if is_float(&self.metas[a.source]) => {
                    Acc::SumDbl(None)
                }
                AggFunc::Sum | AggFunc::ExactSum { .. } => Acc::SumDec(None),
                AggFunc::Min => Acc::Min(None),
                AggFunc::Max => Acc::Max(None),
                AggFunc::Avg { .. } if is_float(&self.metas[a.source]) => Acc::AvgDbl(None, 0),
                AggFunc::Avg { .. } => Acc::AvgDec(None, 0),
            })
            .collect()
    }

    fn add(&self, accs: &mut [Acc], row: &[Value]) -> Result<(), MergeError> {
        for (acc, a) in accs.iter_mut().zip(&self.aggs) {
            let col = a.source;
            match acc {
                Acc::Count(n) => {
                    let c = value_to_i128(&row[col], col)?.unwrap_or(0);
                    *n = n.checked_add(c).ok_or_else(|| overflow(col))?;
                }
                Acc::SumDec(s) => {
                    if let Some(v) = self.decimal_part(row, col)? {
                        *s = Some(match s.take() {
                            Some(x) => x + v,
                            None => v,
                        });
                    }
                }
                Acc::SumDbl(s) => {
                    if let Some(v) = value_to_f64(&row[col], col)? {
                        *s = Some(s.unwrap_or(0.0) + v);
                    }
                }
                Acc::Min(m) | Acc::Max(m) => {
                    let v = &row[col];
                    if matches!(v, Value::NULL) {
                        continue;
                    }
                    let k = sort_key(v, &self.metas[col]);
                    let want = if matches!(a.func, AggFunc::Min) {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    let replace = match m {
                        None => true,
                        Some((cur, _)) => k.cmp(cur) == want,
                    };
                    if replace {
                        *m = Some((k, v.clone()));
                    }
                }
                Acc::AvgDec(s, n) => {
                    if let AggFunc::Avg { count, .. } = a.func {
                        if let Some(v) = self.decimal_part(row, col)? {
                            *s = Some(match s.take() {
                                Some(x) => x + v,
                                None => v,
                            });
                        }
                        let c = value_to_i128(&row[count], count)?.unwrap_or(0);
                        *n = n.checked_add(c).ok_or_else(|| overflow(count))?;
                    }
                }
                Acc::AvgDbl(s, n) => {
                    if let AggFunc::Avg { count, .. } = a.func {
                        if let Some(v) = value_to_f64(&row[col], col)? {
                            *s = Some(s.unwrap_or(0.0) + v);
                        }
                        let c = value_to_i128(&row[count], count)?.unwrap_or(0);
                        *n = n.checked_add(c).ok_or_else(|| overflow(count))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A shard's (partial) sum; a full-precision one clipped by its CAST is
    /// an error, not a wrong total.
    fn decimal_part(&self, row: &[Value], col: usize) -> Result<Option<BigDecimal>, MergeError> {
        let v = value_to_decimal(&row[col], col)?;
        if let Some(d) = &v {
            let full_precision = self.aggs.iter().any(|a| {
                a.source == col
                    && matches!(
                        a.func,
                        AggFunc::ExactSum { .. } | AggFunc::Avg { exact: Some(_), .. }
                    )
            });
            if full_precision && exact_sum_clipped(d) {
                return Err(MergeError::BadValue {
                    column: col,
                    value: "a shard's SUM beyond DECIMAL(65,30)".into(),
                });
            }
        }
        Ok(v)
    }

    fn finish(&self, mut base: Vec<Value>, accs: Vec<Acc>) -> Vec<Value> {
        let text = |s: String| Value::Bytes(s.into_bytes());
        // AVG last, so it wins over anything else written to its column.
        let mut avgs = Vec::new();
        for (acc, a) in accs.into_iter().zip(&self.aggs) {
            let col = a.column;
            let meta = &self.metas[col];
            let v = match acc {
                Acc::Count(n) => text(n.to_string()),
                Acc::SumDec(s) => {
                    s.map_or(Value::NULL, |d| text(format_decimal(&d, meta.decimals)))
                }
                Acc::SumDbl(s) => s.map_or(Value::NULL, |x| text(format_double(x, meta.decimals))),
                Acc::Min(m) | Acc::Max(m) => m.map_or(Value::NULL, |(_, v)| v),
                Acc::AvgDec(s, n) => {
                    let v = match (s, &a.func) {
                        (Some(s), AggFunc::Avg { sum, .. }) if n != 0 => {
                            let scale = self.metas[col].decimals;
                            text(avg_decimal(&s, n, scale, self.metas[*sum].decimals))
                        }
                        _ => Value::NULL,
                    };
                    avgs.push((col, v));
                    continue;
                }
                Acc::AvgDbl(s, n) => {
                    match s {
                        Some(s) if n != 0 => avgs.push((
                            col,
                            text(format_double(s / n as f64, self.metas[col].decimals)),
                        )),
                        _ => avgs.push((col, Value::NULL)),
                    }
                    continue;
                }
            };
            base[col] = v;
        }
        for (col, v) in avgs {
            base[col] = v;
        }
        base
    }
}

/// MariaDB's AVG of an exact sum: `sum / count` is computed to whole 9-digit
/// words past the sum's own digits plus div_precision_increment and cut
/// there, then shown rounded half up at `scale` (the AVG column's scale, the
/// argument's scale plus the increment). When that cut falls exactly at
/// `scale` (a multiple of 9: `AVG` of a DECIMAL(n,5), or an increment of 0
/// over integers) the shown value is truncated; otherwise the cut lies
/// beyond and the rounding decides. A sum with more digits than the
/// argument's declared scale (`sum_scale`) came from a division kept at
/// full precision, so its cut lies beyond `scale`.
fn avg_decimal(sum: &BigDecimal, count: i128, scale: u8, sum_scale: u8) -> String {
    let q = sum / BigDecimal::from(count);
    let sum_digits = sum.normalized().fractional_digit_count();
    let cut_at_scale = scale.is_multiple_of(9) && sum_digits <= sum_scale as i64;
    let mode = if cut_at_scale {
        RoundingMode::Down
    } else {
        RoundingMode::HalfUp
    };
    format_decimal(&q.with_scale_round(scale as i64, mode), scale)
}

struct Group {
    keys: Vec<ValueKey>,
    base: Vec<Value>,
    accs: Vec<Acc>,
}

enum AggMode {
    /// No GROUP BY: one output row.
    Single { done: bool },
    /// Groups arrive sorted: combine adjacent equal keys.
    Streaming { cur: Option<Group>, done: bool },
    /// Unsorted groups: hash aggregate, then emit.
    Hash {
        index: HashMap<Vec<ValueKey>, usize>,
        groups: Vec<Group>,
        out: Option<std::vec::IntoIter<Group>>,
    },
}

struct Aggregator {
    plan: AggPlan,
    mode: AggMode,
}

impl Aggregator {
    fn group_keys(&self, row: &[Value]) -> Vec<ValueKey> {
        self.plan
            .group_by
            .iter()
            .map(|&c| sort_key(&row[c], &self.plan.metas[c]))
            .collect()
    }

    fn start(&self, row: Vec<Value>) -> Result<Group, MergeError> {
        let mut accs = self.plan.new_accs();
        self.plan.add(&mut accs, &row)?;
        Ok(Group {
            keys: self.group_keys(&row),
            base: row,
            accs,
        })
    }

    async fn next(&mut self, src: &mut Source) -> Result<Option<Vec<Value>>, MergeError> {
        let metas = &self.plan.metas;
        match &mut self.mode {
            AggMode::Single { done } => {
                if *done {
                    return Ok(None);
                }
                *done = true;
                let mut group: Option<Group> = None;
                while let Some(row) = src.next(metas).await? {
                    match group.as_mut() {
                        Some(g) => self.plan.add(&mut g.accs, &row)?,
                        None => {
                            let mut accs = self.plan.new_accs();
                            self.plan.add(&mut accs, &row)?;
                            group = Some(Group {
                                keys: Vec::new(),
                                base: row,
                                accs,
                            });
                        }
                    }
                }
                let g = group.unwrap_or_else(|| Group {
                    keys: Vec::new(),
                    base: vec![Value::NULL; metas.len()],
                    accs: self.plan.new_accs(),
                });
                Ok(Some(self.plan.finish(g.base, g.accs)))
            }
            AggMode::Streaming { .. } => loop {
                let row = {
                    let AggMode::Streaming { done, cur } = &mut self.mode else {
                        unreachable!()
                    };
                    if *done {
                        return Ok(None);
                    }
                    match src.next(&self.plan.metas).await? {
                        Some(r) => r,
                        None => {
                            *done = true;
                            return Ok(cur.take().map(|g| self.plan.finish(g.base, g.accs)));
                        }
                    }
                };
                let keys = self.group_keys(&row);
                let AggMode::Streaming { cur, .. } = &mut self.mode else {
                    unreachable!()
                };
                match cur {
                    Some(g) if g.keys == keys => self.plan.add(&mut g.accs, &row)?,
                    _ => {
                        let mut accs = self.plan.new_accs();
                        self.plan.add(&mut accs, &row)?;
                        let prev = cur.replace(Group {
                            keys,
                            base: row,
                            accs,
                        });
                        if let Some(g) = prev {
                            return Ok(Some(self.plan.finish(g.base, g.accs)));
                        }
                    }
                }
            },
            AggMode::Hash { .. } => {
                let needs_fill = matches!(&self.mode, AggMode::Hash { out: None, .. });
                if needs_fill {
                    while let Some(row) = src.next(&self.plan.metas).await? {
                        let keys = self.group_keys(&row);
                        let AggMode::Hash { index, groups, .. } = &mut self.mode else {
                            unreachable!()
                        };
                        match index.get(&keys) {
                            Some(&i) => self.plan.add(&mut groups[i].accs, &row)?,
                            None => {
                                index.insert(keys, groups.len());
                                let g = self.start(row)?;
                                let AggMode::Hash { groups, .. } = &mut self.mode else {
                                    unreachable!()
                                };
                                groups.push(g);
                            }
                        }
                    }
                    let AggMode::Hash { index, groups, out } = &mut self.mode else {
                        unreachable!()
                    };
                    *index = HashMap::new();
                    *out = Some(std::mem::take(groups).into_iter());
                }
                let AggMode::Hash { out: Some(out), .. } = &mut self.mode else {
                    unreachable!()
                };
                Ok(out.next().map(|g| self.plan.finish(g.base, g.accs)))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The merged stream

enum Distinct {
    None,
    /// Rows arrive sorted by all visible columns: drop adjacent duplicates.
    Adjacent(Option<Vec<ValueKey>>),
    /// Remember every distinct row's normalised visible values.
    Hash(HashSet<Vec<ValueKey>>),
}

/// The merged result: pull rows with [`Merged::next_row`].
pub struct Merged {
    source: Source,
    /// Metadata of the full row (hidden columns included).
    metas: Vec<ColumnMeta>,
    visible: usize,
    agg: Option<Aggregator>,
    having: Option<super::spec::Expr>,
    /// Sort held rows by these keys (None: the stream is already in order).
    sort: Option<Vec<SortKey>>,
    sorted: Option<std::vec::IntoIter<Vec<Value>>>,
    /// DISTINCT applied before the sort buffer (true) or on the final stream.
    distinct_before_sort: bool,
    distinct: Distinct,
    to_skip: u64,
    remaining: Option<u64>,
    protocol: Protocol,
    finished: bool,
    stopped_early: bool,
    max_held: usize,
}

fn distinct_keys(row: &[Value], visible: usize, metas: &[ColumnMeta]) -> Vec<ValueKey> {
    row[..visible]
        .iter()
        .zip(metas)
        .map(|(v, m)| sort_key(v, m))
        .collect()
}

impl Merged {
    /// Chooses text (default) or binary protocol values for the output rows.
    pub fn set_protocol(&mut self, p: Protocol) {
        self.protocol = p;
    }

    /// True once the merge stopped before reading every shard to the end
    /// (LIMIT reached); the remaining shard streams have been cancelled and
    /// dropped.
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }

    /// Output column metadata (visible columns only).
    pub fn columns(&self) -> &[ColumnMeta] {
        &self.metas[..self.visible]
    }

    /// Largest number of shard rows held at once by the ordered k-way merge
    /// (at most one per shard).
    pub fn max_heap_len(&self) -> usize {
        match &self.source {
            Source::Ordered { max_heap, .. } => *max_heap,
            Source::Concat { .. } => 0,
        }
    }

    /// Largest number of rows held by the sort buffer.
    pub fn max_sort_buffer(&self) -> usize {
        self.max_held
    }

    fn stop_inputs(&mut self) {
        for slot in self.source.inputs_mut().iter_mut() {
            if let Some(mut s) = slot.take() {
                s.cancel();
                self.stopped_early = true;
            }
        }
    }

    /// Rows after aggregation and HAVING.
    async fn next_reduced(&mut self) -> Result<Option<Vec<Value>>, MergeError> {
        loop {
            let row = match self.agg.as_mut() {
                Some(a) => a.next(&mut self.source).await?,
                None => self.source.next(&self.metas).await?,
            };
            let row = match row {
                Some(r) => r,
                None => return Ok(None),
            };
            if let Some(h) = &self.having {
                if !eval_predicate(h, &row, &self.metas)? {
                    continue;
                }
            }
            return Ok(Some(row));
        }
    }

    fn is_duplicate(&mut self, row: &[Value]) -> bool {
        match &mut self.distinct {
            Distinct::None => false,
            Distinct::Adjacent(last) => {
                let k = distinct_keys(row, self.visible, &self.metas);
                if last.as_ref() == Some(&k) {
                    true
                } else {
                    *last = Some(k);
                    false
                }
            }
            Distinct::Hash(seen) => {
                let k = distinct_keys(row, self.visible, &self.metas);
                !seen.insert(k)
            }
        }
    }

    /// Rows in final order, DISTINCT applied.
    async fn next_ordered(&mut self) -> Result<Option<Vec<Value>>, MergeError> {
        let keys = match &self.sort {
            None => loop {
                let row = match self.next_reduced().await? {
                    Some(r) => r,
                    None => return Ok(None),
                };
                if !self.is_duplicate(&row) {
                    return Ok(Some(row));
                }
            },
            Some(k) => k.clone(),
        };
        if self.sorted.is_none() {
            // Top-k when a LIMIT bounds what can be returned.
            let cap = self
                .remaining
                .map(|l| (l.saturating_add(self.to_skip)).min(usize::MAX as u64 / 4) as usize);
            let desc: Vec<bool> = keys.iter().map(|k| k.descending).collect();
            let mut buf: Vec<(Vec<ValueKey>, Vec<Value>)> = Vec::new();
            let sort_buf = |buf: &mut Vec<(Vec<ValueKey>, Vec<Value>)>| {
                buf.sort_by(|a, b| cmp_keys(&a.0, &b.0, &desc));
            };
            while let Some(row) = self.next_reduced().await? {
                if self.distinct_before_sort && self.is_duplicate(&row) {
                    continue;
                }
                let k = row_keys(&row, &keys, &self.metas);
                buf.push((k, row));
                self.max_held = self.max_held.max(buf.len());
                if let Some(cap) = cap {
                    if buf.len() >= cap.saturating_mul(2).max(1024) {
                        sort_buf(&mut buf);
                        buf.truncate(cap);
                    }
                }
            }
            sort_buf(&mut buf);
            if let Some(cap) = cap {
                buf.truncate(cap);
            }
            let rows: Vec<Vec<Value>> = buf.into_iter().map(|(_, r)| r).collect();
            self.sorted = Some(rows.into_iter());
        }
        loop {
            let row = match self.sorted.as_mut().and_then(|it| it.next()) {
                Some(r) => r,
                None => return Ok(None),
            };
            if self.distinct_before_sort || !self.is_duplicate(&row) {
                return Ok(Some(row));
            }
        }
    }

    /// The next output row (visible columns only), or `None` at the end.
    pub async fn next_row(&mut self) -> Result<Option<Vec<Value>>, MergeError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.remaining == Some(0) {
                self.finished = true;
                self.stop_inputs();
                return Ok(None);
            }
            let mut row = match self.next_ordered().await? {
                Some(r) => r,
                None => {
                    self.finished = true;
                    return Ok(None);
                }
            };
            if self.to_skip > 0 {
                self.to_skip -= 1;
                continue;
            }
            if let Some(r) = self.remaining.as_mut() {
                *r -= 1;
            }
            row.truncate(self.visible);
            let row = match self.protocol {
                Protocol::Text => row
                    .into_iter()
                    .zip(&self.metas)
                    .map(|(v, m)| to_text_value(v, m))
                    .collect(),
                Protocol::Binary => row
                    .into_iter()
                    .zip(&self.metas)
                    .map(|(v, m)| to_binary_value(v, m))
                    .collect(),
            };
            if self.remaining == Some(0) {
                // Stop the shards now; the caller may not ask again.
                self.finished = true;
                self.stop_inputs();
            }
            return Ok(Some(row));
        }
    }

    /// Reads the whole result (convenience for tests and small results).
    pub async fn collect(&mut self) -> Result<Vec<Vec<Value>>, MergeError> {
        let mut out = Vec::new();
        while let Some(r) = self.next_row().await? {
            out.push(r);
        }
        Ok(out)
    }
}

fn order_is_prefix(order: &[SortKey], of: &[SortKey]) -> bool {
    order.len() <= of.len() && order.iter().zip(of).all(|(a, b)| a == b)
}

/// Whether some prefix of `order` consists of exactly the columns `0..visible`.
fn order_covers_visible(order: &[SortKey], visible: usize) -> bool {
    let mut seen = vec![false; visible];
    let mut count = 0;
    for k in order {
        if k.column >= visible {
            return false;
        }
        if !seen[k.column] {
            seen[k.column] = true;
            count += 1;
        }
        if count == visible {
            return true;
        }
    }
    visible == 0
}

/// Builds the merged stream. `columns` is the shard column metadata (all
/// columns, hidden ones included); every input row must have at least that
/// many values. Returns the output column metadata (visible columns only)
/// and the stream.
pub fn merge(
    spec: MergeSpec,
    columns: Vec<ColumnMeta>,
    inputs: Vec<Box<dyn RowStream + Send>>,
) -> Result<(Vec<ColumnMeta>, Merged), MergeError> {
    let n = columns.len();
    let check = |c: usize| {
        if c >= n {
            Err(MergeError::BadColumn {
                column: c,
                columns: n,
            })
        } else {
            Ok(())
        }
    };
    if spec.visible > n {
        return Err(MergeError::InvalidSpec(format!(
            "visible = {} but shards return {n} columns",
            spec.visible
        )));
    }
    for &c in &spec.group_by {
        check(c)?;
    }
    for k in &spec.order_by {
        check(k.column)?;
    }
    // AVG keeps the metadata of the shards' own AVG column: MariaDB's type,
    // scale (div_precision_increment included) and length.
    for a in &spec.aggregates {
        check(a.column)?;
        match a.func {
            AggFunc::Avg { sum, count, exact } => {
                check(sum)?;
                check(count)?;
                if let Some(e) = exact {
                    check(e)?;
                }
            }
            AggFunc::ExactSum { exact } => check(exact)?,
            _ => {}
        }
    }

    let aggregated = !spec.aggregates.is_empty() || !spec.group_by.is_empty();
    let inputs: Vec<Option<Input>> = inputs.into_iter().map(Some).collect();
    let group_asc: Vec<SortKey> = spec
        .group_by
        .iter()
        .map(|&c| SortKey {
            column: c,
            descending: false,
        })
        .collect();

    // The order in which the (reduced) stream arrives, if known.
    let (source, stream_order, agg_mode) = if !aggregated {
        if spec.order_by.is_empty() {
            (Source::Concat { inputs, cur: 0 }, Vec::new(), None)
        } else {
            (
                ordered(inputs, spec.order_by.clone(), &columns),
                spec.order_by.clone(),
                None,
            )
        }
    } else if spec.group_by.is_empty() {
        (
            Source::Concat { inputs, cur: 0 },
            Vec::new(),
            Some(AggMode::Single { done: false }),
        )
    } else if spec.groups_sorted {
        // Shards return rows ordered by the GROUP BY columns ascending
        // (`groups_sorted`); a different final ORDER BY is applied after
        // the groups are combined.
        (
            ordered(inputs, group_asc.clone(), &columns),
            group_asc.clone(),
            Some(AggMode::Streaming {
                cur: None,
                done: false,
            }),
        )
    } else {
        (
            Source::Concat { inputs, cur: 0 },
            Vec::new(),
            Some(AggMode::Hash {
                index: HashMap::new(),
                groups: Vec::new(),
                out: None,
            }),
        )
    };

    let sort = if !spec.order_by.is_empty() {
        if order_is_prefix(&spec.order_by, &stream_order) {
            None
        } else {
            Some(spec.order_by.clone())
        }
    } else if matches!(agg_mode, Some(AggMode::Hash { .. })) {
        // MariaDB returns GROUP BY results ordered by the group columns.
        Some(group_asc)
    } else {
        None
    };
    let final_order = sort.clone().unwrap_or(stream_order);
    let (distinct, distinct_before_sort) = if !spec.distinct {
        (Distinct::None, false)
    } else if sort.is_some() {
        (Distinct::Hash(HashSet::new()), true)
    } else if order_covers_visible(&final_order, spec.visible) {
        (Distinct::Adjacent(None), false)
    } else {
        (Distinct::Hash(HashSet::new()), false)
    };

    let agg = agg_mode.map(|mode| Aggregator {
        plan: AggPlan {
            group_by: spec.group_by.clone(),
            aggs: AggPlan::slots(&spec.aggregates, &columns),
            metas: columns.clone(),
        },
        mode,
    });

    let merged = Merged {
        source,
        visible: spec.visible,
        agg,
        having: spec.having.clone(),
        sort,
        sorted: None,
        distinct_before_sort,
        distinct,
        to_skip: spec.offset,
        remaining: spec.limit,
        protocol: Protocol::Text,
        finished: false,
        stopped_early: false,
        max_held: 0,
        metas: columns,
    };
    Ok((merged.columns().to_vec(), merged))
}

fn ordered(inputs: Vec<Option<Input>>, keys: Vec<SortKey>, metas: &[ColumnMeta]) -> Source {
    let desc: Arc<[bool]> = keys.iter().map(|k| k.descending).collect();
    let strict = keys.iter().all(|k| exact_order(&metas[k.column]));
    Source::Ordered {
        strict,
        inputs,
        keys,
        desc,
        heap: BinaryHeap::new(),
        primed: false,
        max_heap: 0,
    }
}
