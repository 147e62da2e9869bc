//! Differential test: the same rows in one plain MariaDB database
//! (`haoka_diff_single.sbtest16`, straight on 3306) and, through the real
//! proxy, in the sharded `sbtest.sbtest16` (range_mod 1000 over 8 shards).
//! A corpus of queries, hand-written and generated, must give the same
//! answers (column names included) on both, over the text and the binary
//! (prepared) protocol. The generated classes are in `differential/`.

mod differential;
mod e2e_common;

use std::collections::HashSet;
use std::fmt::Write as _;

use e2e_common::*;
use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Row, Value};

const TABLE: &str = "sbtest16";
const SINGLE_DB: &str = "haoka_diff_single";
const ROWS: usize = 1500;

// `c` (utf8mb4_bin) and `u` (general_ci) hold strings that differ only in
// case; `e` has 5 decimals (AVG(e) is cut, not rounded, at 9).
const DDL: &str = "CREATE TABLE sbtest16 (
    id BIGINT NOT NULL PRIMARY KEY,
    k INT NOT NULL,
    i INT NULL,
    d DECIMAL(12,3) NULL,
    s VARCHAR(32) NULL,
    dt DATE NULL,
    g INT NOT NULL,
    c VARCHAR(16) COLLATE utf8mb4_bin NULL,
    u VARCHAR(16) NULL,
    ts DATETIME NULL,
    tm TIME NULL,
    e DECIMAL(10,5) NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

/// Strings of `c` and `u`: families equal but for case.
const CASED: &[&str] = &[
    "abc", "ABC", "Abc", "aBc", "abd", "ABD", "x", "X", "xy", "Xy", "b", "B", "zeta", "Zeta",
];

#[derive(Clone, Debug)]
enum P {
    I(i64),
    S(String),
    F(f64),
    Date(u16, u8, u8),
    Null,
}

impl P {
    fn literal(&self) -> String {
        match self {
            P::I(i) => i.to_string(),
            P::S(s) => format!("'{}'", s.replace('\'', "''")),
            P::F(f) => format!("{f:?}"),
            P::Date(y, m, d) => format!("'{y:04}-{m:02}-{d:02}'"),
            P::Null => "NULL".into(),
        }
    }
    fn value(&self) -> Value {
        match self {
            P::I(i) => Value::Int(*i),
            P::S(s) => Value::Bytes(s.clone().into_bytes()),
            P::F(f) => Value::Double(*f),
            P::Date(y, m, d) => Value::Date(*y, *m, *d, 0, 0, 0, 0),
            P::Null => Value::NULL,
        }
    }
}

/// A query with `?` placeholders; `ordered` when ORDER BY gives a total order.
#[derive(Clone, Debug)]
struct Q {
    sql: String,
    params: Vec<P>,
    ordered: bool,
    /// A partial order: the result columns ORDER BY sorts on. Rows that tie
    /// may come in any order, and under a LIMIT any of the tied rows may
    /// be cut: the answers must then have the same sort keys row by row,
    /// and every row must be one of `full`'s (the query without LIMIT).
    keys: Option<(Vec<usize>, String)>,
}

impl Q {
    fn new(sql: &str, params: Vec<P>, ordered: bool) -> Q {
        Q {
            sql: sql.replace("{t}", TABLE),
            params,
            ordered,
            keys: None,
        }
    }
    /// Ordered by the result columns `keys` only (ties allowed); `full` is
    /// the same query without its LIMIT.
    fn ties(sql: &str, params: Vec<P>, keys: Vec<usize>, full: &str) -> Q {
        Q {
            keys: Some((keys, full.replace("{t}", TABLE))),
            ..Q::new(sql, params, false)
        }
    }
    /// The text-protocol form: parameters inlined as literals.
    fn text(&self) -> String {
        inline(&self.sql, &self.params)
    }
}

fn inline(sql: &str, params: &[P]) -> String {
    let mut out = String::new();
    let mut it = params.iter();
    for ch in sql.chars() {
        if ch == '?' {
            out.push_str(&it.next().expect("enough params").literal());
        } else {
            out.push(ch);
        }
    }
    assert!(it.next().is_none(), "too many params for {sql}");
    out
}

struct Data {
    ids: Vec<i64>,
    strings: Vec<String>,
    inserts: Vec<String>,
}

