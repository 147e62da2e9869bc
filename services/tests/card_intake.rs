//! 成卡入库 through the real proxy: ICCID/IMSI validation per card, nothing
//! half applied, duplicates, depot and package rules, lookup by ICCID through
//! the global index, the intake history row, permissions and province scope.

mod card_support;
mod common;
mod number_support;

use card_support::*;
use common::problem;
use haoka_services::card::iccid::luhn_digit;
use serde_json::{json, Value};

fn with_check(payload: &str) -> String {
    format!("{payload}{}", luhn_digit(payload))
}

/// The reasons of a refused intake, per ICCID.
fn reasons(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["rejected"]
        .as_array()
        .unwrap_or_else(|| panic!("rejections: {v}"))
        .iter()
        .map(|r| {
            (
                r["iccid"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn bad_cards_are_named_and_nothing_is_written() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let (other_depot, _) = card_support::depot(&s, &admin, "11").await;
    let good = iccid();
    let good_blank = iccid();
    let short = with_check("89860117882011002"); // 18 digits
    let long = with_check("89860117882011002233"); // 21 digits
    let bad_prefix = with_check("898603178820110022");
    let mut bad_luhn = iccid();
    let last = bad_luhn.pop().unwrap();
    bad_luhn.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    let no_imsi = iccid();
    let bad_imsi = iccid();
    let wrong_depot = iccid();
    let unknown_depot = iccid();
    let twice = iccid();
    let cards = json!([
        {"iccid": good, "imsi": imsi(), "card_type": "made"},
        {"iccid": good_blank, "card_type": "blank"},
        {"iccid": short, "imsi": imsi(), "card_type": "made"},
        {"iccid": long, "imsi": imsi(), "card_type": "made"},
        {"iccid": bad_prefix, "imsi": imsi(), "card_type": "made"},
        {"iccid": bad_luhn, "imsi": imsi(), "card_type": "made"},
        {"iccid": no_imsi, "card_type": "made"},
        {"iccid": bad_imsi, "imsi": "310011234567890", "card_type": "made"},
        {"iccid": wrong_depot, "imsi": imsi(), "card_type": "made", "depot_id": other_depot},
        {"iccid": unknown_depot, "imsi": imsi(), "card_type": "made", "depot_id": -5},
        {"iccid": twice, "imsi": imsi(), "card_type": "made"},
        {"iccid": twice, "imsi": imsi(), "card_type": "made"},
    ]);
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": "51", "depot_id": depot, "cards": cards}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["accepted"], 0);
    let mut want = vec![
        (short.clone(), "invalid_iccid".to_string()),
        (long.clone(), "invalid_iccid".into()),
        (bad_prefix.clone(), "invalid_iccid".into()),
        (bad_luhn.clone(), "invalid_iccid".into()),
        (no_imsi.clone(), "imsi_required".into()),
        (bad_imsi.clone(), "invalid_imsi".into()),
        (wrong_depot.clone(), "wrong_depot_province".into()),
        (unknown_depot.clone(), "unknown_depot".into()),
        (twice.clone(), "duplicate_in_request".into()),
    ];
    want.sort();
    assert_eq!(reasons(&v), want);
    let msg = |i: &str| {
        v["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["iccid"] == i)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(msg(&short).contains("19 or 20 digits"), "{}", msg(&short));
    assert!(msg(&bad_prefix).contains("898603"));
    assert!(msg(&bad_luhn).contains("check digit"));
    // Nothing half applied: the good cards are not in stock either.
    assert_eq!(
        count_cards(&s, &[good.clone(), good_blank.clone(), twice.clone()]).await,
        0
    );

    // The same good cards alone go in; a second intake reports them as duplicates.
    let body = json!({"province_code": "51", "depot_id": depot, "cards": [
        {"iccid": good, "imsi": imsi(), "card_type": "made"},
        {"iccid": good_blank, "card_type": "blank"}]});
    let r = s
        .post(&admin.token, "/api/v1/cards/intake", body.clone())
        .await;
    assert_eq!(r.status(), 201);
    let r = s.post(&admin.token, "/api/v1/cards/intake", body).await;
    assert_eq!(r.status(), 409, "refused by the stock, not malformed");
    let v: Value = r.json().await.unwrap();
    let mut want = vec![
        (good.clone(), "duplicate".to_string()),
        (good_blank.clone(), "duplicate".into()),
    ];
    want.sort();
    assert_eq!(reasons(&v), want);
    cleanup(&s, &[good, good_blank]).await;
}

#[tokio::test]
async fn an_intake_card_is_found_by_iccid_with_its_history() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, city) = depot(&s, &admin, "36").await;
    let list = cards(&s, &admin, "36", depot, 3).await;
    for i in &list {
        let r = s.get(&admin.token, &format!("/api/v1/cards/{i}")).await;
        assert_eq!(r.status(), 200);
        let c: Value = r.json().await.unwrap();
        assert_eq!(c["iccid"], i.as_str());
        assert_eq!(c["province_code"], "36");
        assert_eq!(c["city_code"], city.as_str());
        assert_eq!(c["depot_id"], depot);
        assert_eq!(c["status"], "01");
        assert_eq!(c["card_type"], "made");
        assert!(c["imsi"].as_str().unwrap().starts_with("46001"));
        assert_eq!(
            history(&s, &admin, i).await,
            vec![(None, "01".to_string(), "intake".to_string())]
        );
    }
    // The row is on province 36's shard and its index row names 36.
    let mut c = sql(&s).await;
    use mysql_async::prelude::Queryable;
    let p: Option<String> = c
        .exec_first(
            "SELECT province_code FROM card_iccid_index WHERE iccid = ?",
            (&list[0],),
        )
        .await
        .unwrap();
    assert_eq!(p.as_deref(), Some("36"));
    // Bad and unknown ICCIDs in the path.
    problem(
        s.get(&admin.token, "/api/v1/cards/12345").await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        s.get(&admin.token, &format!("/api/v1/cards/{}", iccid()))
            .await,
        404,
        "not_found",
    )
    .await;
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn packages_and_depots_are_checked() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    // A disabled depot and a depot that holds no cards.
    let (disabled, _) = card_support::depot(&s, &admin, "51").await;
    let mut c = sql(&s).await;
    use mysql_async::prelude::Queryable;
    c.exec_drop(
        "UPDATE depot SET status = 'D' WHERE depot_id = ?",
        (disabled,),
    )
    .await
    .unwrap();
    let pkg_here = package(&s, &admin, Some("51")).await;
    let pkg_there = package(&s, &admin, Some("11")).await;
    let pkg_national = package(&s, &admin, None).await;
    let (a, b, c1, d) = (iccid(), iccid(), iccid(), iccid());
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": "51", "depot_id": depot, "package_id": pkg_here, "cards": [
                {"iccid": a, "imsi": imsi(), "card_type": "made"},
                {"iccid": b, "imsi": imsi(), "card_type": "made", "package_id": pkg_there},
                {"iccid": c1, "imsi": imsi(), "card_type": "made", "package_id": -1},
                {"iccid": d, "imsi": imsi(), "card_type": "made", "depot_id": disabled},
            ]}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    let mut want = vec![
        (b.clone(), "wrong_package_province".to_string()),
        (c1.clone(), "unknown_package".into()),
        (d.clone(), "depot_unusable".into()),
    ];
    want.sort();
    assert_eq!(reasons(&v), want);
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": "51", "depot_id": depot, "package_id": pkg_here, "cards": [
                {"iccid": a, "imsi": imsi(), "card_type": "made"},
                {"iccid": b, "imsi": imsi(), "card_type": "made", "package_id": pkg_national},
            ]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(row(&s, &a).await.3, Some(pkg_here));
    assert_eq!(row(&s, &b).await.3, Some(pkg_national));
    // Bad request shapes: an unknown card type, an empty list, an unknown province.
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": "51", "depot_id": depot, "cards": [
                {"iccid": iccid(), "card_type": "esim"}]}),
        )
        .await;
    problem(r, 422, "invalid_body").await;
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": "51", "depot_id": depot, "cards": []}),
        )
        .await;
    problem(r, 400, "invalid_request").await;
    let r = s
        .post(
            &admin.token,
            "/api/v1/cards/intake",
            json!({"province_code": "99", "depot_id": depot, "cards": []}),
        )
        .await;
    problem(r, 422, "invalid_body").await;
    cleanup(&s, &[a, b]).await;
}

