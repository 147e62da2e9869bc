//! Schema changes of the card center that tables made from an older
//! schema/ddl lack (run at start-up by `haoka_core::migrate`).

use haoka_core::db::Db;
use haoka_core::migrate::Change;
use haoka_core::problem::ApiError;

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
    haoka_core::migrate::ensure(db, "card", CHANGES).await
}
