//! Column names of unaliased select items. MariaDB names such a column by
//! the client's text of the item (`SELECT AVG(k/7)` has a column
//! `AVG(k/7)`), while the proxy sends the shards its own rendering of the
//! statement (`AVG(k / 7)`). Each item whose rendering differs from the
//! client's text gets that text as an explicit alias, so every shard names
//! the column as one server would (merged or not).
//!
//! The client's text is the item's slice of the normalised statement (see
//! [`super::lexer::scan`]): whitespace runs are one space there and comments
//! are gone; a literal the normaliser took out is put back at bind time
//! (its text as written; `?` for a prepared statement's parameter).

use sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr};

use super::lexer::{is_word_byte, planning_mode, quoted_end, NamePart, Template, NAME_MARK};

/// Select-list modifiers that may precede the first item.
const MODIFIERS: &[&str] = &[
    "ALL",
    "DISTINCT",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_CACHE",
    "SQL_NO_CACHE",
    "SQL_CALC_FOUND_ROWS",
];

/// Words that end the select list at parenthesis depth 0.
const LIST_END: &[&str] = &[
    "FROM",
    "INTO",
    "WHERE",
    "GROUP",
    "HAVING",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "FOR",
    "LOCK",
    "PROCEDURE",
];

/// Per item of the top-level select list: the alias that keeps the
/// client's name, when the rendering would change it.
pub(crate) type ItemNames = Vec<Option<Vec<NamePart>>>;

/// The names `q` (parsed from the normalised `text`) needs; empty when the
/// statement is not a plain `SELECT` list this can split.
pub(crate) fn item_names(q: &Query, text: &str) -> ItemNames {
    let Some(items) = first_select_items(q) else {
        return Vec::new();
    };
    let Some(slices) = select_list(text) else {
        return Vec::new();
    };
    if slices.len() != items.len() {
        return Vec::new();
    }
    items
        .iter()
        .zip(slices)
        .map(|(item, slice)| match item {
            SelectItem::UnnamedExpr(e)
                if !named_by_itself(e) && usable_alias(slice) && e.to_string() != slice =>
            {
                Some(parts(slice))
            }
            _ => None,
        })
        .collect()
}

/// The statement's SQL with the aliases of `names` (see [`item_names`]).
pub(crate) fn render(q: &Query, names: &ItemNames) -> Template {
    if names.iter().all(Option::is_none) {
        return Template::from_rendered(&q.to_string());
    }
    let mut q = q.clone();
    if let Some(items) = first_select_items_mut(&mut q) {
        for (i, item) in items.iter_mut().enumerate() {
            if let (Some(Some(_)), SelectItem::UnnamedExpr(e)) = (names.get(i), &*item) {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new(format!("{NAME_MARK}{i}")),
                };
            }
        }
    }
    Template::from_rendered_with_names(&q.to_string(), names)
}

/// Whether `text` can be an alias: MariaDB refuses a NUL in an identifier
/// and one longer than 256 characters (the shard's own name is kept then).
fn usable_alias(text: &str) -> bool {
    !text.contains('\0') && text.chars().count() <= 256
}

/// Columns MariaDB names by their own name or value, as the rendering does
/// (a string literal, introduced or not, is named by its value).
fn named_by_itself(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Value(_)
        | Expr::Prefixed { .. } => true,
        Expr::Nested(x) => matches!(**x, Expr::Identifier(_) | Expr::CompoundIdentifier(_)),
        _ => false,
    }
}

fn first_select_items(q: &Query) -> Option<&Vec<SelectItem>> {
    if q.with.is_some() {
        return None;
    }
    let mut body = q.body.as_ref();
    loop {
        match body {
            SetExpr::Select(s) => return Some(&s.projection),
            SetExpr::SetOperation { left, .. } => body = left,
            _ => return None,
        }
    }
}

fn first_select_items_mut(q: &mut Query) -> Option<&mut Vec<SelectItem>> {
    let mut body = q.body.as_mut();
    loop {
        match body {
            SetExpr::Select(s) => return Some(&mut s.projection),
            SetExpr::SetOperation { left, .. } => body = left,
            _ => return None,
        }
    }
}

