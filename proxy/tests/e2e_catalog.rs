//! information_schema through the proxy shows logical schemas and tables,
//! not the physical shard tables behind them.

mod e2e_common;

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
        .tables()
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
