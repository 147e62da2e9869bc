//! Two private logical schemas for tests of what clients see through the
//! proxy (catalogs, column definitions, dumps): `<p>` with a sharded table,
//! a split table, a broadcast and a global table over 4 shards, and `<p>x`
//! over 2 shards. Their shard databases (`sbtest_<p>_s0`..., which the
//! proxy's backend account may use) are made by root and dropped on drop.

use mysql_async::prelude::Queryable;

use super::{direct, ProxyProc};

pub struct LogicalSchemas {
    /// The main schema's name; the second one is `<name>x`.
    pub name: String,
    pub proxy: ProxyProc,
}

pub const SHARDS: usize = 4;

/// Physical databases of the two schemas: (global, data shards).
fn databases(p: &str) -> Vec<String> {
    let mut v = vec![format!("sbtest_{p}_g"), format!("sbtest_{p}x_g")];
    v.extend((0..SHARDS).map(|i| format!("sbtest_{p}_s{i}")));
    v.extend((0..2).map(|i| format!("sbtest_{p}x_s{i}")));
    v
}

/// The rules of the two schemas.
pub fn rules(p: &str) -> String {
    let shards = |s: &str, n: usize| {
        (0..n)
            .map(|i| format!("{{ datasource = \"local\", database = \"sbtest_{s}_s{i}\" }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"version = 1
[[datasources]]
name = "local"
host = "127.0.0.1"
port = 3306

[[schemas]]
name = "{p}"
default = true
global_shard = {{ datasource = "local", database = "sbtest_{p}_g" }}
shards = [{main}]
broadcast_tables = ["region"]
global_tables = ["haoka_sequence", "setting"]
sequences = [{{ table = "orders", column = "id" }}]

[[schemas.sharded]]
tables = ["orders", "typed"]
shard_by = {{ column = "id", algorithm = "mod" }}

[[schemas.sharded]]
table = "ledger"
shard_by = {{ column = "acct", algorithm = "mod" }}
split_by = {{ column = "id", algorithm = "mod", count = 2 }}

[[schemas]]
name = "{p}x"
global_shard = {{ datasource = "local", database = "sbtest_{p}x_g" }}
shards = [{other}]
global_tables = ["haoka_sequence"]

[[schemas.sharded]]
table = "other_item"
shard_by = {{ column = "id", algorithm = "mod" }}
"#,
        main = shards(p, SHARDS),
        other = shards(&format!("{p}x"), 2),
    )
}

/// The logical tables, as a client creates them through the proxy.
pub const TABLES_DDL: &[&str] = &[
    "CREATE TABLE orders (id BIGINT NOT NULL, region CHAR(2) NOT NULL, amount DECIMAL(12,2) NULL, \
     note VARCHAR(64) NULL, created DATETIME(3) NULL, PRIMARY KEY (id), KEY idx_region (region)) \
     ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE ledger (acct INT NOT NULL, id BIGINT NOT NULL, body TEXT NULL, \
     PRIMARY KEY (acct, id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE region (code CHAR(2) NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL, \
     UNIQUE KEY uk_name (name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE setting (k VARCHAR(32) NOT NULL PRIMARY KEY, v VARBINARY(64) NULL) \
     ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    // Every column type the haoka schema uses.
    "CREATE TABLE typed (id BIGINT NOT NULL PRIMARY KEY, i INT NULL, iu INT UNSIGNED NULL, \
     b TINYINT(1) NULL, tu TINYINT UNSIGNED NULL, sm SMALLINT NULL, ch CHAR(11) NULL, \
     vc VARCHAR(64) NULL, tx TEXT NULL, mt MEDIUMTEXT NULL, vb VARBINARY(128) NULL, \
     bn BINARY(4) NULL, dt DATETIME(3) NULL, d DATE NULL, js JSON NULL, dec2 DECIMAL(12,2) NULL, \
     ts TIMESTAMP NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
];

impl LogicalSchemas {
    /// Fresh databases (dropped first), the proxy on the two schemas, and
    /// the logical tables created through it.
    pub async fn start(p: &str) -> LogicalSchemas {
        Self::start_with(p, "").await
    }

    /// As `start`; `extra` is appended to the proxy's config (e.g. one more
    /// `[[users]]`).
    pub async fn start_with(p: &str, extra: &str) -> LogicalSchemas {
        let mut root = direct(None).await;
        for db in databases(p) {
            root.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .await
                .unwrap();
            root.query_drop(format!("CREATE DATABASE `{db}` DEFAULT CHARSET utf8mb4"))
                .await
                .unwrap();
        }
        for g in [format!("sbtest_{p}_g"), format!("sbtest_{p}x_g")] {
            root.query_drop(format!("USE `{g}`")).await.unwrap();
            root.query_drop(haoka_proxy::admin::apply_schema::PROXY_TABLES_DDL)
                .await
                .unwrap();
        }
        root.disconnect().await.unwrap();
        let proxy = ProxyProc::start_with_rules(Some(&rules(p)), extra);
        let mut c = proxy.conn(p).await;
        for ddl in TABLES_DDL {
            c.query_drop(*ddl)
                .await
                .unwrap_or_else(|e| panic!("{ddl}: {e}"));
        }
        let mut x = proxy.conn(&format!("{p}x")).await;
        x.query_drop("CREATE TABLE other_item (id BIGINT NOT NULL PRIMARY KEY, label VARCHAR(16))")
            .await
            .unwrap();
        LogicalSchemas {
            name: p.to_string(),
            proxy,
        }
    }

    pub fn other(&self) -> String {
        format!("{}x", self.name)
    }

    /// Physical database of data shard `i` of the main schema.
    pub fn shard_db(&self, i: usize) -> String {
        format!("sbtest_{}_s{i}", self.name)
    }

    pub fn global_db(&self) -> String {
        format!("sbtest_{}_g", self.name)
    }
}

impl Drop for LogicalSchemas {
    fn drop(&mut self) {
        // Synchronous cleanup with the CLI (Drop cannot await).
        let drops: String = databases(&self.name)
            .iter()
            .map(|db| format!("DROP DATABASE IF EXISTS `{db}`;"))
            .collect();
        let _ = std::process::Command::new("mariadb")
            .args(["-uroot", "-h127.0.0.1", "-P3306", "-e", &drops])
            .output();
    }
}
