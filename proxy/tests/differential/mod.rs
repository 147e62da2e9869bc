//! Generated query classes for the differential test: GROUP BY / ORDER BY /
//! LIMIT / OFFSET combinations (subsets and permutations of the grouping
//! keys, ORDER BY on part, all or none of them and on aggregates, mixed
//! directions, expressions), HAVING over every aggregate (selected or not,
//! next to AVG), `_bin` and case-insensitive strings that differ only in
//! case, NULLs, dates, datetimes and times compared with numbers and
//! strings, decimals (division, AVG/SUM of expressions, scales 0, 3, 5) and
//! unaliased expression columns (their names are compared).

use super::e2e_common::Rng;
use super::{CASED, P, Q};

/// A group key: what the select list shows, and what GROUP BY names.
struct Key {
    /// The select item (with its alias, if any).
    item: &'static str,
    /// Names ORDER BY / GROUP BY may use for it when it is selected; the
    /// last one is its expression (for GROUP BY when it is not).
    refs: &'static [&'static str],
    /// What GROUP BY groups by when it differs from the refs.
    group: Option<&'static str>,
    /// Each group shows a value of its own (the item sorts the groups
    /// totally).
    unique: bool,
    /// About how many groups it makes (queries keep below [`MAX_GROUPS`]).
    groups: u32,
}

/// Groups per query at most (estimated): the merge of thousands of groups
/// is slow in an unoptimised build and tests nothing more.
const MAX_GROUPS: u32 = 200;

const fn key(
    item: &'static str,
    refs: &'static [&'static str],
    group: Option<&'static str>,
    unique: bool,
    groups: u32,
) -> Key {
    Key {
        item,
        refs,
        group,
        unique,
        groups,
    }
}

const KEYS: &[Key] = &[
    key("g", &["g"], None, true, 10),
    key("k%3 AS a", &["a", "k%3"], None, true, 5),
    key("k%5 AS b", &["b", "k%5"], None, true, 9),
    key("k % 4", &["k % 4", "k%4"], None, true, 7),
    key("c", &["c"], None, true, 15),
    key("MONTH(dt) AS mo", &["mo", "MONTH(dt)"], None, true, 13),
    key("YEAR(dt) AS y", &["y", "YEAR(dt)"], None, true, 37),
    key("tm", &["tm"], None, true, 132),
    key("i IS NULL AS inull", &["inull", "i IS NULL"], None, true, 2),
    key("HOUR(tm)", &["HOUR(tm)"], None, true, 35),
    // GROUP BY ts is the column ts, not the alias (MariaDB: columns first);
    // each group's DATE(ts) is its ts's date
    key("DATE(ts) AS ts", &["ts"], Some("ts"), false, 144),
    // case-sensitive groups of a case-insensitive column
    key(
        "u COLLATE utf8mb4_bin AS ub",
        &["ub", "u COLLATE utf8mb4_bin"],
        None,
        true,
        15,
    ),
    // case-insensitive groups: each group's UPPER(u) is one value
    key("UPPER(u) AS uu", &["uu"], Some("u"), true, 8),
    key("e > 0 AS epos", &["epos", "e > 0"], None, true, 3),
];

/// An aggregate and the literals HAVING compares it with.
struct Agg {
    sql: &'static str,
    lit: Lit,
}

#[derive(Clone, Copy)]
enum Lit {
    /// integers in lo..=hi (also written as strings sometimes)
    Int(i64, i64),
    /// decimals in lo..=hi with this many digits
    Dec(i64, i64, u32),
    Date,
    DateTime,
    Time,
    Cased,
    Word,
}

const fn agg(sql: &'static str, lit: Lit) -> Agg {
    Agg { sql, lit }
}

