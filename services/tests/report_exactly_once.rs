//! Issue 16: exactly once. Two haoka-server processes serve the report role
//! and run 20 tasks; one is SIGKILLed while it holds tasks. Every task
//! ends done once, with one file, and no file is left that no task names.

#[allow(unused_imports)]
mod card_support;
mod common;
mod number_support;
mod report_support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};

type TaskRow = (i64, String, Option<String>, i64);

async fn status(c: &mut mysql_async::Conn, ids: &[i64]) -> Vec<TaskRow> {
    let marks = vec!["?"; ids.len()].join(",");
    c.exec(
        format!(
            "SELECT task_id, status, owner, attempts FROM report_task WHERE task_id IN ({marks})"
        ),
        ids.to_vec(),
    )
    .await
    .unwrap()
}

fn spawn_runner(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_haoka-server"))
        .arg("--config")
        .arg(config)
        .env("HAOKA_SEAL_KEY", common::TEST_SEAL_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haoka-server starts")
}

#[tokio::test]
async fn two_processes_one_killed_every_task_done_once() {
    // This process only queues tasks; the two children run them.
    let s = report_support::server_with(|c| c.report.run_tasks = false).await;
    let admin = s.admin().await;
    let config = std::env::temp_dir().join(format!("haoka-report-{}.toml", common::unique("cfg")));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nroles = [\"report\"]\n\
             [report]\nstore_dir = \"{}\"\nlease_seconds = 2\npoll_interval_ms = 100\n\
             max_parallel = 2\npause_before_upload_ms = 700\n",
            report_support::STORE_DIR
        ),
    )
    .unwrap();
    let mut a = spawn_runner(&config);
    let mut b = spawn_runner(&config);

    let base = report_support::tag();
    let mut ids = vec![];
    for i in 0..20 {
        let r = s
            .post(
                &admin.token,
                "/api/v1/reports",
                json!({"template": "number_status", "format": if i % 2 == 0 { "csv" } else { "xlsx" },
                       "filters": {"pool_id": base + i}}),
            )
            .await;
        assert_eq!(r.status(), 202);
        ids.push(r.json::<Json>().await.unwrap()["task_id"].as_i64().unwrap());
    }
    let mut c = s.state.db.conn().await.unwrap();
    let marks = vec!["?"; ids.len()].join(",");
    // Kill one process once it holds a running task.
    let mut started = false;
    for _ in 0..200 {
        if status(&mut c, &ids).await.iter().any(|r| r.1 == "R") {
            started = true;
            tokio::time::sleep(Duration::from_millis(200)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = a.kill(); // SIGKILL
    a.wait().unwrap();
    assert!(started, "a task started");
    // The survivor finishes all, re-claiming the dead process's tasks after their lease.
    let mut done = false;
    for _ in 0..600 {
        let rows = status(&mut c, &ids).await;
        if rows.len() == 20 && rows.iter().all(|r| r.1 == "D") {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = status(&mut c, &ids).await;
    b.kill().unwrap();
    b.wait().unwrap();
    let _ = std::fs::remove_file(&config);
    assert!(done, "every task done: {rows:?}");
    assert!(
        rows.iter().any(|r| r.3 > 1),
        "the killed process's task was claimed again: {rows:?}"
    );

    // One result row per task, naming a file that exists.
    let results: Vec<(i64, String)> = c
        .exec(
            format!("SELECT task_id, object_key FROM report_result WHERE task_id IN ({marks})"),
            ids.clone(),
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 20);
    for (_, key) in &results {
        assert!(
            s.state.report.center.store.exists(key).await.unwrap(),
            "{key}"
        );
    }
    // After the orphan sweep, each task's folder holds exactly its one file.
    tokio::time::sleep(Duration::from_secs(5)).await;
    haoka_services::report::sweep::run_once(&s.state.report)
        .await
        .unwrap();
    let mut per_task: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for id in &ids {
        for o in s
            .state
            .report
            .center
            .store
            .list(&format!("reports/{id}"))
            .await
            .unwrap()
        {
            per_task.entry(*id).or_default().push(o.key);
        }
    }
    for (id, key) in results {
        assert_eq!(
            per_task.get(&id),
            Some(&vec![key]),
            "task {id}: one file, no orphan"
        );
    }
}
