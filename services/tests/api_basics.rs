//! The shared parts: health, readiness, metrics, the OpenAPI document, the role
//! flag, and problem bodies for bad input (never a 5xx).

mod common;

use common::{problem, start, test_config, unique};
use haoka_services::app::{parse_roles, AppState, Center, StartError};
use serde_json::{json, Value};

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let srv = start().await;
    let r = srv.http.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: Value = srv
        .http
        .get(srv.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        json!({"ready": true, "database": true, "redis": true, "rabbitmq": true})
    );
    let r = srv.http.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers().get("x-request-id").unwrap().len(), 36);
    let metrics = srv
        .http
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"haoka_server_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{metrics}"
    );
    let doc: Value = srv
        .http
        .get(srv.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let login = &doc["paths"]["/api/v1/auth/login"]["post"];
    assert!(login["responses"]["default"]["content"]["application/problem+json"].is_object());
    assert!(doc["paths"]["/api/v1/staff/{id}"]["patch"]["security"].is_array());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_role_flag_is_checked() {
    assert_eq!(
        parse_roles(&["permission".into()]).unwrap(),
        vec![Center::Permission]
    );
    assert_eq!(
        parse_roles(&["permission".into(), "number".into()]).unwrap(),
        vec![Center::Permission, Center::Number]
    );
    assert_eq!(parse_roles(&["card".into()]).unwrap(), vec![Center::Card]);
    assert_eq!(
        parse_roles(&["report".into()]).unwrap(),
        vec![Center::Report]
    );
    assert!(
        matches!(parse_roles(&["billing".into()]), Err(StartError::UnknownRole(r)) if r == "billing")
    );
    assert!(matches!(parse_roles(&[]), Err(StartError::NoRole)));
    let mut cfg = test_config();
    cfg.roles = vec!["permission".into(), "bogus".into()];
    assert!(matches!(
        AppState::connect(cfg).await,
        Err(StartError::UnknownRole(_))
    ));
    let mut cfg = test_config();
    cfg.seal_key = None;
    assert!(matches!(
        AppState::connect(cfg).await,
        Err(StartError::Config(_))
    ));
}

#[tokio::test]
async fn bad_input_gets_a_problem_body_never_a_server_error() {
    let srv = start().await;
    let admin = srv.admin().await;
    let t = &admin.token;
    problem(
        srv.http
            .get(srv.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    // Missing fields, wrong types, not JSON, wrong content type.
    problem(
        srv.post(t, "/api/v1/staff", json!({"name": "x"})).await,
        422,
        "invalid_body",
    )
    .await;
    problem(
        srv.post(t, "/api/v1/staff", json!({"staff_no": 5, "name": "x"}))
            .await,
        422,
        "invalid_body",
    )
    .await;
    problem(
        srv.post(
            t,
            "/api/v1/staff",
            json!({"staff_no": "a", "name": "x", "province_code": "00"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    let r = srv
        .http
        .post(srv.url("/api/v1/staff"))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_request").await;
    let r = srv
        .http
        .post(srv.url("/api/v1/staff"))
        .bearer_auth(t)
        .body("staff_no=a")
        .send()
        .await
        .unwrap();
    problem(r, 415, "unsupported_media_type").await;
    // Field limits and bad characters.
    problem(
        srv.post(
            t,
            "/api/v1/staff",
            json!({"staff_no": "x".repeat(33), "name": "x"}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.post(
            t,
            "/api/v1/staff",
            json!({"staff_no": "has space", "name": "x"}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.post(
            t,
            "/api/v1/departments",
            json!({"code": unique("d"), "name": "a\u{0}b"}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    // Oversized body.
    let big = json!({"staff_no": "a", "name": "x".repeat(2 * 1024 * 1024)});
    problem(
        srv.post(t, "/api/v1/staff", big).await,
        413,
        "payload_too_large",
    )
    .await;
    // Unknown ids, bad ids, bad paging, unknown references.
    problem(
        srv.get(t, "/api/v1/staff/999999999999").await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.get(t, "/api/v1/staff/abc").await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.get(t, "/api/v1/staff/99999999999999999999999").await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.get(t, "/api/v1/staff?page=0").await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.get(t, "/api/v1/staff?page_size=201").await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.get(t, "/api/v1/staff?page=-1").await,
        400,
        "invalid_request",
    )
    .await;
    problem(
        srv.post(
            t,
            "/api/v1/staff",
            json!({"staff_no": unique("s"), "name": "x", "department_id": 999999999999i64}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.put(
            t,
            "/api/v1/roles/999999999999/permissions",
            json!({"permissions": []}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.put(t, "/api/v1/staff/999999999999/roles", json!({"roles": []}))
            .await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.post(
            t,
            "/api/v1/menus",
            json!({"title": "m", "permission": "no:such"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // A duplicate code is a conflict.
    let code = unique("dup");
    assert_eq!(
        srv.post(t, "/api/v1/roles", json!({"code": code, "name": "x"}))
            .await
            .status(),
        201
    );
    problem(
        srv.post(t, "/api/v1/roles", json!({"code": code, "name": "x"}))
            .await,
        409,
        "conflict",
    )
    .await;
    // The server still serves.
    assert_eq!(srv.get(t, "/api/v1/auth/me").await.status(), 200);
}

#[tokio::test]
async fn the_sync_feed_upserts_and_reports_each_row() {
    let srv = start().await;
    let admin = srv.admin().await;
    let t = &admin.token;
    let (root, kid) = (unique("hq"), unique("br"));
    let feed = json!({"rows": [
        {"code": root, "name": "四川省分公司", "province_code": "81"},
        {"code": kid, "name": "成都分公司", "province_code": "81", "parent_code": root},
        {"code": unique("orphan"), "name": "无上级", "parent_code": unique("missing")},
        {"code": unique("hq"), "name": "总部直属"},
    ]});
    let rep: Value = srv
        .post(t, "/api/v1/sync/departments", feed.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (rep["created"].as_i64(), rep["failed"].as_i64()),
        (Some(3), Some(1)),
        "{rep}"
    );
    assert_eq!(rep["results"][2]["code"], "not_found");
    // A headquarters row is outside nobody's scope here (the admin is national).
    assert_eq!(rep["results"][3]["outcome"], "created");
    // A feed that breaks the format is refused whole.
    let bad =
        json!({"rows": [{"code": unique("ok"), "name": "x"}, {"code": "bad code", "name": "x"}]});
    let p = problem(
        srv.post(t, "/api/v1/sync/departments", bad).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(p["message"].as_str().unwrap().starts_with("row 1:"), "{p}");
    // Again: nothing changes; then a rename is an update.
    let rep: Value = srv
        .post(t, "/api/v1/sync/departments", feed)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rep["unchanged"], 3);
    let rep: Value = srv
        .post(t, "/api/v1/sync/departments", json!({"rows": [{"code": kid, "name": "成都市分公司", "province_code": "81", "parent_code": root}]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rep["results"][0]["outcome"], "updated");

    let ch = unique("ch");
    let rep: Value = srv
        .post(t, "/api/v1/sync/channels", json!({"rows": [{"code": ch, "name": "春熙路营业厅", "channel_type": "hall", "province_code": "81"}]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rep["created"], 1, "{rep}");
    let no = unique("e");
    let rows = json!({"rows": [
        {"staff_no": no, "name": "李四", "province_code": "81", "department_code": kid, "channel_code": ch},
        {"staff_no": unique("e"), "name": "王五", "department_code": unique("nodept")},
    ]});
    let rep: Value = srv
        .post(t, "/api/v1/sync/staff", rows)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rep["results"][0]["outcome"], "created", "{rep}");
    assert_eq!(rep["results"][1]["outcome"], "failed");
    let list: Value = srv
        .get(t, &format!("/api/v1/staff?q={no}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["province_code"], "81");
    assert_eq!(list["items"][0]["must_change_password"], true);
    // A province feeder cannot write other provinces' rows.
    let feeder = srv.user(&admin, Some("51"), &["sync:write"], None).await;
    let rep: Value = srv
        .post(
            &feeder.token,
            "/api/v1/sync/departments",
            json!({"rows": [{"code": unique("x"), "name": "x", "province_code": "81"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rep["results"][0]["code"], "province_out_of_scope");
    problem(
        srv.post(
            t,
            "/api/v1/sync/staff",
            json!({"rows": vec![json!({"staff_no": "a", "name": "b"}); 1001]}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
}
