//! Online resharding against the real proxy binary and MariaDB: a province
//! moves from shard 0 to shard 2 of a private schema (its own shard and
//! global databases, created and dropped here) while writers keep
//! inserting, updating and deleting its rows through the proxy and a
//! reference database receives the same writes directly. Afterwards the
//! target holds exactly the reference's rows, COMPLETE empties the source,
//! and no writer saw an error. A second test kills the proxy during the copy
//! and checks that a new proxy resumes where it stopped; a third that a
//! checksum difference fails the move naming the table and key range, and
//! that CANCEL then undoes it.

mod e2e_common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_common::*;
use mysql_async::prelude::*;

const PROVINCE: &str = "36";

/// Database name prefix of one test run (two checkouts may run this suite
/// at once on the shared MariaDB).
fn unique(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}
const ADMIN: &str = "rsadmin";

fn rules(p: &str) -> String {
    format!(
        r#"version = 1
[[datasources]]
name = "main"
host = "127.0.0.1"
port = 3306

[[schemas]]
name = "{p}"
global_shard = {{ datasource = "main", database = "{p}_g" }}
shards = [
  {{ datasource = "main", database = "{p}_s0" }},
  {{ datasource = "main", database = "{p}_s1" }},
  {{ datasource = "main", database = "{p}_s2" }},
]

[schemas.province_shards]
"36" = 0
"31" = 0
"51" = 1

[[schemas.sharded]]
table = "rs_item"
shard_by = {{ column = "province_code", algorithm = "province" }}

[[schemas.sharded]]
table = "rs_hist"
shard_by = {{ column = "province_code", algorithm = "province" }}
split_by = {{ column = "item_id", algorithm = "mod", count = 2 }}
"#
    )
}

fn extra(rows_per_second: u64, chunk: usize) -> String {
    format!(
        r#"
[reshard]
rows_per_second = {rows_per_second}
chunk_rows = {chunk}
hold_limit_ms = 3000
poll_interval_ms = 500

[[users]]
name = "{ADMIN}"
password = "{ADMIN}"
admin = true
"#
    )
}

const ITEM: &str = "(id BIGINT NOT NULL PRIMARY KEY, province_code CHAR(2) NOT NULL, \
    v INT NOT NULL, note VARCHAR(40) NULL, KEY by_province (province_code))";
const HIST: &str = "(hist_id BIGINT NOT NULL PRIMARY KEY, province_code CHAR(2) NOT NULL, \
    item_id BIGINT NOT NULL, what VARCHAR(20) NOT NULL, KEY by_province (province_code))";

/// Creates `{p}_g`, `{p}_s0..2` and `{p}_ref`, seeds `seed` rows of the
/// moving province (and 300 of province 31) on shard 0 and in the reference.
async fn setup(p: &str, seed: i64) {
    let mut c = direct(None).await;
    drop_all(p).await;
    for db in ["g", "s0", "s1", "s2", "ref"] {
        c.query_drop(format!("CREATE DATABASE {p}_{db}"))
            .await
            .unwrap();
    }
    for s in ["s0", "s1", "s2"] {
        c.query_drop(format!("CREATE TABLE {p}_{s}.rs_item {ITEM}"))
            .await
            .unwrap();
        for split in 0..2 {
            c.query_drop(format!("CREATE TABLE {p}_{s}.rs_hist_{split} {HIST}"))
                .await
                .unwrap();
        }
    }
    c.query_drop(format!("CREATE TABLE {p}_ref.rs_item {ITEM}"))
        .await
        .unwrap();
    c.query_drop(format!("CREATE TABLE {p}_ref.rs_hist {HIST}"))
        .await
        .unwrap();
    let items: Vec<String> = (1..=seed)
        .map(|id| format!("({id}, '{PROVINCE}', 0, 'seed {id}')"))
        .chain((900_001..=900_300).map(|id| format!("({id}, '31', 0, 'stays')")))
        .collect();
    for chunk in items.chunks(500) {
        for db in ["s0", "ref"] {
            c.query_drop(format!(
                "INSERT INTO {p}_{db}.rs_item VALUES {}",
                chunk.join(",")
            ))
            .await
            .unwrap();
        }
    }
    for id in (1..=seed).step_by(2) {
        let row = format!("({}, '{PROVINCE}', {id}, 'seeded')", 10_000_000 + id);
        c.query_drop(format!(
            "INSERT INTO {p}_s0.rs_hist_{} VALUES {row}",
            id % 2
        ))
        .await
        .unwrap();
        c.query_drop(format!("INSERT INTO {p}_ref.rs_hist VALUES {row}"))
            .await
            .unwrap();
    }
}

