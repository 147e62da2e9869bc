//! Business routing in the `haoka` schema through the real binary: the ICCID
//! global secondary index kept in step with sim_card, and phone numbers routed
//! by their segment (derived province, split tables). Rows use keys unique to
//! the run and are deleted at the end.

mod e2e_common;

use e2e_common::*;
use mysql_async::prelude::*;

/// Rows of `sql` on each haoka data shard, queried directly on 3306.
async fn per_shard(sql: &str) -> Vec<Vec<mysql_async::Row>> {
    let mut out = Vec::new();
    for s in 0..8 {
        let mut d = direct(Some(&format!("haoka_s{s}"))).await;
        out.push(d.query(sql).await.unwrap());
        d.disconnect().await.unwrap();
    }
    out
}

fn unique_digits(n: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let s = format!("{:020}", nanos ^ (std::process::id() as u128) << 40);
    s[s.len() - n..].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iccid_global_index_follows_the_card() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("haoka").await;
    let suffix = unique_digits(11);
    let iccid_a = format!("8986051{suffix}");
    let iccid_b = format!("8986011{suffix}");

    // Insert without card_id (sequence), province 51 -> shard 5, 11 -> shard 0.
    c.exec_drop(
        "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) \
         VALUES (?, '51', '510', 1, 'M')",
        (&iccid_a,),
    )
    .await
    .unwrap();
    let card_a = c.last_insert_id().expect("card_id from the sequence") as i64;
    c.query_drop(format!(
        "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) \
         VALUES ('{iccid_b}', '11', '110', 1, 'B')"
    ))
    .await
    .unwrap();
    let card_b = c.last_insert_id().unwrap() as i64;
    assert_ne!(card_a, card_b);

    // Base rows on the province's shard, index rows on exactly one shard each.
    for (iccid, card, shard, prov) in [(&iccid_a, card_a, 5, "51"), (&iccid_b, card_b, 0, "11")] {
        let rows = per_shard(&format!(
            "SELECT card_id FROM sim_card WHERE iccid = '{iccid}'"
        ))
        .await;
        for (s, r) in rows.iter().enumerate() {
            assert_eq!(
                r.len(),
                usize::from(s == shard),
                "card {iccid} on shard {s}"
            );
        }
        let idx = per_shard(&format!(
            "SELECT province_code, card_id FROM card_iccid_index WHERE iccid = '{iccid}'"
        ))
        .await;
        let found: Vec<(String, i64)> = idx
            .into_iter()
            .flatten()
            .map(mysql_async::from_row)
            .collect();
        assert_eq!(
            found,
            vec![(prov.to_string(), card)],
            "index row of {iccid}"
        );
    }

    // ICCID-only lookups, text and prepared, go through the index.
    let got: Option<(i64, String)> = c
        .query_first(format!(
            "SELECT card_id, province_code FROM sim_card WHERE iccid = '{iccid_a}'"
        ))
        .await
        .unwrap();
    assert_eq!(got, Some((card_a, "51".into())));
    let got: Option<(i64, String)> = c
        .exec_first(
            "SELECT card_id, province_code FROM sim_card WHERE iccid = ?",
            (&iccid_b,),
        )
        .await
        .unwrap();
    assert_eq!(got, Some((card_b, "11".into())));
    let got: Vec<i64> = c
        .exec(
            "SELECT card_id FROM sim_card WHERE iccid IN (?, ?) ORDER BY card_id",
            (&iccid_a, &iccid_b),
        )
        .await
        .unwrap();
    let mut want = vec![card_a, card_b];
    want.sort();
    assert_eq!(got, want);
    let none: Option<i64> = c
        .exec_first(
            "SELECT card_id FROM sim_card WHERE iccid = ?",
            ("89860000000000000000",),
        )
        .await
        .unwrap();
    assert_eq!(none, None);

    // Update by ICCID reaches the card.
    c.exec_drop(
        "UPDATE sim_card SET status = '02', version = version + 1 WHERE iccid = ?",
        (&iccid_a,),
    )
    .await
    .unwrap();
    assert_eq!(c.affected_rows(), 1);
    let st: Option<String> = c
        .exec_first(
            "SELECT status FROM sim_card WHERE province_code = '51' AND card_id = ?",
            (card_a,),
        )
        .await
        .unwrap();
    assert_eq!(st.as_deref(), Some("02"));

    // Delete by ICCID removes the card and its index row (the explicit
    // index delete below then finds nothing).
    for iccid in [&iccid_a, &iccid_b] {
        c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (iccid,))
            .await
            .unwrap();
        assert_eq!(c.affected_rows(), 1, "delete {iccid}");
        let left: usize = per_shard(&format!("SELECT 1 FROM sim_card WHERE iccid = '{iccid}'"))
            .await
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!(left, 0, "{iccid} card deleted");
        c.exec_drop("DELETE FROM card_iccid_index WHERE iccid = ?", (iccid,))
            .await
            .unwrap();
        let none: Option<i64> = c
            .exec_first("SELECT card_id FROM sim_card WHERE iccid = ?", (iccid,))
            .await
            .unwrap();
        assert_eq!(none, None);
    }
}

