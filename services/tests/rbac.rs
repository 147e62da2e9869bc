//! Authorisation: every endpoint group refuses staff without its permission
//! and serves those with it; province scope; the operation log.

mod common;

use common::{problem, start, unique};
use reqwest::Method;
use serde_json::{json, Value};

/// One request per endpoint group and the permission it needs.
fn probes() -> Vec<(&'static str, Method, &'static str, Option<Value>)> {
    vec![
        ("staff:read", Method::GET, "/api/v1/staff", None),
        (
            "staff:write",
            Method::POST,
            "/api/v1/staff",
            Some(json!({"staff_no": "PLACEHOLDER", "name": "n", "province_code": "51"})),
        ),
        ("department:read", Method::GET, "/api/v1/departments", None),
        (
            "department:write",
            Method::POST,
            "/api/v1/departments",
            Some(json!({"code": "PLACEHOLDER", "name": "d", "province_code": "51"})),
        ),
        ("channel:read", Method::GET, "/api/v1/channels", None),
        (
            "channel:write",
            Method::POST,
            "/api/v1/channels",
            Some(
                json!({"code": "PLACEHOLDER", "name": "c", "channel_type": "shop", "province_code": "51"}),
            ),
        ),
        ("role:read", Method::GET, "/api/v1/roles", None),
        ("role:read", Method::GET, "/api/v1/permissions", None),
        ("menu:read", Method::GET, "/api/v1/menus", None),
        ("policy:read", Method::GET, "/api/v1/login-policies", None),
        ("log:read", Method::GET, "/api/v1/logs/operations", None),
        ("log:read", Method::GET, "/api/v1/logs/interface", None),
        ("log:read", Method::GET, "/api/v1/logs/logins", None),
        (
            "sync:write",
            Method::POST,
            "/api/v1/sync/departments",
            Some(json!({"rows": []})),
        ),
        (
            "sync:write",
            Method::POST,
            "/api/v1/sync/channels",
            Some(json!({"rows": []})),
        ),
        (
            "sync:write",
            Method::POST,
            "/api/v1/sync/staff",
            Some(json!({"rows": []})),
        ),
    ]
}

fn with_code(body: &Option<Value>) -> Option<Value> {
    body.as_ref().map(|b| {
        let text = b.to_string().replace("PLACEHOLDER", &unique("p"));
        serde_json::from_str(&text).unwrap()
    })
}

