//! Text-level rewrites done before planning: MySQL's executable comments,
//! the column list of an INSERT that names none (what `mysqldump` writes:
//! `INSERT INTO t VALUES (...)`), and string literals that are not UTF-8
//! (a dump's VARBINARY values) as hex literals.

use std::borrow::Cow;

/// Walks `sql` outside strings, quoted names and comments: calls `at(i)` at
/// each byte offset of plain text and `comment(start, end)` for each
/// `/* */` comment; `at` returning true stops the walk.
fn walk(sql: &str, mut at: impl FnMut(usize) -> bool, mut comment: impl FnMut(usize, usize)) {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            comment(i, end);
            i = end;
            continue;
        }
        if c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')) {
            i = sql[i..].find('\n').map_or(b.len(), |p| i + p);
            continue;
        }
        if at(i) {
            return;
        }
        i += 1;
    }
}

/// `/*!NNNNN text */` and MariaDB's `/*M!NNNNNN text */` become ` text `
/// when the server's version number (`10.11.19` = 101119) is at least
/// NNNNN (a bare `/*! text */` always), and go away otherwise, as the
/// server itself would read them. Statements without one are returned as
/// they are.
pub fn expand_executable_comments(sql: &str, version: u32) -> Cow<'_, str> {
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return Cow::Borrowed(sql);
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    walk(sql, |_| false, |s, e| spans.push((s, e)));
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (start, end) in spans {
        let body = &sql[start + 2..end.saturating_sub(2).max(start + 2)];
        let body = match body.strip_prefix('!').or_else(|| body.strip_prefix("M!")) {
            Some(b) => b,
            None => continue,
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let run = digits == 0 || body[..digits].parse::<u32>().is_ok_and(|n| n <= version);
        out.push_str(&sql[copied..start]);
        out.push(' ');
        if run {
            out.push_str(&body[digits..]);
            out.push(' ');
        }
        copied = end;
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// `INSERT [INTO] t VALUES ...` with `(c1, c2, ...)` put before VALUES.
pub fn with_column_list(sql: &str, columns: &[String]) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let b = lower.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    let mut found = None;
    walk(
        sql,
        |i| {
            let starts = i == 0 || !word(b[i - 1]);
            for kw in ["values", "value"] {
                let end = i + kw.len();
                if starts && lower[i..].starts_with(kw) && b.get(end).is_none_or(|c| !word(*c)) {
                    found = Some(i);
                    return true;
                }
            }
            false
        },
        |_, _| {},
    );
    let at = found?;
    let list: Vec<String> = columns.iter().map(|c| super::quote_ident(c)).collect();
    Some(format!(
        "{}({}) {}",
        &sql[..at],
        list.join(", "),
        &sql[at..]
    ))
}

/// A COM_QUERY that is not valid UTF-8 because string literals hold raw
/// bytes (`mysqldump` writes VARBINARY values so): each such literal becomes
/// the hex literal of its value (`'\0<0xff>'` -> `X'00FF'`), the same bytes
/// to the server. None when the text outside literals is not UTF-8 either.
pub fn binary_literals_as_hex(sql: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(sql.len() * 2);
    let mut i = 0;
    let mut plain = 0;
    while i < sql.len() {
        let q = sql[i];
        if q != b'\'' && q != b'"' {
            i += 1;
            continue;
        }
        // A literal from i to its closing quote; `value` is what it means.
        let mut j = i + 1;
        let mut value = Vec::new();
        while j < sql.len() {
            let c = sql[j];
            if c == b'\\' && j + 1 < sql.len() {
                let e = sql[j + 1];
                match e {
                    b'0' => value.push(0),
                    b'b' => value.push(8),
                    b'n' => value.push(b'\n'),
                    b'r' => value.push(b'\r'),
                    b't' => value.push(b'\t'),
                    b'Z' => value.push(26),
                    b'%' | b'_' => value.extend_from_slice(&[b'\\', e]),
                    other => value.push(other),
                }
                j += 2;
                continue;
            }
            if c == q {
                if sql.get(j + 1) == Some(&q) {
                    value.push(q);
                    j += 2;
                    continue;
                }
                break;
            }
            value.push(c);
            j += 1;
        }
        let end = (j + 1).min(sql.len());
        if std::str::from_utf8(&sql[i..end]).is_err() {
            out.push_str(std::str::from_utf8(&sql[plain..i]).ok()?);
            out.push_str("X'");
            for b in &value {
                out.push_str(&format!("{b:02X}"));
            }
            out.push('\'');
            plain = end;
        }
        i = end;
    }
    out.push_str(std::str::from_utf8(&sql[plain..]).ok()?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_comments_as_the_server_reads_them() {
        let x = |sql: &str| {
            expand_executable_comments(sql, 101119)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(x("/*!40101 SET NAMES utf8mb4 */"), "SET NAMES utf8mb4");
        assert_eq!(
            x("SELECT /*!40001 SQL_NO_CACHE */ * FROM `t`"),
            "SELECT SQL_NO_CACHE * FROM `t`"
        );
        assert_eq!(
            x("/*M!999999\\- enable the sandbox mode */ SELECT 1"),
            "SELECT 1"
        );
        assert_eq!(
            x("SELECT 1 /*!200000 + 2 */ /*M!100100 + 3 */"),
            "SELECT 1 + 3"
        );
        assert_eq!(
            expand_executable_comments("SELECT '/*!40001 x */' /* plain */", 101119),
            "SELECT '/*!40001 x */' /* plain */"
        );
        assert_eq!(x("SELECT 1 /*! + 1 */"), "SELECT 1 + 1");
    }

    #[test]
    fn raw_bytes_in_literals_become_hex() {
        let sql = b"INSERT INTO `s` VALUES ('bin','\\0\xff\\n\\r\\\\\\''''),('t','ok')";
        assert_eq!(
            binary_literals_as_hex(sql).unwrap(),
            "INSERT INTO `s` VALUES ('bin',X'00FF0A0D5C2727'),('t','ok')"
        );
        assert_eq!(binary_literals_as_hex(b"SELECT \xff"), None);
    }

    #[test]
    fn column_list_before_values() {
        let cols = vec!["id".to_string(), "k".to_string()];
        assert_eq!(
            with_column_list("INSERT INTO `values` VALUES (1,'values'),(2,'b')", &cols).unwrap(),
            "INSERT INTO `values` (`id`, `k`) VALUES (1,'values'),(2,'b')"
        );
        assert_eq!(
            with_column_list("insert ignore t value (1, 2)", &cols).unwrap(),
            "insert ignore t (`id`, `k`) value (1, 2)"
        );
        assert_eq!(with_column_list("INSERT INTO t SELECT 1", &cols), None);
    }
}
