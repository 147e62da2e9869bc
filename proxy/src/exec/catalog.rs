//! `information_schema.TABLES` and `.COLUMNS` as a client of the proxy should
//! see them: one row per logical table of each logical schema, not the
//! physical shard tables. The client's query runs unchanged against a derived
//! table built from one physical copy of each logical table.
//!
//! The derived table reads the server the global shard lives on; with every
//! shard on one server (the local stack) that sees every copy. Shards on other
//! hosts contribute the representative copy only when it is on that server.

use crate::rules::Rules;

/// The information_schema tables rewritten here.
const CATALOG_TABLES: [&str; 2] = ["tables", "columns"];

/// Where `information_schema.<table>` occurs in `sql` (case-insensitive,
/// backticks allowed): (start, end, catalog table in lower case).
fn find_reference(sql: &str) -> Option<(usize, usize, &'static str)> {
    let lower = sql.to_ascii_lowercase().replace('`', " ");
    // Positions must map back to `sql`: backticks became spaces of equal length.
    for table in CATALOG_TABLES {
        for pat in [
            format!("information_schema.{table}"),
            format!("information_schema . {table}"),
        ] {
            let mut from = 0;
            while let Some(i) = lower[from..].find(&pat) {
                let mut start = from + i;
                if start > 0 && sql.as_bytes()[start - 1] == b'`' {
                    start -= 1;
                }
                let mut end = from + i + pat.len();
                let next = lower[end..].chars().next();
                if next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    from = from + i + pat.len();
                    continue;
                }
                if sql[end..].starts_with('`') {
                    end += 1;
                }
                return Some((start, end, table));
            }
        }
    }
    None
}

/// Does an alias follow the table reference that ends at `end`?
fn has_alias(sql: &str, end: usize) -> bool {
    let word: String = sql[end..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '`')
        .collect();
    let w = word.trim_matches('`').to_ascii_lowercase();
    !w.is_empty()
        && ![
            "where",
            "order",
            "group",
            "limit",
            "having",
            "join",
            "left",
            "right",
            "inner",
            "cross",
            "natural",
            "union",
            "on",
            "using",
            "for",
            "lock",
            "straight_join",
        ]
        .contains(&w.as_str())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The derived table replacing `information_schema.<table>`, given that
/// table's column names on the server (in order).
pub fn derived_table(rules: &Rules, table: &str, columns: &[String]) -> String {
    let mut schema_case = String::from("CASE TABLE_SCHEMA");
    let mut name_case = String::from("CASE CONCAT(TABLE_SCHEMA, '.', TABLE_NAME)");
    let mut pairs = Vec::new();
    for schema in &rules.schemas {
        for place in schema.all_places() {
            schema_case.push_str(&format!(
                " WHEN {} THEN {}",
                quote(&schema.target(place).database),
                quote(&schema.name)
            ));
        }
        for (logical, _) in schema.tables() {
            let Some((place, physical)) = schema
                .physical_tables(logical)
                .and_then(|v| v.into_iter().next())
            else {
                continue;
            };
            let db = &schema.target(place).database;
            name_case.push_str(&format!(
                " WHEN {} THEN {}",
                quote(&format!("{db}.{physical}")),
                quote(logical)
            ));
            pairs.push(format!("({}, {})", quote(db), quote(&physical)));
        }
    }
    schema_case.push_str(" END");
    name_case.push_str(" END");
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.to_ascii_uppercase().as_str() {
            "TABLE_SCHEMA" => format!("{schema_case} AS TABLE_SCHEMA"),
            "TABLE_NAME" => format!("{name_case} AS TABLE_NAME"),
            _ => format!("`{c}`"),
        })
        .collect();
    let filter = if pairs.is_empty() {
        "FALSE".to_string()
    } else {
        format!("(TABLE_SCHEMA, TABLE_NAME) IN ({})", pairs.join(", "))
    };
    format!(
        "(SELECT {} FROM information_schema.{} WHERE {})",
        select.join(", "),
        table.to_ascii_uppercase(),
        filter
    )
}

/// The catalog table a query reads, if it is one rewritten here.
pub fn catalog_table(sql: &str) -> Option<&'static str> {
    find_reference(sql).map(|(_, _, t)| t)
}

/// `sql` with its (first) catalog reference replaced by the derived table.
pub fn rewrite(sql: &str, derived: &str) -> Option<String> {
    let (start, end, table) = find_reference(sql)?;
    let alias = if has_alias(sql, end) {
        String::new()
    } else {
        format!(" AS `{}`", table.to_ascii_uppercase())
    };
    Some(format!("{}{derived}{alias}{}", &sql[..start], &sql[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_replaces_catalog_references() {
        assert_eq!(
            catalog_table("SELECT * FROM information_schema.TABLES"),
            Some("tables")
        );
        assert_eq!(
            catalog_table("select * from `information_schema`.`COLUMNS` c"),
            Some("columns")
        );
        assert_eq!(
            catalog_table("SELECT * FROM information_schema.TABLESPACES"),
            None
        );
        assert_eq!(
            rewrite(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='haoka'",
                "(X)"
            )
            .unwrap(),
            "SELECT TABLE_NAME FROM (X) AS `TABLES` WHERE TABLE_SCHEMA='haoka'"
        );
        assert_eq!(
            rewrite(
                "SELECT t.TABLE_NAME FROM information_schema.TABLES t",
                "(X)"
            )
            .unwrap(),
            "SELECT t.TABLE_NAME FROM (X) t"
        );
    }
}