async fn drop_all(p: &str) {
    let mut c = direct(None).await;
    for db in ["g", "s0", "s1", "s2", "ref"] {
        c.query_drop(format!("DROP DATABASE IF EXISTS {p}_{db}"))
            .await
            .unwrap();
    }
}

async fn admin(proxy: &ProxyProc, p: &str) -> mysql_async::Conn {
    let url = format!("mysql://{ADMIN}:{ADMIN}@127.0.0.1:{}/{p}", proxy.port);
    mysql_async::Conn::from_url(url)
        .await
        .unwrap_or_else(|e| panic!("admin connection: {e}\n{}", proxy.log()))
}

#[derive(Debug, Clone)]
struct MoveRow {
    phase: String,
    rows_copied: u64,
    rows_total: u64,
    lag: Option<u64>,
    pause_ms: Option<u64>,
    error: Option<String>,
    held: u64,
    held_timeouts: u64,
}

async fn show(c: &mut mysql_async::Conn, id: u64) -> MoveRow {
    let rows: Vec<mysql_async::Row> = c.query("SHOW HAOKA RESHARD").await.unwrap();
    let r = rows
        .into_iter()
        .find(|r| r.get::<String, _>("move_id").as_deref() == Some(&id.to_string()))
        .expect("the move is listed");
    let num = |name: &str| {
        r.get::<Option<String>, _>(name)
            .flatten()
            .and_then(|s| s.parse().ok())
    };
    MoveRow {
        phase: r.get::<String, _>("phase").unwrap(),
        rows_copied: num("rows_copied").unwrap(),
        rows_total: num("rows_total").unwrap(),
        lag: num("lag"),
        pause_ms: num("pause_ms"),
        error: r.get::<Option<String>, _>("error").flatten(),
        held: num("held_statements").unwrap(),
        held_timeouts: num("held_timeouts").unwrap(),
    }
}

