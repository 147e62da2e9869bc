//! Values a MySQL server keeps per session, which the proxy answers itself
//! because each statement may run on another backend connection:
//! `CONNECTION_ID()`, `CURRENT_USER()`, `DATABASE()`, `LAST_INSERT_ID()`,
//! `FOUND_ROWS()`, `ROW_COUNT()`, `@@autocommit`, `@@warning_count` and the
//! session's user variables (`@name`). They are put into the statement as
//! literals before it is planned (so a user variable can route it too); a
//! bare select item keeps its name (`SELECT @a` still returns a column `@a`).

use std::collections::HashMap;

use mysql_common::constants::ColumnType;
use mysql_common::value::Value;

use crate::backend::ColumnDef;
use crate::route::{push_quoted_ident, quote_ident, SqlMode};

/// Functions without arguments answered from session state (one list with
/// the planner, which flags the statements that call them).
use crate::route::SESSION_FUNCTIONS as FUNCTIONS;

/// System variables answered from session state (names after `@@`, `@@session.` or `@@local.`).
const VARIABLES: &[&str] = &[
    "autocommit",
    "warning_count",
    "error_count",
    "version",
    "version_comment",
];

/// Of those, the ones that are the same globally (`@@global.version`).
const GLOBAL_VARIABLES: &[&str] = &["version", "version_comment"];

/// The session's values at the start of a statement.
#[derive(Debug, Clone, Default)]
pub struct SessionValues {
    pub connection_id: u32,
    /// `'user'@'host'` parts: the authenticated user and the client's host.
    pub user: String,
    pub host: String,
    pub database: String,
    pub last_insert_id: u64,
    pub found_rows: u64,
    pub row_count: i64,
    pub autocommit: bool,
    pub warning_count: u64,
    pub error_count: u64,
    /// The proxy's server identity (`VERSION()`, `@@version`,
    /// `@@version_comment`), see identity.rs.
    pub version: String,
    pub version_comment: String,
    /// MySQL 8 variable names the backends lack, and the names they know
    /// (`@@transaction_isolation` → `@@tx_isolation` on MariaDB < 11.1).
    pub renamed_variables: &'static [(&'static str, &'static str)],
}

/// User variables by lower-cased name (MySQL's are case-insensitive).
pub type UserVars = HashMap<String, VarValue>;

/// A user variable's value, with the type the backend gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarValue {
    Null,
    /// Integer or decimal, as the backend wrote it.
    Number(String),
    Double(String),
    Text(String),
    Binary(Vec<u8>),
}

impl VarValue {
    /// The literal that gives the value back with its type, under `mode`
    /// (the session's sql_mode when the literal is used).
    pub fn literal(&self, mode: SqlMode) -> String {
        match self {
            VarValue::Null => "NULL".into(),
            VarValue::Number(n) => n.clone(),
            // keeps the value a DOUBLE
            VarValue::Double(d) if !d.contains(['e', 'E']) => format!("{d}e0"),
            VarValue::Double(d) => d.clone(),
            VarValue::Text(t) => quote_string(t, mode),
            VarValue::Binary(b) => {
                let mut hex = String::with_capacity(b.len() * 2 + 3);
                hex.push_str("X'");
                for byte in b {
                    hex.push_str(&format!("{byte:02X}"));
                }
                hex.push('\'');
                hex
            }
        }
    }
}

impl SessionValues {
    /// The literal for `name` (lower case: a function or a system variable).
    fn literal(&self, name: &str, mode: SqlMode) -> Option<String> {
        let quoted = |s: &str| quote_string(s, mode);
        Some(match name {
            "connection_id" => self.connection_id.to_string(),
            // The account the proxy matched: any host.
            "current_user" => quoted(&format!("{}@%", self.user)),
            "user" | "session_user" | "system_user" => {
                quoted(&format!("{}@{}", self.user, self.host))
            }
            "database" | "schema" => quoted(&self.database),
            "last_insert_id" => self.last_insert_id.to_string(),
            "found_rows" => self.found_rows.to_string(),
            "row_count" => self.row_count.to_string(),
            "autocommit" => (self.autocommit as u8).to_string(),
            "warning_count" => self.warning_count.to_string(),
            "error_count" => self.error_count.to_string(),
            "version" => quoted(&self.version),
            "version_comment" => quoted(&self.version_comment),
            _ => return None,
        })
    }
}

