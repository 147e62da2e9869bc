//! A small hand-written MySQL tokenizer used on the hot path, without a parse:
//! the plan-cache normaliser (literals to numbered placeholders), the
//! `/*+ HAOKA ... */` hint reader, and the splitter that turns a rendered
//! statement into a [`Template`].

use super::error::RouteError;
use crate::rules::KeyValue;

/// A routing hint from a `/*+ HAOKA shard=N */` comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hint {
    Shard(usize),
    Global,
}

/// A literal the normaliser took out of a text query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lit {
    /// The literal exactly as written (quotes and escapes included).
    pub text: String,
    pub value: LitValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LitValue {
    Int(i128),
    /// The unescaped content of a quoted string.
    Str(String),
    /// Any other number (decimal, float), as written.
    Num(String),
}

impl LitValue {
    pub fn key(&self) -> KeyValue {
        match self {
            LitValue::Int(i) => KeyValue::Int(*i),
            LitValue::Str(s) | LitValue::Num(s) => KeyValue::Str(s.clone()),
        }
    }
}

/// The parts of the session's `sql_mode` that change how a statement is
/// read: whether `\\` escapes in strings, and whether `"` quotes identifiers.
/// Plans are cached per mode; literals are read and written back under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SqlMode {
    pub no_backslash_escapes: bool,
    pub ansi_quotes: bool,
}

impl SqlMode {
    /// MariaDB's default reading: backslash escapes, `"` quotes strings.
    pub const DEFAULT: SqlMode = SqlMode {
        no_backslash_escapes: false,
        ansi_quotes: false,
    };

    /// From the value of `@@sql_mode` (a comma list; `ANSI` implies
    /// ANSI_QUOTES, as the server expands it).
    pub fn parse(sql_mode: &str) -> SqlMode {
        let mut m = SqlMode::default();
        for flag in sql_mode.split(',').map(str::trim) {
            if flag.eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES") {
                m.no_backslash_escapes = true;
            } else if flag.eq_ignore_ascii_case("ANSI_QUOTES") || flag.eq_ignore_ascii_case("ANSI")
            {
                m.ansi_quotes = true;
            }
        }
        m
    }

    fn backslash_escapes(self) -> bool {
        !self.no_backslash_escapes
    }

    /// Is `q` the quote of a string literal (not of an identifier)?
    fn string_quote(self, q: u8) -> bool {
        q == b'\'' || (q == b'"' && !self.ansi_quotes)
    }
}

thread_local! {
    /// The sql_mode of the statement being planned. Planning is synchronous
    /// (no await), so `build` sets it for its duration instead of passing it
    /// through every helper that cuts templates or reads a literal.
    static PLANNING_MODE: std::cell::Cell<SqlMode> = const { std::cell::Cell::new(SqlMode::DEFAULT) };
}

/// Runs `f` with `mode` as the sql_mode of the statement being planned.
pub(crate) fn with_sql_mode<T>(mode: SqlMode, f: impl FnOnce() -> T) -> T {
    struct Restore(SqlMode);
    impl Drop for Restore {
        fn drop(&mut self) {
            PLANNING_MODE.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(PLANNING_MODE.with(|m| m.replace(mode)));
    f()
}

/// The sql_mode of the statement being planned (default outside `build`).
pub(crate) fn planning_mode() -> SqlMode {
    PLANNING_MODE.with(|m| m.get())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A text query: literals become `?N`, their values go to `lits`.
    Text,
    /// A statement to prepare: its `?` become `?N`, literals stay.
    Prepared,
}

/// The result of [`scan`].
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// The statement with comments dropped (but `/*! */` and other `/*+ */`),
    /// whitespace collapsed and placeholders numbered `?1`, `?2`...
    pub text: String,
    pub lits: Vec<Lit>,
    pub hint: Option<Hint>,
    /// Number of placeholders in `text`.
    pub params: usize,
    /// The first keyword, upper-cased ("" when none).
    pub first_word: String,
    /// The sql_mode the statement was read under.
    pub sql_mode: SqlMode,
    /// A token names a value the proxy keeps per session (see
    /// [`SESSION_FUNCTIONS`]): a user or system variable, or a session
    /// function called without arguments.
    pub session_values: bool,
}

/// Functions without arguments the proxy answers from session state (the
/// executor puts their values in as literals).
pub const SESSION_FUNCTIONS: &[&str] = &[
    "connection_id",
    "current_user",
    "user",
    "session_user",
    "system_user",
    "database",
    "schema",
    "last_insert_id",
    "found_rows",
    "row_count",
    "version",
];

/// Is the word ending at `end` a call of a session function: `name()` (or
/// `CURRENT_USER` alone), not a qualified name (`t.user()`)?
fn session_function_at(sql: &str, start: usize, end: usize) -> bool {
    let w = &sql[start..end];
    if !SESSION_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(w)) {
        return false;
    }
    let b = sql.as_bytes();
    if start > 0 && b[start - 1] == b'.' {
        return false;
    }
    let rest = sql[end..].trim_start();
    if w.eq_ignore_ascii_case("current_user") {
        return !rest.starts_with('.');
    }
    rest.strip_prefix('(')
        .is_some_and(|r| r.trim_start().starts_with(')'))
}

pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Where a quoted run starting at `i` (with quote `q`) ends (exclusive).
/// Backslash escapes count in strings unless the mode says otherwise.
pub(crate) fn quoted_end(s: &[u8], i: usize, q: u8, mode: SqlMode) -> usize {
    let escapes = mode.backslash_escapes() && mode.string_quote(q);
    let mut j = i + 1;
    while j < s.len() {
        let b = s[j];
        if b == b'\\' && escapes {
            j += 2;
            continue;
        }
        if b == q {
            if j + 1 < s.len() && s[j + 1] == q {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    s.len()
}

/// The value of the content of a quoted string literal (without its quotes)
/// as the parser keeps it (escapes as written), under `mode`.
pub(crate) fn string_value(raw: &str, quote: char, mode: SqlMode) -> String {
    let mut lit = String::with_capacity(raw.len() + 2);
    lit.push(quote);
    lit.push_str(raw);
    lit.push(quote);
    unescape_in(&lit, mode)
}

/// The unescaped content of a MySQL quoted string literal (with its quotes)
/// under `mode`: with NO_BACKSLASH_ESCAPES only doubled quotes are escapes.
pub fn unescape_in(lit: &str, mode: SqlMode) -> String {
    let b = lit.as_bytes();
    if b.len() < 2 {
        return String::new();
    }
    let q = b[0];
    // the first byte is an ASCII quote; an unterminated literal has no closing one
    let rest = lit.get(1..).unwrap_or("");
    let inner = rest.strip_suffix(q as char).unwrap_or(rest);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && mode.backslash_escapes() {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('b') => out.push('\u{8}'),
                Some('Z') => out.push('\u{1a}'),
                Some('%') => out.push_str("\\%"),
                Some('_') => out.push_str("\\_"),
                Some(o) => out.push(o),
                None => {}
            }
        } else if c as u32 == q as u32 && chars.peek() == Some(&c) {
            chars.next();
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Numeric literal end, or None when `i` does not start a number.
fn number_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut digits = false;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
        digits = true;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
            digits = true;
        }
    }
    if !digits {
        return None;
    }
    if j < s.len() && (s[j] == b'e' || s[j] == b'E') {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    // `1abc` is an identifier in MySQL, `0x1F` a hex literal: not a plain number.
    if j < s.len() && is_word_byte(s[j]) {
        return None;
    }
    Some(j)
}

/// `0x` and an odd number of hex digits.
fn is_odd_hex(w: &str) -> bool {
    w.len() > 2
        && (w.starts_with("0x"))
        && w.len() % 2 == 1
        && w[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// After a `LOCK` ending at `i`: where ` IN SHARE MODE` ends, if it follows.
fn share_mode_end(sql: &str, i: usize) -> Option<usize> {
    let mut at = i;
    for word in ["IN", "SHARE", "MODE"] {
        let rest = &sql[at..];
        let trimmed = rest.trim_start();
        if trimmed.len() == rest.len() {
            return None; // no space before the word
        }
        let start = at + (rest.len() - trimmed.len());
        let end = start + word.len();
        if !sql.get(start..end)?.eq_ignore_ascii_case(word)
            || sql.as_bytes().get(end).is_some_and(|b| is_word_byte(*b))
        {
            return None;
        }
        at = end;
    }
    Some(at)
}

fn parse_hint(body: &str) -> Result<Option<Hint>, RouteError> {
    // body: the text between `/*+` and `*/`
    let t = body.trim();
    let Some(rest) = t
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("haoka"))
        .map(|_| &t[5..])
    else {
        return Ok(None);
    };
    let rest = rest.trim();
    let bad = || RouteError::BadHint(t.to_string());
    let (k, v) = rest.split_once('=').ok_or_else(bad)?;
    if !k.trim().eq_ignore_ascii_case("shard") {
        return Err(bad());
    }
    let v = v.trim();
    if v.eq_ignore_ascii_case("global") {
        return Ok(Some(Hint::Global));
    }
    v.parse::<usize>()
        .map(|n| Some(Hint::Shard(n)))
        .map_err(|_| bad())
}

const FOLD_MINUS_AFTER: &[&str] = &[
    "SELECT", "WHERE", "AND", "OR", "NOT", "BETWEEN", "WHEN", "THEN", "ELSE", "IS", "LIKE", "ON",
    "HAVING", "IN", "VALUES", "VALUE", "SET", "RETURN", "XOR",
];
const END_BY_CLAUSE: &[&str] = &[
    "LIMIT",
    "HAVING",
    "WINDOW",
    "UNION",
    "FOR",
    "LOCK",
    "INTO",
    "ORDER",
    "EXCEPT",
    "INTERSECT",
];

#[derive(PartialEq)]
enum Prev {
    Start,
    Word,
    Value,
    Open,
    Punct,
}

/// `name` as a backquoted identifier (a backquote inside doubled): the one
/// way the proxy writes a name into SQL it sends.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_quoted_ident(&mut out, name);
    out
}

/// [`quote_ident`] appended to `out` (no allocation on the hot path).
pub fn push_quoted_ident(out: &mut String, name: &str) {
    out.push('`');
    for part in name.split_inclusive('`') {
        out.push_str(part);
        if part.ends_with('`') {
            out.push('`');
        }
    }
    out.push('`');
}

/// Where a comment starting at `i` ends (exclusive), when one starts there:
/// `#` and `-- ` (two dashes and a space or control character, as MariaDB
/// reads them) run to the end of the line, `/* */` (hints and executable
/// comments too) to its `*/`. The one rule of what a comment is, for
/// [`scan_in`] and [`split_statements`].
pub(crate) fn comment_end(s: &[u8], i: usize) -> Option<usize> {
    let b = *s.get(i)?;
    let line = b == b'#'
        || (b == b'-'
            && s.get(i + 1) == Some(&b'-')
            && s.get(i + 2)
                .is_none_or(|c| c.is_ascii_whitespace() || *c < 32));
    if line {
        let rest = &s[i..];
        return Some(i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len()));
    }
    if b == b'/' && s.get(i + 1) == Some(&b'*') {
        let body = &s[i + 2..];
        let close = body.windows(2).position(|w| w == b"*/");
        return Some(close.map(|p| i + 2 + p + 2).unwrap_or(s.len()));
    }
    None
}

/// The statements of a multi-statement text, cut at each `;` outside
/// quotes and comments by the rules [`scan_in`] reads them with (under
/// `mode`: NO_BACKSLASH_ESCAPES, ANSI_QUOTES). Each piece starts at its
/// first token (leading comments and whitespace dropped) and ends before
/// its `;`; empty pieces are dropped.
pub fn split_statements(text: &str, mode: SqlMode) -> Vec<&str> {
    let s = text.as_bytes();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if let Some(end) = comment_end(s, i) {
            i = end;
        } else if b == b';' {
            if let Some(st) = start.take() {
                out.push(text[st..i].trim_end());
            }
            i += 1;
        } else {
            start.get_or_insert(i);
            i = match b {
                b'\'' | b'"' | b'`' => quoted_end(s, i, b, mode),
                _ => i + 1,
            };
        }
    }
    if let Some(st) = start {
        out.push(text[st..].trim_end());
    }
    out
}

