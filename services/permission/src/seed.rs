//! Idempotent seed at start-up: every permission code, the `admin` role holding
//! all of them, the global login policy and the portal's menus (`menu_seed`). Several servers may
//! start at once, so a row another one inserted first is fine.

use mysql_async::prelude::Queryable;

use haoka_core::auth::password;
use haoka_core::auth::rbac::Permission;
use haoka_core::db::insert_id;
use haoka_core::problem::ApiError;
use haoka_core::state::Shared;

pub const ADMIN_ROLE: &str = "admin";

/// Ignores "already exists" from a racing server.
fn tolerate_dup(r: Result<(), ApiError>) -> Result<(), ApiError> {
    match r {
        Err(ApiError::Conflict(_)) => Ok(()),
        other => other,
    }
}

async fn permission_id<Q: Queryable>(c: &mut Q, code: &str) -> Result<Option<i64>, ApiError> {
    Ok(c.exec_first(
        "SELECT permission_id FROM permission WHERE code = ?",
        (code,),
    )
    .await?)
}

pub async fn ensure(state: &Shared) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    for p in Permission::ALL {
        if permission_id(&mut c, p.code()).await?.is_none() {
            tolerate_dup(
                c.exec_drop(
                    "INSERT INTO permission (code, name) VALUES (?, ?)",
                    (p.code(), p.title()),
                )
                .await
                .map_err(ApiError::from),
            )?;
        }
    }
    let admin = admin_role_id(&mut c).await?;
    let mut granted = false;
    for p in Permission::ALL {
        let pid = permission_id(&mut c, p.code())
            .await?
            .ok_or_else(|| ApiError::Internal(format!("permission {} not seeded", p.code())))?;
        let have: Option<i64> = c
            .exec_first(
                "SELECT role_id FROM role_permission WHERE role_id = ? AND permission_id = ?",
                (admin, pid),
            )
            .await?;
        if have.is_none() {
            tolerate_dup(
                c.exec_drop(
                    "INSERT INTO role_permission (role_id, permission_id) VALUES (?, ?)",
                    (admin, pid),
                )
                .await
                .map_err(ApiError::from),
            )?;
            granted = true;
        }
    }
    if granted {
        // Administrators logged in on other servers hold the new code at once.
        state.sessions.principals_changed().await?;
    }
    let global: Option<i64> = c
        .query_first(
            "SELECT policy_id FROM login_policy WHERE subject_kind = 'G' AND subject_id = 0",
        )
        .await?;
    if global.is_none() {
        tolerate_dup(
            c.query_drop("INSERT INTO login_policy (subject_kind, subject_id) VALUES ('G', 0)")
                .await
                .map_err(ApiError::from),
        )?;
    }
    super::menu_seed::ensure(&mut c).await?;
    Ok(())
}

async fn admin_role_id<Q: Queryable>(c: &mut Q) -> Result<i64, ApiError> {
    let find = "SELECT role_id FROM role WHERE code = ?";
    if let Some(id) = c.exec_first(find, (ADMIN_ROLE,)).await? {
        return Ok(id);
    }
    tolerate_dup(
        c.exec_drop(
            "INSERT INTO role (code, name) VALUES (?, ?)",
            (ADMIN_ROLE, "系统管理员"),
        )
        .await
        .map_err(ApiError::from),
    )?;
    c.exec_first(find, (ADMIN_ROLE,))
        .await?
        .ok_or_else(|| ApiError::Internal("admin role not seeded".into()))
}

/// Creates a headquarters staff member holding the admin role. Returns the
/// password (the given one, or a generated one), or None if the staff number
/// already exists (nothing is changed then).
pub async fn create_admin(
    state: &Shared,
    staff_no: &str,
    password: Option<String>,
) -> Result<Option<String>, ApiError> {
    let password = password.unwrap_or_else(password::generate);
    let hash = state.hasher.hash(&password).await?;
    let mut tx = state.db.begin().await?;
    let exists: Option<i64> = tx
        .exec_first("SELECT staff_id FROM staff WHERE staff_no = ?", (staff_no,))
        .await?;
    if exists.is_some() {
        return Ok(None);
    }
    let admin = admin_role_id(&mut tx).await?;
    let id = insert_id(
        &mut tx,
        "INSERT INTO staff (staff_no, name, password_hash) VALUES (?, ?, ?)",
        vec![staff_no.into(), "系统管理员".into(), hash.into()],
    )
    .await?;
    tx.exec_drop(
        "INSERT INTO staff_role (staff_id, role_id) VALUES (?, ?)",
        (id, admin),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(password))
}
