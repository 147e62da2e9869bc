//! Generated literals through the proxy, compared byte for byte with a plain
//! MariaDB database holding the same table (`haoka_escapes_single.sbtest20`,
//! straight on 3306; through the proxy `sbtest.sbtest20`, sharded over the 8
//! sbtest shards). Random strings with every byte MySQL escapes are written
//! in every literal form (backslash escapes, doubled quotes, double quotes,
//! `_utf8mb4'..'`, `N'..'`, `X'..'`, `0x..`), through statements the proxy
//! must re-render (a type length such as `DECIMAL(10,2)`, every prepared
//! statement, multi-shard writes), over the text and the binary protocol,
//! and under the sql_modes NO_BACKSLASH_ESCAPES and ANSI_QUOTES. Texts of
//! several statements put `;` inside those literals, comments and quoted
//! names: each must be cut where MariaDB cuts it.

mod e2e_common;

use e2e_common::own_tables::sbtest_rules_with;
use e2e_common::*;
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

const SINGLE_DB: &str = "haoka_escapes_single";
const DDL: &str = "CREATE TABLE sbtest20 (
    id BIGINT NOT NULL PRIMARY KEY,
    k INT NOT NULL DEFAULT 0,
    c VARBINARY(600) NOT NULL DEFAULT '',
    pad VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL DEFAULT ''
)";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Default,
    NoBackslash,
    AnsiQuotes,
}

/// One piece of a string literal: how it is written, what it means.
fn tokens(mode: Mode, quote: char) -> Vec<(String, String)> {
    let t = |w: &str, v: &str| (w.to_string(), v.to_string());
    let mut v = vec![
        t("a", "a"),
        t("Z", "Z"),
        t(" ", " "),
        t("é", "é"),
        t("中", "中"),
        t("😀", "😀"),
        t("%", "%"),
        t("_", "_"),
        t("?", "?"),
        t("`", "`"),
        t(";", ";"),
        t("\n", "\n"),
        t("\t", "\t"),
        t("\u{1a}", "\u{1a}"),
        t("\0", "\0"),
    ];
    let q = quote.to_string();
    let other = if quote == '\'' { "\"" } else { "'" };
    v.push((format!("{q}{q}"), q.clone()));
    v.push(t(other, other));
    if mode == Mode::NoBackslash {
        v.push(t("\\", "\\"));
        v.push(t("\\n", "\\n"));
        v.push(t("\\0", "\\0"));
    } else {
        for (w, val) in [
            ("\\0", "\0"),
            ("\\'", "'"),
            ("\\\"", "\""),
            ("\\b", "\u{8}"),
            ("\\n", "\n"),
            ("\\r", "\r"),
            ("\\t", "\t"),
            ("\\Z", "\u{1a}"),
            ("\\\\", "\\"),
            ("\\%", "\\%"),
            ("\\_", "\\_"),
            ("\\x", "x"),
        ] {
            v.push(t(w, val));
        }
    }
    v
}

/// A literal for the session's mode and the bytes it stands for.
fn literal(rng: &mut Rng, mode: Mode) -> (String, Vec<u8>) {
    let form = rng.range(0, 9);
    // hex forms: any bytes
    if form == 8 || form == 9 {
        let len = rng.range(1, 12) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.range(0, 255) as u8).collect();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        return if form == 8 {
            (format!("X'{hex}'"), bytes)
        } else {
            (format!("0x{hex}"), bytes)
        };
    }
    let quote = if form == 3 && mode != Mode::AnsiQuotes {
        '"'
    } else {
        '\''
    };
    let toks = tokens(mode, quote);
    let mut text = String::new();
    let mut value = String::new();
    for _ in 0..rng.range(0, 14) {
        let (w, v) = rng.pick(&toks);
        text.push_str(w);
        value.push_str(v);
    }
    let prefix = match form {
        4 => "_utf8mb4",
        5 => "N",
        _ => "",
    };
    (format!("{prefix}{quote}{text}{quote}"), value.into_bytes())
}

/// Runs the same statement on both sides; both must agree on success.
async fn both(proxy: &mut Conn, single: &mut Conn, sql: &str, params: Option<Vec<Value>>) {
    let (a, b) = match &params {
        None => (
            proxy.query_drop(sql).await.map_err(|e| e.to_string()),
            single.query_drop(sql).await.map_err(|e| e.to_string()),
        ),
        Some(p) => (
            proxy
                .exec_drop(sql, p.clone())
                .await
                .map_err(|e| e.to_string()),
            single
                .exec_drop(sql, p.clone())
                .await
                .map_err(|e| e.to_string()),
        ),
    };
    assert!(
        a.is_ok() && b.is_ok(),
        "{sql} {params:?}\n proxy: {a:?}\n MariaDB: {b:?}"
    );
}

