//! Literals come back out of the router exactly as the client wrote them,
//! whichever path re-renders the statement (text with a type length, a
//! prepared statement, DDL), under the session's sql_mode; and locking
//! clauses reach MariaDB in its own spelling.

use std::sync::Arc;

use mysql_common::value::Value;

use super::*;
use crate::rules::Rules;

fn router() -> Router {
    Router::new(Arc::new(
        Rules::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/rules.toml")).unwrap(),
    ))
}

const NB: SqlMode = SqlMode {
    no_backslash_escapes: true,
    ansi_quotes: false,
};
const ANSI: SqlMode = SqlMode {
    no_backslash_escapes: false,
    ansi_quotes: true,
};

fn sqls(r: Result<Routed, RouteError>) -> Vec<String> {
    match r {
        Ok(Routed::Shards(p)) => p.targets.into_iter().map(|t| t.sql).collect(),
        Ok(Routed::NoTable { sql }) => vec![sql],
        other => panic!("expected shards, got {other:?}"),
    }
}

fn text_in(sql: &str, mode: SqlMode) -> Vec<String> {
    sqls(router().plan_text_in("sbtest", sql, &NoSegments, mode))
}

fn prepared_in(sql: &str, params: &[Value], mode: SqlMode) -> Vec<String> {
    let p = router().prepare_in("sbtest", sql, mode).unwrap();
    sqls(p.bind(params, &NoSegments))
}

/// Every MySQL literal form, as written: what the rendered statement must
/// carry (an introducer may come back followed by a space, which MySQL
/// reads the same).
fn rendered(lit: &str) -> String {
    if let Some(hex) = lit.strip_prefix("0x") {
        let pad = if hex.len() % 2 == 1 { "0" } else { "" };
        return format!("x'{pad}{}'", hex.to_ascii_lowercase());
    }
    for intro in ["_utf8mb4", "_binary"] {
        if let Some(rest) = lit.strip_prefix(intro) {
            return format!("{intro} {rest}").to_ascii_lowercase();
        }
    }
    lit.to_ascii_lowercase()
}

const LITERALS: &[&str] = &[
    r"'C:\\new\\table'",
    r#"'\0\'\"\b\n\r\t\Z\\\%\_'"#,
    r"'it''s'",
    r#""dq\"x""""#,
    r"_utf8mb4'x\\y'",
    r"_binary'\0\\'",
    r"N'n\\x'",
    r"X'4142'",
    r"0x4142",
    r"0x141",
    r"b'0101'",
];

#[test]
fn text_statements_with_type_lengths_keep_literals() {
    let sql = r"INSERT INTO sbtest16 (id,k,c,pad) VALUES (70100002, CAST('7' AS DECIMAL(10,2)), 'C:\\new\\table','x')";
    let out = text_in(sql, SqlMode::default());
    assert!(out[0].contains(r"'C:\\new\\table'"), "{out:?}");
    let sql = r"UPDATE sbtest16 SET c='a\\b', k=CAST(3 AS DECIMAL(5,1)) WHERE id = 5";
    let out = text_in(sql, SqlMode::default());
    assert!(out[0].contains(r"c = 'a\\b'"), "{out:?}");
    for lit in LITERALS {
        let sql = format!("SELECT {lit}, CAST(c AS CHAR(20)) FROM sbtest1 WHERE id = 1");
        let out = text_in(&sql, SqlMode::default());
        assert!(
            out[0].to_ascii_lowercase().contains(&rendered(lit)),
            "{lit}: {out:?}"
        );
    }
}