#[tokio::test]
async fn permissions_and_province_scope() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "11").await;
    let list = cards(&s, &admin, "11", depot, 1).await;
    let reader = s.user(&admin, Some("11"), &["card:read"], None).await;
    let other = s
        .user(&admin, Some("51"), &["card:read", "card:write"], None)
        .await;
    // card:read reads, but does not write.
    let r = s
        .get(&reader.token, &format!("/api/v1/cards/{}", list[0]))
        .await;
    assert_eq!(r.status(), 200);
    let r = s
        .post(
            &reader.token,
            "/api/v1/cards/intake",
            json!({"province_code": "11", "depot_id": depot, "cards": [
                {"iccid": iccid(), "imsi": imsi(), "card_type": "made"}]}),
        )
        .await;
    problem(r, 403, "permission_denied").await;
    // Staff of 51 see nothing of 11.
    for path in [
        format!("/api/v1/cards/{}", list[0]),
        format!("/api/v1/cards/{}/history", list[0]),
    ] {
        problem(
            s.get(&other.token, &path).await,
            403,
            "province_out_of_scope",
        )
        .await;
    }
    let r = s
        .post(
            &other.token,
            "/api/v1/cards/intake",
            json!({"province_code": "11", "depot_id": depot, "cards": [
                {"iccid": iccid(), "imsi": imsi(), "card_type": "made"}]}),
        )
        .await;
    problem(r, 403, "province_out_of_scope").await;
    let (st, _) = set_status(&s, &other.token, &list, "06").await;
    assert_eq!(st, 403);
    // Each group needs its own code: card:pair alone does not read, card:read
    // alone does not change a status or move a depot.
    let pairer = s.user(&admin, Some("11"), &["card:pair"], None).await;
    let r = s
        .get(&pairer.token, &format!("/api/v1/cards/{}", list[0]))
        .await;
    let p = problem(r, 403, "permission_denied").await;
    assert!(p["message"].as_str().unwrap().contains("card:read"));
    let (st, _) = set_status(&s, &reader.token, &list, "06").await;
    assert_eq!(st, 403);
    let r = s
        .post(
            &reader.token,
            "/api/v1/cards/depot",
            json!({"iccids": list, "depot_id": depot}),
        )
        .await;
    problem(r, 403, "permission_denied").await;
    assert_eq!(row(&s, &list[0]).await.0, "01");
    problem(
        s.call(
            reqwest::Method::GET,
            &format!("/api/v1/cards/{}", list[0]),
            None,
            None,
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
    cleanup(&s, &list).await;
}
