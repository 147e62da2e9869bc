//! The operation log: one row per change (who, what, when, from where,
//! before/after), written in the same transaction as the change itself.

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

use crate::auth::rbac::Principal;
use crate::problem::ApiError;

/// What changed.
pub struct Change<'a> {
    /// e.g. `staff.create`, `role.grant`.
    pub action: &'a str,
    /// e.g. `staff`, `department`.
    pub object_kind: &'a str,
    pub object_id: String,
    /// The province the object belongs to (None: headquarters / national).
    pub province: Option<&'a str>,
    pub before: Option<Json>,
    pub after: Option<Json>,
}

pub async fn record<Q: Queryable>(
    conn: &mut Q,
    who: &Principal,
    change: Change<'_>,
) -> Result<(), ApiError> {
    conn.exec_drop(
        "INSERT INTO operation_log (staff_id, province_code, action, object_kind, object_id, \
         before_value, after_value, source_ip, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            who.staff_id,
            change.province,
            change.action,
            change.object_kind,
            change.object_id,
            change.before.map(|v| v.to_string()),
            change.after.map(|v| v.to_string()),
            &who.source_ip,
            &who.request_id,
        ),
    )
    .await?;
    Ok(())
}