#[test]
fn prepared_statements_keep_literals() {
    for lit in LITERALS {
        let sql = format!("INSERT INTO sbtest1 (id, c, pad) VALUES (?, {lit}, CONCAT({lit}, ?))");
        let out = prepared_in(&sql, &[Value::Int(5), Value::from("p")], SqlMode::default());
        let lower = out[0].to_ascii_lowercase();
        assert_eq!(lower.matches(&rendered(lit)).count(), 2, "{lit}: {out:?}");
    }
    // a string bound as a parameter is written for the session's mode
    let sql = "UPDATE sbtest1 SET c = ? WHERE k = 3";
    let out = prepared_in(sql, &[Value::from(r"a\b'c")], SqlMode::default());
    assert!(out[0].contains(r"'a\\b\'c'"), "{out:?}");
    let out = prepared_in(sql, &[Value::from(r"a\b'c")], NB);
    assert!(out[0].contains(r"'a\b''c'"), "{out:?}");
}

#[test]
fn no_backslash_escapes_reads_backslashes_as_characters() {
    // `'C:\'` is a whole string in this mode; the quote after it ends nothing
    let sql = r"SELECT 'C:\', CAST(c AS CHAR(20)) FROM sbtest1 WHERE id = 1 AND pad = 'x'";
    let out = text_in(sql, NB);
    assert!(out[0].contains(r"'C:\'"), "{out:?}");
    assert!(out[0].contains("pad = 'x'"), "{out:?}");
    let out = prepared_in(
        r"SELECT c FROM sbtest1 WHERE id = ? AND c = 'a\'",
        &[Value::Int(1)],
        NB,
    );
    assert!(out[0].ends_with(r"c = 'a\'"), "{out:?}");
    // the same text is another statement in the default mode (one string
    // runs to its end): the plan cache keeps the two apart
    let r = router();
    let sql = r"SELECT 'C:\' FROM sbtest1 WHERE id = 1 AND c = ' '";
    assert!(matches!(
        r.plan_text_in("sbtest", sql, &NoSegments, NB),
        Ok(Routed::Shards(_))
    ));
    assert!(!matches!(
        r.plan_text_in("sbtest", sql, &NoSegments, SqlMode::default()),
        Ok(Routed::Shards(_))
    ));
}

#[test]
fn ansi_quotes_make_double_quotes_identifiers() {
    let out = text_in(r#"SELECT "c" FROM "sbtest1" WHERE "id" = 1"#, ANSI);
    assert_eq!(out.len(), 1, "routed by id: {out:?}");
    assert!(out[0].contains(r#""c""#), "{out:?}");
    let out = text_in(
        r#"SELECT "c" FROM sbtest1 WHERE id = 1"#,
        SqlMode::default(),
    );
    assert!(out[0].contains(r#""c""#), "{out:?}");
}

#[test]
fn shared_locks_are_written_as_mariadb_reads_them() {
    let cases = [
        ("LOCK IN SHARE MODE", "LOCK IN SHARE MODE"),
        ("lock  in share\nmode", "LOCK IN SHARE MODE"),
        ("FOR SHARE", "LOCK IN SHARE MODE"),
        ("FOR UPDATE", "FOR UPDATE"),
        ("FOR UPDATE NOWAIT", "FOR UPDATE NOWAIT"),
        ("FOR UPDATE SKIP LOCKED", "FOR UPDATE SKIP LOCKED"),
        (
            "LOCK IN SHARE MODE SKIP LOCKED",
            "LOCK IN SHARE MODE SKIP LOCKED",
        ),
    ];
    for (clause, physical) in cases {
        let sql = format!("SELECT c FROM sbtest1 WHERE id = 1 {clause}");
        let out = text_in(&sql, SqlMode::default());
        assert!(out[0].ends_with(physical), "{clause}: {out:?}");
        let out = prepared_in(
            &format!("SELECT c FROM sbtest1 WHERE id = ? {clause}"),
            &[Value::Int(1)],
            SqlMode::default(),
        );
        assert!(out[0].ends_with(physical), "{clause}: {out:?}");
        // across shards too
        let out = text_in(
            &format!("SELECT c FROM sbtest1 WHERE k = 1 {clause}"),
            SqlMode::default(),
        );
        assert!(
            out.iter().all(|s| s.ends_with(physical)),
            "{clause}: {out:?}"
        );
    }
}
