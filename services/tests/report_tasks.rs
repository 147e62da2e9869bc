//! Issue 16: report tasks. The same request twice is one task; my tasks;
//! cancel; a task and its file are the requester's; each task is in the
//! operation log. Its own test binary: no runner of another test (in this
//! binary) may claim the queued tasks it looks at.

#[allow(unused_imports)]
mod card_support;
mod common;
mod number_support;
mod report_support;

use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};

#[tokio::test]
async fn tasks_are_deduplicated_listed_cancelled_and_private() {
    // No runner here: tasks stay queued until cancelled.
    let s = report_support::server_with(|c| c.report.run_tasks = false).await;
    let admin = s.admin().await;
    let body = json!({"template": "number_status", "format": "csv",
        "filters": {"pool_id": report_support::tag()}});
    let a: Json = s
        .post(&admin.token, "/api/v1/reports", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let b: Json = s
        .post(&admin.token, "/api/v1/reports", body.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        a["task_id"], b["task_id"],
        "the same request twice is one task"
    );
    let id = a["task_id"].as_i64().unwrap();
    let mine: Json = s
        .get(&admin.token, "/api/v1/reports")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["task_id"], id);
    assert_eq!(mine["items"][0]["status"], "queued");

    // Another staff member (without report:admin) does not see it.
    let other = s
        .user(&admin, Some("51"), &["report:read", "report:export"], None)
        .await;
    let r = s.get(&other.token, &format!("/api/v1/reports/{id}")).await;
    assert_eq!(r.status(), 404);
    let r = s
        .get(&other.token, &format!("/api/v1/reports/{id}/file"))
        .await;
    assert_eq!(r.status(), 404);
    // Not ready yet: a problem with its code.
    let r = s
        .get(&admin.token, &format!("/api/v1/reports/{id}/file"))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Json>().await.unwrap()["code"], "report_not_ready");

    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/reports/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Json>().await.unwrap()["status"], "cancelled");
    let r = s
        .post(
            &admin.token,
            &format!("/api/v1/reports/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 409);
    // Cancelled: the same request now makes a new task.
    let c: Json = s
        .post(&admin.token, "/api/v1/reports", body)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(c["task_id"], a["task_id"]);
    s.post(
        &admin.token,
        &format!("/api/v1/reports/{}/cancel", c["task_id"]),
        json!({}),
    )
    .await;

    // Each task is in the operation log.
    let mut conn = s.state.db.conn().await.unwrap();
    let actions: Vec<String> = conn
        .exec(
            "SELECT action FROM operation_log WHERE object_kind = 'report_task' AND object_id = ? ORDER BY log_id",
            (id.to_string(),),
        )
        .await
        .unwrap();
    assert_eq!(actions, ["report.create", "report.cancel"]);
}
