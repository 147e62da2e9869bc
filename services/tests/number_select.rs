//! 选号 from the local cache, pool authorisation, province scope, the
//! channel API, and cache invalidation reaching a second server process.

mod common;
mod number_support;

use std::time::{Duration, Instant};

use number_support::*;
use serde_json::{json, Value};

const TAILS: [&str; 9] = [
    "8888", "1234", "1122", "1212", "3579", "0520", "7410", "9876", "2468",
];

async fn select(s: &common::Server, token: &str, query: &str) -> Value {
    let r = s
        .get(token, &format!("/api/v1/numbers/select?{query}"))
        .await;
    let st = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(st, 200, "select {query}: {v}");
    v
}

#[tokio::test]
async fn selection_filters_paging_and_caps() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let (depot, city) = depot(&s, &admin, "31").await;
    let p = pool(&s, &admin, "31", None).await;
    let nums = fresh_numbers(&s, "31", &city, Some(&TAILS), 0).await;
    intake(&s, &admin, &nums, depot, Some(p)).await;
    let (st, _) = set_status(&s, &admin, &nums[..8], "03").await;
    assert_eq!(st, 200);
    let on: Vec<String> = nums[..8].to_vec(); // 2468 stays idle: never selectable
    let base = format!("province_code=31&pool_id={p}");
    let all = selected(&select(&s, t, &format!("{base}&page_size=50")).await);
    let mut expect = on.clone();
    expect.sort();
    assert_eq!(all, expect);
    let by = |f: &dyn Fn(&str) -> bool| -> Vec<String> {
        expect.iter().filter(|n| f(n)).cloned().collect()
    };
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&tail=888")).await),
        by(&|n| n.ends_with("888"))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&pattern=AABB")).await),
        by(&|n| n.ends_with("1122"))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&pattern=ABAB")).await),
        by(&|n| n.ends_with("1212"))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&pattern=ABCD")).await),
        by(&|n| n.ends_with("1234"))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&pattern=DCBA")).await),
        by(&|n| n.ends_with("9876"))
    );
    // x8888 is AAAA (level 2), or AAAAA (level 1) when the segment ends in 8.
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&level=1,2")).await),
        by(&|n| n.ends_with("8888"))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&contains=520")).await),
        by(&|n| n[3..].contains("520"))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&not_contains=17")).await),
        by(&|n| !n[3..].contains('1') && !n[3..].contains('7'))
    );
    assert_eq!(
        selected(&select(&s, t, &format!("{base}&no4=true")).await),
        by(&|n| !n[3..].contains('4'))
    );
    // Paging, sorted by number.
    let p1 = selected(&select(&s, t, &format!("{base}&page_size=3&page=1")).await);
    let p2 = selected(&select(&s, t, &format!("{base}&page_size=3&page=2")).await);
    assert_eq!([p1, p2].concat(), expect[..6].to_vec());
    // Anti-grabbing caps and bad filters are problems.
    // Anti-grabbing: well-formed, but deeper than the window.
    let r = s
        .get(
            t,
            &format!("/api/v1/numbers/select?{base}&page_size=50&page=11"),
        )
        .await;
    common::problem(r, 403, "not_allowed").await;
    let r = s
        .get(t, &format!("/api/v1/numbers/select?{base}&city_code=999"))
        .await;
    common::problem(r, 404, "not_found").await;
    for q in [
        format!("{base}&page_size=51"),
        format!("{base}&level=1,%202"),
        format!("{base}&pattern=XYZ"),
        format!("{base}&tail=12a"),
        format!("{base}&level=7"),
        "province_code=99".to_string(),
    ] {
        let r = s.get(t, &format!("/api/v1/numbers/select?{q}")).await;
        common::problem(r, 400, "invalid_request").await;
    }
    cleanup(&s, &nums).await;
}

