//! Issue 14, holds as an attacker meets them: hold keys read by others,
//! history outside the pools one may view, staff selling or releasing a
//! channel's hold or a hold in a pool they have no rights on, and a sale
//! repeated by its key.

mod common;
mod number_support;

use common::{unique, Server, User};
use number_support::*;
use serde_json::{json, Value};

async fn channel_hold(s: &Server, cred: &(i64, String, String), no: &str, key: &str) -> Value {
    let (st, v) = channel_call(
        s,
        cred,
        "POST",
        &format!("/api/v1/open/numbers/{no}/hold"),
        Some(json!({"key_kind": "order_id", "key": key})),
    )
    .await;
    assert_eq!((st, v["code"].clone()), (200, json!("0000")), "{v}");
    v
}

async fn number(s: &Server, token: &str, no: &str) -> (u16, Value) {
    let r = s.get(token, &format!("/api/v1/numbers/{no}")).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn history(s: &Server, token: &str, no: &str) -> (u16, Value) {
    let r = s.get(token, &format!("/api/v1/numbers/{no}/history")).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A staff operation on a hold: (HTTP status, result code).
async fn staff_op(s: &Server, user: &User, no: &str, op: &str, key: &str) -> (u16, String) {
    let r = s
        .post(
            &user.token,
            &format!("/api/v1/numbers/{no}/{op}"),
            json!({"key": key}),
        )
        .await;
    let st = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (st, v["code"].as_str().unwrap_or_default().to_string())
}

/// A staff member of 51 who may hold, with these rights on the pool.
async fn pool_user(s: &Server, admin: &User, pool: i64, rights: (bool, bool, bool)) -> User {
    let u = s
        .user(admin, Some("51"), &["number:read", "number:hold"], None)
        .await;
    grant(s, admin, pool, "staff", u.staff_id, rights).await;
    u
}

#[tokio::test]
async fn hold_keys_are_shown_to_their_holder_only() {
    let s = server().await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "51", 2, None).await;
    let cred = channel(&s, &admin, "51").await;
    let key = unique("order");
    channel_hold(&s, &cred, &nums[0], &key).await;
    let reader = s.user(&admin, Some("51"), &["number:read"], None).await;
    for who in [&reader, &admin] {
        let (st, v) = number(&s, &who.token, &nums[0]).await;
        assert_eq!((st, v["status"].clone()), (200, json!("04")));
        assert!(v["hold_key"].is_null(), "{v}");
        assert_eq!(v["hold_channel_id"], cred.0);
        let (st, h) = history(&s, &who.token, &nums[0]).await;
        assert_eq!(st, 200);
        let hold = h
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "hold")
            .unwrap();
        assert_eq!(hold["hold_key"], "***", "{h}");
    }
    // A staff member's own hold: they read its key, nobody else does.
    let holder = s
        .user(&admin, Some("51"), &["number:read", "number:hold"], None)
        .await;
    let own = unique("counter");
    hold(&s, &holder.token, &nums[1], &own, None).await;
    let (_, v) = number(&s, &holder.token, &nums[1]).await;
    assert_eq!(v["hold_key"], own.as_str());
    let (_, h) = history(&s, &holder.token, &nums[1]).await;
    assert!(
        h.as_array()
            .unwrap()
            .iter()
            .any(|r| r["hold_key"] == own.as_str()),
        "{h}"
    );
    let (_, v) = number(&s, &reader.token, &nums[1]).await;
    assert!(v["hold_key"].is_null(), "{v}");
    let (_, h) = history(&s, &reader.token, &nums[1]).await;
    assert!(!h.to_string().contains(&own), "{h}");
    cleanup(&s, &nums).await;
}

#[tokio::test]
async fn a_number_of_a_pool_one_may_not_view_has_no_history_for_them() {
    let s = server().await;
    let admin = s.admin().await;
    let pool = pool(&s, &admin, "51", None).await;
    let nums = on_shelf(&s, &admin, "51", 1, Some(pool)).await;
    let reader = s.user(&admin, Some("51"), &["number:read"], None).await;
    assert_eq!(number(&s, &reader.token, &nums[0]).await.0, 404);
    let (st, v) = history(&s, &reader.token, &nums[0]).await;
    assert_eq!(st, 404, "{v}");
    grant(
        &s,
        &admin,
        pool,
        "staff",
        reader.staff_id,
        (true, false, false),
    )
    .await;
    assert_eq!(history(&s, &reader.token, &nums[0]).await.0, 200);
    cleanup(&s, &nums).await;
}

