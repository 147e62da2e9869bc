//! 成卡调拨 against the real proxy, RabbitMQ and an in-process server that
//! runs the relay and the transfer consumers: a transfer inside a province
//! is immediate; across provinces it is a half transaction that ends with
//! each card in exactly one depot (and the ICCID index pointing at it), or
//! back home when the target refuses; redelivered messages change nothing
//! twice; a poison message is dead-lettered while the rest flow on.

mod common;
mod mq_support;
mod transfer_support;

use std::time::Duration;

use haoka_services::card::transfer::messages::{self, REQUESTED};
use haoka_services::outbox::{topology, OutboxMetrics, RelayMode, PROVINCE_HEADER};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use mysql_async::prelude::Queryable;
use mysql_async::Pool;
use reqwest::StatusCode;
use serde_json::{json, Value};
use transfer_support::*;

async fn server() -> common::Server {
    common::start_with(|cfg| {
        cfg.roles = vec!["permission".into(), "card".into()];
        cfg.outbox.poll_interval_ms = 50;
    })
    .await
}

fn pool() -> Pool {
    Pool::new(PROXY_URL)
}

async fn transfer(s: &common::Server, token: &str, body: Value) -> (StatusCode, Value) {
    let r = s.post(token, "/api/v1/cards/transfers", body).await;
    let st = r.status();
    (st, r.json().await.unwrap())
}