const AGGS: &[Agg] = &[
    agg("COUNT(*)", Lit::Int(0, 200)),
    agg("count(*)", Lit::Int(0, 200)),
    agg("COUNT(i)", Lit::Int(0, 180)),
    agg("COUNT(c)", Lit::Int(0, 180)),
    agg("SUM(k)", Lit::Int(0, 10_000_000)),
    agg("SUM(i)", Lit::Int(-300_000_000_000, 300_000_000_000)),
    agg("SUM(d)", Lit::Dec(-2_000_000, 2_000_000, 3)),
    agg("SUM(e)", Lit::Dec(-300_000, 300_000, 5)),
    agg("MIN(d)", Lit::Dec(-100_000, 0, 3)),
    agg("MAX(d)", Lit::Dec(0, 100_000, 3)),
    agg("MIN(e)", Lit::Dec(-1000, 0, 5)),
    agg("AVG(k)", Lit::Dec(20_000, 30_000, 4)),
    agg("AVG(i)", Lit::Int(-500_000_000, 500_000_000)),
    agg("AVG(d)", Lit::Dec(-20_000, 20_000, 7)),
    agg("AVG(e)", Lit::Dec(-300, 300, 9)),
    agg("SUM(k/7)", Lit::Dec(0, 3_000_000, 4)),
    agg("AVG(k/7)", Lit::Dec(3000, 4000, 8)),
    agg("SUM(k / 3)", Lit::Dec(0, 7_000_000, 4)),
    agg("AVG(k/3)", Lit::Dec(7000, 9000, 8)),
    agg("AVG(d/7)", Lit::Dec(-3000, 3000, 11)),
    agg("SUM(d/7)", Lit::Dec(-300_000, 300_000, 7)),
    agg("SUM(i/3)", Lit::Int(-100_000_000_000, 100_000_000_000)),
    agg("avg( e )", Lit::Dec(-300, 300, 9)),
    agg("MIN(s)", Lit::Word),
    agg("MAX(s)", Lit::Word),
    agg("MIN(c)", Lit::Cased),
    agg("MAX(c)", Lit::Cased),
    agg("MIN(dt)", Lit::Date),
    agg("MAX(dt)", Lit::Date),
    agg("Max(dt)", Lit::Date),
    agg("MIN(ts)", Lit::DateTime),
    agg("MAX(ts)", Lit::DateTime),
    agg("MIN(tm)", Lit::Time),
    agg("MAX(tm)", Lit::Time),
];

/// Aggregates whose decimals depend on div_precision_increment.
const DECIMAL_AGGS: &[&str] = &[
    "AVG(k)",
    "AVG(i)",
    "AVG(d)",
    "AVG(e)",
    "SUM(k/7)",
    "AVG(k/7)",
    "SUM(k / 3)",
    "AVG(d/7)",
    "SUM(d/7)",
    "SUM(e)",
    "AVG(k/3)",
    "SUM(i/3)",
];

/// A literal for comparing with an aggregate of this kind (as a parameter:
/// inlined for the text protocol, bound for the binary one).
fn literal(rng: &mut Rng, lit: Lit) -> P {
    match lit {
        Lit::Int(lo, hi) => {
            let v = rng.range(lo, hi);
            if rng.chance(20) {
                P::S(v.to_string())
            } else {
                P::I(v)
            }
        }
        Lit::Dec(lo, hi, digits) => {
            let int = rng.range(lo, hi);
            let frac = rng.range(0, 10i64.pow(digits.min(9)) - 1);
            let s = format!(
                "{}{}.{:0w$}",
                if int < 0 { "-" } else { "" },
                int.abs(),
                frac,
                w = digits.min(9) as usize
            );
            if rng.chance(15) {
                P::F(s.parse().expect("a number"))
            } else {
                P::S(s)
            }
        }
        Lit::Date => {
            let (y, m, d) = (rng.range(1995, 2030), rng.range(1, 12), rng.range(1, 28));
            match rng.range(0, 3) {
                0 => P::I(y * 10_000 + m * 100 + d),
                1 => P::S(format!("{y}-{m:02}-{d:02}")),
                2 => P::S(format!("{y}-{m}-{d}")),
                _ => P::Date(y as u16, m as u8, d as u8),
            }
        }
        Lit::DateTime => {
            let (y, m, d) = (rng.range(2018, 2022), rng.range(1, 12), rng.range(1, 28));
            let (h, mi) = (rng.range(0, 23), rng.range(0, 59));
            match rng.range(0, 2) {
                0 => P::I(((y * 10_000 + m * 100 + d) * 100 + h) * 10_000 + mi * 100),
                1 => P::S(format!("{y}-{m:02}-{d:02} {h:02}:{mi:02}:00")),
                _ => P::S(format!("{y}-{m:02}-{d:02}")),
            }
        }
        Lit::Time => {
            let h = rng.range(-45, 125);
            let (m, s) = (rng.range(0, 59), rng.range(0, 59));
            match rng.range(0, 2) {
                // HHMMSS as a number: 10000 is 01:00:00, 1 is 00:00:01
                0 => P::I(h.signum() * (h.abs() * 10_000 + m * 100 + s)),
                1 => P::S(format!("{h}:{m:02}:{s:02}")),
                _ => P::S(format!("{h}:{m:02}")),
            }
        }
        Lit::Cased => P::S(rng.pick(CASED).to_string()),
        Lit::Word => {
            let c = (b'a' + rng.range(0, 25) as u8) as char;
            P::S(if rng.chance(50) {
                c.to_ascii_uppercase().to_string()
            } else {
                c.to_string()
            })
        }
    }
}