#[tokio::test]
async fn a_channels_hold_is_the_channels_unless_staff_override_it_on_the_record() {
    let s = server().await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "51", 1, None).await;
    let no = &nums[0];
    let cred = channel(&s, &admin, "51").await;
    let key = unique("order");
    channel_hold(&s, &cred, no, &key).await;
    // Staff who know the key still cannot use the channel's hold.
    let clerk = s
        .user(
            &admin,
            Some("51"),
            &["number:read", "number:hold", "pool:write"],
            None,
        )
        .await;
    for op in ["sell", "release", "extend"] {
        assert_eq!(
            staff_op(&s, &clerk, no, op, &key).await,
            (200, "0005".into()),
            "{op}"
        );
    }
    assert_eq!(status_of(&s, no).await, "04");
    // An override (the admin role holds it) works, and is on the record.
    assert_eq!(
        staff_op(&s, &admin, no, "sell", &key).await,
        (200, "0000".into())
    );
    assert_eq!(status_of(&s, no).await, "10");
    let logs: Value = s
        .get(
            &admin.token,
            &format!("/api/v1/logs/operations?object_kind=number&object_id={no}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let row = &logs["items"][0];
    assert_eq!(row["action"], "number.hold_override", "{logs}");
    assert_eq!(row["staff_id"], admin.staff_id);
    assert!(
        row["before_value"]
            .as_str()
            .unwrap()
            .contains(&cred.0.to_string()),
        "{row}"
    );
    cleanup(&s, &nums).await;
}

#[tokio::test]
async fn staff_act_on_colleagues_holds_only_in_pools_they_operate() {
    let s = server().await;
    let admin = s.admin().await;
    let pool = pool(&s, &admin, "51", None).await;
    let nums = on_shelf(&s, &admin, "51", 1, Some(pool)).await;
    let no = &nums[0];
    let holder = pool_user(&s, &admin, pool, (true, true, false)).await;
    let key = unique("cust");
    hold(&s, &holder.token, no, &key, None).await;
    // No rights on the pool: the number does not exist for them.
    let stranger = s
        .user(&admin, Some("51"), &["number:read", "number:hold"], None)
        .await;
    let release = |who: User| {
        let s = &s;
        let key = key.clone();
        async move { staff_op(s, &who, no, "release", &key).await }
    };
    assert_eq!(release(stranger).await, (200, "0002".into()));
    // View and use, not operate: not theirs to release.
    let user = pool_user(&s, &admin, pool, (true, true, false)).await;
    assert_eq!(release(user).await, (200, "0005".into()));
    assert_eq!(status_of(&s, no).await, "04");
    // The holder extends their own hold; an operator of the pool may sell it.
    assert_eq!(
        staff_op(&s, &holder, no, "extend", &key).await,
        (200, "0000".into())
    );
    let operator = pool_user(&s, &admin, pool, (true, true, true)).await;
    assert_eq!(
        staff_op(&s, &operator, no, "sell", &key).await,
        (200, "0000".into())
    );
    cleanup(&s, &nums).await;
}

#[tokio::test]
async fn a_sale_repeated_by_its_key_answers_the_earlier_success() {
    let s = server().await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "51", 1, None).await;
    let no = &nums[0];
    let cred = channel(&s, &admin, "51").await;
    let key = unique("order");
    channel_hold(&s, &cred, no, &key).await;
    let sell = |k: String| {
        let s = &s;
        let cred = &cred;
        async move {
            channel_call(
                s,
                cred,
                "POST",
                &format!("/api/v1/open/numbers/{no}/sell"),
                Some(json!({"key": k})),
            )
            .await
        }
    };
    let (st, v) = sell(key.clone()).await;
    assert_eq!((st, v["code"].clone()), (200, json!("0000")));
    let (st, v) = sell(key.clone()).await;
    assert_eq!(
        (st, v["code"].clone(), v["status"].clone()),
        (200, json!("0000"), json!("10")),
        "{v}"
    );
    let (_, v) = sell(unique("other")).await;
    assert_eq!(v["code"], "0001");
    // Another channel with the same key did not sell it.
    let other = channel(&s, &admin, "51").await;
    let (_, v) = channel_call(
        &s,
        &other,
        "POST",
        &format!("/api/v1/open/numbers/{no}/sell"),
        Some(json!({"key": key})),
    )
    .await;
    assert_ne!(v["code"], "0000", "{v}");
    cleanup(&s, &nums).await;
}
