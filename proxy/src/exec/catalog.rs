//! The catalog as a client of the proxy should see it: the information_schema
//! tables GUI clients, drivers and ORMs read (SCHEMATA, TABLES, COLUMNS,
//! STATISTICS, KEY_COLUMN_USAGE, TABLE_CONSTRAINTS, REFERENTIAL_CONSTRAINTS,
//! PARTITIONS) show the logical schemas the user may use and, per logical
//! table, the rows of one physical copy under the logical names. The proxy's
//! own tables (`rules::PROXY_INTERNAL_TABLES`) are left out. SHOW DATABASES,
//! SHOW [FULL] TABLES and SHOW TABLE STATUS are answered from the same views.
//!
//! The client's query runs unchanged but for each catalog table it names,
//! replaced by a derived table over the real one. The derived table reads
//! the server the session's global shard lives on; with every shard on one
//! server (the local stack) that sees every copy. Shards on other hosts
//! contribute the representative copy only when it is on that server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::route::ShowFilter;
use crate::rules::{Rules, Schema};

/// One information_schema table shown in logical terms.
#[derive(Debug)]
pub struct CatalogTable {
    /// Upper-case name.
    pub name: &'static str,
    /// Columns holding a database name: physical -> logical.
    schema_columns: &'static [&'static str],
    /// (database column, table column) pairs: physical table -> logical.
    table_columns: &'static [(&'static str, &'static str)],
    /// The row's own (database, table) columns: only rows of a logical
    /// table's representative copy are kept. None: SCHEMATA (by database).
    key: Option<(&'static str, &'static str)>,
}

const CATALOG: &[CatalogTable] = &[
    CatalogTable {
        name: "SCHEMATA",
        schema_columns: &["SCHEMA_NAME"],
        table_columns: &[],
        key: None,
    },
    CatalogTable {
        name: "TABLES",
        schema_columns: &["TABLE_SCHEMA"],
        table_columns: &[("TABLE_SCHEMA", "TABLE_NAME")],
        key: Some(("TABLE_SCHEMA", "TABLE_NAME")),
    },
    CatalogTable {
        name: "COLUMNS",
        schema_columns: &["TABLE_SCHEMA"],
        table_columns: &[("TABLE_SCHEMA", "TABLE_NAME")],
        key: Some(("TABLE_SCHEMA", "TABLE_NAME")),
    },
    CatalogTable {
        name: "PARTITIONS",
        schema_columns: &["TABLE_SCHEMA"],
        table_columns: &[("TABLE_SCHEMA", "TABLE_NAME")],
        key: Some(("TABLE_SCHEMA", "TABLE_NAME")),
    },
    CatalogTable {
        name: "STATISTICS",
        schema_columns: &["TABLE_SCHEMA", "INDEX_SCHEMA"],
        table_columns: &[("TABLE_SCHEMA", "TABLE_NAME")],
        key: Some(("TABLE_SCHEMA", "TABLE_NAME")),
    },
    CatalogTable {
        name: "KEY_COLUMN_USAGE",
        schema_columns: &[
            "CONSTRAINT_SCHEMA",
            "TABLE_SCHEMA",
            "REFERENCED_TABLE_SCHEMA",
        ],
        table_columns: &[
            ("TABLE_SCHEMA", "TABLE_NAME"),
            ("REFERENCED_TABLE_SCHEMA", "REFERENCED_TABLE_NAME"),
        ],
        key: Some(("TABLE_SCHEMA", "TABLE_NAME")),
    },
    CatalogTable {
        name: "TABLE_CONSTRAINTS",
        schema_columns: &["CONSTRAINT_SCHEMA", "TABLE_SCHEMA"],
        table_columns: &[("TABLE_SCHEMA", "TABLE_NAME")],
        key: Some(("TABLE_SCHEMA", "TABLE_NAME")),
    },
    CatalogTable {
        name: "REFERENTIAL_CONSTRAINTS",
        schema_columns: &["CONSTRAINT_SCHEMA", "UNIQUE_CONSTRAINT_SCHEMA"],
        table_columns: &[
            ("CONSTRAINT_SCHEMA", "TABLE_NAME"),
            ("UNIQUE_CONSTRAINT_SCHEMA", "REFERENCED_TABLE_NAME"),
        ],
        key: Some(("CONSTRAINT_SCHEMA", "TABLE_NAME")),
    },
];

