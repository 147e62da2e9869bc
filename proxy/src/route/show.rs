//! SHOW / DESCRIBE statements about logical databases and tables: database
//! qualifiers (`FROM db`, `db.t`), `LIKE` and `WHERE`. Parsed here, resolved
//! by the executor (a qualifier may name another logical schema than the
//! session's, and only the executor knows what the user may see).

use super::error::RouteError;
use super::plan::{Metadata, ShowFilter, TableShow, Target};
use crate::rules::Schema;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare or backticked name (unquoted), with `quoted` set for backticks.
    Name {
        text: String,
        quoted: bool,
    },
    /// A string literal as written (quotes and escapes kept).
    Str(String),
    Dot,
    Other(char),
}

/// Tokens of `text` with their start offsets.
fn tokens(text: &str) -> Vec<(usize, Tok)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b';' {
            i += 1;
        } else if c == b'`' {
            let mut s = String::new();
            let mut j = i + 1;
            while j < b.len() {
                if b[j] == b'`' {
                    if b.get(j + 1) == Some(&b'`') {
                        s.push('`');
                        j += 2;
                        continue;
                    }
                    break;
                }
                let ch = text[j..].chars().next().expect("in bounds");
                s.push(ch);
                j += ch.len_utf8();
            }
            out.push((
                i,
                Tok::Name {
                    text: s,
                    quoted: true,
                },
            ));
            i = j + 1;
        } else if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            while j < b.len() {
                if b[j] == b'\\' {
                    j += 2;
                    continue;
                }
                if b[j] == c {
                    if b.get(j + 1) == Some(&c) {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            let end = (j + 1).min(b.len());
            out.push((i, Tok::Str(text[i..end].to_string())));
            i = end;
        } else if c == b'.' {
            out.push((i, Tok::Dot));
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            let mut j = i;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'$') || b[j] >= 0x80)
            {
                j += 1;
            }
            out.push((
                i,
                Tok::Name {
                    text: text[i..j].to_string(),
                    quoted: false,
                },
            ));
            i = j;
        } else {
            let ch = text[i..].chars().next().expect("in bounds");
            out.push((i, Tok::Other(ch)));
            i += ch.len_utf8();
        }
    }
    out
}

/// A cursor over the tokens of one statement.
struct Cursor<'a> {
    text: &'a str,
    toks: Vec<(usize, Tok)>,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            text,
            toks: tokens(text),
            at: 0,
        }
    }

    /// Consumes the keyword `kw` (case-insensitive, unquoted) if it is next.
    fn keyword(&mut self, kw: &str) -> bool {
        match self.toks.get(self.at) {
            Some((
                _,
                Tok::Name {
                    text,
                    quoted: false,
                },
            )) if text.eq_ignore_ascii_case(kw) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn any_keyword(&mut self, kws: &[&str]) -> bool {
        kws.iter().any(|k| self.keyword(k))
    }

    fn name(&mut self) -> Option<String> {
        match self.toks.get(self.at) {
            Some((_, Tok::Name { text, .. })) => {
                self.at += 1;
                Some(text.clone())
            }
            _ => None,
        }
    }

    /// `name` or `db.name`.
    fn qualified(&mut self) -> Option<(Option<String>, String)> {
        let first = self.name()?;
        if matches!(self.toks.get(self.at), Some((_, Tok::Dot))) {
            self.at += 1;
            let second = self.name()?;
            return Some((Some(first), second));
        }
        Some((None, first))
    }

    fn is_done(&self) -> bool {
        self.at >= self.toks.len()
    }

    /// The rest of the statement as written.
    fn rest(&self) -> &'a str {
        match self.toks.get(self.at) {
            Some((off, _)) => self.text[*off..].trim().trim_end_matches(';').trim(),
            None => "",
        }
    }

    /// `[LIKE 'p' | WHERE cond]` to the end of the statement.
    fn filter(&mut self, stmt: &str) -> Result<ShowFilter, RouteError> {
        if self.is_done() {
            return Ok(ShowFilter::All);
        }
        if self.keyword("LIKE") {
            return match self.toks.get(self.at).cloned() {
                Some((_, Tok::Str(s))) => {
                    self.at += 1;
                    if !self.is_done() {
                        return Err(syntax(stmt));
                    }
                    Ok(ShowFilter::Like(s))
                }
                _ => Err(syntax(stmt)),
            };
        }
        if self.keyword("WHERE") {
            let cond = self.rest().to_string();
            if cond.is_empty() {
                return Err(syntax(stmt));
            }
            return Ok(ShowFilter::Where(cond));
        }
        Err(syntax(stmt))
    }
}

