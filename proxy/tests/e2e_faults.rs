//! Shard faults against the real proxy and real MariaDB servers: a shard on
//! a private mariadbd is SIGKILLed mid-run (queries that need it fail fast
//! naming it, the others keep answering) and restarted (the same proxy
//! answers again by itself); a shard that accepts TCP but never speaks costs
//! one connect timeout (at the proxy's start), then fails fast; a slow statement is killed at the
//! query timeout.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::*;
use mysql_async::prelude::*;

/// Rules: shards 0 and 1 (and the global shard) on the main MariaDB, shard 2
/// on `port`; table `item` sharded by `id mod 3`.
fn rules(prefix: &str, port: u16) -> String {
    item_rules(
        &[("main", 3306), ("extra", port)],
        prefix,
        &[
            format!(r#"{{ datasource = "main", database = "{prefix}_s0" }}"#),
            format!(r#"{{ datasource = "main", database = "{prefix}_s1" }}"#),
            format!(r#"{{ datasource = "extra", database = "{prefix}_s2" }}"#),
        ],
    )
}

const ITEM_DDL: &str = "CREATE TABLE item (id BIGINT PRIMARY KEY, note VARCHAR(40) NOT NULL)";

/// Creates the shard databases on the main server with rows id = shard
/// (+3, +6); returns the drop statements for cleanup.
async fn main_shards(prefix: &str) -> Vec<String> {
    let mut c = direct(None).await;
    let mut drops = Vec::new();
    for db in [
        format!("{prefix}_g"),
        format!("{prefix}_s0"),
        format!("{prefix}_s1"),
    ] {
        c.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
        drops.push(format!("DROP DATABASE IF EXISTS {db}"));
    }
    for shard in 0..2 {
        let db = format!("{prefix}_s{shard}");
        c.query_drop(format!(
            "CREATE TABLE {db}.item (id BIGINT PRIMARY KEY, note VARCHAR(40) NOT NULL)"
        ))
        .await
        .unwrap();
        for id in [shard, shard + 3, shard + 6] {
            c.query_drop(format!("INSERT INTO {db}.item VALUES ({id}, 'row {id}')"))
                .await
                .unwrap();
        }
    }
    drops
}

async fn cleanup(drops: &[String]) {
    let mut c = direct(None).await;
    for d in drops {
        let _ = c.query_drop(d).await;
    }
}

/// A server error's (code, message), or panics on success / other errors.
fn server_err<T: std::fmt::Debug>(r: Result<T, mysql_async::Error>) -> (u16, String) {
    match r {
        Err(mysql_async::Error::Server(e)) => (e.code, e.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn note(c: &mut mysql_async::Conn, id: i64) -> Result<Option<String>, mysql_async::Error> {
    c.exec_first("SELECT note FROM item WHERE id = ?", (id,))
        .await
}

/// SHOW HAOKA SHARDS state of the primary of `shard`.
async fn shard_state(c: &mut mysql_async::Conn, shard: &str) -> String {
    let rows: Vec<mysql_async::Row> = c.query("SHOW HAOKA SHARDS").await.unwrap();
    rows.iter()
        .find(|r| {
            r.get::<String, _>("shard").as_deref() == Some(shard)
                && r.get::<String, _>("role").as_deref() == Some("primary")
        })
        .and_then(|r| r.get::<String, _>("state"))
        .expect("shard row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_shard_fails_fast_while_others_answer_and_recovers() {
    let prefix = "haoka_flt_down";
    let drops = main_shards(prefix).await;
    let mut extra = MariadbInstance::start("down", &[]);
    extra.add_proxy_account().await;
    extra
        .exec(&[
            &format!("CREATE DATABASE {prefix}_s2"),
            &format!("USE {prefix}_s2"),
            ITEM_DDL,
            "INSERT INTO item VALUES (2, 'row 2'), (5, 'row 5'), (8, 'row 8')",
        ])
        .await;
    let proxy = ProxyProc::start_with_rules(
        Some(&rules(prefix, extra.port)),
        "[pool]\nconnect_timeout_ms = 1000\nhealth_check_interval_ms = 300\n",
    );
    let mut c = proxy.conn(prefix).await;
    for id in 0..9 {
        assert_eq!(note(&mut c, id).await.unwrap(), Some(format!("row {id}")));
    }
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM item").await.unwrap();
    assert_eq!(n, Some(9));

    extra.kill();

    // Every query that needs shard 2 fails fast and names it.
    let mut slowest = Duration::ZERO;
    for round in 0..5 {
        let t = Instant::now();
        let (code, msg) = server_err(note(&mut c, 2).await);
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert_eq!(code, 1429, "round {round}: {msg}");
        // names the shard in logical terms (no physical database)
        assert!(
            msg.contains("shard 2 (") && msg.contains(&format!("of schema {prefix}")),
            "{msg}"
        );
        assert!(!msg.contains(&format!("{prefix}_s2")), "{msg}");
        assert!(took < Duration::from_secs(2), "round {round} took {took:?}");
    }
    let t = Instant::now();
    let (code, msg) = server_err(c.query_first::<i64, _>("SELECT COUNT(*) FROM item").await);
    assert_eq!(code, 1429, "{msg}");
    assert!(msg.contains("shard 2"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(2));
    let (code, msg) = server_err(
        c.query_drop("INSERT INTO item (id, note) VALUES (11, 'x')")
            .await,
    );
    assert_eq!(code, 1429, "{msg}");

    // Shards 0 and 1 keep answering during the outage, on this connection
    // and on a new one.
    let mut other = proxy.conn(prefix).await;
    for id in [0, 1, 3, 4, 6, 7] {
        assert_eq!(note(&mut c, id).await.unwrap(), Some(format!("row {id}")));
        assert_eq!(
            note(&mut other, id).await.unwrap(),
            Some(format!("row {id}"))
        );
    }
    assert_eq!(shard_state(&mut other, "2").await, "down");
    assert_eq!(shard_state(&mut other, "0").await, "up");
    let m = proxy.metrics();
    assert!(
        m.contains(&format!(
            "haoka_proxy_backend_up{{schema=\"{prefix}\",shard=\"2\",role=\"primary\",datasource=\"extra\"}} 0"
        )),
        "{m}"
    );

    // The shard comes back: the same proxy answers again by itself.
    extra.restart();
    let back = Instant::now();
    loop {
        match note(&mut c, 2).await {
            Ok(v) => {
                assert_eq!(v, Some("row 2".to_string()));
                break;
            }
            Err(e) => assert!(
                back.elapsed() < Duration::from_secs(5),
                "shard 2 not back 5 s after restart: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = back.elapsed();
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM item").await.unwrap();
    assert_eq!(n, Some(9));
    assert_eq!(shard_state(&mut other, "2").await, "up");
    println!("fail-fast slowest {slowest:?}; recovered {recovered:?} after restart");
    drop(c);
    drop(other);
    cleanup(&drops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_shard_fails_fast_after_one_connect_timeout() {
    let prefix = "haoka_flt_silent";
    let drops = main_shards(prefix).await;
    // Accepts TCP connections (the kernel does) but never greets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let proxy = ProxyProc::start_with_rules(
        Some(&rules(prefix, port)),
        "[pool]\nconnect_timeout_ms = 400\nhealth_check_interval_ms = 1000\n",
    );
    let mut c = proxy.conn(prefix).await;
    // The first attempt on the shard (a query, or the proxy's own start-up
    // work there) waits one connect timeout; from then on the breaker is
    // open and every query fails at once, naming the shard and the cause.
    let t = Instant::now();
    let (code, msg) = server_err(note(&mut c, 2).await);
    let first = t.elapsed();
    assert_eq!(code, 1429, "{msg}");
    assert!(
        msg.contains("shard 2") && msg.contains("timed out"),
        "{msg}"
    );
    assert!(first < Duration::from_secs(2), "{first:?}");
    let mut slowest = Duration::ZERO;
    for id in [5, 8, 2, 5] {
        let t = Instant::now();
        let (code, msg) = server_err(note(&mut c, id).await);
        slowest = slowest.max(t.elapsed());
        assert_eq!(code, 1429, "{msg}");
        assert!(
            msg.contains("is down") && msg.contains("timed out"),
            "{msg}"
        );
    }
    let second = slowest;
    assert!(
        second < Duration::from_millis(400),
        "breaker open: {second:?}"
    );
    assert_eq!(note(&mut c, 1).await.unwrap(), Some("row 1".to_string()));
    println!("silent shard: first query {first:?}, next {second:?}");
    drop(c);
    drop(silent);
    cleanup(&drops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_statement_is_killed_at_the_query_timeout() {
    let prefix = "haoka_flt_slow";
    let drops = main_shards(prefix).await;
    // Shard 2 is not used here; point it at the main server too.
    let mut c = direct(None).await;
    c.query_drop(format!("CREATE DATABASE IF NOT EXISTS {prefix}_s2"))
        .await
        .unwrap();
    let mut drops = drops;
    drops.push(format!("DROP DATABASE IF EXISTS {prefix}_s2"));
    let proxy = ProxyProc::start_with_rules(
        Some(&rules(prefix, 3306)),
        "[pool]\nquery_timeout_ms = 1000\n",
    );
    let mut slow = proxy.conn(prefix).await;
    let mut other = proxy.conn(prefix).await;
    let sleeper = tokio::spawn(async move {
        let t = Instant::now();
        let r = slow
            .query_first::<i64, _>("SELECT SLEEP(5) FROM item WHERE id = 1")
            .await;
        (t.elapsed(), r, slow)
    });
    // Another session is not held up meanwhile.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    assert_eq!(
        note(&mut other, 4).await.unwrap(),
        Some("row 4".to_string())
    );
    assert!(t.elapsed() < Duration::from_millis(500));
    let (took, r, mut slow) = sleeper.await.unwrap();
    let (code, msg) = server_err(r);
    assert_eq!(code, 1969, "{msg}");
    assert!(msg.contains("query timeout"), "{msg}");
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The client connection stays usable.
    assert_eq!(note(&mut slow, 1).await.unwrap(), Some("row 1".to_string()));
    // The statement was killed on the server, not left running.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left: Vec<String> = c
            .query(format!(
                "SELECT info FROM information_schema.processlist WHERE db = '{prefix}_s1' AND info LIKE 'SELECT SLEEP%'"
            ))
            .await
            .unwrap();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running on the shard: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = proxy.metrics();
    assert!(
        m.contains(&format!(
            "haoka_proxy_backend_query_timeouts_total{{schema=\"{prefix}\",shard=\"1\",role=\"primary\",datasource=\"main\"}} 1"
        )),
        "{m}"
    );
    println!("query timeout answered after {took:?}");
    drop(slow);
    drop(other);
    cleanup(&drops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_execution_time_hint_bounds_one_select() {
    let prefix = "haoka_flt_hint";
    let mut drops = main_shards(prefix).await;
    let mut c = direct(None).await;
    c.query_drop(format!("CREATE DATABASE IF NOT EXISTS {prefix}_s2"))
        .await
        .unwrap();
    drops.push(format!("DROP DATABASE IF EXISTS {prefix}_s2"));
    // No configured query timeout: only the hint limits the statement.
    let proxy = ProxyProc::start_with_rules(Some(&rules(prefix, 3306)), "");
    let mut s = proxy.conn(prefix).await;
    let t = Instant::now();
    let (code, msg) = server_err(
        s.query_first::<i64, _>(
            "SELECT /*+ MAX_EXECUTION_TIME(300) */ SLEEP(3) FROM item WHERE id = 1",
        )
        .await,
    );
    let took = t.elapsed();
    assert_eq!(code, 1969, "{msg}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // A prepared SELECT keeps its hint (read from its plan, not its text).
    let t = Instant::now();
    let (code, msg) = server_err(
        s.exec_first::<i64, _, _>(
            "SELECT /*+ MAX_EXECUTION_TIME(300) */ SLEEP(3) FROM item WHERE id = ?",
            (1,),
        )
        .await,
    );
    assert_eq!(code, 1969, "{msg}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // The limit does not stay with the session or its pooled connections.
    for _ in 0..3 {
        let slept: Option<i64> = s
            .query_first("SELECT SLEEP(0.5) FROM item WHERE id = 4")
            .await
            .unwrap();
        assert_eq!(slept, Some(0));
    }
    // A write is never cut short by the hint (MySQL applies it to SELECT only).
    s.query_drop(
        "UPDATE /*+ MAX_EXECUTION_TIME(100) */ item SET note = CONCAT(note, SLEEP(0.4)) WHERE id = 1",
    )
    .await
    .unwrap();
    println!("hinted statement answered after {took:?}");
    drop(s);
    cleanup(&drops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_shard_down_leaves_sharded_statements_working() {
    let prefix = "haoka_flt_gdown";
    let mut drops = main_shards(prefix).await;
    let mut c = direct(None).await;
    let s2 = format!("{prefix}_s2");
    c.query_drop(format!("CREATE DATABASE IF NOT EXISTS {s2}"))
        .await
        .unwrap();
    c.query_drop(format!(
        "CREATE TABLE {s2}.item (id BIGINT PRIMARY KEY, note VARCHAR(40) NOT NULL)"
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "INSERT INTO {s2}.item VALUES (2, 'row 2'), (5, 'row 5'), (8, 'row 8')"
    ))
    .await
    .unwrap();
    drops.push(format!("DROP DATABASE IF EXISTS {s2}"));
    let mut extra = MariadbInstance::start("gdown", &[]);
    extra.add_proxy_account().await;
    extra.exec(&[&format!("CREATE DATABASE {prefix}_g")]).await;
    let rules = item_rules_global_on(
        &[("main", 3306), ("extra", extra.port)],
        prefix,
        "extra",
        &(0..3)
            .map(|i| format!(r#"{{ datasource = "main", database = "{prefix}_s{i}" }}"#))
            .collect::<Vec<_>>(),
    );
    let proxy = ProxyProc::start_with_rules(
        Some(&rules),
        "[pool]\nconnect_timeout_ms = 1000\nhealth_check_interval_ms = 300\n",
    );
    let mut s = proxy.conn(prefix).await;
    let one: Option<i64> = s.query_first("SELECT 1 + 1").await.unwrap();
    assert_eq!(one, Some(2));

    extra.kill();
    // What needs the global shard fails fast, naming it ...
    let t = Instant::now();
    let (code, msg) = server_err(s.query_first::<i64, _>("SELECT 1 + 1").await);
    assert_eq!(code, 1429, "{msg}");
    assert!(
        msg.contains("shard global") && msg.contains(&format!("of schema {prefix}")),
        "{msg}"
    );
    assert!(!msg.contains(&format!("{prefix}_g")), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // ... and every data shard keeps answering, single-shard and scatter.
    for id in 0..9 {
        assert_eq!(note(&mut s, id).await.unwrap(), Some(format!("row {id}")));
    }
    let n: Option<i64> = s.query_first("SELECT COUNT(*) FROM item").await.unwrap();
    assert_eq!(n, Some(9));
    assert_eq!(shard_state(&mut s, "global").await, "down");

    extra.restart();
    let back = Instant::now();
    loop {
        match s.query_first::<i64, _>("SELECT 1 + 1").await {
            Ok(v) => {
                assert_eq!(v, Some(2));
                break;
            }
            Err(e) => assert!(
                back.elapsed() < Duration::from_secs(5),
                "global shard not back 5 s after restart: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(s);
    cleanup(&drops).await;
}
