//! Differential test against a real MariaDB/MySQL at 127.0.0.1:3306 (root, no
//! password; override with `MERGE_DIFF_URL`). A generated table `t` and its 4
//! shards `t0..t3` (`id % 4`) live in database `merge_diff`. Every query runs
//! once on `t` and, rewritten, on each shard; the merged shard results must
//! equal the single-table result. Set `MERGE_DIFF_SKIP=1` to skip.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts};
use mysql_common::value::Value;

use super::*;

const ROWS: u64 = 3000;

#[derive(Clone, Copy)]
enum It {
    C(&'static str),
    CountStar,
    Count(&'static str),
    Sum(&'static str),
    Min(&'static str),
    Max(&'static str),
    Avg(&'static str),
}

impl It {
    fn sql(self) -> String {
        match self {
            It::C(c) => c.to_string(),
            It::CountStar => "COUNT(*)".into(),
            It::Count(c) => format!("COUNT({c})"),
            It::Sum(c) => format!("SUM({c})"),
            It::Min(c) => format!("MIN({c})"),
            It::Max(c) => format!("MAX({c})"),
            It::Avg(c) => format!("AVG({c})"),
        }
    }
    fn is_agg(self) -> bool {
        !matches!(self, It::C(_))
    }
}

/// A query and everything needed to run it sharded.
struct Case {
    full: String,
    /// Shard SQL with `{t}` for the table name.
    shard: String,
    spec: MergeSpec,
    ordered: bool,
}

struct Q {
    items: Vec<It>,
    where_: Option<&'static str>,
    group: Vec<&'static str>,
    /// SQL text and the expression over visible item indexes.
    having: Option<(String, Expr)>,
    /// (visible item index, descending)
    order: Vec<(usize, bool)>,
    offset: u64,
    limit: Option<u64>,
    distinct: bool,
    groups_sorted: bool,
}

impl Default for Q {
    fn default() -> Self {
        Q {
            items: vec![],
            where_: None,
            group: vec![],
            having: None,
            order: vec![],
            offset: 0,
            limit: None,
            distinct: false,
            groups_sorted: true,
        }
    }
}

fn build(q: Q) -> Case {
    let aggregated = !q.group.is_empty() || q.items.iter().any(|i| i.is_agg());
    let visible = q.items.len();
    let mut shard_cols: Vec<String> = Vec::new();
    let mut aggregates = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    for (i, it) in q.items.iter().enumerate() {
        match *it {
            It::Avg(c) => {
                // the shards' own AVG gives the column's scale and length
                shard_cols.push(it.sql());
                let sum = visible + hidden.len();
                hidden.push(format!("SUM({c})"));
                let count = visible + hidden.len();
                hidden.push(format!("COUNT({c})"));
                aggregates.push(Aggregate {
                    column: i,
                    func: AggFunc::Avg {
                        sum,
                        count,
                        exact: None,
                    },
                });
            }
            It::CountStar | It::Count(_) => {
                shard_cols.push(it.sql());
                aggregates.push(Aggregate {
                    column: i,
                    func: AggFunc::Count,
                });
            }
            It::Sum(_) | It::Min(_) | It::Max(_) => {
                shard_cols.push(it.sql());
                let func = match it {
                    It::Sum(_) => AggFunc::Sum,
                    It::Min(_) => AggFunc::Min,
                    _ => AggFunc::Max,
                };
                aggregates.push(Aggregate { column: i, func });
            }
            It::C(c) => shard_cols.push(c.to_string()),
        }
    }
    let pos_of = |hidden: &mut Vec<String>, name: &str| -> usize {
        if let Some(p) = q
            .items
            .iter()
            .position(|i| matches!(i, It::C(c) if *c == name))
        {
            return p;
        }
        if let Some(p) = hidden.iter().position(|h| h == name) {
            return visible + p;
        }
        hidden.push(name.to_string());
        visible + hidden.len() - 1
    };
    let group_by: Vec<usize> = q.group.iter().map(|g| pos_of(&mut hidden, g)).collect();
    let mut order_by: Vec<SortKey> = q
        .order
        .iter()
        .map(|&(i, d)| SortKey {
            column: i,
            descending: d,
        })
        .collect();
    let mut full_order: Vec<String> = q
        .order
        .iter()
        .map(|&(i, d)| format!("{}{}", i + 1, if d { " DESC" } else { "" }))
        .collect();
    // Make the order total: group keys for grouped queries, id otherwise.
    let ordered = !q.order.is_empty();
    if ordered && !q.distinct {
        let ties: Vec<&str> = if aggregated {
            q.group.clone()
        } else {
            vec!["id"]
        };
        for t in ties {
            let p = pos_of(&mut hidden, t);
            if !order_by.iter().any(|k| k.column == p) {
                order_by.push(SortKey {
                    column: p,
                    descending: false,
                });
                full_order.push(t.to_string());
            }
        }
    }
    shard_cols.extend(hidden.iter().cloned());

    let where_ = q.where_.map(|w| format!(" WHERE {w}")).unwrap_or_default();
    let distinct = if q.distinct { "DISTINCT " } else { "" };
    let sel: Vec<String> = q.items.iter().map(|i| i.sql()).collect();
    let mut full = format!("SELECT {distinct}{} FROM t{where_}", sel.join(", "));
    let mut shard = format!(
        "SELECT {distinct}{} FROM {{t}}{where_}",
        shard_cols.join(", ")
    );
    if !q.group.is_empty() {
        full.push_str(&format!(" GROUP BY {}", q.group.join(", ")));
        shard.push_str(&format!(" GROUP BY {}", q.group.join(", ")));
    }
    if let Some((h, _)) = &q.having {
        full.push_str(&format!(" HAVING {h}"));
    }
    if !full_order.is_empty() {
        full.push_str(&format!(" ORDER BY {}", full_order.join(", ")));
    }
    match (q.offset, q.limit) {
        (0, Some(l)) => full.push_str(&format!(" LIMIT {l}")),
        (o, Some(l)) => full.push_str(&format!(" LIMIT {o}, {l}")),
        _ => {}
    }
    let pos = |ks: &[SortKey]| -> String {
        ks.iter()
            .map(|k| {
                format!(
                    "{}{}",
                    k.column + 1,
                    if k.descending { " DESC" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !aggregated {
        if !order_by.is_empty() {
            shard.push_str(&format!(" ORDER BY {}", pos(&order_by)));
        }
        if let Some(l) = q.limit {
            shard.push_str(&format!(" LIMIT {}", l + q.offset));
        }
    } else if !q.group.is_empty() {
        if q.groups_sorted {
            // groups_sorted: shards return groups ordered by the GROUP BY
            // columns ascending; the merger applies the final ORDER BY.
            let ks: Vec<SortKey> = group_by
                .iter()
                .map(|&c| SortKey {
                    column: c,
                    descending: false,
                })
                .collect();
            shard.push_str(&format!(" ORDER BY {}", pos(&ks)));
        } else {
            shard.push_str(" ORDER BY NULL");
        }
    }
    let spec = MergeSpec {
        visible,
        group_by,
        groups_sorted: q.groups_sorted,
        aggregates,
        having: q.having.map(|(_, e)| e),
        distinct: q.distinct,
        order_by,
        offset: q.offset,
        limit: q.limit,
    };
    Case {
        full,
        shard,
        spec,
        ordered,
    }
}

fn gen_rows() -> Vec<String> {
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let words = [
        "apple", "Apple", "APPLE ", "banana", "Banana  ", "cherry", "éclair", "Eclair", "zeta",
        "Zeta", "", " lead", "mañana", "MANANA", "数据", "kiwi",
    ];
    (1..=ROWS)
        .map(|id| {
            let k = if rnd(10) == 0 {
                "NULL".to_string()
            } else {
                (rnd(20001) as i64 - 10000).to_string()
            };
            let g = rnd(37);
            let d = if rnd(8) == 0 {
                "NULL".to_string()
            } else {
                let v = rnd(2_000_000_000) as i64 - 1_000_000_000;
                format!(
                    "{}{}.{:03}",
                    if v < 0 { "-" } else { "" },
                    v.abs() / 1000,
                    v.abs() % 1000
                )
            };
            let f = if rnd(9) == 0 {
                "NULL".to_string()
            } else {
                format!("{}", (rnd(400001) as f64 - 200000.0) * 0.25)
            };
            let s = if rnd(12) == 0 {
                "NULL".to_string()
            } else {
                format!("'{}'", words[rnd(words.len() as u64) as usize])
            };
            let dt = if rnd(11) == 0 {
                "NULL".to_string()
            } else {
                format!(
                    "'20{:02}-{:02}-{:02}'",
                    10 + rnd(15),
                    1 + rnd(12),
                    1 + rnd(28)
                )
            };
            let big = if rnd(5) == 0 {
                "NULL".to_string()
            } else {
                format!("{}", rnd(u64::MAX / 8))
            };
            format!("({id},{k},{g},{d},{f},{s},{dt},{big})")
        })
        .collect()
}

async fn setup(conn: &mut Conn) {
    conn.query_drop("CREATE DATABASE IF NOT EXISTS merge_diff")
        .await
        .unwrap();
    conn.query_drop("USE merge_diff").await.unwrap();
    let ddl = "(id INT PRIMARY KEY, k INT, g INT NOT NULL, d DECIMAL(12,3), f DOUBLE, \
               s VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, dt DATE, \
               big BIGINT UNSIGNED)";
    let rows = gen_rows();
    for t in ["t", "t0", "t1", "t2", "t3"] {
        conn.query_drop(format!("DROP TABLE IF EXISTS {t}"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE TABLE {t} {ddl}"))
            .await
            .unwrap();
    }
    for chunk in rows.chunks(500) {
        conn.query_drop(format!("INSERT INTO t VALUES {}", chunk.join(",")))
            .await
            .unwrap();
    }
    for i in 0..4 {
        conn.query_drop(format!(
            "INSERT INTO t{i} SELECT * FROM t WHERE id % 4 = {i}"
        ))
        .await
        .unwrap();
    }
}

async fn run_text(conn: &mut Conn, sql: &str) -> (Vec<ColumnMeta>, Vec<Vec<Value>>) {
    let mut res = conn
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let cols: Vec<ColumnMeta> = res
        .columns()
        .map(|c| c.iter().map(ColumnMeta::from_column).collect())
        .unwrap_or_default();
    let rows: Vec<mysql_async::Row> = res.collect().await.unwrap();
    (cols, rows.into_iter().map(|r| r.unwrap()).collect())
}

async fn run_binary(conn: &mut Conn, sql: &str) -> (Vec<ColumnMeta>, Vec<Vec<Value>>) {
    let mut res = conn
        .exec_iter(sql, ())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let cols: Vec<ColumnMeta> = res
        .columns()
        .map(|c| c.iter().map(ColumnMeta::from_column).collect())
        .unwrap_or_default();
    let rows: Vec<mysql_async::Row> = res.collect().await.unwrap();
    (cols, rows.into_iter().map(|r| r.unwrap()).collect())
}

fn cell_eq(a: &Value, b: &Value, meta: &ColumnMeta) -> bool {
    match meta.class_is_ci_string() {
        true => values_equal(a, b, meta),
        false => a == b,
    }
}

impl ColumnMeta {
    fn class_is_ci_string(&self) -> bool {
        matches!(
            self.class(),
            super::meta::TypeClass::Str(Collation::Ci { .. })
        )
    }
}

fn show(rows: &[Vec<Value>]) -> String {
    rows.iter()
        .take(12)
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::Bytes(b) => format!("{:?}", String::from_utf8_lossy(b)),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n    ")
}

async fn check(conn: &mut Conn, case: &Case, binary: bool) {
    let (want_cols, mut want) = if binary {
        run_binary(conn, &case.full).await
    } else {
        run_text(conn, &case.full).await
    };
    let mut inputs: Vec<Box<dyn RowStream + Send>> = Vec::new();
    let mut cols = Vec::new();
    for i in 0..4 {
        let sql = case.shard.replace("{t}", &format!("t{i}"));
        let (c, rows) = if binary {
            run_binary(conn, &sql).await
        } else {
            run_text(conn, &sql).await
        };
        cols = c;
        inputs.push(Box::new(VecStream::new(rows)));
    }
    let (out_cols, mut merged) =
        merge(case.spec.clone(), cols, inputs).unwrap_or_else(|e| panic!("{}: {e}", case.full));
    if binary {
        merged.set_protocol(super::Protocol::Binary);
    }
    let mut got = merged
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.full));
    assert_eq!(out_cols.len(), want_cols.len(), "{}", case.full);
    for (o, w) in out_cols.iter().zip(&want_cols) {
        assert_eq!(
            o.column_type,
            w.column_type,
            "{}: column {:?}",
            case.full,
            String::from_utf8_lossy(&w.name)
        );
        assert_eq!(
            o.decimals,
            w.decimals,
            "{}: column {:?}",
            case.full,
            String::from_utf8_lossy(&w.name)
        );
    }
    if !case.ordered {
        let key = |r: &Vec<Value>| -> Vec<ValueKey> {
            r.iter()
                .zip(&want_cols)
                .map(|(v, m)| sort_key(v, m))
                .collect()
        };
        want.sort_by_key(key);
        got.sort_by_key(key);
    }
    let same = got.len() == want.len()
        && got.iter().zip(&want).all(|(g, w)| {
            g.iter()
                .zip(w)
                .zip(&want_cols)
                .all(|((a, b), m)| cell_eq(a, b, m))
        });
    assert!(
        same,
        "{} (binary protocol: {binary})\n  shard: {}\n  want ({}):\n    {}\n  got ({}):\n    {}",
        case.full,
        case.shard,
        want.len(),
        show(&want),
        got.len(),
        show(&got)
    );
}

fn col(i: usize) -> Box<Expr> {
    Box::new(Expr::Column(i))
}
fn lit(v: Value) -> Box<Expr> {
    Box::new(Expr::Literal(v))
}
fn bin(op: BinaryOp, left: Box<Expr>, right: Box<Expr>) -> Expr {
    Expr::Binary { op, left, right }
}

#[allow(clippy::vec_init_then_push)]
fn corpus() -> Vec<Case> {
    use It::*;
    let mut v = Vec::new();
    // --- hand-written
    v.push(build(Q {
        items: vec![C("id"), C("k"), C("s")],
        order: vec![(1, false)],
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("id"), C("d"), C("f")],
        order: vec![(1, true), (2, false)],
        offset: 17,
        limit: Some(40),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("s"), C("dt"), C("big")],
        order: vec![(0, false), (1, true)],
        limit: Some(100),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("id"), C("s")],
        where_: Some("k > 9000"),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("id")],
        offset: 5000,
        limit: Some(10),
        order: vec![(0, false)],
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![
            CountStar,
            Count("k"),
            Sum("k"),
            Sum("d"),
            Sum("f"),
            Min("s"),
            Max("s"),
            Min("d"),
            Max("dt"),
            Avg("k"),
            Avg("d"),
            Avg("f"),
            Sum("big"),
            Avg("big"),
            Min("f"),
        ],
        ..Q::default()
    }));
    // empty result aggregates
    v.push(build(Q {
        items: vec![CountStar, Sum("k"), Avg("d"), Min("s"), Sum("f"), Avg("f")],
        where_: Some("id < 0"),
        ..Q::default()
    }));
    // all NULL inputs on some shards
    v.push(build(Q {
        items: vec![CountStar, Sum("k"), Avg("k"), Max("s")],
        where_: Some("id = 7"),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("s"), CountStar, Avg("k"), Sum("d")],
        group: vec!["s"],
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("s"), CountStar],
        group: vec!["s"],
        groups_sorted: false,
        order: vec![(1, true)],
        limit: Some(5),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("g"), C("s"), Max("dt"), Min("k")],
        group: vec!["g", "s"],
        order: vec![(0, true), (1, true)],
        offset: 3,
        limit: Some(50),
        ..Q::default()
    }));
    // HAVING with aggregates, AND/OR/NOT/IN/BETWEEN
    v.push(build(Q {
        items: vec![C("g"), CountStar, Avg("k"), Sum("d")],
        group: vec!["g"],
        having: Some((
            "COUNT(*) > 80 AND (AVG(k) BETWEEN -500 AND 500 OR g IN (1, 2, 3)) AND NOT SUM(d) < 0"
                .into(),
            bin(
                BinaryOp::And,
                Box::new(bin(
                    BinaryOp::And,
                    Box::new(bin(BinaryOp::Gt, col(1), lit(Value::Int(80)))),
                    Box::new(bin(
                        BinaryOp::Or,
                        Box::new(Expr::Between {
                            expr: col(2),
                            low: lit(Value::Int(-500)),
                            high: lit(Value::Int(500)),
                            negated: false,
                        }),
                        Box::new(Expr::InList {
                            expr: col(0),
                            list: vec![
                                Expr::Literal(Value::Int(1)),
                                Expr::Literal(Value::Int(2)),
                                Expr::Literal(Value::Int(3)),
                            ],
                            negated: false,
                        }),
                    )),
                )),
                Box::new(Expr::Not(Box::new(bin(
                    BinaryOp::Lt,
                    col(3),
                    lit(Value::Int(0)),
                )))),
            ),
        )),
        order: vec![(2, false)],
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("s"), Sum("k"), CountStar],
        group: vec!["s"],
        having: Some((
            "SUM(k) / COUNT(*) > 100 OR s IS NULL".into(),
            bin(
                BinaryOp::Or,
                Box::new(bin(
                    BinaryOp::Gt,
                    Box::new(bin(BinaryOp::Divide, col(1), col(2))),
                    lit(Value::Int(100)),
                )),
                Box::new(Expr::IsNull {
                    expr: col(0),
                    negated: false,
                }),
            ),
        )),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("s"), Min("d")],
        group: vec!["s"],
        having: Some((
            "s NOT IN ('apple', 'ZETA') AND MIN(d) <> 5".into(),
            bin(
                BinaryOp::And,
                Box::new(Expr::InList {
                    expr: col(0),
                    list: vec![
                        Expr::Literal(Value::Bytes(b"apple".to_vec())),
                        Expr::Literal(Value::Bytes(b"ZETA".to_vec())),
                    ],
                    negated: true,
                }),
                Box::new(bin(BinaryOp::NotEq, col(1), lit(Value::Int(5)))),
            ),
        )),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("g"), Min("s"), Avg("d"), Max("dt")],
        group: vec!["g"],
        having: Some((
            "MIN(s) < 'b' AND AVG(d) > 0 AND MAX(dt) > '2024-12-20'".into(),
            bin(
                BinaryOp::And,
                Box::new(bin(
                    BinaryOp::And,
                    Box::new(bin(BinaryOp::Lt, col(1), lit(Value::Bytes(b"b".to_vec())))),
                    Box::new(bin(BinaryOp::Gt, col(2), lit(Value::Int(0)))),
                )),
                Box::new(bin(
                    BinaryOp::Gt,
                    col(3),
                    lit(Value::Bytes(b"2024-12-20".to_vec())),
                )),
            ),
        )),
        order: vec![(2, true)],
        limit: Some(10),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("dt"), Avg("k"), CountStar],
        group: vec!["dt"],
        having: Some((
            "AVG(k) * 2 + 1 > 0 AND COUNT(*) NOT BETWEEN 2 AND 3".into(),
            bin(
                BinaryOp::And,
                Box::new(bin(
                    BinaryOp::Gt,
                    Box::new(bin(
                        BinaryOp::Plus,
                        Box::new(bin(BinaryOp::Multiply, col(1), lit(Value::Int(2)))),
                        lit(Value::Int(1)),
                    )),
                    lit(Value::Int(0)),
                )),
                Box::new(Expr::Between {
                    expr: col(2),
                    low: lit(Value::Int(2)),
                    high: lit(Value::Int(3)),
                    negated: true,
                }),
            ),
        )),
        groups_sorted: false,
        order: vec![(1, false)],
        offset: 4,
        limit: Some(20),
        ..Q::default()
    }));
    // DISTINCT
    v.push(build(Q {
        items: vec![C("s")],
        distinct: true,
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("g"), C("s")],
        distinct: true,
        order: vec![(0, false), (1, true)],
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("dt")],
        distinct: true,
        order: vec![(0, true)],
        limit: Some(30),
        ..Q::default()
    }));
    // GROUP BY a hidden column, ORDER BY aggregate
    v.push(build(Q {
        items: vec![CountStar, Sum("f")],
        group: vec!["g"],
        order: vec![(1, true)],
        limit: Some(7),
        ..Q::default()
    }));
    v.push(build(Q {
        items: vec![C("k"), CountStar],
        group: vec!["k"],
        where_: Some("k < -9900 OR k IS NULL"),
        ..Q::default()
    }));

    // --- generated combinations
    let groups: [&[&str]; 5] = [&[], &["g"], &["s"], &["dt"], &["g", "s"]];
    let agg_sets: [&[It]; 5] = [
        &[CountStar],
        &[Sum("k"), Avg("k")],
        &[Min("s"), Max("s"), Count("s")],
        &[Sum("d"), Avg("d"), Min("dt")],
        &[Avg("f"), Sum("f"), Max("d"), Sum("big")],
    ];
    let wheres = [
        None,
        Some("k > 0"),
        Some("s LIKE '%a%'"),
        Some("d IS NOT NULL AND g < 20"),
    ];
    let mut n = 0usize;
    for (gi, g) in groups.iter().enumerate() {
        for (ai, aggs) in agg_sets.iter().enumerate() {
            for order_kind in 0..4 {
                n += 1;
                let mut items: Vec<It> = g.iter().map(|c| C(c)).collect();
                items.extend(aggs.iter().copied());
                let nk = g.len();
                let order = match order_kind {
                    0 => vec![],
                    1 if nk > 0 => vec![(0, true)],
                    2 => vec![(nk, n.is_multiple_of(2))],
                    3 if nk > 0 => vec![(items.len() - 1, true), (0, false)],
                    _ => vec![(nk, false)],
                };
                let limit = match (n % 3, order.is_empty()) {
                    (_, true) => None,
                    (0, _) => Some(3),
                    (1, _) => Some(1000),
                    _ => None,
                };
                let offset = if limit.is_some() && n % 2 == 1 { 2 } else { 0 };
                if g.is_empty() && !order.is_empty() {
                    continue; // one row: nothing to order
                }
                v.push(build(Q {
                    items,
                    where_: wheres[(gi + ai + order_kind) % wheres.len()],
                    group: g.to_vec(),
                    order,
                    offset,
                    limit,
                    groups_sorted: n % 4 != 3,
                    ..Q::default()
                }));
            }
        }
    }
    // plain select combos
    let lists: [&[It]; 4] = [
        &[C("id"), C("k")],
        &[C("s"), C("d")],
        &[C("dt"), C("f"), C("big")],
        &[C("g"), C("s"), C("k")],
    ];
    for (li, l) in lists.iter().enumerate() {
        for ok in 0..4 {
            let order = match ok {
                0 => vec![],
                1 => vec![(0, false)],
                2 => vec![(1, true)],
                _ => vec![(1, false), (0, true)],
            };
            for (off, lim) in [(0, None), (0, Some(25)), (10, Some(10)), (2990, Some(50))] {
                if order.is_empty() && lim.is_some() {
                    continue; // unordered LIMIT is nondeterministic
                }
                v.push(build(Q {
                    items: l.to_vec(),
                    where_: wheres[(li + ok) % wheres.len()],
                    order: order.clone(),
                    offset: off,
                    limit: lim,
                    ..Q::default()
                }));
            }
        }
        v.push(build(Q {
            items: l.to_vec(),
            distinct: true,
            ..Q::default()
        }));
    }
    v
}

#[test]
fn differential_against_mariadb() {
    if std::env::var("MERGE_DIFF_SKIP").is_ok() {
        eprintln!("MERGE_DIFF_SKIP set: skipping");
        return;
    }
    let url =
        std::env::var("MERGE_DIFF_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = Conn::new(Opts::from_url(&url).unwrap())
            .await
            .expect("MariaDB at MERGE_DIFF_URL (set MERGE_DIFF_SKIP=1 to skip)");
        setup(&mut conn).await;
        let cases = corpus();
        assert!(cases.len() > 100, "{}", cases.len());
        for case in &cases {
            check(&mut conn, case, false).await;
        }
        // Prepared statements: typed shard rows in, typed rows out.
        for case in cases.iter().step_by(3) {
            check(&mut conn, case, true).await;
        }
        eprintln!("{} queries matched", cases.len());
        conn.disconnect().await.unwrap();
    });
}