/// Tokenize `sql` under the default sql_mode: see [`Scanned`].
pub fn scan(sql: &str, mode: Mode) -> Result<Scanned, RouteError> {
    scan_in(sql, mode, SqlMode::default())
}

/// Tokenize `sql` as a session with `sql_mode` reads it.
pub fn scan_in(sql: &str, mode: Mode, sql_mode: SqlMode) -> Result<Scanned, RouteError> {
    let s = sql.as_bytes();
    let mut out = Scanned {
        text: String::with_capacity(sql.len() + 8),
        sql_mode,
        ..Default::default()
    };
    let mut i = 0;
    let mut pending_space = false;
    let mut prev = Prev::Start;
    let mut prev_word = String::new();
    let mut in_by: Option<usize> = None; // paren depth of an ORDER/GROUP BY clause
    let mut depth = 0usize;
    let push = |out: &mut Scanned, pending: &mut bool, t: &str| {
        if *pending && !out.text.is_empty() {
            out.text.push(' ');
        }
        *pending = false;
        out.text.push_str(t);
    };
    while i < s.len() {
        let b = s[i];
        // whitespace
        if b.is_ascii_whitespace() {
            pending_space = true;
            i += 1;
            continue;
        }
        // comments
        let comment = comment_end(s, i);
        if let (Some(end), false) = (comment, b == b'/') {
            // `#` and `-- ` comments run to the end of the line.
            i = end;
            pending_space = true;
            continue;
        }
        if let Some(end) = comment {
            let body = &sql[i..end];
            if let Some(after) = body.strip_prefix("/*+") {
                let inner = after.strip_suffix("*/").unwrap_or(after);
                if let Some(h) = parse_hint(inner)? {
                    out.hint = Some(h);
                    pending_space = true;
                    i = end;
                    continue;
                }
                push(&mut out, &mut pending_space, body);
                pending_space = true;
            } else if body.starts_with("/*!") {
                // its content is code; reading it is not worth it here
                out.session_values |= body.contains(['@', '(']);
                push(&mut out, &mut pending_space, body);
                pending_space = true;
            } else {
                pending_space = true;
            }
            i = end;
            continue;
        }
        // quoted identifier
        if b == b'`' || (b == b'"' && sql_mode.ansi_quotes) {
            let end = quoted_end(s, i, b, sql_mode);
            push(&mut out, &mut pending_space, &sql[i..end]);
            i = end;
            prev = Prev::Value;
            continue;
        }
        // strings
        if b == b'\'' || b == b'"' {
            let end = quoted_end(s, i, b, sql_mode);
            let text = &sql[i..end];
            // a string glued to a word (_utf8mb4'x', X'1f', N'x') stays as written
            let glued = i > 0 && is_word_byte(s[i - 1]);
            if mode == Mode::Text && !glued {
                out.lits.push(Lit {
                    text: text.to_string(),
                    value: LitValue::Str(unescape_in(text, sql_mode)),
                });
                out.params += 1;
                let ph = format!("?{}", out.params);
                push(&mut out, &mut pending_space, &ph);
            } else {
                push(&mut out, &mut pending_space, text);
            }
            i = end;
            prev = Prev::Value;
            continue;
        }
        // numbers (optionally with a folded unary minus)
        let neg = b == b'-'
            && (prev == Prev::Start
                || prev == Prev::Open
                || prev == Prev::Punct
                || (prev == Prev::Word
                    && FOLD_MINUS_AFTER
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&prev_word))));
        let num_start = if neg {
            let mut k = i + 1;
            while k < s.len() && s[k] == b' ' {
                k += 1;
            }
            k
        } else {
            i
        };
        let starts_number =
            b.is_ascii_digit() || neg || (b == b'.' && prev != Prev::Word && prev != Prev::Value);
        if starts_number {
            if let Some(end) = number_end(s, num_start) {
                let digits = &sql[num_start..end];
                let text = if neg {
                    format!("-{digits}")
                } else {
                    digits.to_string()
                };
                if mode == Mode::Text && in_by.is_none() {
                    let value = match text.parse::<i128>() {
                        Ok(v) => LitValue::Int(v),
                        Err(_) => LitValue::Num(text.clone()),
                    };
                    out.lits.push(Lit { text, value });
                    out.params += 1;
                    let ph = format!("?{}", out.params);
                    push(&mut out, &mut pending_space, &ph);
                } else {
                    push(&mut out, &mut pending_space, &text);
                }
                i = end;
                prev = Prev::Value;
                continue;
            }
        }
        // placeholders
        if b == b'?' {
            let mut end = i + 1;
            while end < s.len() && s[end].is_ascii_digit() {
                end += 1;
            }
            if mode == Mode::Text {
                return Err(RouteError::Syntax(
                    "a text query cannot contain a '?' placeholder; prepare the statement instead"
                        .into(),
                ));
            }
            out.params += 1;
            let ph = format!("?{}", out.params);
            push(&mut out, &mut pending_space, &ph);
            i = end;
            prev = Prev::Value;
            continue;
        }
        // words (incl. @vars)
        if is_word_byte(b) || b == b'@' {
            let mut end = i + 1;
            while end < s.len()
                && (is_word_byte(s[end]) || s[end] == b'@' || s[end] == b'.' && s[i] == b'@')
            {
                end += 1;
            }
            let w = &sql[i..end];
            if is_odd_hex(w) {
                // the parser writes `0x...` back as X'...', which needs an
                // even number of digits: MySQL reads `0x141` as `0x0141`
                push(&mut out, &mut pending_space, &format!("0x0{}", &w[2..]));
                prev = Prev::Value;
                i = end;
                continue;
            }
            if out.first_word.is_empty() && b != b'@' {
                out.first_word = w.to_ascii_uppercase();
            }
            if b == b'@' || session_function_at(sql, i, end) {
                out.session_values = true;
            }
            if w.eq_ignore_ascii_case("BY")
                && (prev_word.eq_ignore_ascii_case("ORDER")
                    || prev_word.eq_ignore_ascii_case("GROUP"))
            {
                in_by = Some(depth);
            } else if END_BY_CLAUSE.iter().any(|k| k.eq_ignore_ascii_case(w)) {
                in_by = None;
            }
            if w.eq_ignore_ascii_case("LOCK") && out.first_word != "LOCK" {
                if let Some(after) = share_mode_end(sql, end) {
                    // the parser reads MySQL 8's spelling (rendered back in
                    // MariaDB's, see `Template::from_rendered`)
                    push(&mut out, &mut pending_space, "FOR SHARE");
                    prev_word.clear();
                    prev_word.push_str("SHARE");
                    prev = Prev::Word;
                    i = after;
                    continue;
                }
            }
            push(&mut out, &mut pending_space, w);
            prev_word.clear();
            prev_word.push_str(w);
            prev = Prev::Word;
            i = end;
            continue;
        }
        // punctuation
        let ch_len = 1;
        let p = &sql[i..i + ch_len];
        match b {
            b'(' => {
                depth += 1;
                prev = Prev::Open;
            }
            b')' => {
                if in_by == Some(depth) {
                    in_by = None;
                }
                depth = depth.saturating_sub(1);
                prev = Prev::Value;
            }
            b';' => {
                in_by = None;
                prev = Prev::Punct;
            }
            _ => prev = Prev::Punct,
        }
        push(&mut out, &mut pending_space, p);
        i += ch_len;
    }
    Ok(out)
}