fn syntax(stmt: &str) -> RouteError {
    RouteError::Syntax(format!(
        "You have an error in your SQL syntax near '{}'",
        super::build::truncate(stmt, 80)
    ))
}

/// The metadata statement a `SHOW ...` is, or None when it is not one about
/// logical databases or tables (SHOW VARIABLES, STATUS, ...).
pub(crate) fn parse_show(text: &str) -> Option<Result<Metadata, RouteError>> {
    let mut c = Cursor::new(text);
    if !c.keyword("SHOW") {
        return None;
    }
    let full = c.any_keyword(&["FULL", "EXTENDED"]);
    let full = c.keyword("FULL") || full;
    if c.any_keyword(&["DATABASES", "SCHEMAS"]) {
        return Some(c.filter(text).map(|filter| Metadata::Databases { filter }));
    }
    if c.keyword("TABLES") {
        return Some(
            db_and_filter(&mut c, text).map(|(db, filter)| Metadata::Tables { full, db, filter }),
        );
    }
    if c.keyword("TABLE") {
        if !c.keyword("STATUS") {
            return Some(Err(syntax(text)));
        }
        return Some(
            db_and_filter(&mut c, text).map(|(db, filter)| Metadata::TableStatus { db, filter }),
        );
    }
    for kw in ["COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"] {
        if c.keyword(kw) {
            let head = if full {
                format!("SHOW FULL {kw}")
            } else {
                format!("SHOW {kw}")
            };
            return Some(listing(&mut c, text, head));
        }
    }
    if c.keyword("CREATE") {
        if c.keyword("TABLE") {
            return Some(match c.qualified() {
                Some((db, table)) if c.is_done() => Ok(Metadata::Table {
                    db,
                    table,
                    show: TableShow::CreateTable,
                }),
                _ => Err(syntax(text)),
            });
        }
        if c.any_keyword(&["DATABASE", "SCHEMA"]) {
            let if_not_exists = c.keyword("IF");
            if if_not_exists && !(c.keyword("NOT") && c.keyword("EXISTS")) {
                return Some(Err(syntax(text)));
            }
            return Some(match c.name() {
                Some(db) if c.is_done() => Ok(Metadata::CreateDatabase { db, if_not_exists }),
                _ => Err(syntax(text)),
            });
        }
    }
    None
}

/// `[FROM | IN db] [LIKE | WHERE]`
fn db_and_filter(
    c: &mut Cursor<'_>,
    text: &str,
) -> Result<(Option<String>, ShowFilter), RouteError> {
    let db = if c.any_keyword(&["FROM", "IN"]) {
        Some(c.name().ok_or_else(|| syntax(text))?)
    } else {
        None
    };
    Ok((db, c.filter(text)?))
}

/// `FROM | IN [db.]t [FROM | IN db] [LIKE | WHERE]` of SHOW COLUMNS / INDEX.
fn listing(c: &mut Cursor<'_>, text: &str, head: String) -> Result<Metadata, RouteError> {
    if !c.any_keyword(&["FROM", "IN"]) {
        return Err(syntax(text));
    }
    let (mut db, table) = c.qualified().ok_or_else(|| syntax(text))?;
    if c.any_keyword(&["FROM", "IN"]) {
        // MySQL: the second FROM wins over a qualifier.
        db = Some(c.name().ok_or_else(|| syntax(text))?);
    }
    let tail = if c.is_done() {
        String::new()
    } else {
        let rest = c.rest().to_string();
        c.filter(text)?;
        rest
    };
    Ok(Metadata::Table {
        db,
        table,
        show: TableShow::Listing { head, tail },
    })
}