/// A string literal that reads back as `s` under `mode`.
pub fn quote_string(s: &str, mode: SqlMode) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if !mode.no_backslash_escapes => out.push_str("\\\\"),
            '\0' if !mode.no_backslash_escapes => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A user variable's value from the column the backend described it with
/// (`SELECT @v`).
pub fn var_value(col: &ColumnDef, v: &Value) -> VarValue {
    let b = match v {
        Value::NULL => return VarValue::Null,
        Value::Bytes(b) => b,
        Value::Int(i) => return VarValue::Number(i.to_string()),
        Value::UInt(u) => return VarValue::Number(u.to_string()),
        Value::Double(d) => return VarValue::Double(format!("{d:e}")),
        other => return VarValue::Text(other.as_sql(true).trim_matches('\'').to_string()),
    };
    let text = || String::from_utf8_lossy(b).into_owned();
    use ColumnType::*;
    match col.column.column_type() {
        MYSQL_TYPE_NULL => VarValue::Null,
        MYSQL_TYPE_TINY
        | MYSQL_TYPE_SHORT
        | MYSQL_TYPE_LONG
        | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL => VarValue::Number(text()),
        MYSQL_TYPE_DOUBLE | MYSQL_TYPE_FLOAT => VarValue::Double(text()),
        _ if col.column.character_set() == 63 => VarValue::Binary(b.clone()),
        _ => VarValue::Text(text()),
    }
}

/// Case-insensitive substring test, first byte compared first (hot path).
pub fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    let first = needle[0].to_ascii_lowercase();
    hay.windows(needle.len())
        .any(|w| w[0].to_ascii_lowercase() == first && w.eq_ignore_ascii_case(needle))
}

/// Why a statement cannot have its session values put in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InlineError {
    /// `@v := ...` inside a statement other than SET.
    Assignment,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Puts the session's values (and, with `vars`, its user variables) into
