//! Creates the batch tables at start-up (schema/ddl/70_batch.sql) through
//! the proxy, so a database made before issue 17 keeps working (the loader
//! and haoka-server both call it). `IF NOT
//! EXISTS` makes it idempotent and safe for loaders starting at once.

use haoka_core::db::Db;
use haoka_core::problem::ApiError;
use mysql_async::prelude::Queryable;

const DDL: &str = include_str!("../../../schema/ddl/70_batch.sql");

/// The DDL's statements, comment lines dropped (a statement ends with `;`
/// at the end of a line: the COMMENT texts hold none there).
fn statements() -> Vec<String> {
    let text: String = DDL
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(";\n")
        .map(|s| s.trim().trim_end_matches(';'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn ensure(db: &Db) -> Result<(), ApiError> {
    let mut c = db.conn().await?;
    for s in statements() {
        c.query_drop(s).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_tables() {
        let s = super::statements();
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS batch_job"));
    }
}
