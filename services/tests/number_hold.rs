//! Number center through the real proxy, Redis and RabbitMQ: intake,
//! every status transition (allowed and refused), holds and their result
//! codes, expiry, 冷冻 aging, history rows, and the hold race.

mod common;
mod number_support;

use std::collections::{HashMap, HashSet};

use haoka_services::number::events::{NumberSold, StatusChanged};
use haoka_services::number::status::NumberStatus;
use haoka_services::number::transition::{self, Door};
use mysql_async::prelude::Queryable;
use number_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn intake_reports_every_bad_number_and_applies_nothing() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, city) = depot(&s, &admin, "51").await;
    let numbers = fresh_numbers(&s, "51", &city, None, 30).await;
    // A range intake of the first 20.
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/intake",
            json!({"range": {"from": numbers[0], "count": 20}, "depot_id": depot}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["accepted"], 20);
    // A list overlapping it, with bad entries: nothing of it is applied.
    let mut list: Vec<String> = numbers[15..30].to_vec();
    list.push("1234".into());
    list.push(numbers[25].clone());
    list.push("19999999999".into());
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/intake",
            json!({"numbers": list, "depot_id": depot}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let reasons: HashMap<String, String> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["phone_no"].as_str().unwrap().to_string(),
                x["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for n in &numbers[15..20] {
        assert_eq!(reasons[n], "duplicate", "{v}");
    }
    assert_eq!(reasons["1234"], "invalid");
    assert_eq!(reasons[&numbers[25]], "duplicate_in_request");
    let mut c = sql(&s).await;
    let marks = ["?"; 10].join(",");
    let n: Option<i64> = c
        .exec_first(
            format!("SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({marks})"),
            numbers[20..30].to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(n, Some(0), "nothing half applied");
    // Intake wrote 01 and one history row each.
    assert_eq!(status_of(&s, &numbers[0]).await, "01");
    assert_eq!(
        history_actions(&s, &admin, &numbers[0]).await,
        vec![(None, "01".to_string(), "intake".to_string())]
    );
    // A depot of another province refuses the numbers.
    let (other_depot, _) = number_support::depot(&s, &admin, "36").await;
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/intake",
            json!({"numbers": [numbers[29]], "depot_id": other_depot}),
        )
        .await;
    assert_eq!(r.status(), 409, "refused by the stock, not malformed");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["rejected"][0]["reason"], "wrong_depot_province");
    // A range running past the numbering plan: those have no segment.
    let r = s
        .post(
            &admin.token,
            "/api/v1/numbers/intake",
            json!({"range": {"from": "19999999998", "count": 4}, "depot_id": depot}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    let past: Vec<&str> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["message"]
                .as_str()
                .unwrap()
                .contains("past the last number")
        })
        .map(|x| x["phone_no"].as_str().unwrap())
        .collect();
    assert_eq!(past, vec!["20000000000", "20000000001"], "{v}");
    assert_eq!(v["accepted"], 0);
    cleanup(&s, &numbers).await;
}

