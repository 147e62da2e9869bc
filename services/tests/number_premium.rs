//! 靓号: classification of each pattern class at intake, rule maintenance and
//! re-classification, the waiver workflow with its audit, and the fee query.

mod common;
mod number_support;

use mysql_async::prelude::Queryable;
use number_support::*;
use serde_json::{json, Value};

async fn level(s: &common::Server, token: &str, n: &str) -> u64 {
    let r = s.get(token, &format!("/api/v1/numbers/{n}")).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["premium_level"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn each_pattern_class_is_classified_at_intake() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, city) = depot(&s, &admin, "38").await;
    let probe = fresh_numbers(&s, "38", &city, None, 1).await;
    let seg = &probe[0][..7];
    let d = seg.as_bytes()[6] - b'0';
    let other = (d + 1) % 10;
    let aaaa = format!("{other}{other}{other}{other}");
    let aaaaa = format!("{d}{d}{d}{d}");
    // (tail, expected level, class)
    let cases: Vec<(String, u64, &str)> = vec![
        (aaaaa, 1, "AAAAA"),
        (aaaa, 2, "AAAA"),
        ("1234".into(), 3, "ABCD"),
        ("9876".into(), 3, "DCBA"),
        ("1122".into(), 4, "AABB"),
        ("1212".into(), 4, "ABAB"),
        ("1221".into(), 4, "ABBA"),
        ("0999".into(), 4, "AAA"),
        ("3168".into(), 5, "TAIL 168"),
        ("2518".into(), 5, "TAIL 518"),
        ("2479".into(), 9, "ordinary"),
    ];
    let nums: Vec<String> = cases.iter().map(|(t, _, _)| format!("{seg}{t}")).collect();
    let body = intake(&s, &admin, &nums, depot, None).await;
    assert_eq!(body["accepted"], cases.len());
    for (n, (_, want, class)) in nums.iter().zip(&cases) {
        assert_eq!(level(&s, &admin.token, n).await, *want, "{n} ({class})");
    }
    // NO4 (off by default) classifies as the rules in the table say.
    let no4 = format!("{seg}2579");
    intake(&s, &admin, std::slice::from_ref(&no4), depot, None).await;
    let rules = haoka_services::number::rules::load(&s.state.db)
        .await
        .unwrap();
    let want = haoka_services::number::premium::classify(
        &haoka_services::domain::msisdn::Msisdn::parse(&no4).unwrap(),
        "38",
        &rules,
    );
    assert_eq!(level(&s, &admin.token, &no4).await, u64::from(want), "NO4");
    cleanup(&s, &nums).await;
    cleanup(&s, &[no4]).await;
}

