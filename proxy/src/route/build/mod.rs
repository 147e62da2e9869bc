//! From a parsed statement to a parameterised [`Plan`]: classification
//! here, then one module per statement kind (`select` for scatter/merge
//! planning, `insert`, `session` for SET/SHOW, `ddl`) on top of `scope`
//! (table resolution, shard-key conditions, co-location checks); `flags`
//! reads the facts a plan carries to the executor.

mod ddl;
mod flags;
mod insert;
mod scope;
mod select;
mod session;

use ddl::*;
use flags::*;
use insert::*;
use scope::*;
use select::*;
use session::*;

use std::collections::HashSet;
use std::sync::Arc;

use super::error::RouteError;
use super::keys::{Cond, Layout, Operand};
use super::lexer::{
    planning_mode, string_value, Scanned, Template, EXCLUDE_MARK, EXCLUDE_WHERE_MARK, LIMIT_MARK,
    ROWS_MARK, SEQ_MARK, TABLE_MARK,
};
use super::names;
use super::plan::*;
use crate::merge::{AggFunc, Aggregate, BinaryOp, MergeSpec, SortKey};
use crate::rules::{GlobalIndex, KeyValue, Schema, TableRule};
use mysql_common::value::Value;
use sqlparser::ast::{
    self, Assignment, AssignmentTarget, Distinct, DuplicateTreatment, Expr, FromTable, FunctionArg,
    FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, JoinConstraint, JoinOperator,
    LimitClause, ObjectName, ObjectNamePart, OnInsert, OrderBy, OrderByExpr, OrderByKind,
    OrderByOptions, Query, Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor,
    TableObject, TableWithJoins, UnaryOperator, Value as SqlValue,
};

/// First words of statements that go to a pass-through plan when the parser
/// cannot read them (session and administration statements).
pub const PASS_THROUGH_PREFIXES: &[&str] = &[
    "SET",
    "SHOW",
    "USE",
    "KILL",
    "FLUSH",
    "ANALYZE",
    "OPTIMIZE",
    "CHECK",
    "CHECKSUM",
    "REPAIR",
    "HANDLER",
    "DO",
    "XA",
    "LOCK",
    "UNLOCK",
    "RESET",
    "HELP",
    "BINLOG",
    "CACHE",
    "DESCRIBE",
    "DESC",
    "GRANT",
    "REVOKE",
    "PURGE",
    "INSTALL",
    "UNINSTALL",
];

const INFO_SCHEMAS: &[&str] = &["information_schema", "mysql", "performance_schema", "sys"];

fn ident(s: &str) -> Ident {
    Ident::new(s)
}

fn marker(slot: usize) -> ObjectName {
    ObjectName(vec![ObjectNamePart::Identifier(ident(&format!(
        "{TABLE_MARK}{slot}"
    )))])
}

fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Parses one statement under the sql_mode of the statement being planned.
pub(crate) fn parse_one(sql: &str) -> Result<Statement, RouteError> {
    let mut v = super::dialect::parse_statements(sql, planning_mode())
        .map_err(|e| RouteError::Syntax(format!("{e} in '{}'", truncate(sql, 200))))?;
    match v.len() {
        1 => Ok(v.pop().expect("len 1")),
        0 => Err(RouteError::Syntax("empty statement".into())),
        _ => Err(RouteError::not_supported(
            "multiple statements in one query",
            "send one statement at a time",
        )),
    }
}

pub(crate) fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Build the plan of one scanned statement (under the sql_mode it was read in).
pub(crate) fn build(schema: &Schema, sc: &Scanned) -> Result<Plan, RouteError> {
    let mut plan = super::lexer::with_sql_mode(sc.sql_mode, || build_scanned(schema, sc))?;
    plan.flags.session_values = sc.session_values;
    Ok(plan)
}

