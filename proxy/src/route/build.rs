//! From a parsed statement to a parameterised [`Plan`]: classification,
//! table resolution, shard-key conditions, co-location checks, rewrite to
//! templates and scatter/merge planning.

use std::collections::HashSet;
use std::sync::Arc;

use super::error::RouteError;
use super::keys::{Cond, Layout, Operand};
use super::lexer::{
    planning_mode, string_value, Scanned, Template, LIMIT_MARK, ROWS_MARK, SEQ_MARK, TABLE_MARK,
};
use super::names;
use super::plan::*;
use crate::merge::{AggFunc, Aggregate, BinaryOp, MergeSpec, SortKey};
use crate::rules::{GlobalIndex, KeyValue, Place, Schema, TableRule};
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
    super::lexer::with_sql_mode(sc.sql_mode, || build_scanned(schema, sc))
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

/// LOCK TABLES / UNLOCK TABLES and `ALTER TABLE t DISABLE | ENABLE KEYS`,
/// which a dump and its restore send (see [`SessionCommand::LockTables`]).
fn table_lock_command(
    schema: &Schema,
    upper: &str,
    text: &str,
) -> Result<Option<SessionCommand>, RouteError> {
    let starts = |p: &str| {
        upper.starts_with(p)
            && upper[p.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == 'S')
    };
    if starts("LOCK TABLE") {
        return Ok(Some(SessionCommand::LockTables));
    }
    if starts("UNLOCK TABLE") {
        return Ok(Some(SessionCommand::UnlockTables));
    }
    let toggles_keys = upper.ends_with(" DISABLE KEYS") || upper.ends_with(" ENABLE KEYS");
    if upper.starts_with("ALTER TABLE ") && toggles_keys {
        let w = words(text);
        if w.len() == 5 {
            let table = w[2].rsplit('.').next().unwrap_or("").trim_matches('`');
            if schema.table(table).is_none() {
                return Err(no_such_table(schema, table));
            }
            return Ok(Some(SessionCommand::KeysToggle));
        }
    }
    Ok(None)
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
            body: Body::Fixed(Box::new(r)),
        })
    };
    let session = |c: SessionCommand| fixed(StmtKind::Session, Routed::Session(c));
    match stmt {
        Statement::Query(q) => {
            let mut b = Builder::new(schema, StmtKind::Select);
            let mut q = *q;
            b.walk_query(&mut q, 0)?;
            let names = names::item_names(&q, &sc.text);
            if b.slots.is_empty() {
                let t = names::render(&q, &names);
                return Ok(Plan {
                    kind: StmtKind::NoTable,
                    params: sc.params,
                    hint: sc.hint,
                    body: Body::NoTable(t),
                });
            }
            let placement = b.placement()?;
            let single = names::render(&q, &names);
            let scatter = match &placement {
                Placement::Sharded { sub, .. } if sub.is_empty() => Some(scatter(&b, q, &names)),
                Placement::Sharded { .. } => Some(Err(RouteError::not_supported(
                    "a subquery, derived table or UNION on sharded tables across several shards",
                    "add shard-key conditions so that every table routes to the same single shard",
                ))),
                _ => None,
            };
            Ok(b.finish(sc, placement, single, scatter, None))
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
                    format!("DROP {tmp}TABLE {ie}`{phys}`")
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
                    format!("DROP INDEX {iname} ON `{phys}`")
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

fn last_name(n: &ObjectName) -> String {
    name_parts(n).pop().unwrap_or_default()
}

fn ddl(
    schema: &Schema,
    table: &str,
    mut render: impl FnMut(&str) -> String,
) -> Result<Routed, RouteError> {
    let phys = schema
        .physical_tables(table)
        .ok_or_else(|| no_such_table(schema, table))?;
    let targets = phys
        .into_iter()
        .map(|(place, name)| Target {
            place,
            sql: render(&name),
            prepared: None,
        })
        .collect();
    Ok(Routed::Shards(ShardPlan {
        kind: StmtKind::Ddl,
        targets,
        merge: None,
        broadcast: true,
        any_copy: false,
        rows: Vec::new(),
        ids: Vec::new(),
        index_move: false,
    }))
}

fn no_such_table(schema: &Schema, table: &str) -> RouteError {
    RouteError::NoSuchTable {
        schema: schema.name.clone(),
        table: table.to_string(),
    }
}

fn set_command(set: ast::Set, text: &str) -> SessionCommand {
    match set {
        ast::Set::SetNames {
            charset_name,
            collation_name,
        } => SessionCommand::SetNames {
            charset: charset_name.value,
            collation: collation_name,
        },
        ast::Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = last_name(&variable);
            if name.eq_ignore_ascii_case("autocommit") && values.len() == 1 {
                let v = values[0].to_string().to_ascii_lowercase();
                let v = v.trim_matches('\'');
                match v {
                    "1" | "on" | "true" => return SessionCommand::SetAutocommit(true),
                    "0" | "off" | "false" => return SessionCommand::SetAutocommit(false),
                    _ => {}
                }
            }
            SessionCommand::Set {
                sql: text.to_string(),
                variables: vec![name],
            }
        }
        ast::Set::MultipleAssignments { assignments } => SessionCommand::Set {
            sql: text.to_string(),
            variables: assignments.iter().map(|a| last_name(&a.name)).collect(),
        },
        _ => {
            let upper = text.to_ascii_uppercase();
            if let Some(rest) = upper
                .strip_prefix("SET CHARACTER SET ")
                .or_else(|| upper.strip_prefix("SET CHARSET "))
            {
                return SessionCommand::SetNames {
                    charset: rest.trim().trim_matches('\'').to_ascii_lowercase(),
                    collation: None,
                };
            }
            SessionCommand::Set {
                sql: text.to_string(),
                variables: Vec::new(),
            }
        }
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_string())
        .collect()
}

fn show(text: &str) -> Result<Routed, RouteError> {
    let w = words(text);
    let up: Vec<String> = w.iter().map(|x| x.to_ascii_uppercase()).collect();
    let at = |i: usize| up.get(i).map(|s| s.as_str()).unwrap_or("");
    if at(1) == "HAOKA" {
        return match at(2) {
            "SHARDS" => Ok(Routed::Haoka(HaokaShow::Shards)),
            "RULES" => Ok(Routed::Haoka(HaokaShow::Rules)),
            "STATUS" => Ok(Routed::Haoka(HaokaShow::Status)),
            other => Err(RouteError::Syntax(format!(
                "unknown SHOW HAOKA {other}: expected SHARDS, RULES or STATUS"
            ))),
        };
    }
    if let Some(m) = super::show::parse_show(text) {
        return m.map(Routed::Metadata);
    }
    Ok(Routed::Metadata(Metadata::AnyShard {
        sql: text.to_string(),
    }))
}

fn describe(text: &str) -> Result<Routed, RouteError> {
    super::show::parse_describe(text).map(Routed::Metadata)
}

// ---------------------------------------------------------------------------

struct Builder<'a> {
    schema: &'a Schema,
    kind: StmtKind,
    slots: Vec<Slot>,
    /// (slot, alias-or-name as written, scope)
    names: Vec<(usize, String, usize)>,
    ctes: Vec<String>,
    conds: Vec<Cond>,
    /// equalities between columns of two slots: (slot, col, slot, col)
    joins: Vec<(usize, String, usize, String)>,
    next_scope: usize,
    no_alias: bool,
    /// Per slot: was the table given an alias in the statement?
    aliased: Vec<bool>,
    /// Column names used at the top level where no select alias can stand
    /// (select list, WHERE, ON), lower case.
    columns: HashSet<String>,
    /// Collecting into `columns` (while walking those clauses).
    collect_columns: bool,
}

impl<'a> Builder<'a> {
    fn new(schema: &'a Schema, kind: StmtKind) -> Self {
        Builder {
            schema,
            kind,
            slots: Vec::new(),
            names: Vec::new(),
            ctes: Vec::new(),
            conds: Vec::new(),
            joins: Vec::new(),
            next_scope: 1,
            no_alias: false,
            aliased: Vec::new(),
            columns: HashSet::new(),
            collect_columns: false,
        }
    }