fn generate() -> Data {
    let mut rng = Rng::new(0x0048_414f_4b41);
    let mut ids = Vec::with_capacity(ROWS);
    let mut strings = Vec::new();
    let mut seen = HashSet::new();
    let mut values = Vec::with_capacity(ROWS);
    for n in 0..ROWS as i64 {
        // Spread over negative and positive ids: blocks -6..27, all 8 shards.
        let id = n * 11 + rng.range(0, 10) - 6000;
        ids.push(id);
        let k = rng.range(-50, 50_000);
        let i = if rng.chance(15) {
            "NULL".to_string()
        } else {
            rng.range(-2_000_000_000, 2_000_000_000).to_string()
        };
        let d = if rng.chance(10) {
            "NULL".to_string()
        } else {
            let v = rng.range(-99_999_999, 99_999_999);
            format!(
                "{}{}.{:03}",
                if v < 0 { "-" } else { "" },
                v.abs() / 1000,
                v.abs() % 1000
            )
        };
        let s = if rng.chance(10) {
            "NULL".to_string()
        } else {
            // Mixed case, unique even case-insensitively (so MIN/MAX and
            // DISTINCT have one right answer under a _ci collation).
            loop {
                let len = rng.range(6, 10);
                let mut s = String::new();
                for _ in 0..len {
                    let c = (b'a' + rng.range(0, 25) as u8) as char;
                    s.push(if rng.chance(40) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    });
                }
                if seen.insert(s.to_ascii_lowercase()) {
                    strings.push(s.clone());
                    break format!("'{s}'");
                }
            }
        };
        let dt = if rng.chance(10) {
            "NULL".to_string()
        } else {
            format!(
                "'{}-{:02}-{:02}'",
                rng.range(1995, 2030),
                rng.range(1, 12),
                rng.range(1, 28)
            )
        };
        let g = rng.range(0, 9);
        let mut cased = || {
            if rng.chance(10) {
                "NULL".to_string()
            } else {
                format!("'{}'", rng.pick(CASED))
            }
        };
        let (c, u) = (cased(), cased());
        // few distinct datetimes and times (groups stay small), several
        // datetimes on one day
        let ts = if rng.chance(10) {
            "NULL".to_string()
        } else {
            format!(
                "'{}-{:02}-{:02} {:02}:{:02}:00'",
                rng.range(2019, 2021),
                rng.range(1, 12),
                1 + 14 * rng.range(0, 1),
                12 * rng.range(0, 1),
                30,
            )
        };
        let tm = if rng.chance(10) {
            "NULL".to_string()
        } else {
            // negative and beyond 24 h too
            let secs = rng.range(-8, 24) * 5 * 3600 + rng.range(0, 3) * 900;
            let a = secs.abs();
            format!(
                "'{}{:02}:{:02}:{:02}'",
                if secs < 0 { "-" } else { "" },
                a / 3600,
                a / 60 % 60,
                a % 60
            )
        };
        let e = if rng.chance(10) {
            "NULL".to_string()
        } else {
            let v = rng.range(-99_999_999, 99_999_999);
            format!(
                "{}{}.{:05}",
                if v < 0 { "-" } else { "" },
                v.abs() / 100_000,
                v.abs() % 100_000
            )
        };
        values.push(format!(
            "({id}, {k}, {i}, {d}, {s}, {dt}, {g}, {c}, {u}, {ts}, {tm}, {e})"
        ));
    }
    let inserts = values
        .chunks(250)
        .map(|c| {
            format!(
                "INSERT INTO {TABLE} (id, k, i, d, s, dt, g, c, u, ts, tm, e) VALUES {}",
                c.join(", ")
            )
        })
        .collect();
    Data {
        ids,
        strings,
        inserts,
    }
}

