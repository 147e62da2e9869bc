//! A haoka-batch process whose database connections are cut (through a
//! TCP relay in front of the proxy) three times in the middle of a file
//! resumes at its checkpoint: every line applied exactly once (stock,
//! history rows, number.taken_in entries), one result file, all ok.

mod support;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

const SEGMENTS: usize = 4;

async fn checkpoint(env: &support::Env, name: &str) -> i64 {
    let mut c = env.state.db.conn().await.unwrap();
    c.exec_first(
        "SELECT checkpoint FROM batch_job WHERE file_name = ? AND source = 'sftp'",
        (name,),
    )
    .await
    .unwrap()
    .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_db_connections_mid_file_then_resume() {
    let env = support::env().await;
    let relay = support::Relay::start(env.proxy.port).await;
    let (depot, _) = env.depot("51").await;
    let segs = env.fresh_segments("51", SEGMENTS).await;
    let nums: Vec<String> = segs
        .iter()
        .flat_map(|s| (0..10_000).map(move |t| format!("{s}{t:04}")))
        .collect();
    let mut csv = String::from("phone_no,depot_id,pool_id\n");
    for n in &nums {
        csv.push_str(&format!("{n},{depot},\n"));
    }
    let name = format!("NUM_INTAKE_51_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    let config = env.config_file(500, 5);
    env.drop_file(&name, csv.as_bytes());
    let log = std::env::temp_dir().join(support::unique("h17log"));
    let mut child = env.spawn_loader_to(
        &config,
        &relay.url(),
        std::fs::File::create(&log).unwrap().into(),
    );

    let mut last = 0;
    let mut cuts = 0;
    let t = Instant::now();
    while cuts < 3 {
        let cp = checkpoint(&env, &name).await;
        assert!(
            cp < nums.len() as i64,
            "finished before three cuts (make the file larger)"
        );
        if cp > last {
            // Again and again for a while: some cut meets a statement or a
            // commit in flight (an idle pooled connection is just replaced).
            let mut n = 0;
            for _ in 0..15 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                n += relay.cut();
            }
            eprintln!("cut {n} connections after checkpoint {cp}");
            last = checkpoint(&env, &name).await;
            cuts += 1;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = env.wait_summary(&base, 300).await;
    assert!(child.try_wait().unwrap().is_none(), "the loader survived");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&config);
    let warnings = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    eprintln!("{warnings}");
    assert!(
        warnings.contains("chunk write failed") || warnings.contains("not finished this poll"),
        "no cut met work in flight: {warnings}"
    );

    assert_eq!(summary["status"], "D", "{summary}");
    assert_eq!(summary["ok"], nums.len(), "{summary}");
    assert_eq!(summary["refused"], 0, "{summary}");
    let mut stock = 0;
    let mut history = 0;
    for chunk in nums.chunks(5000) {
        stock += env
            .count(
                "SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({in})",
                chunk,
            )
            .await;
        history += env
            .count(
                "SELECT COUNT(*) FROM number_history WHERE phone_no IN ({in}) AND action = 'intake'",
                chunk,
            )
            .await;
    }
    assert_eq!(stock, nums.len() as i64);
    assert_eq!(history, nums.len() as i64);
    let mut want = nums.clone();
    want.sort();
    assert_eq!(env.taken_in(depot).await, want);
    let result = env
        .fetch(&format!("/results/{}/{base}.result.csv", env.tag))
        .unwrap();
    let ok_rows = csv::Reader::from_reader(&result[..])
        .records()
        .filter(|r| r.as_ref().unwrap().get(2) == Some("ok"))
        .count();
    assert_eq!(ok_rows, nums.len());
    env.cleanup(&nums, depot).await;
}
