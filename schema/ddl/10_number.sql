-- Number center (号码中心): sharded by province at database level; the number
-- table is split by segment inside each database (schema/rules.toml).

CREATE TABLE IF NOT EXISTS phone_number (
  phone_no        CHAR(11)    NOT NULL COMMENT '11-digit MSISDN',
  segment         CHAR(7)     NOT NULL COMMENT 'H-code (first 7 digits): table split key',
  province_code   CHAR(2)     NOT NULL COMMENT 'database shard key, derived from segment',
  city_code       CHAR(3)     NOT NULL,
  status          CHAR(2)     NOT NULL DEFAULT '01' COMMENT 'number status code 01..14, DESIGN.md §6',
  premium_level   TINYINT UNSIGNED NOT NULL DEFAULT 9 COMMENT '1-6 premium, 9 ordinary',
  tail4           CHAR(4)     NOT NULL COMMENT 'last four digits, for tail searches',
  pool_id         BIGINT      NULL,
  depot_id        BIGINT      NULL,
  hold_key        VARCHAR(64) NULL COMMENT 'selection key of a hold (选占)',
  hold_channel_id BIGINT      NULL,
  hold_staff_id   BIGINT      NULL,
  hold_deadline   DATETIME(3) NULL,
  frozen_until    DATETIME(3) NULL COMMENT 'end of aging for 11 冷冻',
  paired_iccid    VARCHAR(20) NULL COMMENT 'card of 06 预配 / 07 预配套包',
  version         INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'bumped on every state change',
  created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  held_at         DATETIME(3) NULL COMMENT 'when the current hold (04) began: extends are capped from here',
  PRIMARY KEY (phone_no),
  KEY idx_number_select (province_code, city_code, status, pool_id, premium_level),
  KEY idx_number_tail (province_code, status, tail4),
  KEY idx_number_hold_key (hold_key),
  KEY idx_number_hold_expiry (status, hold_deadline),
  KEY idx_number_frozen (status, frozen_until),
  KEY idx_number_depot (depot_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='号码 inventory';

CREATE TABLE IF NOT EXISTS number_history (
  history_id    BIGINT      NOT NULL COMMENT 'from sequence number_history',
  phone_no      CHAR(11)    NOT NULL,
  province_code CHAR(2)     NOT NULL,
  from_status   CHAR(2)     NULL,
  to_status     CHAR(2)     NOT NULL,
  action        VARCHAR(32) NOT NULL COMMENT 'intake, shelve, hold, extend, release, sell, ...',
  hold_key      VARCHAR(64) NULL,
  channel_id    BIGINT      NULL,
  staff_id      BIGINT      NULL,
  detail        VARCHAR(512) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (history_id),
  KEY idx_number_history_no (phone_no, created_at),
  KEY idx_number_history_time (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='号历史: one row per state change, same transaction';

CREATE TABLE IF NOT EXISTS number_pool (
  pool_id       BIGINT      NOT NULL COMMENT 'from sequence number_pool',
  province_code CHAR(2)     NOT NULL,
  city_code     CHAR(3)     NULL COMMENT 'NULL = whole province',
  name          VARCHAR(64) NOT NULL,
  status        CHAR(1)     NOT NULL DEFAULT 'A',
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (pool_id),
  KEY idx_pool_area (province_code, city_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='号码池';

CREATE TABLE IF NOT EXISTS pool_grant (
  grant_id      BIGINT      NOT NULL COMMENT 'from sequence pool_grant',
  pool_id       BIGINT      NOT NULL,
  province_code CHAR(2)     NOT NULL,
  grantee_kind  CHAR(1)     NOT NULL COMMENT 'C channel, S staff',
  grantee_id    BIGINT      NOT NULL,
  can_view      TINYINT(1)  NOT NULL DEFAULT 1,
  can_use       TINYINT(1)  NOT NULL DEFAULT 0,
  can_operate   TINYINT(1)  NOT NULL DEFAULT 0,
  granted_by    BIGINT      NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (grant_id),
  UNIQUE KEY uk_pool_grantee (pool_id, grantee_kind, grantee_id),
  KEY idx_grantee (grantee_kind, grantee_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='号码池授权';

CREATE TABLE IF NOT EXISTS premium_waiver (
  waiver_id      BIGINT      NOT NULL COMMENT 'from sequence premium_waiver',
  phone_no       CHAR(11)    NOT NULL,
  province_code  CHAR(2)     NOT NULL,
  deposit_waived_cents BIGINT NOT NULL DEFAULT 0,
  monthly_waived_cents BIGINT NOT NULL DEFAULT 0,
  reason         VARCHAR(256) NOT NULL,
  status         CHAR(1)     NOT NULL DEFAULT 'P' COMMENT 'P pending, A approved, R rejected',
  requested_by   BIGINT      NOT NULL,
  decided_by     BIGINT      NULL,
  decision_note  VARCHAR(256) NULL,
  requested_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  decided_at     DATETIME(3) NULL,
  PRIMARY KEY (waiver_id),
  KEY idx_waiver_number (phone_no, status),
  KEY idx_waiver_status (status, requested_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='靓号减免 waiver requests';
