//! 运维 shard status: `GET /api/v1/ops/shards` answers what the server's
//! proxy says in `SHOW HAOKA SHARDS`, to headquarters staff holding
//! `ops:read` only.

mod common;

use std::collections::BTreeSet;

use common::{problem, start};
use mysql_async::prelude::Queryable;
use serde_json::Value;

#[tokio::test]
async fn shard_status_is_the_proxys_view_for_headquarters_operators() {
    let srv = start().await;
    let admin = srv.admin().await;

    let r = srv.get(&admin.token, "/api/v1/ops/shards").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let backends = body["backends"].as_array().unwrap();

    // The same backends, in the same states, as the proxy itself lists.
    let mut c = srv.state.db.conn().await.unwrap();
    let direct: Vec<(String, String, String, String, String, String)> = c
        .query("SHOW HAOKA SHARDS")
        .await
        .map(|rows: Vec<mysql_async::Row>| {
            rows.into_iter()
                .map(|r| {
                    let s = |i: usize| r.get::<Option<String>, _>(i).flatten().unwrap_or_default();
                    (s(0), s(1), s(2), s(3), s(4), s(7))
                })
                .collect()
        })
        .unwrap();
    assert!(!direct.is_empty());
    let via_api: BTreeSet<(String, String, String, String, String, String)> = backends
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_string();
            (
                s("schema"),
                s("shard"),
                s("datasource"),
                s("address"),
                s("database"),
                s("role"),
            )
        })
        .collect();
    assert_eq!(via_api, direct.into_iter().collect::<BTreeSet<_>>());
    // The local stack's shards are all up while the tests run.
    assert_eq!(body["unhealthy"], 0, "{body}");
    assert!(backends
        .iter()
        .all(|b| b["state"] == "up" && b["down_ms"] == 0));
    assert!(backends.iter().any(|b| b["shard"] == "5"), "{body}");

    // A headquarters operator holding ops:read sees it too.
    let hq = srv.user(&admin, None, &["ops:read"], None).await;
    assert_eq!(srv.get(&hq.token, "/api/v1/ops/shards").await.status(), 200);
    // Province staff are refused even with the permission: the list is the
    // whole system's.
    let province = srv.user(&admin, Some("51"), &["ops:read"], None).await;
    problem(
        srv.get(&province.token, "/api/v1/ops/shards").await,
        403,
        "province_out_of_scope",
    )
    .await;
    // Without the permission nobody gets it.
    let other = srv.user(&admin, None, &["log:read"], None).await;
    let p = problem(
        srv.get(&other.token, "/api/v1/ops/shards").await,
        403,
        "permission_denied",
    )
    .await;
    assert!(p["message"].as_str().unwrap().contains("ops:read"), "{p}");
    // Nor without a session.
    assert_eq!(
        srv.http
            .get(srv.url("/api/v1/ops/shards"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