fn hand_written(data: &Data) -> Vec<Q> {
    let id = |n: usize| P::I(data.ids[n]);
    let s = |n: usize| P::S(data.strings[n].clone());
    let lower = |n: usize| P::S(data.strings[n].to_ascii_lowercase());
    vec![
        Q::new("SELECT * FROM {t} WHERE id = ?", vec![id(17)], true),
        Q::new("SELECT * FROM {t} WHERE id = ?", vec![id(ROWS - 1)], true),
        Q::new("SELECT * FROM {t} WHERE id = ?", vec![P::I(-1)], true),
        Q::new(
            "SELECT * FROM {t} WHERE id = ?",
            vec![P::I(99_999_999)],
            true,
        ),
        Q::new(
            "SELECT id, k FROM {t} WHERE id IN (?, ?, ?, ?, ?) ORDER BY id",
            vec![id(0), id(250), id(500), id(1000), P::I(7)],
            true,
        ),
        Q::new(
            "SELECT id, k FROM {t} WHERE id IN (?, ?, ?, ?)",
            vec![id(3), id(750), id(1250), id(ROWS - 2)],
            false,
        ),
        Q::new(
            "SELECT id FROM {t} WHERE id BETWEEN ? AND ? ORDER BY id",
            vec![P::I(100), P::I(900)],
            true,
        ),
        Q::new(
            "SELECT id FROM {t} WHERE id BETWEEN ? AND ? ORDER BY id",
            vec![P::I(-1500), P::I(2500)],
            true,
        ),
        Q::new(
            "SELECT id, s FROM {t} WHERE id > ? AND id <= ? ORDER BY id DESC LIMIT 10",
            vec![P::I(-3000), P::I(12_000)],
            true,
        ),
        Q::new(
            "SELECT COUNT(*), SUM(k), MIN(i), MAX(i), SUM(i), SUM(d), MIN(d), MAX(d), \
             MIN(s), MAX(s), MIN(dt), MAX(dt), COUNT(i), COUNT(s) FROM {t}",
            vec![],
            true,
        ),
        Q::new("SELECT AVG(k), AVG(i), AVG(d) FROM {t}", vec![], true),
        Q::new(
            "SELECT AVG(k), AVG(i), AVG(d) FROM {t} WHERE id < ?",
            vec![P::I(0)],
            true,
        ),
        Q::new(
            "SELECT g, COUNT(*), SUM(i), MIN(d), MAX(s), MIN(dt) FROM {t} GROUP BY g ORDER BY g",
            vec![],
            true,
        ),
        Q::new(
            "SELECT g, COUNT(*) FROM {t} GROUP BY g HAVING COUNT(*) > ? ORDER BY g",
            vec![P::I(150)],
            true,
        ),
        Q::new(
            "SELECT g, SUM(k) AS sk FROM {t} GROUP BY g ORDER BY sk DESC, g",
            vec![],
            true,
        ),
        Q::new(
            "SELECT g, AVG(k) FROM {t} GROUP BY g ORDER BY g",
            vec![],
            true,
        ),
        Q::new("SELECT g, COUNT(*) FROM {t} GROUP BY g", vec![], false),
        Q::new("SELECT DISTINCT g FROM {t} ORDER BY g", vec![], true),
        Q::new("SELECT DISTINCT g FROM {t}", vec![], false),
        Q::new(
            "SELECT DISTINCT g, dt FROM {t} WHERE dt > ?",
            vec![P::S("2028-06-01".into())],
            false,
        ),
        Q::new(
            "SELECT id, i FROM {t} ORDER BY i DESC, id LIMIT 20 OFFSET 15",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id, i FROM {t} ORDER BY i, id LIMIT 25",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id FROM {t} WHERE s = ? ORDER BY id",
            vec![s(10)],
            true,
        ),
        Q::new(
            "SELECT id, s FROM {t} WHERE s = ? ORDER BY id",
            vec![lower(11)],
            true,
        ),
        Q::new(
            "SELECT id, s FROM {t} WHERE s LIKE ? ORDER BY id",
            vec![P::S("ab%".into())],
            true,
        ),
        Q::new("SELECT COUNT(*) FROM {t} WHERE i IS NULL", vec![], true),
        Q::new(
            "SELECT id, d FROM {t} WHERE d < ? ORDER BY d, id LIMIT 30",
            vec![P::I(-90_000)],
            true,
        ),
        Q::new(
            "SELECT dt, COUNT(*) FROM {t} WHERE dt IS NOT NULL GROUP BY dt \
             ORDER BY COUNT(*) DESC, dt LIMIT 5",
            vec![],
            true,
        ),
        Q::new(
            "SELECT s, id FROM {t} ORDER BY s, id LIMIT 50",
            vec![],
            true,
        ),
        Q::new(
            "SELECT s, id FROM {t} ORDER BY s DESC, id LIMIT 40",
            vec![],
            true,
        ),
        Q::new(
            "SELECT g, COUNT(*) FROM {t} WHERE id IN (?, ?, ?, ?, ?, ?) GROUP BY g ORDER BY g",
            vec![id(1), id(2), id(450), id(900), id(1350), id(1351)],
            true,
        ),
        Q::new(
            "SELECT id + 1, k * 2, CONCAT(s, '!') FROM {t} WHERE id = ?",
            vec![id(42)],
            true,
        ),
        Q::new(
            "SELECT MIN(id), MAX(id), COUNT(*) FROM {t} WHERE id BETWEEN ? AND ?",
            vec![P::I(-2500), P::I(15_000)],
            true,
        ),
        Q::new(
            "SELECT * FROM {t} ORDER BY id LIMIT 5 OFFSET 1490",
            vec![],
            true,
        ),
        Q::new("SELECT * FROM {t} ORDER BY id DESC LIMIT 7", vec![], true),
        Q::new(
            "SELECT id, k FROM {t} WHERE k > ? ORDER BY k DESC, id LIMIT ?",
            vec![P::I(40_000), P::I(12)],
            true,
        ),
        Q::new(
            "SELECT COUNT(*) FROM {t} WHERE g = ? OR id < ?",
            vec![P::I(3), P::I(-4000)],
            true,
        ),
        Q::new(
            "SELECT id FROM {t} WHERE dt BETWEEN ? AND ? ORDER BY dt, id",
            vec![P::S("2001-01-01".into()), P::S("2001-12-31".into())],
            true,
        ),
        Q::new(
            "SELECT COUNT(*), SUM(d) FROM {t} WHERE d BETWEEN ? AND ?",
            vec![P::S("-100.5".into()), P::S("50000".into())],
            true,
        ),
        Q::new("SELECT COUNT(*) FROM {t} WHERE 1 = 0", vec![], true),
        Q::new(
            "SELECT MAX(k), MIN(s) FROM {t} WHERE id = ?",
            vec![P::I(-77_777)],
            true,
        ),
        // Edge cases: empty sets, aliases, expressions, ORDER BY on columns
        // that are not selected, NULL ordering, aggregates in ORDER BY.
        Q::new(
            "SELECT COUNT(*), SUM(k), AVG(d), MIN(s) FROM {t} WHERE k < ?",
            vec![P::I(-1000)],
            true,
        ),
        Q::new(
            "SELECT g, COUNT(*) FROM {t} WHERE k < ? GROUP BY g ORDER BY g",
            vec![P::I(-1000)],
            true,
        ),
        Q::new(
            "SELECT id FROM {t} ORDER BY k DESC, id LIMIT 15",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id AS x, k AS y FROM {t} ORDER BY y, x LIMIT 12",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id, k + i AS z FROM {t} ORDER BY z, id LIMIT 20",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id, d FROM {t} ORDER BY d DESC, id LIMIT 20",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id, dt FROM {t} ORDER BY dt, id LIMIT 20",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id, dt FROM {t} ORDER BY dt DESC, id DESC LIMIT 20",
            vec![],
            true,
        ),
        Q::new(
            "SELECT g, COUNT(*) AS n FROM {t} GROUP BY g ORDER BY n DESC, g LIMIT 3",
            vec![],
            true,
        ),
        Q::new(
            "SELECT g, SUM(k) FROM {t} GROUP BY g HAVING SUM(k) > ? ORDER BY g",
            vec![P::I(3_700_000)],
            true,
        ),
        Q::new(
            "SELECT DISTINCT g FROM {t} ORDER BY g DESC LIMIT 4",
            vec![],
            true,
        ),
        Q::new(
            "SELECT DISTINCT dt FROM {t} WHERE dt IS NOT NULL ORDER BY dt LIMIT 10 OFFSET 5",
            vec![],
            true,
        ),
        Q::new("SELECT COUNT(*) FROM {t} WHERE s IS NOT NULL", vec![], true),
        Q::new(
            "SELECT COUNT(i), COUNT(d), COUNT(dt) FROM {t}",
            vec![],
            true,
        ),
        Q::new(
            "SELECT id, s FROM {t} WHERE s IN (?, ?, ?) ORDER BY id",
            vec![s(1), lower(2), P::S(data.strings[3].to_ascii_uppercase())],
            true,
        ),
        Q::new(
            "SELECT * FROM {t} WHERE id IN (?, ?) AND g = ?",
            vec![id(100), id(200), P::I(3)],
            false,
        ),
        Q::new("SELECT * FROM {t} ORDER BY id LIMIT 0", vec![], true),
        Q::new(
            "SELECT id FROM {t} ORDER BY id LIMIT 3 OFFSET 5000",
            vec![],
            true,
        ),
        Q::new(
            "SELECT SUM(k) FROM {t} WHERE id BETWEEN ? AND ?",
            vec![P::I(-1), P::I(-1)],
            true,
        ),
        Q::new("SELECT MIN(i), MAX(i) FROM {t} WHERE i > 0", vec![], true),
        // Parameters of other types, including for the shard key.
        Q::new(
            "SELECT * FROM {t} WHERE id = ?",
            vec![P::S(data.ids[33].to_string())],
            true,
        ),
        Q::new(
            "SELECT * FROM {t} WHERE id = ?",
            vec![P::F(data.ids[34] as f64)],
            true,
        ),
        Q::new(
            "SELECT * FROM {t} WHERE id = ?",
            vec![P::S(format!(" {} ", data.ids[35]))],
            true,
        ),
        Q::new("SELECT * FROM {t} WHERE id = ?", vec![P::Null], true),
        Q::new(
            "SELECT * FROM {t} WHERE id IN (?, ?)",
            vec![P::F(data.ids[36] as f64 + 0.5), id(37)],
            false,
        ),
        Q::new(
            "SELECT id FROM {t} WHERE id BETWEEN ? AND ? ORDER BY id",
            vec![P::S("-2500".into()), P::F(1200.5)],
            true,
        ),
        Q::new(
            "SELECT id, dt FROM {t} WHERE dt >= ? AND dt < ? ORDER BY dt, id",
            vec![P::Date(2010, 3, 1), P::Date(2010, 9, 1)],
            true,
        ),
        Q::new(
            "SELECT COUNT(*) FROM {t} WHERE d > ? OR i = ?",
            vec![P::F(98_000.25), P::Null],
            true,
        ),
        Q::new(
            "SELECT id, k FROM {t} WHERE id = ? OR id = ? ORDER BY id",
            vec![P::I(data.ids[40]), P::S(data.ids[41].to_string())],
            true,
        ),
        Q::new(
            "SELECT g, MIN(id), MAX(id) FROM {t} WHERE id < ? GROUP BY g ORDER BY g",
            vec![P::I(0)],
            true,
        ),
        // issue 13: LIMIT under a GROUP BY the ORDER BY covers only in part
        Q::ties(
            "SELECT k%3 a, k%5 b, COUNT(*) n FROM {t} GROUP BY b, a ORDER BY a LIMIT 3",
            vec![],
            vec![0],
            "SELECT k%3 a, k%5 b, COUNT(*) n FROM {t} GROUP BY b, a ORDER BY a",
        ),
        // HAVING on SUM / COUNT next to AVG of the same argument
        Q::new(
            "SELECT g, AVG(k) FROM {t} GROUP BY g HAVING SUM(k) > ? ORDER BY g",
            vec![P::I(2_000_000)],
            true,
        ),
        Q::new(
            "SELECT g, AVG(i) FROM {t} GROUP BY g HAVING COUNT(i) > ? ORDER BY g",
            vec![P::I(120)],
            true,
        ),
        Q::new(
            "SELECT AVG(k) FROM {t} HAVING SUM(k) > ?",
            // the whole table's sum is above, each shard's below
            vec![P::I(20_000_000)],
            true,
        ),
        // _bin comparisons in DISTINCT, GROUP BY and ORDER BY DESC
        Q::new(
            "SELECT DISTINCT u COLLATE utf8mb4_bin FROM {t}",
            vec![],
            false,
        ),
        Q::new(
            "SELECT c, COUNT(*) FROM {t} GROUP BY c ORDER BY c DESC",
            vec![],
            true,
        ),
        Q::new(
            "SELECT u COLLATE utf8mb4_bin AS ub, COUNT(*) FROM {t} GROUP BY u COLLATE utf8mb4_bin",
            vec![],
            false,
        ),
        // GROUP BY a column before a select alias of the same name
        Q::new(
            "SELECT DATE(ts) AS ts, COUNT(*) FROM {t} GROUP BY ts",
            vec![],
            true,
        ),
        // dates and times against numbers and strings in HAVING
        Q::new(
            "SELECT g, MAX(dt) md FROM {t} GROUP BY g HAVING md > ? ORDER BY g",
            vec![P::I(20_280_301)],
            true,
        ),
        Q::new(
            "SELECT g, MAX(tm) mt FROM {t} GROUP BY g HAVING mt > ? ORDER BY g",
            vec![P::I(1_195_000)],
            true,
        ),
        Q::new(
            "SELECT g, MIN(tm) mt FROM {t} GROUP BY g HAVING mt < ? ORDER BY g",
            vec![P::S("-39:50".into())],
            true,
        ),
        // merged decimal precision; the column name is the client's text
        Q::new(
            "SELECT AVG(k/7), SUM(k/3), AVG(e), SUM(d/7) FROM {t}",
            vec![],
            true,
        ),
        Q::new(
            "SELECT g, AVG(k/7), SUM(k/3), AVG(e), AVG(d) FROM {t} GROUP BY g",
            vec![],
            true,
        ),
    ]
}

