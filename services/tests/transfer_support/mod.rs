//! Card transfer test support: depots and stock made with SQL through the
//! proxy, where every card is (read on every shard, not through the ICCID
//! index), what the index says, and the conservation check every transfer
//! test ends with.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use haoka_services::card::iccid::luhn_digit;
use haoka_services::domain::PROVINCES;
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Value};
use rand::Rng;

pub const PROXY_URL: &str = "mysql://haoka:haoka@127.0.0.1:3307/haoka";

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A random valid 19-digit ICCID of prefix 898606.
pub fn iccid() -> String {
    let mut r = rand::thread_rng();
    let body: String = (0..12)
        .map(|_| char::from(b'0' + r.gen_range(0..10)))
        .collect();
    let payload = format!("898606{body}");
    format!("{payload}{}", luhn_digit(&payload))
}

/// A fresh depot of the province's first city: (depot_id, city).
pub async fn depot(pool: &Pool, province: &str, active: bool, holds_cards: bool) -> (i64, String) {
    let mut c = pool.get_conn().await.unwrap();
    let city: String = c
        .exec_first(
            "SELECT city_code FROM city WHERE province_code = ? ORDER BY city_code LIMIT 1",
            (province,),
        )
        .await
        .unwrap()
        .expect("the province has cities");
    c.exec_drop(
        "INSERT INTO depot (province_code, city_code, name, holds_numbers, holds_cards, status) \
         VALUES (?, ?, ?, 0, ?, ?)",
        (
            province,
            &city,
            format!("transfer test {}", rand::thread_rng().gen::<u32>()),
            holds_cards as i32,
            if active { "A" } else { "D" },
        ),
    )
    .await
    .unwrap();
    let id: i64 = c
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap();
    (id, city)
}

/// `n` fresh in-stock 成卡 in the depot; their ICCIDs.
pub async fn stock(pool: &Pool, province: &str, depot: (i64, &str), n: usize) -> Vec<String> {
    let mut c = pool.get_conn().await.unwrap();
    let list: Vec<String> = (0..n).map(|_| iccid()).collect();
    for chunk in list.chunks(200) {
        let mut params: Vec<Value> = Vec::new();
        for i in chunk {
            params.extend([
                Value::from(i.as_str()),
                province.into(),
                depot.1.into(),
                depot.0.into(),
            ]);
        }
        c.exec_drop(
            format!(
                "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type, status) \
                 VALUES {}",
                vec!["(?, ?, ?, ?, 'M', '01')"; chunk.len()].join(", ")
            ),
            params,
        )
        .await
        .unwrap();
    }
    list
}

/// One row of a card wherever it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub province: String,
    pub depot: i64,
    pub status: String,
    pub card_id: i64,
}

/// Every row of the listed cards on every shard (naming every province
/// makes the proxy ask all shards instead of trusting the ICCID index).
pub async fn placements(pool: &Pool, iccids: &[String]) -> BTreeMap<String, Vec<Placed>> {
    let mut c = pool.get_conn().await.unwrap();
    let mut out: BTreeMap<String, Vec<Placed>> = BTreeMap::new();
    for chunk in iccids.chunks(300) {
        let mut params: Vec<Value> = PROVINCES.iter().map(|p| Value::from(*p)).collect();
        params.extend(chunk.iter().map(|i| Value::from(i.as_str())));
        let rows: Vec<(String, String, i64, String, i64)> = c
            .exec(
                format!(
                    "SELECT iccid, province_code, depot_id, status, card_id FROM sim_card \
                     WHERE province_code IN ({}) AND iccid IN ({})",
                    marks(PROVINCES.len()),
                    marks(chunk.len())
                ),
                params,
            )
            .await
            .unwrap();
        for (iccid, province, depot, status, card_id) in rows {
            out.entry(iccid).or_default().push(Placed {
                province,
                depot,
                status,
                card_id,
            });
        }
    }
    out
}

/// What the ICCID index says: iccid -> (province, card_id).
pub async fn index_rows(pool: &Pool, iccids: &[String]) -> BTreeMap<String, (String, i64)> {
    let mut c = pool.get_conn().await.unwrap();
    let mut out = BTreeMap::new();
    for chunk in iccids.chunks(300) {
        let rows: Vec<(String, String, i64)> = c
            .exec(
                format!(
                    "SELECT iccid, province_code, card_id FROM card_iccid_index WHERE iccid IN ({})",
                    marks(chunk.len())
                ),
                chunk.iter().map(|i| Value::from(i.as_str())).collect::<Vec<_>>(),
            )
            .await
            .unwrap();
        for (iccid, p, id) in rows {
            out.insert(iccid, (p, id));
        }
    }
    out
}

/// Status letter of each transfer out of `from_depot`: transfer_id -> (status, card_count).
pub async fn transfers_from(
    pool: &Pool,
    province: &str,
    from_depot: i64,
) -> BTreeMap<i64, (String, i64)> {
    let mut c = pool.get_conn().await.unwrap();
    let rows: Vec<(i64, String, i64)> = c
        .exec(
            "SELECT transfer_id, status, card_count FROM card_transfer \
             WHERE province_code = ? AND from_depot_id = ?",
            (province, from_depot),
        )
        .await
        .unwrap();
    rows.into_iter().map(|(id, s, n)| (id, (s, n))).collect()
}

/// Waits until no transfer out of `from_depot` is pending; panics after `limit`.
pub async fn quiesce(pool: &Pool, province: &str, from_depot: i64, limit: Duration) {
    let t = Instant::now();
    loop {
        let all = transfers_from(pool, province, from_depot).await;
        if all.values().all(|(s, _)| s != "P") {
            return;
        }
        assert!(
            t.elapsed() < limit,
            "transfers still pending after {limit:?}: {:?}",
            all.iter()
                .filter(|(_, (s, _))| s == "P")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every card is exactly one row, in stock in one of `depots`, and the
/// ICCID index points at that row. Returns how many cards each depot holds.
pub async fn assert_conserved(
    pool: &Pool,
    iccids: &[String],
    depots: &[i64],
) -> BTreeMap<i64, usize> {
    let placed = placements(pool, iccids).await;
    let index = index_rows(pool, iccids).await;
    let mut per_depot = BTreeMap::new();
    for i in iccids {
        let rows = placed.get(i).cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "card {i} has {} rows: {rows:?}", rows.len());
        let r = &rows[0];
        assert_eq!(r.status, "01", "card {i} is not in stock: {r:?}");
        assert!(
            depots.contains(&r.depot),
            "card {i} in a foreign depot: {r:?}"
        );
        assert_eq!(
            index.get(i),
            Some(&(r.province.clone(), r.card_id)),
            "the ICCID index of {i} disagrees with its row {r:?}"
        );
        *per_depot.entry(r.depot).or_insert(0) += 1;
    }
    assert_eq!(per_depot.values().sum::<usize>(), iccids.len());
    per_depot
}