#[tokio::test]
async fn pools_need_grants_and_provinces_need_scope() {
    let s = server().await;
    let admin = s.admin().await;
    let p = pool(&s, &admin, "36", None).await;
    let pooled = on_shelf(&s, &admin, "36", 3, Some(p)).await;
    let public = on_shelf(&s, &admin, "36", 1, None).await;
    let user = s
        .user(&admin, Some("36"), &["number:read", "number:hold"], None)
        .await;
    let t = &user.token;
    // No grant: the pool looks empty and its numbers do not exist.
    assert!(selected(&select(&s, t, &format!("province_code=36&pool_id={p}")).await).is_empty());
    assert_eq!(hold(&s, t, &pooled[0], "u-1", None).await["code"], "0002");
    assert_eq!(
        hold(&s, t, &public[0], "u-1", None).await["code"],
        "0000",
        "public shelf"
    );
    // View only: visible, not holdable (0005).
    grant(&s, &admin, p, "staff", user.staff_id, (true, false, false)).await;
    let seen = selected(&select(&s, t, &format!("province_code=36&pool_id={p}")).await);
    assert_eq!(seen.len(), 3);
    assert_eq!(hold(&s, t, &pooled[0], "u-1", None).await["code"], "0005");
    // Use: holdable.
    grant(&s, &admin, p, "staff", user.staff_id, (true, true, false)).await;
    assert_eq!(hold(&s, t, &pooled[0], "u-1", None).await["code"], "0000");
    // Province scope: another province is refused outright.
    let other = on_shelf(&s, &admin, "51", 1, None).await;
    let r = s.get(t, "/api/v1/numbers/select?province_code=51").await;
    common::problem(r, 403, "province_out_of_scope").await;
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{}/hold", other[0]),
            json!({"key": "x"}),
        )
        .await;
    common::problem(r, 403, "province_out_of_scope").await;
    // Without number:hold there is no holding at all.
    let reader = s.user(&admin, Some("36"), &["number:read"], None).await;
    let r = s
        .post(
            &reader.token,
            &format!("/api/v1/numbers/{}/hold", public[0]),
            json!({"key": "x"}),
        )
        .await;
    common::problem(r, 403, "permission_denied").await;

    // Channels: same rules through the signed channel API.
    let ch = channel(&s, &admin, "36").await;
    let ch2 = channel(&s, &admin, "36").await;
    let path = format!("/api/v1/open/numbers/select?province_code=36&pool_id={p}");
    let (st, v) = channel_call(&s, &ch, "GET", &path, None).await;
    assert_eq!(st, 200, "{v}");
    assert!(selected(&v).is_empty());
    grant(&s, &admin, p, "channel", ch.0, (true, true, false)).await;
    let (_, v) = channel_call(&s, &ch, "GET", &path, None).await;
    assert_eq!(selected(&v).len(), 2, "one is held by the staff user");
    let hold_path = format!("/api/v1/open/numbers/{}/hold", pooled[1]);
    let (st, v) = channel_call(
        &s,
        &ch,
        "POST",
        &hold_path,
        Some(json!({"key": "order-9", "key_kind": "order_id"})),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (200, Some("0000")), "{v}");
    // Another channel with the same key: wrong owning channel.
    let ext = format!("/api/v1/open/numbers/{}/extend", pooled[1]);
    let (_, v) = channel_call(&s, &ch2, "POST", &ext, Some(json!({"key": "order-9"}))).await;
    assert_eq!(v["code"], "0002", "ch2 has no grant on the pool: {v}");
    grant(&s, &admin, p, "channel", ch2.0, (true, true, false)).await;
    let (_, v) = channel_call(&s, &ch2, "POST", &ext, Some(json!({"key": "order-9"}))).await;
    assert_eq!(v["code"], "0005", "{v}");
    let sell = format!("/api/v1/open/numbers/{}/sell", pooled[1]);
    let (_, v) = channel_call(&s, &ch, "POST", &sell, Some(json!({"key": "order-9"}))).await;
    assert_eq!(v["code"], "0000", "{v}");
    // A channel of another province does not see this province's numbers.
    let far = channel(&s, &admin, "51").await;
    let (st, v) = channel_call(
        &s,
        &far,
        "GET",
        "/api/v1/open/numbers/select?province_code=36",
        None,
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (403, Some("province_out_of_scope"))
    );
    for n in [pooled, public, other] {
        cleanup(&s, &n).await;
    }
}

