//! Issue 16: every statistic equals the same figure computed by plain SQL
//! straight on the shards, over a stock in four provinces on three shards;
//! province staff get only their own province whatever they ask for.

#[allow(unused_imports)]
mod card_support;
mod common;
mod number_support;
mod report_support;

use mysql_async::Value;
use report_support::{on_shards, rows_of, stats, PROVINCES};
use serde_json::Value as Json;

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

fn in_list() -> String {
    PROVINCES.map(|p| format!("'{p}'")).join(",")
}

#[tokio::test]
async fn every_statistic_equals_plain_sql_on_the_shards() {
    let s = report_support::server().await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 24).await;
    let all = PROVINCES.join(",");
    let ps = in_list();
    let t = &admin.token;

    // (template, query, shard SQL, number of key columns)
    let checks: Vec<(&str, String, String, usize)> = vec![
        (
            "number_status",
            format!("province_code={all}&pool_id={}", st.pool),
            format!(
                "SELECT province_code, city_code, pool_id, depot_id, premium_level, status, COUNT(*) \
                 FROM {{pn}} WHERE province_code IN ({ps}) AND pool_id = {} GROUP BY 1, 2, 3, 4, 5, 6",
                st.pool
            ),
            6,
        ),
        (
            "premium",
            format!("province_code={all}&pool_id={}", st.pool),
            format!(
                "SELECT province_code, premium_level, status, COUNT(*) FROM {{pn}} \
                 WHERE premium_level < 9 AND province_code IN ({ps}) AND pool_id = {} GROUP BY 1, 2, 3",
                st.pool
            ),
            3,
        ),
        (
            "pool_sales",
            format!("province_code={all}&pool_id={}", st.pool),
            format!(
                "SELECT DATE(h.created_at), h.province_code, h.channel_id, p.pool_id, p.premium_level, \
                 COUNT(*), SUM(l.pre_deposit_cents) FROM number_history h \
                 JOIN {{pn}} p ON p.phone_no = h.phone_no AND p.province_code = h.province_code \
                 JOIN premium_level l ON l.level = p.premium_level \
                 WHERE h.action = 'sell' AND h.province_code IN ({ps}) AND p.pool_id = {} \
                 GROUP BY 1, 2, 3, 4, 5",
                st.pool
            ),
            5,
        ),
        (
            "channel_activity",
            format!("province_code={all}&channel_id={}", st.channel),
            format!(
                "SELECT DATE(created_at), channel_id, SUM(action = 'hold'), SUM(action = 'sell'), \
                 SUM(action = 'release'), SUM(action = 'expire') FROM number_history \
                 WHERE province_code IN ({ps}) AND channel_id = {} \
                 AND action IN ('hold', 'sell', 'release', 'expire') GROUP BY 1, 2",
                st.channel
            ),
            2,
        ),
        (
            "card_stock",
            format!("province_code={all}&depot_id={}", st.card_depot),
            format!(
                "SELECT province_code, depot_id, status, card_type, COUNT(*) FROM sim_card \
                 WHERE province_code IN ({ps}) AND depot_id = {} GROUP BY 1, 2, 3, 4",
                st.card_depot
            ),
            4,
        ),
        (
            "bundles",
            format!("province_code={all}&depot_id={}", st.card_depot),
            format!(
                "SELECT province_code, package_id, status, COUNT(*) FROM sim_card \
                 WHERE package_id IS NOT NULL AND province_code IN ({ps}) AND depot_id = {} \
                 GROUP BY 1, 2, 3",
                st.card_depot
            ),
            3,
        ),
        (
            "transfers",
            format!("province_code={all}&depot_id={}", st.card_depot),
            format!(
                "SELECT province_code, target_province_code, status, COUNT(*), SUM(card_count) \
                 FROM card_transfer WHERE province_code IN ({ps}) AND from_depot_id = {} \
                 GROUP BY 1, 2, 3",
                st.card_depot
            ),
            3,
        ),
    ];
    for (code, query, sql, keys) in checks {
        let got = sorted(rows_of(&stats(&s, t, code, &query).await));
        let want = sorted(on_shards(&sql, vec![], keys).await);
        assert!(!want.is_empty(), "{code}: the stock has rows");
        assert_eq!(got, want, "{code}");
    }

    // Waivers have no tag column to filter on: compare the rows of our approvers.
    let mine = [st.approver.to_string(), (st.approver + 1).to_string()];
    let got: Vec<Vec<String>> =
        rows_of(&stats(&s, t, "waivers", &format!("province_code={all}")).await)
            .into_iter()
            .filter(|r| mine.contains(&r[2]))
            .collect();
    let want = on_shards(
        &format!(
            "SELECT province_code, status, decided_by, COUNT(*), SUM(deposit_waived_cents), \
             SUM(monthly_waived_cents) FROM premium_waiver WHERE province_code IN ({ps}) \
             AND decided_by IN (?, ?) GROUP BY 1, 2, 3"
        ),
        vec![Value::from(st.approver), Value::from(st.approver + 1)],
        3,
    )
    .await;
    assert!(!want.is_empty());
    assert_eq!(sorted(got), sorted(want), "waivers");

    // The shards the stock is on: 0, 2 and 5.
    let provinces: std::collections::BTreeSet<String> =
        rows_of(&stats(&s, t, "number_status", &format!("pool_id={}", st.pool)).await)
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
    assert_eq!(provinces.into_iter().collect::<Vec<_>>(), PROVINCES);

    report_support::cleanup(&s, &st).await;
}