/// A condition on a value of this kind: `expr op ?`, BETWEEN, IN, IS NULL.
fn condition(rng: &mut Rng, expr: &str, lit: Lit, params: &mut Vec<P>) -> String {
    let c = match rng.range(0, 9) {
        0..=5 => {
            let op = *rng.pick(&[">", "<", ">=", "<=", "=", "<>"]);
            params.push(literal(rng, lit));
            format!("{expr} {op} ?")
        }
        6 => {
            let (a, b) = (literal(rng, lit), literal(rng, lit));
            params.push(a);
            params.push(b);
            format!("{expr} BETWEEN ? AND ?")
        }
        7 => {
            let n = rng.range(2, 4);
            for _ in 0..n {
                params.push(literal(rng, lit));
            }
            format!("{expr} IN ({})", vec!["?"; n as usize].join(", "))
        }
        _ => format!("{expr} IS {}NULL", if rng.chance(50) { "NOT " } else { "" }),
    };
    if rng.chance(10) {
        format!("NOT ({c})")
    } else {
        c
    }
}

fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.range(0, i as i64) as usize;
        v.swap(i, j);
    }
}

/// A WHERE clause (the shards filter; varies the groups).
fn where_clause(rng: &mut Rng, params: &mut Vec<P>) -> String {
    match rng.range(0, 9) {
        0 => {
            params.push(P::I(rng.range(0, 40_000)));
            " WHERE k > ?".into()
        }
        1 => {
            let lo = rng.range(-7000, 25_000);
            params.push(P::I(lo));
            params.push(P::I(lo + rng.range(1000, 20_000)));
            " WHERE id BETWEEN ? AND ?".into()
        }
        2 => {
            params.push(literal(rng, Lit::Date));
            " WHERE dt > ?".into()
        }
        3 => {
            params.push(P::S(rng.pick(CASED).to_string()));
            " WHERE c = ?".into()
        }
        4 => {
            params.push(P::S(rng.pick(CASED).to_string()));
            " WHERE u = ?".into()
        }
        5 => " WHERE i IS NOT NULL".into(),
        _ => String::new(),
    }
}

fn limit(rng: &mut Rng) -> String {
    match rng.range(0, 4) {
        0 => format!(" LIMIT {}", rng.range(0, 8)),
        1 => format!(" LIMIT {}, {}", rng.range(0, 6), rng.range(1, 8)),
        2 => format!(" LIMIT {} OFFSET {}", rng.range(1, 8), rng.range(1, 6)),
        _ => String::new(),
    }
}