/// Column names of the catalog tables on the server, read once.
#[derive(Default)]
pub struct ColumnCache(Mutex<HashMap<&'static str, Arc<[String]>>>);

impl ColumnCache {
    pub fn get(&self, table: &CatalogTable) -> Option<Arc<[String]>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(table.name)
            .cloned()
    }

    pub fn put(&self, table: &CatalogTable, columns: Vec<String>) -> Arc<[String]> {
        let cols: Arc<[String]> = columns.into();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(table.name, cols.clone());
        cols
    }
}

/// The query reading a catalog table's column names, in order.
pub fn columns_query(table: &CatalogTable) -> String {
    format!(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = '{}' ORDER BY ORDINAL_POSITION",
        table.name
    )
}

/// A catalog table named in a statement: `sql[start..end]`.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    pub start: usize,
    pub end: usize,
    pub table: &'static CatalogTable,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// A bare or backticked name at `i`: (name, end).
fn name_at(sql: &str, i: usize) -> Option<(String, usize)> {
    let b = sql.as_bytes();
    if b.get(i) == Some(&b'`') {
        let close = sql[i + 1..].find('`')? + i + 1;
        return Some((sql[i + 1..close].to_string(), close + 1));
    }
    let end = (i..b.len()).find(|&j| !is_word(b[j])).unwrap_or(b.len());
    (end > i).then(|| (sql[i..end].to_string(), end))
}

fn skip_space(sql: &str, mut i: usize) -> usize {
    let b = sql.as_bytes();
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Every `information_schema.<catalog table>` in `sql` (case-insensitive,
/// backticks allowed), outside strings and comments, in order.
pub fn references(sql: &str) -> Vec<Reference> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            continue;
        }
        if c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')) {
            i = sql[i..].find('\n').map_or(b.len(), |p| i + p);
            continue;
        }
        let starts_name = c == b'`' || (is_word(c) && (i == 0 || !is_word(b[i - 1])));
        if !starts_name {
            i += 1;
            continue;
        }
        let Some((first, after_first)) = name_at(sql, i) else {
            i += 1;
            continue;
        };
        let dot = skip_space(sql, after_first);
        if first.eq_ignore_ascii_case("information_schema") && b.get(dot) == Some(&b'.') {
            let at = skip_space(sql, dot + 1);
            if let Some((second, end)) = name_at(sql, at) {
                if let Some(table) = CATALOG
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(&second))
                {
                    out.push(Reference {
                        start: i,
                        end,
                        table,
                    });
                }
                i = end;
                continue;
            }
        }
        i = after_first.max(i + 1);
    }
    out
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
            "window",
            "procedure",
            "into",
        ]
        .contains(&w.as_str())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

use crate::route::quote_ident as ident;

/// What the user's catalog shows: the schemas `visible` (indices into
/// `rules.schemas`) with their logical tables' representative copies.
pub struct LogicalView<'a> {
    rules: &'a Rules,
    visible: Vec<usize>,
}

impl<'a> LogicalView<'a> {
    pub fn new(rules: &'a Rules, visible: Vec<usize>) -> Self {
        LogicalView { rules, visible }
    }

    fn schemas(&self) -> impl Iterator<Item = &'a Schema> + '_ {
        self.visible.iter().map(|&i| &self.rules.schemas[i])
    }

    /// (physical database, physical table, logical table) of each logical
    /// table's representative copy.
    fn copies(&self) -> Vec<(&'a str, String, &'a str)> {
        let mut out = Vec::new();
        for schema in self.schemas() {
            for (logical, _) in schema.catalog_tables() {
                if let Some((place, physical)) = schema
                    .physical_tables(logical)
                    .and_then(|v| v.into_iter().next())
                {
                    out.push((schema.target(place).database.as_str(), physical, logical));
                }
            }
        }
        out
    }

    /// `CASE <col> WHEN '<physical db>' THEN '<logical>' ... ELSE <col> END`
    fn schema_case(&self, col: &str) -> String {
        let mut s = format!("CASE {}", ident(col));
        for schema in self.schemas() {
            for place in schema.all_places() {
                s.push_str(&format!(
                    " WHEN {} THEN {}",
                    quote(&schema.target(place).database),
                    quote(&schema.name)
                ));
            }
        }
        s.push_str(&format!(" ELSE {} END", ident(col)));
        s
    }

    fn table_case(&self, schema_col: &str, table_col: &str) -> String {
        let mut s = format!(
            "CASE CONCAT({}, '.', {})",
            ident(schema_col),
            ident(table_col)
        );
        for (db, physical, logical) in self.copies() {
            s.push_str(&format!(
                " WHEN {} THEN {}",
                quote(&format!("{db}.{physical}")),
                quote(logical)
            ));
        }
        s.push_str(&format!(" ELSE {} END", ident(table_col)));
        s
    }