fn build_scanned(schema: &Schema, sc: &Scanned) -> Result<Plan, RouteError> {
    let numbered = sc.text.trim().trim_end_matches(';').trim();
    // statements passed on as text carry plain `?` placeholders
    let plain = unnumber(numbered);
    let text = plain.as_str();
    let fixed = |kind: StmtKind, r: Routed| Plan {
        kind,
        params: sc.params,
        hint: sc.hint,
        flags: StmtFlags::default(),
        body: Body::Fixed(Box::new(r)),
    };
    let first = sc.first_word.as_str();
    if first == "SHOW" {
        let r = show(text)?;
        return Ok(fixed(r.kind(), r));
    }
    if matches!(first, "DESCRIBE" | "DESC") {
        let r = describe(text)?;
        return Ok(fixed(r.kind(), r));
    }
    if first == "SELECT" && mentions_info_schema(text) {
        return Ok(Plan {
            kind: StmtKind::Metadata,
            params: sc.params,
            hint: sc.hint,
            flags: StmtFlags::default(),
            body: Body::Catalog(Template::from_rendered(numbered)),
        });
    }
    let upper = text.to_ascii_uppercase();
    if first == "SET" {
        let rest = upper
            .strip_prefix("SET CHARACTER SET ")
            .or_else(|| upper.strip_prefix("SET CHARSET "));
        if let Some(rest) = rest {
            let cs = text[text.len() - rest.len()..].trim();
            return Ok(fixed(
                StmtKind::Session,
                Routed::Session(SessionCommand::SetNames {
                    charset: cs
                        .trim_matches(|c| c == '\'' || c == '"' || c == '`')
                        .to_string(),
                    collation: None,
                }),
            ));
        }
    }
    if let Some(cmd) = table_lock_command(schema, &upper, text)? {
        return Ok(fixed(StmtKind::Session, Routed::Session(cmd)));
    }
    if upper.starts_with("START TRANSACTION") || upper == "BEGIN WORK" {
        return Ok(fixed(
            StmtKind::Session,
            Routed::Session(SessionCommand::Begin {
                read_only: upper.contains("READ ONLY"),
            }),
        ));
    }
    let stmt = match parse_one(numbered) {
        Ok(s) => s,
        Err(e @ RouteError::Syntax(_)) => {
            if PASS_THROUGH_PREFIXES.contains(&first) {
                return Ok(fixed(
                    StmtKind::PassThrough,
                    Routed::PassThrough {
                        sql: text.to_string(),
                    },
                ));
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    build_stmt(schema, sc, stmt, text)
}

/// `?1`, `?2`... back to `?` (outside quotes).
fn unnumber(text: &str) -> String {
    if !text.contains('?') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for p in Template::from_rendered(text).0 {
        match p {
            super::lexer::Piece::Text(t) => out.push_str(&t),
            super::lexer::Piece::Param(_) => out.push('?'),
            super::lexer::Piece::Table(n) => out.push_str(&format!("{TABLE_MARK}{n}")),
            super::lexer::Piece::LimitSum => out.push_str(LIMIT_MARK),
            super::lexer::Piece::Rows => out.push_str(ROWS_MARK),
            super::lexer::Piece::SeqId => out.push_str(SEQ_MARK),
            // only templates built with names have them
            super::lexer::Piece::Name(_) => {}
            super::lexer::Piece::ExcludeOpen => out.push_str(&format!("{EXCLUDE_MARK}(")),
            super::lexer::Piece::ExcludeClose => out.push(')'),
            super::lexer::Piece::ExcludeWhere => {
                out.push_str(&format!(" WHERE {EXCLUDE_WHERE_MARK}"))
            }
        }
    }
    out
}

/// Does the statement name a table of a system schema (`information_schema.x`,
/// `` `mysql`.x ``...)? Cheap: the hot path calls it for every text query.
pub(crate) fn mentions_info_schema(text: &str) -> bool {
    if !text.contains('.') {
        return false;
    }
    let b = text.as_bytes();
    INFO_SCHEMAS.iter().any(|name| {
        let n = name.len();
        (0..b.len()).any(|i| {
            let (start, quoted) = if b[i] == b'`' {
                (i + 1, true)
            } else {
                (i, false)
            };
            let end = start + n;
            if end > b.len() || !b[start..end].eq_ignore_ascii_case(name.as_bytes()) {
                return false;
            }
            let before_ok = quoted
                || i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'$');
            let after = if quoted {
                b.get(end) == Some(&b'`')
            } else {
                true
            };
            let dot_at = if quoted { end + 1 } else { end };
            before_ok && after && b.get(dot_at) == Some(&b'.')
        })
    })
}

fn build_stmt(
    schema: &Schema,
    sc: &Scanned,
    stmt: Statement,
    text: &str,
) -> Result<Plan, RouteError> {
    let fixed = |kind: StmtKind, r: Routed| {
        Ok(Plan {
            kind,
            params: sc.params,
            hint: sc.hint,
            flags: StmtFlags::default(),
            body: Body::Fixed(Box::new(r)),
        })
    };
    let session = |c: SessionCommand| fixed(StmtKind::Session, Routed::Session(c));
    match stmt {
        Statement::Query(q) => {
            let mut b = Builder::new(schema, StmtKind::Select);
            let mut q = *q;
            let flags = query_flags(&q);
            b.walk_query(&mut q, 0)?;
            let names = names::item_names(&q, &sc.text);
            if b.slots.is_empty() {
                let t = names::render(&q, &names);
                return Ok(Plan {
                    kind: StmtKind::NoTable,
                    params: sc.params,
                    hint: sc.hint,
                    flags,
                    body: Body::NoTable(t),
                });
            }
            let placement = b.placement()?;
            if let SetExpr::Select(s) = q.body.as_mut() {
                mark_exclusion(&mut b, &placement, &mut s.selection);
            }
            let single = names::render(&q, &names);
            let scatter = match &placement {
                Placement::Sharded { sub, .. } if sub.is_empty() => Some(scatter(&b, q, &names)),
                Placement::Sharded { .. } => Some(Err(RouteError::not_supported(
                    "a subquery, derived table or UNION on sharded tables across several shards",
                    "add shard-key conditions so that every table routes to the same single shard",
                ))),
                _ => None,
            };
            let mut plan = b.finish(sc, placement, single, scatter, None);
            plan.flags = flags;
            Ok(plan)
        }
        Statement::Insert(ins) => build_insert(schema, sc, ins),
        Statement::Update(mut u) => {
            let mut b = Builder::new(schema, StmtKind::Update);
            b.walk_twj(&mut u.table, 0, true)?;
            if let Some(from) = &mut u.from {
                let list = match from {
                    ast::UpdateTableFromKind::BeforeSet(v)
                    | ast::UpdateTableFromKind::AfterSet(v) => v,
                };
                for t in list {
                    b.walk_twj(t, 0, true)?;
                }
            }
            let mut written = Vec::new();
            for a in &mut u.assignments {
                b.check_assignment(a)?;
                written.extend(b.assigned_slots(a));
                b.walk_expr(&mut a.value, 0)?;
            }
            b.check_broadcast_writes(&written)?;
            if let Some(w) = &mut u.selection {
                let c = b.extract(w, 0);
                b.conds.push(c);
                b.walk_expr(w, 0)?;
            }
            let multi = (!u.order_by.is_empty() || u.limit.is_some()).then(|| {
                RouteError::not_supported(
                    "UPDATE with ORDER BY or LIMIT on several shards",
                    "add a shard-key condition so the UPDATE reaches one shard",
                )
            });
            let placement = b.placement()?;
            mark_exclusion(&mut b, &placement, &mut u.selection);
            let single = Template::from_rendered(&Statement::Update(u).to_string());
            Ok(b.finish(sc, placement, single, None, multi))
        }
        Statement::Delete(mut d) => {
            let mut b = Builder::new(schema, StmtKind::Delete);
            b.no_alias = true;
            let from = match &mut d.from {
                FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
            };
            for t in from.iter_mut() {
                b.walk_twj(t, 0, true)?;
            }
            if let Some(using) = &mut d.using {
                for t in using {
                    b.walk_twj(t, 0, true)?;
                }
            }
            let mut deleted = Vec::new();
            for name in &mut d.tables {
                // multi-table DELETE names: aliases stay, table names become markers
                let parts = name_parts(name);
                if let Some(last) = parts.last() {
                    if let Some(i) = b.slot_by_bare_name(last) {
                        deleted.push(i);
                        if !b.aliased[i] {
                            *name = marker(i);
                        }
                    }
                }
            }
            if d.tables.is_empty() {
                deleted.extend(0..b.slots.len().min(1));
            }
            b.check_broadcast_writes(&deleted)?;
            if let Some(w) = &mut d.selection {
                let c = b.extract(w, 0);
                b.conds.push(c);
                b.walk_expr(w, 0)?;
            }
            let multi = (!d.order_by.is_empty() || d.limit.is_some()).then(|| {
                RouteError::not_supported(
                    "DELETE with ORDER BY or LIMIT on several shards",
                    "add a shard-key condition so the DELETE reaches one shard",
                )
            });
            let placement = b.placement()?;
            mark_exclusion(&mut b, &placement, &mut d.selection);
            let single = Template::from_rendered(&Statement::Delete(d).to_string());
            Ok(b.finish(sc, placement, single, None, multi))
        }
        Statement::CreateTable(mut ct) => {
            let table = last_name(&ct.name);
            if ct.query.is_some() || ct.like.is_some() || ct.clone.is_some() {
                return Err(RouteError::not_supported(
                    "CREATE TABLE ... SELECT / LIKE through the proxy",
                    "create the table with an explicit column list",
                ));
            }
            ddl(schema, &table, |phys| {
                ct.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
                    '`', phys,
                ))]);
                Statement::CreateTable(ct.clone()).to_string()
            })
            .and_then(|r| fixed(StmtKind::Ddl, r))
        }
        Statement::CreateIndex(mut ci) => {
            let table = last_name(&ci.table_name);
            ddl(schema, &table, |phys| {
                ci.table_name = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
                    '`', phys,
                ))]);
                Statement::CreateIndex(ci.clone()).to_string()
            })
            .and_then(|r| fixed(StmtKind::Ddl, r))
        }
        Statement::AlterTable(mut at) => {
            let table = last_name(&at.name);
            ddl(schema, &table, |phys| {
                at.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
                    '`', phys,
                ))]);
                Statement::AlterTable(at.clone()).to_string()
            })
            .and_then(|r| fixed(StmtKind::Ddl, r))
        }
        Statement::Truncate(mut t) => {
            if t.table_names.len() != 1 {
                return Err(RouteError::not_supported(
                    "TRUNCATE of several tables at once",
                    "truncate one table per statement",
                ));
            }
            let table = last_name(&t.table_names[0].name);
            ddl(schema, &table, |phys| {
                t.table_names[0].name = ObjectName(vec![ObjectNamePart::Identifier(
                    Ident::with_quote('`', phys),
                )]);
                Statement::Truncate(t.clone()).to_string()
            })
            .and_then(|r| fixed(StmtKind::Ddl, r))
        }
        Statement::Drop {
            object_type,
            if_exists,
            names,
            table,
            temporary,
            ..
        } => match object_type {
            ast::ObjectType::Table => {
                if names.len() != 1 {
                    return Err(RouteError::not_supported(
                        "DROP TABLE of several tables at once",
                        "drop one table per statement",
                    ));
                }
                let tname = last_name(&names[0]);
                let ie = if if_exists { "IF EXISTS " } else { "" };
                let tmp = if temporary { "TEMPORARY " } else { "" };
                ddl(schema, &tname, |phys| {
                    format!("DROP {tmp}TABLE {ie}{}", super::quote_ident(phys))
                })
                .and_then(|r| fixed(StmtKind::Ddl, r))
            }
            ast::ObjectType::Index => {
                let (Some(tn), 1) = (table, names.len()) else {
                    return Err(RouteError::not_supported(
                        "DROP INDEX without ON <table>",
                        "write DROP INDEX name ON table",
                    ));
                };
                let iname = names[0].to_string();
                let tname = last_name(&tn);
                ddl(schema, &tname, |phys| {
                    format!("DROP INDEX {iname} ON {}", super::quote_ident(phys))
                })
                .and_then(|r| fixed(StmtKind::Ddl, r))
            }
            other => Err(RouteError::not_supported(
                format!("DROP {other}"),
                "only tables and indexes are managed through the proxy",
            )),
        },
        Statement::Set(set) => session(set_command(set, text)),
        Statement::Use(u) => {
            let name = match u {
                ast::Use::Object(n)
                | ast::Use::Database(n)
                | ast::Use::Schema(n)
                | ast::Use::Catalog(n) => last_name(&n),
                _ => return Err(RouteError::Syntax(format!("cannot use '{text}'"))),
            };
            session(SessionCommand::Use(name))
        }
        Statement::StartTransaction { modes, .. } => session(SessionCommand::Begin {
            read_only: modes.iter().any(|m| {
                matches!(
                    m,
                    ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadOnly)
                )
            }),
        }),
        Statement::Commit { .. } => session(SessionCommand::Commit),
        Statement::Rollback { savepoint, .. } => session(match savepoint {
            Some(s) => SessionCommand::RollbackToSavepoint(s.value),
            None => SessionCommand::Rollback,
        }),
        Statement::Savepoint { name } => session(SessionCommand::Savepoint(name.value)),
        Statement::ReleaseSavepoint { name } => {
            session(SessionCommand::ReleaseSavepoint(name.value))
        }
        Statement::Explain { statement, .. } => {
            let inner_text = statement.to_string();
            let inner = build_stmt(schema, sc, *statement, &inner_text)?;
            Ok(Plan {
                kind: StmtKind::Explain,
                params: sc.params,
                hint: sc.hint,
                flags: StmtFlags::default(),
                body: Body::Explain(Arc::new(inner)),
            })
        }
        Statement::ExplainTable { table_name, .. } => {
            let mut parts = name_parts(&table_name);
            let table = parts.pop().unwrap_or_default();
            fixed(
                StmtKind::Metadata,
                Routed::Metadata(Metadata::Table {
                    db: parts.pop(),
                    table,
                    show: TableShow::Listing {
                        head: "SHOW COLUMNS".into(),
                        tail: String::new(),
                    },
                }),
            )
        }
        Statement::Kill { .. } => fixed(
            StmtKind::PassThrough,
            Routed::PassThrough {
                sql: text.to_string(),
            },
        ),
        other => {
            let word = other.to_string();
            let word = word
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if PASS_THROUGH_PREFIXES.contains(&word.as_str()) {
                return fixed(
                    StmtKind::PassThrough,
                    Routed::PassThrough {
                        sql: text.to_string(),
                    },
                );
            }
            Err(RouteError::Unsupported(format!(
                "'{}' (haoka routes SELECT, INSERT, REPLACE, UPDATE, DELETE, table DDL, SET, USE, SHOW and transaction statements)",
                truncate(text, 80)
            )))
        }
    }
}