fn generated(data: &Data, n: usize) -> Vec<Q> {
    let mut rng = Rng::new(0xd1ff);
    let mut out = Vec::with_capacity(n);
    let cols = ["k", "i", "d", "s", "dt", "g"];
    for _ in 0..n {
        let mut params = Vec::new();
        let pick_id = |rng: &mut Rng| -> P {
            if rng.chance(80) {
                P::I(*rng.pick(&data.ids))
            } else {
                P::I(rng.range(-7000, 30_000))
            }
        };
        let where_ = match rng.range(0, 12) {
            0 => String::new(),
            1 => {
                params.push(pick_id(&mut rng));
                " WHERE id = ?".into()
            }
            2 => {
                let n = rng.range(2, 6);
                for _ in 0..n {
                    params.push(pick_id(&mut rng));
                }
                format!(" WHERE id IN ({})", vec!["?"; n as usize].join(", "))
            }
            3 => {
                let lo = rng.range(-7000, 30_000);
                params.push(P::I(lo));
                params.push(P::I(lo + rng.range(0, 3000)));
                " WHERE id BETWEEN ? AND ?".into()
            }
            4 => {
                params.push(P::I(rng.range(-50, 50_000)));
                " WHERE k > ?".into()
            }
            5 => {
                params.push(P::I(rng.range(-2_000_000_000, 2_000_000_000)));
                " WHERE i < ?".into()
            }
            6 => " WHERE i IS NULL OR s IS NULL".into(),
            7 => {
                params.push(P::S(format!(
                    "{}.{}",
                    rng.range(-99_999, 99_999),
                    rng.range(0, 999)
                )));
                " WHERE d >= ?".into()
            }
            8 => {
                params.push(P::I(rng.range(0, 9)));
                params.push(pick_id(&mut rng));
                " WHERE (g = ? OR id < ?)".into()
            }
            9 => {
                let c = (b'a' + rng.range(0, 25) as u8) as char;
                params.push(P::S(format!(
                    "{}%",
                    if rng.chance(50) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                )));
                " WHERE s LIKE ?".into()
            }
            10 => {
                params.push(P::S(format!(
                    "{}-{:02}-01",
                    rng.range(1995, 2030),
                    rng.range(1, 12)
                )));
                " WHERE dt > ?".into()
            }
            _ => {
                params.push(pick_id(&mut rng));
                params.push(P::I(rng.range(0, 50_000)));
                " WHERE id >= ? AND k < ?".into()
            }
        };
        let limit = |rng: &mut Rng| -> String {
            match rng.range(0, 3) {
                0 => String::new(),
                1 => format!(" LIMIT {}", rng.range(0, 40)),
                _ => format!(" LIMIT {} OFFSET {}", rng.range(1, 40), rng.range(0, 60)),
            }
        };
        let q = match rng.range(0, 5) {
            0 => {
                let c = rng.pick(&cols);
                let dir = if rng.chance(50) { " DESC" } else { "" };
                let l = limit(&mut rng);
                Q::new(
                    &format!("SELECT id, k, i, d, s, dt, g FROM {{t}}{where_} ORDER BY {c}{dir}, id{l}"),
                    params,
                    true,
                )
            }
            1 => Q::new(&format!("SELECT id, g, s FROM {{t}}{where_}"), params, false),
            2 => Q::new(
                &format!(
                    "SELECT COUNT(*), SUM(k), MIN(i), MAX(d), MIN(s), MAX(dt), AVG(k), SUM(d) FROM {{t}}{where_}"
                ),
                params,
                true,
            ),
            3 => {
                let key = *rng.pick(&["g", "dt"]);
                let having = if rng.chance(30) {
                    params.push(P::I(rng.range(0, 5)));
                    " HAVING COUNT(*) > ?"
                } else {
                    ""
                };
                let dir = if rng.chance(50) { " DESC" } else { "" };
                let l = limit(&mut rng);
                Q::new(
                    &format!(
                        "SELECT {key}, COUNT(*), SUM(i), MIN(d), MAX(s), AVG(d) FROM {{t}}{where_} \
                         GROUP BY {key}{having} ORDER BY {key}{dir}{l}"
                    ),
                    params,
                    true,
                )
            }
            _ => {
                let c = *rng.pick(&["g", "dt", "g, dt"]);
                Q::new(
                    &format!("SELECT DISTINCT {c} FROM {{t}}{where_}"),
                    params,
                    false,
                )
            }
        };
        out.push(q);
    }
    out
}

