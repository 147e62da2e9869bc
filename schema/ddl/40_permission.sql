-- Permission center (权限中心): small tables on the global shard.

CREATE TABLE IF NOT EXISTS department (
  department_id BIGINT      NOT NULL COMMENT 'from sequence department',
  parent_id     BIGINT      NULL COMMENT 'tree; NULL = root',
  province_code CHAR(2)     NULL COMMENT 'NULL = headquarters',
  code          VARCHAR(32) NOT NULL,
  name          VARCHAR(64) NOT NULL,
  status        CHAR(1)     NOT NULL DEFAULT 'A',
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (department_id),
  UNIQUE KEY uk_department_code (code),
  KEY idx_department_parent (parent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS channel (
  channel_id    BIGINT      NOT NULL COMMENT 'from sequence channel',
  code          VARCHAR(32) NOT NULL COMMENT '渠道编码',
  name          VARCHAR(64) NOT NULL,
  channel_type  VARCHAR(16) NOT NULL COMMENT 'shop, ecommerce, partner, ...',
  province_code CHAR(2)     NULL COMMENT 'NULL = national channel',
  parent_id     BIGINT      NULL,
  hold_minutes  INT         NOT NULL DEFAULT 30 COMMENT 'default hold deadline for this channel',
  rate_limit_per_minute INT NOT NULL DEFAULT 600,
  status        CHAR(1)     NOT NULL DEFAULT 'A',
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (channel_id),
  UNIQUE KEY uk_channel_code (code),
  KEY idx_channel_province (province_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS channel_credential (
  key_id        CHAR(24)     NOT NULL COMMENT 'public key id sent with each signed request',
  channel_id    BIGINT       NOT NULL,
  secret_sealed VARBINARY(128) NOT NULL COMMENT 'HMAC secret, encrypted at rest',
  status        CHAR(1)      NOT NULL DEFAULT 'A',
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  revoked_at    DATETIME(3)  NULL,
  PRIMARY KEY (key_id),
  KEY idx_credential_channel (channel_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='能力开放 API credentials';

CREATE TABLE IF NOT EXISTS staff (
  staff_id       BIGINT       NOT NULL COMMENT 'from sequence staff',
  staff_no       VARCHAR(32)  NOT NULL COMMENT '工号',
  name           VARCHAR(64)  NOT NULL,
  department_id  BIGINT       NULL,
  province_code  CHAR(2)      NULL COMMENT 'NULL = headquarters',
  channel_id     BIGINT       NULL,
  password_hash  VARCHAR(255) NOT NULL COMMENT 'argon2id PHC string',
  password_changed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  must_change_password TINYINT(1) NOT NULL DEFAULT 0,
  failed_logins  INT          NOT NULL DEFAULT 0,
  locked_until   DATETIME(3)  NULL,
  status         CHAR(1)      NOT NULL DEFAULT 'A' COMMENT 'A active, D disabled',
  updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (staff_id),
  UNIQUE KEY uk_staff_no (staff_no),
  KEY idx_staff_department (department_id),
  KEY idx_staff_province (province_code, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS staff_password_history (
  staff_id      BIGINT       NOT NULL,
  changed_at    DATETIME(3)  NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  PRIMARY KEY (staff_id, changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='password policy: no reuse of the last N';

CREATE TABLE IF NOT EXISTS role (
  role_id     BIGINT      NOT NULL COMMENT 'from sequence role',
  code        VARCHAR(32) NOT NULL,
  name        VARCHAR(64) NOT NULL,
  status      CHAR(1)     NOT NULL DEFAULT 'A',
  PRIMARY KEY (role_id),
  UNIQUE KEY uk_role_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS permission (
  permission_id BIGINT       NOT NULL COMMENT 'from sequence permission',
  code          VARCHAR(64)  NOT NULL COMMENT 'e.g. number.hold, staff.write',
  name          VARCHAR(128) NOT NULL,
  PRIMARY KEY (permission_id),
  UNIQUE KEY uk_permission_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS menu (
  menu_id       BIGINT       NOT NULL COMMENT 'from sequence menu',
  parent_id     BIGINT       NULL,
  title         VARCHAR(64)  NOT NULL,
  path          VARCHAR(128) NULL,
  permission_id BIGINT       NULL COMMENT 'shown only with this permission',
  sort_order    INT          NOT NULL DEFAULT 0,
  PRIMARY KEY (menu_id),
  KEY idx_menu_parent (parent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS role_permission (
  role_id       BIGINT NOT NULL,
  permission_id BIGINT NOT NULL,
  PRIMARY KEY (role_id, permission_id),
  KEY idx_role_permission_perm (permission_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS staff_role (
  staff_id BIGINT NOT NULL,
  role_id  BIGINT NOT NULL,
  scope_province_code CHAR(2) NULL COMMENT 'extra province granted with this role; NULL = own province only',
  PRIMARY KEY (staff_id, role_id),
  KEY idx_staff_role_role (role_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS login_policy (
  policy_id           BIGINT       NOT NULL COMMENT 'from sequence login_policy',
  subject_kind        CHAR(1)      NOT NULL COMMENT 'G global default, R role, S staff',
  subject_id          BIGINT       NOT NULL DEFAULT 0,
  max_failures        INT          NOT NULL DEFAULT 5,
  lock_minutes        INT          NOT NULL DEFAULT 15,
  allowed_hours       VARCHAR(32)  NULL COMMENT 'e.g. 07-22',
  allowed_networks    VARCHAR(512) NULL COMMENT 'comma-separated CIDRs',
  password_min_length INT          NOT NULL DEFAULT 10,
  password_min_classes INT         NOT NULL DEFAULT 3,
  password_history    INT          NOT NULL DEFAULT 5,
  password_max_age_days INT        NOT NULL DEFAULT 90,
  PRIMARY KEY (policy_id),
  UNIQUE KEY uk_login_policy_subject (subject_kind, subject_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS login_log (
  log_id      BIGINT       NOT NULL COMMENT 'from sequence login_log',
  staff_no    VARCHAR(32)  NOT NULL,
  staff_id    BIGINT       NULL,
  source_ip   VARCHAR(45)  NOT NULL,
  outcome     VARCHAR(16)  NOT NULL COMMENT 'ok, bad_password, locked, ...',
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (log_id),
  KEY idx_login_log_staff (staff_no, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='every login attempt';
