//! The copy: each moved table's rows of the province, in primary-key order,
//! a chunk at a time from the source to the target (upserts), throttled to
//! `rows_per_second`. After each chunk the position is saved (a restarted
//! proxy goes on from there) and a batch of captured changes is applied, so
//! the lag stays small while the copy runs.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::plan::{self, decode_key, encode_key, q};
use super::{at, capture, MoveCtx, ReshardError};

pub async fn run(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    let chunk = ctx.settings().chunk_rows.max(1);
    let rate = ctx.settings().rows_per_second;
    let started = Instant::now();
    let mut copied_here: u64 = 0;
    while ctx.mv.table_idx < ctx.tables.len() {
        let t = ctx.tables[ctx.mv.table_idx].clone();
        let mut after: Option<Vec<Value>> = ctx.mv.last_pk.as_deref().map(decode_key);
        loop {
            ctx.check_cancel()?;
            let mut params: Vec<Value> = vec![Value::from(ctx.mv.province.as_str())];
            let mut filter = format!("{} = ?", q(&t.province_col));
            if let Some(k) = &after {
                filter.push_str(&format!(" AND {}", t.pk_after()));
                params.extend(k.iter().cloned());
            }
            let sql = format!(
                "SELECT {} FROM {} WHERE {filter} ORDER BY {} LIMIT {chunk}",
                t.column_list(),
                q(&t.name),
                t.pk_list()
            );
            let src = ctx.source_name();
            let mut s = ctx.source.get_conn().await.map_err(at(&src))?;
            let rows: Vec<Row> = s.exec(sql, params).await.map_err(at(&src))?;
            drop(s);
            let n = rows.len();
            let rows: Vec<Vec<Value>> = rows.into_iter().map(Row::unwrap).collect();
            let positions = t.pk_positions();
            let last: Option<Vec<Value>> = rows
                .last()
                .map(|r| positions.iter().map(|&i| r[i].clone()).collect());
            let dst = ctx.target_name();
            let mut d = ctx.target.get_conn().await.map_err(at(&dst))?;
            capture::upsert(&mut d, &t, rows)
                .await
                .map_err(|e| ReshardError::Backend {
                    place: format!("{dst}, table {}", t.name),
                    source: e,
                })?;
            drop(d);
            if let Some(k) = last {
                ctx.mv.last_pk = Some(encode_key(&k));
                after = Some(k);
            }
            ctx.mv.rows_copied += n as u64;
            copied_here += n as u64;
            if n < chunk {
                ctx.mv.table_idx += 1;
                ctx.mv.last_pk = None;
            }
            plan::save(&ctx.global, &ctx.mv).await?;
            capture::apply_batch(ctx, capture::APPLY_BATCH).await?;
            if rate > 0 {
                let due = Duration::from_secs_f64(copied_here as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            if n < chunk {
                break;
            }
        }
    }
    Ok(())
}