/// A result as comparable text: column names, then rows.
type Answer = (Vec<String>, Vec<Vec<String>>);

fn canon(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => format!("'{}'", String::from_utf8_lossy(b)),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => format!("{f:?}f"),
        Value::Double(f) => format!("{f:?}"),
        Value::Date(y, m, d, h, mi, s, us) => {
            let mut t = format!("{y:04}-{m:02}-{d:02}");
            if (*h, *mi, *s, *us) != (0, 0, 0, 0) {
                let _ = write!(t, " {h:02}:{mi:02}:{s:02}.{us:06}");
            }
            t
        }
        Value::Time(neg, d, h, m, s, us) => format!("{neg}:{d}:{h}:{m}:{s}:{us}"),
    }
}

async fn run(c: &mut Conn, q: &Q, prepared: bool) -> Result<Answer, mysql_async::Error> {
    run_sql(c, &q.sql, &q.params, prepared).await
}

/// Column names (also of an empty result) and rows, in the server's order.
async fn run_sql(
    c: &mut Conn,
    sql: &str,
    params: &[P],
    prepared: bool,
) -> Result<Answer, mysql_async::Error> {
    let (names, rows): (Vec<String>, Vec<Row>) = if prepared {
        let params = Params::Positional(params.iter().map(P::value).collect());
        let mut r = c.exec_iter(sql, params).await?;
        let names = column_names(r.columns());
        (names, r.collect().await?)
    } else {
        let mut r = c.query_iter(inline(sql, params)).await?;
        let names = column_names(r.columns());
        (names, r.collect().await?)
    };
    let out = rows
        .into_iter()
        .map(|r| r.unwrap().iter().map(canon).collect())
        .collect();
    Ok((names, out))
}

