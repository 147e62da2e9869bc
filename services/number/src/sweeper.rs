//! The sweeper: a task per process that returns expired holds (04) and aged
//! frozen numbers (11) to the shelf. Each number moves by a conditional UPDATE
//! that re-checks the deadline, so sweepers of several processes never move a
//! number twice, and its history row commits with it.

use std::collections::HashSet;
use std::sync::Weak;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::history::{self, Entry};
use super::shelf_cache::ShelfKey;
use super::status::NumberStatus;
use super::transition::{self, Door, Transition};
use crate::{NumberInner, NumberState};
use haoka_core::problem::ApiError;

/// Numbers handled per sweep and kind.
const BATCH: usize = 200;

pub fn spawn(app: Weak<NumberInner>) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = app.upgrade() else { return };
            let state = NumberState(inner);
            let every = Duration::from_millis(state.center.cfg.sweep_interval_ms.max(50));
            if let Err(e) = sweep(&state).await {
                tracing::warn!(error = %e, "number sweep failed");
            }
            drop(state);
            tokio::time::sleep(every).await;
        }
    });
}

/// One pass: expired holds, then aged frozen numbers. Returns how many moved.
pub async fn sweep(state: &NumberState) -> Result<usize, ApiError> {
    let mut shelves = HashSet::new();
    let a = pass(state, Kind::ExpiredHold, &mut shelves).await?;
    let b = pass(state, Kind::Aged, &mut shelves).await?;
    state.center.announce(shelves);
    Ok(a + b)
}

#[derive(Clone, Copy)]
enum Kind {
    ExpiredHold,
    Aged,
}

impl Kind {
    /// The table's transition for this kind (expiry and thawing are the
    /// system's doors).
    fn transition(self) -> Result<&'static Transition, ApiError> {
        let from = match self {
            Kind::ExpiredHold => NumberStatus::Held,
            Kind::Aged => NumberStatus::Frozen,
        };
        transition::check(from, NumberStatus::OnShelf, Door::System)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

async fn pass(
    state: &NumberState,
    kind: Kind,
    shelves: &mut HashSet<ShelfKey>,
) -> Result<usize, ApiError> {
    let t = kind.transition()?;
    let due_column = match kind {
        Kind::ExpiredHold => "hold_deadline",
        Kind::Aged => "frozen_until",
    };
    let find = format!(
        "SELECT phone_no, province_code, city_code, pool_id, hold_key, hold_channel_id FROM phone_number \
         WHERE status = ? AND {due_column} < NOW(3) LIMIT {BATCH}"
    );
    let mut c = state.db.conn().await?;
    type Due = (
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let due: Vec<Due> = c.exec(find, (t.from.code(),)).await?;
    drop(c);
    let mut moved = 0;
    for (no, province, city, pool, key, channel) in due.into_iter().take(BATCH) {
        let mut tx = state.db.begin().await?;
        match kind {
            Kind::ExpiredHold => {
                tx.exec_drop(
                    "UPDATE phone_number SET status = ?, hold_key = NULL, hold_channel_id = NULL, \
                     hold_staff_id = NULL, hold_deadline = NULL, held_at = NULL, version = version + 1 \
                     WHERE phone_no = ? AND status = ? AND hold_deadline < NOW(3) AND hold_key = ?",
                    (
                        t.to.code(),
                        no.as_str(),
                        t.from.code(),
                        key.as_deref().unwrap_or_default(),
                    ),
                )
                .await?
            }
            Kind::Aged => {
                tx.exec_drop(
                    "UPDATE phone_number SET status = ?, frozen_until = NULL, version = version + 1 \
                     WHERE phone_no = ? AND status = ? AND frozen_until < NOW(3)",
                    (t.to.code(), no.as_str(), t.from.code()),
                )
                .await?
            }
        }
        if tx.affected_rows() != 1 {
            tx.rollback().await?;
            continue; // another sweeper (or the key holder) got there first
        }
        history::write(
            &mut tx,
            &[Entry {
                phone_no: no.clone(),
                province: province.clone(),
                from: Some(t.from),
                to: t.to,
                action: t.action,
                hold_key: key,
                channel_id: channel,
                staff_id: None,
                detail: None,
            }],
        )
        .await?;
        tx.commit().await?;
        moved += 1;
        shelves.insert(ShelfKey {
            province,
            city,
            pool,
        });
    }
    Ok(moved)
}
