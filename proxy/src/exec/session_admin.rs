//! Statements about the session itself, answered by the proxy: KILL and SHOW
//! PROCESSLIST over the proxy's own session ids (registry.rs), SHOW GRANTS
//! in logical terms (never the backend account's), SHOW WARNINGS / ERRORS
//! from the session's diagnostics (diagnostics.rs), and user variables
//! (session_values.rs): `SET @v = ...` is evaluated on a backend and kept,
//! `SELECT @v := ...` without tables runs with the variables and keeps what
//! it assigned.

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;

use super::diagnostics::{self, DiagAnswer, DiagQuery, DIAG_COLUMNS};
use super::local::write_result;
use super::session::{assignment_refused, backend_err, route_err, Session};
use super::session_values;
use crate::protocol::passthrough::forward_response;
use crate::protocol::{simple_column, ErrInfo, HandlerResult, ResponseWriter};
use crate::route::{Routed, SessionCommand, SqlMode};
use crate::rules::Place;

/// Info is cut to this many characters unless SHOW FULL PROCESSLIST.
const INFO_SHORT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
enum AdminStmt {
    Kill {
        query: bool,
        id: Result<u32, String>,
    },
    Processlist {
        full: bool,
    },
    /// SHOW GRANTS [FOR user]: None = the session's own user.
    Grants {
        user: Option<String>,
    },
    SetUserVars,
}

/// Words of `sql`, upper-cased, without a trailing `;`.
fn words(sql: &str) -> Vec<String> {
    sql.trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

fn parse_admin(sql: &str, mode: SqlMode) -> Option<AdminStmt> {
    let first = sql.trim_start().as_bytes().first()?.to_ascii_uppercase();
    if first != b'K' && first != b'S' {
        return None;
    }
    if first == b'S' && starts_with_word(sql, "SET") {
        return set_targets(sql, mode)
            .iter()
            .any(|(user, _)| *user)
            .then_some(AdminStmt::SetUserVars);
    }
    if !starts_with_word(sql, "SHOW") && !starts_with_word(sql, "KILL") {
        return None;
    }
    let w = words(sql);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["KILL", rest @ ..] => {
            let rest = match rest {
                ["HARD" | "SOFT", r @ ..] => r,
                r => r,
            };
            let (query, id) = match rest {
                ["QUERY", "ID", ..] => return Some(kill_unsupported("KILL QUERY ID")),
                ["USER", ..] => return Some(kill_unsupported("KILL USER")),
                ["QUERY", id] => (true, *id),
                ["CONNECTION", id] => (false, *id),
                [id] => (false, *id),
                _ => return None,
            };
            Some(AdminStmt::Kill {
                query,
                id: id.parse::<u32>().map_err(|_| id.to_string()),
            })
        }
        ["SHOW", "PROCESSLIST"] => Some(AdminStmt::Processlist { full: false }),
        ["SHOW", "FULL", "PROCESSLIST"] => Some(AdminStmt::Processlist { full: true }),
        ["SHOW", "GRANTS"] | ["SHOW", "GRANTS", "FOR", "CURRENT_USER" | "CURRENT_USER()"] => {
            Some(AdminStmt::Grants { user: None })
        }
        ["SHOW", "GRANTS", "FOR", user] => {
            let original: Vec<&str> = sql
                .trim()
                .trim_end_matches(';')
                .split_whitespace()
                .collect();
            let user = original.get(3).copied().unwrap_or(user);
            let name = user.split('@').next().unwrap_or(user);
            Some(AdminStmt::Grants {
                user: Some(
                    name.trim_matches(|c| c == '\'' || c == '"' || c == '`')
                        .to_string(),
                ),
            })
        }
        _ => None,
    }
}

fn kill_unsupported(what: &str) -> AdminStmt {
    AdminStmt::Kill {
        query: true,
        id: Err(format!("{what} (use KILL [QUERY] <connection id>)")),
    }
}

fn starts_with_word(sql: &str, word: &str) -> bool {
    let t = sql.trim_start();
    t.get(..word.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(word))
        && t[word.len()..].starts_with(|c: char| c.is_ascii_whitespace())
}

/// The assignments of a SET: (is a user variable, name), split at commas
/// outside quotes and parentheses.
/// One assignment of a SET: `user` for a user variable, its name, its text.
#[derive(Debug)]
struct SetPart {
    user: bool,
    name: String,
    text: String,
}