/// `sql`, outside quotes and comments. With `vars`, a statement assigning a
/// user variable (`@v := ...`) is an [`InlineError::Assignment`]; without,
/// user variables stay as written (the statement runs where they are set).
pub fn inline(
    sql: &str,
    values: &SessionValues,
    vars: Option<&UserVars>,
    mode: SqlMode,
) -> Result<String, InlineError> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut copied = 0;
    let mut i = 0;
    // the last word was INTO: `SELECT ... INTO @v` assigns
    let mut after_into = false;
    let is_set = sql
        .trim_start()
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("set ") || w.eq_ignore_ascii_case("set@"));
    let replace = |out: &mut String, copied: &mut usize, start: usize, end: usize, lit: &str| {
        out.push_str(&sql[*copied..start]);
        out.push_str(lit);
        if is_select_item(sql, start, end) {
            out.push_str(" AS ");
            push_quoted_ident(out, &sql[start..end]);
        }
        *copied = end;
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                i = crate::route::quoted_end(b, i, c, mode);
                continue;
            }
            b'#' => {
                i = line_end(b, i);
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                i = line_end(b, i);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') && b.get(i + 2) != Some(&b'!') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                continue;
            }
            b'@' if b.get(i + 1) == Some(&b'@') => {
                // @@[session.|local.]name
                let start = i;
                let mut j = i + 2;
                while j < b.len() && (is_word(b[j]) || b[j] == b'.') {
                    j += 1;
                }
                let name = sql[i + 2..j].to_ascii_lowercase();
                let (scope, bare) = match name.split_once('.') {
                    Some((s @ ("session" | "local" | "global"), rest)) => (Some(s), rest),
                    _ => (None, name.as_str()),
                };
                // `SET @@session.autocommit = OFF` assigns it: not a value to put in.
                let rest = sql[j..].trim_start();
                let assigned = is_set && (rest.starts_with('=') || rest.starts_with(":="));
                let answered = !assigned
                    && VARIABLES.contains(&bare)
                    && (scope != Some("global") || GLOBAL_VARIABLES.contains(&bare));
                if answered {
                    if let Some(lit) = values.literal(bare, mode) {
                        replace(&mut out, &mut copied, start, j, &lit);
                    }
                } else if let Some((_, known)) =
                    values.renamed_variables.iter().find(|(m, _)| *m == bare)
                {
                    let scoped = scope.map_or(String::new(), |s| format!("{s}."));
                    replace(
                        &mut out,
                        &mut copied,
                        start,
                        j,
                        &format!("@@{scoped}{known}"),
                    );
                }
                i = j;
                continue;
            }
            // `'u'@'h'` and `u@h` name accounts, not variables
            b'@' if i > 0 && (is_word(b[i - 1]) || matches!(b[i - 1], b'\'' | b'"' | b'`')) => {
                i += 1;
            }
            b'@' => {
                let start = i;
                let (name, end) = user_var_name(sql, i + 1, mode);
                if let Some(vars) = vars {
                    if after_into || sql[end..].trim_start().starts_with(":=") {
                        return Err(InlineError::Assignment);
                    }
                    let lit = vars
                        .get(&name.to_lowercase())
                        .map_or_else(|| "NULL".to_string(), |v| v.literal(mode));
                    replace(&mut out, &mut copied, start, end, &lit);
                }
                i = end.max(i + 1);
                continue;
            }
            c if is_word(c) => {
                let start = i;
                let mut j = i;
                while j < b.len() && is_word(b[j]) {
                    j += 1;
                }
                let after_dot = start > 0 && b[start - 1] == b'.';
                let word = sql[start..j].to_ascii_lowercase();
                after_into = word == "into";
                if !after_dot && FUNCTIONS.contains(&word.as_str()) {
                    // `name()`, or `CURRENT_USER` without parentheses
                    let mut k = j;
                    while k < b.len() && b[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    let end = if b.get(k) == Some(&b'(') {
                        let mut m = k + 1;
                        while m < b.len() && b[m].is_ascii_whitespace() {
                            m += 1;
                        }
                        (b.get(m) == Some(&b')')).then_some(m + 1)
                    } else if word == "current_user" && b.get(k) != Some(&b'.') {
                        Some(j)
                    } else {
                        None
                    };
                    if let Some(end) = end {
                        if let Some(lit) = values.literal(&word, mode) {
                            replace(&mut out, &mut copied, start, end, &lit);
                            i = end;
                            continue;
                        }
                    }
                }
                i = j;
                continue;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p)
}

/// The name of the user variable starting at `i` (after `@`) and where it ends.
pub(super) fn user_var_name(sql: &str, i: usize, mode: SqlMode) -> (String, usize) {
    let b = sql.as_bytes();
    if let Some(&q) = b.get(i).filter(|q| matches!(q, b'\'' | b'"' | b'`')) {
        let end = crate::route::quoted_end(b, i, q, mode);
        let lit = &sql[i..end];
        let name = if q == b'`' {
            lit.trim_matches('`').replace("``", "`")
        } else {
            crate::route::unescape_in(lit, mode)
        };
        return (name, end);
    }
    let mut j = i;
    while j < b.len() && (is_word(b[j]) || b[j] == b'.') {
        j += 1;
    }
    (sql[i..j].to_string(), j)
}

