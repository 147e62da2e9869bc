//! 预配号卡 and 套包 through the real proxy: the number row and the card row
//! change together (both histories), refusals leave both alone, pairs across
//! provinces are refused, and the number status endpoint cannot pair.

mod card_support;
mod common;
mod number_support;

use card_support::*;
use common::{problem, Server, User};
use serde_json::{json, Value};

/// `n` numbers of the province in 05 待预配, and the depot.
async fn awaiting(s: &Server, admin: &User, province: &str, n: usize) -> (Vec<String>, i64) {
    let (depot, city) = depot(s, admin, province).await;
    let numbers = number_support::fresh_numbers(s, province, &city, None, n).await;
    number_support::intake(s, admin, &numbers, depot, None).await;
    let (st, v) = number_support::set_status(s, admin, &numbers, "05").await;
    assert_eq!(st, 200, "{v}");
    (numbers, depot)
}

async fn post(s: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = s.post(token, path, body).await;
    let st = r.status().as_u16();
    (st, r.json().await.unwrap())
}

/// (status, paired_iccid) of a number.
async fn number_row(s: &Server, phone: &str) -> (String, Option<String>) {
    use mysql_async::prelude::Queryable;
    let mut c = sql(s).await;
    let r: Option<(String, Option<String>)> = c
        .exec_first(
            "SELECT status, paired_iccid FROM phone_number WHERE phone_no = ?",
            (phone,),
        )
        .await
        .unwrap();
    r.unwrap()
}

