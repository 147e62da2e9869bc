//! The operator side: a file uploaded through POST /api/v1/batch/files lands
//! in the object-store drop (a local directory), the loader watching it
//! applies and answers it, GET /api/v1/batch/jobs and /jobs/{id} show the
//! job done with its counts and result file, /jobs/{id}/result serves that
//! file, the metrics count its lines;
//! without a login the jobs are refused; the endpoints are in OpenAPI.

mod support;

use haoka_batch::config::{LocalConfig, SourceConfig};
use haoka_services::app;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_apply_and_see_the_job() {
    let mut env = support::env().await;
    let root = std::env::temp_dir().join(support::unique("h17store"));
    // The server's upload drop is the loader's local source.
    let mut cfg = env.state.cfg.clone();
    cfg.batch.drop_dir = root.display().to_string();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let state = haoka_services::app::AppState::connect(cfg).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    env.state = state;
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base_url}/api/v1/auth/login"))
        .json(&json!({"staff_no": env.staff_no, "password": "Admin-Pass-2024!"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a token").to_string();

    let (depot, city) = env.depot("11").await;
    let nums = env.fresh_numbers("11", &city, 4).await;
    let mut csv = String::from("phone_no,depot_id,pool_id\n");
    for n in &nums {
        csv.push_str(&format!("{n},{depot},\n"));
    }
    csv.push_str(&format!("{},{depot},\n", nums[0]));
    let name = format!("NUM_INTAKE_11_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv");
    let r = http
        .post(format!("{base_url}/api/v1/batch/files"))
        .query(&[("name", &name)])
        .bearer_auth(&token)
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["size"], csv.len());
    // A name outside the convention is refused as a problem.
    let r = http
        .post(format!("{base_url}/api/v1/batch/files"))
        .query(&[("name", "../evil.csv")])
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );

    let mut bc = env.batch_config(100);
    bc.sources = vec![SourceConfig::Local(LocalConfig {
        name: "store".into(),
        root: root.clone(),
    })];
    let mut loader = haoka_batch::loader::Loader::new(
        haoka_batch::centers::Centers::new(env.state.number.clone(), env.state.card.clone()),
        bc,
        support::unique("l"),
    );
    let summary_path = root.join(format!("results/{base}.summary.json"));
    for _ in 0..20 {
        loader.poll_once().await;
        if summary_path.exists() {
            break;
        }
    }
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(
        (summary["ok"].as_u64(), summary["refused"].as_u64()),
        (Some(4), Some(1))
    );
    assert!(root.join(format!("done/{name}")).exists());
    assert!(root.join(format!("results/{base}.result.csv")).exists());

    let job_id = summary["job_id"].as_i64().unwrap();
    let get = |path: String| {
        let req = http.get(format!("{base_url}{path}")).bearer_auth(&token);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let job = get(format!("/api/v1/batch/jobs/{job_id}")).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["ok"], 4);
    assert_eq!(job["refused"], 1);
    assert_eq!(job["progress_pct"], 100.0);
    assert_eq!(job["result_file"], format!("results/{base}.result.csv"));
    let list = get("/api/v1/batch/jobs?limit=200".into()).await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["job_id"] == job_id),
        "{list}"
    );
    // The result file, for the portal's download: as the loader wrote it.
    let r = http
        .get(format!("{base_url}/api/v1/batch/jobs/{job_id}/result"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(
        r.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{base}.result.csv\"")
    );
    let body = r.text().await.unwrap();
    assert_eq!(
        body.as_bytes(),
        std::fs::read(root.join(format!("results/{base}.result.csv"))).unwrap()
    );
    assert!(body.starts_with("line,key,outcome"), "{body}");
    // An unknown job is a problem, not an empty file.
    let r = http
        .get(format!("{base_url}/api/v1/batch/jobs/{}/result", i64::MAX))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let m = loader.metrics.render();
    assert!(
        m.contains("haoka_batch_lines_total{kind=\"NUM_INTAKE\",outcome=\"ok\"} 4"),
        "{m}"
    );

    // Without a login: refused.
    let r = http
        .get(format!("{base_url}/api/v1/batch/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{base_url}/api/v1/batch/jobs/{job_id}/result"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let doc = get("/api-docs/openapi.json".into()).await;
    for p in [
        "/api/v1/batch/jobs",
        "/api/v1/batch/jobs/{job_id}",
        "/api/v1/batch/jobs/{job_id}/result",
        "/api/v1/batch/files",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    let _ = stop.send(());
    env.cleanup(&nums, depot).await;
    let _ = std::fs::remove_dir_all(root);
}