/// Every result set of a (multi-statement) text: column names and rows.
type ResultSets = Vec<(Vec<String>, Vec<Vec<Value>>)>;

async fn result_sets(c: &mut Conn, sql: &str) -> Result<ResultSets, String> {
    let mut r = c.query_iter(sql).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while !r.is_empty() {
        let names = r
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let rows: Vec<mysql_async::Row> = r.collect().await.map_err(|e| e.to_string())?;
        out.push((
            names,
            rows.into_iter().map(mysql_async::Row::unwrap).collect(),
        ));
    }
    Ok(out)
}

/// A text of two to four statements with `;` in the literal `lit`, in
/// comments (`#`, `-- `, `/* */`) and in a quoted alias around and between
/// them; `5--1` is no comment (MariaDB needs a space after `--`).
fn multi_statement(rng: &mut Rng, mode: Mode, lit: &str, id_c: &str, id: i64) -> String {
    let alias = if mode == Mode::AnsiQuotes {
        "\"x;y\"\"z\""
    } else {
        "`x;y``z`"
    };
    let noise = ["", " ", "# a;'b\n", "-- c;\"d\n", "/* e;'f\" */", "\n\t"];
    let statements = [
        format!("SELECT {lit} AS {alias}"),
        format!("SELECT 5--1, {id_c} FROM sbtest20 WHERE {id_c} = {id}"),
        format!("SELECT CONCAT({lit}, ';') AS c"),
        format!("SELECT LENGTH({lit}) /* ; */ + 1 AS n"),
    ];
    let mut text = String::new();
    for i in 0..rng.range(2, 4) as usize {
        if i > 0 {
            text.push(';');
        }
        let (before, statement, after) =
            (*rng.pick(&noise), rng.pick(&statements), *rng.pick(&noise));
        text.push_str(before);
        text.push_str(statement);
        text.push_str(after);
    }
    if rng.range(0, 1) == 1 {
        text.push(';');
    }
    text
}

type Rows = Vec<(i64, i64, Vec<u8>)>;

async fn rows(c: &mut Conn) -> Rows {
    c.query_map("SELECT id, k, c FROM sbtest20 ORDER BY id", |(id, k, c)| {
        (id, k, c)
    })
    .await
    .expect("read sbtest20")
}

async fn set_mode(c: &mut Conn, mode: Mode) {
    let sql = match mode {
        Mode::Default => return,
        Mode::NoBackslash => "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
        Mode::AnsiQuotes => "SET SESSION sql_mode = 'ANSI_QUOTES'",
    };
    c.query_drop(sql).await.expect(sql);
}

