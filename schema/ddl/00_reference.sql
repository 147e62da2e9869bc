-- Reference data: broadcast tables, copied to every shard and to the global shard
-- so that any shard can join against them locally (DESIGN.md §3).

CREATE TABLE IF NOT EXISTS province (
  province_code     CHAR(2)      NOT NULL COMMENT 'operator 2-digit province code',
  name              VARCHAR(32)  NOT NULL,
  short_name        VARCHAR(8)   NOT NULL,
  capital_city_code CHAR(3)      NOT NULL,
  PRIMARY KEY (province_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='31 provinces';

CREATE TABLE IF NOT EXISTS city (
  city_code     CHAR(3)     NOT NULL COMMENT 'operator 3-digit city code',
  province_code CHAR(2)     NOT NULL,
  name          VARCHAR(32) NOT NULL,
  PRIMARY KEY (city_code),
  KEY idx_city_province (province_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS segment (
  segment       CHAR(7) NOT NULL COMMENT '号段 H-code: first 7 digits of a number',
  prefix        CHAR(3) NOT NULL,
  province_code CHAR(2) NOT NULL,
  city_code     CHAR(3) NOT NULL,
  PRIMARY KEY (segment),
  KEY idx_segment_area (province_code, city_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='number -> segment -> province routing';

CREATE TABLE IF NOT EXISTS depot (
  depot_id      BIGINT      NOT NULL COMMENT 'from sequence depot',
  province_code CHAR(2)     NOT NULL,
  city_code     CHAR(3)     NOT NULL,
  name          VARCHAR(64) NOT NULL,
  holds_numbers TINYINT(1)  NOT NULL DEFAULT 1,
  holds_cards   TINYINT(1)  NOT NULL DEFAULT 1,
  status        CHAR(1)     NOT NULL DEFAULT 'A' COMMENT 'A active, D disabled',
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (depot_id),
  KEY idx_depot_area (province_code, city_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='库位 stock locations';

CREATE TABLE IF NOT EXISTS premium_level (
  level                   TINYINT UNSIGNED NOT NULL COMMENT '1-6 premium, 9 ordinary',
  name                    VARCHAR(32) NOT NULL,
  pre_deposit_cents       BIGINT      NOT NULL DEFAULT 0,
  min_monthly_spend_cents BIGINT      NOT NULL DEFAULT 0,
  term_months             SMALLINT    NOT NULL DEFAULT 0,
  PRIMARY KEY (level)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='靓号 levels and their fees';

CREATE TABLE IF NOT EXISTS premium_rule (
  rule_id       BIGINT      NOT NULL COMMENT 'from sequence premium_rule',
  level         TINYINT UNSIGNED NOT NULL,
  pattern_class VARCHAR(16) NOT NULL COMMENT 'AAAA, ABCD, AABB, ABAB, TAIL, NO4 ...',
  pattern       VARCHAR(64) NOT NULL COMMENT 'class parameter, e.g. tail digits 888',
  priority      INT         NOT NULL DEFAULT 100 COMMENT 'lower wins when several rules match',
  province_code CHAR(2)     NULL COMMENT 'NULL = national rule',
  enabled       TINYINT(1)  NOT NULL DEFAULT 1,
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (rule_id),
  KEY idx_rule_level (level, priority)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='靓号 recognition rules';

CREATE TABLE IF NOT EXISTS package (
  package_id          BIGINT       NOT NULL COMMENT 'from sequence package',
  code                VARCHAR(32)  NOT NULL,
  name                VARCHAR(128) NOT NULL,
  province_code       CHAR(2)      NULL COMMENT 'NULL = national package',
  monthly_fee_cents   BIGINT       NOT NULL DEFAULT 0,
  status              CHAR(1)      NOT NULL DEFAULT 'A',
  PRIMARY KEY (package_id),
  UNIQUE KEY uk_package_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='套包 tariff packages';

CREATE TABLE IF NOT EXISTS dictionary (
  dict_type  VARCHAR(32)  NOT NULL COMMENT 'e.g. number_status, card_status',
  code       VARCHAR(16)  NOT NULL,
  name       VARCHAR(64)  NOT NULL,
  sort_order INT          NOT NULL DEFAULT 0,
  PRIMARY KEY (dict_type, code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='code tables shown in the portal';