/// Grouped queries: 1-3 keys (selected or not), 1-4 aggregates, HAVING
/// over any aggregate, ORDER BY on keys and aggregates, LIMIT / OFFSET.
pub(super) fn grouped(rng: &mut Rng, n: usize, decimal_only: bool) -> Vec<Q> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut params = Vec::new();
        let nkeys = rng.range(1, 3) as usize;
        let mut keys: Vec<&Key> = Vec::new();
        let mut groups = 1;
        while keys.len() < nkeys {
            let k = rng.pick(KEYS);
            if groups * k.groups > MAX_GROUPS {
                if keys.is_empty() {
                    continue;
                }
                break;
            }
            if !keys.iter().any(|x| std::ptr::eq(*x, k)) {
                groups *= k.groups;
                keys.push(k);
            }
        }
        // items: (select text, name for ORDER BY, sortable)
        let mut items: Vec<(String, String)> = Vec::new();
        let mut group_by: Vec<String> = Vec::new();
        for k in &keys {
            let shown = !rng.chance(15) || keys.len() == 1;
            let r = rng.pick(k.refs).to_string();
            if shown {
                items.push((k.item.to_string(), r.clone()));
                let pos = items.len();
                group_by.push(match k.group {
                    Some(g) => g.to_string(),
                    None if rng.chance(20) => pos.to_string(),
                    None => r,
                });
            } else {
                group_by.push(k.group.unwrap_or(k.refs[k.refs.len() - 1]).to_string());
            }
        }
        let key_items = items.len();
        let picks = rng.range(1, 4) as usize;
        let aggs = distinct_aggs(rng, picks, decimal_only);
        for (i, a) in aggs.iter().enumerate() {
            if rng.chance(50) {
                items.push((format!("{} AS n{i}", a.sql), format!("n{i}")));
            } else {
                items.push((a.sql.to_string(), a.sql.to_string()));
            }
        }
        // the shown keys first or mixed with the aggregates
        let mut order_of_items: Vec<usize> = (0..items.len()).collect();
        if rng.chance(30) {
            shuffle(rng, &mut order_of_items);
        }
        let distinct = rng.chance(8);
        let select: Vec<&str> = order_of_items
            .iter()
            .map(|&i| items[i].0.as_str())
            .collect();
        let pos_of = |i: usize| {
            order_of_items
                .iter()
                .position(|&x| x == i)
                .expect("an item")
        };
        let where_ = where_clause(rng, &mut params);
        let mut sql = format!(
            "SELECT {}{} FROM {{t}}{where_} GROUP BY {}",
            if distinct { "DISTINCT " } else { "" },
            select.join(", "),
            group_by
                .iter()
                .map(|g| {
                    // a position refers to the item as laid out
                    match g.parse::<usize>() {
                        Ok(p) => (pos_of(p - 1) + 1).to_string(),
                        Err(_) => g.clone(),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        // HAVING over selected or other aggregates
        if rng.chance(45) {
            let nconds = rng.range(1, 2);
            let mut conds = Vec::new();
            for _ in 0..nconds {
                let a = if rng.chance(60) {
                    *rng.pick(&aggs)
                } else {
                    rng.pick(AGGS)
                };
                let name = items
                    .iter()
                    .find(|(t, _)| {
                        t.strip_prefix(a.sql)
                            .is_some_and(|rest| rest.starts_with(" AS "))
                    })
                    .filter(|_| rng.chance(50))
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| a.sql.to_string());
                conds.push(condition(rng, &name, a.lit, &mut params));
            }
            let joiner = if rng.chance(50) { " AND " } else { " OR " };
            sql.push_str(&format!(" HAVING {}", conds.join(joiner)));
        }
        // ORDER BY: none, some or all keys, aggregates, mixed
        let mut order: Vec<usize> = Vec::new();
        match rng.range(0, 4) {
            0 => {}
            1 => {
                order = (0..key_items).collect();
                shuffle(rng, &mut order);
                order.truncate(rng.range(1, key_items.max(1) as i64) as usize);
            }
            2 => {
                order = (key_items..items.len()).collect();
                shuffle(rng, &mut order);
                order.truncate(rng.range(1, 2) as usize);
                let mut rest: Vec<usize> = (0..key_items).collect();
                shuffle(rng, &mut rest);
                order.extend(rest);
            }
            _ => {
                order = (0..items.len()).collect();
                shuffle(rng, &mut order);
                order.truncate(rng.range(1, items.len() as i64) as usize);
            }
        }
        let order_sql: Vec<String> = order
            .iter()
            .map(|&i| {
                let by = match rng.range(0, 2) {
                    0 => (pos_of(i) + 1).to_string(),
                    _ => items[i].1.clone(),
                };
                let dir = *rng.pick(&["", " DESC", " ASC"]);
                format!("{by}{dir}")
            })
            .collect();
        let mut full = sql.clone();
        if !order.is_empty() {
            let o = format!(" ORDER BY {}", order_sql.join(", "));
            sql.push_str(&o);
            full.push_str(&o);
        }
        // without ORDER BY MariaDB returns the groups in GROUP BY order;
        // after DISTINCT in no defined order
        let l = if order.is_empty() && distinct {
            String::new()
        } else {
            limit(rng)
        };
        sql.push_str(&l);
        let all_keys_shown = key_items == keys.len() && keys.iter().all(|k| k.unique);
        let keys_in_order = (0..key_items).all(|k| order.contains(&k));
        if order.is_empty() {
            out.push(Q::new(&sql, params, !l.is_empty()));
        } else if all_keys_shown && keys_in_order && !distinct {
            out.push(Q::new(&sql, params, true));
        } else {
            let cols: Vec<usize> = order.iter().map(|&i| pos_of(i)).collect();
            out.push(Q::ties(&sql, params, cols, &full));
        }
    }
    out
}

/// A column that sorts without text ties between unequal values.
const ROW_COLS: &[&str] = &["id", "k", "i", "d", "s", "dt", "g", "c", "ts", "tm", "e"];

/// Plain rows: ORDER BY on mixed columns and directions, LIMIT / OFFSET,
/// DISTINCT, `_bin` and binary strings.
pub(super) fn rows(rng: &mut Rng, n: usize) -> Vec<Q> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut params = Vec::new();
        let mut where_ = where_clause(rng, &mut params);
        if where_.is_empty() && rng.chance(70) {
            // a few hundred rows over several shards
            let lo = rng.range(-7000, 25_000);
            params.push(P::I(lo));
            params.push(P::I(lo + rng.range(1000, 4000)));
            where_ = " WHERE id BETWEEN ? AND ?".into();
        }
        if rng.chance(25) {
            // DISTINCT over strings that differ in case
            let (item, ordered) = *rng.pick(&[
                ("c", false),
                ("u COLLATE utf8mb4_bin AS ub", false),
                ("BINARY u AS bu", false),
                ("c, g", false),
                ("c, dt IS NULL", false),
                ("UPPER(u)", false),
                ("c COLLATE utf8mb4_bin", false),
            ]);
            let order = match rng.range(0, 2) {
                0 => String::new(),
                1 => " ORDER BY 1".into(),
                _ => " ORDER BY 1 DESC".into(),
            };
            let l = if order.is_empty() {
                String::new()
            } else {
                limit(rng)
            };
            let sql = format!("SELECT DISTINCT {item} FROM {{t}}{where_}{order}{l}");
            if order.is_empty() {
                out.push(Q::new(&sql, params, ordered));
            } else {
                let full = format!("SELECT DISTINCT {item} FROM {{t}}{where_}{order}");
                out.push(Q::ties(&sql, params, vec![0], &full));
            }
            continue;
        }
        let mut cols: Vec<&str> = ROW_COLS.to_vec();
        shuffle(rng, &mut cols);
        cols.truncate(rng.range(2, 5) as usize);
        if rng.chance(30) {
            cols.push(*rng.pick(&["k%7 AS m7", "u", "BINARY u AS bu", "tm + 0", "dt + 0"]));
        }
        let nkeys = rng.range(1, 3.min(cols.len() as i64)) as usize;
        let mut order: Vec<usize> = (0..cols.len())
            .filter(|&i| !matches!(cols[i], "u"))
            .collect();
        shuffle(rng, &mut order);
        order.truncate(nkeys);
        let mut order_sql: Vec<String> = order
            .iter()
            .map(|&i| {
                let by = if rng.chance(40) {
                    (i + 1).to_string()
                } else {
                    let c = cols[i];
                    c.rsplit(" AS ").next().unwrap_or(c).to_string()
                };
                format!("{by}{}", *rng.pick(&["", " DESC", " ASC"]))
            })
            .collect();
        let total = rng.chance(40);
        if total {
            order_sql.push("id".into());
        }
        let select = cols.join(", ");
        let base = format!(
            "SELECT {select}{} FROM {{t}}{where_} ORDER BY {}",
            if total { ", id" } else { "" },
            order_sql.join(", ")
        );
        let l = limit(rng);
        let sql = format!("{base}{l}");
        if total {
            out.push(Q::new(&sql, params, true));
        } else {
            out.push(Q::ties(&sql, params, order.clone(), &base));
        }
    }
    out
}

