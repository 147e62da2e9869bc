//! Schema changes of the card center that tables made from an older
//! schema/ddl lack (run at start-up by `crate::migrate`).

use crate::db::Db;
use crate::migrate::Change;
use crate::problem::ApiError;

const CHANGES: &[Change] = &[Change {
    // issue 14: who occupied a card.
    probe: "SELECT occupied_channel_id, occupied_staff_id FROM sim_card WHERE 1 = 0",
    ddl: "ALTER TABLE sim_card \
          ADD COLUMN occupied_channel_id BIGINT NULL \
          COMMENT '成卡占用 by this channel (only it activates or returns the card)', \
          ADD COLUMN occupied_staff_id BIGINT NULL \
          COMMENT '成卡占用 by this staff member (only they activate or return the card)'",
}];

/// Applies the changes the schema lacks; returns how many it applied.
pub async fn ensure(db: &Db) -> Result<usize, ApiError> {
    crate::migrate::ensure(db, "card", CHANGES).await
}
