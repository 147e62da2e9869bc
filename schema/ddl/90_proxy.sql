-- Tables haoka-proxy itself keeps on the global shard.

CREATE TABLE IF NOT EXISTS haoka_sequence (
  name       VARCHAR(64) NOT NULL COMMENT 'sequence name from schema/rules.toml',
  next_value BIGINT      NOT NULL DEFAULT 1 COMMENT 'first value not yet handed to any proxy',
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='global sequences, allocated to proxies in blocks';
