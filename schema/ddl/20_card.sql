-- Card center (卡中心): cards sharded by province; the ICCID global secondary
-- index is itself sharded by a hash of the ICCID (schema/rules.toml).

CREATE TABLE IF NOT EXISTS sim_card (
  card_id        BIGINT      NOT NULL COMMENT 'from sequence sim_card',
  iccid          VARCHAR(20) NOT NULL COMMENT '19-20 digits, Luhn check digit',
  imsi           CHAR(15)    NULL COMMENT '460-01-...; NULL for 白卡 until written',
  province_code  CHAR(2)     NOT NULL COMMENT 'database shard key',
  city_code      CHAR(3)     NOT NULL,
  depot_id       BIGINT      NOT NULL COMMENT 'exactly one depot at any time',
  card_type      CHAR(1)     NOT NULL COMMENT 'M 成卡 pre-made, B 白卡 blank',
  status         CHAR(2)     NOT NULL DEFAULT '01' COMMENT '01 in stock, 02 in transit, 03 paired, 04 occupied not activated, 05 occupied, 06 frozen, 07 scrapped, 08 lost',
  package_id     BIGINT      NULL COMMENT '套包',
  paired_phone_no CHAR(11)   NULL COMMENT '预配号卡',
  transfer_id    BIGINT      NULL COMMENT 'open transfer while in transit',
  version        INT UNSIGNED NOT NULL DEFAULT 0,
  occupied_channel_id BIGINT NULL COMMENT '成卡占用 by this channel (only it activates or returns the card)',
  occupied_staff_id   BIGINT NULL COMMENT '成卡占用 by this staff member (only they activate or return the card)',
  created_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (card_id),
  UNIQUE KEY uk_card_iccid (iccid),
  KEY idx_card_depot (depot_id, status),
  KEY idx_card_status (province_code, status),
  KEY idx_card_paired (paired_phone_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='SIM cards';

CREATE TABLE IF NOT EXISTS card_iccid_index (
  iccid         VARCHAR(20) NOT NULL,
  province_code CHAR(2)     NOT NULL COMMENT 'owning shard of the card row',
  card_id       BIGINT      NOT NULL,
  PRIMARY KEY (iccid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='global secondary index ICCID -> province, kept by the proxy';

CREATE TABLE IF NOT EXISTS card_history (
  history_id    BIGINT      NOT NULL COMMENT 'from sequence card_history',
  card_id       BIGINT      NOT NULL,
  iccid         VARCHAR(20) NOT NULL,
  province_code CHAR(2)     NOT NULL,
  from_status   CHAR(2)     NULL,
  to_status     CHAR(2)     NOT NULL,
  from_depot_id BIGINT      NULL,
  to_depot_id   BIGINT      NULL,
  action        VARCHAR(32) NOT NULL,
  staff_id      BIGINT      NULL,
  channel_id    BIGINT      NULL,
  detail        VARCHAR(512) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (history_id),
  KEY idx_card_history_card (card_id, created_at),
  KEY idx_card_history_iccid (iccid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='card history: one row per change, same transaction';

CREATE TABLE IF NOT EXISTS card_transfer (
  transfer_id          BIGINT      NOT NULL COMMENT 'from sequence card_transfer',
  province_code        CHAR(2)     NOT NULL COMMENT 'source province (shard key)',
  target_province_code CHAR(2)     NOT NULL,
  from_depot_id        BIGINT      NOT NULL,
  to_depot_id          BIGINT      NOT NULL,
  card_count           INT         NOT NULL,
  status               CHAR(1)     NOT NULL DEFAULT 'P' COMMENT 'P in transit, D done, R refused',
  requested_by         BIGINT      NULL,
  message_id           CHAR(36)    NULL COMMENT 'outbox message of a cross-province transfer',
  created_at           DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  finished_at          DATETIME(3) NULL,
  PRIMARY KEY (transfer_id),
  KEY idx_transfer_status (status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='成卡调拨 transfer orders';
