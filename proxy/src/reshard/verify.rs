//! Verification before the switch: for each moved table, chunk by chunk of
//! primary keys, the row count and a CRC32 sum of every column of the
//! province's rows on the source and the target must agree. Clients keep
//! writing meanwhile, so a chunk that differs is checked again after the
//! captured changes are applied; one that still differs after `ATTEMPTS`
//! tries is checked once more with the source table read-locked and the
//! changes drained (writers of that table wait a few milliseconds), and a
//! difference then stops the move and names the table and key range.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::plan::{encode_key, q, TableInfo};
use super::{at, capture, MoveCtx, ReshardError};

const ATTEMPTS: usize = 4;

/// (rows, crc sum) of the province's rows with keys in (after, upto].
async fn checksum(
    pool: &mysql_async::Pool,
    place: &str,
    t: &TableInfo,
    province: &str,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
) -> Result<(u64, u64), ReshardError> {
    let cols: Vec<String> = t.columns.iter().map(|c| q(c)).collect();
    let nulls: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("ISNULL({})", q(c)))
        .collect();
    let mut filter = format!("{} = ?", q(&t.province_col));
    let mut params = vec![Value::from(province)];
    if let Some(k) = after {
        filter.push_str(&format!(" AND {}", t.pk_after()));
        params.extend(k.iter().cloned());
    }
    if let Some(k) = upto {
        filter.push_str(&format!(" AND {}", t.pk_upto()));
        params.extend(k.iter().cloned());
    }
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CRC32(CONCAT_WS(0x1f, {}, CONCAT({})))), 0) AS UNSIGNED) \
         FROM {} WHERE {filter}",
        cols.join(", "),
        nulls.join(", "),
        q(&t.name)
    );
    let mut c = pool.get_conn().await.map_err(at(place))?;
    let r: Option<(u64, u64)> = c.exec_first(sql, params).await.map_err(at(place))?;
    Ok(r.unwrap_or((0, 0)))
}

/// The key ending the chunk that starts after `after` on the source (None:
/// the rest of the table fits in one chunk).
async fn chunk_end(
    ctx: &MoveCtx,
    t: &TableInfo,
    after: Option<&[Value]>,
) -> Result<Option<Vec<Value>>, ReshardError> {
    let chunk = ctx.settings().chunk_rows.max(1);
    let mut filter = format!("{} = ?", q(&t.province_col));
    let mut params = vec![Value::from(ctx.mv.province.as_str())];
    if let Some(k) = after {
        filter.push_str(&format!(" AND {}", t.pk_after()));
        params.extend(k.iter().cloned());
    }
    let sql = format!(
        "SELECT {} FROM {} WHERE {filter} ORDER BY {} LIMIT 1 OFFSET {}",
        t.pk_list(),
        q(&t.name),
        t.pk_list(),
        chunk - 1
    );
    let src = ctx.source_name();
    let mut c = ctx.source.get_conn().await.map_err(at(&src))?;
    let r: Option<Row> = c.exec_first(sql, params).await.map_err(at(&src))?;
    Ok(r.map(Row::unwrap))
}

fn range_text(after: Option<&[Value]>, upto: Option<&[Value]>) -> String {
    let show = |k: Option<&[Value]>| {
        k.map(|k| {
            k.iter()
                .map(|v| v.as_sql(false))
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    format!(
        "({}, {}]",
        show(after).unwrap_or_else(|| "-inf".into()),
        show(upto).unwrap_or_else(|| "+inf".into())
    )
}

/// Source and target checksums of one chunk with the source table locked
/// for reads and every captured change applied: None when they agree.
async fn locked_check(
    ctx: &MoveCtx,
    t: &TableInfo,
    after: Option<&[Value]>,
    upto: Option<&[Value]>,
) -> Result<Option<((u64, u64), (u64, u64))>, ReshardError> {
    let src = ctx.source_name();
    let dst = ctx.target_name();
    let mut lock = ctx.source.get_conn().await.map_err(at(&src))?;
    lock.query_drop("SET SESSION lock_wait_timeout = 5")
        .await
        .map_err(at(&src))?;
    lock.query_drop(format!("LOCK TABLES {} READ", q(&t.name)))
        .await
        .map_err(at(&src))?;
    let r = async {
        while capture::apply_batch(ctx, capture::APPLY_BATCH).await? > 0 {}
        let s = checksum(&ctx.source, &src, t, &ctx.mv.province, after, upto).await?;
        let d = checksum(&ctx.target, &dst, t, &ctx.mv.province, after, upto).await?;
        Ok::<_, ReshardError>((s != d).then_some((s, d)))
    }
    .await;
    let unlocked = lock.query_drop("UNLOCK TABLES").await;
    let r = r?;
    unlocked.map_err(at(&src))?;
    Ok(r)
}

pub async fn run(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    let src = ctx.source_name();
    let dst = ctx.target_name();
    for t in ctx.tables.clone() {
        let mut after: Option<Vec<Value>> = None;
        loop {
            ctx.check_cancel()?;
            let upto = chunk_end(ctx, &t, after.as_deref()).await?;
            let mut last = None;
            for attempt in 0..ATTEMPTS {
                let s = checksum(
                    &ctx.source,
                    &src,
                    &t,
                    &ctx.mv.province,
                    after.as_deref(),
                    upto.as_deref(),
                )
                .await?;
                let d = checksum(
                    &ctx.target,
                    &dst,
                    &t,
                    &ctx.mv.province,
                    after.as_deref(),
                    upto.as_deref(),
                )
                .await?;
                if s == d {
                    last = None;
                    break;
                }
                last = Some((s, d));
                tracing::debug!(table = %t.name, attempt, "chunk differs; applying changes and checking again");
                capture::apply_batch(ctx, capture::APPLY_BATCH).await?;
                tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
            }
            if last.is_some() {
                last = locked_check(ctx, &t, after.as_deref(), upto.as_deref()).await?;
            }
            if let Some((s, d)) = last {
                return Err(ReshardError::Mismatch {
                    table: t.name.clone(),
                    range: range_text(after.as_deref(), upto.as_deref()),
                    source_rows: s.0,
                    source_crc: s.1,
                    target_rows: d.0,
                    target_crc: d.1,
                });
            }
            match upto {
                Some(k) => {
                    tracing::trace!(table = %t.name, upto = %encode_key(&k), "chunk verified");
                    after = Some(k);
                }
                None => break,
            }
        }
    }
    Ok(())
}