async fn wait_phase(c: &mut mysql_async::Conn, id: u64, phase: &str, proxy: &ProxyProc) -> MoveRow {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let m = show(c, id).await;
        if m.phase == phase {
            return m;
        }
        assert!(
            m.phase != "failed" && m.phase != "cancelled",
            "move {id} ended as {m:?}\n{}",
            proxy.log()
        );
        assert!(
            Instant::now() < deadline,
            "move {id} not {phase} in time: {m:?}\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_move(c: &mut mysql_async::Conn, target: usize) -> u64 {
    let row: Option<mysql_async::Row> = c
        .query_first(format!(
            "ALTER HAOKA MOVE PROVINCE {PROVINCE} TO SHARD {target}"
        ))
        .await
        .unwrap();
    row.and_then(|r| r.get::<String, _>("move_id"))
        .and_then(|s| s.parse().ok())
        .expect("a move id")
}

type ItemRow = (i64, String, i64, Option<String>);

async fn items(db: &str, province: &str) -> Vec<ItemRow> {
    let mut c = direct(Some(db)).await;
    c.exec(
        "SELECT id, province_code, v, note FROM rs_item WHERE province_code = ? ORDER BY id",
        (province,),
    )
    .await
    .unwrap()
}

type HistRow = (i64, String, i64, String);

async fn hists(db: &str, tables: &[&str]) -> Vec<HistRow> {
    let mut c = direct(Some(db)).await;
    let mut out: Vec<HistRow> = Vec::new();
    for t in tables {
        let rows: Vec<HistRow> = c
            .exec(
                format!(
                    "SELECT hist_id, province_code, item_id, what FROM {t} WHERE province_code = ?"
                ),
                (PROVINCE,),
            )
            .await
            .unwrap();
        out.extend(rows);
    }
    out.sort();
    out
}

/// One writer: its own keys (seeded ids ≡ w mod 4 and new ids from its own
/// range); every statement goes to the proxy, then, if it succeeded, to the
/// reference database. Updates run as prepared statements (the binary
/// path), inserts and deletes as text queries.
async fn writer(
    w: i64,
    proxy: mysql_async::Pool,
    reference: mysql_async::Pool,
    seed: i64,
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    ops: Arc<AtomicU64>,
) {
    let mut rng = Rng::new(0x5eed + w as u64);
    let mut live: Vec<i64> = (1..=seed).filter(|id| id % 4 == w).collect();
    let mut next = 1_000_000 * (w + 1);
    let mut hist = 20_000_000 * (w + 1);
    let mut pc = proxy.get_conn().await.unwrap();
    let mut rc = reference.get_conn().await.unwrap();
    while !stop.load(Ordering::Relaxed) {
        let op = rng.range(0, 9);
        let result: Result<(), mysql_async::Error> = if op < 4 || live.is_empty() {
            next += 1;
            hist += 1;
            let a = format!(
                "INSERT INTO rs_item (id, province_code, v, note) VALUES ({next}, '{PROVINCE}', 0, 'w{w}')"
            );
            let b = format!(
                "INSERT INTO rs_hist (hist_id, province_code, item_id, what) VALUES ({hist}, '{PROVINCE}', {next}, 'new')"
            );
            match pc.query_drop(&a).await.and(Ok(())) {
                Ok(()) => {
                    rc.query_drop(&a).await.unwrap();
                    live.push(next);
                    match pc.query_drop(&b).await {
                        Ok(()) => {
                            rc.query_drop(&b).await.unwrap();
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        } else if op < 8 {
            let id = *rng.pick(&live);
            let sql = "UPDATE rs_item SET v = v + 1, note = CONCAT('u', v + 1) WHERE province_code = ? AND id = ?";
            match pc.exec_drop(sql, (PROVINCE, id)).await {
                Ok(()) => {
                    rc.exec_drop(sql, (PROVINCE, id)).await.unwrap();
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            let i = (rng.next_u64() % live.len() as u64) as usize;
            let id = live.swap_remove(i);
            let sql =
                format!("DELETE FROM rs_item WHERE province_code = '{PROVINCE}' AND id = {id}");
            match pc.query_drop(&sql).await {
                Ok(()) => {
                    rc.query_drop(&sql).await.unwrap();
                    Ok(())
                }
                Err(e) => {
                    live.push(id);
                    Err(e)
                }
            }
        };
        // A steady client load, not a saturating one (the machine is shared).
        tokio::time::sleep(Duration::from_millis(2)).await;
        match result {
            Ok(()) => {
                ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => errors.lock().unwrap().push(format!(
                "writer {w} (op {op}): {e} at {:?}",
                std::time::SystemTime::now()
            )),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_province_moves_while_writers_write_and_nothing_is_lost() {
    let p = &unique("haoka_rs_move");
    let seed = 3000;
    setup(p, seed).await;
    let proxy = ProxyProc::start_with_rules(Some(&rules(p)), &extra(3000, 200));
    let proxy_pool = proxy.pool(p).await;
    let ref_pool = mysql_async::Pool::new(format!("mysql://root@127.0.0.1:3306/{p}_ref").as_str());
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let ops = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(writer(
                w,
                proxy_pool.clone(),
                ref_pool.clone(),
                seed,
                stop.clone(),
                errors.clone(),
                ops.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut a = admin(&proxy, p).await;
    let id = start_move(&mut a, 2).await;
    // The copy runs while the writers write.
    let mut saw_copy = false;
    let deadline = Instant::now() + Duration::from_secs(240);
    let switched = loop {
        let m = show(&mut a, id).await;
        saw_copy |= m.phase == "copy" && m.rows_copied > 0;
        if m.phase == "switched" {
            break m;
        }
        assert!(m.phase != "failed", "{m:?}\n{}", proxy.log());
        assert!(
            Instant::now() < deadline,
            "not switched in time: {m:?}\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ops_at_switch = ops.load(Ordering::Relaxed);
    // Writes after the switch go to the target.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "writers saw errors: {errors:?}\nproxy log:\n{}",
        proxy.log()
    );
    let total_ops = ops.load(Ordering::Relaxed);
    eprintln!(
        "move {id}: {switched:?}; writer statements: {total_ops} ({ops_at_switch} before the switch)"
    );
    assert!(saw_copy, "the copy phase was observed");
    assert!(
        total_ops > ops_at_switch,
        "writes continued after the switch"
    );
    assert!(ops_at_switch > 100, "writers wrote during the move");
    assert!(switched.rows_total >= seed as u64);
    let after = show(&mut a, id).await;
    assert_eq!(
        after.held_timeouts, 0,
        "no statement was held past the limit"
    );
    eprintln!("statements held at the switch: {}", after.held);
    let pause = switched.pause_ms.expect("pause measured");
    assert!(pause < 3000, "pause {pause} ms within the hold limit");

    let target = items(&format!("{p}_s2"), PROVINCE).await;
    let reference = items(&format!("{p}_ref"), PROVINCE).await;
    let ids = |v: &[ItemRow]| v.iter().map(|r| r.0).collect::<BTreeSet<_>>();
    let lost: Vec<_> = ids(&reference).difference(&ids(&target)).copied().collect();
    let extra_rows: Vec<_> = ids(&target).difference(&ids(&reference)).copied().collect();
    assert!(lost.is_empty(), "rows lost on the target: {lost:?}");
    assert!(
        extra_rows.is_empty(),
        "rows on the target the reference lacks: {extra_rows:?}"
    );
    assert_eq!(target, reference, "target rows equal the reference");
    assert_eq!(
        hists(&format!("{p}_s2"), &["rs_hist_0", "rs_hist_1"]).await,
        hists(&format!("{p}_ref"), &["rs_hist"]).await,
        "history rows equal the reference"
    );

    // Through the proxy the province reads from its new shard.
    let mut pc = proxy.conn(p).await;
    let n: Option<i64> = pc
        .query_first(format!(
            "SELECT COUNT(*) FROM rs_item WHERE province_code = '{PROVINCE}'"
        ))
        .await
        .unwrap();
    assert_eq!(n, Some(reference.len() as i64));

    // COMPLETE: the old shard loses the province, keeps the others.
    let _: Vec<mysql_async::Row> = a
        .query(format!("ALTER HAOKA RESHARD {id} COMPLETE"))
        .await
        .unwrap();
    wait_phase(&mut a, id, "completed", &proxy).await;
    let s0 = format!("{p}_s0");
    assert!(items(&s0, PROVINCE).await.is_empty(), "source emptied");
    assert!(hists(&s0, &["rs_hist_0", "rs_hist_1"]).await.is_empty());
    assert_eq!(items(&s0, "31").await.len(), 300, "other provinces stay");
    let mut d = direct(None).await;
    let triggers = |like: &'static str| {
        let s0 = s0.clone();
        async move {
            let mut d = direct(None).await;
            let n: Option<i64> = d
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.TRIGGERS \
                     WHERE TRIGGER_SCHEMA = ? AND TRIGGER_NAME LIKE ?",
                    (s0, like),
                )
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(
        triggers("haoka\\_rs%").await,
        Some(0),
        "capture triggers removed"
    );
    assert_eq!(
        triggers("haoka\\_fence%").await,
        Some(9),
        "the old shard is fenced"
    );
    // A writer that still believes the old map (here: a direct write) is refused.
    let err = d
        .query_drop(format!(
            "INSERT INTO {s0}.rs_item VALUES (123456789, '{PROVINCE}', 0, 'stale')"
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("moved to shard 2"), "{err}");
    d.query_drop(format!(
        "INSERT INTO {s0}.rs_item VALUES (123456789, '31', 0, 'other')"
    ))
    .await
    .unwrap();
    drop(pc);
    drop(a);
    proxy_pool.disconnect().await.unwrap();
    ref_pool.disconnect().await.unwrap();
    drop(proxy);
    drop_all(p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_restart_during_the_copy_resumes_it() {
    let p = &unique("haoka_rs_resume");
    let seed = 3000;
    setup(p, seed).await;
    let slow = ProxyProc::start_with_rules(Some(&rules(p)), &extra(300, 50));
    let mut a = admin(&slow, p).await;
    let id = start_move(&mut a, 2).await;
    let before = loop {
        let m = show(&mut a, id).await;
        if m.rows_copied >= 300 {
            break m;
        }
        assert_eq!(m.phase, "copy", "{m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(a);
    drop(slow); // SIGKILL
                // While no proxy runs, the source still changes; the triggers record it.
    let s0 = format!("{p}_s0");
    let mut d = direct(Some(&s0)).await;
    d.query_drop(format!(
        "UPDATE rs_item SET v = 7 WHERE province_code = '{PROVINCE}' AND id % 10 = 0"
    ))
    .await
    .unwrap();
    d.query_drop(format!(
        "DELETE FROM rs_item WHERE province_code = '{PROVINCE}' AND id % 10 = 1"
    ))
    .await
    .unwrap();
    d.query_drop(format!(
        "INSERT INTO rs_item VALUES (5000001, '{PROVINCE}', 1, 'offline'), (3, '{PROVINCE}', 0, 'dup') \
         ON DUPLICATE KEY UPDATE note = 'changed offline'"
    ))
    .await
    .unwrap();

    let fast = ProxyProc::start_with_rules(Some(&rules(p)), &extra(0, 200));
    let mut a = admin(&fast, p).await;
    let resumed = show(&mut a, id).await;
    assert!(
        resumed.rows_copied >= before.rows_copied,
        "the copy goes on from its saved position: {before:?} then {resumed:?}"
    );
    let done = wait_phase(&mut a, id, "switched", &fast).await;
    eprintln!("before the kill {before:?}; after the restart {done:?}");
    assert!(
        done.rows_copied <= done.rows_total + 200,
        "rows were not copied again from the start: {done:?}"
    );
    assert_eq!(done.error, None);
    assert_eq!(done.lag, Some(0));
    assert_eq!(
        items(&format!("{p}_s2"), PROVINCE).await,
        items(&s0, PROVINCE).await,
        "the target equals the source"
    );
    let mut pc = fast.conn(p).await;
    let note: Option<String> = pc
        .query_first(format!(
            "SELECT note FROM rs_item WHERE province_code = '{PROVINCE}' AND id = 3"
        ))
        .await
        .unwrap();
    assert_eq!(note.as_deref(), Some("changed offline"));
    drop(pc);
    drop(a);
    drop(fast);
    drop_all(p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksum_mismatch_stops_the_move_and_cancel_undoes_it() {
    let p = &unique("haoka_rs_bad");
    setup(p, 1000).await;
    // A row of the province only the target has: the copy never removes it.
    let mut d = direct(None).await;
    d.query_drop(format!(
        "INSERT INTO {p}_s2.rs_item VALUES (777777, '{PROVINCE}', 0, 'stray')"
    ))
    .await
    .unwrap();
    let proxy = ProxyProc::start_with_rules(Some(&rules(p)), &extra(0, 100));

    // Only admin users may move provinces; bad targets are refused by name.
    let mut plain = proxy.conn(p).await;
    let err = plain
        .query_drop(format!("ALTER HAOKA MOVE PROVINCE {PROVINCE} TO SHARD 2"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("admin"), "{err}");
    let mut a = admin(&proxy, p).await;
    for (sql, want) in [
        (
            "ALTER HAOKA MOVE PROVINCE 36 TO SHARD 9",
            "shard 9 does not exist",
        ),
        (
            "ALTER HAOKA MOVE PROVINCE 36 TO SHARD 0",
            "on shard 0 already",
        ),
        ("ALTER HAOKA MOVE PROVINCE 99 TO SHARD 1", "not in schema"),
        ("ALTER HAOKA RESHARD 12345 COMPLETE", "no move 12345"),
    ] {
        let err = a.query_drop(sql).await.unwrap_err().to_string();
        assert!(err.contains(want), "{sql}: {err}");
    }

    let id = start_move(&mut a, 2).await;
    let failed = wait_phase(&mut a, id, "failed", &proxy).await;
    let error = failed.error.clone().unwrap_or_default();
    assert!(
        error.contains("checksum mismatch in table rs_item") && error.contains("keys ("),
        "the error names the table and key range: {failed:?}"
    );
    // Clients never left the source: the province still answers there.
    let n: Option<i64> = plain
        .query_first(format!(
            "SELECT COUNT(*) FROM rs_item WHERE province_code = '{PROVINCE}'"
        ))
        .await
        .unwrap();
    assert_eq!(n, Some(1000));

    let _: Vec<mysql_async::Row> = a
        .query(format!("ALTER HAOKA RESHARD {id} CANCEL"))
        .await
        .unwrap();
    wait_phase(&mut a, id, "cancelled", &proxy).await;
    assert!(items(&format!("{p}_s2"), PROVINCE).await.is_empty());
    assert_eq!(items(&format!("{p}_s0"), PROVINCE).await.len(), 1000);
    let triggers: Option<i64> = d
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?",
            (format!("{p}_s0"),),
        )
        .await
        .unwrap();
    assert_eq!(triggers, Some(0), "capture triggers removed");
    drop(plain);
    drop(a);
    drop(proxy);
    drop_all(p).await;
}

/// The reads compared between a proxy and the reference database: none
/// names the province, so every one reaches the old shard of the moved
/// province (and its new one). Each runs as a text query and, with its
/// literals as parameters, as a prepared statement (the binary protocol).
const SCATTER_READS: &[(&str, &str, &[i64])] = &[
    (
        "SELECT COUNT(*), 0 FROM rs_item",
        "SELECT COUNT(*), ? FROM rs_item",
        &[0],
    ),
    (
        "SELECT province_code, COUNT(*), MAX(id) FROM rs_item WHERE v >= 0 GROUP BY province_code ORDER BY province_code",
        "SELECT province_code, COUNT(*), MAX(id) FROM rs_item WHERE v >= ? GROUP BY province_code ORDER BY province_code",
        &[0],
    ),
    (
        "SELECT i.province_code, COUNT(*), MIN(h.hist_id) FROM rs_item i JOIN rs_hist h \
         ON h.province_code = i.province_code AND h.item_id = i.id \
         GROUP BY i.province_code ORDER BY i.province_code",
        "SELECT i.province_code, COUNT(*), MIN(h.hist_id) FROM rs_item i JOIN rs_hist h \
         ON h.province_code = i.province_code AND h.item_id = i.id WHERE i.v > ? \
         GROUP BY i.province_code ORDER BY i.province_code",
        &[-1],
    ),
    (
        "SELECT COUNT(*), MAX(item_id) FROM rs_hist WHERE what <> 'x' OR item_id < 0",
        "SELECT COUNT(*), MAX(item_id) FROM rs_hist WHERE what <> 'x' OR item_id < ?",
        &[0],
    ),
    (
        "SELECT id, province_code, v FROM rs_item ORDER BY v DESC, id DESC LIMIT 7",
        "SELECT id, province_code, v FROM rs_item ORDER BY v DESC, id DESC LIMIT ?",
        &[7],
    ),
];

/// Three columns of every read above, as text (NULL as "NULL").
type Rows = Vec<Vec<String>>;

fn texts(rows: Vec<mysql_async::Row>) -> Rows {
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i) {
                    Some(mysql_async::Value::NULL) | None => "NULL".to_string(),
                    Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(mysql_async::Value::Int(v)) => v.to_string(),
                    Some(mysql_async::Value::UInt(v)) => v.to_string(),
                    Some(other) => format!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

/// Every scatter read through `pc` equals the reference's, text and binary.
async fn reads_equal(pc: &mut mysql_async::Conn, rc: &mut mysql_async::Conn, stage: &str) {
    for (text, prepared, params) in SCATTER_READS {
        let want = texts(rc.query(*text).await.unwrap());
        let got = texts(pc.query(*text).await.unwrap());
        assert_eq!(got, want, "{stage}: {text}");
        let params: Vec<mysql_async::Value> = params.iter().map(|p| (*p).into()).collect();
        let want = texts(rc.exec(*prepared, params.clone()).await.unwrap());
        let got = texts(pc.exec(*prepared, params).await.unwrap());
        assert_eq!(got, want, "{stage} (prepared): {prepared}");
    }
}

/// Scatter writes without a province condition: the same affected rows as
/// the reference (text and binary), then the same rows.
async fn writes_equal(pc: &mut mysql_async::Conn, rc: &mut mysql_async::Conn, round: i64) {
    for sql in [
        format!("UPDATE rs_item SET v = v + 1 WHERE id % 3 = {}", round % 3),
        format!("UPDATE rs_item SET note = 'round {round}'"),
        format!("DELETE FROM rs_item WHERE id % 13 = {round}"),
        format!("DELETE FROM rs_hist WHERE item_id % 17 = {round}"),
    ] {
        rc.query_drop(&sql).await.unwrap();
        let want = rc.affected_rows();
        pc.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(pc.affected_rows(), want, "affected rows of {sql}");
        assert!(want > 0, "{sql} changes rows");
    }
    for (sql, params) in [
        (
            "UPDATE rs_item SET v = v + ? WHERE id % 5 = ?",
            vec![2, round % 5],
        ),
        ("DELETE FROM rs_item WHERE id % ? = ?", vec![19, round]),
    ] {
        rc.exec_drop(sql, params.clone()).await.unwrap();
        let want = rc.affected_rows();
        pc.exec_drop(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql} (prepared): {e}"));
        assert_eq!(
            pc.affected_rows(),
            want,
            "affected rows of {sql} (prepared)"
        );
        assert!(want > 0, "{sql} changes rows");
    }
}

/// The physical statement EXPLAIN shows for `sql` on `shard`.
async fn physical(pc: &mut mysql_async::Conn, sql: &str, shard: usize) -> Vec<String> {
    let rows: Vec<(String, String, String)> = pc.query(format!("EXPLAIN {sql}")).await.unwrap();
    rows.into_iter()
        .filter(|r| r.0 == shard.to_string())
        .map(|r| r.2)
        .collect()
}

/// Waits until `pred` holds for the physical statements of `sql` on `shard`.
async fn wait_physical(
    pc: &mut mysql_async::Conn,
    sql: &str,
    shard: usize,
    what: &str,
    proxy: &ProxyProc,
    pred: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = physical(pc, sql, shard).await;
        if pred(&p) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {p:?}\n{}", proxy.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Between the switch and COMPLETE the old shard still holds the moved
/// province's rows; a statement that does not name the province (a scatter
/// read, a GROUP BY, a join, an UPDATE or DELETE without a province
/// condition) must see each row once — on the proxy that drove the move and
/// on another one sharing the global shard — and the old shard's fences must
/// not fail it; after COMPLETE too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_not_naming_a_moved_province_see_its_rows_once() {
    let p = &unique("haoka_rs_scatter");
    setup(p, 600).await;
    let proxy = ProxyProc::start_with_rules(Some(&rules(p)), &extra(0, 200));
    let other = ProxyProc::start_with_rules(Some(&rules(p)), &extra(0, 200));
    let mut pc = proxy.conn(p).await;
    let mut oc = other.conn(p).await;
    let mut rc = direct(Some(&format!("{p}_ref"))).await;
    // a province on another shard, with history rows
    for id in 800_001..=800_040 {
        for sql in [
            format!(
                "INSERT INTO rs_item VALUES ({id}, '51', {}, 'other')",
                id % 4
            ),
            format!(
                "INSERT INTO rs_hist VALUES ({}, '51', {id}, 'h')",
                id + 1_000_000
            ),
        ] {
            pc.query_drop(&sql).await.unwrap();
            rc.query_drop(&sql).await.unwrap();
        }
    }
    reads_equal(&mut pc, &mut rc, "before the move").await;

    let mut a = admin(&proxy, p).await;
    let id = start_move(&mut a, 2).await;
    wait_phase(&mut a, id, "switched", &proxy).await;
    let count = "SELECT COUNT(*) FROM rs_item";
    let excluded =
        |v: &[String]| v.len() == 1 && v[0].contains("`rs_item`.`province_code` NOT IN ('36')");
    // the other proxy adopts the switch (and the stale rows) at its next poll
    wait_physical(
        &mut oc,
        &format!("SELECT * FROM rs_item WHERE province_code = '{PROVINCE}'"),
        2,
        "the other proxy routes the province to its new shard",
        &other,
        |v| v.len() == 1,
    )
    .await;
    reads_equal(&mut pc, &mut rc, "switched").await;
    reads_equal(&mut oc, &mut rc, "switched, other proxy").await;
    writes_equal(&mut pc, &mut rc, 1).await;
    writes_equal(&mut oc, &mut rc, 2).await;
    reads_equal(&mut pc, &mut rc, "switched, after scatter writes").await;
    reads_equal(
        &mut oc,
        &mut rc,
        "switched, after scatter writes, other proxy",
    )
    .await;
    // what the shards were sent: the exclusion on the old shard only
    for c in [&mut pc, &mut oc] {
        let on0 = physical(c, count, 0).await;
        assert!(
            excluded(&on0),
            "the old shard excludes the province: {on0:?}"
        );
        assert_eq!(
            physical(c, count, 2).await,
            ["SELECT COUNT(*) FROM `rs_item`"],
            "the new shard's statement is unchanged"
        );
    }
    // the stale rows were not touched (the fences would have refused it)
    assert_eq!(
        items(&format!("{p}_s2"), PROVINCE).await,
        items(&format!("{p}_ref"), PROVINCE).await
    );

    let _: Vec<mysql_async::Row> = a
        .query(format!("ALTER HAOKA RESHARD {id} COMPLETE"))
        .await
        .unwrap();
    wait_phase(&mut a, id, "completed", &proxy).await;
    assert!(items(&format!("{p}_s0"), PROVINCE).await.is_empty());
    // no exclusion any more, in either proxy: the plain statement again
    assert_eq!(
        physical(&mut pc, count, 0).await,
        ["SELECT COUNT(*) FROM `rs_item`"]
    );
    wait_physical(
        &mut oc,
        count,
        0,
        "the other proxy stops excluding after COMPLETE",
        &other,
        |v| v == ["SELECT COUNT(*) FROM `rs_item`"],
    )
    .await;
    reads_equal(&mut pc, &mut rc, "completed").await;
    reads_equal(&mut oc, &mut rc, "completed, other proxy").await;
    writes_equal(&mut pc, &mut rc, 3).await;
    writes_equal(&mut oc, &mut rc, 4).await;
    reads_equal(&mut pc, &mut rc, "completed, after scatter writes").await;
    assert_eq!(
        items(&format!("{p}_s2"), PROVINCE).await,
        items(&format!("{p}_ref"), PROVINCE).await
    );
    drop((pc, oc, rc, a));
    drop(other);
    drop(proxy);
    drop_all(p).await;
}
