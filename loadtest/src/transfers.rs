//! 成卡调拨 benchmark: cross-province transfers end to end (request, relay,
//! target transaction, verdict back, source finished) against same-province
//! transfers (one local transaction) in the same run, through an in-process
//! haoka-server; plus the lag from the source commit to the target commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Value};
use rand::Rng;

use crate::numbers::{closed_loop, start_api_with, Api, Measure};

/// A fresh depot of the province's first city: (depot_id, city).
pub async fn depot(pool: &Pool, province: &str) -> anyhow::Result<(i64, String)> {
    let mut c = pool.get_conn().await?;
    let city: String = c
        .exec_first(
            "SELECT city_code FROM city WHERE province_code = ? ORDER BY city_code LIMIT 1",
            (province,),
        )
        .await?
        .context("the province has cities")?;
    c.exec_drop(
        "INSERT INTO depot (province_code, city_code, name, holds_numbers, holds_cards) \
         VALUES (?, ?, ?, 0, 1)",
        (
            province,
            &city,
            format!("bench transfers {}", rand::thread_rng().gen::<u32>()),
        ),
    )
    .await?;
    let id: i64 = c
        .query_first("SELECT LAST_INSERT_ID()")
        .await?
        .context("depot id")?;
    Ok((id, city))
}

/// `n` in-stock cards in the depot (random ICCIDs of prefix 898609).
pub async fn stock(
    pool: &Pool,
    province: &str,
    depot: &(i64, String),
    n: usize,
) -> anyhow::Result<()> {
    let mut c = pool.get_conn().await?;
    let mut rng = rand::thread_rng();
    let mut left = n;
    while left > 0 {
        let k = left.min(500);
        left -= k;
        let mut params: Vec<Value> = Vec::with_capacity(k * 4);
        for _ in 0..k {
            let body: String = (0..12)
                .map(|_| char::from(b'0' + rng.gen_range(0..10)))
                .collect();
            let payload = format!("898609{body}");
            let iccid = format!(
                "{payload}{}",
                haoka_services::card::iccid::luhn_digit(&payload)
            );
            params.extend([
                Value::from(iccid),
                province.into(),
                depot.1.as_str().into(),
                depot.0.into(),
            ]);
        }
        c.exec_drop(
            format!(
                "INSERT INTO sim_card (iccid, province_code, city_code, depot_id, card_type) VALUES {}",
                vec!["(?, ?, ?, ?, 'M')"; k].join(", ")
            ),
            params,
        )
        .await?;
    }
    Ok(())
}

pub async fn api(proxy_url: &str, poll_ms: u64, relay_passes: u32) -> anyhow::Result<Api> {
    start_api_with(proxy_url, &["permission", "card"], |cfg| {
        cfg.outbox.poll_interval_ms = poll_ms;
        cfg.outbox.relay_passes = relay_passes;
    })
    .await
}

async fn post(api: &Api, from: i64, to: i64, count: usize) -> anyhow::Result<serde_json::Value> {
    let r = api
        .http
        .post(format!("{}/api/v1/cards/transfers", api.base))
        .bearer_auth(&api.token)
        .json(&serde_json::json!({"from_depot_id": from, "to_depot_id": to, "count": count}))
        .send()
        .await?;
    let st = r.status();
    let v: serde_json::Value = r.json().await?;
    anyhow::ensure!(st.is_success(), "transfer refused: {st} {v}");
    Ok(v)
}

/// Same-province transfers: each client ping-pongs between its own two
/// depots (stock never runs out, clients do not contend): one local
/// transaction each.
pub async fn local(
    api: Arc<Api>,
    depots: Arc<Vec<(i64, i64)>>,
    time: Duration,
    per: usize,
) -> anyhow::Result<Measure> {
    closed_loop(depots.len(), time, move |client, i| {
        let (api, depots) = (api.clone(), depots.clone());
        async move {
            let (a, b) = depots[client];
            let (from, to) = if i.is_multiple_of(2) { (a, b) } else { (b, a) };
            let v = post(&api, from, to, per).await?;
            Ok(v["status"] == "done")
        }
    })
    .await
}

/// Cross-province transfers, each client from its own source depot to its
/// own target depot, each followed until its source row says done: the
/// latency is end to end. Returns the transfer ids too.
pub async fn cross(
    api: Arc<Api>,
    db: Pool,
    province: &str,
    depots: Arc<Vec<(i64, i64)>>,
    time: Duration,
    per: usize,
) -> anyhow::Result<(Measure, Vec<i64>)> {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let province = province.to_string();
    let m = {
        let ids = ids.clone();
        closed_loop(depots.len(), time, move |client, _| {
            let (api, db, ids, province, depots) = (
                api.clone(),
                db.clone(),
                ids.clone(),
                province.clone(),
                depots.clone(),
            );
            async move {
                let (from, to) = depots[client];
                let v = post(&api, from, to, per).await?;
                let id = v["transfer_id"].as_i64().context("transfer_id")?;
                let mut c = db.get_conn().await?;
                let t = Instant::now();
                loop {
                    let st: Option<String> = c
                        .exec_first(
                            "SELECT status FROM card_transfer WHERE province_code = ? AND transfer_id = ?",
                            (&province, id),
                        )
                        .await?;
                    match st.as_deref() {
                        Some("D") => break,
                        Some("P") if t.elapsed() < Duration::from_secs(60) => {
                            tokio::time::sleep(Duration::from_millis(5)).await
                        }
                        other => anyhow::bail!("transfer {id} ended as {other:?}"),
                    }
                }
                ids.lock().unwrap().push(id);
                Ok(true)
            }
        })
        .await?
    };
    let ids = ids.lock().unwrap().clone();
    Ok((m, ids))
}

/// Milliseconds from each transfer's source row (written in the source
/// transaction) to its cards' first history row on the target shard
/// (written in the target transaction): both stamped by the database.
pub async fn lags(db: &Pool, source: &str, target: &str, ids: &[i64]) -> anyhow::Result<Vec<f64>> {
    let mut c = db.get_conn().await?;
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut params: Vec<Value> = vec![source.into()];
        params.extend(chunk.iter().map(|i| Value::from(*i)));
        let rows: Vec<(i64, i64)> = c
            .exec(
                format!(
                    "SELECT transfer_id, CAST(UNIX_TIMESTAMP(created_at) * 1000000 AS SIGNED) \
                     FROM card_transfer WHERE province_code = ? AND transfer_id IN ({marks})"
                ),
                params,
            )
            .await?;
        for (id, started_us) in rows {
            let arrived: Option<i64> = c
                .exec_first(
                    "SELECT CAST(UNIX_TIMESTAMP(MIN(created_at)) * 1000000 AS SIGNED) FROM card_history \
                     WHERE province_code = ? AND action = 'transfer_in' AND detail LIKE ?",
                    (target, format!("transfer {id} from %")),
                )
                .await?;
            if let Some(a) = arrived {
                out.push((a - started_us) as f64 / 1000.0);
            }
        }
    }
    out.sort_by(|a, b| a.total_cmp(b));
    Ok(out)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}