#[tokio::test]
async fn shelf_changes_reach_a_second_server_through_rabbitmq() {
    // A long TTL: only the invalidation broadcast can refresh B's cache.
    let a = server_with(|c| c.number.shelf_cache_ttl_seconds = 600).await;
    let b = server_with(|c| c.number.shelf_cache_ttl_seconds = 600).await;
    let admin = a.admin().await;
    let p = pool(&a, &admin, "74", None).await;
    let (depot, city) = depot(&a, &admin, "74").await;
    let nums = fresh_numbers(&a, "74", &city, None, 3).await;
    intake(&a, &admin, &nums, depot, Some(p)).await;
    set_status(&a, &admin, &nums[..2], "03").await;
    let q = format!("province_code=74&city_code={city}&pool_id={p}");
    assert_eq!(
        selected(&select(&b, &admin.token, &q).await),
        nums[..2].to_vec()
    );
    // Shelve the third on A: B sees it without any TTL expiry.
    let (st, _) = set_status(&a, &admin, &nums[2..], "03").await;
    assert_eq!(st, 200);
    wait_for(&b, &admin.token, &q, nums.clone()).await;
    // A hold on A takes it off B's shelf (and A's) without reloading either.
    assert_eq!(selected(&select(&a, &admin.token, &q).await), nums);
    let loads = (
        a.state.number.center.shelf.loads(),
        b.state.number.center.shelf.loads(),
    );
    assert_eq!(
        hold(&a, &admin.token, &nums[0], "k", None).await["code"],
        "0000"
    );
    assert_eq!(
        selected(&select(&a, &admin.token, &q).await),
        nums[1..].to_vec()
    );
    wait_for(&b, &admin.token, &q, nums[1..].to_vec()).await;
    assert_eq!(
        (
            a.state.number.center.shelf.loads(),
            b.state.number.center.shelf.loads()
        ),
        loads,
        "a hold reloads no shelf"
    );
    cleanup(&a, &nums).await;
}

#[tokio::test]
async fn a_burst_of_holds_is_announced_in_a_few_messages() {
    use futures_util::StreamExt;
    // A long linger makes the batching visible whatever the machine's speed.
    let a = server_with(|c| c.number.invalidation_linger_ms = 500).await;
    let admin = a.admin().await;
    let (depot, city) = depot(&a, &admin, "74").await;
    let nums = fresh_numbers(&a, "74", &city, None, 12).await;
    intake(&a, &admin, &nums, depot, None).await;
    set_status(&a, &admin, &nums, "03").await;
    let mut consumer = common::tap(&a, haoka_services::number::bus::EXCHANGE, "", true).await;
    let keys: Vec<String> = nums.iter().map(|n| format!("k{n}")).collect();
    let answers = futures_util::future::join_all(
        nums.iter()
            .zip(&keys)
            .map(|(n, k)| hold(&a, &admin.token, n, k, None)),
    )
    .await;
    assert!(answers.iter().all(|v| v["code"] == "0000"), "{answers:?}");
    // Every message naming one of these numbers, until none came for a while.
    let mut messages = 0;
    let mut named = std::collections::BTreeSet::new();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(2000), consumer.next()).await
    {
        let d = d.unwrap();
        let list: Vec<Value> = serde_json::from_slice(&d.data).unwrap();
        let ours: Vec<String> = list
            .iter()
            .filter(|m| m["kind"] == "taken" && m["city"] == city.as_str())
            .filter_map(|m| m["phone_no"].as_str().map(String::from))
            .filter(|n| nums.contains(n))
            .collect();
        if !ours.is_empty() {
            // Signed with A's name, which A's own listener skips.
            let from = d.properties.app_id().as_ref().map(|a| a.to_string());
            assert_eq!(from.as_deref(), Some(a.state.number.center.bus.origin()));
            messages += 1;
            named.extend(ours);
        }
    }
    assert_eq!(named.len(), nums.len(), "every held number is announced");
    // 12 holds within a few linger periods: a few messages, not one per hold.
    assert!(
        (1..=6).contains(&messages),
        "{messages} messages announced 12 holds"
    );
    cleanup(&a, &nums).await;
}

async fn wait_for(s: &common::Server, token: &str, q: &str, want: Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = selected(&select(s, token, q).await);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
