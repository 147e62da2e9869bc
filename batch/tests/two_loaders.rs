//! Two haoka-batch processes on the same drop: every file is worked by one
//! of them at a time and answered once — one result file per input, every
//! line in stock once with one history row and one number.taken_in entry.

mod support;

const FILES: usize = 4;
const LINES: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loaders_work_each_file_once() {
    let env = support::env().await;
    let (depot, _) = env.depot("51").await;
    let segs = env.fresh_segments("51", FILES).await;
    let config = env.config_file(500, 5);
    // Both loaders run before the files arrive: they race for every one.
    let mut a = env.spawn_loader(&config, &env.proxy.url());
    let mut b = env.spawn_loader(&config, &env.proxy.url());
    let mut all = Vec::new();
    let mut bases = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let nums: Vec<String> = (0..LINES).map(|t| format!("{s}{t:04}")).collect();
        let mut csv = String::from("phone_no,depot_id,pool_id\n");
        for n in &nums {
            csv.push_str(&format!("{n},{depot},\n"));
        }
        let name = format!("NUM_INTAKE_51_20261202_{}{i}.csv", env.tag);
        bases.push(name.trim_end_matches(".csv").to_string());
        env.drop_file(&name, csv.as_bytes());
        all.extend(nums);
    }
    let mut summaries = Vec::new();
    for base in &bases {
        summaries.push(env.wait_summary(base, 300).await);
    }
    // Let a slower loader finish whatever it might still write.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for c in [&mut a, &mut b] {
        assert!(c.try_wait().unwrap().is_none(), "a loader died");
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let _ = std::fs::remove_file(&config);

    for (s, base) in summaries.iter().zip(&bases) {
        assert_eq!(s["status"], "D", "{base}: {s}");
        assert_eq!(s["ok"], LINES, "{base}: {s}");
        assert_eq!(s["answered_again"], false, "{base} answered once: {s}");
    }
    // One result and one summary per input, every input in done/.
    let results = env.list(&format!("/results/{}", env.tag));
    for base in &bases {
        let n = |suffix: &str| {
            results
                .iter()
                .filter(|f| *f == &format!("{base}{suffix}"))
                .count()
        };
        assert_eq!(n(".result.csv"), 1, "{results:?}");
        assert_eq!(n(".summary.json"), 1, "{results:?}");
    }
    assert!(
        results.iter().all(|f| !f.starts_with('.')),
        "no half-written result left: {results:?}"
    );
    let done = env.list(&format!("/results/{}/done", env.tag));
    assert_eq!(done.len(), FILES, "{done:?}");
    // One job per file.
    let jobs = env
        .count(
            "SELECT COUNT(*) FROM batch_job WHERE source = 'sftp' AND file_name IN ({in})",
            &bases.iter().map(|b| format!("{b}.csv")).collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(jobs, FILES as i64);
    // No line twice: stock, history and events.
    let mut stock = 0;
    let mut history = 0;
    for chunk in all.chunks(5000) {
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
    assert_eq!(stock, all.len() as i64);
    assert_eq!(history, all.len() as i64);
    let mut want = all.clone();
    want.sort();
    assert_eq!(env.taken_in(depot).await, want, "one event entry per line");
    env.cleanup(&all, depot).await;
}