#[tokio::test]
async fn every_status_pair_is_allowed_or_refused_by_the_table() {
    let s = server().await;
    let admin = s.admin().await;
    let (depot, city) = depot(&s, &admin, "34").await;
    let numbers = fresh_numbers(&s, "34", &city, None, 1).await;
    intake(&s, &admin, &numbers, depot, None).await;
    let n = &numbers[0];
    let mut allowed = 0;
    for from in NumberStatus::ALL {
        for to in NumberStatus::ALL {
            force_status(&s, n, from.code()).await;
            let (st, body) = set_status(&s, &admin, &numbers, to.code()).await;
            let expect = transition::allowed(from, to, Door::Manual);
            if let Some(t) = expect {
                allowed += 1;
                assert_eq!(st, 200, "{from} -> {to}: {body}");
                assert_eq!(body["results"][0]["code"], "0000");
                assert_eq!(status_of(&s, n).await, to.code());
                let h = history_actions(&s, &admin, n).await;
                assert_eq!(
                    h.last().unwrap(),
                    &(
                        Some(from.code().to_string()),
                        to.code().to_string(),
                        t.action.name().to_string()
                    )
                );
            } else {
                assert_eq!(st, 409, "{from} -> {to} must be refused: {body}");
                assert_eq!(body["applied"], false);
                assert_eq!(body["results"][0]["code"], "0004", "{from} -> {to}");
                assert_eq!(status_of(&s, n).await, from.code(), "unchanged");
                // The refusal names what staff may do from here instead.
                let why = body["results"][0]["message"].as_str().unwrap();
                let targets = transition::targets(from, Door::Manual);
                for t in &targets {
                    assert!(why.contains(&t.to_string()), "{from} -> {to}: {why}");
                }
                if targets.is_empty() {
                    assert!(why.ends_with("allows: none"), "{why}");
                }
            }
        }
    }
    assert_eq!(
        allowed,
        transition::TRANSITIONS
            .iter()
            .filter(|t| t.door == Door::Manual)
            .count()
    );
    // A batch with one refused number changes none of them.
    let more = fresh_numbers(&s, "34", &city, None, 3).await;
    intake(&s, &admin, &more, depot, None).await;
    force_status(&s, &more[2], "10").await;
    let (st, body) = set_status(&s, &admin, &more, "03").await;
    assert_eq!(st, 409);
    let codes: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["0000", "0000", "0004"]);
    assert_eq!(status_of(&s, &more[0]).await, "01");
    // An unknown (but well-formed, allocated) number is 0002.
    let ghost = fresh_numbers(&s, "34", &city, None, 1).await;
    let (st, body) = set_status(&s, &admin, &ghost, "03").await;
    assert_eq!(
        (st, body["results"][0]["code"].as_str()),
        (409, Some("0002"))
    );
    cleanup(&s, &numbers).await;
    cleanup(&s, &more).await;
}

#[tokio::test]
async fn hold_extend_release_sell_and_their_result_codes() {
    let s = server().await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "17", 6, None).await;
    let t = &admin.token;
    let a = &nums[0];
    let v = hold(&s, t, a, "order-A", None).await;
    assert_eq!(v["code"], "0000", "{v}");
    assert_eq!(v["status"], "04");
    let first_deadline = v["hold_deadline"].as_str().unwrap().to_string();
    // The answer names the stored deadline: the default 30 min from the
    // database's clock.
    let (stored, left): (haoka_services::time::Timestamp, i64) = sql(&s)
        .await
        .exec_first(
            concat!(
                "SELECT ",
                haoka_services::ts_col!("hold_deadline"),
                ", TIMESTAMPDIFF(SECOND, NOW(3), hold_deadline) FROM phone_number WHERE phone_no = ?"
            ),
            (a,),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.to_string(), first_deadline);
    assert!((1790..=1800).contains(&left), "{left} s left");
    assert_eq!(
        hold(&s, t, a, "order-B", None).await["code"],
        "0001",
        "held by another key"
    );
    assert_eq!(
        hold(&s, t, a, "order-A", None).await["code"],
        "0000",
        "the same key again"
    );
    assert_eq!(
        op(&s, t, a, "extend", "order-B").await["code"],
        "0001",
        "key mismatch"
    );
    assert_eq!(
        op(&s, t, a, "release", "order-B").await["code"],
        "0001",
        "key mismatch"
    );
    assert_eq!(
        op(&s, t, a, "sell", "order-B").await["code"],
        "0001",
        "key mismatch"
    );
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{a}/extend"),
            json!({"key": "order-A", "hold_seconds": 7200}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "0000");
    assert!(
        v["hold_deadline"].as_str().unwrap() > first_deadline.as_str(),
        "{v}"
    );
    assert_eq!(op(&s, t, a, "sell", "order-A").await["code"], "0000");
    assert_eq!(status_of(&s, a).await, "10");
    assert_eq!(
        op(&s, t, a, "release", "order-A").await["code"],
        "0007",
        "sold"
    );
    assert_eq!(
        hold(&s, t, a, "order-C", None).await["code"],
        "0001",
        "sold is taken"
    );
    // Release puts the number back on the shelf at once, like expiry (no
    // 冷冻: it was never used); releasing it again is 0006 (free), and
    // anyone may hold it again.
    let b = &nums[1];
    assert_eq!(hold(&s, t, b, "cust-1", None).await["code"], "0000");
    let v = op(&s, t, b, "release", "cust-1").await;
    assert_eq!(
        (v["code"].as_str(), v["status"].as_str()),
        (Some("0000"), Some("03")),
        "{v}"
    );
    assert_eq!(status_of(&s, b).await, "03");
    let v = op(&s, t, b, "release", "cust-1").await;
    assert_eq!(
        (v["code"].as_str(), v["status"].as_str()),
        (Some("0006"), Some("03")),
        "{v}"
    );
    assert_eq!(
        hold(&s, t, b, "cust-2", None).await["code"],
        "0000",
        "a released number is for holding again"
    );
    assert_eq!(
        op(&s, t, &nums[5], "release", "cust-1").await["code"],
        "0006"
    );
    // Not for sale, not usable, no such number.
    force_status(&s, &nums[2], "01").await;
    assert_eq!(hold(&s, t, &nums[2], "k", None).await["code"], "0003");
    force_status(&s, &nums[3], "06").await;
    assert_eq!(hold(&s, t, &nums[3], "k", None).await["code"], "0004");
    let segs = s.state.number.center.segments(&s.state.db).await.unwrap();
    let city = segs
        .area(nums[0][..7].parse().unwrap())
        .unwrap()
        .city
        .clone();
    let ghost = fresh_numbers(&s, "17", &city, None, 1).await;
    assert_eq!(hold(&s, t, &ghost[0], "k", None).await["code"], "0002");
    // A random key is drawn when none is given.
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{}/hold", nums[4]),
            json!({"key_kind": "random"}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "0000");
    assert_eq!(v["hold_key"].as_str().unwrap().len(), 16);
    // Bad input is a problem body, not a result code.
    let r = s
        .post(
            t,
            &format!("/api/v1/numbers/{}/hold", nums[5]),
            json!({"key_kind": "order_id"}),
        )
        .await;
    common::problem(r, 400, "invalid_request").await;
    let r = s
        .post(t, "/api/v1/numbers/12345/hold", json!({"key": "x"}))
        .await;
    common::problem(r, 400, "invalid_request").await;
    // A number of a segment no province has cannot exist.
    let r = s
        .post(t, "/api/v1/numbers/10000000000/hold", json!({"key": "x"}))
        .await;
    common::problem(r, 404, "not_found").await;
    // An intake into a depot that does not exist.
    let r = s
        .post(
            t,
            "/api/v1/numbers/intake",
            json!({"numbers": [nums[0]], "depot_id": i64::MAX}),
        )
        .await;
    common::problem(r, 404, "not_found").await;
    // History: hold, extend, sell with the key.
    let h = history_actions(&s, &admin, a).await;
    let actions: Vec<&str> = h.iter().map(|x| x.2.as_str()).collect();
    assert_eq!(actions, vec!["intake", "shelve", "hold", "extend", "sell"]);
    cleanup(&s, &nums).await;
}