fn set_targets(sql: &str, mode: SqlMode) -> Vec<(bool, String)> {
    set_parts(sql, mode)
        .into_iter()
        .map(|p| (p.user, p.name))
        .collect()
}

fn set_parts(sql: &str, mode: SqlMode) -> Vec<SetPart> {
    let body = sql.trim_start()[3..].trim_start();
    let body = body.trim_end().trim_end_matches(';');
    let b = body.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i = crate::route::quoted_end(b, i, q, mode);
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&body[start..]);
    parts
        .into_iter()
        .map(|p| {
            let p = p.trim();
            if p.starts_with('@') && !p.starts_with("@@") {
                SetPart {
                    user: true,
                    name: session_values::user_var_name(p, 1, mode).0,
                    text: p.to_string(),
                }
            } else {
                SetPart {
                    user: false,
                    name: p.split(['=', ' ']).next().unwrap_or("").to_string(),
                    text: p.to_string(),
                }
            }
        })
        .collect()
}

/// Does `sql` hold the word `word` outside quotes?
fn mentions_word(sql: &str, word: &str, mode: SqlMode) -> bool {
    let b = sql.as_bytes();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = crate::route::quoted_end(b, i, q, mode),
            c if is_word(c) => {
                let start = i;
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                if sql[start..i].eq_ignore_ascii_case(word) {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

fn text(s: impl Into<String>) -> Value {
    Value::Bytes(s.into().into_bytes())
}

impl Session {
    fn is_admin(&self) -> bool {
        self.shared.users.get(&self.user).is_some_and(|u| u.admin)
    }

    /// Is `sql` a statement `run_session_admin` or `answer_diagnostics` answers?
    pub(super) fn is_session_admin(&self, sql: &str) -> bool {
        diagnostics::parse(sql).is_some()
            || parse_admin(sql, self.sql_mode).is_some()
            || crate::admin::reshard::parse(sql).is_some()
    }

    /// `ALTER HAOKA MOVE PROVINCE ...`, `SHOW HAOKA RESHARD` (admin/reshard.rs).
    async fn run_reshard(
        &mut self,
        cmd: Result<crate::admin::reshard::ReshardCommand, String>,
        binary: bool,
        w: &mut ResponseWriter<'_>,
    ) {
        if !self.is_admin() {
            w.err(&ErrInfo::new(
                1227,
                "42000",
                "Access denied; you need the proxy's admin flag for resharding statements",
            ));
            return;
        }
        let cmd = match cmd {
            Ok(c) => c,
            Err(msg) => {
                w.err(&ErrInfo::new(
                    1064,
                    "42000",
                    format!("haoka reshard: {msg}"),
                ));
                return;
            }
        };
        let schema = self.schema_idx();
        match crate::admin::reshard::run(&self.shared, schema, cmd).await {
            Ok(answer) => {
                let cols: Vec<Column> = answer
                    .columns
                    .iter()
                    .map(|n| simple_column(n, ColumnType::MYSQL_TYPE_VAR_STRING))
                    .collect();
                let rows: Vec<Vec<Value>> = answer
                    .rows
                    .into_iter()
                    .map(|r| r.into_iter().map(|c| c.map_or(Value::NULL, text)).collect())
                    .collect();
                let status = self.status();
                write_result(w, &cols, &rows, binary, status);
            }
            Err(e) => w.err(&ErrInfo::new(1105, "HY000", e.to_string())),
        }
    }

    /// Answers KILL, SHOW PROCESSLIST, SHOW GRANTS, SHOW WARNINGS / ERRORS
    /// and SET of user variables (rows in the binary protocol for a prepared
    /// statement); false when `sql` is none of them.
    pub(super) async fn run_session_admin(
        &mut self,
        sql: &str,
        binary: bool,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult<bool> {
        if let Some(q) = diagnostics::parse(sql) {
            self.answer_diagnostics(q, binary, w);
            return Ok(true);
        }
        if let Some(cmd) = crate::admin::reshard::parse(sql) {
            self.run_reshard(cmd, binary, w).await;
            return Ok(true);
        }
        let Some(stmt) = parse_admin(sql, self.sql_mode) else {
            return Ok(false);
        };
        match stmt {
            AdminStmt::Kill { query, id } => match id {
                Ok(id) => self.kill(id, query, w).await,
                Err(what) => w.err(&ErrInfo::new(
                    1235,
                    "42000",
                    format!("haoka: {what} is not supported"),
                )),
            },
            AdminStmt::Processlist { full } => self.processlist(full, binary, w),
            AdminStmt::Grants { user } => self.grants(user, binary, w),
            AdminStmt::SetUserVars => self.set_user_vars(sql, w).await,
        }
        Ok(true)
    }

    /// SHOW WARNINGS / ERRORS / COUNT(*) from the session's diagnostics.
    fn answer_diagnostics(&mut self, q: DiagQuery, binary: bool, w: &mut ResponseWriter<'_>) {
        let status = self.status();
        match self.diagnostics.answer(q) {
            DiagAnswer::Rows(rows) => {
                let cols: Vec<Column> = DIAG_COLUMNS
                    .iter()
                    .map(|(n, t)| simple_column(n, *t))
                    .collect();
                write_result(w, &cols, &rows, binary, status);
            }
            DiagAnswer::Count(n) => {
                let name = match q {
                    DiagQuery::Count { errors_only: true } => "@@session.error_count",
                    _ => "@@session.warning_count",
                };
                let cols = [simple_column(name, ColumnType::MYSQL_TYPE_LONGLONG)];
                write_result(w, &cols, &[vec![Value::UInt(n)]], binary, status);
            }
        }
    }

    /// KILL [QUERY] <id>: `id` is a proxy session id (the client's handshake
    /// said it); the session's own user or an admin may kill it.
    pub(super) async fn kill(&mut self, id: u32, query: bool, w: &mut ResponseWriter<'_>) {
        let Some(target) = self.shared.sessions.get(id) else {
            w.err(&ErrInfo::new(
                1094,
                "HY000",
                format!("Unknown thread id: {id}"),
            ));
            return;
        };
        if target.user != self.user && !self.is_admin() {
            w.err(&ErrInfo::new(
                1095,
                "HY000",
                format!("You are not owner of thread {id}"),
            ));
            return;
        }
        if query {
            target.kill_query().await;
        } else {
            target.kill_connection().await;
            if id == self.conn_id {
                w.err(&ErrInfo::new(1927, "70100", "Connection was killed"));
                return;
            }
        }
        w.set_status(self.status());
        w.ok_simple(0, 0);
    }

    fn processlist(&self, full: bool, binary: bool, w: &mut ResponseWriter<'_>) {
        let admin = self.is_admin();
        let rows: Vec<Vec<Value>> = self
            .shared
            .sessions
            .all()
            .into_iter()
            .filter(|e| admin || e.user == self.user)
            .filter_map(|e| e.row())
            .map(|r| {
                let info = r.info.map(|i| {
                    if full {
                        i
                    } else {
                        i.chars().take(INFO_SHORT).collect()
                    }
                });
                vec![
                    Value::UInt(r.id as u64),
                    text(r.user),
                    text(r.host),
                    if r.db.is_empty() {
                        Value::NULL
                    } else {
                        text(r.db)
                    },
                    text(r.command),
                    Value::UInt(r.time_s),
                    text(r.state),
                    info.map_or(Value::NULL, text),
                    text("0.000"),
                ]
            })
            .collect();
        let cols: Vec<Column> = [
            ("Id", ColumnType::MYSQL_TYPE_LONGLONG),
            ("User", ColumnType::MYSQL_TYPE_VAR_STRING),
            ("Host", ColumnType::MYSQL_TYPE_VAR_STRING),
            ("db", ColumnType::MYSQL_TYPE_VAR_STRING),
            ("Command", ColumnType::MYSQL_TYPE_VAR_STRING),
            ("Time", ColumnType::MYSQL_TYPE_LONG),
            ("State", ColumnType::MYSQL_TYPE_VAR_STRING),
            ("Info", ColumnType::MYSQL_TYPE_VAR_STRING),
            ("Progress", ColumnType::MYSQL_TYPE_NEWDECIMAL),
        ]
        .iter()
        .map(|(n, t)| simple_column(n, *t))
        .collect();
        write_result(w, &cols, &rows, binary, self.status());
    }

    /// The proxy user's logical grants: every schema it may use.
    fn grants(&self, user: Option<String>, binary: bool, w: &mut ResponseWriter<'_>) {
        let name = user.unwrap_or_else(|| self.user.clone());
        if name != self.user && !self.is_admin() {
            w.err(&ErrInfo::new(
                1044,
                "42000",
                format!(
                    "Access denied for user '{}'@'%' to database 'mysql'",
                    self.user
                ),
            ));
            return;
        }
        let Some(u) = self.shared.users.get(&name) else {
            w.err(&ErrInfo::new(
                1141,
                "42000",
                format!("There is no such grant defined for user '{name}' on host '%'"),
            ));
            return;
        };
        let account = format!("{}@`%`", crate::route::quote_ident(&name));
        let mut rows = vec![vec![text(format!("GRANT USAGE ON *.* TO {account}"))]];
        for s in &self.shared.rules.schemas {
            if u.schemas.is_empty() || u.schemas.iter().any(|x| x.eq_ignore_ascii_case(&s.name)) {
                rows.push(vec![text(format!(
                    "GRANT ALL PRIVILEGES ON {}.* TO {account}",
                    crate::route::quote_ident(&s.name)
                ))]);
            }
        }
        let col = format!("Grants for {name}@%");
        let cols = [simple_column(&col, ColumnType::MYSQL_TYPE_VAR_STRING)];
        write_result(w, &cols, &rows, binary, self.status());
    }

    /// Runs `sql` (which assigns user variables) on a backend connection
    /// given the session's variables, then keeps the values it assigned.
    async fn eval_with_vars(
        &mut self,
        sql: &str,
        names: &[String],
        w: Option<&mut ResponseWriter<'_>>,
    ) -> Result<(), ErrInfo> {
        let schema = self.schema_idx();
        let mut conn = self.upkeep_conn(schema).await?;
        let wrap = |s: &Session, e| backend_err(&s.shared, schema, Place::Global, e);
        let mut result = Ok(());
        if let Some(replay) = session_values::replay_sql(&self.user_vars, self.sql_mode) {
            result = conn.query_drop(&replay).await.map_err(|e| wrap(self, e));
        }
        if result.is_ok() {
            result = match w {
                None => conn.query_drop(sql).await.map_err(|e| wrap(self, e)),
                Some(w) => {
                    let first = match conn.send_query(sql.as_bytes()).await {
                        Ok(()) => conn.read_response().await,
                        Err(e) => Err(e),
                    };
                    match first {
                        Ok(resp) => {
                            let failed = matches!(resp, crate::backend::Response::Err(_));
                            if let Err(e) = forward_response(&mut conn, w, resp).await {
                                self.end_upkeep(conn).await;
                                return Err(ErrInfo::new(1105, "HY000", e.to_string()));
                            }
                            if failed {
                                self.end_upkeep(conn).await;
                                return Ok(()); // the client has the error
                            }
                            Ok(())
                        }
                        Err(e) => Err(wrap(self, e)),
                    }
                }
            };
        }
        if result.is_ok() && !names.is_empty() {
            let select: Vec<String> = names
                .iter()
                .map(|n| format!("@{}", crate::route::quote_ident(n)))
                .collect();
            match conn
                .query_collect(&format!("SELECT {}", select.join(", ")))
                .await
            {
                Ok(r) => {
                    if let Some(row) = r.rows.first() {
                        for ((name, col), v) in names.iter().zip(&r.columns).zip(row) {
                            let value = session_values::var_value(col, v);
                            self.user_vars.insert(name.to_lowercase(), value);
                        }
                    }
                }
                Err(e) => result = Err(wrap(self, e)),
            }
        }
        self.end_upkeep(conn).await;
        result
    }

    /// `SET @a = expr, @b := expr`: evaluated on a backend, kept by the proxy.
    /// A SET that also assigns system variables (as dumps write them:
    /// `SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0`) runs as
    /// consecutive SETs of one kind each, in the statement's order, so the
    /// user variables read the values from before the later assignments.
    async fn set_user_vars(&mut self, sql: &str, w: &mut ResponseWriter<'_>) {
        let parts = set_parts(sql, self.sql_mode);
        if mentions_word(sql, "select", self.sql_mode) {
            w.err(&ErrInfo::new(
                1235,
                "42000",
                "haoka: SET @variable = (SELECT ...) is not supported (the query would not see the shards); SELECT the value, then SET it",
            ));
            return;
        }
        let mut runs: Vec<(bool, Vec<&SetPart>)> = Vec::new();
        for p in &parts {
            match runs.last_mut() {
                Some((user, members)) if *user == p.user => members.push(p),
                _ => runs.push((p.user, vec![p])),
            }
        }
        for (user, members) in runs {
            let text = format!(
                "SET {}",
                members
                    .iter()
                    .map(|p| p.text.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let done = if user {
                let values = self.session_values();
                let text =
                    session_values::inline(&text, &values, None, self.sql_mode).unwrap_or(text);
                let names: Vec<String> = members.iter().map(|p| p.name.clone()).collect();
                self.eval_with_vars(&text, &names, None).await
            } else {
                self.set_system_part(&text).await
            };
            if let Err(e) = done {
                w.err(&e);
                return;
            }
        }
        w.set_status(self.status());
        w.ok_simple(0, 0);
    }

    /// The system-variable part of a mixed SET, as the router reads it.
    async fn set_system_part(&mut self, text: &str) -> Result<(), ErrInfo> {
        let schema = self.schema_idx();
        let routed = self.shared.router.plan_text_in(
            &self.shared.rules.schemas[schema].name,
            text,
            &self.shared.schemas[schema].segments,
            self.sql_mode,
        );
        match routed {
            Ok(Routed::Session(SessionCommand::Set { sql, variables })) => {
                self.set_system_vars(sql, &variables).await
            }
            Ok(_) => Err(ErrInfo::new(
                1235,
                "42000",
                format!("haoka: {text} is not supported next to user variables; set them in separate SET statements"),
            )),
            Err(e) => Err(route_err(&e)),
        }
    }

    /// `SELECT @v := ...` (a statement assigning user variables): without
    /// tables it runs on a backend with the session's variables; otherwise
    /// it is refused (the shards would each assign their own).
    pub(super) async fn run_assignment(
        &mut self,
        schema: usize,
        sql: &str,
        w: &mut ResponseWriter<'_>,
    ) -> HandlerResult {
        let values = self.session_values();
        let sql = session_values::inline(sql, &values, None, self.sql_mode)
            .unwrap_or_else(|_| sql.to_string());
        let routed = self.shared.router.plan_text_in(
            &self.shared.rules.schemas[schema].name,
            &sql,
            &self.shared.schemas[schema].segments,
            self.sql_mode,
        );
        match routed {
            Ok(Routed::NoTable { sql: physical }) => {
                let names = session_values::assigned_vars(&sql, self.sql_mode);
                if let Err(e) = self.eval_with_vars(&physical, &names, Some(w)).await {
                    w.err(&e);
                }
            }
            Ok(_) => w.err(&assignment_refused()),
            Err(e) => w.err(&route_err(&e)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: SqlMode = SqlMode::DEFAULT;

    #[test]
    fn recognises_session_statements() {
        assert_eq!(
            parse_admin("KILL QUERY 12", M),
            Some(AdminStmt::Kill {
                query: true,
                id: Ok(12)
            })
        );
        assert_eq!(
            parse_admin("kill connection 3;", M),
            Some(AdminStmt::Kill {
                query: false,
                id: Ok(3)
            })
        );
        assert_eq!(
            parse_admin("KILL 7", M),
            Some(AdminStmt::Kill {
                query: false,
                id: Ok(7)
            })
        );
        assert!(matches!(
            parse_admin("KILL QUERY ID 7", M),
            Some(AdminStmt::Kill { id: Err(_), .. })
        ));
        assert_eq!(
            parse_admin("show full processlist", M),
            Some(AdminStmt::Processlist { full: true })
        );
        assert_eq!(
            parse_admin("SHOW GRANTS FOR CURRENT_USER()", M),
            Some(AdminStmt::Grants { user: None })
        );
        assert_eq!(
            parse_admin("SHOW GRANTS FOR 'bob'@'%'", M),
            Some(AdminStmt::Grants {
                user: Some("bob".into())
            })
        );
        assert_eq!(parse_admin("SET @y := 7", M), Some(AdminStmt::SetUserVars));
        assert_eq!(parse_admin("SET @@sql_mode = ''", M), None);
        assert_eq!(parse_admin("SET x = '@y'", M), None);
        assert_eq!(parse_admin("SELECT 1", M), None);
    }

    #[test]
    fn splits_set_assignments() {
        assert_eq!(
            set_targets("SET @a = 1, @`b c` := CONCAT('x,', 'y'), sql_mode = ''", M),
            vec![
                (true, "a".to_string()),
                (true, "b c".to_string()),
                (false, "sql_mode".to_string())
            ]
        );
        assert!(mentions_word("SET @a = (SELECT 1)", "select", M));
        assert!(!mentions_word("SET @a = 'select'", "select", M));
    }
}
