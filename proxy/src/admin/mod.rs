//! Administration: applying the logical schema to the shards, and (later) the
//! `SHOW HAOKA ...` statements.

pub mod apply_schema;
