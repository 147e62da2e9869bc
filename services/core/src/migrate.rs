//! Schema changes that tables made from an older schema/ddl lack, applied
//! at start-up through the proxy (which sends the DDL to every shard's table
//! at once). Each center lists its own changes; this runs them. Idempotent:
//! a cheap probe finds nothing to do on an up-to-date schema; a change some
//! shards (or a server starting at the same moment) already made is
//! accepted, and the probe must pass afterwards.

use mysql_async::prelude::Queryable;

use crate::db::Db;
use crate::problem::ApiError;

/// MySQL's "unknown column" and "duplicate column name".
const ER_BAD_FIELD: u16 = 1054;
const ER_DUP_FIELDNAME: u16 = 1060;
/// "duplicate key name": an index a change adds is there already.
const ER_DUP_KEYNAME: u16 = 1061;
/// "key does not exist": a probe naming an index (`FORCE INDEX (k)`) the
/// table lacks.
const ER_KEY_DOES_NOT_EXIST: u16 = 1176;

/// One change: a probe that fails with "unknown column" (or, for an index,
/// "key does not exist") while it is missing, and the DDL that adds it (as
/// schema/ddl has it). The proxy's
/// parser knows no `ADD COLUMN IF NOT EXISTS`: a shard that has the column
/// answers "duplicate column name", which is what we want.
pub struct Change {
    pub probe: &'static str,
    pub ddl: &'static str,
}

fn is_server_error(e: &mysql_async::Error, code: u16) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == code)
}

/// Applies the changes the schema lacks; returns how many it applied.
pub async fn ensure(db: &Db, center: &str, changes: &[Change]) -> Result<usize, ApiError> {
    let mut c = db.conn().await?;
    let mut applied = 0;
    for ch in changes {
        match c.query_drop(ch.probe).await {
            Ok(()) => continue,
            Err(e)
                if is_server_error(&e, ER_BAD_FIELD)
                    || is_server_error(&e, ER_KEY_DOES_NOT_EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(center, ddl = ch.ddl, "applying a schema change");
        match c.query_drop(ch.ddl).await {
            Ok(()) => {}
            Err(e)
                if is_server_error(&e, ER_DUP_FIELDNAME) || is_server_error(&e, ER_DUP_KEYNAME) => {
            }
            Err(e) => return Err(e.into()),
        }
        c.query_drop(ch.probe)
            .await
            .map_err(|e| ApiError::Internal(format!("{center} schema change did not take: {e}")))?;
        applied += 1;
    }
    Ok(applied)
}