#[tokio::test]
async fn pairing_changes_both_rows_and_both_histories() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (nums, depot) = awaiting(&s, &admin, "51", 3).await;
    let list = cards(&s, &admin, "51", depot, 2).await;
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/pairings",
        json!({"phone_no": nums[0], "iccid": list[0]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["number_status"].clone(), v["card_status"].clone()),
        (json!("06"), json!("03"))
    );
    assert_eq!(
        number_row(&s, &nums[0]).await,
        ("06".into(), Some(list[0].clone()))
    );
    let card = row(&s, &list[0]).await;
    assert_eq!(
        (card.0.as_str(), card.2.as_deref()),
        ("03", Some(nums[0].as_str()))
    );
    assert_eq!(
        number_support::history_actions(&s, &admin, &nums[0])
            .await
            .last()
            .unwrap(),
        &(Some("05".into()), "06".into(), "pair".into())
    );
    assert_eq!(
        history(&s, &admin, &list[0]).await.last().unwrap(),
        &(Some("01".into()), "03".into(), "pair".into())
    );
    // The number center's event went into the same transaction.
    let ev = number_support::events(&s, &nums[0]).await;
    let last = &ev.last().expect("a number event").2;
    assert_eq!(
        (
            last["from"].clone(),
            last["to"].clone(),
            last["action"].clone()
        ),
        (json!("05"), json!("06"), json!("pair"))
    );
    // A paired card cannot be paired again: nothing changes on either side.
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/pairings",
        json!({"phone_no": nums[1], "iccid": list[0]}),
    )
    .await;
    assert_eq!(
        (st, v["code"].clone()),
        (409, json!("card_not_pairable")),
        "{v}"
    );
    assert_eq!(number_row(&s, &nums[1]).await, ("05".into(), None));
    assert_eq!(
        number_support::history_actions(&s, &admin, &nums[1])
            .await
            .len(),
        2
    );
    // A number that is not awaiting pairing (01) is refused; the card stays.
    let (st, _) = number_support::set_status(&s, &admin, &nums[2..3], "01").await;
    assert_eq!(st, 200);
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/pairings",
        json!({"phone_no": nums[2], "iccid": list[1]}),
    )
    .await;
    assert_eq!(
        (st, v["code"].clone()),
        (409, json!("number_not_pairable")),
        "{v}"
    );
    assert_eq!(row(&s, &list[1]).await.0, "01");
    assert_eq!(
        history(&s, &admin, &list[1]).await.len(),
        1,
        "no card history for a refusal"
    );
    // The number status endpoint cannot pair without a card.
    let (st, _) = number_support::set_status(&s, &admin, &nums[1..2], "06").await;
    assert_eq!(st, 409);
    // Unpairing: 06 -> 01 and 03 -> 01, both pairing columns cleared.
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/pairings/unpair",
        json!({"iccid": list[0]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(number_row(&s, &nums[0]).await, ("01".into(), None));
    assert_eq!(row(&s, &list[0]).await.0, "01");
    assert_eq!(row(&s, &list[0]).await.2, None);
    assert_eq!(
        number_support::history_actions(&s, &admin, &nums[0])
            .await
            .last()
            .unwrap(),
        &(Some("06".into()), "01".into(), "unpair".into())
    );
    assert_eq!(
        history(&s, &admin, &list[0]).await.last().unwrap(),
        &(Some("03".into()), "01".into(), "unpair".into())
    );
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/pairings/unpair",
        json!({"iccid": list[0]}),
    )
    .await;
    assert_eq!((st, v["code"].clone()), (409, json!("card_not_paired")));
    cleanup_numbers(&s, &nums).await;
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn pairs_across_provinces_and_outside_scope_are_refused() {
    let s = server().await;
    let admin = s.admin().await;
    let (nums, _) = awaiting(&s, &admin, "51", 1).await;
    let (far_depot, _) = depot(&s, &admin, "11").await;
    let far = cards(&s, &admin, "11", far_depot, 1).await;
    let (st, v) = post(
        &s,
        &admin.token,
        "/api/v1/cards/pairings",
        json!({"phone_no": nums[0], "iccid": far[0]}),
    )
    .await;
    assert_eq!(
        (st, v["code"].clone()),
        (409, json!("cross_province")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("province 11"));
    assert_eq!(number_row(&s, &nums[0]).await.0, "05");
    assert_eq!(row(&s, &far[0]).await.0, "01");
    // card:read is not enough; staff of 11 cannot touch 51's number.
    let reader = s.user(&admin, Some("51"), &["card:read"], None).await;
    let r = s
        .post(
            &reader.token,
            "/api/v1/cards/pairings",
            json!({"phone_no": nums[0], "iccid": far[0]}),
        )
        .await;
    problem(r, 403, "permission_denied").await;
    let other = s
        .user(&admin, Some("11"), &["card:read", "card:pair"], None)
        .await;
    let r = s
        .post(
            &other.token,
            "/api/v1/cards/pairings",
            json!({"phone_no": nums[0], "iccid": far[0]}),
        )
        .await;
    problem(r, 403, "province_out_of_scope").await;
    // Unknown card, malformed number.
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/pairings",
            json!({"phone_no": nums[0], "iccid": iccid()}),
        )
        .await;
    problem(r, 404, "not_found").await;
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/pairings",
            json!({"phone_no": "123", "iccid": far[0]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    cleanup_numbers(&s, &nums).await;
    cleanup(&s, &far).await;
}

#[tokio::test]
async fn package_bundles_pair_and_package_in_one_go() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (nums, depot) = awaiting(&s, &admin, "51", 2).await;
    let list = cards(&s, &admin, "51", depot, 2).await;
    let pkg = package(&s, &admin, Some("51")).await;
    let foreign = package(&s, &admin, Some("11")).await;
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/bundles",
        json!({"phone_no": nums[0], "iccid": list[0], "package_id": foreign}),
    )
    .await;
    assert_eq!(
        (st, v["code"].clone()),
        (409, json!("wrong_package_province"))
    );
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/bundles",
        json!({"phone_no": nums[0], "iccid": list[0], "package_id": -1}),
    )
    .await;
    assert_eq!((st, v["code"].clone()), (404, json!("not_found")));
    assert_eq!(
        number_row(&s, &nums[0]).await.0,
        "05",
        "refusals change nothing"
    );
    // 05 number + in-stock card + package: paired and bundled together.
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/bundles",
        json!({"phone_no": nums[0], "iccid": list[0], "package_id": pkg}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["number_status"], "07");
    assert_eq!(v["package_id"], pkg);
    assert_eq!(
        number_row(&s, &nums[0]).await,
        ("07".into(), Some(list[0].clone()))
    );
    assert_eq!(
        row(&s, &list[0]).await,
        ("03".into(), depot, Some(nums[0].clone()), Some(pkg))
    );
    let nh = number_support::history_actions(&s, &admin, &nums[0]).await;
    assert_eq!(
        nh[nh.len() - 2..]
            .iter()
            .map(|h| h.2.as_str())
            .collect::<Vec<_>>(),
        vec!["pair", "package"]
    );
    let ch: Vec<String> = history(&s, &admin, &list[0])
        .await
        .into_iter()
        .map(|h| h.2)
        .collect();
    assert_eq!(ch, vec!["intake", "pair", "package"]);
    // Unpairing a bundle is refused until it is unbundled.
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/pairings/unpair",
        json!({"iccid": list[0]}),
    )
    .await;
    assert_eq!((st, v["code"].clone()), (409, json!("bundled")));
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/bundles/unbundle",
        json!({"iccid": list[0]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(number_row(&s, &nums[0]).await.0, "06");
    assert_eq!(row(&s, &list[0]).await.3, None);
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/bundles/unbundle",
        json!({"iccid": list[0]}),
    )
    .await;
    assert_eq!((st, v["code"].clone()), (409, json!("not_bundled")));
    // An already paired pair is bundled without pairing again.
    let (st, _) = post(
        &s,
        t,
        "/api/v1/cards/pairings",
        json!({"phone_no": nums[1], "iccid": list[1]}),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = post(
        &s,
        t,
        "/api/v1/cards/bundles",
        json!({"phone_no": nums[1], "iccid": list[1], "package_id": pkg}),
    )
    .await;
    assert_eq!(st, 200);
    let ch: Vec<String> = history(&s, &admin, &list[1])
        .await
        .into_iter()
        .map(|h| h.2)
        .collect();
    assert_eq!(ch, vec!["intake", "pair", "package"]);
    // A card bundled with another number is refused for this one.
    let (st, v) = post(
        &s,
        t,
        "/api/v1/cards/bundles",
        json!({"phone_no": nums[0], "iccid": list[1], "package_id": pkg}),
    )
    .await;
    assert_eq!(
        (st, v["code"].clone()),
        (409, json!("not_paired_together")),
        "{v}"
    );
    cleanup_numbers(&s, &nums).await;
    cleanup(&s, &list).await;
}