/// Polls the transfer until it leaves in_transit (10 s at most: a transfer
/// settles within a second or two; 10 s leaves room for a busy machine).
async fn settled(s: &common::Server, token: &str, id: i64) -> Value {
    for _ in 0..100 {
        let v: Value = s
            .get(token, &format!("/api/v1/cards/transfers/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if v["status"] != "in_transit" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("transfer {id} still in transit after 10 s");
}

/// card_history rows of a card on every shard: (province, action, to_status).
async fn history(pool: &Pool, iccid: &str) -> Vec<(String, String, String)> {
    let mut c = pool.get_conn().await.unwrap();
    c.exec(
        "SELECT province_code, action, to_status FROM card_history WHERE iccid = ? \
         ORDER BY created_at, history_id",
        (iccid,),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn inside_a_province_a_transfer_is_one_local_transaction() {
    let s = server().await;
    let admin = s.admin().await;
    let db = pool();
    let (a, city_a) = depot(&db, "31", true, true).await;
    let (b, _) = depot(&db, "31", true, true).await;
    let (off, _) = depot(&db, "31", false, true).await;
    let cards = stock(&db, "31", (a, &city_a), 6).await;

    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "iccids": &cards[..3]}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "done");
    assert_eq!(v["card_count"], 3);
    assert!(v["finished_at"].is_string());
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "count": 2}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let per_depot = assert_conserved(&db, &cards, &[a, b]).await;
    assert_eq!(per_depot.get(&b), Some(&5));
    assert_eq!(per_depot.get(&a), Some(&1));
    let h = history(&db, &cards[0]).await;
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].1, "transfer_in");

    // Nothing half applied: one card not in the source depot refuses all.
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "iccids": [&cards[0], &cards[5]]}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "conflict");
    assert!(v["message"].as_str().unwrap().contains(&cards[0]), "{v}");
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "count": 2}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "only one card left: {v}");
    assert_eq!(
        assert_conserved(&db, &cards, &[a, b]).await.get(&b),
        Some(&5)
    );
    // Bad requests.
    for (body, why) in [
        (
            json!({"from_depot_id": a, "to_depot_id": b}),
            "no cards named",
        ),
        (
            json!({"from_depot_id": a, "to_depot_id": b, "count": 1, "iccids": [&cards[5]]}),
            "both",
        ),
        (
            json!({"from_depot_id": a, "to_depot_id": off, "count": 1}),
            "disabled depot",
        ),
        (
            json!({"from_depot_id": a, "to_depot_id": b, "iccids": ["123"]}),
            "bad ICCID",
        ),
    ] {
        let (st, v) = transfer(&s, &admin.token, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{why}: {v}");
        assert_eq!(v["code"], "invalid_request", "{why}");
    }
    // Well-formed requests naming depots that cannot take part.
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": a, "count": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "same depot: {v}");
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": -5, "count": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "no such depot: {v}");
    assert_eq!(v["code"], "not_found");
    // Province scope and permission.
    let other = s.user(&admin, Some("11"), &["card:transfer"], None).await;
    let (st, v) = transfer(
        &s,
        &other.token,
        json!({"from_depot_id": a, "to_depot_id": b, "count": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "province_out_of_scope");
    let reader = s.user(&admin, Some("31"), &["card:read"], None).await;
    let (st, v) = transfer(
        &s,
        &reader.token,
        json!({"from_depot_id": a, "to_depot_id": b, "count": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], "permission_denied");
    assert_eq!(
        s.get(&admin.token, "/api/v1/cards/transfers/9000000000000000")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn across_provinces_the_cards_arrive_once_and_the_index_follows() {
    let s = server().await;
    let admin = s.admin().await;
    let db = pool();
    // 34 (shard 2) -> 51 (shard 5), and 11 -> 13 (both on shard 0).
    for (from, to) in [("34", "51"), ("11", "13")] {
        let (a, city_a) = depot(&db, from, true, true).await;
        let (b, _) = depot(&db, to, true, true).await;
        let cards = stock(&db, from, (a, &city_a), 5).await;
        let (st, v1) = transfer(
            &s,
            &admin.token,
            json!({"from_depot_id": a, "to_depot_id": b, "iccids": &cards[..2]}),
        )
        .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v1}");
        assert_eq!(v1["status"], "in_transit");
        assert_eq!(v1["target_province_code"], to);
        assert!(v1["message_id"].is_string());
        let (st, v2) = transfer(
            &s,
            &admin.token,
            json!({"from_depot_id": a, "to_depot_id": b, "count": 2}),
        )
        .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v2}");
        for v in [&v1, &v2] {
            let done = settled(&s, &admin.token, v["transfer_id"].as_i64().unwrap()).await;
            assert_eq!(done["status"], "done", "{from}->{to}: {done}");
            assert!(done["finished_at"].is_string());
        }
        let per_depot = assert_conserved(&db, &cards, &[a, b]).await;
        assert_eq!(per_depot.get(&b), Some(&4), "{from}->{to}");
        assert_eq!(per_depot.get(&a), Some(&1));
        let placed = placements(&db, &cards[..1]).await;
        assert_eq!(placed[&cards[0]][0].province, to);
        // The card found by ICCID alone is the target's row.
        let c: Value = s
            .get(&admin.token, &format!("/api/v1/cards/{}", cards[0]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(c["province_code"], to, "{c}");
        assert_eq!(c["depot_id"], b);
        assert_eq!(c["status"], "01");
        // History on both sides: out (source), in (target), handed over (source).
        let h = history(&db, &cards[0]).await;
        let provinces: Vec<&str> = h.iter().map(|r| r.0.as_str()).collect();
        assert!(
            provinces.contains(&from) && provinces.contains(&to),
            "{h:?}"
        );
        assert!(h
            .iter()
            .any(|r| r.0 == from && r.1 == "transfer_out" && r.2 == "02"));
        assert!(h
            .iter()
            .any(|r| r.0 == to && r.1 == "transfer_in" && r.2 == "01"));
    }
}

#[tokio::test]
async fn a_refused_transfer_brings_the_cards_back() {
    let s = server().await;
    let admin = s.admin().await;
    let db = pool();
    let (a, city_a) = depot(&db, "38", true, true).await;
    // The target province's depot does not take cards: it refuses.
    let (b, _) = depot(&db, "76", true, false).await;
    let cards = stock(&db, "38", (a, &city_a), 3).await;
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "iccids": &cards}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let done = settled(&s, &admin.token, v["transfer_id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "refused", "{done}");
    let per_depot = assert_conserved(&db, &cards, &[a]).await;
    assert_eq!(per_depot.get(&a), Some(&3));
    let placed = placements(&db, &cards).await;
    assert!(placed.values().all(|r| r[0].province == "38"));
    let h = history(&db, &cards[0]).await;
    assert_eq!(
        h.iter()
            .map(|r| (r.1.as_str(), r.2.as_str()))
            .collect::<Vec<_>>(),
        vec![("transfer_out", "02"), ("transfer_in", "01")],
        "{h:?}"
    );
    let mut c = db.get_conn().await.unwrap();
    let detail: Option<String> = c
        .exec_first(
            "SELECT detail FROM card_history WHERE province_code = '38' AND iccid = ? \
             AND action = 'transfer_in'",
            (&cards[0],),
        )
        .await
        .unwrap();
    assert!(detail.unwrap().contains("does not hold cards"));
    // The cards can go again (to a depot that takes them).
    let (ok, _) = depot(&db, "76", true, true).await;
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": ok, "count": 3}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let done = settled(&s, &admin.token, v["transfer_id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "done");
    assert_eq!(
        assert_conserved(&db, &cards, &[ok]).await.get(&ok),
        Some(&3)
    );
}

/// Publishes `payload` to the events exchange as the relay would (same
/// message id and province header), with a publisher confirm.
async fn publish(mq: &haoka_services::mq::Mq, key: &str, id: &str, province: &str, payload: &str) {
    let ch = mq.channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(PROVINCE_HEADER),
        AMQPValue::LongString(LongString::from(province)),
    );
    let confirm = ch
        .basic_publish(
            topology::EVENTS_EXCHANGE,
            key,
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            payload.as_bytes(),
            BasicProperties::default()
                .with_message_id(ShortString::from(id))
                .with_headers(headers)
                .with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "{confirm:?}");
    let _ = ch.close(200, "published").await;
}

#[tokio::test]
async fn redelivered_transfer_messages_are_applied_once() {
    let s = server().await;
    let admin = s.admin().await;
    let db = pool();
    let (a, city_a) = depot(&db, "17", true, true).await;
    let (b, _) = depot(&db, "81", true, true).await;
    let cards = stock(&db, "17", (a, &city_a), 2).await;
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "iccids": &cards}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["transfer_id"].as_i64().unwrap();
    assert_eq!(settled(&s, &admin.token, id).await["status"], "done");
    let history_before = history(&db, &cards[0]).await;

    // Both messages of the transfer again, twice each.
    let mut c = db.get_conn().await.unwrap();
    let requested: (String, String) = c
        .exec_first(
            "SELECT message_id, payload FROM outbox WHERE province_code = '17' AND message_id = ?",
            (v["message_id"].as_str().unwrap(),),
        )
        .await
        .unwrap()
        .expect("the request's outbox row");
    let completed: Vec<(String, String)> = c
        .exec(
            "SELECT message_id, payload FROM outbox WHERE province_code = '81' AND routing_key = ?",
            (messages::COMPLETED,),
        )
        .await
        .unwrap();
    let completed = completed
        .into_iter()
        .find(|(_, p)| serde_json::from_str::<Value>(p).unwrap()["transfer_id"] == id)
        .expect("the completion's outbox row");
    for _ in 0..2 {
        publish(&s.state.mq, REQUESTED, &requested.0, "17", &requested.1).await;
        publish(
            &s.state.mq,
            messages::COMPLETED,
            &completed.0,
            "81",
            &completed.1,
        )
        .await;
    }
    // Each consumer recorded each message once, and acked the copies (none
    // is dead-lettered, which a failing re-application would be).
    for (mid, consumer, province) in [
        (&requested.0, "card-transfer-in", "81"),
        (&completed.0, "card-transfer-completed", "17"),
    ] {
        let n: Option<i64> = c
            .exec_first(
                "SELECT COUNT(*) FROM processed_message WHERE province_code = ? AND message_id = ? \
                 AND consumer = ?",
                (province, mid, consumer),
            )
            .await
            .unwrap();
        assert_eq!(n, Some(1), "{consumer}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (queue, mid) in [
        (messages::target_spec().queue, &requested.0),
        (messages::source_specs()[0].queue.clone(), &completed.0),
    ] {
        assert!(
            !dead_ids(&s, &queue).await.contains(mid),
            "{mid} was dead-lettered from {queue}"
        );
    }
    assert_eq!(history(&db, &cards[0]).await, history_before);
    assert_eq!(assert_conserved(&db, &cards, &[b]).await.get(&b), Some(&2));
}

/// Message ids waiting in a queue's dead-letter queue.
async fn dead_ids(s: &common::Server, queue: &str) -> Vec<String> {
    haoka_services::outbox::list_dead(&s.state.mq, queue, 1000, |_| true)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.message_id)
        .collect()
}

#[tokio::test]
async fn a_poison_request_is_dead_lettered_and_the_rest_flow_on() {
    let s = server().await;
    let admin = s.admin().await;
    let db = pool();
    let (a, city_a) = depot(&db, "71", true, true).await;
    let (b, _) = depot(&db, "87", true, true).await;
    let cards = stock(&db, "71", (a, &city_a), 2).await;
    // A request the target consumer fails on every time (no cards field).
    let poison = uuid::Uuid::new_v4().to_string();
    let body = json!({"transfer_id": 1, "source_province": "71", "target_province": "87"});
    publish(&s.state.mq, REQUESTED, &poison, "71", &body.to_string()).await;
    let (st, v) = transfer(
        &s,
        &admin.token,
        json!({"from_depot_id": a, "to_depot_id": b, "count": 2}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let done = settled(&s, &admin.token, v["transfer_id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "done");
    assert_eq!(assert_conserved(&db, &cards, &[b]).await.get(&b), Some(&2));
    let queue = messages::target_spec().queue;
    for _ in 0..100 {
        if dead_ids(&s, &queue).await.contains(&poison) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the poison request never reached the dead-letter queue of {queue}");
}

/// Another server relays alongside and dies in the middle of publishing (as
/// another test's in-process server does when its test ends, or a killed
/// process): the transfers it was publishing still settle within seconds,
/// not after a 30 s lease. The dying server opens the transfers (so its
/// relay, woken by its commits, is the one that claims them) and reaches
/// RabbitMQ through a hop that swallows its publishes once it has published
/// for real: it dies between claiming the rows and their confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_settle_promptly_when_another_relay_dies_mid_publish() {
    // Consumes the transfer queues; relays nothing.
    let s = common::start_with(|cfg| {
        cfg.roles = vec!["permission".into(), "card".into()];
        cfg.outbox.relay = RelayMode::Off;
    })
    .await;
    let admin = s.admin().await;
    let db = pool();
    let hole = mq_support::Blackhole::start().await;
    let url = hole.url.clone();
    let (tx, rx) = std::sync::mpsc::channel::<(String, OutboxMetrics)>();
    let doomed = mq_support::Doomed::start(move || async move {
        let d = common::start_with(|cfg| {
            cfg.roles = vec!["permission".into(), "card".into()];
            cfg.amqp_url = url;
            cfg.outbox.consumers = false;
        })
        .await;
        tx.send((d.base.clone(), d.state.outbox.metrics.clone()))
            .unwrap();
        d
    });
    let (base, metrics) = tokio::task::spawn_blocking(move || rx.recv().unwrap())
        .await
        .unwrap();
    let confirmed = || {
        metrics
            .confirmed
            .with_label_values(&[topology::EVENTS_EXCHANGE])
            .get()
    };
    let (a, city_a) = depot(&db, "34", true, true).await;
    let (b, _) = depot(&db, "51", true, true).await;
    let cards = stock(&db, "34", (a, &city_a), 20).await;
    let send = |n: usize| {
        let (http, url, token) = (
            &s.http,
            format!("{base}/api/v1/cards/transfers"),
            &admin.token,
        );
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"from_depot_id": a, "to_depot_id": b, "count": n}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            r.json::<Value>().await.unwrap()["transfer_id"]
                .as_i64()
                .unwrap()
        }
    };
    // Until one is published for real (the dying server's channel is open;
    // other relays may win the first rows).
    let mut ids = Vec::new();
    while confirmed() == 0 {
        assert!(ids.len() < 12, "the second server never published a row");
        ids.push(send(1).await);
        for _ in 0..20 {
            if confirmed() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let warm = ids.len();
    hole.swallow();
    for _ in 0..4 {
        ids.push(send(2).await);
    }
    mq_support::wait_for("a publish into the void", 10, || async {
        hole.swallowed() > 0
    })
    .await;
    doomed.kill().await;
    // A relay that outlives it (besides the local stack's, if it runs).
    let r = server().await;
    let died = std::time::Instant::now();
    for id in &ids {
        let v = settled(&r, &admin.token, *id).await;
        assert_eq!(v["status"], "done", "{v}");
    }
    eprintln!("settled {:?} after the relay died", died.elapsed());
    assert!(
        died.elapsed() < Duration::from_secs(10),
        "settled only after {:?}",
        died.elapsed()
    );
    // One card per warm-up transfer, two per later one.
    let per_depot = assert_conserved(&db, &cards, &[a, b]).await;
    assert_eq!(per_depot.get(&b), Some(&(warm + 8)));
}