fn column_names(cols: Option<std::sync::Arc<[mysql_async::Column]>>) -> Vec<String> {
    cols.map(|c| c.iter().map(|c| c.name_str().to_string()).collect())
        .unwrap_or_default()
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// Runs `q` on both sides; the difference, if any, for the report.
async fn compare(single: &mut Conn, sharded: &mut Conn, q: &Q, prepared: bool) -> Option<String> {
    let t0 = std::time::Instant::now();
    let want = run(single, q, prepared).await;
    let t1 = std::time::Instant::now();
    let got = run(sharded, q, prepared).await;
    {
        let mut t = TIMES.lock().unwrap();
        t.0 += t1 - t0;
        t.1 += t1.elapsed();
    }
    let show = |rows: &[Vec<String>]| format!("{:?}", rows.iter().take(8).collect::<Vec<_>>());
    let (w, g) = match (want, got) {
        (Ok(w), Ok(g)) => (w, g),
        (w, g) => {
            return Some(format!(
                "single:  {:?}\n  sharded: {:?}",
                w.map(|a| a.1.len()),
                g.map(|a| a.1.len())
            ))
        }
    };
    let differ = || {
        Some(format!(
            "single:  {:?} {}\n  sharded: {:?} {}",
            w.0,
            show(&w.1),
            g.0,
            show(&g.1)
        ))
    };
    if w.0 != g.0 && !(w.1.is_empty() && g.1.is_empty() && (w.0.is_empty() || g.0.is_empty())) {
        return differ();
    }
    let Some((cols, full)) = &q.keys else {
        let same = if q.ordered {
            w.1 == g.1
        } else {
            sorted(w.1.clone()) == sorted(g.1.clone())
        };
        return if same { None } else { differ() };
    };
    // a partial order: the same sort keys row by row, every row a real one
    let keys = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| cols.iter().map(|&c| r[c].clone()).collect())
            .collect()
    };
    if w.1.len() != g.1.len() || keys(&w.1) != keys(&g.1) {
        return differ();
    }
    let all = if *full == q.sql {
        w.1.clone()
    } else {
        match run_sql(single, full, &q.params, prepared).await {
            Ok(a) => a.1,
            Err(e) => return Some(format!("single without LIMIT: {e}")),
        }
    };
    let mut left: std::collections::HashMap<&Vec<String>, usize> = Default::default();
    for r in &all {
        *left.entry(r).or_default() += 1;
    }
    for r in &g.1 {
        match left.get_mut(r) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                return Some(format!(
                    "sharded row {r:?} is no row of the result\n{}",
                    differ()?
                ))
            }
        }
    }
    None
}

type Timing = std::sync::Mutex<(std::time::Duration, std::time::Duration)>;
/// Time spent waiting for the single database and for the proxy.
static TIMES: Timing =
    std::sync::Mutex::new((std::time::Duration::ZERO, std::time::Duration::ZERO));
/// The slowest queries (both protocols), to keep the test fast.
static SLOWEST: std::sync::Mutex<Vec<(std::time::Duration, String)>> =
    std::sync::Mutex::new(Vec::new());

/// A connection to the single database and one to the proxy.
struct Pair {
    single: Conn,
    sharded: Conn,
}

