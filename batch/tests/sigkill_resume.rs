//! SIGKILL of the haoka-batch process three times at random points of a
//! 200,000-line intake file (20 segments), then a restart: every line applied exactly once
//! (the stock, the history rows and the number.taken_in events), one result
//! file with every line ok.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use rand::Rng;

const LINES_PER_SEGMENT: usize = 10_000;

fn spawn(config: &std::path::Path, env: &support::Env) -> Child {
    Command::new(env!("CARGO_BIN_EXE_haoka-batch"))
        .arg("--config")
        .arg(config)
        .env("HAOKA_DATABASE_URL", env.proxy.url())
        .env("HAOKA_SEAL_KEY", support::TEST_SEAL_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("haoka-batch starts")
}

async fn checkpoint(env: &support::Env, name: &str) -> Option<i64> {
    let mut c = env.state.db.conn().await.unwrap();
    c.exec_first(
        "SELECT checkpoint FROM batch_job WHERE file_name = ? AND source = 'sftp'",
        (name,),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_three_times_then_resume() {
    let env = support::env().await;
    let (depot, _) = env.depot("51").await;
    let segs = env.fresh_segments("51", 20).await;
    let nums: Vec<String> = segs
        .iter()
        .flat_map(|s| (0..LINES_PER_SEGMENT).map(move |i| format!("{s}{i:04}")))
        .collect();
    let mut csv = String::from("phone_no,depot_id,pool_id\n");
    for n in &nums {
        csv.push_str(&format!("{n},{depot},\n"));
    }
    let name = format!("NUM_INTAKE_51_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();

    let d = env.dirs();
    let var = support::stack_root().join("var/sftp");
    let config = std::env::temp_dir()
        .join(support::unique("h17batch"))
        .with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "staff_no = \"{}\"\nchunk_lines = 1000\npoll_interval_ms = 200\nlease_seconds = 2\n\n\
             [[sources]]\nkind = \"sftp\"\nname = \"sftp\"\nhost = \"127.0.0.1\"\nport = 2222\n\
             user = \"sftp\"\nkey = \"{}\"\nknown_hosts = \"{}\"\nincoming = \"{}\"\n\
             results = \"{}\"\ndone = \"{}\"\nfailed = \"{}\"\n",
            env.staff_no,
            var.join("id_ed25519").display(),
            var.join("known_hosts").display(),
            d.incoming,
            d.results,
            d.done,
            d.failed
        ),
    )
    .unwrap();
    env.drop_file(&name, csv.as_bytes());

    let mut last = 0;
    for round in 0..3 {
        let mut child = spawn(&config, &env);
        // Until it has moved past the last kill's checkpoint, then a
        // random moment later.
        let t = Instant::now();
        loop {
            let cp = checkpoint(&env, &name).await.unwrap_or(0);
            if cp > last {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "round {round}: no progress"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let wait = rand::thread_rng().gen_range(0..2000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let cp = checkpoint(&env, &name).await.unwrap_or(0);
        eprintln!("round {round}: killed at checkpoint {cp}");
        assert!(
            cp < nums.len() as i64,
            "killed before the end (make the file larger)"
        );
        last = cp;
    }
    let mut child = spawn(&config, &env);
    let path = format!("{}/{base}.summary.json", d.results);
    let t = Instant::now();
    let summary = loop {
        if let Some(s) = env.fetch(&path) {
            break serde_json::from_slice::<serde_json::Value>(&s).unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "no answer after the restart"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&config);

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
    assert_eq!(stock, nums.len() as i64, "every line in stock once");
    assert_eq!(
        history,
        nums.len() as i64,
        "one intake history row per line"
    );
    let mut want = nums.clone();
    want.sort();
    assert_eq!(env.taken_in(depot).await, want, "one event entry per line");
    let result = env
        .fetch(&format!("{}/{base}.result.csv", d.results))
        .unwrap();
    let ok_rows = csv::Reader::from_reader(&result[..])
        .records()
        .filter(|r| r.as_ref().unwrap().get(2) == Some("ok"))
        .count();
    assert_eq!(ok_rows, nums.len());
    env.cleanup(&nums, depot).await;
}
