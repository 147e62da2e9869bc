//! Schema changes of the number center that tables made from an older
//! schema/ddl lack (run at start-up by `haoka_core::migrate`).

use haoka_core::db::Db;
use haoka_core::migrate::Change;
use haoka_core::problem::ApiError;

const CHANGES: &[Change] = &[Change {
    // issue 15: when a hold began, so extending it is capped in total.
    probe: "SELECT held_at FROM phone_number WHERE 1 = 0",
    ddl: "ALTER TABLE phone_number \
          ADD COLUMN held_at DATETIME(3) NULL \
          COMMENT 'when the current hold (04) began: extends are capped from here'",
}];

/// Applies the changes the schema lacks; returns how many it applied.
pub async fn ensure(db: &Db) -> Result<usize, ApiError> {
    haoka_core::migrate::ensure(db, "number", CHANGES).await
}