async fn select(s: &common::Server, token: &str, query: &str) -> Value {
    let r = s
        .get(token, &format!("/api/v1/numbers/select?{query}"))
        .await;
    assert_eq!(r.status(), 200, "select {query}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn expired_holds_and_aged_frozen_numbers_return_to_the_shelf() {
    let s = server_with(|c| {
        c.number.sweep_interval_ms = 200;
        c.number.frozen_aging_seconds = 1;
    })
    .await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "76", 3, None).await;
    let t = &admin.token;
    assert_eq!(
        hold(&s, t, &nums[0], "short", Some(1)).await["code"],
        "0000"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Past the deadline the key can no longer sell or extend.
    let v = op(&s, t, &nums[0], "sell", "short").await;
    assert!(v["code"] == "0004" || v["code"] == "0006", "{v}");
    // Sold then cancelled: 冷冻, then back on the shelf after aging.
    assert_eq!(hold(&s, t, &nums[1], "k2", None).await["code"], "0000");
    assert_eq!(op(&s, t, &nums[1], "sell", "k2").await["code"], "0000");
    let (st, body) = set_status(&s, &admin, &nums[1..2], "11").await;
    assert_eq!(st, 200, "{body}");
    // Released by the key: back on the shelf (and in the selection) at once.
    let (province, tail) = ("76", &nums[2][3..]);
    let find = format!("province_code={province}&tail={tail}");
    assert!(selected(&select(&s, t, &find).await).contains(&nums[2]));
    assert_eq!(hold(&s, t, &nums[2], "k3", None).await["code"], "0000");
    assert!(!selected(&select(&s, t, &find).await).contains(&nums[2]));
    assert_eq!(op(&s, t, &nums[2], "release", "k3").await["code"], "0000");
    assert_eq!(status_of(&s, &nums[2]).await, "03");
    assert!(selected(&select(&s, t, &find).await).contains(&nums[2]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let a = status_of(&s, &nums[0]).await;
        let b = status_of(&s, &nums[1]).await;
        let c = status_of(&s, &nums[2]).await;
        if a == "03" && b == "03" && c == "03" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {a} / {b} / {c}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let h = history_actions(&s, &admin, &nums[0]).await;
    assert_eq!(
        h.last().unwrap(),
        &(
            Some("04".to_string()),
            "03".to_string(),
            "expire".to_string()
        )
    );
    let h = history_actions(&s, &admin, &nums[1]).await;
    let actions: Vec<&str> = h.iter().map(|x| x.2.as_str()).collect();
    assert_eq!(
        actions,
        vec!["intake", "shelve", "hold", "sell", "cancel", "thaw"]
    );
    let h = history_actions(&s, &admin, &nums[2]).await;
    let moves: Vec<(Option<&str>, &str, &str)> = h
        .iter()
        .map(|(f, to, a)| (f.as_deref(), to.as_str(), a.as_str()))
        .collect();
    assert_eq!(moves[3..], [(Some("04"), "03", "release")]);
    cleanup(&s, &nums).await;
}

/// Routing key and action of a number's events (all on haoka.events).
async fn event_keys(s: &common::Server, number: &str) -> Vec<(String, Option<String>)> {
    events(s, number)
        .await
        .into_iter()
        .map(|(k, x, p)| {
            assert_eq!(x, "haoka.events");
            (k, p["action"].as_str().map(str::to_string))
        })
        .collect()
}

#[tokio::test]
async fn a_sale_and_a_staff_status_change_write_their_event_iff_they_commit() {
    let s = server().await;
    let admin = s.admin().await;
    let t = &admin.token;
    let nums = on_shelf(&s, &admin, "19", 2, None).await;
    let (a, b) = (&nums[0], &nums[1]);
    let shelved = vec![(
        "number.status_changed".to_string(),
        Some("shelve".to_string()),
    )];
    assert_eq!(event_keys(&s, a).await, shelved, "the shelving");
    // A hold writes none, nor does a refused sale (wrong key).
    assert_eq!(hold(&s, t, a, "ev-1", None).await["code"], "0000");
    assert_eq!(op(&s, t, a, "sell", "ev-2").await["code"], "0001");
    assert_eq!(event_keys(&s, a).await, shelved);
    assert_eq!(op(&s, t, a, "sell", "ev-1").await["code"], "0000");
    let ev = events(&s, a).await;
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1].0, "number.sold");
    let sold: NumberSold = serde_json::from_value(ev[1].2.clone()).unwrap();
    let segs = s.state.number.center.segments(&s.state.db).await.unwrap();
    let area = segs.area(a[..7].parse().unwrap()).unwrap().clone();
    assert_eq!(
        sold,
        NumberSold {
            phone_no: a.clone(),
            province_code: "19".into(),
            city_code: area.city,
            pool_id: None,
            hold_key: "ev-1".into(),
            channel_id: None,
            staff_id: Some(admin.staff_id),
        }
    );
    // A repeated sale answers the earlier success (a retried call), and
    // writes no second event.
    assert_eq!(op(&s, t, a, "sell", "ev-1").await["code"], "0000", "sold");
    assert_eq!(events(&s, a).await.len(), 2, "a repeated sale writes none");
    // The relay gets a clean confirm: number events are routable (the feed).
    let mut sent = 0;
    for _ in 0..100 {
        sent = sent_events(&s, a).await;
        if sent == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 2, "both events confirmed by the broker");
    // A staff status change: one event per number, with the transition.
    let (st, body) = set_status(&s, &admin, &nums[1..], "01").await;
    assert_eq!(st, 200, "{body}");
    let ev = events(&s, b).await;
    let changed: StatusChanged = serde_json::from_value(ev.last().unwrap().2.clone()).unwrap();
    assert_eq!(
        (changed.from, changed.to, changed.action.as_str()),
        (NumberStatus::OnShelf, NumberStatus::Idle, "unshelve")
    );
    assert_eq!(changed.staff_id, Some(admin.staff_id));
    // A refused batch (10 → 03 is not in the table) rolls back: no events.
    let (st, _) = set_status(&s, &admin, &nums, "03").await;
    assert_eq!(st, 409);
    assert_eq!(events(&s, b).await.len(), 2, "shelve, unshelve only");
    assert_eq!(events(&s, a).await.len(), 2, "shelve, sold only");
    cleanup(&s, &nums).await;
    assert!(events(&s, a).await.is_empty(), "cleaned up");
}

#[tokio::test]
async fn four_hundred_concurrent_holds_on_twenty_numbers_have_twenty_winners() {
    let s = server().await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "81", 20, None).await;
    let mut tasks = Vec::new();
    for i in 0..400 {
        let n = nums[i % 20].clone();
        let url = s.url(&format!("/api/v1/numbers/{n}/hold"));
        let http = s.http.clone();
        let token = admin.token.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("race-{i}");
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"key_kind": "order_id", "key": key}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            (n, key, v["code"].as_str().unwrap().to_string())
        }));
    }
    let mut winners: HashMap<String, Vec<String>> = HashMap::new();
    let mut codes: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let (n, key, code) = t.await.unwrap();
        *codes.entry(code.clone()).or_default() += 1;
        if code == "0000" {
            winners.entry(n).or_default().push(key);
        }
    }
    assert_eq!(codes.get("0000"), Some(&20), "{codes:?}");
    assert_eq!(codes.get("0001"), Some(&380), "{codes:?}");
    let mut c = sql(&s).await;
    for n in &nums {
        let w = &winners[n];
        assert_eq!(w.len(), 1, "{n} won by {w:?}");
        let (st, key): (String, String) = c
            .exec_first(
                "SELECT status, hold_key FROM phone_number WHERE phone_no = ?",
                (n,),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!((st.as_str(), key.as_str()), ("04", w[0].as_str()));
        let holds: Vec<String> = c
            .exec(
                "SELECT hold_key FROM number_history WHERE phone_no = ? AND action = 'hold'",
                (n,),
            )
            .await
            .unwrap();
        assert_eq!(holds, vec![w[0].clone()], "one hold row, by the winner");
    }
    let distinct: HashSet<&String> = winners.values().flatten().collect();
    assert_eq!(distinct.len(), 20);
    cleanup(&s, &nums).await;
}