#[tokio::test]
async fn each_endpoint_group_denies_without_and_allows_with_its_permission() {
    let srv = start().await;
    let admin = srv.admin().await;
    // A user holding only log:read is refused everything else.
    let bystander = srv.user(&admin, Some("51"), &["log:read"], None).await;
    for (perm, method, path, body) in probes() {
        let r = srv
            .call(
                method.clone(),
                path,
                Some(&bystander.token),
                with_code(&body),
            )
            .await;
        if perm == "log:read" {
            assert_eq!(r.status(), 200, "{method} {path} with {perm}");
        } else {
            let p = problem(r, 403, "permission_denied").await;
            assert!(p["message"].as_str().unwrap().contains(perm), "{p}");
        }
    }
    // Each permission alone opens its group.
    let mut seen = std::collections::HashSet::new();
    for (perm, method, path, body) in probes() {
        if !seen.insert(perm) {
            continue;
        }
        let user = srv.user(&admin, Some("51"), &[perm], None).await;
        let r = srv
            .call(method.clone(), path, Some(&user.token), with_code(&body))
            .await;
        assert!(
            r.status().is_success(),
            "{method} {path} with {perm}: {}",
            r.status()
        );
    }
    // role:write and credential:write.
    let roles = srv
        .user(&admin, None, &["role:write", "role:read"], None)
        .await;
    let r = srv
        .post(
            &roles.token,
            "/api/v1/roles",
            json!({"code": unique("r"), "name": "x"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    problem(
        srv.post(
            &bystander.token,
            "/api/v1/roles",
            json!({"code": unique("r"), "name": "x"}),
        )
        .await,
        403,
        "permission_denied",
    )
    .await;
    let ch: Value = srv
        .post(&admin.token, "/api/v1/channels", json!({"code": unique("c"), "name": "c", "channel_type": "shop", "province_code": "51"}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/channels/{}/credentials", ch["channel_id"]);
    problem(
        srv.post(&bystander.token, &path, json!({})).await,
        403,
        "permission_denied",
    )
    .await;
    let creds = srv
        .user(&admin, Some("51"), &["credential:write"], None)
        .await;
    assert_eq!(srv.post(&creds.token, &path, json!({})).await.status(), 201);
}

#[tokio::test]
async fn province_staff_see_and_change_only_their_province_unless_granted() {
    let srv = start().await;
    let admin = srv.admin().await;
    let mk = |p: &str| json!({"staff_no": unique("t"), "name": "对象", "province_code": p});
    let in51: Value = srv
        .post(&admin.token, "/api/v1/staff", mk("51"))
        .await
        .json()
        .await
        .unwrap();
    let in36: Value = srv
        .post(&admin.token, "/api/v1/staff", mk("36"))
        .await
        .json()
        .await
        .unwrap();
    let id51 = in51["staff"]["staff_id"].as_i64().unwrap();
    let id36 = in36["staff"]["staff_id"].as_i64().unwrap();

    let gd = srv
        .user(&admin, Some("51"), &["staff:read", "staff:write"], None)
        .await;
    assert_eq!(
        srv.get(&gd.token, &format!("/api/v1/staff/{id51}"))
            .await
            .status(),
        200
    );
    // Another province's staff do not exist for them (no id is confirmed).
    problem(
        srv.get(&gd.token, &format!("/api/v1/staff/{id36}")).await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.patch(
            &gd.token,
            &format!("/api/v1/staff/{id36}"),
            json!({"name": "改"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    problem(
        srv.post(&gd.token, "/api/v1/staff", mk("36")).await,
        403,
        "province_out_of_scope",
    )
    .await;
    problem(
        srv.post(
            &gd.token,
            "/api/v1/staff",
            json!({"staff_no": unique("t"), "name": "hq"}),
        )
        .await,
        403,
        "province_out_of_scope",
    )
    .await;
    let list: Value = srv
        .get(&gd.token, "/api/v1/staff?province_code=36")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
    let list: Value = srv
        .get(&gd.token, "/api/v1/staff?page_size=200")
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["province_code"] == "51"));

    // A grant of 36 through a role widens the scope; "all" covers every province.
    let both = srv
        .user(
            &admin,
            Some("51"),
            &["staff:read", "staff:write"],
            Some("36"),
        )
        .await;
    assert_eq!(
        srv.get(&both.token, &format!("/api/v1/staff/{id36}"))
            .await
            .status(),
        200
    );
    let r = srv
        .patch(
            &both.token,
            &format!("/api/v1/staff/{id36}"),
            json!({"name": "改名"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = srv
        .get(&both.token, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["provinces"], json!(["36", "51"]));
    let national = srv
        .user(&admin, Some("51"), &["staff:read"], Some("all"))
        .await;
    let me: Value = srv
        .get(&national.token, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["provinces"], json!(["all"]));

    // A province grantor cannot hand out provinces outside their own scope.
    let granter = srv
        .user(
            &admin,
            Some("51"),
            &["staff:read", "role:write", "role:read"],
            None,
        )
        .await;
    let role: Value = srv
        .get(&admin.token, "/api/v1/roles")
        .await
        .json()
        .await
        .unwrap();
    let some_role = role
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["permissions"] == json!(["staff:read"]))
        .unwrap()["role_id"]
        .clone();
    problem(
        srv.put(
            &granter.token,
            &format!("/api/v1/staff/{id51}/roles"),
            json!({"roles": [{"role_id": some_role, "extra_province": "36"}]}),
        )
        .await,
        403,
        "province_out_of_scope",
    )
    .await;
    // Roles are national: a province staff member cannot define them.
    problem(
        srv.post(
            &granter.token,
            "/api/v1/roles",
            json!({"code": unique("r"), "name": "x"}),
        )
        .await,
        403,
        "province_out_of_scope",
    )
    .await;
}

#[tokio::test]
async fn every_change_writes_an_operation_log_row_with_before_and_after() {
    let srv = start().await;
    let admin = srv.admin().await;
    let dept: Value = srv
        .post(
            &admin.token,
            "/api/v1/departments",
            json!({"code": unique("d"), "name": "市场部", "province_code": "51"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = dept["department_id"].as_i64().unwrap();
    let r = srv
        .patch(
            &admin.token,
            &format!("/api/v1/departments/{id}"),
            json!({"name": "渠道部", "status": "disabled"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let logs: Value = srv
        .get(
            &admin.token,
            &format!("/api/v1/logs/operations?object_kind=department&object_id={id}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{logs}");
    let update = &items[0];
    assert_eq!(update["action"], "department.update");
    assert_eq!(update["staff_id"], admin.staff_id);
    assert_eq!(update["province_code"], "51");
    assert_eq!(update["source_ip"], "127.0.0.1");
    assert!(update["request_id"].as_str().is_some_and(|r| r.len() == 36));
    let before: Value = serde_json::from_str(update["before_value"].as_str().unwrap()).unwrap();
    let after: Value = serde_json::from_str(update["after_value"].as_str().unwrap()).unwrap();
    assert_eq!(
        (before["name"].as_str(), after["name"].as_str()),
        (Some("市场部"), Some("渠道部"))
    );
    assert_eq!(after["status"], "disabled");
    assert_eq!(items[1]["action"], "department.create");
    assert!(items[1]["before_value"].is_null());

    // A province reader sees only their province's log rows.
    let reader = srv.user(&admin, Some("36"), &["log:read"], None).await;
    let logs: Value = srv
        .get(
            &reader.token,
            &format!("/api/v1/logs/operations?object_kind=department&object_id={id}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logs["total"], 0);
    // The built-in admin role is not editable.
    let roles: Value = srv
        .get(&admin.token, "/api/v1/roles")
        .await
        .json()
        .await
        .unwrap();
    let admin_role = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "admin")
        .unwrap()["role_id"]
        .clone();
    problem(
        srv.put(
            &admin.token,
            &format!("/api/v1/roles/{admin_role}/permissions"),
            json!({"permissions": []}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn department_tree_and_channel_listing() {
    let srv = start().await;
    let admin = srv.admin().await;
    let root: Value = srv
        .post(
            &admin.token,
            "/api/v1/departments",
            json!({"code": unique("root"), "name": "省公司", "province_code": "83"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let child: Value = srv
        .post(
            &admin.token,
            "/api/v1/departments",
            json!({"code": unique("kid"), "name": "市公司", "province_code": "83", "parent_id": root["department_id"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let viewer = srv
        .user(&admin, Some("83"), &["department:read"], None)
        .await;
    let tree: Value = srv
        .get(&viewer.token, "/api/v1/departments/tree")
        .await
        .json()
        .await
        .unwrap();
    let node = tree
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["department"]["department_id"] == root["department_id"])
        .unwrap();
    assert_eq!(
        node["children"][0]["department"]["department_id"],
        child["department_id"]
    );
    assert!(tree
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["department"]["province_code"] == "83"));
    problem(
        srv.get(&viewer.token, "/api/v1/departments/999999999999")
            .await,
        404,
        "not_found",
    )
    .await;
}

/// A second server reuses resolved principals for a minute; permission
/// changes made through the first still apply to its very next request.
#[tokio::test]
async fn permission_changes_reach_a_server_that_caches_principals() {
    let a = start().await;
    let b = common::start_with(|c| c.session.principal_cache_ms = 60_000).await;
    let admin = a.admin().await;
    let user = a.user(&admin, Some("51"), &["staff:read"], None).await;
    let on_b = || b.get(&user.token, "/api/v1/staff");
    let roles: Value = a
        .get(
            &admin.token,
            &format!("/api/v1/staff/{}/roles", user.staff_id),
        )
        .await
        .json()
        .await
        .unwrap();
    let role = format!("/api/v1/roles/{}", roles[0]["role_id"]);
    let perms = format!("{role}/permissions");
    // Each change on A, then B's answer to the same token right after.
    let steps = [
        (Method::PUT, perms.clone(), json!({"permissions": []}), 403),
        (
            Method::PUT,
            perms,
            json!({"permissions": ["staff:read"]}),
            200,
        ),
        (
            Method::PATCH,
            role.clone(),
            json!({"status": "disabled"}),
            403,
        ),
        (Method::PATCH, role, json!({"status": "active"}), 200),
    ];
    for _ in 0..2 {
        assert_eq!(on_b().await.status(), 200, "cached on B");
    }
    for (method, path, body, then) in steps {
        let r = a.call(method, &path, Some(&admin.token), Some(body)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(on_b().await.status(), then, "after {path}");
    }
    // A disabled staff member is logged out everywhere.
    let path = format!("/api/v1/staff/{}/disable", user.staff_id);
    assert_eq!(a.post(&admin.token, &path, json!({})).await.status(), 200);
    problem(on_b().await, 401, "session_invalid").await;
}
