//! The ICCID global secondary index (`card_iccid_index`) stays equal to the
//! card table under random inserts, updates (of the ICCID too) and deletes
//! through the proxy
//! (autocommit and inside transactions, committed or rolled back), checked
//! with direct SQL on every shard; EXPLAIN shows an ICCID-only query routed
//! through the index to the one owning shard.

mod e2e_common;

use std::collections::{BTreeMap, BTreeSet};

use e2e_common::*;
use mysql_async::prelude::*;

/// One province per data shard (rules: province_shards).
const PROVINCES: [(&str, usize); 8] = [
    ("11", 0),
    ("10", 1),
    ("31", 2),
    ("38", 3),
    ("76", 4),
    ("51", 5),
    ("83", 6),
    ("84", 7),
];

/// (iccid, province, card_id) of `table` rows whose ICCID starts with
/// `prefix`, over every haoka data shard, read directly.
async fn rows_on_shards(table: &str, prefix: &str) -> BTreeSet<(String, String, i64)> {
    let mut out = BTreeSet::new();
    for s in 0..8 {
        let mut d = direct(Some(&format!("haoka_s{s}"))).await;
        let rows: Vec<(String, String, i64)> = d
            .exec(
                format!("SELECT iccid, province_code, card_id FROM {table} WHERE iccid LIKE ?"),
                (format!("{prefix}%"),),
            )
            .await
            .unwrap();
        d.disconnect().await.unwrap();
        out.extend(rows);
    }
    out
}

