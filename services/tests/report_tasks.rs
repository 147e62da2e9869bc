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
    // A province's staff asking for another province get their own.
    let r = s
        .post(
            &other.token,
            "/api/v1/reports",
            json!({"template": "number_detail", "format": "csv",
                   "filters": {"province_code": "36", "pool_id": report_support::tag()}}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let theirs: Json = r.json().await.unwrap();
    assert_eq!(theirs["filters"]["province_code"], "51", "{theirs}");
    let r = s
        .post(
            &other.token,
            &format!("/api/v1/reports/{}/cancel", theirs["task_id"]),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
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

/// report:admin lists every task of its scope with `all=true`; others may not.
#[tokio::test]
async fn report_admin_lists_every_task_of_its_scope() {
    let s = report_support::server_with(|c| c.report.run_tasks = false).await;
    let admin = s.admin().await;
    let perms = ["report:read", "report:export"];
    let a = s.user(&admin, Some("51"), &perms, None).await;
    let b = s.user(&admin, Some("36"), &perms, None).await;
    let boss51 = s
        .user(&admin, Some("51"), &["report:read", "report:admin"], None)
        .await;
    let mut ids = vec![];
    for u in [&a, &b] {
        let body = json!({"template": "number_status", "format": "csv",
            "filters": {"pool_id": report_support::tag()}});
        let v: Json = s
            .post(&u.token, "/api/v1/reports", body)
            .await
            .json()
            .await
            .unwrap();
        ids.push(v["task_id"].as_i64().unwrap());
    }
    let list = |token: String, q: &'static str| {
        let s = &s;
        async move {
            let r = s
                .get(&token, &format!("/api/v1/reports?page_size=200{q}"))
                .await;
            let st = r.status();
            (st, r.json::<Json>().await.unwrap())
        }
    };
    let has = |v: &Json, id: i64| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task_id"] == id)
    };
    // Without the flag: only one's own (none for the admin of 51).
    let (st, mine) = list(boss51.token.clone(), "").await;
    assert_eq!(st, 200);
    assert_eq!(mine["total"], 0, "{mine}");
    // With it: 51's task, not 36's; every item of the scope.
    let (st, all) = list(boss51.token.clone(), "&all=true").await;
    assert_eq!(st, 200, "{all}");
    assert!(has(&all, ids[0]), "{all}");
    assert!(!has(&all, ids[1]), "{all}");
    assert!(all["total"].as_i64().unwrap() >= 1);
    for t in all["items"].as_array().unwrap() {
        assert!(
            t["filters"]["province_code"]
                .as_str()
                .is_some_and(|p| p.split(',').any(|p| p == "51")),
            "{t}"
        );
    }
    // Headquarters' admin sees both.
    let (_, hq) = list(admin.token.clone(), "&all=true").await;
    assert!(has(&hq, ids[0]) && has(&hq, ids[1]), "{hq}");
    // Without report:admin the flag is refused.
    let (st, v) = list(a.token.clone(), "&all=true").await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["code"], "permission_denied", "{v}");

    for (u, id) in [(&a, ids[0]), (&b, ids[1])] {
        s.post(&u.token, &format!("/api/v1/reports/{id}/cancel"), json!({}))
            .await;
    }
}

/// A scheduled report queues one task a day, however many processes check.
#[tokio::test]
async fn a_schedule_runs_once_a_day_across_processes() {
    let s = report_support::server_with(|c| c.report.run_tasks = false).await;
    let admin = s.admin().await;
    let r = s
        .post(
            &admin.token,
            "/api/v1/reports/schedules",
            json!({"template": "number_status", "format": "xlsx", "daily_at_utc": "00:00",
                   "filters": {"pool_id": report_support::tag()}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let sched: Json = r.json().await.unwrap();
    let id = sched["schedule_id"].as_i64().unwrap();
    let mut c = s.state.db.conn().await.unwrap();
    let today: String = c
        .query_first("SELECT DATE_FORMAT(UTC_DATE(), '%Y-%m-%d')")
        .await
        .unwrap()
        .unwrap();
    // 00:00 has passed today: the first run is tomorrow.
    assert_eq!(sched["last_run_day"], today.as_str());
    haoka_services::report::schedules::tick(&s.state.report)
        .await
        .unwrap();
    assert_eq!(count(&mut c, id).await, 0);

    // Yesterday's run done: two processes check at once, one task is queued.
    c.exec_drop(
        "UPDATE report_template SET last_run_day = DATE_SUB(UTC_DATE(), INTERVAL 1 DAY) WHERE template_id = ?",
        (id,),
    )
    .await
    .unwrap();
    let other = report_support::server_with(|c| c.report.run_tasks = false).await;
    let (a, b) = tokio::join!(
        haoka_services::report::schedules::tick(&s.state.report),
        haoka_services::report::schedules::tick(&other.state.report)
    );
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1);
    haoka_services::report::schedules::tick(&s.state.report)
        .await
        .unwrap();
    assert_eq!(count(&mut c, id).await, 1);
    let task: i64 = c
        .query_first(format!(
            "SELECT task_id FROM report_task WHERE template_id = {id}"
        ))
        .await
        .unwrap()
        .unwrap();
    let v: Json = s
        .get(&admin.token, &format!("/api/v1/reports/{task}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["template"], "number_status");
    let logged: Vec<String> = c
        .exec(
            "SELECT action FROM operation_log WHERE object_kind = 'report_task' AND object_id = ?",
            (task.to_string(),),
        )
        .await
        .unwrap();
    assert_eq!(logged, ["report.schedule.run"]);
    assert_eq!(v["format"], "xlsx");
    s.post(
        &admin.token,
        &format!("/api/v1/reports/{task}/cancel"),
        json!({}),
    )
    .await;

    let list: Json = s
        .get(&admin.token, "/api/v1/reports/schedules")
        .await
        .json()
        .await
        .unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["schedule_id"] == id));
    let viewer = s
        .user(&admin, Some("51"), &["report:read", "report:export"], None)
        .await;
    let r = s.get(&viewer.token, "/api/v1/reports/schedules").await;
    assert_eq!(r.status(), 403);
    let r = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/reports/schedules/{id}"),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = s
        .get(&admin.token, &format!("/api/v1/reports/schedules/{id}"))
        .await;
    assert_eq!(r.status(), 404);
}

async fn count(c: &mut mysql_async::Conn, template_id: i64) -> i64 {
    c.exec_first(
        "SELECT COUNT(*) FROM report_task WHERE template_id = ?",
        (template_id,),
    )
    .await
    .unwrap()
    .unwrap()
}
