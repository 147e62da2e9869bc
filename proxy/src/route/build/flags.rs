//! The facts a SELECT carries to the executor ([`StmtFlags`]), read from
//! its syntax tree: locking clause, optimizer hints, modifiers.

use super::*;

/// The flags of a query (session values come from the scanner, see
/// [`build`]).
pub(super) fn query_flags(q: &Query) -> StmtFlags {
    let select = first_select(q);
    StmtFlags {
        locking_read: !q.locks.is_empty(),
        max_execution_ms: select.and_then(|s| {
            s.optimizer_hints
                .iter()
                .filter(|h| h.prefix.is_empty())
                .find_map(|h| max_execution_ms(&h.text))
        }),
        calc_found_rows: select
            .and_then(|s| s.select_modifiers.as_ref())
            .is_some_and(|m| m.sql_calc_found_rows),
        session_values: false,
    }
}

/// The SELECT whose hints and modifiers MySQL reads: the first one of the
/// query (of a UNION, the first part).
fn first_select(q: &Query) -> Option<&Select> {
    let mut body = q.body.as_ref();
    loop {
        match body {
            SetExpr::Select(s) => return Some(s),
            SetExpr::Query(q) => body = q.body.as_ref(),
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            _ => return None,
        }
    }
}

/// `MAX_EXECUTION_TIME(ms)` in the text of one `/*+ ... */` hint (0: no
/// limit, as in MySQL).
fn max_execution_ms(hint: &str) -> Option<u64> {
    const NAME: &str = "MAX_EXECUTION_TIME";
    let upper = hint.to_ascii_uppercase();
    let at = upper.find(NAME)? + NAME.len();
    let args = upper[at..].trim_start().strip_prefix('(')?;
    let ms: u64 = args[..args.find(')')?].trim().parse().ok()?;
    (ms > 0).then_some(ms)
}
