-- Report center: asynchronous report tasks on the global shard, daily
-- statistics tables sharded by province (below). Columns added
-- after the first release are also added at start-up (services/src/report/migrate.rs).

CREATE TABLE IF NOT EXISTS report_template (
  template_id BIGINT       NOT NULL COMMENT 'from sequence report_template',
  code        VARCHAR(32)  NOT NULL,
  name        VARCHAR(128) NOT NULL,
  dimensions  VARCHAR(128) NOT NULL COMMENT 'province,city,pool,level,status,channel,day',
  measures    VARCHAR(128) NOT NULL,
  base_code         VARCHAR(32) NULL COMMENT 'a schedule: the built-in template it runs',
  schedule_utc      CHAR(5)     NULL COMMENT 'a schedule: daily at HH:MM UTC',
  schedule_format   VARCHAR(8)  NULL COMMENT 'a schedule: csv or xlsx',
  schedule_params   TEXT        NULL COMMENT 'a schedule: JSON filters (scope applied)',
  schedule_owner    BIGINT      NULL COMMENT 'a schedule: staff its tasks are for',
  schedule_province CHAR(2)     NULL COMMENT 'a schedule: the owner province',
  last_run_day      DATE        NULL COMMENT 'a schedule: the UTC day it last ran',
  PRIMARY KEY (template_id),
  UNIQUE KEY uk_report_template_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS report_task (
  task_id       BIGINT       NOT NULL COMMENT 'from sequence report_task',
  template_id   BIGINT       NOT NULL,
  requested_by  BIGINT       NOT NULL,
  province_code CHAR(2)      NULL COMMENT 'data scope of the requester',
  params        TEXT         NOT NULL COMMENT 'JSON filters',
  format        VARCHAR(8)   NOT NULL DEFAULT 'csv' COMMENT 'csv or xlsx',
  status        CHAR(1)      NOT NULL DEFAULT 'Q' COMMENT 'Q queued, R running, D done, F failed, C cancelled, X file expired',
  error         VARCHAR(512) NULL,
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  started_at    DATETIME(3)  NULL,
  finished_at   DATETIME(3)  NULL,
  owner         VARCHAR(64)  NULL COMMENT 'process running the task',
  lease_until   DATETIME(3)  NULL COMMENT 'claimed again after this',
  progress_rows BIGINT       NOT NULL DEFAULT 0 COMMENT 'rows written so far',
  request_key   CHAR(64)     NULL COMMENT 'sha256 of template, filters, format',
  store_key     VARCHAR(255) NULL COMMENT 'the file store its runner must write to',
  attempts      INT          NOT NULL DEFAULT 0 COMMENT 'claims so far',
  PRIMARY KEY (task_id),
  KEY idx_report_task_status (status, created_at),
  KEY idx_report_task_requester (requested_by, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS report_result (
  task_id     BIGINT       NOT NULL,
  object_key  VARCHAR(255) NOT NULL COMMENT 'export file in the object store',
  row_count   BIGINT       NOT NULL,
  byte_size   BIGINT       NOT NULL,
  sha256      CHAR(64)     NOT NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at  DATETIME(3)  NULL COMMENT 'the retention sweep removes the file then',
  PRIMARY KEY (task_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Statistics tables (统计结果存储): daily figures the roll-up job
-- (services/report/src/rollup.rs) writes once per closed UTC day, so that a
-- trend over many days reads one row per day instead of rescanning history.
-- Sharded by province like the rows they count; a province's rows of a day
-- are replaced in one local transaction (re-running a day never doubles it).

CREATE TABLE IF NOT EXISTS report_daily_activity (
  province_code CHAR(2)  NOT NULL,
  day           DATE     NOT NULL COMMENT 'UTC day of number_history.created_at',
  channel_id    BIGINT   NOT NULL DEFAULT 0 COMMENT '0: no channel (staff actions)',
  holds         BIGINT   NOT NULL DEFAULT 0,
  sales         BIGINT   NOT NULL DEFAULT 0,
  releases      BIGINT   NOT NULL DEFAULT 0,
  expiries      BIGINT   NOT NULL DEFAULT 0,
  PRIMARY KEY (province_code, day, channel_id),
  KEY idx_report_daily_activity_day (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='日统计: holds, sales, releases, expiries per channel and day';

CREATE TABLE IF NOT EXISTS report_daily_status (
  province_code CHAR(2)  NOT NULL,
  day           DATE     NOT NULL COMMENT 'the UTC day whose close the snapshot shows',
  pool_id       BIGINT   NOT NULL DEFAULT 0 COMMENT '0: no pool',
  status        CHAR(2)  NOT NULL,
  premium_level TINYINT UNSIGNED NOT NULL,
  numbers       BIGINT   NOT NULL,
  PRIMARY KEY (province_code, day, pool_id, status, premium_level),
  KEY idx_report_daily_status_day (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='日统计: phone_number by status, taken once a day';

-- One row per closed UTC day: the roll-up of the day is claimed here (a
-- conditional UPDATE of owner and lease_until, once across all processes)
-- and done_at says the day's rows are in the statistics tables.
CREATE TABLE IF NOT EXISTS report_rollup (
  day          DATE        NOT NULL,
  owner        VARCHAR(64) NULL COMMENT 'process rolling the day up',
  lease_until  DATETIME(3) NULL COMMENT 'claimed again after this',
  done_at      DATETIME(3) NULL COMMENT 'the day is in report_daily_activity',
  snapshot_at  DATETIME(3) NULL COMMENT 'report_daily_status of the day was taken then',
  PRIMARY KEY (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