/// Compares every query over both protocols on `pairs` in parallel (each
/// takes every n-th query); the number of comparisons that agree.
async fn check_all(
    pairs: &mut Vec<Pair>,
    class: &str,
    qs: &[Q],
    failures: &mut Vec<String>,
) -> usize {
    let workers = pairs.len();
    let tasks: Vec<_> = pairs
        .drain(..)
        .enumerate()
        .map(|(w, mut pair)| {
            let mine: Vec<(usize, Q)> = qs
                .iter()
                .enumerate()
                .filter(|(n, _)| n % workers == w)
                .map(|(n, q)| (n, q.clone()))
                .collect();
            let class = class.to_string();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut agree = 0;
                for (n, q) in &mine {
                    let t = std::time::Instant::now();
                    for prepared in [false, true] {
                        let mode = if prepared { "prepared" } else { "text" };
                        match compare(&mut pair.single, &mut pair.sharded, q, prepared).await {
                            None => agree += 1,
                            Some(d) => failures.push(format!(
                                "[{class} #{n} {mode}] {}\n  params {:?}\n  {d}",
                                q.sql, q.params
                            )),
                        }
                    }
                    let mut s = SLOWEST.lock().unwrap();
                    s.push((t.elapsed(), q.sql.clone()));
                    s.sort_by_key(|b| std::cmp::Reverse(b.0));
                    s.truncate(3);
                }
                (pair, agree, failures)
            })
        })
        .collect();
    let mut agree = 0;
    for t in tasks {
        let (pair, a, f) = t.await.expect("a comparing task");
        pairs.push(pair);
        agree += a;
        failures.extend(f);
    }
    agree
}

