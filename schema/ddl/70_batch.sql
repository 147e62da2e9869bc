-- The batch loader (haoka-batch, issue 17): one job row per dropped file and
-- the lines it refused. Global tables: a job is worked by one loader at a time
-- (lease), and its checkpoint commits with each chunk's changes.

CREATE TABLE IF NOT EXISTS batch_job (
  job_id         BIGINT       NOT NULL AUTO_INCREMENT,
  job_key        CHAR(64)     NOT NULL COMMENT 'sha256 of source, path, size and content sha256: the idempotency key',
  source         VARCHAR(64)  NOT NULL COMMENT 'configured source name',
  path           VARCHAR(512) NOT NULL COMMENT 'file path inside the source',
  file_name      VARCHAR(255) NOT NULL,
  kind           VARCHAR(32)  NULL COMMENT 'file kind by the naming convention, NULL when unknown',
  province_code  CHAR(2)      NULL,
  size_bytes     BIGINT       NOT NULL,
  sha256         CHAR(64)     NOT NULL,
  status         CHAR(1)      NOT NULL DEFAULT 'R' COMMENT 'R running, D done, F failed (file unusable)',
  owner          VARCHAR(128) NULL COMMENT 'the loader holding the lease',
  lease_until    DATETIME(3)  NULL,
  checkpoint     INT          NOT NULL DEFAULT 0 COMMENT 'data lines committed so far',
  total_lines    INT          NULL,
  ok_count       INT          NOT NULL DEFAULT 0,
  refused_count  INT          NOT NULL DEFAULT 0,
  invalid_count  INT          NOT NULL DEFAULT 0,
  failure        VARCHAR(500) NULL COMMENT 'why the file as a whole was unusable',
  result_path    VARCHAR(512) NULL,
  started_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  finished_at    DATETIME(3)  NULL,
  updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (job_id),
  UNIQUE KEY uk_batch_job_key (job_key),
  KEY idx_batch_job_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='批量文件作业';

CREATE TABLE IF NOT EXISTS batch_line (
  job_id   BIGINT       NOT NULL,
  line_no  INT          NOT NULL COMMENT 'line of the file (the header is line 1)',
  item_key VARCHAR(64)  NOT NULL COMMENT 'number, ICCID or staff no as the line gave it',
  outcome  VARCHAR(8)   NOT NULL COMMENT 'refused or invalid (ok lines are not stored)',
  code     VARCHAR(48)  NOT NULL,
  reason   VARCHAR(500) NOT NULL,
  PRIMARY KEY (job_id, line_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='批量文件的拒绝行';
