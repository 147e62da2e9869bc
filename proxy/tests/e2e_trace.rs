//! A client's request id (a sqlcommenter comment on its statement) is on the
//! proxy's log lines for that statement: the slow-query line and every
//! per-shard statement line (target shard_statement), and only on those.

mod e2e_common;

use e2e_common::*;
use mysql_async::prelude::*;

#[tokio::test]
async fn a_request_id_comment_follows_the_statement_into_the_shard_log() {
    // Every statement counts as slow; the per-shard statement log is on.
    let p = ProxyProc::start_env(
        "[limits]\nslow_query_ms = 0\n",
        &[("RUST_LOG", "warn,shard_statement=debug")],
    );
    let mut c = p.conn("haoka").await;
    let id = format!("e2e-trace-{}", std::process::id());
    // Province 51 lives on shard 5, in four physical tables: a fan-out.
    let n: Option<u64> = c
        .query_first(format!(
            "SELECT COUNT(*) FROM phone_number WHERE province_code = '51' /*request_id='{id}',route='%2Fapi'*/"
        ))
        .await
        .unwrap();
    assert!(n.is_some());
    c.query_drop("SELECT COUNT(*) FROM phone_number WHERE province_code = '11'")
        .await
        .unwrap();
    drop(c);

    let log = p.log();
    let tagged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("request_id={id}")))
        .collect();
    let shard_lines: Vec<&&str> = tagged
        .iter()
        .filter(|l| l.contains("shard_statement") && l.contains("haoka_s5"))
        .collect();
    assert!(
        shard_lines.len() >= 4,
        "one line per physical table of shard 5 with the id:\n{log}"
    );
    assert!(
        tagged
            .iter()
            .any(|l| l.contains("slow query") && l.contains("province_code = '51'")),
        "the slow-query line names the id:\n{log}"
    );
    // The statement without a comment is logged without any id.
    let untagged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("shard_statement") && l.contains("haoka_s0"))
        .collect();
    assert!(!untagged.is_empty(), "{log}");
    assert!(untagged.iter().all(|l| !l.contains("request_id=")), "{log}");
}

#[tokio::test]
async fn a_marker_statement_tags_the_prepared_statements_after_it() {
    let p = ProxyProc::start_env("", &[("RUST_LOG", "warn,shard_statement=debug")]);
    let mut c = p.conn("haoka").await;
    let id = format!("e2e-marker-{}", std::process::id());
    // A pooled driver prepares once; the marker names the request instead.
    c.query_drop(format!("/*request_id='{id}'*/"))
        .await
        .unwrap();
    let n: Option<u64> = c
        .exec_first(
            "SELECT COUNT(*) FROM phone_number WHERE province_code = ?",
            ("51",),
        )
        .await
        .unwrap();
    assert!(n.is_some());
    // Cleared: the next statement names no request.
    c.query_drop("/*request_id=''*/").await.unwrap();
    let _: Option<u64> = c
        .exec_first(
            "SELECT COUNT(*) FROM phone_number WHERE province_code = ?",
            ("11",),
        )
        .await
        .unwrap();
    // A reset clears it too.
    c.query_drop(format!("/*request_id='{id}-2'*/"))
        .await
        .unwrap();
    c.reset().await.unwrap();
    c.query_drop("SELECT COUNT(*) FROM phone_number WHERE province_code = '71'")
        .await
        .unwrap();
    drop(c);

    let log = p.log();
    let shard = |s: &str| -> Vec<&str> {
        log.lines()
            .filter(|l| {
                l.contains("shard_statement") && l.contains(s) && l.contains("phone_number")
            })
            .collect()
    };
    let s5 = shard("haoka_s5");
    assert!(
        s5.len() >= 4 && s5.iter().all(|l| l.contains(&format!("request_id={id}"))),
        "every shard-5 statement names the marked request:\n{log}"
    );
    let s0 = shard("haoka_s0");
    assert!(!s0.is_empty(), "{log}");
    assert!(
        s0.iter().all(|l| !l.contains("request_id=")),
        "after the clearing marker no id:\n{log}"
    );
    let s4 = shard("haoka_s4");
    assert!(!s4.is_empty(), "{log}");
    assert!(
        s4.iter().all(|l| !l.contains("request_id=")),
        "a reset forgets the marker:\n{log}"
    );
}
