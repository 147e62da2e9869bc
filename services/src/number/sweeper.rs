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
use super::transition::Action;
use crate::app::{AppState, Inner};
use crate::problem::ApiError;

/// Numbers handled per sweep and kind.
const BATCH: usize = 200;

pub fn spawn(app: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = app.upgrade() else { return };
            let state = AppState(inner);
            let every = Duration::from_millis(state.number.cfg.sweep_interval_ms.max(50));
            if let Err(e) = sweep(&state).await {
                tracing::warn!(error = %e, "number sweep failed");
            }
            drop(state);
            tokio::time::sleep(every).await;
        }
    });
}

/// One pass: expired holds, then aged frozen numbers. Returns how many moved.
pub async fn sweep(state: &AppState) -> Result<usize, ApiError> {
    let mut shelves = HashSet::new();
    let a = pass(state, Kind::ExpiredHold, &mut shelves).await?;
    let b = pass(state, Kind::Aged, &mut shelves).await?;
    state.number.announce(shelves);
    Ok(a + b)
}

#[derive(Clone, Copy)]
enum Kind {
    ExpiredHold,
    Aged,
}

async fn pass(
    state: &AppState,
    kind: Kind,
    shelves: &mut HashSet<ShelfKey>,
) -> Result<usize, ApiError> {
    let find = match kind {
        Kind::ExpiredHold => {
            "SELECT phone_no, province_code, city_code, pool_id, hold_key, hold_channel_id FROM phone_number \
             WHERE status = '04' AND hold_deadline < NOW(3) LIMIT 200"
        }
        Kind::Aged => {
            "SELECT phone_no, province_code, city_code, pool_id, hold_key, hold_channel_id FROM phone_number \
             WHERE status = '11' AND frozen_until < NOW(3) LIMIT 200"
        }
    };
    let mut c = state.db.conn().await?;
    type Due = (
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let due: Vec<Due> = c.query(find).await?;
    drop(c);
    let mut moved = 0;
    for (no, province, city, pool, key, channel) in due.into_iter().take(BATCH) {
        let mut tx = state.db.begin().await?;
        match kind {
            Kind::ExpiredHold => {
                tx.exec_drop(
                    "UPDATE phone_number SET status = '03', hold_key = NULL, hold_channel_id = NULL, \
                     hold_staff_id = NULL, hold_deadline = NULL, version = version + 1 \
                     WHERE phone_no = ? AND status = '04' AND hold_deadline < NOW(3) AND hold_key = ?",
                    (no.as_str(), key.as_deref().unwrap_or_default()),
                )
                .await?
            }
            Kind::Aged => {
                tx.exec_drop(
                    "UPDATE phone_number SET status = '03', frozen_until = NULL, version = version + 1 \
                     WHERE phone_no = ? AND status = '11' AND frozen_until < NOW(3)",
                    (no.as_str(),),
                )
                .await?
            }
        }
        if tx.affected_rows() != 1 {
            tx.rollback().await?;
            continue; // another sweeper (or the key holder) got there first
        }
        let (from, action) = match kind {
            Kind::ExpiredHold => (NumberStatus::Held, Action::Expire),
            Kind::Aged => (NumberStatus::Frozen, Action::Thaw),
        };
        history::write(
            &mut tx,
            &[Entry {
                phone_no: no.clone(),
                province: province.clone(),
                from: Some(from),
                to: NumberStatus::OnShelf,
                action,
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
