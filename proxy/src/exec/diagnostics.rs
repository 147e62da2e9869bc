//! The session's diagnostics area: the warnings and errors of its last
//! statement, kept by the proxy per client session (the statement ran on
//! pooled backend connections that another session may use next). Shard
//! warnings are fetched with `SHOW WARNINGS` on the connection a statement
//! ran on, right after it, and only when its OK/EOF counted some.

use mysql_common::constants::ColumnType;
use mysql_common::value::Value;

use crate::protocol::ErrInfo;

/// One row of SHOW WARNINGS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagRow {
    pub level: Level,
    pub code: u16,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Note,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Note => "Note",
            Level::Warning => "Warning",
            Level::Error => "Error",
        }
    }

    fn parse(s: &str) -> Level {
        match s {
            "Note" => Level::Note,
            "Error" => Level::Error,
            _ => Level::Warning,
        }
    }
}

/// What a diagnostics statement asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagQuery {
    /// SHOW WARNINGS / SHOW ERRORS [LIMIT [offset,] count]
    List {
        errors_only: bool,
        offset: u64,
        limit: Option<u64>,
    },
    /// SHOW COUNT(*) WARNINGS / ERRORS
    Count { errors_only: bool },
}

/// max_error_count: MariaDB keeps at most 64 messages per statement.
const MAX_ROWS: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    rows: Vec<DiagRow>,
    /// Warnings counted by the statement (may exceed the rows kept).
    warning_count: u64,
}

impl Diagnostics {
    pub fn warning_count(&self) -> u64 {
        self.warning_count
    }

    pub fn error_count(&self) -> u64 {
        self.rows.iter().filter(|r| r.level == Level::Error).count() as u64
    }

    /// Replaces the area with the last statement's messages.
    pub fn set(&mut self, mut rows: Vec<DiagRow>, counted: u64) {
        let listed = rows.len() as u64;
        rows.truncate(MAX_ROWS);
        self.warning_count = counted.max(listed);
        self.rows = rows;
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.warning_count = 0;
    }

    /// The answer to `q`: rows of (Level, Code, Message), or one count.
    pub fn answer(&self, q: DiagQuery) -> DiagAnswer {
        match q {
            DiagQuery::Count { errors_only } => DiagAnswer::Count(if errors_only {
                self.error_count()
            } else {
                self.warning_count
            }),
            DiagQuery::List {
                errors_only,
                offset,
                limit,
            } => DiagAnswer::Rows(
                self.rows
                    .iter()
                    .filter(|r| !errors_only || r.level == Level::Error)
                    .skip(offset as usize)
                    .take(limit.map_or(usize::MAX, |l| l as usize))
                    .map(|r| {
                        vec![
                            Value::Bytes(r.level.as_str().as_bytes().to_vec()),
                            Value::UInt(r.code as u64),
                            Value::Bytes(r.message.as_bytes().to_vec()),
                        ]
                    })
                    .collect(),
            ),
        }
    }
}

pub enum DiagAnswer {
    Rows(Vec<Vec<Value>>),
    Count(u64),
}

/// Column types of SHOW WARNINGS (as MariaDB describes them).
pub const DIAG_COLUMNS: [(&str, ColumnType); 3] = [
    ("Level", ColumnType::MYSQL_TYPE_VAR_STRING),
    ("Code", ColumnType::MYSQL_TYPE_LONG),
    ("Message", ColumnType::MYSQL_TYPE_VAR_STRING),
];

/// An error answered to the client, as a diagnostics row.
pub fn error_row(e: &ErrInfo) -> DiagRow {
    DiagRow {
        level: Level::Error,
        code: e.code,
        message: e.message.clone(),
    }
}

/// Rows of a backend's `SHOW WARNINGS` (Level, Code, Message).
pub fn rows_from_backend(rows: Vec<Vec<Value>>) -> Vec<DiagRow> {
    let text = |v: &Value| match v {
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        _ => String::new(),
    };
    rows.into_iter()
        .filter(|r| r.len() >= 3)
        .map(|r| DiagRow {
            level: Level::parse(&text(&r[0])),
            code: text(&r[1]).parse().unwrap_or(0),
            message: text(&r[2]),
        })
        .collect()
}

/// Recognises SHOW WARNINGS / ERRORS [LIMIT ...] and SHOW COUNT(*) WARNINGS /
/// ERRORS (any case and spacing).
pub fn parse(sql: &str) -> Option<DiagQuery> {
    // cheap refusal first: the hot path asks for every statement
    let t = sql.trim_start();
    if !(t.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("SHOW"))
        && t[4..].starts_with(|c: char| c.is_ascii_whitespace()))
    {
        return None;
    }
    let norm: String = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let rest = norm.strip_prefix("SHOW ")?;
    if let Some(what) = rest
        .strip_prefix("COUNT(*) ")
        .or_else(|| rest.strip_prefix("COUNT( * ) "))
    {
        return match what {
            "WARNINGS" => Some(DiagQuery::Count { errors_only: false }),
            "ERRORS" => Some(DiagQuery::Count { errors_only: true }),
            _ => None,
        };
    }
    let (errors_only, tail) = if let Some(t) = rest.strip_prefix("WARNINGS") {
        (false, t)
    } else if let Some(t) = rest.strip_prefix("ERRORS") {
        (true, t)
    } else {
        return None;
    };
    let tail = tail.trim();
    if tail.is_empty() {
        return Some(DiagQuery::List {
            errors_only,
            offset: 0,
            limit: None,
        });
    }
    let args = tail.strip_prefix("LIMIT ")?;
    let nums: Vec<u64> = args
        .split(',')
        .map(|n| n.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .ok()?;
    let (offset, limit) = match nums.as_slice() {
        [n] => (0, *n),
        [o, n] => (*o, *n),
        _ => return None,
    };
    Some(DiagQuery::List {
        errors_only,
        offset,
        limit: Some(limit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_diagnostics_statements() {
        assert_eq!(
            parse("show warnings"),
            Some(DiagQuery::List {
                errors_only: false,
                offset: 0,
                limit: None
            })
        );
        assert_eq!(
            parse("SHOW  ERRORS LIMIT 1, 2;"),
            Some(DiagQuery::List {
                errors_only: true,
                offset: 1,
                limit: Some(2)
            })
        );
        assert_eq!(
            parse("SHOW COUNT(*) WARNINGS"),
            Some(DiagQuery::Count { errors_only: false })
        );
        assert_eq!(parse("SHOW WARNINGS LIMIT x"), None);
        assert_eq!(parse("SHOW VARIABLES"), None);
    }

    #[test]
    fn keeps_and_limits_rows() {
        let mut d = Diagnostics::default();
        let w = |c| DiagRow {
            level: Level::Warning,
            code: c,
            message: format!("w{c}"),
        };
        d.set(
            vec![
                w(1),
                w(2),
                DiagRow {
                    level: Level::Error,
                    code: 1146,
                    message: "e".into(),
                },
            ],
            3,
        );
        assert_eq!(d.warning_count(), 3);
        assert_eq!(d.error_count(), 1);
        let DiagAnswer::Rows(r) = d.answer(DiagQuery::List {
            errors_only: false,
            offset: 1,
            limit: Some(1),
        }) else {
            panic!("rows")
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0][1], Value::UInt(2));
        let DiagAnswer::Rows(r) = d.answer(DiagQuery::List {
            errors_only: true,
            offset: 0,
            limit: None,
        }) else {
            panic!("rows")
        };
        assert_eq!(r[0][1], Value::UInt(1146));
    }
}
