//! Card status changes through the status endpoint (every pair of statuses:
//! allowed exactly when the transition table lists it behind the manual
//! door), all-or-nothing batches, and 库位变更 inside a province.

mod card_support;
mod common;
mod number_support;

use card_support::*;
use haoka_services::card::status::CardStatus;
use haoka_services::card::transition::{self, Door};
use serde_json::{json, Value};

#[tokio::test]
async fn every_status_pair_is_allowed_or_refused_as_the_table_says() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "34").await;
    let all = CardStatus::ALL;
    let list = cards(&s, &admin, "34", depot, all.len() * all.len()).await;
    let mut k = 0;
    let mut allowed = 0;
    for from in all {
        for to in all {
            let i = &list[k];
            k += 1;
            force_status(&s, i, from.code()).await;
            let (st, v) = set_status(&s, &admin.token, std::slice::from_ref(i), to.code()).await;
            let ok = transition::allowed(from, to, Door::Manual).is_some();
            let now = row(&s, i).await.0;
            if ok {
                allowed += 1;
                assert_eq!(st, 200, "{from} -> {to}: {v}");
                assert_eq!(v["applied"], true);
                assert_eq!(now, to.code());
                let h = history(&s, &admin, i).await;
                let t = transition::find(from, to).unwrap();
                assert_eq!(
                    h.last().unwrap(),
                    &(
                        Some(from.code().to_string()),
                        to.code().to_string(),
                        t.action.name().to_string()
                    ),
                    "history of {from} -> {to}"
                );
            } else {
                assert_eq!(st, 409, "{from} -> {to} must be refused: {v}");
                assert_eq!(v["applied"], false);
                let r = &v["results"][0];
                assert_eq!(r["outcome"], "refused");
                assert_eq!(r["status"], from.code());
                let msg = r["message"].as_str().unwrap();
                match transition::find(from, to) {
                    // Behind another door: the message says which.
                    Some(t) => assert!(msg.contains(t.door.endpoint()), "{msg}"),
                    None => assert!(msg.contains("not an allowed"), "{msg}"),
                }
                assert_eq!(now, from.code(), "a refused change leaves the card alone");
                assert_eq!(history(&s, &admin, i).await.len(), 1, "only the intake row");
            }
        }
    }
    assert!(allowed >= 8, "the manual door opens several changes");
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, _) = depot(&s, &admin, "34").await;
    let list = cards(&s, &admin, "34", depot, 3).await;
    force_status(&s, &list[2], "05").await;
    let unknown = iccid();
    let mut with_unknown = list[..2].to_vec();
    with_unknown.push(unknown.clone());
    let (st, v) = set_status(&s, &admin.token, &with_unknown, "06").await;
    assert_eq!(st, 409);
    assert_eq!(v["results"][2]["outcome"], "no_such_card");
    // 05 -> 06 is a return (the occupy door), so the batch is refused.
    let (st, v) = set_status(&s, &admin.token, &list, "06").await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["results"][0]["outcome"], "ok");
    assert_eq!(v["results"][2]["outcome"], "refused");
    for i in &list[..2] {
        assert_eq!(row(&s, i).await.0, "01", "nothing half applied");
    }
    let (st, v) = set_status(&s, &admin.token, &list[..2], "06").await;
    assert_eq!(st, 200, "{v}");
    for i in &list[..2] {
        assert_eq!(row(&s, i).await.0, "06");
    }
    // Bad lists are a 400 before anything is read.
    let (st, _) = set_status(&s, &admin.token, &[list[0].clone(), list[0].clone()], "01").await;
    assert_eq!(st, 400);
    let (st, _) = set_status(&s, &admin.token, &["8986".to_string()], "01").await;
    assert_eq!(st, 400);
    let (st, _) = set_status(&s, &admin.token, &list[..1], "09").await;
    assert_eq!(st, 422);
    cleanup(&s, &list).await;
}

#[tokio::test]
async fn depot_moves_stay_inside_a_province() {
    let s = server().await;
    let admin = s.admin().await;
    let (from, _) = card_support::depot(&s, &admin, "34").await;
    let (to, _) = card_support::depot(&s, &admin, "34").await;
    let (elsewhere, _) = card_support::depot(&s, &admin, "11").await;
    let list = cards(&s, &admin, "34", from, 3).await;
    let far = cards(&s, &admin, "11", elsewhere, 1).await;
    let mv = |iccids: Vec<String>, depot: i64| {
        let s = &s;
        let token = admin.token.clone();
        async move {
            let r = s
                .post(
                    &token,
                    "/api/v1/cards/depot",
                    json!({"iccids": iccids, "depot_id": depot}),
                )
                .await;
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap())
        }
    };
    // A card of another province is refused and names the way (a transfer).
    let mut mixed = list[..2].to_vec();
    mixed.push(far[0].clone());
    let (st, v) = mv(mixed, to).await;
    assert_eq!(st, 409, "{v}");
    assert!(v["results"][2]["message"]
        .as_str()
        .unwrap()
        .contains("transfer"));
    assert_eq!(row(&s, &list[0]).await.1, from);
    // An occupied card is not on a shelf.
    force_status(&s, &list[2], "05").await;
    let (st, v) = mv(list.clone(), to).await;
    assert_eq!(st, 409);
    assert_eq!(v["results"][2]["outcome"], "refused");
    assert_eq!(row(&s, &list[0]).await.1, from);
    // In stock and frozen cards move, with a history row naming both depots.
    force_status(&s, &list[1], "06").await;
    let (st, v) = mv(list[..2].to_vec(), to).await;
    assert_eq!(st, 200, "{v}");
    for i in &list[..2] {
        assert_eq!(row(&s, i).await.1, to);
    }
    let r = s
        .get(&admin.token, &format!("/api/v1/cards/{}/history", list[0]))
        .await;
    let h: Value = r.json().await.unwrap();
    let last = h.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "move_depot");
    assert_eq!(last["from_depot_id"], from);
    assert_eq!(last["to_depot_id"], to);
    // Moving into the depot it is in already is refused.
    let (st, _) = mv(list[..1].to_vec(), to).await;
    assert_eq!(st, 409);
    // A missing depot is a 404.
    let (st, _) = mv(list[..1].to_vec(), -1).await;
    assert_eq!(st, 404);
    cleanup(&s, &list).await;
    cleanup(&s, &far).await;
}