/// Extending never brings a deadline forward (a shorter `hold_seconds`
/// leaves it), and a hold lasts at most `hold_max_total_seconds` from when
/// it began, however often it is extended.
#[tokio::test]
async fn extend_never_shortens_a_hold_and_stops_at_the_total_cap() {
    let s = server_with(|c| c.number.hold_max_total_seconds = 3600).await;
    let admin = s.admin().await;
    let nums = on_shelf(&s, &admin, "74", 1, None).await;
    let (t, a) = (&admin.token, &nums[0]);
    let v = hold(&s, t, a, "long", Some(1800)).await;
    assert_eq!(v["code"], "0000", "{v}");
    let first = v["hold_deadline"].as_str().unwrap().to_string();
    // 600 s would move the deadline 20 minutes earlier: it stays.
    let v = extend(&s, t, a, 600).await;
    assert_eq!(v["code"], "0000", "{v}");
    assert_eq!(v["hold_deadline"].as_str().unwrap(), first, "never earlier");
    assert!(left(&s, a).await >= 1790);
    // Longer than the cap allows: up to one hour from the start, no more.
    let v = extend(&s, t, a, 7200).await;
    assert_eq!(v["code"], "0000", "{v}");
    let now_left = left(&s, a).await;
    assert!((3590..=3600).contains(&now_left), "{now_left} s left");
    assert!(v["hold_deadline"].as_str().unwrap() > first.as_str());
    // Again: the cap holds.
    extend(&s, t, a, 7200).await;
    assert!(left(&s, a).await <= 3600);
    cleanup(&s, &nums).await;
}

async fn extend(s: &common::Server, token: &str, no: &str, secs: u64) -> Value {
    let r = s
        .post(
            token,
            &format!("/api/v1/numbers/{no}/extend"),
            json!({"key": "long", "hold_seconds": secs}),
        )
        .await;
    r.json::<Value>().await.unwrap()
}

/// Seconds left of a number's hold, by the database's clock.
async fn left(s: &common::Server, no: &str) -> i64 {
    let v: Option<i64> = sql(s)
        .await
        .exec_first(
            "SELECT TIMESTAMPDIFF(SECOND, NOW(3), hold_deadline) FROM phone_number WHERE phone_no = ?",
            (no,),
        )
        .await
        .unwrap();
    v.unwrap()
}