/// Aggregates over the whole (filtered) table, HAVING on selected or other
/// aggregates (the issue's `SELECT AVG(k) ... HAVING SUM(k) > 60000`).
/// Up to `picks` different aggregates (only decimal ones when asked).
fn distinct_aggs(rng: &mut Rng, picks: usize, decimal_only: bool) -> Vec<&'static Agg> {
    let mut aggs: Vec<&'static Agg> = Vec::new();
    for _ in 0..picks {
        let a = if decimal_only {
            let name = *rng.pick(DECIMAL_AGGS);
            AGGS.iter()
                .find(|a| a.sql == name)
                .expect("a decimal aggregate")
        } else {
            rng.pick(AGGS)
        };
        if !aggs.iter().any(|x| x.sql == a.sql) {
            aggs.push(a);
        }
    }
    aggs
}

pub(super) fn whole(rng: &mut Rng, n: usize, decimal_only: bool) -> Vec<Q> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut params = Vec::new();
        let picks = rng.range(1, 5) as usize;
        let items = distinct_aggs(rng, picks, decimal_only);
        let select: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if rng.chance(40) {
                    format!("{} AS w{i}", a.sql)
                } else {
                    a.sql.to_string()
                }
            })
            .collect();
        let where_ = where_clause(rng, &mut params);
        let mut sql = format!("SELECT {} FROM {{t}}{where_}", select.join(", "));
        if rng.chance(40) {
            let a = if rng.chance(50) {
                *rng.pick(&items)
            } else {
                rng.pick(AGGS)
            };
            // whole-table sums: thresholds of the whole table's size
            let lit = match (a.sql, a.lit) {
                ("SUM(k)", _) => Lit::Int(0, 40_000_000),
                ("COUNT(*)" | "count(*)" | "COUNT(i)" | "COUNT(c)", _) => Lit::Int(0, 1500),
                (_, l) => l,
            };
            sql.push_str(&format!(
                " HAVING {}",
                condition(rng, a.sql, lit, &mut params)
            ));
        }
        out.push(Q::new(&sql, params, true));
    }
    out
}