    /// Does `e` name the shard-key column of a top-level sharded table that
    /// is not split, so that rows with one value of `e` live on one shard?
    fn names_shard_key(&self, e: &Expr) -> bool {
        let (qual, col) = match e {
            Expr::Nested(x) => return self.names_shard_key(x),
            Expr::Identifier(i) => (None, &i.value),
            Expr::CompoundIdentifier(v) if v.len() >= 2 => {
                (Some(&v[v.len() - 2].value), &v[v.len() - 1].value)
            }
            _ => return false,
        };
        let top: Vec<usize> = self
            .names
            .iter()
            .filter(|(slot, n, scope)| {
                *scope == 0
                    && matches!(self.slots[*slot].rule, SlotRule::Sharded(_))
                    && qual.is_none_or(|q| n.eq_ignore_ascii_case(q))
            })
            .map(|(slot, _, _)| *slot)
            .collect();
        // an unqualified name is only sure with one table
        if qual.is_none() && top.len() != 1 {
            return false;
        }
        top.iter().any(|&slot| match &self.slots[slot].rule {
            SlotRule::Sharded(t) => {
                t.split_by.is_none() && t.shard_by.column.eq_ignore_ascii_case(col)
            }
            _ => false,
        })
    }

    fn new_scope(&mut self) -> usize {
        self.next_scope += 1;
        self.next_scope - 1
    }