/// A slice of normalised text with `?N` placeholders as parameter parts.
fn parts(slice: &str) -> Vec<NamePart> {
    let b = slice.as_bytes();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                let end = quoted_end(b, i, q, planning_mode());
                text.push_str(&slice[i..end]);
                i = end;
            }
            b'?' => {
                let mut end = i + 1;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                match slice[i + 1..end].parse::<usize>() {
                    Ok(n) if n > 0 => {
                        if !text.is_empty() {
                            out.push(NamePart::Text(std::mem::take(&mut text)));
                        }
                        out.push(NamePart::Param(n - 1));
                    }
                    _ => text.push_str(&slice[i..end]),
                }
                i = end;
            }
            _ => {
                let len = slice[i..].chars().next().map_or(1, char::len_utf8);
                text.push_str(&slice[i..i + len]);
                i += len;
            }
        }
    }
    if !text.is_empty() {
        out.push(NamePart::Text(text));
    }
    out
}

/// The items of a normalised `SELECT [modifiers] item, item ... FROM ...`
/// as written (trimmed), or None when it does not start that way.
fn select_list(text: &str) -> Option<Vec<&str>> {
    let word_at =
        |s: &str| -> usize { s.bytes().position(|b| !is_word_byte(b)).unwrap_or(s.len()) };
    let t = text.trim_start();
    let w = word_at(t);
    if !t[..w].eq_ignore_ascii_case("SELECT") {
        return None;
    }
    let mut rest = t[w..].trim_start();
    loop {
        if rest.starts_with("/*") {
            // an optimizer hint or a versioned comment
            let end = rest.find("*/")? + 2;
            rest = rest[end..].trim_start();
            continue;
        }
        let w = word_at(rest);
        if w > 0 && MODIFIERS.iter().any(|m| m.eq_ignore_ascii_case(&rest[..w])) {
            rest = rest[w..].trim_start();
            continue;
        }
        break;
    }
    let b = rest.as_bytes();
    let mut items = Vec::new();
    let (mut start, mut depth, mut i) = (0, 0usize, 0);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i = quoted_end(b, i, q, planning_mode());
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                items.push(rest[start..i].trim());
                start = i + 1;
            }
            b';' if depth == 0 => break,
            b'/' if b.get(i + 1) == Some(&b'*') => return None,
            c if is_word_byte(c) || c == b'@' => {
                let end = i + word_at(&rest[i..]).max(1);
                if depth == 0
                    && LIST_END
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&rest[i..end]))
                {
                    items.push(rest[start..i].trim());
                    return Some(items);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    items.push(rest[start..b.len().min(i)].trim());
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_select_list() {
        assert_eq!(
            select_list("SELECT AVG(k/?1), CONCAT(s, ','), x AS `a,b` FROM t WHERE k = ?2"),
            Some(vec!["AVG(k/?1)", "CONCAT(s, ',')", "x AS `a,b`"])
        );
        assert_eq!(
            select_list("select distinct SQL_NO_CACHE k+?1 , EXTRACT(YEAR FROM d)"),
            Some(vec!["k+?1", "EXTRACT(YEAR FROM d)"])
        );
        assert_eq!(
            select_list(
                "SELECT /*+ MAX_EXECUTION_TIME(1) */ k%?1 a, (SELECT MAX(k) FROM u) FROM t"
            ),
            Some(vec!["k%?1 a", "(SELECT MAX(k) FROM u)"])
        );
        assert_eq!(select_list("UPDATE t SET k = 1"), None);
        assert_eq!(select_list("SELECT k /*! , 1 */ FROM t"), None);
    }

    #[test]
    fn placeholders_become_parts() {
        assert_eq!(
            parts("AVG(k/?1) + '?2' + ?12"),
            vec![
                NamePart::Text("AVG(k/".into()),
                NamePart::Param(0),
                NamePart::Text(") + '?2' + ".into()),
                NamePart::Param(11),
            ]
        );
    }
}
