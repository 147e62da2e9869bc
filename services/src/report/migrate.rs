//! Columns the report tables of an older schema/ddl lack (issue 16: leases
//! for exactly-once runs, progress, de-duplication, retention), added at
//! start-up through the proxy the way the card center does it.

use crate::card::migrate::{apply, Change};
use crate::db::Db;
use crate::problem::ApiError;

const CHANGES: &[Change] = &[
    Change {
        probe: "SELECT owner, lease_until, progress_rows, request_key, attempts \
                FROM report_task WHERE 1 = 0",
        ddl: "ALTER TABLE report_task \
              ADD COLUMN owner VARCHAR(64) NULL COMMENT 'process running the task', \
              ADD COLUMN lease_until DATETIME(3) NULL COMMENT 'claimed again after this', \
              ADD COLUMN progress_rows BIGINT NOT NULL DEFAULT 0 COMMENT 'rows written so far', \
              ADD COLUMN request_key CHAR(64) NULL COMMENT 'sha256 of template, filters, format', \
              ADD COLUMN attempts INT NOT NULL DEFAULT 0 COMMENT 'claims so far'",
    },
    Change {
        probe: "SELECT expires_at FROM report_result WHERE 1 = 0",
        ddl: "ALTER TABLE report_result \
              ADD COLUMN expires_at DATETIME(3) NULL COMMENT 'the retention sweep removes the file then'",
    },
];

pub async fn ensure(db: &Db) -> Result<usize, ApiError> {
    apply(db, "report", CHANGES).await
}
