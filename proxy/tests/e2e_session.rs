//! A client session through the proxy behaves as one MariaDB session would:
//! affected rows follow the client's CLIENT_FOUND_ROWS flag, FOUND_ROWS(),
//! ROW_COUNT(), user variables, CONNECTION_ID() / CURRENT_USER() /
//! DATABASE() answer for the proxy session, shared locks work, warnings and
//! errors belong to the session (never another's), KILL takes the proxy's own
//! session ids, SHOW GRANTS and errors speak in logical names. Text and
//! binary protocol. The sharded tables sbtest21, sbtest23..25 (one per test,
//! created here) and sbtest22 (sharded in the rules, never created) are this
//! suite's own.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::own_tables::sbtest_rules_with;
use e2e_common::*;
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};

/// Each test has its own table (the tests run in parallel).
const DDL: &str = "CREATE TABLE {t} (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    k INT NOT NULL DEFAULT 0,
    c VARCHAR(120) NOT NULL DEFAULT '',
    pad VARCHAR(60) NOT NULL DEFAULT ''
) ENGINE=InnoDB";

/// Rows on several shards (ids in blocks of 1000 go round the 8 shards).
const IDS: [i64; 6] = [1, 2, 1001, 2001, 3001, 7001];

const OTHER_USER: &str = "[[users]]\nname = \"other\"\npassword = \"other\"\n";

fn start() -> ProxyProc {
    let own = ["sbtest21", "sbtest22", "sbtest23", "sbtest24", "sbtest25"];
    ProxyProc::start_with_rules(Some(&sbtest_rules_with(&own)), OTHER_USER)
}

async fn conn_with(proxy: &ProxyProc, user: &str, found_rows: bool) -> Conn {
    let opts = OptsBuilder::from_opts(Opts::from_url(&proxy.url("sbtest")).unwrap())
        .user(Some(user))
        .pass(Some(user))
        .client_found_rows(found_rows);
    Conn::new(opts).await.expect("connect to the proxy")
}

async fn setup(proxy: &ProxyProc, t: &str) -> Conn {
    let mut c = proxy.conn("sbtest").await;
    c.query_drop(format!("DROP TABLE IF EXISTS {t}"))
        .await
        .unwrap();
    c.query_drop(DDL.replace("{t}", t)).await.unwrap();
    for id in IDS {
        c.exec_drop(
            format!("INSERT INTO {t} (id, k, c, pad) VALUES (?, 5, ?, 'x')"),
            (id, format!("c{id}")),
        )
        .await
        .unwrap();
    }
    c
}

async fn one<T: FromValue + Send + 'static>(c: &mut Conn, sql: &str) -> T {
    let v: Option<T> = c
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    v.unwrap_or_else(|| panic!("{sql}: no row"))
}