/// The ICCID index follows DELETE of the card (DESIGN.md §3: "the proxy
/// keeps it in step with the card table"), so a deleted card's ICCID can be
/// inserted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_iccid_removes_the_index_row() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("haoka").await;
    let iccid = format!("8986052{}", unique_digits(11));
    c.exec_drop(
        "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) \
         VALUES (?, '51', '510', 1, 'M')",
        (&iccid,),
    )
    .await
    .unwrap();
    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&iccid,))
        .await
        .unwrap();
    let left: usize = per_shard(&format!(
        "SELECT 1 FROM card_iccid_index WHERE iccid = '{iccid}'"
    ))
    .await
    .iter()
    .map(Vec::len)
    .sum();
    // The consequence: deleting and re-inserting a card (what the proxy
    // advises instead of updating the key) fails with a duplicate index key.
    let again = c
        .exec_drop(
            "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) \
             VALUES (?, '51', '510', 1, 'M')",
            (&iccid,),
        )
        .await;
    // Clean up before asserting, so a failure leaves nothing behind.
    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&iccid,))
        .await
        .unwrap();
    c.exec_drop("DELETE FROM card_iccid_index WHERE iccid = ?", (&iccid,))
        .await
        .unwrap();
    assert_eq!(left, 0, "stale index row for deleted card {iccid}");
    again.expect("re-insert of a deleted card's ICCID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_numbers_route_by_segment() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("haoka").await;
    // Two segments in provinces on different shards.
    let segs: Vec<(String, String, String)> = c
        .query(
            "SELECT segment, province_code, city_code FROM segment \
             WHERE province_code IN ('51', '84') ORDER BY segment LIMIT 400",
        )
        .await
        .unwrap();
    let a = segs.iter().find(|s| s.1 == "51").expect("a 51 segment");
    let b = segs.iter().find(|s| s.1 == "84").expect("an 84 segment");
    let tail = unique_digits(4);
    let phone_a = format!("{}{tail}", a.0);
    let phone_b = format!("{}{tail}", b.0);
    for (p, seg) in [(&phone_a, a), (&phone_b, b)] {
        c.exec_drop("DELETE FROM phone_number WHERE phone_no = ?", (p,))
            .await
            .unwrap();
        // The statement names only the number: segment and province derive.
        c.exec_drop(
            "INSERT INTO phone_number (phone_no, segment, province_code, city_code, tail4) \
             VALUES (?, ?, ?, ?, ?)",
            (p, &seg.0, &seg.1, &seg.2, &tail),
        )
        .await
        .unwrap();
    }
    for (p, seg, shard) in [(&phone_a, a, 5usize), (&phone_b, b, 7usize)] {
        let segment: i64 = seg.0.parse().unwrap();
        let table = format!("phone_number_{}", segment % 4);
        let rows = per_shard(&format!(
            "SELECT phone_no FROM {table} WHERE phone_no = '{p}'"
        ))
        .await;
        for (s, r) in rows.iter().enumerate() {
            assert_eq!(
                r.len(),
                usize::from(s == shard),
                "{p} in {table} on shard {s}"
            );
        }
        let (ok, plan) = {
            let r: Vec<(String, String, String)> = c
                .query(format!(
                    "EXPLAIN SELECT status FROM phone_number WHERE phone_no = '{p}'"
                ))
                .await
                .unwrap();
            (r.len() == 1, r)
        };
        assert!(ok, "{plan:?}");
        assert_eq!(plan[0].0, shard.to_string(), "{plan:?}");
        assert!(plan[0].2.contains(&table), "{plan:?}");
        let st: Option<String> = c
            .exec_first("SELECT status FROM phone_number WHERE phone_no = ?", (p,))
            .await
            .unwrap();
        assert_eq!(st.as_deref(), Some("01"));
        c.exec_drop(
            "UPDATE phone_number SET status = ? WHERE phone_no = ?",
            ("02", p),
        )
        .await
        .unwrap();
        assert_eq!(c.affected_rows(), 1);
    }
    // A scatter over the province's split tables finds both.
    let n: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM phone_number WHERE phone_no IN (?, ?) AND status = '02'",
            (&phone_a, &phone_b),
        )
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    let e = c
        .exec_drop(
            "UPDATE phone_number SET province_code = '11' WHERE phone_no = ?",
            (&phone_a,),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("province_code"), "{e}");
    for p in [&phone_a, &phone_b] {
        c.exec_drop("DELETE FROM phone_number WHERE phone_no = ?", (p,))
            .await
            .unwrap();
        assert_eq!(c.affected_rows(), 1);
    }
}
