//! Issue 14, card occupation as an attacker meets it: a card another
//! channel occupied, activated or returned by someone else; concurrent
//! occupations by several channels; another province's card statuses read
//! through the availability check.

mod card_support;
mod common;
mod number_support;

use card_support::*;
use common::{problem, Server};
use number_support::{channel, channel_call};
use serde_json::{json, Value};

type Cred = (i64, String, String);

async fn occupy_as(s: &Server, cred: &Cred, iccid: &str, activated: bool) -> (u16, Value) {
    channel_call(
        s,
        cred,
        "POST",
        &format!("/api/v1/open/cards/{iccid}/occupy"),
        Some(json!({"purpose": "new_account", "activated": activated})),
    )
    .await
}

async fn return_as(s: &Server, cred: &Cred, iccid: &str) -> (u16, Value) {
    channel_call(
        s,
        cred,
        "POST",
        &format!("/api/v1/open/cards/{iccid}/return"),
        Some(json!({})),
    )
    .await
}

async fn card(s: &Server, token: &str, iccid: &str) -> Value {
    s.get(token, &format!("/api/v1/cards/{iccid}"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_the_occupier_activates_or_returns_a_card() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 1).await;
    let iccid = &list[0];
    let owner = channel(&s, &admin, "51").await;
    let other = channel(&s, &admin, "51").await;
    let (st, v) = occupy_as(&s, &owner, iccid, false).await;
    assert_eq!((st, v["status"].clone()), (200, json!("04")), "{v}");
    // Another channel: neither activates (a second occupation) nor returns it.
    let (st, v) = occupy_as(&s, &other, iccid, true).await;
    assert_eq!((st, v["code"].clone()), (409, json!("not_in_stock")), "{v}");
    let (st, v) = return_as(&s, &other, iccid).await;
    assert_eq!(
        (st, v["code"].clone()),
        (409, json!("not_the_occupier")),
        "{v}"
    );
    // Nor does staff.
    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/cards/{iccid}/occupy"),
            json!({"purpose": "new_account", "activated": true}),
        )
        .await;
    problem(r, 409, "not_in_stock").await;
    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/cards/{iccid}/return"),
            json!({}),
        )
        .await;
    problem(r, 409, "not_the_occupier").await;
    assert_eq!(row(&s, iccid).await.0, "04");
    assert_eq!(
        card(&s, &admin.token, iccid).await["occupied_channel_id"],
        owner.0
    );
    // The occupier does both; a returned card has no occupier any more.
    let (st, v) = occupy_as(&s, &owner, iccid, true).await;
    assert_eq!((st, v["status"].clone()), (200, json!("05")), "{v}");
    let (st, v) = return_as(&s, &owner, iccid).await;
    assert_eq!((st, v["status"].clone()), (200, json!("06")), "{v}");
    let c = card(&s, &admin.token, iccid).await;
    assert!(
        c["occupied_channel_id"].is_null() && c["occupied_staff_id"].is_null(),
        "{c}"
    );
    let actions: Vec<String> = history(&s, &admin, iccid)
        .await
        .into_iter()
        .map(|h| h.2)
        .collect();
    assert_eq!(actions, ["intake", "occupy", "activate", "return"]);
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn concurrent_occupations_by_several_channels_have_one_winner() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 1).await;
    let mut creds = Vec::new();
    for _ in 0..8 {
        creds.push(channel(&s, &admin, "51").await);
    }
    let wave = |who: Vec<usize>, activated: bool| {
        let s = &s;
        let creds = &creds;
        let iccid = &list[0];
        futures_util::future::join_all(
            who.into_iter()
                .map(move |i| async move { (i, occupy_as(s, &creds[i], iccid, activated).await) }),
        )
    };
    // All at once; then the losers all at once again, now to activate it.
    let first = wave((0..8).collect(), false).await;
    let winners: Vec<usize> = first
        .iter()
        .filter(|(_, (st, _))| *st == 200)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{first:?}");
    let losers = (0..8).filter(|i| *i != winners[0]).collect();
    let second = wave(losers, true).await;
    for (_, (st, v)) in first
        .iter()
        .chain(&second)
        .filter(|(i, _)| *i != winners[0])
    {
        assert_eq!(
            (*st, v["code"].clone()),
            (409, json!("not_in_stock")),
            "{second:?}"
        );
    }
    assert_eq!(row(&s, &list[0]).await.0, "04");
    let changes = history(&s, &admin, &list[0])
        .await
        .iter()
        .filter(|h| h.2 == "occupy" || h.2 == "activate")
        .count();
    assert_eq!(changes, 1);
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn the_availability_check_tells_nothing_of_another_provinces_card() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "51").await;
    let list = cards(&s, &admin, "51", depot, 1).await;
    force_status(&s, &list[0], "06").await;
    let there = channel(&s, &admin, "11").await;
    let (st, v) = channel_call(
        &s,
        &there,
        "GET",
        &format!(
            "/api/v1/open/cards/{}/availability?purpose=new_account",
            list[0]
        ),
        None,
    )
    .await;
    assert_eq!(
        (st, v["reason"].clone()),
        (200, json!("wrong_province")),
        "{v}"
    );
    assert!(
        v.get("status").is_none() && v.get("card_type").is_none(),
        "{v}"
    );
    cleanup(&s, &list).await;
}
