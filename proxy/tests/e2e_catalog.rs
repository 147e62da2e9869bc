//! information_schema and SHOW through the proxy show logical schemas and
//! tables, not the physical shard tables behind them, with database
//! qualifiers honoured and only the schemas the user may use.
//!
//! Schemas: haoka, sbtest, private `k13c` / `k13cx` (e2e_common::logical).

mod e2e_common;

use e2e_common::logical::LogicalSchemas;
use e2e_common::*;
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_lists_logical_tables_and_their_columns() {
    let proxy = ProxyProc::start();
    let mut conn = proxy.conn("haoka").await;
    let rules = haoka_proxy::rules::Rules::load(repo_root().join("schema/rules.toml")).unwrap();
    let logical: Vec<String> = rules
        .schema("haoka")
        .unwrap()
        .catalog_tables()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();

    let names: Vec<String> = conn
        .query(
            "SELECT TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = 'haoka' ORDER BY TABLE_NAME",
        )
        .await
        .unwrap();
    assert_eq!(names, logical, "one row per logical table, none physical");

    let physical: u64 = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_NAME LIKE 'phone_number\\_%' OR TABLE_SCHEMA LIKE 'haoka\\_%'",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(physical, 0, "physical names leak through the catalog");

    let cols: Vec<String> = conn
        .query(
            "SELECT COLUMN_NAME FROM `information_schema`.`COLUMNS` c \
             WHERE c.TABLE_SCHEMA = 'haoka' AND c.TABLE_NAME = 'phone_number' \
             ORDER BY c.ORDINAL_POSITION",
        )
        .await
        .unwrap();
    assert_eq!(cols.first().map(String::as_str), Some("phone_no"));
    assert!(cols.iter().any(|c| c == "hold_deadline"), "{cols:?}");

    let sb: u64 = conn
        .query_first("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sbtest'")
        .await
        .unwrap()
        .unwrap();
    assert!(
        sb <= 16,
        "sbtest shows at most its 16 logical tables, got {sb}"
    );
    drop(conn);
    assert!(!proxy.log().contains("panicked"));
}

fn err_code(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other}"),
    }
}

/// Column names of a result.
async fn names(c: &mut mysql_async::Conn, sql: &str) -> Vec<String> {
    let r = c
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let cols = r
        .columns()
        .map(|c| c.iter().map(|c| c.name_str().to_string()).collect())
        .unwrap_or_default();
    r.drop_result().await.unwrap();
    cols
}

