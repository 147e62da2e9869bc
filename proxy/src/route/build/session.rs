//! SET, SHOW, DESCRIBE and LOCK TABLES: the statements a session runs on
//! itself or reads metadata with.

use super::*;

/// LOCK TABLES / UNLOCK TABLES and `ALTER TABLE t DISABLE | ENABLE KEYS`,
/// which a dump and its restore send (see [`SessionCommand::LockTables`]).
pub(super) fn table_lock_command(
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

pub(super) fn set_command(set: ast::Set, text: &str) -> SessionCommand {
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

pub(super) fn show(text: &str) -> Result<Routed, RouteError> {
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
    if let Some(m) = crate::route::show::parse_show(text) {
        return m.map(Routed::Metadata);
    }
    Ok(Routed::Metadata(Metadata::AnyShard {
        sql: text.to_string(),
    }))
}

pub(super) fn describe(text: &str) -> Result<Routed, RouteError> {
    crate::route::show::parse_describe(text).map(Routed::Metadata)
}

// ---------------------------------------------------------------------------