/// Marks where a target's exclusion of stale rows goes (see
/// `Piece::ExcludeOpen`): around the WHERE condition (`__hk_xw(<cond>)`),
/// or as the WHERE of a statement without one. Only statements on
/// province-sharded tables get it; rendered for a target on a shard without
/// stale rows, the marks are nothing and the SQL is what it was without
/// them.
fn mark_exclusion(b: &mut Builder, placement: &Placement, selection: &mut Option<Expr>) {
    let slots = b.excluded_slots(placement);
    if slots.is_empty() {
        return;
    }
    *selection = Some(match selection.take() {
        Some(w) => Expr::Function(ast::Function {
            name: ObjectName(vec![ObjectNamePart::Identifier(ident(EXCLUDE_MARK))]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(w))],
                clauses: Vec::new(),
            }),
            within_group: Vec::new(),
            filter: None,
            null_treatment: None,
            over: None,
        }),
        None => Expr::Identifier(ident(EXCLUDE_WHERE_MARK)),
    });
    b.exclude = slots;
}

fn last_name(n: &ObjectName) -> String {
    name_parts(n).pop().unwrap_or_default()
}

fn no_such_table(schema: &Schema, table: &str) -> RouteError {
    RouteError::NoSuchTable {
        schema: schema.name.clone(),
        table: table.to_string(),
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_string())
        .collect()
}
