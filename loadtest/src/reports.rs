//! Report center benchmark (issue 16): a detail export of the whole number
//! stock to CSV and to XLSX through an in-process haoka-server (report
//! role), against `mariadb --quick -e 'SELECT ...'` straight on the shards
//! written to files in the same run; the server's peak RSS during each
//! export; and a status report over all provinces against the same GROUP
//! BY straight on the shards.

use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::Queryable;

use crate::numbers::Api;

/// The columns of the `number_detail` template, straight on a shard.
const DETAIL: &str = "phone_no, province_code, city_code, status, premium_level, pool_id, depot_id";

/// This process's resident set now, in KiB (the server runs in-process).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The baseline: one `mariadb --quick` per shard at once, each writing
/// its four split tables' rows to a file; rows written and seconds.
pub async fn mariadb_baseline(dir: &std::path::Path) -> anyhow::Result<(u64, f64)> {
    let t = Instant::now();
    let mut jobs = vec![];
    for shard in 0..8 {
        let sql = (0..4)
            .map(|k| format!("SELECT {DETAIL} FROM haoka_s{shard}.phone_number_{k}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let out = std::fs::File::create(dir.join(format!("baseline-s{shard}.tsv")))?;
        jobs.push(tokio::task::spawn_blocking(move || {
            std::process::Command::new("mariadb")
                .args([
                    "--quick",
                    "-N",
                    "-uroot",
                    "-h127.0.0.1",
                    "-P3306",
                    "-e",
                    &sql,
                ])
                .stdout(out)
                .status()
        }));
    }
    for j in jobs {
        anyhow::ensure!(j.await??.success(), "mariadb failed");
    }
    let secs = t.elapsed().as_secs_f64();
    let mut rows = 0u64;
    for shard in 0..8 {
        let f = std::fs::read(dir.join(format!("baseline-s{shard}.tsv")))?;
        rows += f.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok((rows, secs))
}

/// What one export took.
pub struct Exported {
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub peak_rss_mib: f64,
    pub rss_before_mib: f64,
}

/// Queues a `number_detail` export of every number and waits for it,
/// sampling the process's RSS every 20 ms.
pub async fn export(api: &Api, format: &str) -> anyhow::Result<Exported> {
    let before = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let t = Instant::now();
    let v: serde_json::Value = api
        .http
        .post(format!("{}/api/v1/reports", api.base))
        .bearer_auth(&api.token)
        .json(&serde_json::json!({"template": "number_detail", "format": format}))
        .send()
        .await?
        .json()
        .await?;
    let id = v["task_id"].as_i64().context("task id")?;
    let done = loop {
        let v: serde_json::Value = api
            .http
            .get(format!("{}/api/v1/reports/{id}", api.base))
            .bearer_auth(&api.token)
            .send()
            .await?
            .json()
            .await?;
        match v["status"].as_str() {
            Some("done") => break v,
            Some("failed") | Some("cancelled") => anyhow::bail!("export {id}: {v}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let seconds = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await?;
    Ok(Exported {
        rows: done["progress_rows"].as_u64().unwrap_or(0),
        bytes: done["byte_size"].as_u64().unwrap_or(0),
        seconds,
        peak_rss_mib: peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        rss_before_mib: before as f64 / 1024.0,
    })
}

/// The status report over all provinces through the API: rows and seconds.
pub async fn status_report(api: &Api) -> anyhow::Result<(usize, f64)> {
    let t = Instant::now();
    let v: serde_json::Value = api
        .http
        .get(format!(
            "{}/api/v1/reports/templates/number_status/stats",
            api.base
        ))
        .bearer_auth(&api.token)
        .send()
        .await?
        .json()
        .await?;
    let rows = v["rows"].as_array().context("rows")?.len();
    Ok((rows, t.elapsed().as_secs_f64()))
}

/// The same GROUP BY straight on the shards (all at once, merged here):
/// groups and seconds.
pub async fn status_baseline(direct: &mysql_async::Pool) -> anyhow::Result<(usize, f64)> {
    let t = Instant::now();
    let mut jobs = vec![];
    for shard in 0..8 {
        let direct = direct.clone();
        jobs.push(tokio::spawn(async move {
            let mut c = direct.get_conn().await?;
            let sql = format!(
                "SELECT province_code, city_code, pool_id, depot_id, premium_level, status, COUNT(*) \
                 FROM ({}) t GROUP BY 1, 2, 3, 4, 5, 6",
                (0..4)
                    .map(|k| format!(
                        "SELECT province_code, city_code, pool_id, depot_id, premium_level, status \
                         FROM haoka_s{shard}.phone_number_{k}"
                    ))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ")
            );
            type G = (String, String, Option<i64>, Option<i64>, u8, String, i64);
            let rows: Vec<G> = c.query(sql).await?;
            Ok::<_, anyhow::Error>(rows)
        }));
    }
    let mut groups = std::collections::BTreeSet::new();
    for j in jobs {
        for r in j.await?? {
            groups.insert((r.0, r.1, r.2, r.3, r.4, r.5));
        }
    }
    Ok((groups.len(), t.elapsed().as_secs_f64()))
}
