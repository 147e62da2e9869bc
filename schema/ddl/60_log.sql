-- Operation and interface logs on the global shard (number and card history
-- live beside their rows on the province shards instead).

CREATE TABLE IF NOT EXISTS operation_log (
  log_id        BIGINT       NOT NULL COMMENT 'from sequence operation_log',
  staff_id      BIGINT       NULL,
  channel_id    BIGINT       NULL,
  province_code CHAR(2)      NULL,
  action        VARCHAR(64)  NOT NULL,
  object_kind   VARCHAR(32)  NOT NULL,
  object_id     VARCHAR(64)  NOT NULL,
  before_value  TEXT         NULL COMMENT 'JSON',
  after_value   TEXT         NULL COMMENT 'JSON',
  source_ip     VARCHAR(45)  NULL,
  request_id    VARCHAR(64)  NULL,
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id),
  KEY idx_operation_log_object (object_kind, object_id, created_at),
  KEY idx_operation_log_staff (staff_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS interface_log (
  log_id        BIGINT        NOT NULL COMMENT 'from sequence interface_log',
  channel_id    BIGINT        NULL,
  key_id        CHAR(24)      NULL,
  method        VARCHAR(8)    NOT NULL,
  path          VARCHAR(255)  NOT NULL,
  status_code   SMALLINT      NOT NULL,
  result_code   VARCHAR(8)    NULL COMMENT 'number center result code 0000-0007',
  latency_ms    INT           NOT NULL,
  request_body  VARCHAR(2048) NULL COMMENT 'truncated, secrets removed',
  response_body VARCHAR(2048) NULL COMMENT 'truncated',
  request_id    VARCHAR(64)   NULL,
  created_at    DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id),
  KEY idx_interface_log_channel (channel_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='every channel API call';