    fn filter(&self, table: &CatalogTable) -> String {
        match table.key {
            None => {
                let mut dbs = vec![quote("information_schema")];
                dbs.extend(self.schemas().map(|s| quote(&s.global_shard.database)));
                format!("{} IN ({})", ident(table.schema_columns[0]), dbs.join(", "))
            }
            Some((schema_col, table_col)) => {
                let copies = self.copies();
                if copies.is_empty() {
                    return "FALSE".into();
                }
                let mut dbs: Vec<String> = copies.iter().map(|(db, _, _)| quote(db)).collect();
                dbs.sort();
                dbs.dedup();
                let pairs: Vec<String> = copies
                    .iter()
                    .map(|(db, physical, _)| format!("({}, {})", quote(db), quote(physical)))
                    .collect();
                // The plain IN on the database column lets the server skip
                // other databases' directories.
                format!(
                    "{s} IN ({}) AND ({s}, {t}) IN ({})",
                    dbs.join(", "),
                    pairs.join(", "),
                    s = ident(schema_col),
                    t = ident(table_col)
                )
            }
        }
    }

    /// The derived table standing for `table`, whose columns on the server
    /// are `columns` (in order).
    pub fn derived_table(&self, table: &CatalogTable, columns: &[String]) -> String {
        let select: Vec<String> = columns
            .iter()
            .map(|c| {
                let upper = c.to_ascii_uppercase();
                if table.schema_columns.contains(&upper.as_str()) {
                    format!("{} AS {}", self.schema_case(c), ident(c))
                } else if let Some((s, _)) = table.table_columns.iter().find(|(_, t)| *t == upper) {
                    format!("{} AS {}", self.table_case(s, c), ident(c))
                } else {
                    ident(c)
                }
            })
            .collect();
        format!(
            "(SELECT {} FROM information_schema.{} WHERE {})",
            select.join(", "),
            table.name,
            self.filter(table)
        )
    }
}

/// `sql` with each reference replaced by `derived(table)`; a reference
/// without an alias gets the table's own name as one, so qualified column
/// names (`TABLES.TABLE_NAME`) still resolve.
pub fn rewrite(sql: &str, refs: &[Reference], derived: impl Fn(&CatalogTable) -> String) -> String {
    let mut out = String::with_capacity(sql.len() * 2);
    let mut copied = 0;
    for r in refs {
        out.push_str(&sql[copied..r.start]);
        out.push_str(&derived(r.table));
        if !has_alias(sql, r.end) {
            out.push_str(&format!(" AS {}", ident(r.table.name)));
        }
        copied = r.end;
    }
    out.push_str(&sql[copied..]);
    out
}

/// The pattern of a LIKE literal, for a column title (`Tables_in_x (p%)`).
fn pattern_title(literal: &str) -> String {
    let inner = literal
        .get(1..literal.len().saturating_sub(1))
        .unwrap_or_default();
    inner.replace("\\\\", "\\").replace("''", "'")
}

/// `select` filtered as a SHOW statement's LIKE / WHERE says; `like_col`
/// is the expression LIKE applies to.
fn filtered(select: &str, like_col: &str, filter: &ShowFilter, has_where: bool) -> String {
    match filter {
        ShowFilter::All => format!("{select} ORDER BY 1"),
        ShowFilter::Like(p) => {
            let glue = if has_where { "AND" } else { "WHERE" };
            format!("{select} {glue} {like_col} LIKE {p} ORDER BY 1")
        }
        ShowFilter::Where(cond) => {
            format!("SELECT * FROM ({select}) AS `show` WHERE {cond} ORDER BY 1")
        }
    }
}

/// SHOW DATABASES as a catalog query.
pub fn show_databases_sql(filter: &ShowFilter) -> String {
    let title = match filter {
        ShowFilter::Like(p) => format!("Database ({})", pattern_title(p)),
        _ => "Database".into(),
    };
    let select = format!(
        "SELECT SCHEMA_NAME AS {} FROM information_schema.SCHEMATA",
        ident(&title)
    );
    filtered(&select, "SCHEMA_NAME", filter, false)
}

/// SHOW [FULL] TABLES of logical schema `db` as a catalog query.
pub fn show_tables_sql(db: &str, full: bool, filter: &ShowFilter) -> String {
    let title = match filter {
        ShowFilter::Like(p) => format!("Tables_in_{db} ({})", pattern_title(p)),
        _ => format!("Tables_in_{db}"),
    };
    let kind = if full {
        ", TABLE_TYPE AS `Table_type`"
    } else {
        ""
    };
    let select = format!(
        "SELECT TABLE_NAME AS {}{kind} FROM information_schema.TABLES WHERE TABLE_SCHEMA = {}",
        ident(&title),
        quote(db)
    );
    filtered(&select, "TABLE_NAME", filter, true)
}

