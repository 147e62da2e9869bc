//! The facts a plan carries to the executor ([`StmtFlags`]), read from the
//! statement's syntax tree and tokens: a comment or a string literal that
//! spells a locking clause, a hint or a session function is not one (the
//! executor's former text matching took each of these cases for the real
//! thing).

use std::sync::Arc;

use mysql_common::value::Value;

use super::*;
use crate::rules::Rules;

fn router() -> Router {
    let rules = Rules::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/rules.toml")).unwrap();
    Router::new(Arc::new(rules))
}

fn text(sql: &str) -> StmtFlags {
    let (_, flags) = router()
        .plan_text_flagged("sbtest", sql, &NoSegments, SqlMode::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    flags
}

fn prepared(sql: &str) -> StmtFlags {
    router()
        .prepare("sbtest", sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .flags()
}

#[test]
fn locking_reads_are_read_from_the_locking_clause() {
    for sql in [
        "SELECT c FROM sbtest1 WHERE id = 1 FOR UPDATE",
        "select c from sbtest1 where id = 1 for share",
        "select c from sbtest1 where id = 1 lock in share mode",
        "SELECT c FROM sbtest1 WHERE id = 1\n  LOCK\tIN  SHARE MODE",
        "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 9 FOR UPDATE",
    ] {
        assert!(text(sql).locking_read, "{sql}");
    }
    assert!(prepared("SELECT c FROM sbtest1 WHERE id = ? FOR UPDATE").locking_read);
    for sql in [
        "SELECT c FROM sbtest1 WHERE id = 1",
        "SELECT c FROM sbtest1 WHERE id = 1 /* FOR UPDATE */",
        "SELECT c FROM sbtest1 WHERE id = 1 -- for update",
        "SELECT c FROM sbtest1 WHERE c = 'x FOR UPDATE' AND id = 1",
        "SELECT c FROM sbtest1 WHERE c = 'lock in share mode' AND id = 1",
        "SELECT `for update` FROM sbtest1 WHERE id = 1",
    ] {
        assert!(!text(sql).locking_read, "{sql}");
    }
    // a write is no read at all, whatever it says
    assert!(!text("UPDATE sbtest1 SET c = 'FOR UPDATE' WHERE id = 1").locking_read);
}

#[test]
fn max_execution_time_is_read_from_the_optimizer_hint() {
    let ms = |sql: &str| text(sql).max_execution_ms;
    assert_eq!(
        ms("SELECT /*+ MAX_EXECUTION_TIME(300) */ c FROM sbtest1 WHERE id = 1"),
        Some(300)
    );
    assert_eq!(
        ms("select /*+ BKA(sbtest1) max_execution_time ( 50 ) */ c from sbtest1 where id = 1"),
        Some(50)
    );
    assert_eq!(
        prepared("SELECT /*+ MAX_EXECUTION_TIME(70) */ c FROM sbtest1 WHERE id = ?")
            .max_execution_time(),
        Some(std::time::Duration::from_millis(70))
    );
    assert_eq!(ms("SELECT /*+ MAX_EXECUTION_TIME(0) */ 1"), None);
    assert_eq!(ms("SELECT /*+ MAX_EXECUTION_TIME(x) */ 1"), None);
    // a plain comment is no hint, nor is text in a string or a later comment
    assert_eq!(ms("SELECT /* MAX_EXECUTION_TIME(10) */ 1"), None);
    assert_eq!(
        ms("SELECT c FROM sbtest1 WHERE c = '/*+ MAX_EXECUTION_TIME(5) */' AND id = 1"),
        None
    );
    assert_eq!(ms("SELECT c FROM sbtest1 WHERE id = 1"), None);
}

#[test]
fn calc_found_rows_is_a_select_modifier() {
    assert!(text("SELECT SQL_CALC_FOUND_ROWS c FROM sbtest1 WHERE id < 9 LIMIT 2").calc_found_rows);
    assert!(prepared("select sql_calc_found_rows c from sbtest1 limit ?").calc_found_rows);
    assert!(!text("SELECT c FROM sbtest1 WHERE c = 'SQL_CALC_FOUND_ROWS' LIMIT 2").calc_found_rows);
    assert!(!text("SELECT c FROM sbtest1 /* SQL_CALC_FOUND_ROWS */ LIMIT 2").calc_found_rows);
}

#[test]
fn session_values_are_found_in_any_case_and_spacing() {
    for sql in [
        "select last_insert_id()",
        "SELECT LAST_INSERT_ID ( )",
        "SeLeCt Last_Insert_Id(\n)",
        "SELECT c FROM sbtest1 WHERE id = last_insert_id()",
        "SELECT DATABASE()",
        "select schema ()",
        "SELECT CURRENT_USER",
        "SELECT c FROM sbtest1 WHERE id = @id",
        "SELECT @@autocommit",
        "SELECT c FROM sbtest1 WHERE k = found_rows() AND id = 1",
    ] {
        assert!(text(sql).session_values, "{sql}");
    }
    assert!(prepared("SELECT c FROM sbtest1 WHERE id = ? AND k = @k").session_values);
    for sql in [
        "SELECT 'last_insert_id()'",
        "SELECT c FROM sbtest1 WHERE c = 'a@b' AND id = 1",
        "SELECT c FROM sbtest1 WHERE id = 1 /* DATABASE() */",
        "SELECT c FROM sbtest1 WHERE id = 1 -- @x",
        "SELECT `database()` FROM sbtest1 WHERE id = 1",
        "SELECT c FROM sbtest1 WHERE id = 1",
    ] {
        assert!(!text(sql).session_values, "{sql}");
    }
}

#[test]
fn flags_come_with_the_cached_plan() {
    let r = router();
    let flags = |sql: &str| {
        r.plan_text_flagged("sbtest", sql, &NoSegments, SqlMode::default())
            .unwrap()
            .1
    };
    let first = flags("SELECT c FROM sbtest1 WHERE id = 1 FOR UPDATE");
    let cached = flags("SELECT c FROM sbtest1 WHERE id = 2 FOR UPDATE");
    assert!(first.locking_read && cached.locking_read);
    assert!(r.cached_plans() >= 1);
    // binding a prepared plan does not change what it is
    let ps = r
        .prepare("sbtest", "SELECT c FROM sbtest1 WHERE id = ? FOR UPDATE")
        .unwrap();
    ps.bind(&[Value::Int(3)], &NoSegments).unwrap();
    assert!(ps.flags().locking_read);
}
