//! Outbox backlog per province, for operators: what is still pending (and
//! since when) and what the relay gave up on.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use super::{OutboxError, OutboxStatus};

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ProvinceBacklog {
    pub province_code: String,
    pub pending: i64,
    pub failed: i64,
    /// Age of the oldest pending row in ms (None: nothing pending).
    pub oldest_pending_age_ms: Option<i64>,
}

/// Backlog of every province in `provinces` that has pending or failed rows,
/// ordered by province code. One scattered query (the shard key groups it).
pub async fn backlog(
    pool: &Pool,
    provinces: &[String],
) -> Result<Vec<ProvinceBacklog>, OutboxError> {
    if provinces.is_empty() {
        return Ok(Vec::new());
    }
    // The proxy merges the groups; an expression around an aggregate does not
    // cross shards, so the age comes as microseconds and is scaled here.
    let sql = format!(
        "SELECT province_code, status, COUNT(*), MAX(TIMESTAMPDIFF(MICROSECOND, created_at, NOW(3))) \
         FROM outbox WHERE province_code IN ({}) AND status IN (?, ?) \
         GROUP BY province_code, status",
        vec!["?"; provinces.len()].join(", ")
    );
    let mut params: Vec<mysql_async::Value> = provinces.iter().map(|p| p.as_str().into()).collect();
    params.push(OutboxStatus::Pending.code().into());
    params.push(OutboxStatus::Failed.code().into());
    let mut conn = pool.get_conn().await?;
    let rows: Vec<(String, String, i64, Option<i64>)> = conn.exec(sql, params).await?;
    let mut by_province: BTreeMap<String, ProvinceBacklog> = BTreeMap::new();
    for (province, status, n, oldest_us) in rows {
        let entry = by_province
            .entry(province.clone())
            .or_insert_with(|| ProvinceBacklog {
                province_code: province,
                ..Default::default()
            });
        match OutboxStatus::from_code(&status) {
            Some(OutboxStatus::Pending) => {
                entry.pending = n;
                entry.oldest_pending_age_ms = oldest_us.map(|us| us / 1000);
            }
            Some(OutboxStatus::Failed) => entry.failed = n,
            _ => {}
        }
    }
    Ok(by_province.into_values().collect())
}