/// SHOW TABLE STATUS of logical schema `db` as a catalog query (the
/// figures are those of each table's representative copy).
pub fn show_table_status_sql(db: &str, filter: &ShowFilter) -> String {
    const COLUMNS: &[(&str, &str)] = &[
        ("TABLE_NAME", "Name"),
        ("ENGINE", "Engine"),
        ("VERSION", "Version"),
        ("ROW_FORMAT", "Row_format"),
        ("TABLE_ROWS", "Rows"),
        ("AVG_ROW_LENGTH", "Avg_row_length"),
        ("DATA_LENGTH", "Data_length"),
        ("MAX_DATA_LENGTH", "Max_data_length"),
        ("INDEX_LENGTH", "Index_length"),
        ("DATA_FREE", "Data_free"),
        ("AUTO_INCREMENT", "Auto_increment"),
        ("CREATE_TIME", "Create_time"),
        ("UPDATE_TIME", "Update_time"),
        ("CHECK_TIME", "Check_time"),
        ("TABLE_COLLATION", "Collation"),
        ("CHECKSUM", "Checksum"),
        ("CREATE_OPTIONS", "Create_options"),
        ("TABLE_COMMENT", "Comment"),
        ("MAX_INDEX_LENGTH", "Max_index_length"),
        ("TEMPORARY", "Temporary"),
    ];
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|(c, a)| format!("{c} AS {}", ident(a)))
        .collect();
    let select = format!(
        "SELECT {} FROM information_schema.TABLES WHERE TABLE_SCHEMA = {}",
        cols.join(", "),
        quote(db)
    );
    filtered(&select, "TABLE_NAME", filter, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_catalog_reference() {
        let sql = "SELECT A.TABLE_NAME FROM INFORMATION_SCHEMA.COLUMNS A, `information_schema` . `STATISTICS` B \
                   WHERE A.x = 'information_schema.TABLES' AND B.y = 1";
        let refs = references(sql);
        let names: Vec<&str> = refs.iter().map(|r| r.table.name).collect();
        assert_eq!(names, ["COLUMNS", "STATISTICS"], "not inside the string");
        let out = rewrite(sql, &refs, |t| format!("(X_{})", t.name));
        assert_eq!(
            out,
            "SELECT A.TABLE_NAME FROM (X_COLUMNS) A, (X_STATISTICS) B \
             WHERE A.x = 'information_schema.TABLES' AND B.y = 1"
        );
        let sql = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='haoka'";
        assert_eq!(
            rewrite(sql, &references(sql), |_| "(X)".into()),
            "SELECT TABLE_NAME FROM (X) AS `TABLES` WHERE TABLE_SCHEMA='haoka'"
        );
        assert!(references("SELECT * FROM information_schema.TABLESPACES").is_empty());
        assert!(references("SELECT * FROM my_information_schema.TABLES").is_empty());
    }

    #[test]
    fn show_statements_as_catalog_queries() {
        assert_eq!(
            show_tables_sql("sbtest", true, &ShowFilter::Like("'sb%'".into())),
            "SELECT TABLE_NAME AS `Tables_in_sbtest (sb%)`, TABLE_TYPE AS `Table_type` \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sbtest' \
             AND TABLE_NAME LIKE 'sb%' ORDER BY 1"
        );
        assert_eq!(
            show_databases_sql(&ShowFilter::Where("`Database` <> 'x'".into())),
            "SELECT * FROM (SELECT SCHEMA_NAME AS `Database` FROM information_schema.SCHEMATA) \
             AS `show` WHERE `Database` <> 'x' ORDER BY 1"
        );
    }

    #[test]
    fn derived_tables_show_logical_names_of_visible_schemas() {
        let rules =
            Rules::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/rules.toml")).unwrap();
        let sb = rules
            .schemas
            .iter()
            .position(|s| s.name == "sbtest")
            .unwrap();
        let view = LogicalView::new(&rules, vec![sb]);
        let tables = CATALOG.iter().find(|t| t.name == "TABLES").unwrap();
        let d = view.derived_table(tables, &["TABLE_SCHEMA".into(), "TABLE_NAME".into()]);
        assert!(d.contains("WHEN 'sbtest_s0.sbtest1' THEN 'sbtest1'"), "{d}");
        assert!(!d.contains("haoka_s0"), "haoka is not visible: {d}");
        assert!(
            !d.contains("'sbtest_global', 'haoka_sequence'"),
            "internal table: {d}"
        );
    }
}
