//! A number intake file dropped on the real SFTP drop with the real `sftp`
//! client is applied through the number center's intake in chunks and
//! answered: the bad lines (wrong digits, unknown depot, listed twice — also
//! when the first time is in the chunk still being written —,
//! already in stock) refused with reasons, the rest in stock with history
//! rows and number.taken_in events;
//! the same file again is answered from its job, not applied again.

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_file_with_bad_lines_over_sftp() {
    let env = support::env().await;
    let (depot, city) = env.depot("51").await;
    let nums = env.fresh_numbers("51", &city, 8).await;
    // nums[7] is in stock already.
    env.take_in(&[nums[7].clone()], depot).await;

    let mut csv = String::from("phone_no,depot_id,pool_id\n");
    for n in &nums[..5] {
        csv.push_str(&format!("{n},{depot},\n")); // lines 2-6: good
    }
    csv.push_str(&format!("1380013800,{depot},\n")); // 7: ten digits
    csv.push_str(&format!("{},999999999999,\n", nums[5])); // 8: unknown depot
    csv.push_str(&format!("{},{depot},\n", nums[0])); // 9: listed twice
    csv.push_str(&format!("{},{depot},\n", nums[7])); // 10: in stock
    csv.push_str(&format!("{},{depot}\n", nums[6])); // 11: a column short
                                                     // 12: listed twice, the first time in the chunk before (lines 8-10),
                                                     // which is still being written while this chunk (11-12) is checked.
    csv.push_str(&format!("{},{depot},\n", nums[7]));
    let name = format!("NUM_INTAKE_51_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, csv.as_bytes());

    let mut loader = env.loader(3);
    let summary = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(summary["status"], "D", "{summary}");
    assert_eq!(summary["total"], 11);
    assert_eq!(summary["ok"], 5);
    assert_eq!(summary["refused"], 4);
    assert_eq!(summary["invalid"], 2);
    assert_eq!(summary["encoding"], "UTF-8");
    // Timestamps as the API writes them: RFC 3339 with the offset.
    for k in ["started", "finished"] {
        let t = summary[k].as_str().unwrap_or_default();
        assert!(
            t.len() >= 29 && t.as_bytes()[10] == b'T' && matches!(t.as_bytes()[23], b'+' | b'-'),
            "{k} = {t:?}"
        );
    }
    assert_eq!(
        summary["sha256"],
        haoka_batch::jobs::sha256_hex(csv.as_bytes())
    );

    let result = env
        .fetch(&format!("/results/{}/{base}.result.csv", env.tag))
        .expect("a result file");
    let result = String::from_utf8(result).unwrap();
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(result.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 11, "{result}");
    let outcome = |line: &str| {
        let r = rows.iter().find(|r| r[0] == line).unwrap();
        (r[2].clone(), r[3].clone())
    };
    for l in 2..=6 {
        assert_eq!(outcome(&l.to_string()), ("ok".into(), "ok".into()));
    }
    assert_eq!(outcome("7"), ("invalid".into(), "invalid".into()));
    assert_eq!(outcome("8"), ("refused".into(), "not_found".into()));
    assert_eq!(outcome("9"), ("refused".into(), "duplicate_in_file".into()));
    assert_eq!(outcome("10"), ("refused".into(), "duplicate".into()));
    assert_eq!(outcome("11"), ("invalid".into(), "column_count".into()));
    assert_eq!(
        outcome("12"),
        ("refused".into(), "duplicate_in_file".into())
    );
    assert!(
        rows.iter().all(|r| r[2] == "ok" || !r[4].is_empty()),
        "reasons: {result}"
    );

    // What the database shows equals the result file.
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({in}) AND status = '01'",
            &nums[..5]
        )
        .await,
        5
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM number_history WHERE phone_no IN ({in}) AND action = 'intake'",
            &nums[..5]
        )
        .await,
        5
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({in})",
            &nums[5..7]
        )
        .await,
        0
    );
    // One number.taken_in entry per applied line (and the one taken in
    // before the file).
    let mut want: Vec<String> = nums[..5].to_vec();
    want.push(nums[7].clone());
    want.sort();
    assert_eq!(env.taken_in(depot).await, want);
    // The input moved to done/.
    assert!(env
        .fetch(&format!("/results/{}/done/{name}", env.tag))
        .is_some());

    // The same file again: answered from the job, nothing applied twice.
    env.drop_file(&name, csv.as_bytes());
    let again = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(again["answered_again"], true, "{again}");
    assert_eq!(again["job_id"], summary["job_id"]);
    assert_eq!(again["ok"], 5);
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM number_history WHERE phone_no IN ({in})",
            &nums[..5]
        )
        .await,
        5
    );

    env.cleanup(&nums, depot).await;
}