async fn one_exec<T: FromValue + Send + 'static>(c: &mut Conn, sql: &str) -> T {
    let v: Option<T> = c
        .exec_first(sql, ())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    v.unwrap_or_else(|| panic!("{sql}: no row"))
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_values_and_affected_rows() {
    let proxy = &start();
    let t = "sbtest21";
    let mut c = setup(proxy, t).await;

    // CLIENT_FOUND_ROWS: matched rows with it, changed rows without (one
    // shard, and several)
    for (found_rows, expect) in [(true, 2u64), (false, 0)] {
        let mut f = conn_with(proxy, USER, found_rows).await;
        for sql in [
            "UPDATE sbtest21 SET k = k WHERE id IN (1, 2)",
            "UPDATE sbtest21 SET k = k WHERE id IN (1, 1001)",
        ] {
            f.query_drop(sql).await.unwrap();
            assert_eq!(f.affected_rows(), expect, "{sql} found_rows={found_rows}");
            f.exec_drop(sql, ()).await.unwrap();
            assert_eq!(
                f.affected_rows(),
                expect,
                "prepared {sql} found_rows={found_rows}"
            );
        }
        f.query_drop("UPDATE sbtest21 SET k = k + 1 WHERE id IN (1, 2)")
            .await
            .unwrap();
        assert_eq!(f.affected_rows(), 2);
        assert_eq!(one::<i64>(&mut f, "SELECT ROW_COUNT()").await, 2);
        f.query_drop("UPDATE sbtest21 SET k = 5 WHERE id IN (1, 2)")
            .await
            .unwrap();
    }

    // CONNECTION_ID() is the handshake's id, the same in every statement
    let id = c.id() as i64;
    for _ in 0..3 {
        assert_eq!(one::<i64>(&mut c, "SELECT CONNECTION_ID()").await, id);
        assert_eq!(one_exec::<i64>(&mut c, "SELECT CONNECTION_ID()").await, id);
    }
    let got: Option<(i64, i64)> = c
        .query_first("SELECT CONNECTION_ID(), id FROM sbtest21 WHERE id = 1001")
        .await
        .unwrap();
    assert_eq!(got, Some((id, 1001)));
    assert_eq!(
        one::<String>(&mut c, "SELECT CURRENT_USER()").await,
        "haoka@%"
    );
    assert_eq!(
        one::<String>(&mut c, "SELECT USER()").await,
        "haoka@127.0.0.1"
    );
    assert_eq!(one::<String>(&mut c, "SELECT DATABASE()").await, "sbtest");
    assert_eq!(
        one_exec::<String>(&mut c, "SELECT SCHEMA()").await,
        "sbtest"
    );
    let row: mysql_async::Row = c.query_first("SELECT CURRENT_USER").await.unwrap().unwrap();
    assert_eq!(row.columns_ref()[0].name_str(), "CURRENT_USER");

    // FOUND_ROWS(): SQL_CALC_FOUND_ROWS across shards sums the shards'
    // counts; without it, the rows the last SELECT returned
    let r: Vec<i64> = c
        .query("SELECT SQL_CALC_FOUND_ROWS id FROM sbtest21 ORDER BY id LIMIT 2")
        .await
        .unwrap();
    assert_eq!(r, vec![1, 2]);
    assert_eq!(one::<i64>(&mut c, "SELECT FOUND_ROWS()").await, 6);
    let _: Vec<i64> = c
        .query("SELECT SQL_CALC_FOUND_ROWS id FROM sbtest21 WHERE id IN (1, 2) LIMIT 1")
        .await
        .unwrap();
    assert_eq!(one::<i64>(&mut c, "SELECT FOUND_ROWS()").await, 2);
    let _: Vec<i64> = c
        .query("SELECT id FROM sbtest21 WHERE k = 5")
        .await
        .unwrap();
    assert_eq!(one::<i64>(&mut c, "SELECT FOUND_ROWS()").await, 6);
    assert_eq!(one::<i64>(&mut c, "SELECT ROW_COUNT()").await, -1);
    let e = c
        .query_drop("SELECT SQL_CALC_FOUND_ROWS k, COUNT(*) FROM sbtest21 GROUP BY k LIMIT 1")
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1235), "{e}");

    // user variables: kept by the session, typed, usable for routing
    c.query_drop("SET @y := 7").await.unwrap();
    assert_eq!(one::<i64>(&mut c, "SELECT @y").await, 7);
    c.query_drop("SET @s = 'it''s C:\\\\new', @d = 1.50, @n = NULL")
        .await
        .unwrap();
    let got: Option<(String, String, Option<i64>)> =
        c.query_first("SELECT @s, @d, @n").await.unwrap();
    assert_eq!(got, Some(("it's C:\\new".into(), "1.50".into(), None)));
    assert_eq!(one::<i64>(&mut c, "SELECT @v := 30").await, 30);
    assert_eq!(one::<i64>(&mut c, "SELECT @v + @y").await, 37);
    c.query_drop("SET @id = 1001").await.unwrap();
    assert_eq!(
        one::<String>(&mut c, "SELECT c FROM sbtest21 WHERE id = @id").await,
        "c1001"
    );
    assert_eq!(
        one_exec::<String>(&mut c, "SELECT c FROM sbtest21 WHERE id = @id").await,
        "c1001"
    );
    c.query_drop("SET @y = @y + 1").await.unwrap();
    assert_eq!(one::<i64>(&mut c, "SELECT @y").await, 8);
    // a variable keeps its value when the session's sql_mode changes
    let mut m = proxy.conn("sbtest").await;
    m.query_drop(r"SET @p = 'a\\b'").await.unwrap();
    m.query_drop("SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        .await
        .unwrap();
    assert_eq!(one::<String>(&mut m, "SELECT @p").await, r"a\b");
    assert_eq!(
        one::<String>(&mut m, r"SELECT CONCAT(@p, '\')").await,
        r"a\b\"
    );
    // another session does not see them
    let mut other = proxy.conn("sbtest").await;
    assert_eq!(one::<Option<i64>>(&mut other, "SELECT @y").await, None);
    for sql in [
        "SELECT @r := id FROM sbtest21",
        "SELECT id INTO @r FROM sbtest21 WHERE id = 1",
        "SELECT 'w', @v + 1 INTO @w1, @w2",
    ] {
        let e = c.query_drop(sql).await.unwrap_err();
        assert_eq!(server_code(&e), Some(1235), "{sql}: {e}");
    }
    let e = c
        .query_drop("SET @r = (SELECT COUNT(*) FROM sbtest21)")
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1235), "{e}");

    // a session's SETs: a later SET of the same variable replaces the
    // earlier one (a pool may send it at every checkout)
    for n in 0..70 {
        c.query_drop(format!("SET SESSION wait_timeout = {}", 1000 + n))
            .await
            .unwrap();
    }
    assert_eq!(one::<i64>(&mut c, "SELECT @@wait_timeout").await, 1069);
    let e = c
        .query_drop("SET SESSION no_such_variable = 1")
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1193), "{e}");
    assert_eq!(one::<i64>(&mut c, "SELECT 1").await, 1);

    // shared and exclusive locks
    for clause in [
        "LOCK IN SHARE MODE",
        "FOR SHARE",
        "FOR UPDATE",
        "FOR UPDATE NOWAIT",
        "FOR UPDATE SKIP LOCKED",
    ] {
        let sql = format!("SELECT c FROM sbtest21 WHERE id = 1 {clause}");
        assert_eq!(one::<String>(&mut c, &sql).await, "c1", "{sql}");
        assert_eq!(one_exec::<String>(&mut c, &sql).await, "c1", "{sql}");
        let sql = format!("SELECT COUNT(*) FROM sbtest21 WHERE k = 5 {clause}");
        assert_eq!(one::<i64>(&mut c, &sql).await, 6, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_errors_belong_to_the_session() {
    let proxy = &start();
    let t = "sbtest23";
    let mut a = setup(proxy, t).await;
    let mut b = proxy.conn("sbtest").await;

    // one shard: the warning is A's, B sees none of it
    let _: Vec<i64> = a
        .query("SELECT CAST('secret_of_session_A' AS SIGNED) FROM sbtest23 WHERE id = 1")
        .await
        .unwrap();
    let wb: Vec<(String, u32, String)> = b.query("SHOW WARNINGS").await.unwrap();
    assert!(wb.is_empty(), "B sees {wb:?}");
    let wa: Vec<(String, u32, String)> = a.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(wa.len(), 1, "{wa:?}");
    assert_eq!(wa[0].1, 1292);
    assert!(wa[0].2.contains("secret_of_session_A"), "{wa:?}");
    assert_eq!(one::<i64>(&mut a, "SELECT @@warning_count").await, 1);
    assert_eq!(one::<i64>(&mut a, "SHOW COUNT(*) WARNINGS").await, 1);
    // a statement without tables keeps them (as in MariaDB)
    let _: Vec<i64> = a.query("SELECT 1").await.unwrap();
    assert_eq!(
        a.query::<(String, u32, String), _>("SHOW WARNINGS")
            .await
            .unwrap()
            .len(),
        1
    );

    // every shard: the client's EOF counts them all, SHOW WARNINGS lists them
    let r: Vec<i64> = a
        .query("SELECT CAST(pad AS SIGNED) FROM sbtest23")
        .await
        .unwrap();
    assert_eq!(r.len(), 6);
    assert_eq!(a.get_warnings(), 6);
    let wa: Vec<(String, u32, String)> = a.query("SHOW WARNINGS LIMIT 2").await.unwrap();
    assert_eq!(wa.len(), 2, "{wa:?}");
    let wa: Vec<(String, u32, String)> = a.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(wa.len(), 6, "{wa:?}");
    // prepared (binary rows): the session's own too
    let wa: Vec<(String, u32, String)> = a.exec("SHOW WARNINGS", ()).await.unwrap();
    assert_eq!(wa.len(), 6, "{wa:?}");
    let wb: Vec<(String, u32, String)> = b.exec("SHOW WARNINGS", ()).await.unwrap();
    assert!(wb.is_empty(), "B sees {wb:?}");
    // binary protocol
    let _: Vec<i64> = a
        .exec(
            "SELECT CAST(pad AS SIGNED) FROM sbtest23 WHERE id = ?",
            (2,),
        )
        .await
        .unwrap();
    assert_eq!(a.get_warnings(), 1);
    assert_eq!(one::<i64>(&mut a, "SELECT @@warning_count").await, 1);

    // an error (from a shard, and the proxy's own) shows in SHOW ERRORS
    let e = a
        .query_drop("SELECT nosuch FROM sbtest23 WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1054));
    let errs: Vec<(String, u32, String)> = a.query("SHOW ERRORS").await.unwrap();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].0.as_str(), errs[0].1), ("Error", 1054));
    assert_eq!(one::<i64>(&mut a, "SELECT @@error_count").await, 1);
    let wb: Vec<(String, u32, String)> = b.query("SHOW ERRORS").await.unwrap();
    assert!(wb.is_empty(), "B sees {wb:?}");
    let _ = a
        .query_drop("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    let errs: Vec<(String, u32, String)> = a.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].1, 1146);
    // a clean statement on a table clears them
    let _: Vec<i64> = a
        .query("SELECT id FROM sbtest23 WHERE id = 1")
        .await
        .unwrap();
    assert!(a
        .query::<(String, u32, String), _>("SHOW WARNINGS")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(one::<i64>(&mut a, "SELECT @@warning_count").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_errors_and_create_table_speak_logical_names() {
    let proxy = &start();
    let t = "sbtest24";
    let mut c = setup(proxy, t).await;
    let grants: Vec<String> = c.query("SHOW GRANTS").await.unwrap();
    assert!(
        grants.contains(&"GRANT ALL PRIVILEGES ON `sbtest`.* TO `haoka`@`%`".to_string()),
        "{grants:?}"
    );
    assert!(
        grants
            .iter()
            .all(|g| !g.contains("PASSWORD") && !g.contains("haoka_proxy")),
        "{grants:?}"
    );
    let same: Vec<String> = c.query("SHOW GRANTS FOR CURRENT_USER()").await.unwrap();
    assert_eq!(same, grants);
    let e = c.query_drop("SHOW GRANTS FOR other").await.unwrap_err();
    assert_eq!(server_code(&e), Some(1044), "{e}");

    // sbtest22 is in the rules but exists on no shard: the shard's error
    // names the logical database
    for sql in [
        "SELECT * FROM sbtest22 WHERE id = 1",
        "SELECT * FROM sbtest22",
        "UPDATE sbtest22 SET k = 1",
    ] {
        let e = c.query_drop(sql).await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("sbtest.sbtest22"), "{sql}: {msg}");
        assert!(!msg.contains("sbtest_s"), "{sql}: {msg}");
        let e = c.exec_drop(sql, ()).await.unwrap_err();
        assert!(!e.to_string().contains("sbtest_s"), "{sql}: {e}");
    }
    let (_, create): (String, String) = c
        .query_first("SHOW CREATE TABLE sbtest24")
        .await
        .unwrap()
        .unwrap();
    assert!(!create.contains("AUTO_INCREMENT="), "{create}");
    assert!(
        create.contains("AUTO_INCREMENT"),
        "the column keeps it: {create}"
    );
    assert!(!create.contains("sbtest_s"), "{create}");
}

/// Backend statements of the running test (on MariaDB directly) matching `marker`.
async fn backend_running(root: &mut Conn, marker: &str) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%{marker}%' AND INFO NOT LIKE '%PROCESSLIST%'"
    );
    one::<i64>(root, &sql).await
}

async fn wait_backend(root: &mut Conn, marker: &str, want: i64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if backend_running(root, marker).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_uses_proxy_session_ids() {
    let proxy = &start();
    let t = "sbtest25";
    let mut c = setup(proxy, t).await;
    let mut root = direct(None).await;

    // KILL QUERY from a second connection (what Ctrl-C / cancel() send),
    // one shard and all shards
    for (marker, sql, shards) in [
        (
            "kq_one",
            "SELECT SLEEP(20), 'kq_one' FROM sbtest25 WHERE id = 1",
            1,
        ),
        // the 5 shards holding rows sleep
        ("kq_all", "SELECT SLEEP(20), 'kq_all' FROM sbtest25", 5),
    ] {
        let mut victim = proxy.conn("sbtest").await;
        let victim_id = victim.id();
        let started = Instant::now();
        let run = tokio::spawn(async move {
            let r = victim.query_drop(sql).await;
            (r, victim)
        });
        assert!(
            wait_backend(&mut root, marker, shards).await,
            "{marker} never ran"
        );
        c.query_drop(format!("KILL QUERY {victim_id}"))
            .await
            .unwrap();
        let (r, mut victim) = run.await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{marker}: KILL QUERY did not cancel ({r:?})"
        );
        // what MariaDB answers a killed statement (drivers map it to a cancel)
        let e = r.expect_err("the statement was cancelled");
        assert_eq!(server_code(&e), Some(1317), "{marker}: {e}");
        assert!(
            wait_backend(&mut root, marker, 0).await,
            "{marker} still running"
        );
        // the session goes on
        assert_eq!(one::<i64>(&mut victim, "SELECT 1").await, 1);
    }

    // COM_PROCESS_KILL and unknown ids
    let e = c.query_drop("KILL QUERY 4000000000").await.unwrap_err();
    assert_eq!(server_code(&e), Some(1094), "{e}");
    // a backend thread id is no proxy session id
    let backend_id: i64 = one(&mut root, "SELECT CONNECTION_ID()").await;
    let e = c
        .query_drop(format!("KILL {backend_id}"))
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1094), "{e}");
    assert_eq!(one::<i64>(&mut root, "SELECT 1").await, 1);

    // only the session's own user may kill it; SHOW PROCESSLIST shows only
    // the user's own sessions
    let mut theirs = conn_with(proxy, "other", false).await;
    let theirs_id = theirs.id();
    let e = c.query_drop(format!("KILL {theirs_id}")).await.unwrap_err();
    assert_eq!(server_code(&e), Some(1095), "{e}");
    let list: Vec<(u64, String, String, Option<String>, String)> = c
        .query_map("SHOW PROCESSLIST", |r: mysql_async::Row| {
            (
                r.get::<u64, _>(0).unwrap(),
                r.get::<String, _>(1).unwrap(),
                r.get::<String, _>(2).unwrap(),
                r.get::<Option<String>, _>(3).unwrap(),
                r.get::<String, _>(4).unwrap(),
            )
        })
        .await
        .unwrap();
    let me = c.id() as u64;
    let binary: Vec<mysql_async::Row> = c.exec("SHOW FULL PROCESSLIST", ()).await.unwrap();
    assert_eq!(binary.len(), list.len());
    // the backend's own list (every session's backend threads) stays hidden
    let e = c
        .query_drop("SELECT * FROM information_schema.PROCESSLIST")
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1235), "{e}");
    assert!(
        list.iter()
            .any(|r| r.0 == me && r.1 == "haoka" && r.4 == "Query"),
        "{list:?}"
    );
    assert!(list.iter().all(|r| r.1 == "haoka"), "{list:?}");
    assert!(list.iter().all(|r| r.0 != theirs_id as u64), "{list:?}");

    // KILL CONNECTION ends the session
    let mut own = proxy.conn("sbtest").await;
    let own_id = own.id();
    c.query_drop(format!("KILL {own_id}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        own.query_drop("SELECT 1").await.is_err(),
        "killed session still answers"
    );
    assert_eq!(one::<i64>(&mut theirs, "SELECT 1").await, 1);

    // a client that disconnects mid-statement has it cancelled on the shards
    let mut leaving = proxy.conn("sbtest").await;
    let run = tokio::spawn(async move {
        let _ = leaving
            .query_drop("SELECT SLEEP(20), 'kq_gone' FROM sbtest25")
            .await;
    });
    assert!(wait_backend(&mut root, "kq_gone", 5).await, "never ran");
    run.abort();
    let _ = run.await;
    assert!(
        wait_backend(&mut root, "kq_gone", 0).await,
        "statements of a client that left still run"
    );
}