async fn insert(c: &mut mysql_async::Conn, iccid: &str, province: &str) {
    c.exec_drop(
        "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) \
         VALUES (?, ?, '100', 1, 'M')",
        (iccid, province),
    )
    .await
    .unwrap_or_else(|e| panic!("insert {iccid}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iccid_index_equals_the_cards_after_random_writes() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("haoka").await;
    let nanos = e2e_common::txn::nanos();
    let prefix = format!("898606{:08}", (nanos / 1000) % 100_000_000);
    let mut rng = Rng::new(nanos as u64);
    // Model: live ICCIDs -> province.
    let mut live: BTreeMap<String, &str> = BTreeMap::new();
    let mut next = 0;
    let mut fresh = |p: &str| {
        next += 1;
        let _ = p;
        format!("{prefix}{next:06}")
    };
    for _ in 0..80 {
        let roll = rng.range(0, 99);
        let (prov, _) = *rng.pick(&PROVINCES);
        let pick_live = |rng: &mut Rng, live: &BTreeMap<String, &str>| {
            let keys: Vec<&String> = live.keys().collect();
            (!keys.is_empty()).then(|| keys[rng.range(0, keys.len() as i64 - 1) as usize].clone())
        };
        match roll {
            0..=34 => {
                let id = fresh(prov);
                insert(&mut c, &id, prov).await;
                live.insert(id, prov);
            }
            35..=49 => {
                // Several cards of several provinces in one transaction,
                // committed or rolled back.
                let commit = rng.chance(60);
                c.query_drop("BEGIN").await.unwrap();
                let mut added = Vec::new();
                for _ in 0..3 {
                    let (p, _) = *rng.pick(&PROVINCES);
                    let id = fresh(p);
                    insert(&mut c, &id, p).await;
                    added.push((id, p));
                }
                if let Some(gone) = pick_live(&mut rng, &live) {
                    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&gone,))
                        .await
                        .unwrap();
                    if commit {
                        live.remove(&gone);
                    }
                }
                c.query_drop(if commit { "COMMIT" } else { "ROLLBACK" })
                    .await
                    .unwrap();
                if commit {
                    live.extend(added);
                }
            }
            50..=69 => {
                if let Some(gone) = pick_live(&mut rng, &live) {
                    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&gone,))
                        .await
                        .unwrap();
                    assert_eq!(c.affected_rows(), 1, "delete {gone}");
                    live.remove(&gone);
                }
            }
            70..=79 => {
                // By shard key and card id (no ICCID in the statement).
                if let Some(gone) = pick_live(&mut rng, &live) {
                    let p = live[&gone];
                    let id: i64 = c
                        .exec_first("SELECT card_id FROM sim_card WHERE iccid = ?", (&gone,))
                        .await
                        .unwrap()
                        .expect("live card");
                    c.exec_drop(
                        "DELETE FROM sim_card WHERE province_code = ? AND card_id = ?",
                        (p, id),
                    )
                    .await
                    .unwrap();
                    assert_eq!(c.affected_rows(), 1);
                    live.remove(&gone);
                }
            }
            80..=89 => {
                // The indexed column itself: the index row moves (usually
                // to another index shard).
                if let Some(old) = pick_live(&mut rng, &live) {
                    let p = live[&old];
                    let new = fresh(p);
                    c.exec_drop(
                        "UPDATE sim_card SET iccid = ? WHERE iccid = ?",
                        (&new, &old),
                    )
                    .await
                    .unwrap();
                    assert_eq!(c.affected_rows(), 1, "update {old}");
                    live.remove(&old);
                    live.insert(new, p);
                }
            }
            _ => {
                // Not the indexed column: the index row stays as it is.
                if let Some(k) = pick_live(&mut rng, &live) {
                    c.exec_drop("UPDATE sim_card SET status = IF(status = '02', '01', '02') WHERE iccid = ?", (&k,))
                        .await
                        .unwrap();
                    assert_eq!(c.affected_rows(), 1);
                }
            }
        }
    }
    let cards = rows_on_shards("sim_card", &prefix).await;
    let index = rows_on_shards("card_iccid_index", &prefix).await;
    assert_eq!(cards, index, "index rows == card rows");
    let ids: BTreeSet<String> = cards.iter().map(|r| r.0.clone()).collect();
    assert_eq!(ids, live.keys().cloned().collect(), "cards == model");
    // The random walk may have deleted every card: the EXPLAIN below needs one.
    if live.is_empty() {
        let (prov, _) = PROVINCES[0];
        let id = fresh(prov);
        insert(&mut c, &id, prov).await;
        live.insert(id, prov);
    }

    // EXPLAIN of an ICCID-only query: the index lookup, then one shard.
    let (iccid, prov) = live.iter().next().map(|(k, v)| (k.clone(), *v)).unwrap();
    let shard = PROVINCES.iter().find(|p| p.0 == prov).unwrap().1;
    let plan: Vec<(String, String, String)> = c
        .query(format!(
            "EXPLAIN SELECT * FROM sim_card WHERE iccid = '{iccid}'"
        ))
        .await
        .unwrap();
    let last = plan.last().unwrap();
    assert_eq!(last.0, shard.to_string(), "{plan:?}");
    assert!(last.2.contains("`sim_card`"), "{plan:?}");
    assert!(
        plan.iter().any(|r| r.2.contains("card_iccid_index")),
        "{plan:?}"
    );
    let base_rows = plan.iter().filter(|r| r.2.contains("`sim_card`")).count();
    assert_eq!(base_rows, 1, "one base shard: {plan:?}");

    // A scatter DELETE keeps the index too; nothing is left behind.
    c.exec_drop(
        "DELETE FROM sim_card WHERE iccid LIKE ?",
        (format!("{prefix}%"),),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows() as usize, live.len());
    assert!(rows_on_shards("sim_card", &prefix).await.is_empty());
    assert!(rows_on_shards("card_iccid_index", &prefix).await.is_empty());
}

/// (province, card_id) the index holds for `iccid`, read directly.
async fn index_row(iccid: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (prov, card) in rows_on_shards("card_iccid_index", iccid)
        .await
        .into_iter()
        .filter(|r| r.0 == iccid)
        .map(|r| (r.1, r.2))
    {
        out.push((prov, card));
    }
    out
}

async fn insert_card(
    c: &mut mysql_async::Conn,
    card_id: i64,
    iccid: &str,
    province: &str,
) -> Result<u64, mysql_async::Error> {
    c.exec_drop(
        "INSERT INTO sim_card (card_id, iccid, province_code, city_code, depot_id, card_type) \
         VALUES (?, ?, ?, '100', 1, 'M')",
        (card_id, iccid, province),
    )
    .await
    .map(|()| c.affected_rows())
}

