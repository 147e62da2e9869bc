//! The end of a move: COMPLETE deletes the province's rows from the source
//! (in chunks, after the switch); CANCEL (before the switch) removes the
//! capture and the rows copied to the target.

use mysql_async::prelude::Queryable;

use super::plan::{self, q, Phase};
use super::{at, capture, switch, MoveCtx, ReshardError};

/// Deletes the province's rows of every moved table on `pool`.
async fn delete_province(
    ctx: &MoveCtx,
    pool: &mysql_async::Pool,
    place: &str,
) -> Result<u64, ReshardError> {
    let chunk = ctx.settings().chunk_rows.max(1);
    let mut c = pool.get_conn().await.map_err(at(place))?;
    c.query_drop(capture::FENCE_BYPASS)
        .await
        .map_err(at(place))?;
    let mut total = 0;
    for t in &ctx.tables {
        loop {
            c.exec_drop(
                format!(
                    "DELETE FROM {} WHERE {} = ? LIMIT {chunk}",
                    q(&t.name),
                    q(&t.province_col)
                ),
                (ctx.mv.province.as_str(),),
            )
            .await
            .map_err(at(place))?;
            let n = c.affected_rows();
            total += n;
            if n < chunk as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// COMPLETE: the source's copy of the province goes away.
pub async fn complete(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    capture::remove(ctx).await?;
    let src = ctx.source_name();
    let source = ctx.source.clone();
    let n = delete_province(ctx, &source, &src).await?;
    tracing::info!(
        move_id = ctx.mv.id,
        rows = n,
        "source rows of the moved province deleted"
    );
    ctx.set_phase(Phase::Completed).await?;
    // The source rows are gone: statements stop excluding them.
    switch::refresh_copies(&ctx.shared, ctx.schema).await;
    Ok(())
}

/// CANCEL before the switch: clients never left the source.
pub async fn cancel(ctx: &mut MoveCtx) -> Result<(), ReshardError> {
    capture::remove(ctx).await?;
    let dst = ctx.target_name();
    let target = ctx.target.clone();
    delete_province(ctx, &target, &dst).await?;
    ctx.mv.phase = Phase::Cancelled;
    plan::save(&ctx.global, &ctx.mv).await?;
    switch::refresh_copies(&ctx.shared, ctx.schema).await;
    Ok(())
}