#[tokio::test]
async fn rules_are_maintained_and_numbers_reclassified() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (depot, city) = depot(&s, &admin, "75").await;
    let nums = fresh_numbers(&s, "75", &city, Some(&["2479"]), 0).await;
    intake(&s, &admin, &nums, depot, None).await;
    assert_eq!(level(&s, t, &nums[0]).await, 9);
    // A province rule matching exactly this number's last 8 digits.
    let r = s
        .post(
            t,
            "/api/v1/numbers/premium/rules",
            json!({"level": 2, "class": "TAIL", "pattern": &nums[0][3..], "priority": 1, "province": "75"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let rule: Value = r.json().await.unwrap();
    let rule_id = rule["rule_id"].as_i64().unwrap();
    let r = s
        .post(
            t,
            "/api/v1/numbers/premium/reclassify",
            json!({"numbers": nums}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["to_level"], 2, "{v}");
    assert_eq!(level(&s, t, &nums[0]).await, 2);
    let h = history_actions(&s, &admin, &nums[0]).await;
    assert_eq!(h.last().unwrap().2, "reclassify");
    // Disable it: back to ordinary.
    let r = s
        .patch(
            t,
            &format!("/api/v1/numbers/premium/rules/{rule_id}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    s.post(
        t,
        "/api/v1/numbers/premium/reclassify",
        json!({"numbers": nums}),
    )
    .await;
    assert_eq!(level(&s, t, &nums[0]).await, 9);
    // Bad rules are refused with the reason.
    for bad in [
        json!({"level": 7, "class": "AAAA", "priority": 1}),
        json!({"level": 2, "class": "TAIL", "pattern": "", "priority": 1}),
        json!({"level": 2, "class": "AABB", "pattern": "12", "priority": 1}),
    ] {
        let r = s.post(t, "/api/v1/numbers/premium/rules", bad).await;
        common::problem(r, 400, "invalid_request").await;
    }
    let r = s
        .post(
            t,
            "/api/v1/numbers/premium/rules",
            json!({"level": 2, "class": "WXYZ", "priority": 1}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let levels: Value = s
        .get(t, "/api/v1/numbers/premium/levels")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(levels.as_array().unwrap().len(), 7);
    let mut c = sql(&s).await;
    c.exec_drop("DELETE FROM premium_rule WHERE rule_id = ?", (rule_id,))
        .await
        .unwrap();
    cleanup(&s, &nums).await;
}

#[tokio::test]
async fn waivers_need_another_approver_and_reduce_the_fee() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (depot, city) = depot(&s, &admin, "59").await;
    let nums = fresh_numbers(&s, "59", &city, Some(&["1122", "2479"]), 0).await;
    intake(&s, &admin, &nums, depot, None).await;
    let n = &nums[0]; // AABB: level 4, 50000 deposit, 12800 monthly
    let fee: Value = s
        .get(t, &format!("/api/v1/numbers/{n}/fee"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            fee["premium_level"].as_u64(),
            fee["due_deposit_cents"].as_i64(),
            fee["due_monthly_cents"].as_i64()
        ),
        (Some(4), Some(50_000), Some(12_800)),
        "{fee}"
    );
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{n}/waivers"),
            json!({"deposit_waived_cents": 20000, "monthly_waived_cents": 2800, "reason": "大客户"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let w: Value = r.json().await.unwrap();
    assert_eq!(w["status"], "pending");
    let id = w["waiver_id"].as_i64().unwrap();
    // Pending waivers do not count; the requester cannot approve.
    let fee: Value = s
        .get(t, &format!("/api/v1/numbers/{n}/fee"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fee["due_deposit_cents"], 50_000);
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{n}/waivers/{id}/approve"),
            json!({}),
        )
        .await;
    common::problem(r, 409, "conflict").await;
    let approver = s
        .user(
            &admin,
            Some("59"),
            &["premium:read", "premium:approve"],
            None,
        )
        .await;
    let r = s
        .post(
            &approver.token,
            &format!("/api/v1/numbers/{n}/waivers/{id}/approve"),
            json!({"note": "同意"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let w: Value = r.json().await.unwrap();
    assert_eq!(
        (w["status"].as_str(), w["decided_by"].as_i64()),
        (Some("approved"), Some(approver.staff_id))
    );
    let r = s
        .post(
            &approver.token,
            &format!("/api/v1/numbers/{n}/waivers/{id}/reject"),
            json!({}),
        )
        .await;
    common::problem(r, 409, "conflict").await;
    let fee: Value = s
        .get(t, &format!("/api/v1/numbers/{n}/fee"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            fee["due_deposit_cents"].as_i64(),
            fee["due_monthly_cents"].as_i64()
        ),
        (Some(30_000), Some(10_000)),
        "{fee}"
    );
    // A rejected request changes nothing.
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{n}/waivers"),
            json!({"deposit_waived_cents": 30000, "reason": "再减"}),
        )
        .await;
    let id2 = r.json::<Value>().await.unwrap()["waiver_id"]
        .as_i64()
        .unwrap();
    let r = s
        .post(
            &approver.token,
            &format!("/api/v1/numbers/{n}/waivers/{id2}/reject"),
            json!({"note": "不同意"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let fee: Value = s
        .get(t, &format!("/api/v1/numbers/{n}/fee"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fee["due_deposit_cents"], 30_000);
    // More than the level costs, or an ordinary number: a conflict with the
    // number's state; waiving nothing: a bad request.
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{n}/waivers"),
            json!({"deposit_waived_cents": 60000, "reason": "x"}),
        )
        .await;
    common::problem(r, 409, "conflict").await;
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{}/waivers", nums[1]),
            json!({"deposit_waived_cents": 1, "reason": "x"}),
        )
        .await;
    common::problem(r, 409, "conflict").await;
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{n}/waivers"),
            json!({"reason": "x"}),
        )
        .await;
    common::problem(r, 400, "invalid_request").await;
    // The decisions are in the operation log.
    let mut c = sql(&s).await;
    let logged: Vec<String> = c
        .exec(
            "SELECT action FROM operation_log WHERE object_kind = 'premium_waiver' AND object_id IN (?, ?) ORDER BY log_id",
            (id.to_string(), id2.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(
        logged,
        vec![
            "premium_waiver.request",
            "premium_waiver.approve",
            "premium_waiver.request",
            "premium_waiver.reject"
        ]
    );
    let list: Value = s
        .get(t, &format!("/api/v1/numbers/{n}/waivers"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    cleanup(&s, &nums).await;
}

/// A waiver is for a number still to be sold: one already sold (or in use,
/// ported) is refused with state_not_usable, and no waiver row is written.
#[tokio::test]
async fn a_sold_number_takes_no_waiver() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (depot, city) = depot(&s, &admin, "38").await;
    // AAAAA-free: a level-4 tail (AABB) in a fresh segment.
    let nums = fresh_numbers(&s, "38", &city, Some(&["1122", "3344"]), 0).await;
    intake(&s, &admin, &nums, depot, None).await;
    let ask = |n: &String| {
        let (s, t, n) = (&s, t, n.clone());
        async move {
            s.post(
                t,
                &format!("/api/v1/numbers/{n}/waivers"),
                json!({"deposit_waived_cents": 100, "reason": "老客户"}),
            )
            .await
        }
    };
    // In stock: accepted.
    assert_eq!(ask(&nums[0]).await.status(), 201);
    for sold in ["10", "09", "13"] {
        force_status(&s, &nums[1], sold).await;
        let v = common::problem(ask(&nums[1]).await, 409, "state_not_usable").await;
        assert!(v["message"].as_str().unwrap().contains("sold"), "{v}");
    }
    let rows: Option<i64> = sql(&s)
        .await
        .exec_first(
            "SELECT COUNT(*) FROM premium_waiver WHERE phone_no = ?",
            (&nums[1],),
        )
        .await
        .unwrap();
    assert_eq!(rows, Some(0));
    cleanup(&s, &nums).await;
}