/// Every value of a result as text, rows joined by ';' and values by ','.
async fn text(c: &mut mysql_async::Conn, sql: &str) -> String {
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    mysql_async::Value::NULL => "NULL".into(),
                    other => other.as_sql(true),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_statements_honour_database_qualifiers() {
    let s = LogicalSchemas::start("k13c").await;
    let (db, other) = (s.name.clone(), s.other());
    let mut c = s.proxy.conn(&db).await;
    let tables = "ledger;orders;region;setting;typed";

    assert_eq!(
        text(&mut c, "SHOW TABLES").await,
        tables,
        "no haoka_sequence"
    );
    assert_eq!(
        text(&mut c, &format!("SHOW TABLES FROM `{db}`")).await,
        tables
    );
    assert_eq!(
        text(&mut c, &format!("SHOW TABLES IN {other}")).await,
        "other_item"
    );
    assert_eq!(
        text(&mut c, &format!("SHOW FULL TABLES FROM {db} LIKE 'l%'")).await,
        "ledger,BASE TABLE"
    );
    assert_eq!(
        names(&mut c, &format!("SHOW FULL TABLES FROM {db} LIKE 'l%'")).await,
        [format!("Tables_in_{db} (l%)"), "Table_type".into()]
    );
    assert_eq!(
        text(
            &mut c,
            "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE' AND `Tables_in_k13c` <> 'typed'"
        )
        .await,
        "ledger,BASE TABLE;orders,BASE TABLE;region,BASE TABLE;setting,BASE TABLE"
    );
    let status: Vec<mysql_async::Row> = c.query("SHOW TABLE STATUS").await.unwrap();
    let status_names: Vec<String> = status
        .iter()
        .map(|r| r.get::<String, _>(0).unwrap())
        .collect();
    assert_eq!(status_names.join(";"), tables);
    assert_eq!(status[0].columns_ref()[1].name_str(), "Engine");
    let one: Vec<mysql_async::Row> = c
        .query(format!("SHOW TABLE STATUS FROM `{db}` LIKE 'ledge_'"))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].get::<String, _>("Engine").as_deref(), Some("InnoDB"));
    assert_eq!(
        text(
            &mut c,
            &format!("SHOW TABLE STATUS FROM {other} WHERE Name LIKE 'other%'")
        )
        .await
        .split(',')
        .next(),
        Some("other_item")
    );

    // Columns, indexes, DDL of a table of another schema, and under the
    // logical name of a split table.
    let cols = format!("SHOW COLUMNS FROM other_item FROM {other}");
    assert_eq!(text(&mut c, &cols).await.split(';').count(), 2, "{cols}");
    assert!(text(&mut c, &cols)
        .await
        .starts_with("id,bigint(20),NO,PRI"));
    assert_eq!(
        text(&mut c, &format!("DESCRIBE {other}.other_item")).await,
        text(&mut c, &cols).await
    );
    assert!(text(&mut c, &format!("DESC {other}.other_item label"))
        .await
        .starts_with("label,varchar(16)"));
    assert!(text(
        &mut c,
        &format!("SHOW FULL COLUMNS FROM `{other}`.`other_item` LIKE 'l%'")
    )
    .await
    .starts_with("label,varchar(16)"));
    let idx = text(&mut c, "SHOW INDEX FROM ledger").await;
    assert!(idx.starts_with("ledger,0,PRIMARY,1,acct"), "{idx}");
    assert!(!idx.contains("ledger_0"), "{idx}");
    assert!(text(&mut c, &format!("SHOW KEYS IN other_item IN {other}"))
        .await
        .starts_with("other_item,0,PRIMARY"));
    let ddl = text(&mut c, &format!("SHOW CREATE TABLE {other}.other_item")).await;
    assert!(
        ddl.starts_with("other_item,CREATE TABLE `other_item`"),
        "{ddl}"
    );
    let ddl = text(&mut c, "SHOW CREATE TABLE ledger").await;
    assert!(ddl.contains("CREATE TABLE `ledger`"), "{ddl}");
    let cdb = text(&mut c, &format!("SHOW CREATE DATABASE {db}")).await;
    assert!(
        cdb.starts_with(&format!("{db},CREATE DATABASE `{db}`")),
        "{cdb}"
    );
    let cdb = text(
        &mut c,
        &format!("SHOW CREATE DATABASE IF NOT EXISTS `{other}`"),
    )
    .await;
    assert!(cdb.contains(&format!("IF NOT EXISTS*/ `{other}`")), "{cdb}");

    // Wrong names: MariaDB's codes.
    let e = c.query_drop("SHOW TABLES FROM nope_13c").await.unwrap_err();
    assert_eq!(err_code(e), 1049);
    let e = c
        .query_drop(format!("SHOW COLUMNS FROM ledger FROM {other}"))
        .await
        .unwrap_err();
    assert_eq!(err_code(e), 1146);
    let e = c.query_drop("DESCRIBE nope_13c.ledger").await.unwrap_err();
    assert_eq!(err_code(e), 1049);

    // Nothing physical anywhere.
    for sql in [
        "SHOW TABLE STATUS".to_string(),
        format!("SHOW CREATE DATABASE {db}"),
        "SHOW INDEX FROM ledger".into(),
    ] {
        let t = text(&mut c, &sql).await;
        assert!(!t.contains("sbtest_k13c"), "{sql}: {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_tables_as_jdbc_and_orms_query_them() {
    // A second user sees only the main schema.
    let s = LogicalSchemas::start_with(
        "j13c",
        "[[users]]\nname = \"narrow\"\npassword = \"narrow\"\nschemas = [\"j13c\"]\n",
    )
    .await;
    let (db, other) = (s.name.clone(), s.other());
    let mut c = mysql_async::Conn::from_url(format!(
        "mysql://narrow:narrow@127.0.0.1:{}/{db}",
        s.proxy.port
    ))
    .await
    .unwrap();

    assert_eq!(
        text(&mut c, "SHOW DATABASES").await,
        format!("information_schema;{db}")
    );
    assert_eq!(text(&mut c, "SHOW DATABASES LIKE 'j%'").await, db);
    assert_eq!(
        text(
            &mut c,
            "SELECT SCHEMA_NAME TABLE_CAT FROM INFORMATION_SCHEMA.SCHEMATA ORDER BY 1"
        )
        .await,
        format!("information_schema;{db}"),
        "JDBC getCatalogs"
    );
    let e = c
        .query_drop(format!("SHOW TABLES FROM {other}"))
        .await
        .unwrap_err();
    assert_eq!(err_code(e), 1044);
    let e = c
        .query_drop(format!("SHOW CREATE TABLE {other}.other_item"))
        .await
        .unwrap_err();
    assert_eq!(err_code(e), 1044);
    assert_eq!(
        text(
            &mut c,
            &format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{other}'"
            )
        )
        .await,
        "0",
        "another user's schema is invisible"
    );

    // JDBC getTables / getColumns: TABLE_SCHEMA = database().
    assert_eq!(
        text(&mut c, "SELECT TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, TABLE_NAME,              IF(TABLE_TYPE='BASE TABLE', 'TABLE', TABLE_TYPE) as TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES              WHERE TABLE_SCHEMA = database() AND TABLE_NAME LIKE '%' ORDER BY TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME").await,
        format!("{db},NULL,ledger,TABLE;{db},NULL,orders,TABLE;{db},NULL,region,TABLE;{db},NULL,setting,TABLE;{db},NULL,typed,TABLE")
    );
    assert_eq!(
        text(&mut c, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM INFORMATION_SCHEMA.COLUMNS              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'ledger' ORDER BY ORDINAL_POSITION").await,
        "acct,int,PRI;id,bigint,PRI;body,text,"
    );
    // JDBC getPrimaryKeys: two catalog tables in one query.
    assert_eq!(
        text(&mut c, "SELECT A.TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, A.TABLE_NAME, A.COLUMN_NAME,              B.SEQ_IN_INDEX KEY_SEQ, B.INDEX_NAME PK_NAME FROM INFORMATION_SCHEMA.COLUMNS A,              INFORMATION_SCHEMA.STATISTICS B WHERE A.COLUMN_KEY in ('PRI','pri') AND B.INDEX_NAME='PRIMARY'              AND (A.TABLE_SCHEMA = database()) AND (B.TABLE_SCHEMA = database()) AND (A.TABLE_NAME = 'ledger')              AND (B.TABLE_NAME = 'ledger') AND A.TABLE_SCHEMA = B.TABLE_SCHEMA AND A.TABLE_NAME = B.TABLE_NAME              AND A.COLUMN_NAME = B.COLUMN_NAME ORDER BY A.COLUMN_NAME").await,
        format!("{db},NULL,ledger,acct,1,PRIMARY;{db},NULL,ledger,id,2,PRIMARY")
    );
    // getIndexInfo
    assert_eq!(
        text(&mut c, "SELECT TABLE_NAME, NON_UNIQUE, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME              FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_NAME = 'orders' AND TABLE_SCHEMA = database()              ORDER BY NON_UNIQUE, INDEX_NAME, SEQ_IN_INDEX").await,
        "orders,0,PRIMARY,1,id;orders,1,idx_region,1,region"
    );
    // Server-side prepared, with parameters (GUI clients).
    let names: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ? ORDER BY 1",
            (db.as_str(), "%r%"),
        )
        .await
        .unwrap();
    assert_eq!(names, ["ledger", "orders", "region"]);
    // Keys and constraints (SQLAlchemy / GUI clients).
    assert_eq!(
        text(&mut c, &format!("SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME              FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'region'              ORDER BY CONSTRAINT_NAME")).await,
        format!("{db},PRIMARY,{db},region,code;{db},uk_name,{db},region,name")
    );
    assert_eq!(
        text(&mut c, "SELECT TABLE_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('region', 'ledger') ORDER BY 1, 2").await,
        "ledger,PRIMARY KEY;region,PRIMARY KEY;region,UNIQUE"
    );
    assert_eq!(
        text(&mut c, "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS              WHERE CONSTRAINT_SCHEMA = DATABASE()").await,
        "0"
    );
    // Nothing physical in any catalog table.
    for t in [
        "SCHEMATA",
        "TABLES",
        "COLUMNS",
        "STATISTICS",
        "KEY_COLUMN_USAGE",
        "TABLE_CONSTRAINTS",
    ] {
        let all = text(&mut c, &format!("SELECT * FROM information_schema.{t}")).await;
        assert!(!all.contains("sbtest_j13c"), "{t}: {all}");
        assert!(
            !all.contains("ledger_0") && !all.contains("haoka_sequence"),
            "{t}: {all}"
        );
    }
}
