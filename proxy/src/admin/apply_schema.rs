//! `haoka-proxy apply-schema`: creates every shard database and every physical
//! table the rules imply from the logical DDL in schema/ddl. Idempotent: it
//! creates only what is missing and reports exactly what it created.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use mysql_async::prelude::Queryable;
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::config::BackendAccount;
use crate::rules::{Place, Rules, Schema};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot read DDL {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: statement {index} does not parse: {message}")]
    Parse {
        file: String,
        index: usize,
        message: String,
    },
    #[error("{file}: statement {index} must be `CREATE TABLE IF NOT EXISTS <name> (...)`")]
    NotCreateTable { file: String, index: usize },
    #[error("{file}: table '{table}' has no rule in schema '{schema}' of the rules file")]
    NoRule {
        file: String,
        table: String,
        schema: String,
    },
    #[error("table '{0}' is defined twice in the DDL")]
    Duplicate(String),
    #[error("unknown schema '{0}' in the rules file")]
    UnknownSchema(String),
    #[error("shard {place} ({database}): {source}")]
    Backend {
        place: String,
        database: String,
        source: mysql_async::Error,
    },
}

/// One logical `CREATE TABLE` from the DDL files.
#[derive(Debug, Clone)]
pub struct TableDdl {
    pub file: String,
    pub table: String,
    /// The statement text as written, without the trailing semicolon.
    pub sql: String,
}

impl TableDdl {
    /// The statement with its table name replaced by `db`.`physical`.
    pub fn for_physical(&self, database: &str, physical: &str) -> String {
        let (start, end) = name_span(&self.sql).expect("validated when read");
        format!(
            "{}`{}`.`{}`{}",
            &self.sql[..start],
            database,
            physical,
            &self.sql[end..]
        )
    }
}

/// The proxy's own tables, created on every schema's global shard.
pub const PROXY_TABLES_DDL: &str = include_str!("../../../schema/ddl/90_proxy.sql");

const CREATE_PREFIX: &str = "CREATE TABLE IF NOT EXISTS ";

/// Byte span of the table name right after `CREATE TABLE IF NOT EXISTS `.
fn name_span(sql: &str) -> Option<(usize, usize)> {
    let upper = sql.to_ascii_uppercase();
    let start = upper.find(CREATE_PREFIX)? + CREATE_PREFIX.len();
    let rest = &sql[start..];
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '`'))
        .unwrap_or(rest.len());
    (len > 0).then_some((start, start + len))
}

/// Splits a DDL file into statements, by the one SQL scanner the proxy
/// reads client statements with (comments, quotes and escapes alike).
pub fn split_statements(text: &str) -> Vec<String> {
    crate::route::split_statements(text, crate::route::SqlMode::default())
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Reads every `*.sql` file of a directory in name order.
pub fn read_ddl_dir(dir: &Path) -> Result<Vec<TableDdl>, ApplyError> {
    let read_err = |source| ApplyError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut all: Vec<TableDdl> = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| ApplyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for ddl in parse_ddl(&file, &text)? {
            if all.iter().any(|d| d.table == ddl.table) {
                return Err(ApplyError::Duplicate(ddl.table));
            }
            all.push(ddl);
        }
    }
    Ok(all)
}

/// Parses one DDL file's CREATE TABLE statements.
pub fn parse_ddl(file: &str, text: &str) -> Result<Vec<TableDdl>, ApplyError> {
    let mut out = Vec::new();
    for (i, sql) in split_statements(text).into_iter().enumerate() {
        let index = i + 1;
        let parsed = Parser::parse_sql(&MySqlDialect {}, &sql).map_err(|e| ApplyError::Parse {
            file: file.to_string(),
            index,
            message: e.to_string(),
        })?;
        let table = match parsed.as_slice() {
            [Statement::CreateTable(ct)] if ct.if_not_exists => {
                ct.name.to_string().trim_matches('`').to_ascii_lowercase()
            }
            _ => {
                return Err(ApplyError::NotCreateTable {
                    file: file.to_string(),
                    index,
                })
            }
        };
        if name_span(&sql).is_none() {
            return Err(ApplyError::NotCreateTable {
                file: file.to_string(),
                index,
            });
        }
        out.push(TableDdl {
            file: file.to_string(),
            table,
            sql,
        });
    }
    Ok(out)
}

/// What one run created.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub created_databases: Vec<String>,
    /// `database.table`
    pub created_tables: Vec<String>,
}

