//! Files unusable as a whole — a bad header, an unknown kind, bytes that
//! are neither UTF-8 nor GBK — move to failed/ with a summary saying why;
//! nothing is applied.

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_go_to_failed() {
    let env = support::env().await;
    let cases: [(String, Vec<u8>, &str); 3] = [
        (
            format!("NUM_INTAKE_51_20261202_{}h.csv", env.tag),
            b"number,depot\n13000000000,1\n".to_vec(),
            "bad header",
        ),
        (
            format!("NOSUCH_KIND_51_20261202_{}k.csv", env.tag),
            b"a\n1\n".to_vec(),
            "unknown file kind",
        ),
        (
            format!("NUM_INTAKE_51_20261202_{}e.csv", env.tag),
            b"phone_no,depot_id,pool_id\n\xff\xfe\xff,1,\n".to_vec(),
            "neither UTF-8 nor GBK",
        ),
    ];
    for (name, data, _) in &cases {
        env.drop_file(name, data);
    }
    let mut loader = env.loader(100);
    for (name, _, why) in &cases {
        let base = name.trim_end_matches(".csv");
        let s = env.run_until_answered(&mut loader, base).await;
        assert_eq!(s["status"], "F", "{s}");
        assert!(s["failure"].as_str().unwrap().contains(why), "{s}");
        assert_eq!(s["total"], 0);
        assert!(env
            .fetch(&format!("/results/{}/failed/{name}", env.tag))
            .is_some());
        assert!(env
            .fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .is_none());
    }
}
