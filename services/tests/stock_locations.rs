//! Retiring stock locations and the lists an operator needs: staff disable
//! (and enable again) depots and number pools — a disabled one takes no new
//! stock, numbers or cards — and card transfers are listed by state, source
//! and target depot and date.

mod card_support;
mod common;
mod number_support;

use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

async fn patch_status(s: &common::Server, token: &str, path: &str, status: &str) -> (u16, Value) {
    let r = s.patch(token, path, json!({ "status": status })).await;
    let st = r.status().as_u16();
    (st, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_depot_or_pool_takes_no_new_stock() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (depot, city) = number_support::depot(&s, &admin, "87").await;
    let pool = number_support::pool(&s, &admin, "87", None).await;
    let nums = number_support::fresh_numbers(&s, "87", &city, None, 3).await;

    // The depot: disabled, it is off the lists and refuses numbers and cards.
    let (st, v) = patch_status(
        &s,
        t,
        &format!("/api/v1/numbers/depots/{depot}"),
        "disabled",
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("disabled")), "{v}");
    let listed: Value = s
        .get(t, "/api/v1/numbers/depots?province_code=87")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !listed
            .to_string()
            .contains(&format!("\"depot_id\":{depot},")),
        "{listed}"
    );
    let r = s
        .post(
            t,
            "/api/v1/numbers/intake",
            json!({"numbers": [&nums[0]], "depot_id": depot}),
        )
        .await;
    assert_eq!(r.status(), 409, "numbers into a disabled depot");
    let r = s
        .post(
            t,
            "/api/v1/cards/intake",
            json!({"province_code": "87", "depot_id": depot,
                   "cards": [{"iccid": card_support::iccid(), "imsi": card_support::imsi(), "card_type": "made"}]}),
        )
        .await;
    assert_eq!(r.status(), 409, "cards into a disabled depot");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rejected"][0]["reason"], "depot_unusable", "{v}");
    // Enabled again, it takes stock.
    let (st, _) = patch_status(&s, t, &format!("/api/v1/numbers/depots/{depot}"), "active").await;
    assert_eq!(st, 200);
    number_support::intake(&s, &admin, &nums, depot, None).await;

    // The pool: disabled, it takes no numbers (assignment or intake).
    let (st, v) = patch_status(&s, t, &format!("/api/v1/numbers/pools/{pool}"), "disabled").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("disabled")), "{v}");
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/pools/{pool}/numbers"),
            json!({"numbers": [&nums[0]]}),
        )
        .await;
    common::problem(r, 409, "pool_disabled").await;
    let more = number_support::fresh_numbers(&s, "87", &city, None, 1).await;
    let r = s
        .post(
            t,
            "/api/v1/numbers/intake",
            json!({"numbers": more, "depot_id": depot, "pool_id": pool}),
        )
        .await;
    assert_eq!(r.status(), 409, "intake into a disabled pool");
    let (st, _) = patch_status(&s, t, &format!("/api/v1/numbers/pools/{pool}"), "active").await;
    assert_eq!(st, 200);
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/pools/{pool}/numbers"),
            json!({"numbers": [&nums[0]]}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // Audited; another province's staff may not; an unknown one is 404.
    let logged: Option<i64> = number_support::sql(&s)
        .await
        .exec_first(
            "SELECT COUNT(*) FROM operation_log WHERE object_kind IN ('depot', 'pool') \
             AND object_id IN (?, ?) AND action IN ('depot.disable', 'depot.enable', 'pool.disable', 'pool.enable')",
            (depot.to_string(), pool.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(logged, Some(4));
    let other = s
        .user(&admin, Some("11"), &["number:write", "pool:write"], None)
        .await;
    let (st, v) = patch_status(
        &s,
        &other.token,
        &format!("/api/v1/numbers/depots/{depot}"),
        "disabled",
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (403, Some("province_out_of_scope")),
        "{v}"
    );
    let (st, _) = patch_status(&s, t, "/api/v1/numbers/pools/-7", "disabled").await;
    assert_eq!(st, 404);
    number_support::cleanup(&s, &nums).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_transfers_are_listed_by_state_depots_and_day() {
    let s = card_support::server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (a, _) = card_support::depot(&s, &admin, "88").await;
    let (b, _) = card_support::depot(&s, &admin, "88").await;
    let (c, _) = card_support::depot(&s, &admin, "88").await;
    let cards = card_support::cards(&s, &admin, "88", a, 2).await;
    let mut ids = Vec::new();
    for (card, to) in cards.iter().zip([b, c]) {
        let r = s
            .post(
                t,
                "/api/v1/cards/transfers",
                json!({"from_depot_id": a, "to_depot_id": to, "iccids": [card]}),
            )
            .await;
        assert_eq!(r.status(), 201);
        ids.push(
            r.json::<Value>().await.unwrap()["transfer_id"]
                .as_i64()
                .unwrap(),
        );
    }
    let today: String = number_support::sql(&s)
        .await
        .query_first("SELECT DATE_FORMAT(CURDATE(), '%Y-%m-%d')")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list(&s, t, &ids, format!("from_depot_id={a}")).await, ids);
    assert_eq!(
        list(&s, t, &ids, format!("to_depot_id={b}")).await,
        ids[..1]
    );
    assert_eq!(
        list(&s, t, &ids, format!("to_depot_id={c}&status=done")).await,
        ids[1..]
    );
    assert!(
        list(&s, t, &ids, format!("from_depot_id={a}&status=in_transit"))
            .await
            .is_empty()
    );
    assert_eq!(
        list(
            &s,
            t,
            &ids,
            format!("from_depot_id={a}&created_from={today}&created_to={today}")
        )
        .await,
        ids
    );
    assert!(list(
        &s,
        t,
        &ids,
        format!("from_depot_id={a}&created_from=2999-01-01")
    )
    .await
    .is_empty());
    assert!(list(
        &s,
        t,
        &ids,
        format!("from_depot_id={a}&created_to=2000-01-01")
    )
    .await
    .is_empty());
    let r = s
        .get(t, "/api/v1/cards/transfers?created_from=yesterday")
        .await;
    common::problem(r, 400, "invalid_request").await;
    card_support::cleanup(&s, &cards).await;
}

/// The transfer ids of `ids` a province-88 listing with `q` shows, sorted.
async fn list(s: &common::Server, token: &str, ids: &[i64], q: String) -> Vec<i64> {
    let r = s
        .get(
            token,
            &format!("/api/v1/cards/transfers?province_code=88&{q}"),
        )
        .await;
    assert_eq!(r.status(), 200, "{q}");
    let v: Value = r.json().await.unwrap();
    let mut got: Vec<i64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["transfer_id"].as_i64().unwrap())
        .filter(|id| ids.contains(id))
        .collect();
    got.sort_unstable();
    got
}
