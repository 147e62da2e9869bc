//! The outbox inside haoka-server: the relay of an in-process server publishes
//! committed rows, a consumer registered through the server's registry
//! applies them, a poison message reaches the dead-letter queue where the
//! operator API lists it and replays it (permission `mq:admin`, province
//! scope, operation log), and /metrics shows it all. Real proxy and RabbitMQ.

mod common;
mod mq_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{problem, start_with, Server};
use futures_util::StreamExt;
use haoka_services::outbox::{self, topology, OutboxMessage, RelayMode};
use lapin::options::{BasicAckOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use mq_support::{wait_for, Probe, PROVINCE};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

/// A server whose relay serves only `exchange` in province 11, so no other
/// test's relay races it for the probe's rows.
async fn server_relaying(exchange: &str) -> Server {
    let exchange = exchange.to_string();
    start_with(move |cfg| {
        cfg.outbox.relay = RelayMode::On;
        cfg.outbox.exchanges = vec![exchange];
        cfg.outbox.provinces = vec![PROVINCE.into()];
        cfg.outbox.poll_interval_ms = 100;
    })
    .await
}

async fn get_json(srv: &Server, token: &str, path: &str) -> Value {
    let r = srv.get(token, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn server_relay_publishes_a_committed_row_to_haoka_events() {
    let srv = start_with(|cfg| {
        cfg.outbox.relay = RelayMode::On;
        cfg.outbox.poll_interval_ms = 100;
    })
    .await;
    assert!(srv.state.outbox.relay_running());
    let pool = srv.state.db.pool();
    let key = format!("t.relay.{}", uuid::Uuid::new_v4().simple());
    let ch = srv.state.mq.channel().await.unwrap();
    topology::declare_topic(&ch, topology::EVENTS_EXCHANGE)
        .await
        .unwrap();
    let mut deliveries = common::tap(&srv, topology::EVENTS_EXCHANGE, &key, false).await;

    let mut tx = srv.state.db.begin().await.unwrap();
    let msg = OutboxMessage {
        province_code: PROVINCE.into(),
        exchange: topology::EVENTS_EXCHANGE.into(),
        routing_key: key.clone(),
        payload: json!({ "ping": key }),
    };
    let id = outbox::write(&mut tx, &msg).await.unwrap();
    tx.commit().await.unwrap();
    srv.state.outbox.wake();

    let d = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
        .await
        .expect("the relay publishes within seconds")
        .unwrap()
        .unwrap();
    d.ack(BasicAckOptions::default()).await.unwrap();
    assert_eq!(
        d.properties.message_id().as_ref().map(|s| s.as_str()),
        Some(id.as_str())
    );
    let province = d
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-province").cloned());
    assert!(
        matches!(&province, Some(AMQPValue::LongString(p)) if p.to_string() == PROVINCE),
        "{province:?}"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&d.data).unwrap(),
        json!({ "ping": key })
    );
    let mut c = pool.get_conn().await.unwrap();
    wait_for("the row marked sent", 10, || {
        let pool = pool.clone();
        let id = id.clone();
        async move {
            let mut c = pool.get_conn().await.unwrap();
            let s: Option<String> = c
                .exec_first(
                    "SELECT status FROM outbox WHERE province_code = ? AND message_id = ?",
                    (PROVINCE, &id),
                )
                .await
                .unwrap();
            s.as_deref() == Some("S")
        }
    })
    .await;
    // Published once: nothing else arrives.
    let again = tokio::time::timeout(Duration::from_millis(500), deliveries.next()).await;
    assert!(again.is_err(), "a second delivery: {again:?}");
    c.exec_drop(
        "DELETE FROM outbox WHERE province_code = ? AND message_id = ?",
        (PROVINCE, &id),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn poison_message_is_dead_lettered_listed_and_replayed_through_the_api() {
    let probe = Probe::new("mqa");
    let srv = server_relaying(&probe.exchange).await;
    let pool = srv.state.db.pool();
    let admin = srv.admin().await;
    let handler = probe.handler();
    let poison = handler.poison.clone();
    let poisoned = probe.committed(&pool, 1).await;
    *poison.lock().unwrap() = Some(poisoned.clone());
    let good = [
        probe.committed(&pool, 2).await,
        probe.committed(&pool, 3).await,
    ];
    srv.state
        .outbox
        .register(probe.spec(2), handler.clone())
        .await
        .unwrap();
    for id in &good {
        wait_for("a good message", 20, || async {
            probe.effects(&pool, id).await == 1
        })
        .await;
    }

    // The operator finds it in the dead-letter queue.
    let list_path = format!("/api/v1/mq/dead-letters?queue={}", probe.queue);
    let mut listed = Value::Null;
    for _ in 0..400 {
        let r = srv.get(&admin.token, &list_path).await;
        assert_eq!(r.status(), 200);
        listed = r.json().await.unwrap();
        if listed["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed["queue"], probe.queue.as_str());
    assert_eq!(listed["dead_letter_queue"], format!("{}.dead", probe.queue));
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    let item = &items[0];
    assert_eq!(item["message_id"], poisoned.as_str());
    assert_eq!(item["routing_key"], "card.moved");
    assert_eq!(item["province_code"], PROVINCE);
    assert_eq!(item["reason"], "delivery_limit", "{item}");
    assert!(
        item["death_count"].as_i64().is_some_and(|n| n >= 1),
        "{item}"
    );
    assert_eq!(item["headers"]["x-province"], PROVINCE);
    assert!(item["headers"]["x-death"].is_array(), "{item}");
    assert_eq!(item["payload_preview"], json!({ "n": 1 }).to_string());
    assert_eq!(probe.effects(&pool, &poisoned).await, 0);
    assert!(
        handler
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| **s == poisoned)
            .count()
            >= 2
    );

    // Bad and unknown addresses are problems; no arbitrary queue is reachable.
    problem(
        srv.get(
            &admin.token,
            "/api/v1/mq/dead-letters?queue=haoka.not.registered",
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.get(&admin.token, "/api/v1/mq/dead-letters?queue=bad%20name")
            .await,
        400,
        "invalid_request",
    )
    .await;
    let replay = |q: &str, id: &str| format!("/api/v1/mq/dead-letters/{q}/{id}/replay");
    problem(
        srv.post(
            &admin.token,
            &replay("haoka.not.registered", &poisoned),
            json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.post(
            &admin.token,
            &replay(&probe.queue, "no-such-message"),
            json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // Another province's operator neither sees nor replays it.
    let other = srv.user(&admin, Some("13"), &["mq:admin"], None).await;
    let r = get_json(&srv, &other.token, &list_path).await;
    assert_eq!(r["items"], json!([]), "{r}");
    problem(
        srv.post(&other.token, &replay(&probe.queue, &poisoned), json!({}))
            .await,
        403,
        "province_out_of_scope",
    )
    .await;

    // The cause is fixed; the replay delivers it once.
    *poison.lock().unwrap() = None;
    let r = srv
        .post(&admin.token, &replay(&probe.queue, &poisoned), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["queue"], probe.queue.as_str());
    assert_eq!(body["message"]["message_id"], poisoned.as_str());
    wait_for("the replayed message", 20, || async {
        probe.effects(&pool, &poisoned).await == 1
    })
    .await;
    let r = get_json(&srv, &admin.token, &list_path).await;
    assert_eq!(r["items"], json!([]), "{r}");
    problem(
        srv.post(&admin.token, &replay(&probe.queue, &poisoned), json!({}))
            .await,
        404,
        "not_found",
    )
    .await;

    // The replay is in the operation log, under the message's province.
    let logs = get_json(
        &srv,
        &admin.token,
        &format!("/api/v1/logs/operations?object_kind=mq_message&object_id={poisoned}"),
    )
    .await;
    assert_eq!(logs["total"], 1, "{logs}");
    let log = &logs["items"][0];
    assert_eq!(log["action"], "mq.dead_letter.replay");
    assert_eq!(log["staff_id"], admin.staff_id);
    assert_eq!(log["province_code"], PROVINCE);
    let before: Value = serde_json::from_str(log["before_value"].as_str().unwrap()).unwrap();
    assert_eq!(before["queue"], format!("{}.dead", probe.queue));

    // /metrics shows the relay and the consumer.
    let metrics = srv.http.get(srv.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let value = |name: &str, labels: &str| -> f64 {
        let prefix = format!("haoka_server_{name}{{{labels}}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} missing in:\n{metrics}"))
            .parse()
            .unwrap()
    };
    let consumer = format!("consumer=\"{}\"", probe.consumer);
    let exchange = format!("exchange=\"{}\"", probe.exchange);
    assert_eq!(value("outbox_confirmed_total", &exchange), 3.0);
    // Publishes before the consumer declared its queue came back unroutable.
    let published = value("outbox_published_total", &exchange);
    assert!(published >= 3.0);
    if published > 3.0 {
        assert_eq!(
            value("outbox_publish_failed_total", &exchange),
            published - 3.0
        );
    }
    assert_eq!(
        value(
            "mq_consumed_total",
            &format!("{consumer},outcome=\"handled\"")
        ),
        3.0
    );
    assert!(
        value(
            "mq_consumed_total",
            &format!("{consumer},outcome=\"failed\"")
        ) >= 2.0
    );
    assert!(value("mq_dead_lettered_total", &consumer) >= 1.0);
    assert!(value("outbox_relay_lag_ms", "province=\"11\"") >= 0.0);

    srv.state.outbox.shutdown().await;
    probe.cleanup(&pool, &srv.state.mq, &[]).await;
}

#[tokio::test]
async fn operator_endpoints_need_mq_admin_and_stats_show_the_backlog() {
    let probe = Probe::new("mqs");
    let srv = server_relaying(&probe.exchange).await;
    let pool = srv.state.db.pool();
    let admin = srv.admin().await;
    srv.state
        .outbox
        .register(probe.spec(3), probe.handler())
        .await
        .unwrap();
    // A second registration of the same queue is refused.
    assert!(srv
        .state
        .outbox
        .register(probe.spec(3), probe.handler())
        .await
        .is_err());

    let bystander = srv.user(&admin, Some("11"), &["log:read"], None).await;
    let replay = format!("/api/v1/mq/dead-letters/{}/x/replay", probe.queue);
    for r in [
        srv.get(
            &bystander.token,
            &format!("/api/v1/mq/dead-letters?queue={}", probe.queue),
        )
        .await,
        srv.post(&bystander.token, &replay, json!({})).await,
        srv.get(&bystander.token, "/api/v1/mq/outbox/stats").await,
    ] {
        let p = problem(r, 403, "permission_denied").await;
        assert!(p["message"].as_str().unwrap().contains("mq:admin"), "{p}");
    }
    problem(
        srv.call(reqwest::Method::GET, "/api/v1/mq/outbox/stats", None, None)
            .await,
        401,
        "unauthenticated",
    )
    .await;

    // A row no relay serves (its exchange is nobody's) stays pending.
    let parked = format!("{}.parked", probe.exchange);
    let mut tx = srv.state.db.begin().await.unwrap();
    let msg = OutboxMessage {
        exchange: parked.clone(),
        ..probe.message(1)
    };
    outbox::write(&mut tx, &msg).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let stats = get_json(&srv, &admin.token, "/api/v1/mq/outbox/stats").await;
    assert_eq!(stats["relay_running"], true);
    let p11 = stats["provinces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["province_code"] == PROVINCE)
        .unwrap_or_else(|| panic!("no backlog for 11: {stats}"));
    assert!(p11["pending"].as_i64().unwrap() >= 1, "{stats}");
    assert!(
        p11["oldest_pending_age_ms"].as_i64().unwrap() >= 50,
        "{stats}"
    );
    assert!(stats["pending"].as_i64().unwrap() >= p11["pending"].as_i64().unwrap());
    let consumers = stats["consumers"].as_array().unwrap();
    assert!(
        consumers
            .iter()
            .any(|c| c["queue"] == probe.queue.as_str() && c["consuming"] == true),
        "{stats}"
    );
    // A province operator sees only their province's backlog.
    let other = srv.user(&admin, Some("13"), &["mq:admin"], None).await;
    let stats = get_json(&srv, &other.token, "/api/v1/mq/outbox/stats").await;
    assert!(
        stats["provinces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["province_code"] == "13"),
        "{stats}"
    );

    srv.state.outbox.shutdown().await;
    assert!(!srv.state.outbox.relay_running());
    probe.cleanup(&pool, &srv.state.mq, &[&parked]).await;
}

#[tokio::test]
async fn shutdown_lets_the_consumer_finish_the_message_in_hand() {
    let probe = Probe::new("mqg");
    let srv = server_relaying(&probe.exchange).await;
    let pool = srv.state.db.pool();
    let handler = probe.handler();
    handler.slow_ms.store(800, Ordering::SeqCst);
    let seen = handler.seen.clone();
    srv.state
        .outbox
        .register(probe.spec(3), handler)
        .await
        .unwrap();
    let id = probe.committed(&pool, 1).await;
    srv.state.outbox.wake();
    wait_for("the message in hand", 20, || async {
        seen.lock().unwrap().contains(&id)
    })
    .await;
    assert_eq!(probe.effects(&pool, &id).await, 0, "still in hand");

    srv.state.outbox.shutdown().await;
    assert_eq!(
        probe.effects(&pool, &id).await,
        1,
        "committed before the stop"
    );
    assert!(!srv.state.outbox.relay_running());
    // Acked, not left for a redelivery.
    let ch = srv.state.mq.channel().await.unwrap();
    let q = ch
        .queue_declare(
            &probe.queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0);
    let handled = probe.handled(&srv.state.outbox.metrics);
    assert_eq!(handled, 1);
    probe.cleanup(&pool, &srv.state.mq, &[]).await;
}