/// One piece of a physical SQL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// Client parameter / literal number n (0-based).
    Param(usize),
    /// The physical name of table slot n.
    Table(usize),
    /// The per-shard row count of a scattered LIMIT (offset + count).
    LimitSum,
    /// The VALUES rows of a split INSERT.
    Rows,
    /// The sequence id of the current INSERT row.
    SeqId,
    /// A select item's alias carrying the client's text of the item (see
    /// `names`): a quoted identifier of these parts.
    Name(Vec<NamePart>),
    /// Before a WHERE condition: `(` on a target that excludes stale rows of
    /// moved provinces (see `ExcludeClose`), nothing on any other.
    ExcludeOpen,
    /// After that condition: `) AND <exclusion>` on such a target, nothing
    /// on any other.
    ExcludeClose,
    /// Where a statement has no WHERE: ` WHERE <exclusion>` on such a
    /// target, nothing on any other.
    ExcludeWhere,
}

/// Part of a [`Piece::Name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePart {
    Text(String),
    /// Client parameter / literal number n (0-based): its text as written.
    Param(usize),
}

/// A physical statement with holes, filled at bind time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template(pub Vec<Piece>);

pub const TABLE_MARK: &str = "__hk_t";
pub const LIMIT_MARK: &str = "__hk_limit";
pub const ROWS_MARK: &str = "__hk_rows";
pub const SEQ_MARK: &str = "__hk_seq";
/// `__hk_name<n>`: the alias of select item n, see [`Piece::Name`].
pub const NAME_MARK: &str = "__hk_name";
/// `__hk_xw(<condition>)`: a WHERE condition a target may narrow, see
/// [`Piece::ExcludeOpen`]; the parentheses are the marker's.
pub const EXCLUDE_MARK: &str = "__hk_xw";
/// `WHERE __hk_xn`: where a statement without WHERE may get one, see
/// [`Piece::ExcludeWhere`].
pub const EXCLUDE_WHERE_MARK: &str = "__hk_xn";

