//! 成卡可用验证 verdicts, 成卡占用 (activated or not) and return, by staff and
//! by signed channels, one winner among concurrent occupations, and card
//! listings by depot and status.

mod card_support;
mod common;
mod number_support;

use card_support::*;
use common::problem;
use number_support::{channel, channel_call};
use serde_json::{json, Value};

async fn verdict(s: &common::Server, token: &str, iccid: &str, query: &str) -> Value {
    let r = s
        .get(
            token,
            &format!("/api/v1/cards/{iccid}/availability?{query}"),
        )
        .await;
    let st = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(st, 200, "{v}");
    v
}

async fn occupy(s: &common::Server, token: &str, iccid: &str, activated: bool) -> (u16, Value) {
    let r = s
        .post(
            token,
            &format!("/api/v1/cards/{iccid}/occupy"),
            json!({"purpose": "new_account", "activated": activated}),
        )
        .await;
    let st = r.status().as_u16();
    (st, r.json().await.unwrap())
}

#[tokio::test]
async fn availability_verdicts_name_their_reason() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 4).await;
    let t = &admin.token;
    let v = verdict(&s, t, &list[0], "purpose=new_account").await;
    assert_eq!(
        (v["usable"].clone(), v["reason"].clone()),
        (json!(true), json!("usable"))
    );
    assert_eq!(v["status"], "01");
    let v = verdict(&s, t, &list[0], "purpose=replacement&card_type=blank").await;
    assert_eq!(
        (v["usable"].clone(), v["reason"].clone()),
        (json!(false), json!("wrong_card_type"))
    );
    let v = verdict(&s, t, &iccid(), "purpose=new_account").await;
    assert_eq!(v["reason"], "no_such_card");
    force_status(&s, &list[1], "02").await;
    assert_eq!(
        verdict(&s, t, &list[1], "purpose=new_account").await["reason"],
        "in_transit"
    );
    force_status(&s, &list[1], "07").await;
    assert_eq!(
        verdict(&s, t, &list[1], "purpose=new_account").await["reason"],
        "not_in_stock"
    );
    // A paired card: only for its own number, never as a replacement.
    let mut c = sql(&s).await;
    use mysql_async::prelude::Queryable;
    c.exec_drop(
        "UPDATE sim_card SET status = '03', paired_phone_no = '18612345678' WHERE iccid = ?",
        (&list[2],),
    )
    .await
    .unwrap();
    let q = |x: &str| format!("purpose={x}&phone_no=18612345678");
    assert_eq!(
        verdict(&s, t, &list[2], &q("new_account")).await["reason"],
        "usable"
    );
    assert_eq!(
        verdict(&s, t, &list[2], "purpose=new_account").await["reason"],
        "paired_to_another_number"
    );
    assert_eq!(
        verdict(&s, t, &list[2], &q("replacement")).await["reason"],
        "paired_to_another_number"
    );
    // A 套包 card is not a replacement; a disabled depot makes cards unusable.
    let pkg = package(&s, &admin, Some("51")).await;
    c.exec_drop(
        "UPDATE sim_card SET package_id = ? WHERE iccid = ?",
        (pkg, &list[3]),
    )
    .await
    .unwrap();
    assert_eq!(
        verdict(&s, t, &list[3], "purpose=replacement").await["reason"],
        "bundled"
    );
    assert_eq!(
        verdict(&s, t, &list[3], "purpose=new_account").await["reason"],
        "usable"
    );
    c.exec_drop("UPDATE depot SET status = 'D' WHERE depot_id = ?", (depot,))
        .await
        .unwrap();
    assert_eq!(
        verdict(&s, t, &list[0], "purpose=new_account").await["reason"],
        "depot_unusable"
    );
    // Bad questions are 400s.
    let r = s
        .get(
            t,
            &format!("/api/v1/cards/{}/availability?purpose=resale", list[0]),
        )
        .await;
    problem(r, 400, "invalid_request").await;
    let r = s
        .get(t, "/api/v1/cards/898601/availability?purpose=new_account")
        .await;
    problem(r, 400, "invalid_request").await;
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn occupy_activate_and_return() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 3).await;
    let t = &admin.token;
    let (st, v) = occupy(&s, t, &list[0], false).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["from_status"].clone(), v["status"].clone()),
        (json!("01"), json!("04"))
    );
    // Occupied already: refused with the verdict's reason as the problem code.
    let r = s
        .post(
            t,
            &format!("/api/v1/cards/{}/occupy", list[0]),
            json!({"purpose": "new_account", "activated": false}),
        )
        .await;
    problem(r, 409, "not_in_stock").await;
    // 04 -> 05 activates.
    let (st, v) = occupy(&s, t, &list[0], true).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "05");
    // An activated card comes back frozen; a second return is refused.
    let r = s
        .post(
            t,
            &format!("/api/v1/cards/{}/return", list[0]),
            json!({"reason": "客户退卡"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "06");
    let r = s
        .post(t, &format!("/api/v1/cards/{}/return", list[0]), json!({}))
        .await;
    problem(r, 409, "card_not_occupied").await;
    assert_eq!(
        history(&s, &admin, &list[0]).await,
        vec![
            (None, "01".into(), "intake".into()),
            (Some("01".into()), "04".into(), "occupy".into()),
            (Some("04".into()), "05".into(), "activate".into()),
            (Some("05".into()), "06".into(), "return".into()),
        ]
    );
    // A card not activated goes back in stock and can be used again.
    let (st, _) = occupy(&s, t, &list[1], false).await;
    assert_eq!(st, 200);
    let r = s
        .post(t, &format!("/api/v1/cards/{}/return", list[1]), json!({}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "01");
    assert_eq!(
        verdict(&s, t, &list[1], "purpose=replacement").await["usable"],
        true
    );
    // Straight to 05.
    let (st, v) = occupy(&s, t, &list[2], true).await;
    assert_eq!((st, v["status"].clone()), (200, json!("05")));
    // Unknown card: 404; staff without card:occupy: 403.
    let r = s
        .post(
            t,
            &format!("/api/v1/cards/{}/occupy", iccid()),
            json!({"purpose": "new_account", "activated": true}),
        )
        .await;
    problem(r, 404, "not_found").await;
    let reader = s.user(&admin, Some("51"), &["card:read"], None).await;
    let (st, _) = occupy(&s, &reader.token, &list[1], true).await;
    assert_eq!(st, 403);
    let outsider = s
        .user(&admin, Some("11"), &["card:read", "card:occupy"], None)
        .await;
    let r = s
        .post(
            &outsider.token,
            &format!("/api/v1/cards/{}/occupy", list[1]),
            json!({"purpose": "new_account", "activated": true}),
        )
        .await;
    problem(r, 403, "province_out_of_scope").await;
    assert_eq!(row(&s, &list[1]).await.0, "01");
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn concurrent_occupations_have_one_winner() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 1).await;
    let tries = (0..6).map(|i| occupy(&s, &admin.token, &list[0], i % 2 == 0));
    let results = futures_util::future::join_all(tries).await;
    // Exactly one takes the card out of stock (a later activation of that
    // 04 card may succeed too: it is the same occupation going on).
    let from_stock = results
        .iter()
        .filter(|(st, v)| *st == 200 && v["from_status"] == "01")
        .count();
    assert_eq!(from_stock, 1, "{results:?}");
    for (st, v) in &results {
        assert!(*st == 200 || *st == 409, "{st} {v}");
    }
    let occupies = history(&s, &admin, &list[0])
        .await
        .iter()
        .filter(|h| h.2 == "occupy")
        .count();
    assert_eq!(occupies, 1, "occupied once");
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn channels_check_and_occupy_cards_of_their_province() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 2).await;
    let here = channel(&s, &admin, "51").await;
    let there = channel(&s, &admin, "11").await;
    let path = |i: &str, op: &str| format!("/api/v1/open/cards/{i}/{op}");
    let check = format!("{}?purpose=new_account", path(&list[0], "availability"));
    let (st, v) = channel_call(&s, &here, "GET", &check, None).await;
    assert_eq!((st, v["reason"].clone()), (200, json!("usable")), "{v}");
    let (st, v) = channel_call(&s, &there, "GET", &check, None).await;
    assert_eq!((st, v["reason"].clone()), (200, json!("wrong_province")));
    let body = json!({"purpose": "new_account", "activated": false});
    let (st, v) = channel_call(
        &s,
        &there,
        "POST",
        &path(&list[0], "occupy"),
        Some(body.clone()),
    )
    .await;
    assert_eq!((st, v["code"].clone()), (409, json!("wrong_province")));
    let (st, v) = channel_call(&s, &here, "POST", &path(&list[0], "occupy"), Some(body)).await;
    assert_eq!((st, v["status"].clone()), (200, json!("04")), "{v}");
    let r = s
        .get(&admin.token, &format!("/api/v1/cards/{}/history", list[0]))
        .await;
    let h: Value = r.json().await.unwrap();
    assert_eq!(h[1]["action"], "occupy");
    assert_eq!(h[1]["channel_id"], here.0);
    assert!(h[1]["staff_id"].is_null());
    let (st, v) = channel_call(
        &s,
        &here,
        "POST",
        &path(&list[0], "return"),
        Some(json!({})),
    )
    .await;
    assert_eq!((st, v["status"].clone()), (200, json!("01")));
    // Unsigned calls do not get through.
    let r = s.call(reqwest::Method::GET, &check, None, None).await;
    assert_eq!(r.status(), 401);
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn listings_by_depot_and_status_stay_in_scope() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "59").await;
    let list = cards(&s, &admin, "59", depot, 5).await;
    force_status(&s, &list[0], "06").await;
    let t = &admin.token;
    let page = |q: String| {
        let s = &s;
        async move {
            let r = s.get(t, &format!("/api/v1/cards?{q}")).await;
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = page(format!("depot_id={depot}")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["total"], 5);
    let (_, v) = page(format!("depot_id={depot}&status=01&page_size=2")).await;
    assert_eq!(v["total"], 4);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let (_, v2) = page(format!("depot_id={depot}&status=01&page_size=2&page=2")).await;
    assert_ne!(
        v["items"][0]["iccid"], v2["items"][0]["iccid"],
        "pages differ"
    );
    let (_, v) = page(format!("province_code=59&depot_id={depot}&status=06")).await;
    assert_eq!(v["items"][0]["iccid"], list[0].as_str());
    // Headquarters staff (no home province) name a province or a depot.
    let (st, _) = page("status=01".into()).await;
    assert_eq!(st, 400, "a province or depot is needed");
    // No such depot in that province.
    let (st, _) = page(format!("province_code=11&depot_id={depot}")).await;
    assert_eq!(st, 404, "depot and province disagree");
    let outsider = s.user(&admin, Some("11"), &["card:read"], None).await;
    let r = s
        .get(&outsider.token, &format!("/api/v1/cards?depot_id={depot}"))
        .await;
    problem(r, 403, "province_out_of_scope").await;
    cleanup(&s, &list).await;
}
