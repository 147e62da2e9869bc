//! Rules for tests that need sharded tables of their own: schema/rules.toml
//! with extra sbtest tables sharded like sbtest1..16 (range_mod 1000 over
//! the 8 sbtest shards), so their names cannot collide with other suites.

use super::repo_root;

/// schema/rules.toml with `tables` added to the sharded sbtest tables.
pub fn sbtest_rules_with(tables: &[&str]) -> String {
    let text =
        std::fs::read_to_string(repo_root().join("schema/rules.toml")).expect("schema/rules.toml");
    let anchor = "\"sbtest16\"]\nshard_by";
    assert!(
        text.contains(anchor),
        "schema/rules.toml changed: the sharded sbtest table list must end with \"sbtest16\"]"
    );
    let extra: Vec<String> = tables.iter().map(|t| format!("\"{t}\"")).collect();
    text.replacen(
        anchor,
        &format!("\"sbtest16\", {}]\nshard_by", extra.join(", ")),
        1,
    )
}