/// `n` generated cases under `mode`; returns how many statements ran.
async fn run_cases(
    proxy: &mut Conn,
    single: &mut Conn,
    rng: &mut Rng,
    mode: Mode,
    first_id: i64,
    n: usize,
) -> usize {
    let col = |name: &str| {
        if mode == Mode::AnsiQuotes {
            format!("\"{name}\"")
        } else {
            name.to_string()
        }
    };
    let (id_c, k_c, c_c, pad_c) = (col("id"), col("k"), col("c"), col("pad"));
    let mut statements = 0;
    for i in 0..n {
        // ids over every shard (blocks of 1000)
        let id = first_id + (i as i64) * 997;
        let (lit, value) = literal(rng, mode);
        let (lit2, _) = literal(rng, mode);
        let shape = rng.range(0, 7);
        let stmts: Vec<(String, Option<Vec<Value>>)> = match shape {
            // a type length makes the proxy render the statement as parsed
            0 => vec![(
                format!("INSERT INTO sbtest20 ({id_c}, {k_c}, {c_c}, {pad_c}) VALUES ({id}, CAST('7' AS DECIMAL(10,2)), {lit}, 'x')"),
                None,
            )],
            1 => vec![(
                format!("INSERT INTO sbtest20 ({id_c}, {c_c}) VALUES ({id}, {lit})"),
                None,
            )],
            2 => vec![
                (format!("INSERT INTO sbtest20 ({id_c}) VALUES ({id})"), None),
                (
                    format!("UPDATE sbtest20 SET {c_c} = {lit}, {k_c} = CAST(3 AS DECIMAL(5,1)) WHERE {id_c} = {id}"),
                    None,
                ),
            ],
            // every prepared statement is rendered from its parse
            3 => vec![(
                format!("INSERT INTO sbtest20 ({id_c}, {k_c}, {c_c}) VALUES (?, ?, {lit})"),
                Some(vec![Value::Int(id), Value::Int(i as i64)]),
            )],
            4 => vec![
                (
                    format!("INSERT INTO sbtest20 ({id_c}, {c_c}) VALUES (?, ?)"),
                    Some(vec![Value::Int(id), Value::Bytes(value.clone())]),
                ),
                (
                    format!("UPDATE sbtest20 SET {c_c} = CONCAT({c_c}, {lit2}) WHERE {id_c} = ?"),
                    Some(vec![Value::Int(id)]),
                ),
            ],
            // a write on every shard
            5 => vec![
                (
                    format!("INSERT INTO sbtest20 ({id_c}, {k_c}) VALUES ({id}, {})", 100_000 + i),
                    None,
                ),
                (
                    format!(
                        "UPDATE sbtest20 SET {c_c} = {lit}, {pad_c} = CAST(LENGTH({lit2}) AS CHAR(10)) WHERE {k_c} = {}",
                        100_000 + i
                    ),
                    None,
                ),
            ],
            _ => vec![
                (
                    format!("INSERT INTO sbtest20 ({id_c}, {k_c}) VALUES (?, ?)"),
                    Some(vec![Value::Int(id), Value::Int(200_000 + i as i64)]),
                ),
                (
                    format!("UPDATE sbtest20 SET {c_c} = {lit} WHERE {k_c} = ?"),
                    Some(vec![Value::Int(200_000 + i as i64)]),
                ),
            ],
        };
        for (sql, params) in &stmts {
            both(proxy, single, sql, params.clone()).await;
            statements += 1;
        }
        // the value the generator meant (checks the generator itself)
        if (0..=3).contains(&shape) {
            let sql = format!("SELECT {c_c} FROM sbtest20 WHERE {id_c} = {id}");
            let got: Option<Vec<u8>> = single.query_first(&sql).await.expect("read back");
            assert_eq!(got.as_deref(), Some(&value[..]), "{lit} under {mode:?}");
        }
        // a read the proxy renders (type length), text and binary
        let sql = format!("SELECT {lit}, CAST(1 AS CHAR(20))");
        let a: Option<(Vec<u8>, String)> = proxy.query_first(&sql).await.expect(&sql);
        let b: Option<(Vec<u8>, String)> = single.query_first(&sql).await.expect(&sql);
        assert_eq!(a, b, "{sql}");
        let sql = format!("SELECT {lit}, ? FROM sbtest20 WHERE {id_c} = ?");
        let p = vec![Value::Int(1), Value::Int(id)];
        let a: Option<(Vec<u8>, i64)> = proxy.exec_first(&sql, p.clone()).await.expect(&sql);
        let b: Option<(Vec<u8>, i64)> = single.exec_first(&sql, p).await.expect(&sql);
        assert_eq!(a, b, "{sql}");
        statements += 2;
        // the same literal in a text of several statements
        let sql = multi_statement(rng, mode, &lit, &id_c, id);
        let a = result_sets(proxy, &sql).await;
        let b = result_sets(single, &sql).await;
        assert!(b.is_ok(), "{sql:?} on MariaDB: {b:?}");
        assert_eq!(a, b, "{sql:?}");
        statements += 1;
    }
    statements
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_literals_round_trip_byte_for_byte() {
    let proxy = ProxyProc::start_with_rules(Some(&sbtest_rules_with(&["sbtest20"])), "");
    let mut root = direct(None).await;
    root.query_drop(format!("DROP DATABASE IF EXISTS {SINGLE_DB}"))
        .await
        .unwrap();
    root.query_drop(format!("CREATE DATABASE {SINGLE_DB}"))
        .await
        .unwrap();
    let mut p = proxy.conn("sbtest").await;
    p.query_drop("DROP TABLE IF EXISTS sbtest20").await.unwrap();
    p.query_drop(DDL).await.unwrap();
    let mut s = direct(Some(SINGLE_DB)).await;
    s.query_drop(DDL).await.unwrap();

    let mut rng = Rng::new(0x4553_4341_5045);
    let mut total = run_cases(&mut p, &mut s, &mut rng, Mode::Default, 1, 300).await;
    for (mode, first_id, n) in [
        (Mode::NoBackslash, 500_000, 120),
        (Mode::AnsiQuotes, 900_000, 60),
    ] {
        let mut p = proxy.conn("sbtest").await;
        let mut s = direct(Some(SINGLE_DB)).await;
        set_mode(&mut p, mode).await;
        set_mode(&mut s, mode).await;
        total += run_cases(&mut p, &mut s, &mut rng, mode, first_id, n).await;
    }
    let (a, b) = (rows(&mut p).await, rows(&mut s).await);
    assert_eq!(a.len(), b.len(), "row counts");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "row {} differs (proxy vs MariaDB)", y.0);
    }
    assert!(total > 1000, "ran {total} statements");
    p.query_drop("DROP TABLE sbtest20").await.unwrap();
    root.query_drop(format!("DROP DATABASE {SINGLE_DB}"))
        .await
        .unwrap();
}