fn place_name(place: Place) -> String {
    match place {
        Place::Data(i) => format!("{i}"),
        Place::Global => "global".into(),
    }
}

/// Creates what is missing of `schema_name` on its shards.
pub async fn apply_schema(
    rules: &Rules,
    backend: &BackendAccount,
    schema_name: &str,
    ddl: &[TableDdl],
) -> Result<ApplyReport, ApplyError> {
    let schema = rules
        .schema(schema_name)
        .ok_or_else(|| ApplyError::UnknownSchema(schema_name.to_string()))?;
    for d in ddl {
        if schema.table(&d.table).is_none() {
            return Err(ApplyError::NoRule {
                file: d.file.clone(),
                table: d.table.clone(),
                schema: schema.name.clone(),
            });
        }
    }
    // Physical statements grouped by place.
    let mut by_place: BTreeMap<Place, Vec<(String, String)>> = BTreeMap::new();
    for place in schema.all_places() {
        by_place.insert(place, Vec::new());
    }
    for d in ddl {
        for (place, physical) in schema.physical_tables(&d.table).expect("checked above") {
            by_place
                .entry(place)
                .or_default()
                .push((physical, d.table.clone()));
        }
    }
    let mut report = ApplyReport::default();
    for (place, tables) in by_place {
        apply_place(rules, schema, backend, place, &tables, ddl, &mut report).await?;
    }
    Ok(report)
}

async fn apply_place(
    rules: &Rules,
    schema: &Schema,
    backend: &BackendAccount,
    place: Place,
    tables: &[(String, String)],
    ddl: &[TableDdl],
    report: &mut ApplyReport,
) -> Result<(), ApplyError> {
    let target = schema.target(place);
    let ds = &rules.datasources[target.datasource];
    let wrap = |source| ApplyError::Backend {
        place: place_name(place),
        database: target.database.clone(),
        source,
    };
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ds.host.clone())
        .tcp_port(ds.port)
        .user(Some(backend.user.clone()))
        .pass(Some(backend.password.clone()));
    let mut conn = mysql_async::Conn::new(opts).await.map_err(wrap)?;
    let exists: Option<String> = conn
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (target.database.as_str(),),
        )
        .await
        .map_err(wrap)?;
    if exists.is_none() {
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{}` DEFAULT CHARACTER SET utf8mb4",
            target.database
        ))
        .await
        .map_err(wrap)?;
        report.created_databases.push(target.database.clone());
    }
    let present: HashSet<String> = conn
        .exec::<String, _, _>(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (target.database.as_str(),),
        )
        .await
        .map_err(wrap)?
        .into_iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    for (physical, logical) in tables {
        if present.contains(physical) {
            continue;
        }
        let d = ddl
            .iter()
            .find(|d| &d.table == logical)
            .expect("grouped from ddl");
        conn.query_drop(d.for_physical(&target.database, physical))
            .await
            .map_err(wrap)?;
        report
            .created_tables
            .push(format!("{}.{}", target.database, physical));
    }
    conn.disconnect().await.map_err(wrap)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_respects_quotes_and_comments() {
        let text = "-- a; comment\nCREATE TABLE IF NOT EXISTS a (x CHAR(1) COMMENT 'a;b');\n\nCREATE TABLE IF NOT EXISTS b (y INT);";
        let parts = split_statements(text);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].contains("'a;b'"));
        assert!(parts[1].starts_with("CREATE TABLE IF NOT EXISTS b"));
    }

    #[test]
    fn physical_rewrite_replaces_only_the_name() {
        let d = &parse_ddl(
            "t.sql",
            "CREATE TABLE IF NOT EXISTS phone_number (phone_number CHAR(11))",
        )
        .unwrap()[0];
        assert_eq!(
            d.for_physical("haoka_s1", "phone_number_2"),
            "CREATE TABLE IF NOT EXISTS `haoka_s1`.`phone_number_2` (phone_number CHAR(11))"
        );
    }

    #[test]
    fn non_create_statements_are_refused() {
        assert!(matches!(
            parse_ddl("t.sql", "DROP TABLE x"),
            Err(ApplyError::NotCreateTable { .. })
        ));
        assert!(matches!(
            parse_ddl("t.sql", "CREATE TABLE x (a INT)"),
            Err(ApplyError::NotCreateTable { .. })
        ));
    }
}