#[tokio::test]
async fn province_staff_get_only_their_province() {
    let s = report_support::server().await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 6).await;
    let staff = s.user(&admin, Some("51"), &["report:read"], None).await;
    for query in [
        format!("pool_id={}", st.pool),
        format!("province_code=36&pool_id={}", st.pool),
        format!("province_code=11,34,36,51&pool_id={}", st.pool),
    ] {
        let v = stats(&s, &staff.token, "number_status", &query).await;
        let rows = rows_of(&v);
        assert!(!rows.is_empty(), "{query}");
        assert!(rows.iter().all(|r| r[0] == "51"), "{query}: {v}");
        let total: i64 = rows.iter().map(|r| r[6].parse::<i64>().unwrap()).sum();
        assert_eq!(total, 6, "{query}");
    }
    // Without report:read: 403 with a problem code.
    let other = s.user(&admin, Some("51"), &["number:read"], None).await;
    let r = s
        .get(
            &other.token,
            "/api/v1/reports/templates/number_status/stats",
        )
        .await;
    assert_eq!(r.status(), 403);
    let p: Json = r.json().await.unwrap();
    assert_eq!(p["code"], "permission_denied");
    // An unknown template is a 404 problem.
    let r = s
        .get(&staff.token, "/api/v1/reports/templates/nope/stats")
        .await;
    assert_eq!(r.status(), 404);
    report_support::cleanup(&s, &st).await;
}

/// 号码库存 for the portal: any status, by pool, with keyset paging.
#[tokio::test]
async fn the_stock_listing_pages_by_keyset() {
    let s = report_support::server().await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 10).await;
    let mut want: Vec<String> = st
        .numbers
        .iter()
        .filter(|(_, p)| p == "51")
        .map(|(n, _)| n.clone())
        .collect();
    want.sort();
    let mut got = vec![];
    let mut after = String::new();
    loop {
        let mut path = format!(
            "/api/v1/numbers?province_code=51&pool_id={}&page_size=4",
            st.pool
        );
        if !after.is_empty() {
            path.push_str(&format!("&after={after}"));
        }
        let v: Json = s.get(&admin.token, &path).await.json().await.unwrap();
        assert_eq!(v["total"], 10, "{v}");
        let items = v["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        for i in items {
            got.push(i["phone_no"].as_str().unwrap().to_string());
        }
        after = got.last().unwrap().clone();
    }
    assert_eq!(got, want);
    let counts: Json = s
        .get(
            &admin.token,
            &format!(
                "/api/v1/numbers/counts?province_code=51&pool_id={}",
                st.pool
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counts["total"], 10);
    let r = s
        .get(&admin.token, "/api/v1/numbers?province_code=51&after=12")
        .await;
    assert_eq!(r.status(), 400);
    report_support::cleanup(&s, &st).await;
}
