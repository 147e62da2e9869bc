//! Number center benchmarks over a large stock (default 2M numbers spread over
//! every city's first segments, all on shelf): selection through the API
//! (served by an in-process haoka-server on the local shelf cache) against the
//! equivalent SQL sent straight to the MariaDB shard; holds through the API
//! against the bare conditional UPDATE sent straight to the shard.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use haoka_services::app::{self, AppState};
use haoka_services::config::Config;
use haoka_services::domain::msisdn::Msisdn;
use haoka_services::number::premium;
use haoka_services::permission::seed;
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Segments of each city the bench stock uses (the lowest of the city's
/// lower half; the e2e tests draw from the upper half).
const SEGMENTS_PER_CITY: usize = 3;

/// One bench segment and where it lives.
#[derive(Debug, Clone)]
pub struct Seg {
    pub segment: u32,
    pub province: String,
    pub city: String,
    /// numbers: tails 0000..n-1
    pub n: u32,
}

/// The bench stock: `count` numbers over every city's first segments.
pub async fn plan(proxy: &Pool, count: u64) -> anyhow::Result<Vec<Seg>> {
    let mut c = proxy.get_conn().await?;
    let rows: Vec<(String, String, String)> = c
        .query("SELECT segment, province_code, city_code FROM segment ORDER BY segment")
        .await?;
    let mut by_city: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for (s, p, city) in rows {
        by_city.entry((p, city)).or_default().push(s.parse()?);
    }
    let segs = by_city.len() * SEGMENTS_PER_CITY;
    let n = count.div_ceil(segs as u64);
    anyhow::ensure!(n <= 10_000, "--count too large for {segs} segments");
    let mut out = Vec::new();
    for ((p, city), list) in by_city {
        anyhow::ensure!(
            list.len() >= 2 * SEGMENTS_PER_CITY,
            "city {city} has too few segments"
        );
        for s in &list[..SEGMENTS_PER_CITY] {
            out.push(Seg {
                segment: *s,
                province: p.clone(),
                city: city.clone(),
                n: n as u32,
            });
        }
    }
    Ok(out)
}

/// Loads the stock through the proxy (multi-row INSERTs the proxy splits by
/// shard and table); segments already complete are skipped.
pub async fn load(proxy: &Pool, segs: &[Seg], parallel: usize) -> anyhow::Result<u64> {
    let rules = Arc::new(premium::default_rules());
    let next = Arc::new(AtomicUsize::new(0));
    let segs = Arc::new(segs.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..parallel {
        let (proxy, rules, next, segs) = (proxy.clone(), rules.clone(), next.clone(), segs.clone());
        tasks.push(tokio::spawn(async move {
            let mut loaded = 0u64;
            let mut c = proxy.get_conn().await?;
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(s) = segs.get(i) else { break };
                let seg = s.segment.to_string();
                let have: Option<i64> = c
                    .exec_first(
                        "SELECT COUNT(*) FROM phone_number WHERE province_code = ? AND segment = ?",
                        (&s.province, &seg),
                    )
                    .await?;
                if have == Some(i64::from(s.n)) {
                    continue;
                }
                exec_retrying(
                    &mut c,
                    "DELETE FROM phone_number WHERE province_code = ? AND segment = ?",
                    vec![s.province.as_str().into(), seg.as_str().into()],
                )
                .await?;
                for start in (0..s.n).step_by(1000) {
                    let end = (start + 1000).min(s.n);
                    let mut params: Vec<Value> = Vec::new();
                    for t in start..end {
                        let no = Msisdn::parse(&format!("{seg}{t:04}"))?;
                        let level = premium::classify(&no, &s.province, &rules);
                        params.extend([
                            Value::from(no.as_str()),
                            Value::from(seg.as_str()),
                            Value::from(s.province.as_str()),
                            Value::from(s.city.as_str()),
                            Value::from(level),
                            Value::from(no.tail4()),
                        ]);
                    }
                    let marks = vec!["(?, ?, ?, ?, '03', ?, ?)"; (end - start) as usize].join(", ");
                    let sql = format!(
                        "INSERT INTO phone_number (phone_no, segment, province_code, city_code, status, \
                         premium_level, tail4) VALUES {marks}"
                    );
                    exec_retrying(&mut c, &sql, params).await?;
                    loaded += u64::from(end - start);
                }
            }
            Ok::<u64, anyhow::Error>(loaded)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total)
}

/// Runs a statement, again after a deadlock: parallel loaders into one
/// physical table can deadlock on index gaps, and the statement is all or
/// nothing (one distributed transaction when it spans shards).
async fn exec_retrying(
    c: &mut mysql_async::Conn,
    sql: &str,
    params: Vec<Value>,
) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match c.exec_drop(sql, params.clone()).await {
            Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < 5 => {
                attempt += 1;
            }
            other => return Ok(other?),
        }
    }
}

/// The shard database of each province, found by probing the shards directly.
pub async fn shard_dbs(direct: &Pool, segs: &[Seg]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut c = direct.get_conn().await?;
    let mut out = BTreeMap::new();
    for s in segs {
        if out.contains_key(&s.province) {
            continue;
        }
        let no = format!("{}0000", s.segment);
        for i in 0..8 {
            let db = format!("haoka_s{i}");
            let n: Option<i64> = c
                .exec_first(
                    format!(
                        "SELECT COUNT(*) FROM {db}.phone_number_{} WHERE phone_no = ?",
                        s.segment % 4
                    ),
                    (&no,),
                )
                .await?;
            if n == Some(1) {
                out.insert(s.province.clone(), db);
                break;
            }
        }
        anyhow::ensure!(
            out.contains_key(&s.province),
            "{no} not found on any shard (load first)"
        );
    }
    Ok(out)
}

/// An in-process haoka-server and a headquarters administrator's token.
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start_api(proxy_url: &str) -> anyhow::Result<Api> {
    start_api_with(proxy_url, &["permission", "number"], |_| {}).await
}

/// An in-process haoka-server serving `roles`, its config adjusted by `tweak`.
pub async fn start_api_with(
    proxy_url: &str,
    roles: &[&str],
    tweak: impl FnOnce(&mut Config),
) -> anyhow::Result<Api> {
    let mut key = [0u8; 32];
    rand::thread_rng().fill(&mut key);
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse()?,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        database_url: proxy_url.to_string(),
        seal_key: Some(key.iter().map(|b| format!("{b:02x}")).collect()),
        ..Config::default()
    };
    tweak(&mut cfg);
    let state = AppState::connect(cfg).await?;
    let password = "Bench-Admin-2024!";
    let staff_no = format!("bench{:08x}", rand::thread_rng().gen::<u32>());
    seed::create_admin(&state, &staff_no, Some(password.into()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app::serve(listener, state, async {
            let _ = rx.await;
        })
        .await;
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let v: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"staff_no": staff_no, "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = v["token"].as_str().context("login token")?.to_string();
    Ok(Api {
        base,
        token,
        http,
        _stop: tx,
    })
}

/// A selection query: API query string and the equivalent SQL condition.
#[derive(Debug, Clone)]
pub struct Query {
    pub api: String,
    pub sql_cond: String,
    pub params: Vec<String>,
    pub province: String,
}

pub fn random_query(rng: &mut StdRng, segs: &[Seg]) -> Query {
    let s = &segs[rng.gen_range(0..segs.len())];
    let base = format!(
        "province_code={}&city_code={}&page_size=20",
        s.province, s.city
    );
    let (api, cond, params) = match rng.gen_range(0..5) {
        0 => {
            let t = format!("{:02}", rng.gen_range(0..100));
            (format!("tail={t}"), "phone_no LIKE ?".to_string(), vec![format!("%{t}")])
        }
        1 => {
            let t = format!("{:03}", rng.gen_range(0..1000));
            (format!("contains={t}"), "SUBSTRING(phone_no, 4) LIKE ?".to_string(), vec![format!("%{t}%")])
        }
        2 => (
            "pattern=AABB".to_string(),
            "SUBSTRING(phone_no, 8, 1) = SUBSTRING(phone_no, 9, 1) AND SUBSTRING(phone_no, 10, 1) = \
             SUBSTRING(phone_no, 11, 1) AND SUBSTRING(phone_no, 9, 1) <> SUBSTRING(phone_no, 10, 1)"
                .to_string(),
            vec![],
        ),
        3 => {
            let l = rng.gen_range(3..=6);
            (format!("level={l}"), "premium_level = ?".to_string(), vec![l.to_string()])
        }
        _ => (
            "no4=true&tail=8".to_string(),
            "SUBSTRING(phone_no, 4) NOT LIKE '%4%' AND phone_no LIKE '%8'".to_string(),
            vec![],
        ),
    };
    let mut p = vec![s.province.clone(), s.city.clone()];
    p.extend(params);
    Query {
        api: format!("{base}&{api}"),
        sql_cond: cond,
        params: p,
        province: s.province.clone(),
    }
}

/// The direct SQL of a selection: the four split tables of the province's
/// shard, merged and cut to the page by MariaDB.
pub fn direct_sql(db: &str, q: &Query) -> (String, Vec<Value>) {
    let part = |t: usize| {
        format!(
            "SELECT phone_no FROM {db}.phone_number_{t} WHERE province_code = ? AND city_code = ? \
             AND status = '03' AND pool_id IS NULL AND {}",
            q.sql_cond
        )
    };
    let sql = format!(
        "SELECT phone_no FROM ({} UNION ALL {} UNION ALL {} UNION ALL {}) t ORDER BY phone_no LIMIT 20",
        part(0),
        part(1),
        part(2),
        part(3)
    );
    let params = (0..4)
        .flat_map(|_| q.params.iter().map(|p| Value::from(p.as_str())))
        .collect();
    (sql, params)
}

pub async fn api_select(api: &Api, q: &Query) -> anyhow::Result<Vec<String>> {
    let r = api
        .http
        .get(format!("{}/api/v1/numbers/select?{}", api.base, q.api))
        .bearer_auth(&api.token)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "select {}: {}", q.api, r.status());
    let v: serde_json::Value = r.json().await?;
    Ok(v["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|i| i["phone_no"].as_str().map(str::to_string))
        .collect())
}

/// Holds `no` through the API with key `bench-<no>`; true if it was won.
pub async fn api_hold(api: &Api, no: &str) -> anyhow::Result<bool> {
    let v: serde_json::Value = api
        .http
        .post(format!("{}/api/v1/numbers/{no}/hold", api.base))
        .bearer_auth(&api.token)
        .json(&serde_json::json!({"key_kind": "order_id", "key": format!("bench-{no}")}))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["code"] == "0000")
}

/// Throughput (ops/s) and latency percentiles of a closed-loop run.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub ops: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs `op(client, i)` from `clients` tasks for `time`; an op returns
/// whether it counted.
pub async fn closed_loop<F, Fut>(clients: usize, time: Duration, op: F) -> anyhow::Result<Measure>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<bool>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while start.elapsed() < time {
                let t = Instant::now();
                if op(client, i).await? {
                    lat.push(t.elapsed().as_micros() as u64);
                }
                i += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    Ok(Measure {
        ops: all.len() as u64,
        per_sec: all.len() as f64 / secs,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

/// Puts every bench hold back on the shelf and drops its history rows,
/// directly on the shards.
pub async fn reset_holds(direct: &Pool) -> anyhow::Result<()> {
    let mut c = direct.get_conn().await?;
    for i in 0..8 {
        for t in 0..4 {
            // Scans the table: may deadlock with other writers, so retried.
            let sql = format!(
                "UPDATE haoka_s{i}.phone_number_{t} SET status = '03', hold_key = NULL, hold_channel_id = NULL, \
                 hold_staff_id = NULL, hold_deadline = NULL WHERE status = '04' AND hold_key LIKE 'bench-%'"
            );
            exec_retrying(&mut c, &sql, Vec::new()).await?;
        }
        let sql = format!("DELETE FROM haoka_s{i}.number_history WHERE hold_key LIKE 'bench-%'");
        exec_retrying(&mut c, &sql, Vec::new()).await?;
    }
    Ok(())
}

/// (number, province).
pub type NumberIn = (String, String);

/// Distinct numbers for holds: tails from 3000 up of every bench segment,
/// shuffled; the first half for the direct baseline, the second for the API.
pub fn hold_numbers(segs: &[Seg], seed: u64) -> (Vec<NumberIn>, Vec<NumberIn>) {
    let mut all: Vec<NumberIn> = Vec::new();
    for s in segs {
        for t in 3000..s.n {
            all.push((format!("{}{t:04}", s.segment), s.province.clone()));
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..all.len()).rev() {
        let j = rng.gen_range(0..=i);
        all.swap(i, j);
    }
    let half = all.split_off(all.len() / 2);
    (all, half)
}