    fn layout(&self, slot: usize) -> Option<Layout<'_>> {
        match &self.slots[slot].rule {
            SlotRule::Sharded(t) => Some(Layout {
                table: t,
                shards: self.schema.shards.len(),
            }),
            _ => None,
        }
    }

    /// The global index keyed on `column` of slot `slot`'s table.
    fn indexed(&self, slot: usize, column: &str) -> Option<&'a GlobalIndex> {
        let name = &self.slots[slot].name;
        self.schema
            .global_indexes
            .iter()
            .find(|g| g.table == *name && g.column == column)
    }

    fn slot_by_bare_name(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(s, _, _)| *s)
    }

    /// Resolve a table reference, rename it to its slot marker.
    fn table(
        &mut self,
        name: &mut ObjectName,
        alias: &mut Option<TableAlias>,
        scope: usize,
    ) -> Result<(), RouteError> {
        let parts = name_parts(name);
        let Some(tname) = parts.last().cloned() else {
            return Ok(());
        };
        if parts.len() == 1
            && (tname.eq_ignore_ascii_case("dual")
                || self.ctes.iter().any(|c| c.eq_ignore_ascii_case(&tname)))
        {
            return Ok(());
        }
        if parts.len() >= 2 {
            let db = &parts[parts.len() - 2];
            if !db.eq_ignore_ascii_case(&self.schema.name) {
                return Err(RouteError::not_supported(
                    format!("a table of another database ({db}.{tname})"),
                    format!(
                        "this connection's schema is {}; use one schema per statement",
                        self.schema.name
                    ),
                ));
            }
        }
        let rule = self
            .schema
            .table(&tname)
            .ok_or_else(|| no_such_table(self.schema, &tname))?;
        let lower = tname.to_ascii_lowercase();
        let rule = match rule {
            TableRule::Sharded(t) => SlotRule::Sharded(t.clone()),
            TableRule::Broadcast => SlotRule::Broadcast,
            TableRule::Global => SlotRule::Global,
        };
        let split = matches!(&rule, SlotRule::Sharded(t) if t.split_by.is_some());
        let slot = self.slots.len();
        self.slots.push(Slot {
            name: lower.clone(),
            rule,
            scope,
        });
        let written = match alias {
            Some(a) => a.name.value.clone(),
            None => tname.clone(),
        };
        self.aliased.push(alias.is_some());
        self.names.push((slot, written, scope));
        if alias.is_none() && !self.no_alias && (split || lower != tname) {
            *alias = Some(TableAlias {
                explicit: true,
                name: match name.0.last() {
                    Some(ObjectNamePart::Identifier(i)) => i.clone(),
                    _ => ident(&tname),
                },
                columns: Vec::new(),
                at: None,
            });
        }
        *name = marker(slot);
        Ok(())
    }

    fn walk_query(&mut self, q: &mut Query, scope: usize) -> Result<(), RouteError> {
        if let Some(with) = &mut q.with {
            for cte in &mut with.cte_tables {
                self.ctes.push(cte.alias.name.value.clone());
                let s = self.new_scope();
                self.walk_query(&mut cte.query, s)?;
            }
        }
        self.walk_set_expr(&mut q.body, scope)?;
        if let Some(OrderBy {
            kind: OrderByKind::Expressions(list),
            ..
        }) = &mut q.order_by
        {
            for o in list {
                self.walk_expr(&mut o.expr, scope)?;
            }
        }
        Ok(())
    }

    fn walk_set_expr(&mut self, e: &mut SetExpr, scope: usize) -> Result<(), RouteError> {
        match e {
            SetExpr::Select(s) => self.walk_select(s, scope),
            SetExpr::Query(q) => self.walk_query(q, scope),
            SetExpr::SetOperation { left, right, .. } => {
                let l = self.new_scope();
                self.walk_set_expr(left, l)?;
                let r = self.new_scope();
                self.walk_set_expr(right, r)
            }
            SetExpr::Values(v) => {
                for row in &mut v.rows {
                    for x in &mut row.content {
                        self.walk_expr(x, scope)?;
                    }
                }
                Ok(())
            }
            other => Err(RouteError::not_supported(
                format!("'{}'", truncate(&other.to_string(), 60)),
                "this query form is not routed by haoka",
            )),
        }
    }

    fn walk_select(&mut self, s: &mut Select, scope: usize) -> Result<(), RouteError> {
        if s.into.is_some() {
            return Err(RouteError::not_supported(
                "SELECT ... INTO",
                "select the rows and write them with INSERT",
            ));
        }
        let outer = std::mem::replace(&mut self.collect_columns, scope == 0);
        for twj in &mut s.from {
            self.walk_twj(twj, scope, true)?;
        }
        if let Some(w) = &mut s.selection {
            let c = self.extract(w, scope);
            self.conds.push(c);
            self.walk_expr(w, scope)?;
        }
        for item in &mut s.projection {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    self.walk_expr(e, scope)?
                }
                _ => {}
            }
        }
        self.collect_columns = outer;
        if let GroupByExpr::Expressions(list, _) = &mut s.group_by {
            for e in list {
                self.walk_expr(e, scope)?;
            }
        }
        if let Some(h) = &mut s.having {
            self.walk_expr(h, scope)?;
        }
        Ok(())
    }

    fn walk_twj(
        &mut self,
        twj: &mut TableWithJoins,
        scope: usize,
        use_where: bool,
    ) -> Result<(), RouteError> {
        let first = self.slots.len();
        self.walk_factor(&mut twj.relation, scope)?;
        for j in &mut twj.joins {
            let before = self.slots.len();
            self.walk_factor(&mut j.relation, scope)?;
            let right: Vec<usize> = (before..self.slots.len()).collect();
            let (constraint, inner) = match &mut j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
                    (Some(c), true)
                }
                JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c) => (Some(c), false),
                JoinOperator::StraightJoin(c) => (Some(c), true),
                _ => (None, false),
            };
            match constraint {
                Some(JoinConstraint::On(e)) => {
                    let c = self.extract(e, scope);
                    if inner && use_where {
                        self.conds.push(c);
                    }
                    self.walk_expr(e, scope)?;
                }
                Some(JoinConstraint::Using(cols)) => {
                    for col in cols.iter() {
                        let col = last_name(col).to_ascii_lowercase();
                        for l in first..before {
                            for r in &right {
                                self.joins.push((l, col.clone(), *r, col.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn walk_factor(&mut self, f: &mut TableFactor, scope: usize) -> Result<(), RouteError> {
        match f {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return Err(RouteError::not_supported(
                        "table functions",
                        "haoka routes plain tables only",
                    ));
                }
                self.table(name, alias, scope)
            }
            TableFactor::Derived { subquery, .. } => {
                let s = self.new_scope();
                self.walk_query(subquery, s)
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.walk_twj(table_with_joins, scope, true),
            other => Err(RouteError::not_supported(
                format!("'{}'", truncate(&other.to_string(), 60)),
                "haoka routes plain tables, joins and derived tables",
            )),
        }
    }

    /// Find subqueries inside an expression and walk them.
    #[allow(clippy::only_used_in_recursion)]
    fn walk_expr(&mut self, e: &mut Expr, scope: usize) -> Result<(), RouteError> {
        match e {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => {
                let s = self.new_scope();
                self.walk_query(q, s)
            }
            Expr::In { expr, target, .. } => {
                self.walk_expr(expr, scope)?;
                match target {
                    ast::InTarget::List(l) => {
                        for x in l {
                            self.walk_expr(x, scope)?;
                        }
                        Ok(())
                    }
                    ast::InTarget::Subquery(q) => {
                        let s = self.new_scope();
                        self.walk_query(q, s)
                    }
                    _ => Err(RouteError::not_supported(
                        "this IN form",
                        "use IN (list) or IN (SELECT ...)",
                    )),
                }
            }
            Expr::BinaryOp { left, right, .. } => {
                self.walk_expr(left, scope)?;
                self.walk_expr(right, scope)
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr)
            | Expr::IsNotTrue(expr)
            | Expr::IsNotFalse(expr)
            | Expr::Cast { expr, .. }
            | Expr::Collate { expr, .. } => self.walk_expr(expr, scope),
            Expr::Between {
                expr, low, high, ..
            } => {
                self.walk_expr(expr, scope)?;
                self.walk_expr(low, scope)?;
                self.walk_expr(high, scope)
            }
            Expr::Like { expr, pattern, .. } | Expr::RLike { expr, pattern, .. } => {
                self.walk_expr(expr, scope)?;
                self.walk_expr(pattern, scope)
            }
            Expr::Identifier(i) => {
                if self.collect_columns {
                    self.columns.insert(i.value.to_ascii_lowercase());
                }
                Ok(())
            }
            Expr::CompoundIdentifier(v) => {
                if let Some(i) = v.last().filter(|_| self.collect_columns) {
                    self.columns.insert(i.value.to_ascii_lowercase());
                }
                Ok(())
            }
            Expr::Value(_)
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
            | Expr::Interval(_)
            | Expr::TypedString(_) => Ok(()),
            Expr::Tuple(list) => {
                for x in list {
                    self.walk_expr(x, scope)?;
                }
                Ok(())
            }
            Expr::Function(f) => {
                if let FunctionArguments::List(l) = &mut f.args {
                    for a in &mut l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x))
                        | FunctionArg::Named {
                            arg: FunctionArgExpr::Expr(x),
                            ..
                        } = a
                        {
                            self.walk_expr(x, scope)?;
                        }
                    }
                    Ok(())
                } else if let FunctionArguments::Subquery(_) = &f.args {
                    Err(RouteError::not_supported(
                        "a subquery as a function argument",
                        "rewrite the subquery as a join",
                    ))
                } else {
                    Ok(())
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    self.walk_expr(o, scope)?;
                }
                for w in conditions {
                    self.walk_expr(&mut w.condition, scope)?;
                    self.walk_expr(&mut w.result, scope)?;
                }
                if let Some(e) = else_result {
                    self.walk_expr(e, scope)?;
                }
                Ok(())
            }
            other => {
                let t = other.to_string().to_ascii_uppercase();
                if t.contains("SELECT") {
                    Err(RouteError::not_supported(
                        "a subquery in this position",
                        "rewrite the subquery as a join or a separate query",
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The sharded slots in (or visible from) `scope` a column reference
    /// denotes, with the lower-case column name; only routing columns.
    fn column_slots(&self, e: &Expr, scope: usize) -> Vec<(usize, String)> {
        let (qual, col) = match e {
            Expr::Identifier(i) => (None, i.value.to_ascii_lowercase()),
            Expr::CompoundIdentifier(v) if v.len() >= 2 => (
                Some(v[v.len() - 2].value.clone()),
                v[v.len() - 1].value.to_ascii_lowercase(),
            ),
            Expr::Nested(x) => return self.column_slots(x, scope),
            _ => return Vec::new(),
        };
        let candidates: Vec<usize> = match &qual {
            Some(q) => {
                let in_scope = self
                    .names
                    .iter()
                    .filter(|(_, n, s)| *s == scope && n.eq_ignore_ascii_case(q))
                    .map(|(i, _, _)| *i)
                    .collect::<Vec<_>>();
                if in_scope.is_empty() {
                    self.names
                        .iter()
                        .filter(|(_, n, _)| n.eq_ignore_ascii_case(q))
                        .map(|(i, _, _)| *i)
                        .take(1)
                        .collect()
                } else {
                    in_scope
                }
            }
            None => self
                .names
                .iter()
                .filter(|(_, _, s)| *s == scope)
                .map(|(i, _, _)| *i)
                .collect(),
        };
        candidates
            .into_iter()
            .filter(|&i| {
                self.layout(i).is_some_and(|l| l.is_routing_column(&col))
                    || self.indexed(i, &col).is_some()
            })
            .map(|i| (i, col.clone()))
            .collect()
    }

    fn extract(&mut self, e: &Expr, scope: usize) -> Cond {
        match e {
            Expr::Nested(x) => self.extract(x, scope),
            Expr::BinaryOp { left, op, right } => match op {
                ast::BinaryOperator::And => {
                    let mut v = Vec::new();
                    for side in [left, right] {
                        match self.extract(side, scope) {
                            Cond::And(inner) => v.extend(inner),
                            Cond::True => {}
                            c => v.push(c),
                        }
                    }
                    match v.len() {
                        0 => Cond::True,
                        1 => v.pop().unwrap_or(Cond::True),
                        _ => Cond::And(v),
                    }
                }
                ast::BinaryOperator::Or => {
                    // a join equality under OR does not co-locate rows
                    let joins = self.joins.len();
                    let l = self.extract(left, scope);
                    let r = self.extract(right, scope);
                    self.joins.truncate(joins);
                    if l == Cond::True || r == Cond::True {
                        return Cond::True;
                    }
                    let mut v = Vec::new();
                    for c in [l, r] {
                        match c {
                            Cond::Or(inner) => v.extend(inner),
                            c => v.push(c),
                        }
                    }
                    Cond::Or(v)
                }
                ast::BinaryOperator::Eq => {
                    let lc = self.column_slots(left, scope);
                    let rc = self.column_slots(right, scope);
                    if !lc.is_empty() && !rc.is_empty() {
                        for (a, ac) in &lc {
                            for (b, bc) in &rc {
                                if a != b {
                                    self.joins.push((*a, ac.clone(), *b, bc.clone()));
                                }
                            }
                        }
                        return Cond::True;
                    }
                    let (cols, val) = if !lc.is_empty() {
                        (lc, operand(right))
                    } else {
                        (rc, operand(left))
                    };
                    let Some(val) = val else { return Cond::True };
                    all_of(
                        cols.into_iter()
                            .map(|(slot, column)| Cond::Eq {
                                slot,
                                column,
                                value: val.clone(),
                            })
                            .collect(),
                    )
                }
                ast::BinaryOperator::Lt
                | ast::BinaryOperator::LtEq
                | ast::BinaryOperator::Gt
                | ast::BinaryOperator::GtEq => {
                    let lc = self.column_slots(left, scope);
                    let (cols, val, col_left) = if !lc.is_empty() {
                        (lc, operand(right), true)
                    } else {
                        (self.column_slots(right, scope), operand(left), false)
                    };
                    let Some(val) = val else { return Cond::True };
                    let upper = matches!(op, ast::BinaryOperator::Lt | ast::BinaryOperator::LtEq)
                        == col_left;
                    all_of(
                        cols.into_iter()
                            .map(|(slot, column)| Cond::Range {
                                slot,
                                column,
                                low: (!upper).then(|| val.clone()),
                                high: upper.then(|| val.clone()),
                            })
                            .collect(),
                    )
                }
                _ => Cond::True,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated: false,
                ..
            } => {
                let cols = self.column_slots(expr, scope);
                let vals: Option<Vec<Operand>> = list.iter().map(operand).collect();
                let Some(vals) = vals else { return Cond::True };
                all_of(
                    cols.into_iter()
                        .map(|(slot, column)| Cond::In {
                            slot,
                            column,
                            values: vals.clone(),
                        })
                        .collect(),
                )
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                let cols = self.column_slots(expr, scope);
                let (Some(lo), Some(hi)) = (operand(low), operand(high)) else {
                    return Cond::True;
                };
                all_of(
                    cols.into_iter()
                        .map(|(slot, column)| Cond::Range {
                            slot,
                            column,
                            low: Some(lo.clone()),
                            high: Some(hi.clone()),
                        })
                        .collect(),
                )
            }
            _ => Cond::True,
        }
    }

    /// The scope-0 slots an assignment may write (all of them when the
    /// column is not qualified and several tables are joined).
    fn assigned_slots(&self, a: &Assignment) -> Vec<usize> {
        let targets: Vec<&ObjectName> = match &a.target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(v) => v.iter().collect(),
        };
        let top: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].scope == 0)
            .collect();
        let mut out = Vec::new();
        for n in targets {
            let parts = name_parts(n);
            if parts.len() >= 2 {
                let q = &parts[parts.len() - 2];
                out.extend(
                    self.names
                        .iter()
                        .filter(|(_, w, s)| *s == 0 && w.eq_ignore_ascii_case(q))
                        .map(|(i, _, _)| *i),
                );
            } else {
                out.extend(top.iter().copied());
            }
        }
        out
    }

    /// A broadcast table may only be written together with all its copies:
    /// refuse writes to one while the statement is placed elsewhere.
    fn check_broadcast_writes(&self, written: &[usize]) -> Result<(), RouteError> {
        let only_broadcast = self
            .slots
            .iter()
            .all(|s| matches!(s.rule, SlotRule::Broadcast));
        if only_broadcast {
            return Ok(());
        }
        if let Some(&i) = written.iter().find(|&&i| {
            self.slots
                .get(i)
                .is_some_and(|s| matches!(s.rule, SlotRule::Broadcast))
        }) {
            return Err(RouteError::not_supported(
                format!(
                    "writing broadcast table {} in a statement that also uses non-broadcast tables",
                    self.slots[i].name
                ),
                "write the broadcast table in its own statement (qualify the assigned columns if you meant another table)",
            ));
        }
        Ok(())
    }

    fn check_assignment(&self, a: &Assignment) -> Result<(), RouteError> {
        let targets: Vec<&ObjectName> = match &a.target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(v) => v.iter().collect(),
        };
        for n in targets {
            let parts = name_parts(n);
            let col = parts
                .last()
                .cloned()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let qual = (parts.len() >= 2).then(|| parts[parts.len() - 2].clone());
            for (i, slot) in self.slots.iter().enumerate() {
                if let Some(q) = &qual {
                    if !self
                        .names
                        .iter()
                        .any(|(s, n, _)| *s == i && n.eq_ignore_ascii_case(q))
                    {
                        continue;
                    }
                }
                if let Some(l) = self.layout(i) {
                    if l.is_routing_column(&col) {
                        return Err(RouteError::ShardKeyUpdate {
                            table: slot.name.clone(),
                            column: col,
                        });
                    }
                }
                // A single-table UPDATE of the indexed column is kept in
                // step by the executor (exec/global_index.rs).
                if let Some(g) = self.indexed(i, &col).filter(|_| self.slots.len() > 1) {
                    return Err(RouteError::IndexedColumnUpdate {
                        table: slot.name.clone(),
                        column: col,
                        index: g.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn placement(&self) -> Result<Placement, RouteError> {
        let mut group = Vec::new();
        let mut sub = Vec::new();
        let mut global = None;
        for (i, s) in self.slots.iter().enumerate() {
            match s.rule {
                SlotRule::Sharded(_) if s.scope == 0 => group.push(i),
                SlotRule::Sharded(_) => sub.push(i),
                SlotRule::Global => global = Some(i),
                SlotRule::Broadcast => {}
            }
        }
        // an unsplit subquery table joined on its shard key with a top-level
        // table (a correlated subquery) lives on the same shard as each row:
        // it goes wherever the statement goes
        if !group.is_empty() {
            let sharded = |i: usize| match &self.slots[i].rule {
                SlotRule::Sharded(t) => Some(t.clone()),
                _ => None,
            };
            let mut colocated: Vec<usize> = group.clone();
            loop {
                let before = colocated.len();
                for &s in &sub {
                    if colocated.contains(&s) {
                        continue;
                    }
                    let Some(ts) = sharded(s) else { continue };
                    if ts.split_by.is_some() {
                        continue;
                    }
                    let joined = self.joins.iter().any(|(a, ac, b, bc)| {
                        let (other, oc, sc) = if *a == s {
                            (*b, bc, ac)
                        } else if *b == s {
                            (*a, ac, bc)
                        } else {
                            return false;
                        };
                        colocated.contains(&other)
                            && sharded(other).is_some_and(|to| {
                                *oc == to.shard_by.column
                                    && *sc == ts.shard_by.column
                                    && to.shard_by.algorithm == ts.shard_by.algorithm
                            })
                    });
                    if joined {
                        colocated.push(s);
                    }
                }
                if colocated.len() == before {
                    break;
                }
            }
            sub.retain(|s| !colocated.contains(s));
        }
        if group.is_empty() && sub.is_empty() {
            return Ok(if global.is_some() {
                Placement::Global
            } else {
                Placement::Broadcast
            });
        }
        if let Some(g) = global {
            let sharded = group.first().or(sub.first()).copied().unwrap_or(0);
            return Err(RouteError::CrossShardJoin(format!(
                "{} is a global table (on the global shard) and {} is sharded; query them separately",
                self.slots[g].name, self.slots[sharded].name
            )));
        }
        // co-location of the top-level sharded tables
        if group.len() > 1 {
            let mut parent: Vec<usize> = (0..self.slots.len()).collect();
            fn find(p: &mut [usize], x: usize) -> usize {
                let mut x = x;
                while p[x] != x {
                    p[x] = p[p[x]];
                    x = p[x];
                }
                x
            }
            let table = |i: usize| match &self.slots[i].rule {
                SlotRule::Sharded(t) => Some(t.clone()),
                _ => None,
            };
            for (a, ac, b, bc) in &self.joins {
                let (Some(ta), Some(tb)) = (table(*a), table(*b)) else {
                    continue;
                };
                let shard_eq = *ac == ta.shard_by.column
                    && *bc == tb.shard_by.column
                    && ta.shard_by.algorithm == tb.shard_by.algorithm;
                if shard_eq {
                    let (ra, rb) = (find(&mut parent, *a), find(&mut parent, *b));
                    parent[ra] = rb;
                }
            }
            let root = find(&mut parent, group[0]);
            for &g in &group[1..] {
                if find(&mut parent, g) != root {
                    return Err(RouteError::CrossShardJoin(format!(
                        "sharded tables {} and {} are not joined on their shard keys ({}.{} = {}.{}); join them on the shard key or query them separately",
                        self.slots[group[0]].name,
                        self.slots[g].name,
                        self.slots[group[0]].name,
                        table(group[0]).map(|t| t.shard_by.column.clone()).unwrap_or_default(),
                        self.slots[g].name,
                        table(g).map(|t| t.shard_by.column.clone()).unwrap_or_default(),
                    )));
                }
            }
            let split: Vec<usize> = group
                .iter()
                .copied()
                .filter(|&g| table(g).is_some_and(|t| t.split_by.is_some()))
                .collect();
            if split.len() > 1 {
                for &s in &split[1..] {
                    let (ta, tb) = (table(split[0]), table(s));
                    let (Some(ta), Some(tb)) = (ta, tb) else {
                        continue;
                    };
                    let (sa, sb) = (ta.split_by.as_ref(), tb.split_by.as_ref());
                    let joined = self.joins.iter().any(|(a, ac, b, bc)| {
                        let pair = (*a == split[0] && *b == s) || (*a == s && *b == split[0]);
                        pair && sa.is_some_and(|x| x.column == *ac)
                            && sb.is_some_and(|x| x.column == *bc)
                    });
                    if !joined
                        || sa.map(|x| (&x.algorithm, x.count))
                            != sb.map(|x| (&x.algorithm, x.count))
                    {
                        return Err(RouteError::CrossShardJoin(format!(
                            "split tables {} and {} must also be joined on their split keys",
                            self.slots[split[0]].name, self.slots[s].name
                        )));
                    }
                }
            }
        }
        Ok(Placement::Sharded { group, sub })
    }

    fn finish(
        self,
        sc: &Scanned,
        placement: Placement,
        single: Template,
        scatter: Option<Result<Scatter, RouteError>>,
        multi_write_error: Option<RouteError>,
    ) -> Plan {
        let cond = all_of(self.conds);
        let lookup = match &placement {
            Placement::Sharded { group, sub } if group.len() == 1 && sub.is_empty() => {
                let g = group[0];
                let name = &self.slots[g].name;
                self.schema
                    .global_indexes
                    .iter()
                    .find(|gi| gi.table == *name)
                    .and_then(|gi| {
                        let base = match &self.slots[g].rule {
                            SlotRule::Sharded(t) => t.clone(),
                            _ => return None,
                        };
                        match self.schema.table(&gi.index_table) {
                            Some(TableRule::Sharded(it)) => Some(LookupPlan {
                                slot: g,
                                index: gi.name.clone(),
                                index_table: it.clone(),
                                column: gi.column.clone(),
                                key_column: base.shard_by.column.clone(),
                            }),
                            _ => None,
                        }
                    })
            }
            _ => None,
        };
        Plan {
            kind: self.kind,
            params: sc.params,
            hint: sc.hint,
            body: Body::Dml(DmlPlan {
                slots: self.slots,
                cond,
                placement,
                single,
                scatter,
                multi_write_error,
                lookup,
            }),
        }
    }
}

fn all_of(mut v: Vec<Cond>) -> Cond {
    v.retain(|c| *c != Cond::True);
    match v.len() {
        0 => Cond::True,
        1 => v.pop().unwrap_or(Cond::True),
        _ => Cond::And(v),
    }
}

/// A placeholder or literal usable as a key value.
fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Nested(x) => operand(x),
        Expr::Value(v) => {
            match &v.value {
                SqlValue::Placeholder(p) => p
                    .strip_prefix('?')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 0)
                    .map(|n| Operand::Param(n - 1)),
                SqlValue::Number(n, _) => Some(Operand::Const(match n.parse::<i128>() {
                    Ok(i) => KeyValue::Int(i),
                    Err(_) => KeyValue::Str(n.clone()),
                })),
                SqlValue::SingleQuotedString(s) => Some(Operand::Const(KeyValue::Str(
                    string_value(s, '\'', planning_mode()),
                ))),
                SqlValue::DoubleQuotedString(s) => Some(Operand::Const(KeyValue::Str(
                    string_value(s, '"', planning_mode()),
                ))),
                _ => None,
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match operand(expr)? {
            Operand::Const(KeyValue::Int(i)) => Some(Operand::Const(KeyValue::Int(-i))),
            _ => None,
        },
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// scatter / merge planning

const MERGEABLE: &[&str] = &["COUNT", "SUM", "MIN", "MAX", "AVG"];
const OTHER_AGGS: &[&str] = &[
    "GROUP_CONCAT",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
];

fn func_name(f: &ast::Function) -> String {
    last_name(&f.name).to_ascii_uppercase()
}

/// An aggregate call at the top of `e`: (func name, distinct).
fn top_aggregate(e: &Expr) -> Option<(String, bool)> {
    if let Expr::Function(f) = e {
        let n = func_name(f);
        if MERGEABLE.contains(&n.as_str()) || OTHER_AGGS.contains(&n.as_str()) {
            let distinct = matches!(
                &f.args,
                FunctionArguments::List(l) if matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct))
            );
            return Some((n, distinct));
        }
    }
    None
}

/// Does `e` contain an aggregate or window function anywhere (by text)?
fn contains_aggregate(e: &Expr) -> Option<String> {
    let t = e.to_string().to_ascii_uppercase();
    for n in MERGEABLE.iter().chain(OTHER_AGGS) {
        let mut from = 0;
        while let Some(p) = t[from..].find(n) {
            let at = from + p;
            let before_ok = at == 0
                || !t.as_bytes()[at - 1].is_ascii_alphanumeric() && t.as_bytes()[at - 1] != b'_';
            let after = t[at + n.len()..].trim_start();
            if before_ok && after.starts_with('(') {
                return Some(n.to_string());
            }
            from = at + n.len();
        }
    }
    None
}

fn has_window(e: &Expr) -> bool {
    let t = e.to_string().to_ascii_uppercase();
    t.contains(" OVER (") || t.contains(" OVER ")
}

struct Proj {
    text: String,
    alias: Option<String>,
    column: Option<String>,
    /// The item's expression (None for a wildcard).
    expr: Option<Expr>,
}

/// Where a name is resolved: MariaDB looks GROUP BY names up among the
/// table's columns before the select aliases, ORDER BY and HAVING names
/// among the aliases first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    GroupBy,
    OrderBy,
    Having,
}

struct ScatterBuilder {
    proj: Vec<Proj>,
    /// First wildcard position, when any.
    wildcard: Option<usize>,
    base: usize,
    hidden: Vec<Expr>,
    aggregates: Vec<Aggregate>,
    /// Column names the statement uses where no alias can stand (select
    /// list, WHERE, ON), lower case: certainly columns of its tables.
    columns: HashSet<String>,
}

/// Does `e` divide anywhere (`/`, outside quotes)? A division's value keeps
/// more digits than its declared scale, so its SUM needs full precision.
fn has_division(e: &Expr) -> bool {
    let t = e.to_string();
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = super::lexer::quoted_end(b, i, q, planning_mode()),
            b'/' => return true,
            _ => i += 1,
        }
    }
    false
}

/// `CAST(SUM(x) AS DECIMAL(65,30))`: a shard's sum with every digit.
fn exact_sum(sum: &ast::Function) -> Expr {
    Expr::Cast {
        kind: ast::CastKind::Cast,
        expr: Box::new(Expr::Function(sum.clone())),
        data_type: ast::DataType::Decimal(ast::ExactNumberInfo::PrecisionAndScale(65, 30)),
        format: None,
    }
}

/// Whether some leading run of `order` consists of group columns only and
/// names every one of them: the groups' order is then total, so each
/// shard's first n groups hold every part of the merged first n.
fn order_covers_groups(order: &[SortKey], groups: &[usize]) -> bool {
    let want: HashSet<usize> = groups.iter().copied().collect();
    let mut covered = HashSet::new();
    for k in order {
        if covered.len() == want.len() {
            break;
        }
        if !want.contains(&k.column) {
            return false;
        }
        covered.insert(k.column);
    }
    covered.len() == want.len()
}

/// Whether the shards may be sent `LIMIT offset+count`: each row of the
/// merged result's first offset+count must then be among the first
/// offset+count rows of some shard, and every shard part of such a group
/// among its shard's first rows.
fn limit_goes_down(spec: &MergeSpec, having: bool, groups_on_one_shard: bool) -> bool {
    if spec.group_by.is_empty() {
        // plain rows come in the final order (DISTINCT only drops rows, so
        // a shard's first n distinct ones are enough); aggregates without
        // GROUP BY are one row whatever the shards return
        return true;
    }
    if spec.distinct || having {
        // the merger drops groups a shard's LIMIT would have counted
        return false;
    }
    groups_on_one_shard || order_covers_groups(&spec.order_by, &spec.group_by)
}

fn norm_text(e: &Expr) -> String {
    e.to_string().to_ascii_lowercase()
}

fn bare_column(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(v) => v.last().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

impl ScatterBuilder {
    fn visible_limit(&self) -> usize {
        self.wildcard.unwrap_or(self.proj.len())
    }

    /// A select-list position an expression denotes, without adding.
    fn find(&self, e: &Expr, clause: Clause) -> Result<Option<usize>, RouteError> {
        if clause != Clause::Having {
            if let Expr::Value(v) = e {
                if let SqlValue::Number(n, _) = &v.value {
                    let p: usize = n
                        .parse()
                        .map_err(|_| RouteError::Syntax(format!("bad column position {n}")))?;
                    if p == 0 || p > self.visible_limit() {
                        if self.wildcard.is_some() {
                            return Err(RouteError::not_supported(
                                "ORDER BY / GROUP BY position with SELECT * across shards",
                                "name the column instead of its position",
                            ));
                        }
                        return Err(RouteError::Syntax(format!(
                            "Unknown column '{p}' in 'order clause'"
                        )));
                    }
                    return Ok(Some(p - 1));
                }
            }
        }
        let lim = self.visible_limit();
        if let Expr::Identifier(i) = e {
            if let Some(p) = self.proj[..lim].iter().position(|p| {
                p.alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
            }) {
                // GROUP BY takes a column of the same name before the alias
                // (`DATE(created_at) AS created_at ... GROUP BY created_at`)
                let name = i.value.to_ascii_lowercase();
                let column_first = clause == Clause::GroupBy
                    && self.proj[p].column.as_deref() != Some(name.as_str())
                    && self.columns.contains(&name);
                if !column_first {
                    return Ok(Some(p));
                }
            }
        }
        let t = norm_text(e);
        if let Some(p) = self.proj[..lim].iter().position(|p| p.text == t) {
            return Ok(Some(p));
        }
        if let (Some(c), Expr::Identifier(_)) = (bare_column(e), e) {
            if let Some(p) = self.proj[..lim]
                .iter()
                .position(|p| p.alias.is_none() && p.column.as_deref() == Some(c.as_str()))
            {
                return Ok(Some(p));
            }
        }
        // a hidden column already added
        if let Some(k) = self.hidden.iter().position(|h| norm_text(h) == t) {
            return Ok(Some(self.base + k));
        }
        Ok(None)
    }

    /// The expression at a row position (select item or hidden column).
    fn expr_at(&self, p: usize) -> Option<&Expr> {
        if p < self.base {
            self.proj.get(p).and_then(|x| x.expr.as_ref())
        } else {
            self.hidden.get(p - self.base)
        }
    }

    fn push_hidden(&mut self, e: Expr) -> usize {
        self.hidden.push(e);
        self.base + self.hidden.len() - 1
    }

    fn find_or_add(&mut self, e: &Expr, clause: Clause) -> Result<usize, RouteError> {
        if let Some(p) = self.find(e, clause)? {
            return Ok(p);
        }
        let col = self.push_hidden(e.clone());
        if top_aggregate(e).is_some() {
            self.aggregate_at(col, e)?;
        } else if let Some(n) = contains_aggregate(e) {
            return Err(RouteError::not_supported(
                format!("{n}() inside an expression across shards"),
                "select the aggregate on its own or add a shard-key condition",
            ));
        }
        Ok(col)
    }

    fn aggregate_at(&mut self, col: usize, e: &Expr) -> Result<(), RouteError> {
        let Some((name, distinct)) = top_aggregate(e) else {
            return Ok(());
        };
        let Expr::Function(f) = e else {
            return Ok(());
        };
        if f.over.is_some() {
            return Err(RouteError::not_supported(
                "window functions across shards",
                "add a shard-key condition so the query reaches one shard",
            ));
        }
        let renamed = |to: &str| {
            let mut g = f.clone();
            g.name = ObjectName(vec![ObjectNamePart::Identifier(ident(to))]);
            g
        };
        let func = match name.as_str() {
            _ if distinct && name != "MIN" && name != "MAX" => {
                return Err(RouteError::not_supported(
                    format!("{name}(DISTINCT ...) across shards"),
                    "add a shard-key condition so the query reaches one shard, or select the DISTINCT values and aggregate them in the application",
                ))
            }
            "COUNT" => AggFunc::Count,
            "SUM" if has_division(e) => AggFunc::ExactSum {
                exact: self.push_hidden(exact_sum(f)),
            },
            "SUM" => AggFunc::Sum,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            "AVG" => {
                // SUM and COUNT are aggregates of their own, so that HAVING
                // SUM(x) / COUNT(x) next to AVG(x) bind to merged values
                let sum_fn = renamed("SUM");
                let sum = self.push_hidden(Expr::Function(sum_fn.clone()));
                let count = self.push_hidden(Expr::Function(renamed("COUNT")));
                let exact = has_division(e).then(|| self.push_hidden(exact_sum(&sum_fn)));
                self.aggregates.push(Aggregate {
                    column: sum,
                    func: match exact {
                        Some(exact) => AggFunc::ExactSum { exact },
                        None => AggFunc::Sum,
                    },
                });
                self.aggregates.push(Aggregate {
                    column: count,
                    func: AggFunc::Count,
                });
                AggFunc::Avg { sum, count, exact }
            }
            other => {
                return Err(RouteError::not_supported(
                    format!("{other}() across shards"),
                    "add a shard-key condition so the query reaches one shard",
                ))
            }
        };
        self.aggregates.push(Aggregate { column: col, func });
        Ok(())
    }

    fn having(&mut self, e: &Expr) -> Result<HExpr, RouteError> {
        let bin = |op| -> Option<BinaryOp> {
            Some(match op {
                ast::BinaryOperator::Eq => BinaryOp::Eq,
                ast::BinaryOperator::NotEq => BinaryOp::NotEq,
                ast::BinaryOperator::Lt => BinaryOp::Lt,
                ast::BinaryOperator::LtEq => BinaryOp::LtEq,
                ast::BinaryOperator::Gt => BinaryOp::Gt,
                ast::BinaryOperator::GtEq => BinaryOp::GtEq,
                ast::BinaryOperator::And => BinaryOp::And,
                ast::BinaryOperator::Or => BinaryOp::Or,
                ast::BinaryOperator::Plus => BinaryOp::Plus,
                ast::BinaryOperator::Minus => BinaryOp::Minus,
                ast::BinaryOperator::Multiply => BinaryOp::Multiply,
                ast::BinaryOperator::Divide => BinaryOp::Divide,
                _ => return None,
            })
        };
        Ok(match e {
            Expr::Nested(x) => self.having(x)?,
            Expr::Value(v) => match &v.value {
                SqlValue::Placeholder(p) => {
                    match p.strip_prefix('?').and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) if n > 0 => HExpr::Param(n - 1),
                        _ => return Err(RouteError::Syntax(format!("bad placeholder {p}"))),
                    }
                }
                SqlValue::Number(n, _) => HExpr::Literal(match n.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Bytes(n.clone().into_bytes()),
                }),
                SqlValue::SingleQuotedString(s) => HExpr::Literal(Value::Bytes(
                    string_value(s, '\'', planning_mode()).into_bytes(),
                )),
                SqlValue::DoubleQuotedString(s) => HExpr::Literal(Value::Bytes(
                    string_value(s, '"', planning_mode()).into_bytes(),
                )),
                SqlValue::Null => HExpr::Literal(Value::NULL),
                SqlValue::Boolean(b) => HExpr::Literal(Value::Int(*b as i64)),
                other => {
                    return Err(RouteError::not_supported(
                        format!("HAVING with {other} across shards"),
                        "add a shard-key condition",
                    ))
                }
            },
            Expr::BinaryOp { left, op, right } => match bin(op.clone()) {
                Some(op) => HExpr::Binary {
                    op,
                    left: Box::new(self.having(left)?),
                    right: Box::new(self.having(right)?),
                },
                None => HExpr::Column(self.having_column(e)?),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => HExpr::Not(Box::new(self.having(expr)?)),
            Expr::IsNull(x) => HExpr::IsNull {
                expr: Box::new(self.having(x)?),
                negated: false,
            },
            Expr::IsNotNull(x) => HExpr::IsNull {
                expr: Box::new(self.having(x)?),
                negated: true,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => HExpr::InList {
                expr: Box::new(self.having(expr)?),
                list: list
                    .iter()
                    .map(|x| self.having(x))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => HExpr::Between {
                expr: Box::new(self.having(expr)?),
                low: Box::new(self.having(low)?),
                high: Box::new(self.having(high)?),
                negated: *negated,
            },
            other => HExpr::Column(self.having_column(other)?),
        })
    }

    fn having_column(&mut self, e: &Expr) -> Result<usize, RouteError> {
        if contains_aggregate(e).is_some() && top_aggregate(e).is_none() {
            return Err(RouteError::not_supported(
                "an aggregate inside an expression in HAVING across shards",
                "compare the aggregate itself, or add a shard-key condition",
            ));
        }
        self.find_or_add(e, Clause::Having)
    }
}

fn scatter(b: &Builder, q: Query, names: &names::ItemNames) -> Result<Scatter, RouteError> {
    let mut q = q;
    if q.with.is_some() {
        return Err(RouteError::not_supported(
            "WITH (common table expressions) across shards",
            "add a shard-key condition so the query reaches one shard",
        ));
    }
    if q.fetch.is_some() {
        return Err(RouteError::not_supported(
            "FETCH across shards",
            "use LIMIT",
        ));
    }
    let SetExpr::Select(sel) = q.body.as_mut() else {
        return Err(RouteError::not_supported(
            "UNION / INTERSECT / EXCEPT across shards",
            "add a shard-key condition so the query reaches one shard",
        ));
    };
    let mut sb = ScatterBuilder {
        proj: Vec::new(),
        wildcard: None,
        base: sel.projection.len(),
        hidden: Vec::new(),
        aggregates: Vec::new(),
        columns: b.columns.clone(),
    };
    let mut proj_aggs = Vec::new();
    for (i, item) in sel.projection.iter().enumerate() {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                if has_window(e) {
                    return Err(RouteError::not_supported(
                        "window functions across shards",
                        "add a shard-key condition so the query reaches one shard",
                    ));
                }
                let alias = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                    _ => None,
                };
                sb.proj.push(Proj {
                    text: norm_text(e),
                    alias,
                    column: bare_column(e),
                    expr: Some(e.clone()),
                });
                if top_aggregate(e).is_some() {
                    if sb.wildcard.is_some() {
                        return Err(RouteError::not_supported(
                            "an aggregate after * across shards",
                            "put the aggregates before * or name the columns",
                        ));
                    }
                    proj_aggs.push((i, e.clone()));
                } else if let Some(n) = contains_aggregate(e) {
                    return Err(RouteError::not_supported(
                        format!("{n}() inside an expression across shards"),
                        "select the aggregate on its own (compute the expression in the application) or add a shard-key condition",
                    ));
                }
            }
            _ => {
                sb.wildcard.get_or_insert(i);
                sb.proj.push(Proj {
                    text: String::new(),
                    alias: None,
                    column: None,
                    expr: None,
                });
            }
        }
    }
    for (i, e) in &proj_aggs {
        sb.aggregate_at(*i, e)?;
    }
    let mut spec = MergeSpec::default();
    match &sel.distinct {
        None | Some(Distinct::All) => {}
        Some(Distinct::Distinct) => spec.distinct = true,
        Some(Distinct::On(_)) => {
            return Err(RouteError::not_supported(
                "DISTINCT ON",
                "MySQL has no DISTINCT ON",
            ))
        }
    }
    // GROUP BY
    let group_exprs: Vec<Expr> = match &sel.group_by {
        GroupByExpr::Expressions(list, mods) => {
            if !mods.is_empty() {
                return Err(RouteError::not_supported(
                    "GROUP BY ... WITH ROLLUP across shards",
                    "add a shard-key condition so the query reaches one shard",
                ));
            }
            list.clone()
        }
        GroupByExpr::All(_) => {
            return Err(RouteError::not_supported(
                "GROUP BY ALL",
                "name the group columns",
            ))
        }
    };
    for g in &group_exprs {
        let c = sb.find_or_add(g, Clause::GroupBy)?;
        spec.group_by.push(c);
    }
    // rows of one group on one shard: the group names the shard key
    let groups_on_one_shard = spec
        .group_by
        .iter()
        .any(|&c| sb.expr_at(c).is_some_and(|e| b.names_shard_key(e)));
    // HAVING: evaluated by the merger, removed from the shard query
    let having = match sel.having.take() {
        Some(h) => Some(sb.having(&h)?),
        None => None,
    };
    // ORDER BY
    let mut order_keys = Vec::new();
    let has_order = matches!(&q.order_by, Some(OrderBy { kind: OrderByKind::Expressions(l), .. }) if !l.is_empty());
    if let Some(ob) = &q.order_by {
        match &ob.kind {
            OrderByKind::Expressions(list) => {
                for o in list {
                    if has_window(&o.expr) {
                        return Err(RouteError::not_supported(
                            "window functions across shards",
                            "add a shard-key condition so the query reaches one shard",
                        ));
                    }
                    let c = sb.find_or_add(&o.expr, Clause::OrderBy)?;
                    order_keys.push(SortKey {
                        column: c,
                        descending: matches!(o.options.sort, Some(ast::OrderBySort::Desc)),
                    });
                }
            }
            OrderByKind::All(_) => {
                return Err(RouteError::not_supported(
                    "ORDER BY ALL",
                    "name the sort columns",
                ))
            }
        }
    }
    if !group_exprs.is_empty() && !has_order {
        // shards return groups in key order, so groups merge as they
        // stream; by position, as a name could mean a select alias there
        // (ORDER BY looks aliases up first, GROUP BY columns)
        let key = |(e, &c): (&Expr, &usize)| match sb.wildcard {
            None => Expr::Value(SqlValue::Number((c + 1).to_string(), false).into()),
            Some(_) => e.clone(),
        };
        q.order_by = Some(OrderBy {
            kind: OrderByKind::Expressions(
                group_exprs
                    .iter()
                    .zip(&spec.group_by)
                    .map(|g| OrderByExpr {
                        expr: key(g),
                        options: OrderByOptions {
                            sort: None,
                            nulls_first: None,
                        },
                        with_fill: None,
                    })
                    .collect(),
            ),
            interpolate: None,
        });
        spec.groups_sorted = true;
        order_keys = spec
            .group_by
            .iter()
            .map(|&c| SortKey {
                column: c,
                descending: false,
            })
            .collect();
    }
    spec.order_by = order_keys;
    // LIMIT
    let mut limit = None;
    if let Some(lc) = q.limit_clause.take() {
        let (off, cnt) = match lc {
            LimitClause::LimitOffset {
                limit: Some(l),
                offset,
                limit_by,
            } if limit_by.is_empty() => (offset.map(|o| o.value), l),
            LimitClause::OffsetCommaLimit { offset, limit } => (Some(offset), limit),
            LimitClause::LimitOffset {
                limit: None,
                offset: None,
                ..
            } => (None, Expr::Value(SqlValue::Null.into())),
            _ => {
                return Err(RouteError::not_supported(
                    "this LIMIT form across shards",
                    "use LIMIT n or LIMIT offset, n",
                ))
            }
        };
        let bad = || {
            RouteError::not_supported(
                "a LIMIT that is not a number or placeholder across shards",
                "use LIMIT n or LIMIT offset, n with literal numbers",
            )
        };
        if !matches!(&cnt, Expr::Value(v) if v.value == SqlValue::Null) {
            let count = operand(&cnt).ok_or_else(bad)?;
            let offset = match off {
                Some(o) => Some(operand(&o).ok_or_else(bad)?),
                None => None,
            };
            if limit_goes_down(&spec, having.is_some(), groups_on_one_shard) {
                q.limit_clause = Some(LimitClause::LimitOffset {
                    limit: Some(Expr::Identifier(ident(LIMIT_MARK))),
                    offset: None,
                    limit_by: Vec::new(),
                });
            }
            limit = Some(LimitDraft { offset, count });
        }
    }
    // hidden columns
    let hidden = sb.hidden.len();
    let SetExpr::Select(sel) = q.body.as_mut() else {
        return Err(RouteError::Unsupported("internal: select vanished".into()));
    };
    for h in sb.hidden.drain(..) {
        sel.projection.push(SelectItem::UnnamedExpr(h));
    }
    spec.visible = sb.base;
    spec.aggregates = sb.aggregates;
    Ok(Scatter {
        template: names::render(&q, names),
        merge: spec,
        hidden,
        wildcard: sb.wildcard.is_some(),
        limit,
        having,
    })
}

// ---------------------------------------------------------------------------
// INSERT / REPLACE

/// `ON DUPLICATE KEY UPDATE` for a global index row that may move: when the
/// existing row has the same identity (covering columns outside the base
/// shard key), its placement columns take the new values; otherwise nothing
/// changes and the statement reports 0 rows, which the executor turns into a
/// duplicate-key error. None when the covering columns have no identity or no
/// placement part.
fn move_suffix(covering: &[String], is_placement: impl Fn(&str) -> bool) -> Option<String> {
    let q = |c: &str| format!("`{}`", c.replace('`', "``"));
    let (place, ident): (Vec<&String>, Vec<&String>) =
        covering.iter().partition(|c| is_placement(c));
    if place.is_empty() || ident.is_empty() {
        return None;
    }
    let same = ident
        .iter()
        .map(|c| format!("{0} <=> VALUES({0})", q(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sets = place
        .iter()
        .map(|c| format!("{0} = IF({same}, VALUES({0}), {0})", q(c)))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(" ON DUPLICATE KEY UPDATE {sets}"))
}

fn build_insert(schema: &Schema, sc: &Scanned, ins: ast::Insert) -> Result<Plan, RouteError> {
    let mut ins = ins;
    let kind = if ins.replace_into {
        StmtKind::Replace
    } else {
        StmtKind::Insert
    };
    let TableObject::TableName(tname) = &ins.table else {
        return Err(RouteError::not_supported(
            "INSERT INTO a table function",
            "insert into a table",
        ));
    };
    let tname = tname.clone();
    let parts = name_parts(&tname);
    let table = parts.last().cloned().unwrap_or_default();
    if parts.len() >= 2 && !parts[parts.len() - 2].eq_ignore_ascii_case(&schema.name) {
        return Err(RouteError::not_supported(
            format!("a table of another database ({})", tname),
            format!("this connection's schema is {}", schema.name),
        ));
    }
    let rule = schema
        .table(&table)
        .ok_or_else(|| no_such_table(schema, &table))?;
    let slot = Slot {
        name: table.to_ascii_lowercase(),
        rule: match rule {
            TableRule::Sharded(t) => SlotRule::Sharded(t.clone()),
            TableRule::Broadcast => SlotRule::Broadcast,
            TableRule::Global => SlotRule::Global,
        },
        scope: 0,
    };
    // INSERT ... SET a = 1  ->  (a) VALUES (1)
    if ins.source.is_none() && !ins.assignments.is_empty() {
        let mut cols = Vec::new();
        let mut vals = Vec::new();
        for a in ins.assignments.drain(..) {
            match a.target {
                AssignmentTarget::ColumnName(n) => cols.push(n),
                AssignmentTarget::Tuple(_) => {
                    return Err(RouteError::Syntax("INSERT ... SET (a, b) = ...".into()))
                }
            }
            vals.push(a.value);
        }
        ins.columns = cols;
        ins.source = Some(Box::new(values_query(vec![vals])));
    }
    let layout = match &slot.rule {
        SlotRule::Sharded(t) => Some(Layout {
            table: t,
            shards: schema.shards.len(),
        }),
        _ => None,
    };
    // ON DUPLICATE KEY UPDATE must not move the row
    if let (Some(OnInsert::DuplicateKeyUpdate(assigns)), Some(l)) = (&ins.on, &layout) {
        for a in assigns {
            if let AssignmentTarget::ColumnName(n) = &a.target {
                let col = last_name(n).to_ascii_lowercase();
                if l.is_routing_column(&col) {
                    return Err(RouteError::ShardKeyUpdate {
                        table: slot.name.clone(),
                        column: col,
                    });
                }
            }
        }
    }
    let rows_owned = match ins.source.as_deref_mut().map(|q| q.body.as_mut()) {
        Some(SetExpr::Values(v)) => Some(std::mem::take(&mut v.rows)),
        _ => None,
    };
    let Some(rows) = rows_owned else {
        // INSERT ... SELECT: only among broadcast / global tables
        if layout.is_some() {
            return Err(RouteError::not_supported(
                "INSERT ... SELECT into a sharded table",
                "select the rows, then insert them with VALUES",
            ));
        }
        let mut b = Builder::new(schema, kind);
        let mut name = tname.clone();
        let mut alias = None;
        b.no_alias = true;
        b.table(&mut name, &mut alias, 0)?;
        ins.table = TableObject::TableName(name);
        if let Some(src) = ins.source.as_deref_mut() {
            b.walk_query(src, 1)?;
        }
        let placement = b.placement()?;
        b.check_broadcast_writes(&[0])?;
        if matches!(placement, Placement::Sharded { .. }) {
            return Err(RouteError::not_supported(
                "INSERT ... SELECT from a sharded table",
                "select the rows, then insert them with VALUES",
            ));
        }
        let single = Template::from_rendered(&Statement::Insert(ins).to_string());
        return Ok(b.finish(sc, placement, single, None, None));
    };
    let mut columns: Vec<String> = ins
        .columns
        .iter()
        .map(|c| last_name(c).to_ascii_lowercase())
        .collect();
    if columns.is_empty() && layout.is_some() {
        return Err(RouteError::NeedsColumnList {
            table: slot.name.clone(),
        });
    }
    let mut rows: Vec<Vec<Expr>> = rows.into_iter().map(|p| p.content).collect();
    for (r, row) in rows.iter().enumerate() {
        if !columns.is_empty() && row.len() != columns.len() {
            return Err(RouteError::Syntax(format!(
                "Column count doesn't match value count at row {}",
                r + 1
            )));
        }
    }
    // sequence
    let mut seq = None;
    if let Some(s) = schema.sequence_for(&slot.name) {
        if !columns.is_empty() {
            let pos = columns.iter().position(|c| *c == s.column);
            let pos = match pos {
                Some(p) => p,
                None => {
                    columns.push(s.column.clone());
                    ins.columns
                        .push(ObjectName(vec![ObjectNamePart::Identifier(ident(
                            &s.column,
                        ))]));
                    for row in &mut rows {
                        row.push(Expr::Identifier(ident(SEQ_MARK)));
                    }
                    columns.len() - 1
                }
            };
            let mut per_row = Vec::new();
            for row in &mut rows {
                let v = &row[pos];
                let need = match v {
                    Expr::Identifier(i) if i.value == SEQ_MARK => None,
                    Expr::Value(x)
                        if x.value == SqlValue::Null
                            || x.value == SqlValue::Number("0".into(), false) =>
                    {
                        row[pos] = Expr::Identifier(ident(SEQ_MARK));
                        None
                    }
                    Expr::Value(x) => match &x.value {
                        SqlValue::Placeholder(p) => p
                            .strip_prefix('?')
                            .and_then(|n| n.parse::<usize>().ok())
                            .filter(|n| *n > 0)
                            .map(|n| n - 1),
                        _ => Some(usize::MAX),
                    },
                    _ => Some(usize::MAX),
                };
                per_row.push(need);
            }
            seq = Some(SeqFill {
                name: s.name.clone(),
                column: s.column.clone(),
                rows: per_row,
            });
        }
    }
    // routing keys per row
    let mut row_keys = Vec::new();
    if let Some(l) = &layout {
        for row in &rows {
            let mut keys = Vec::new();
            for (c, v) in columns.iter().zip(row) {
                if l.is_routing_column(c) {
                    let op = match v {
                        Expr::Identifier(i) if i.value == SEQ_MARK => None,
                        other => operand(other),
                    };
                    keys.push((c.clone(), op));
                }
            }
            row_keys.push(keys);
        }
    }
    // global index rows, kept in step with the base rows
    let mut index = None;
    if let Some(gi) = schema.global_indexes.iter().find(|g| g.table == slot.name) {
        let Some(TableRule::Sharded(it)) = schema.table(&gi.index_table) else {
            return Err(RouteError::Unsupported(format!(
                "global index {} has no sharded index table",
                gi.name
            )));
        };
        let mut cols = vec![gi.column.clone()];
        cols.extend(gi.covering.iter().cloned());
        let mut pos = Vec::new();
        for c in &cols {
            match columns.iter().position(|x| x == c) {
                Some(p) => pos.push(p),
                None => {
                    return Err(RouteError::MissingShardKey {
                        table: slot.name.clone(),
                        column: c.clone(),
                        row: 1,
                    })
                }
            }
        }
        let mut irows = Vec::new();
        let mut keys = Vec::new();
        for row in &rows {
            let mut t = String::from("(");
            for (k, p) in pos.iter().enumerate() {
                if k > 0 {
                    t.push_str(", ");
                }
                t.push_str(&row[*p].to_string());
            }
            t.push(')');
            irows.push(Template::from_rendered(&t));
            keys.push(operand(&row[pos[0]]));
        }
        let verb = if kind == StmtKind::Replace || ins.on.is_some() {
            "REPLACE"
        } else {
            "INSERT"
        };
        let plain = kind == StmtKind::Insert && ins.on.is_none() && !ins.ignore;
        let head = format!(
            "{verb} INTO `{}` ({}) VALUES ",
            it.physical_name(0),
            cols.join(", ")
        );
        let template = Template(vec![
            super::lexer::Piece::Text(head.clone()),
            super::lexer::Piece::Rows,
        ]);
        // A plain single-row INSERT of a key the index holds for the same
        // row identity (covering columns that are not the base shard key,
        // e.g. card_id) is the row moving shards: re-point the index row.
        let move_template = match &layout {
            Some(l) if plain => move_suffix(&gi.covering, |c| l.is_routing_column(c)).map(|tail| {
                Template(vec![
                    super::lexer::Piece::Text(head),
                    super::lexer::Piece::Rows,
                    super::lexer::Piece::Text(tail),
                ])
            }),
            _ => None,
        };
        index = Some(IndexInsert {
            table: it.clone(),
            template,
            move_template,
            rows: irows,
            keys,
        });
    }
    // templates
    let row_templates = rows
        .iter()
        .map(|row| {
            let mut s = String::from("(");
            for (i, e) in row.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&e.to_string());
            }
            s.push(')');
            Template::from_rendered(&s)
        })
        .collect();
    ins.table = TableObject::TableName(marker(0));
    if let Some(src) = ins.source.as_deref_mut() {
        if let SetExpr::Values(v) = src.body.as_mut() {
            v.rows = vec![ast::Parens {
                opening_token: ast::helpers::attached_token::AttachedToken::empty(),
                content: vec![Expr::Identifier(ident(ROWS_MARK))],
                closing_token: ast::helpers::attached_token::AttachedToken::empty(),
            }];
        }
    }
    let template = Template::from_rendered(&Statement::Insert(ins).to_string());
    Ok(Plan {
        kind,
        params: sc.params,
        hint: sc.hint,
        body: Body::Insert(InsertPlan {
            slot,
            template,
            rows: row_templates,
            row_keys,
            sequence: seq,
            index,
        }),
    })
}

fn values_query(rows: Vec<Vec<Expr>>) -> Query {
    let mut q = empty_query();
    q.body = Box::new(SetExpr::Values(ast::Values {
        explicit_row: false,
        value_keyword: false,
        rows: rows
            .into_iter()
            .map(|r| ast::Parens {
                opening_token: ast::helpers::attached_token::AttachedToken::empty(),
                content: r,
                closing_token: ast::helpers::attached_token::AttachedToken::empty(),
            })
            .collect(),
    }));
    q
}

fn empty_query() -> Query {
    Query {
        with: None,
        body: Box::new(SetExpr::Values(ast::Values {
            explicit_row: false,
            value_keyword: false,
            rows: Vec::new(),
        })),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

#[allow(dead_code)]
fn _place(_: Place) {}