/// `DESCRIBE | DESC | EXPLAIN [db.]t [column | 'pattern']`
pub(crate) fn parse_describe(text: &str) -> Result<Metadata, RouteError> {
    let mut c = Cursor::new(text);
    if !c.any_keyword(&["DESCRIBE", "DESC", "EXPLAIN"]) {
        return Err(syntax(text));
    }
    let (db, table) = c.qualified().ok_or_else(|| syntax(text))?;
    let tail = match c.toks.get(c.at).cloned() {
        None => String::new(),
        Some((_, Tok::Str(s))) => format!("LIKE {s}"),
        Some((_, Tok::Name { text: col, .. })) => {
            format!("LIKE '{}'", col.replace('\\', "\\\\").replace('\'', "''"))
        }
        Some(_) => return Err(syntax(text)),
    };
    Ok(Metadata::Table {
        db,
        table,
        show: TableShow::Listing {
            head: "SHOW COLUMNS".into(),
            tail,
        },
    })
}

/// Where a metadata statement about one logical table of `schema` runs: its
/// first physical copy, under its physical name.
pub fn table_target(schema: &Schema, table: &str, show: &TableShow) -> Result<Target, RouteError> {
    let no_table = || RouteError::NoSuchTable {
        schema: schema.name.clone(),
        table: table.to_string(),
    };
    let (place, physical) = schema
        .physical_tables(table)
        .and_then(|v| v.into_iter().next())
        .ok_or_else(no_table)?;
    Ok(Target {
        place,
        sql: show.physical_sql(&physical),
        prepared: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(sql: &str) -> (Option<String>, String, TableShow) {
        match parse_show(sql).or_else(|| Some(parse_describe(sql))) {
            Some(Ok(Metadata::Table { db, table, show })) => (db, table, show),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn qualifiers_and_filters() {
        assert_eq!(
            parse_show("SHOW FULL TABLES FROM `haoka` LIKE 'p%'")
                .unwrap()
                .unwrap(),
            Metadata::Tables {
                full: true,
                db: Some("haoka".into()),
                filter: ShowFilter::Like("'p%'".into())
            }
        );
        assert_eq!(
            parse_show("show table status from sbtest like 'sbtest\\_1'")
                .unwrap()
                .unwrap(),
            Metadata::TableStatus {
                db: Some("sbtest".into()),
                filter: ShowFilter::Like("'sbtest\\_1'".into())
            }
        );
        assert_eq!(
            parse_show("SHOW FULL TABLES WHERE Table_type != 'VIEW'")
                .unwrap()
                .unwrap(),
            Metadata::Tables {
                full: true,
                db: None,
                filter: ShowFilter::Where("Table_type != 'VIEW'".into())
            }
        );
        let (db, t, show) = table("SHOW FULL COLUMNS FROM `staff` FROM haoka LIKE 'n%'");
        assert_eq!((db.as_deref(), t.as_str()), (Some("haoka"), "staff"));
        assert_eq!(
            show.physical_sql("staff"),
            "SHOW FULL COLUMNS FROM `staff` LIKE 'n%'"
        );
        let (db, t, show) = table("SHOW INDEX FROM haoka.phone_number");
        assert_eq!((db.as_deref(), t.as_str()), (Some("haoka"), "phone_number"));
        assert_eq!(
            show.physical_sql("phone_number_0"),
            "SHOW INDEX FROM `phone_number_0`"
        );
        let (db, t, show) = table("SHOW CREATE TABLE `sbtest`.`sbtest1`");
        assert_eq!(
            (db.as_deref(), t.as_str(), show),
            (Some("sbtest"), "sbtest1", TableShow::CreateTable)
        );
        let (db, t, show) = table("DESCRIBE haoka.phone_number status");
        assert_eq!((db.as_deref(), t.as_str()), (Some("haoka"), "phone_number"));
        assert_eq!(
            show.physical_sql("p_1"),
            "SHOW COLUMNS FROM `p_1` LIKE 'status'"
        );
        assert_eq!(
            parse_show("SHOW CREATE DATABASE IF NOT EXISTS `sbtest`")
                .unwrap()
                .unwrap(),
            Metadata::CreateDatabase {
                db: "sbtest".into(),
                if_not_exists: true
            }
        );
        assert_eq!(
            parse_show("SHOW DATABASES LIKE 'h%'").unwrap().unwrap(),
            Metadata::Databases {
                filter: ShowFilter::Like("'h%'".into())
            }
        );
        assert!(parse_show("SHOW VARIABLES LIKE 'x'").is_none());
        assert!(parse_show("SHOW TABLES FROM").unwrap().is_err());
        assert!(parse_show("SHOW TABLES LIKE").unwrap().is_err());
    }
}
