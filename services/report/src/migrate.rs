//! Columns the report tables of an older schema/ddl lack (issue 16: leases
//! for exactly-once runs, progress, de-duplication, retention), and the
//! index on number_history's time the daily statistics read by, added at
//! start-up through the proxy by `haoka_core::migrate`.

use haoka_core::db::Db;
use haoka_core::migrate::Change;
use haoka_core::problem::ApiError;

const CHANGES: &[Change] = &[
    Change {
        probe: "SELECT store_key FROM report_task WHERE 1 = 0",
        ddl: "ALTER TABLE report_task \
              ADD COLUMN store_key VARCHAR(255) NULL COMMENT 'the file store its runner must write to'",
    },
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
    Change {
        // Scheduled reports are template rows of their own: a built-in
        // template (`base_code`) with filters, a format and a daily time.
        probe: "SELECT base_code, schedule_utc, schedule_format, schedule_params, schedule_owner, \
                schedule_province, last_run_day FROM report_template WHERE 1 = 0",
        ddl: "ALTER TABLE report_template \
              ADD COLUMN base_code VARCHAR(32) NULL COMMENT 'a schedule: the built-in template it runs', \
              ADD COLUMN schedule_utc CHAR(5) NULL COMMENT 'a schedule: daily at HH:MM UTC', \
              ADD COLUMN schedule_format VARCHAR(8) NULL COMMENT 'a schedule: csv or xlsx', \
              ADD COLUMN schedule_params TEXT NULL COMMENT 'a schedule: JSON filters (scope applied)', \
              ADD COLUMN schedule_owner BIGINT NULL COMMENT 'a schedule: staff its tasks are for', \
              ADD COLUMN schedule_province CHAR(2) NULL COMMENT 'a schedule: the owner province', \
              ADD COLUMN last_run_day DATE NULL COMMENT 'a schedule: the UTC day it last ran'",
    },
    Change {
        // A day of history (the daily roll-up, today's rows of a trend) is
        // read by time: without this index every such read scans the table.
        probe: "SELECT history_id FROM number_history FORCE INDEX (idx_number_history_time) \
                WHERE 1 = 0",
        ddl: "ALTER TABLE number_history ADD KEY idx_number_history_time (created_at)",
    },
];

pub async fn ensure(db: &Db) -> Result<usize, ApiError> {
    haoka_core::migrate::ensure(db, "report", CHANGES).await
}