/// One shard (re-rendered statements): unaliased expressions keep the
/// client's text as their column names.
pub(super) fn single_shard(rng: &mut Rng, ids: &[i64], n: usize) -> Vec<Q> {
    const EXPRS: &[&str] = &[
        "k+1",
        "k % 3",
        "k%3",
        "k DIV 7",
        "k/7",
        "AVG(k/7)",
        "SUM(k / 3)",
        "CONCAT(c,'!')",
        "cast(k as char)",
        "DATE(ts)",
        "tm + 0",
        "IF(i IS NULL, 'n', 'y')",
        "UPPER(u)",
        "COALESCE(i, -1)",
        "-k",
        "(k)",
        "`k` * 2",
        "d*2",
        "e/3",
        "dt + INTERVAL 1 DAY",
        "c COLLATE utf8mb4_general_ci",
    ];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut exprs: Vec<&str> = EXPRS.to_vec();
        shuffle(rng, &mut exprs);
        exprs.truncate(rng.range(1, 4) as usize);
        let aggregated = exprs
            .iter()
            .any(|e| e.contains("AVG(") || e.contains("SUM("));
        let exprs: Vec<&str> = if aggregated {
            exprs
                .into_iter()
                .filter(|e| e.contains("AVG(") || e.contains("SUM("))
                .collect()
        } else {
            exprs
        };
        let id = *rng.pick(ids);
        out.push(Q::new(
            &format!("SELECT {} FROM {{t}} WHERE id = ?", exprs.join(", ")),
            vec![P::I(id)],
            true,
        ));
    }
    out
}