impl Template {
    /// Split a statement rendered with markers into pieces (quotes read
    /// under the sql_mode of the statement being planned).
    pub fn from_rendered(sql: &str) -> Template {
        Template::from_rendered_with_names(sql, &[])
    }

    /// [`Template::from_rendered`], with `NAME_MARK<n>` replaced by the
    /// name parts `names[n]`.
    pub fn from_rendered_with_names(sql: &str, names: &[Option<Vec<NamePart>>]) -> Template {
        let mode = planning_mode();
        let s = sql.as_bytes();
        let mut pieces: Vec<Piece> = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        // parentheses open in `text`, and the depths at which an
        // `EXCLUDE_MARK(` waits for its `)`
        let mut depth = 0usize;
        let mut closes: Vec<usize> = Vec::new();
        let flush = |text: &mut String, pieces: &mut Vec<Piece>| {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(text)));
            }
        };
        while i < s.len() {
            let b = s[i];
            if b == b'`' || b == b'\'' || b == b'"' {
                let end = quoted_end(s, i, b, mode);
                text.push_str(&sql[i..end]);
                i = end;
                continue;
            }
            if b == b'?' {
                let mut end = i + 1;
                while end < s.len() && s[end].is_ascii_digit() {
                    end += 1;
                }
                if let Ok(n) = sql[i + 1..end].parse::<usize>() {
                    if n > 0 {
                        flush(&mut text, &mut pieces);
                        pieces.push(Piece::Param(n - 1));
                        i = end;
                        continue;
                    }
                }
                text.push_str(&sql[i..end]);
                i = end;
                continue;
            }
            if is_word_byte(b) || b == b'@' {
                let mut end = i + 1;
                while end < s.len() && is_word_byte(s[end]) {
                    end += 1;
                }
                let w = &sql[i..end];
                if w == "FOR"
                    && sql[end..].starts_with(" SHARE")
                    && !sql[end + 6..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                {
                    // MariaDB spells a shared lock `LOCK IN SHARE MODE`
                    // (NOWAIT / SKIP LOCKED may follow either form)
                    text.push_str("LOCK IN SHARE MODE");
                    i = end + 6;
                    continue;
                }
                if let Some(n) = w.strip_prefix(TABLE_MARK).and_then(|n| n.parse().ok()) {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Table(n));
                } else if w == LIMIT_MARK {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::LimitSum);
                } else if w == ROWS_MARK {
                    // rendered as `VALUES (__hk_rows)`: drop the parens
                    if text.ends_with('(') {
                        text.pop();
                    }
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Rows);
                    if s.get(end) == Some(&b')') {
                        end += 1;
                    }
                } else if w == SEQ_MARK {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::SeqId);
                } else if w == EXCLUDE_MARK && s.get(end) == Some(&b'(') {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::ExcludeOpen);
                    closes.push(depth);
                    end += 1;
                } else if w == EXCLUDE_WHERE_MARK {
                    if let Some(t) = text.strip_suffix(" WHERE ") {
                        text.truncate(t.len());
                    }
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::ExcludeWhere);
                } else if let Some(parts) = w
                    .strip_prefix(NAME_MARK)
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| names.get(n).cloned().flatten())
                {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Name(parts));
                } else {
                    text.push_str(w);
                }
                i = end;
                continue;
            }
            if b == b'(' {
                depth += 1;
            } else if b == b')' {
                if closes.last() == Some(&depth) {
                    closes.pop();
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::ExcludeClose);
                    i += 1;
                    continue;
                }
                depth = depth.saturating_sub(1);
            }
            // copy one UTF-8 char
            let ch_len = sql[i..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
            text.push_str(&sql[i..i + ch_len]);
            i += ch_len;
        }
        flush(&mut text, &mut pieces);
        Template(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(sql: &str) -> (String, Vec<String>) {
        let s = scan(sql, Mode::Text).unwrap();
        (s.text, s.lits.into_iter().map(|l| l.text).collect())
    }

    #[test]
    fn literals_become_numbered_placeholders() {
        let (t, l) = norm("SELECT c FROM sbtest1 WHERE id=123");
        assert_eq!(t, "SELECT c FROM sbtest1 WHERE id=?1");
        assert_eq!(l, vec!["123"]);
        let (t, l) = norm("select * from t where a in (1, 2,3) and b = 'x''y\\'z'");
        assert_eq!(t, "select * from t where a in (?1, ?2,?3) and b = ?4");
        assert_eq!(l[3], "'x''y\\'z'");
        let s = scan("select 'it''s \\'ok\\''", Mode::Text).unwrap();
        assert_eq!(s.lits[0].value, LitValue::Str("it's 'ok'".into()));
    }

    #[test]
    fn negative_numbers_fold_only_after_operators() {
        let (t, l) = norm("SELECT a - 1, -2 FROM t WHERE x = -3 AND y=- 4.5");
        assert_eq!(t, "SELECT a - ?1, ?2 FROM t WHERE x = ?3 AND y=?4");
        assert_eq!(l, vec!["1", "-2", "-3", "-4.5"]);
        let (t, l) = norm("SELECT -1 FROM t WHERE id BETWEEN -5 AND -1 AND (a)-2 > 0");
        assert_eq!(
            t,
            "SELECT ?1 FROM t WHERE id BETWEEN ?2 AND ?3 AND (a)-?4 > ?5"
        );
        assert_eq!(l, vec!["-1", "-5", "-1", "2", "0"]);
    }

    #[test]
    fn comments_dropped_hints_and_versioned_kept() {
        let s = scan(
            "/* a */ SELECT /*+ HAOKA shard=3 */ c -- x\n FROM t # y\n WHERE a=1 /*! AND b=2 */",
            Mode::Text,
        )
        .unwrap();
        assert_eq!(s.hint, Some(Hint::Shard(3)));
        assert_eq!(s.text, "SELECT c FROM t WHERE a=?1 /*! AND b=2 */");
        assert_eq!(s.first_word, "SELECT");
        assert!(scan("/*+ HAOKA shard=x */ SELECT 1", Mode::Text).is_err());
        let s = scan("/*+haoka shard = GLOBAL*/ SELECT 1", Mode::Text).unwrap();
        assert_eq!(s.hint, Some(Hint::Global));
        let s = scan("SELECT /*+ MAX_EXECUTION_TIME(1) */ 1", Mode::Text).unwrap();
        assert_eq!(s.text, "SELECT /*+ MAX_EXECUTION_TIME(1) */ ?1");
    }

    #[test]
    fn order_by_positions_and_identifiers_stay() {
        let (t, l) = norm("SELECT `a1`, t2.x FROM t2 GROUP BY 1 ORDER BY 2 DESC, a+1 LIMIT 5, 10");
        assert_eq!(
            t,
            "SELECT `a1`, t2.x FROM t2 GROUP BY 1 ORDER BY 2 DESC, a+1 LIMIT ?1, ?2"
        );
        assert_eq!(l, vec!["5", "10"]);
        let (t, _) = norm("SELECT x FROM (SELECT a FROM t ORDER BY 1) s WHERE b = 2");
        assert_eq!(
            t,
            "SELECT x FROM (SELECT a FROM t ORDER BY 1) s WHERE b = ?1"
        );
        let (t, _) = norm("SELECT 0x1F, X'AB', _utf8mb4'x', 1e3, .5");
        assert_eq!(t, "SELECT 0x1F, X'AB', _utf8mb4'x', ?1, ?2");
    }

    #[test]
    fn prepared_mode_numbers_placeholders() {
        let s = scan(
            "SELECT c FROM t WHERE a = ? AND b = '?' AND c IN (?, ?)",
            Mode::Prepared,
        )
        .unwrap();
        assert_eq!(
            s.text,
            "SELECT c FROM t WHERE a = ?1 AND b = '?' AND c IN (?2, ?3)"
        );
        assert_eq!(s.params, 3);
        assert!(scan("SELECT ? ", Mode::Text).is_err());
    }

    #[test]
    fn template_split() {
        let t =
            Template::from_rendered("SELECT '?1' FROM __hk_t0 WHERE a = ?2 LIMIT 0, __hk_limit");
        assert_eq!(
            t.0,
            vec![
                Piece::Text("SELECT '?1' FROM ".into()),
                Piece::Table(0),
                Piece::Text(" WHERE a = ".into()),
                Piece::Param(1),
                Piece::Text(" LIMIT 0, ".into()),
                Piece::LimitSum
            ]
        );
        let t = Template::from_rendered("INSERT INTO __hk_t0 (a) VALUES (__hk_rows) ON x");
        assert_eq!(t.0[2], Piece::Text(" (a) VALUES ".into()));
        assert_eq!(t.0[3], Piece::Rows);
        assert_eq!(t.0[4], Piece::Text(" ON x".into()));
    }

    #[test]
    fn identifiers_are_quoted_with_backquotes_doubled() {
        assert_eq!(quote_ident("sbtest1"), "`sbtest1`");
        assert_eq!(quote_ident("a`b``"), "`a``b`````");
        assert_eq!(quote_ident(""), "``");
        let mut out = String::from("SELECT 1 AS ");
        push_quoted_ident(&mut out, "`x`");
        assert_eq!(out, "SELECT 1 AS ```x```");
    }
}

