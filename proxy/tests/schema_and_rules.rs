//! The foundation's promises about schema/: the rules file parses, every
//! logical table has exactly one rule, every province has a shard, every
//! segment has a province and city, and the DDL applies to real MariaDB.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use haoka_proxy::admin::apply_schema::{apply_schema, read_ddl_dir};
use haoka_proxy::config::BackendAccount;
use haoka_proxy::rules::{Place, Rules, TableRule};
use mysql_async::prelude::Queryable;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rules() -> Rules {
    Rules::load(repo().join("schema/rules.toml")).expect("schema/rules.toml loads")
}

fn csv(name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(repo().join("schema/reference").join(name))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn root_opts() -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"))
        .into()
}

#[test]
fn every_ddl_table_has_exactly_one_rule_and_every_rule_has_ddl() {
    let rules = rules();
    let haoka = rules.schema("haoka").expect("schema haoka");
    let ddl = read_ddl_dir(&repo().join("schema/ddl")).expect("DDL parses");
    let ddl_tables: BTreeSet<String> = ddl.iter().map(|d| d.table.clone()).collect();
    assert_eq!(ddl_tables.len(), ddl.len(), "a table is defined twice");
    for t in &ddl_tables {
        assert!(haoka.table(t).is_some(), "table {t} has no rule");
    }
    // The loader refuses a table named by two rules, so "exactly one" holds
    // once every table has one; check the other direction as well.
    let ruled: BTreeSet<String> = haoka.tables().iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(ruled, ddl_tables, "rules and DDL name different tables");
    // The design's table groups land where DESIGN.md §3 says.
    assert!(matches!(haoka.table("segment"), Some(TableRule::Broadcast)));
    assert!(matches!(haoka.table("staff"), Some(TableRule::Global)));
    match haoka.table("phone_number") {
        Some(TableRule::Sharded(t)) => {
            assert_eq!(t.shard_by.column, "province_code");
            assert_eq!(t.split_by.as_ref().map(|s| s.count), Some(4));
        }
        other => panic!("phone_number is not sharded: {other:?}"),
    }
    assert_eq!(haoka.global_indexes.len(), 1);
    assert_eq!(haoka.shards.len(), 8);
}

#[test]
fn sbtest_tables_are_sharded_by_id_with_their_own_sequences() {
    let rules = rules();
    let sb = rules.schema("sbtest").expect("schema sbtest");
    for i in 1..=16 {
        let name = format!("sbtest{i}");
        match sb.table(&name) {
            Some(TableRule::Sharded(t)) => assert_eq!(t.shard_by.column, "id"),
            other => panic!("{name}: {other:?}"),
        }
        let seq = sb.sequence_for(&name).expect("sequence");
        assert_eq!(
            (seq.name.as_str(), seq.column.as_str()),
            (name.as_str(), "id")
        );
        assert_eq!(sb.physical_tables(&name).unwrap().len(), 8);
    }
}