/// Is `sql[start..end]` a whole select item without an alias?
fn is_select_item(sql: &str, start: usize, end: usize) -> bool {
    let before = sql[..start].trim_end().to_ascii_lowercase();
    let after = sql[end..].trim_start();
    let after_lower = after.to_ascii_lowercase();
    let item_start = before.ends_with(',')
        || before.ends_with("select")
            && before[..before.len() - 6]
                .chars()
                .last()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
    let item_end = after.is_empty()
        || after.starts_with(',')
        || after.starts_with(';')
        || (after_lower.starts_with("from")
            && !after_lower[4..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
    item_start && item_end
}

/// The user variables a `SELECT ... @v := ...` (or `... INTO @v`) assigns,
/// in order.
pub fn assigned_vars(sql: &str, mode: SqlMode) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut after_into = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = crate::route::quoted_end(b, i, q, mode),
            b'@' if b.get(i + 1) == Some(&b'@') => i += 2,
            b'@' => {
                let (name, end) = user_var_name(sql, i + 1, mode);
                let assigns = after_into || sql[end..].trim_start().starts_with(":=");
                if assigns && !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                    out.push(name);
                }
                i = end.max(i + 1);
            }
            c if is_word(c) => {
                let start = i;
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                after_into = sql[start..i].eq_ignore_ascii_case("into");
            }
            _ => i += 1,
        }
    }
    out
}

/// `SET @a = 1, @b := 'x'` assigns only user variables (true), or also
/// system variables (false); `names` are the assigned names as the router
/// gives them.
pub fn only_user_vars(names: &[String]) -> bool {
    !names.is_empty()
        && names
            .iter()
            .all(|n| n.starts_with('@') && !n.starts_with("@@"))
}