async fn load(proxy: &ProxyProc, data: &Data) -> (Conn, Conn) {
    let mut admin = direct(None).await;
    admin
        .query_drop(format!("DROP DATABASE IF EXISTS {SINGLE_DB}"))
        .await
        .unwrap();
    admin
        .query_drop(format!(
            "CREATE DATABASE {SINGLE_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        ))
        .await
        .unwrap();
    let mut single = direct(Some(SINGLE_DB)).await;
    let mut sharded = proxy.conn("sbtest").await;
    sharded
        .query_drop(format!("DROP TABLE IF EXISTS {TABLE}"))
        .await
        .unwrap();
    for c in [&mut single, &mut sharded] {
        c.query_drop(DDL).await.unwrap();
        for ins in &data.inserts {
            c.query_drop(ins).await.unwrap();
        }
    }
    (single, sharded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_answers_match_single_database() {
    let proxy = ProxyProc::start();
    let data = generate();
    let (single, sharded) = load(&proxy, &data).await;

    // The rows landed where range_mod says, all 8 shards used.
    let mut per_shard = [0i64; 8];
    for id in &data.ids {
        per_shard[sbtest_shard(*id)] += 1;
    }
    for (s, want) in per_shard.iter().enumerate() {
        assert!(*want > 0);
        let mut d = direct(Some(&format!("sbtest_s{s}"))).await;
        let n: Option<i64> = d
            .query_first(format!("SELECT COUNT(*) FROM {TABLE}"))
            .await
            .unwrap();
        assert_eq!(n, Some(*want), "rows on shard {s}");
        let bad: Option<i64> = d
            .query_first(format!(
                "SELECT COUNT(*) FROM {TABLE} WHERE MOD(MOD(FLOOR(id / 1000), 8) + 8, 8) <> {s}"
            ))
            .await
            .unwrap();
        assert_eq!(bad, Some(0), "misplaced rows on shard {s}");
        d.disconnect().await.unwrap();
    }

    // HAOKA_DIFF_PERCENT=10 runs a tenth of the generated corpus (a quick
    // look while developing); CI runs all of it
    let percent: usize = std::env::var("HAOKA_DIFF_PERCENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let n = |count: usize| count * percent / 100;
    let mut rng = Rng::new(0x13a);
    let classes: Vec<(&str, Vec<Q>)> = vec![
        ("hand", hand_written(&data)),
        ("where", generated(&data, n(600))),
        ("grouped", differential::grouped(&mut rng, n(2400), false)),
        ("rows", differential::rows(&mut rng, n(900))),
        ("whole", differential::whole(&mut rng, n(500), false)),
        (
            "one shard",
            differential::single_shard(&mut rng, &data.ids, n(300)),
        ),
    ];
    // three pairs of connections compare in parallel
    let mut pairs = vec![Pair { single, sharded }];
    for _ in 0..2 {
        pairs.push(Pair {
            single: direct(Some(SINGLE_DB)).await,
            sharded: proxy.conn("sbtest").await,
        });
    }
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let (mut compared, mut statements) = (0, 0);
    let mut timing = Vec::new();
    for (class, qs) in &classes {
        let t = std::time::Instant::now();
        compared += check_all(&mut pairs, class, qs, &mut failures).await;
        statements += qs.len() * 2;
        timing.push(format!("{class} {:.1} s", t.elapsed().as_secs_f64()));
    }
    // decimals under other div_precision_increment values (the session's
    // SET reaches every shard connection)
    let t = std::time::Instant::now();
    for dpi in [0, 2, 5, 9] {
        let set = format!("SET div_precision_increment = {dpi}");
        for p in &mut pairs {
            p.single.query_drop(&set).await.unwrap();
            p.sharded.query_drop(&set).await.unwrap();
        }
        let mut qs = differential::grouped(&mut rng, n(60), true);
        qs.extend(differential::whole(&mut rng, n(40), true));
        if dpi == 5 {
            // d/7 then has values exactly halfway at its scale (0.005/7 is
            // 0.00071428|5): a grouped SUM rounds its running total in row
            // order (proxy/README.md, merge limits), so leave it out here
            qs.retain(|q| !(q.sql.contains("d/7") && q.sql.contains("GROUP BY")));
        }
        let class = format!("dpi={dpi}");
        compared += check_all(&mut pairs, &class, &qs, &mut failures).await;
        statements += qs.len() * 2;
    }
    timing.push(format!("dpi {:.1} s", t.elapsed().as_secs_f64()));
    let Pair {
        mut single,
        mut sharded,
    } = pairs.swap_remove(0);
    for c in [&mut single, &mut sharded] {
        c.query_drop("SET div_precision_increment = DEFAULT")
            .await
            .unwrap();
    }
    drop(pairs);
    let (t_single, t_proxy) = *TIMES.lock().unwrap();
    eprintln!(
        "differential: {statements} statements compared in {:.1} s (single {:.1} s, proxy {:.1} s; {})",
        started.elapsed().as_secs_f64(),
        t_single.as_secs_f64(),
        t_proxy.as_secs_f64(),
        timing.join(", ")
    );
    for (t, sql) in SLOWEST.lock().unwrap().iter() {
        eprintln!("  slowest: {:.0} ms {sql}", t.as_secs_f64() * 1000.0);
    }
    assert!(
        failures.is_empty(),
        "{} of {statements} comparisons differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(compared, statements);
    assert!(
        percent < 100 || statements >= 10_000,
        "{statements} statements"
    );

    // Unsupported across shards: a clear 1235 that says why.
    for (sql, why) in [
        ("SELECT COUNT(DISTINCT g) FROM sbtest16", "COUNT(DISTINCT"),
        (
            "SELECT a.id FROM sbtest16 a JOIN sbtest16 b ON a.k = b.k",
            "cross-shard join",
        ),
        (
            "SELECT g, MAX(d) - MIN(d) FROM sbtest16 GROUP BY g",
            "inside an expression across shards",
        ),
    ] {
        for prepared in [false, true] {
            let r = if prepared {
                sharded.exec_drop(sql, ()).await
            } else {
                sharded.query_drop(sql).await
            };
            match r {
                Err(mysql_async::Error::Server(e)) => {
                    assert_eq!(e.code, 1235, "{sql}: {e:?}");
                    assert!(e.message.contains(why), "{sql}: {}", e.message);
                    assert!(e.message.contains("shard"), "{sql}: {}", e.message);
                }
                other => panic!("{sql} (prepared {prepared}): expected 1235, got {other:?}"),
            }
        }
    }
    // ... while the same on one shard is fine and matches.
    let q = Q::new(
        "SELECT COUNT(DISTINCT g) FROM {t} WHERE id = ?",
        vec![P::I(data.ids[5])],
        true,
    );
    for prepared in [false, true] {
        assert_eq!(
            run(&mut single, &q, prepared).await.unwrap(),
            run(&mut sharded, &q, prepared).await.unwrap()
        );
    }

    // Writes: the same UPDATE/DELETE statements affect the same rows, and
    // the tables stay equal afterwards.
    let writes = [
        Q::new(
            "UPDATE {t} SET k = k + 1 WHERE id = ?",
            vec![P::I(data.ids[9])],
            true,
        ),
        Q::new(
            "UPDATE {t} SET s = ?, i = NULL WHERE id IN (?, ?, ?)",
            vec![
                P::S("Changed".into()),
                P::I(data.ids[1]),
                P::I(data.ids[750]),
                P::I(-1),
            ],
            true,
        ),
        Q::new(
            "UPDATE {t} SET d = d * 2 WHERE g = ? AND d IS NOT NULL",
            vec![P::I(4)],
            true,
        ),
        Q::new(
            "UPDATE {t} SET k = 0 WHERE id BETWEEN ? AND ?",
            vec![P::I(-3000), P::I(4000)],
            true,
        ),
        Q::new("UPDATE {t} SET g = g WHERE g = ?", vec![P::I(2)], true),
        Q::new(
            "DELETE FROM {t} WHERE id = ?",
            vec![P::I(data.ids[1000])],
            true,
        ),
        Q::new(
            "DELETE FROM {t} WHERE k > ? AND g = ?",
            vec![P::I(45_000), P::I(7)],
            true,
        ),
        Q::new(
            "DELETE FROM {t} WHERE id IN (?, ?, ?)",
            vec![P::I(data.ids[3]), P::I(data.ids[4]), P::I(123_456)],
            true,
        ),
        Q::new(
            "UPDATE {t} SET dt = NULL WHERE s LIKE ?",
            vec![P::S("q%".into())],
            true,
        ),
    ];
    for (n, q) in writes.iter().enumerate() {
        let prepared = n % 2 == 1;
        let (w, g) = if prepared {
            let params = |q: &Q| Params::Positional(q.params.iter().map(P::value).collect());
            single.exec_drop(q.sql.as_str(), params(q)).await.unwrap();
            sharded
                .exec_drop(q.sql.as_str(), params(q))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", q.sql));
            (single.affected_rows(), sharded.affected_rows())
        } else {
            single.query_drop(q.text()).await.unwrap();
            sharded
                .query_drop(q.text())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", q.text()));
            (single.affected_rows(), sharded.affected_rows())
        };
        assert_eq!(w, g, "affected rows of {} (prepared {prepared})", q.text());
    }
    let all = Q::new("SELECT * FROM {t} ORDER BY id", vec![], true);
    for prepared in [false, true] {
        let w = run(&mut single, &all, prepared).await.unwrap();
        let g = run(&mut sharded, &all, prepared).await.unwrap();
        assert_eq!(w.1.len(), g.1.len(), "row count after writes");
        assert!(w == g, "tables differ after writes");
    }

    sharded
        .query_drop(format!("DROP TABLE {TABLE}"))
        .await
        .unwrap();
    single
        .query_drop(format!("DROP DATABASE {SINGLE_DB}"))
        .await
        .unwrap();
}
