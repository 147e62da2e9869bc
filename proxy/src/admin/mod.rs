//! Administration: applying the logical schema to the shards, and the
//! resharding statements (`ALTER HAOKA MOVE PROVINCE`, `SHOW HAOKA RESHARD`).

pub mod apply_schema;
pub mod reshard;