#[cfg(test)]
mod split_tests {
    use super::{split_statements, SqlMode};

    fn split(text: &str) -> Vec<&str> {
        split_statements(text, SqlMode::default())
    }

    #[test]
    fn a_semicolon_in_a_comment_quote_or_name_does_not_cut() {
        assert_eq!(split("SELECT 1 /* a;b */"), ["SELECT 1 /* a;b */"]);
        assert_eq!(
            split("SELECT 1 # a;b\n; SELECT 2"),
            ["SELECT 1 # a;b", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT 1 -- a;b\n;SELECT 2"),
            ["SELECT 1 -- a;b", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT 'a;b', \"c;d\", `e;f`"),
            ["SELECT 'a;b', \"c;d\", `e;f`"]
        );
        assert_eq!(
            split("SELECT 'it''s;'; SELECT 2"),
            ["SELECT 'it''s;'", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT 'a\\';b'; SELECT 2"),
            ["SELECT 'a\\';b'", "SELECT 2"]
        );
    }

    #[test]
    fn two_dashes_without_a_space_are_no_comment() {
        assert_eq!(split("SELECT 5--1; SELECT 2"), ["SELECT 5--1", "SELECT 2"]);
    }

    #[test]
    fn leading_comments_and_empty_statements_are_dropped() {
        assert_eq!(
            split("-- intro;\n/* x; */ CREATE TABLE t (a INT);;\n  ; SELECT 1;  "),
            ["CREATE TABLE t (a INT)", "SELECT 1"]
        );
        assert!(split(" ; -- only a comment;\n").is_empty());
    }

    #[test]
    fn the_sql_mode_decides_what_a_backslash_and_a_double_quote_are() {
        let no_bs = SqlMode::parse("NO_BACKSLASH_ESCAPES");
        // without escapes the backslash is a character and `'` ends the string
        assert_eq!(
            split_statements("SELECT 'a\\'; SELECT 2", no_bs),
            ["SELECT 'a\\'", "SELECT 2"]
        );
        let ansi = SqlMode::parse("ANSI_QUOTES");
        assert_eq!(
            split_statements("SELECT 1 AS \"x;y\"; SELECT 2", ansi),
            ["SELECT 1 AS \"x;y\"", "SELECT 2"]
        );
        // a backslash in a quoted name never escapes
        assert_eq!(
            split_statements("SELECT 1 AS `a\\`; SELECT 2", SqlMode::default()),
            ["SELECT 1 AS `a\\`", "SELECT 2"]
        );
    }
}