#[test]
fn every_province_maps_to_an_existing_shard() {
    let rules = rules();
    let haoka = rules.schema("haoka").unwrap();
    let provinces: BTreeSet<String> = csv("provinces.csv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(provinces.len(), 31);
    let mapped: BTreeSet<String> = haoka.province_shards.keys().cloned().collect();
    assert_eq!(mapped, provinces, "province map and provinces.csv differ");
    for (code, shard) in &haoka.province_shards {
        assert!(*shard < haoka.shards.len(), "{code} -> {shard}");
    }
    // Every shard holds at least one province.
    let used: BTreeSet<usize> = haoka.province_shards.values().copied().collect();
    assert_eq!(used.len(), haoka.shards.len());
}

#[test]
fn every_hcode_of_every_prefix_maps_to_a_province_and_city_that_exist() {
    let provinces: BTreeSet<String> = csv("provinces.csv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let cities: HashMap<String, String> = csv("cities.csv")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    for r in csv("provinces.csv") {
        assert_eq!(
            cities.get(&r[3]),
            Some(&r[0]),
            "capital of {} is not one of its cities",
            r[0]
        );
    }
    let mut covered: BTreeMap<u32, usize> = BTreeMap::new();
    let mut per_province: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in csv("segments.csv") {
        let (from, to): (u32, u32) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        assert!(provinces.contains(&r[2]), "unknown province {}", r[2]);
        assert_eq!(
            cities.get(&r[3]),
            Some(&r[2]),
            "city {} is not in province {}",
            r[3],
            r[2]
        );
        for s in from..=to {
            *covered.entry(s).or_default() += 1;
        }
        per_province
            .entry(r[2].clone())
            .or_default()
            .insert(r[0][..3].to_string());
    }
    let prefixes = [130, 131, 132, 145, 155, 156, 166, 175, 176, 185, 186, 196];
    assert_eq!(covered.len(), prefixes.len() * 10_000);
    for p in prefixes {
        for h in 0..10_000 {
            assert_eq!(
                covered.get(&(p * 10_000 + h)),
                Some(&1),
                "segment {p}{h:04}"
            );
        }
    }
    assert_eq!(per_province.len(), 31, "a province has no segments");
}

#[test]
fn segments_csv_is_what_its_generator_writes() {
    let out = std::process::Command::new("python3")
        .arg(repo().join("schema/reference/gen_segments.py"))
        .arg("--stdout")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read(repo().join("schema/reference/segments.csv")).unwrap();
    assert!(
        out.stdout == file,
        "segments.csv differs from gen_segments.py output"
    );
}

#[tokio::test]
async fn the_ddl_applies_cleanly_to_a_fresh_database() {
    let ddl = read_ddl_dir(&repo().join("schema/ddl")).unwrap();
    let db = format!("haoka_ddl_check_{}", std::process::id());
    let mut conn = mysql_async::Conn::new(root_opts()).await.unwrap();
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    conn.query_drop(format!("USE `{db}`")).await.unwrap();
    for d in &ddl {
        conn.query_drop(&d.sql)
            .await
            .unwrap_or_else(|e| panic!("{} ({}) fails: {e}", d.table, d.file));
    }
    let n: u64 = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (db.as_str(),),
        )
        .await
        .unwrap()
        .unwrap();
    conn.query_drop(format!("DROP DATABASE `{db}`"))
        .await
        .unwrap();
    assert_eq!(n as usize, ddl.len());
}

#[tokio::test]
async fn apply_schema_creates_what_is_missing_and_nothing_more() {
    // The real rules with this test's own database names.
    let tag = format!("haoka_t{}", std::process::id());
    let text = std::fs::read_to_string(repo().join("schema/rules.toml"))
        .unwrap()
        .replace("database = \"haoka_s", &format!("database = \"{tag}_s"))
        .replace("\"haoka_global\"", &format!("\"{tag}_global\""));
    let rules = Rules::from_toml(&text).unwrap();
    let schema = rules.schema("haoka").unwrap();
    let ddl = read_ddl_dir(&repo().join("schema/ddl")).unwrap();
    let root = BackendAccount {
        user: "root".into(),
        password: String::new(),
    };
    let expected_tables: usize = ddl
        .iter()
        .map(|d| schema.physical_tables(&d.table).unwrap().len())
        .sum();

    let first = apply_schema(&rules, &root, "haoka", &ddl).await.unwrap();
    assert_eq!(first.created_databases.len(), 9);
    assert_eq!(first.created_tables.len(), expected_tables);
    assert!(first
        .created_tables
        .contains(&format!("{tag}_s3.phone_number_2")));

    let second = apply_schema(&rules, &root, "haoka", &ddl).await.unwrap();
    assert_eq!(second, Default::default(), "second run must create nothing");

    let mut conn = mysql_async::Conn::new(root_opts()).await.unwrap();
    conn.query_drop(format!("DROP TABLE `{tag}_s5`.`sim_card`"))
        .await
        .unwrap();
    let third = apply_schema(&rules, &root, "haoka", &ddl).await.unwrap();
    assert_eq!(third.created_tables, vec![format!("{tag}_s5.sim_card")]);

    let places: Vec<Place> = schema.all_places().collect();
    assert_eq!(places.len(), 9);
    for place in places {
        let db = &schema.target(place).database;
        conn.query_drop(format!("DROP DATABASE `{db}`"))
            .await
            .unwrap();
    }
}