/// `SET @a = lit, ...` giving a backend connection the session's variables.
pub fn replay_sql(vars: &UserVars, mode: SqlMode) -> Option<String> {
    if vars.is_empty() {
        return None;
    }
    let parts: Vec<String> = vars
        .iter()
        .map(|(name, v)| format!("@{} = {}", quote_ident(name), v.literal(mode)))
        .collect();
    Some(format!("SET {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> SessionValues {
        SessionValues {
            connection_id: 42,
            user: "haoka".into(),
            host: "127.0.0.1".into(),
            database: "sbtest".into(),
            last_insert_id: 7,
            found_rows: 3,
            row_count: -1,
            autocommit: true,
            warning_count: 1,
            error_count: 0,
            version: "10.11.19-MariaDB-haoka".into(),
            version_comment: "haoka-proxy 0.1.0".into(),
            renamed_variables: &[("transaction_isolation", "tx_isolation")],
        }
    }

    #[test]
    fn identity_and_renamed_variables() {
        assert_eq!(
            inl("SELECT VERSION(), @@global.version_comment"),
            "SELECT '10.11.19-MariaDB-haoka' AS `VERSION()`, 'haoka-proxy 0.1.0' AS `@@global.version_comment`"
        );
        assert_eq!(
            inl("SELECT @@session.transaction_isolation"),
            "SELECT @@session.tx_isolation AS `@@session.transaction_isolation`"
        );
        // a global autocommit is not the session's
        assert_eq!(
            inl("SELECT @@global.autocommit"),
            "SELECT @@global.autocommit"
        );
        // an assignment target is not a value
        assert_eq!(
            inl("SET @@session.autocommit = OFF"),
            "SET @@session.autocommit = OFF"
        );
        assert_eq!(inl("SELECT @@autocommit = 1"), "SELECT 1 = 1");
    }

    fn inl(sql: &str) -> String {
        let mut vars = UserVars::new();
        vars.insert("y".into(), VarValue::Number("7".into()));
        vars.insert("s".into(), VarValue::Text("a'b".into()));
        inline(sql, &values(), Some(&vars), SqlMode::default()).unwrap()
    }

    #[test]
    fn session_functions_become_literals_keeping_their_names() {
        assert_eq!(
            inl("SELECT CONNECTION_ID()"),
            "SELECT 42 AS `CONNECTION_ID()`"
        );
        assert_eq!(
            inl("select current_user(), CURRENT_USER, user() u"),
            "select 'haoka@%' AS `current_user()`, 'haoka@%' AS `CURRENT_USER`, 'haoka@127.0.0.1' u"
        );
        assert_eq!(
            inl("SELECT c FROM t WHERE db = DATABASE() AND n = FOUND_ROWS()"),
            "SELECT c FROM t WHERE db = 'sbtest' AND n = 3"
        );
        assert_eq!(
            inl("SELECT LAST_INSERT_ID(5), ROW_COUNT() FROM dual"),
            "SELECT LAST_INSERT_ID(5), -1 AS `ROW_COUNT()` FROM dual"
        );
        assert_eq!(
            inl("SELECT @@warning_count, @@session.autocommit, @@sql_mode"),
            "SELECT 1 AS `@@warning_count`, 1 AS `@@session.autocommit`, @@sql_mode"
        );
        // not in strings, comments, or other names
        assert_eq!(
            inl("SELECT 'database()', t.user(), my_user() /* user() */"),
            "SELECT 'database()', t.user(), my_user() /* user() */"
        );
    }

    #[test]
    fn user_variables_become_literals() {
        assert_eq!(inl("SELECT @y"), "SELECT 7 AS `@y`");
        assert_eq!(
            inl("SELECT c FROM t WHERE id = @Y OR c = @s OR d = @unset OR e = @`y`"),
            "SELECT c FROM t WHERE id = 7 OR c = 'a''b' OR d = NULL OR e = 7"
        );
        assert_eq!(
            inline(
                "SELECT @v := 1",
                &values(),
                Some(&UserVars::new()),
                SqlMode::default()
            ),
            Err(InlineError::Assignment)
        );
        assert_eq!(
            inline(
                "SELECT c INTO @v FROM t",
                &values(),
                Some(&UserVars::new()),
                SqlMode::default()
            ),
            Err(InlineError::Assignment)
        );
        assert_eq!(
            inl("INSERT INTO t (a) VALUES (@y)"),
            "INSERT INTO t (a) VALUES (7)"
        );
        assert_eq!(
            inline("SET @v := USER()", &values(), None, SqlMode::default()).as_deref(),
            Ok("SET @v := 'haoka@127.0.0.1'")
        );
        assert_eq!(
            inl("GRANT SELECT ON x.* TO 'u'@'h'"),
            "GRANT SELECT ON x.* TO 'u'@'h'"
        );
        assert_eq!(
            assigned_vars("SELECT @v := 1, @`w` := @v + 1, ':=' ", SqlMode::default()),
            vec!["v".to_string(), "w".to_string()]
        );
        assert_eq!(
            assigned_vars(
                "SELECT 1, @y INTO @a, @b FROM dual WHERE @c = 1",
                SqlMode::default()
            ),
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn variables_are_written_for_the_mode_they_are_used_in() {
        let nb = SqlMode {
            no_backslash_escapes: true,
            ansi_quotes: false,
        };
        let t = VarValue::Text(r"C:\new".into());
        assert_eq!(t.literal(SqlMode::default()), r"'C:\\new'");
        assert_eq!(t.literal(nb), r"'C:\new'");
        assert_eq!(VarValue::Double("1.5".into()).literal(nb), "1.5e0");
        assert_eq!(VarValue::Binary(vec![0, 255]).literal(nb), "X'00FF'");
    }

    #[test]
    fn strings_are_quoted_for_the_mode() {
        let nb = SqlMode {
            no_backslash_escapes: true,
            ansi_quotes: false,
        };
        assert_eq!(quote_string(r"a\b'c", SqlMode::default()), r"'a\\b''c'");
        assert_eq!(quote_string(r"a\b'c", nb), r"'a\b''c'");
    }
}
