-- Half transactions (DESIGN.md §4): an outbox row written in the same local
-- shard transaction as the business change; consumers record what they processed
-- in their own transaction. Both sharded by province like the data they guard.

CREATE TABLE IF NOT EXISTS outbox (
  message_id      CHAR(36)     NOT NULL COMMENT 'UUID, also the AMQP message id',
  province_code   CHAR(2)      NOT NULL,
  exchange_name   VARCHAR(64)  NOT NULL,
  routing_key     VARCHAR(128) NOT NULL,
  payload         MEDIUMTEXT   NOT NULL COMMENT 'JSON',
  status          CHAR(1)      NOT NULL DEFAULT 'P' COMMENT 'P pending, S sent (confirmed), F failed',
  attempts        INT          NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_error      VARCHAR(512) NULL,
  created_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  sent_at         DATETIME(3)  NULL,
  PRIMARY KEY (message_id),
  KEY idx_outbox_due (status, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='transactional outbox';

CREATE TABLE IF NOT EXISTS processed_message (
  message_id    CHAR(36)    NOT NULL,
  consumer      VARCHAR(64) NOT NULL,
  province_code CHAR(2)     NOT NULL,
  processed_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (message_id, consumer),
  KEY idx_processed_at (processed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='idempotent consumers: one row per handled message';