/// The rows an INSERT of one card reports: the card and its index row (the
/// proxy counts both, moved or not).
const ONE_CARD: u64 = 2;

fn dup_code(r: Result<u64, mysql_async::Error>) -> u16 {
    match r {
        Err(mysql_async::Error::Server(e)) => e.code,
        other => panic!("expected a duplicate-key error, got {other:?}"),
    }
}

/// A card moving provinces (成卡调拨 as a half transaction): the target
/// shard inserts the same card (same card_id) while the source row still
/// exists, which re-points the index row; the source's later DELETE leaves
/// the re-pointed row alone. A different card with the same ICCID is still a
/// duplicate, and so is a multi-row INSERT that repeats an indexed ICCID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_moving_provinces_re_points_its_index_row() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("haoka").await;
    let nanos = e2e_common::txn::nanos();
    let iccid = format!("898601{:013}", nanos % 10_000_000_000_000);
    let card = (nanos % 1_000_000_000) as i64 + 9_000_000_000;
    // 11 (shard 0) -> 51 (shard 5)
    assert_eq!(
        insert_card(&mut c, card, &iccid, "11").await.unwrap(),
        ONE_CARD
    );
    assert_eq!(index_row(&iccid).await, vec![("11".to_string(), card)]);
    assert_eq!(
        insert_card(&mut c, card, &iccid, "51").await.unwrap(),
        ONE_CARD
    );
    assert_eq!(index_row(&iccid).await, vec![("51".to_string(), card)]);
    // another card with this ICCID: refused, nothing written
    assert_eq!(
        dup_code(insert_card(&mut c, card + 1, &iccid, "31").await),
        1062
    );
    assert_eq!(index_row(&iccid).await, vec![("51".to_string(), card)]);
    let in_31: Option<i64> = c
        .exec_first(
            "SELECT card_id FROM sim_card WHERE province_code = '31' AND iccid = ?",
            (&iccid,),
        )
        .await
        .unwrap();
    assert_eq!(in_31, None);
    // the same card again where it already is: the base row collides
    assert_eq!(
        dup_code(insert_card(&mut c, card, &iccid, "51").await),
        1062
    );
    // several rows repeating an indexed ICCID: every key must be new
    let r = c
        .exec_drop(
            "INSERT INTO sim_card (card_id, iccid, province_code, city_code, depot_id, card_type) \
             VALUES (?, ?, '38', '100', 1, 'M'), (?, ?, '38', '100', 1, 'M')",
            (card, &iccid, card + 2, format!("{iccid}9")),
        )
        .await
        .map(|()| 0);
    assert_eq!(dup_code(r), 1062);
    // the source row goes: the index keeps pointing at the target
    c.exec_drop(
        "DELETE FROM sim_card WHERE province_code = '11' AND card_id = ?",
        (card,),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert_eq!(index_row(&iccid).await, vec![("51".to_string(), card)]);
    let found: Option<String> = c
        .exec_first(
            "SELECT province_code FROM sim_card WHERE iccid = ?",
            (&iccid,),
        )
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("51"));
    // a move rolled back leaves the index where it was
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(
        insert_card(&mut c, card, &iccid, "83").await.unwrap(),
        ONE_CARD
    );
    c.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(index_row(&iccid).await, vec![("51".to_string(), card)]);
    // a move and the source delete in one transaction
    c.query_drop("BEGIN").await.unwrap();
    assert_eq!(
        insert_card(&mut c, card, &iccid, "83").await.unwrap(),
        ONE_CARD
    );
    c.exec_drop(
        "DELETE FROM sim_card WHERE province_code = '51' AND card_id = ?",
        (card,),
    )
    .await
    .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(index_row(&iccid).await, vec![("83".to_string(), card)]);
    // deleting the live row removes its index row
    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&iccid,))
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 1);
    assert!(index_row(&iccid).await.is_empty());
    assert!(rows_on_shards("sim_card", &iccid).await.is_empty());
}
