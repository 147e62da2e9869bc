//! Staff login (portal): password check under the login limits, sessions,
//! logout, the caller's own profile, and password change under the policy.
//! Every attempt is written to `login_log`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::menu::{visible_menus, MenuView};
use super::staff::{self, StaffView};
use haoka_core::auth::login_guard::{self, Failure};
use haoka_core::auth::login_limits::{self, local_hour, LoginLimits};
use haoka_core::auth::password::MAX_PASSWORD_CHARS;
use haoka_core::auth::rbac::Principal;
use haoka_core::auth::scope::Scope;
use haoka_core::auth::session::now_secs;
use haoka_core::db::col;
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json};
use haoka_core::state::Shared;
use haoka_core::validate;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// 工号
    #[schema(min_length = 1, max_length = 32, pattern = r"^[^\x00-\x1F\x7F-\x9F]+$")]
    pub staff_no: String,
    #[schema(min_length = 1, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the session ends at the latest.
    pub expires_at: haoka_core::time::Timestamp,
    /// The session ends after this many seconds without use.
    pub idle_timeout_seconds: u64,
    /// Only the password change is allowed until this is done.
    pub must_change_password: bool,
}

/// What a login attempt came to, as written to `login_log.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok,
    UnknownStaff,
    Disabled,
    Locked,
    SourceDenied,
    BadPassword,
    LockedNow,
}

impl LoginOutcome {
    pub fn code(self) -> &'static str {
        match self {
            LoginOutcome::Ok => "ok",
            LoginOutcome::UnknownStaff => "unknown_staff",
            LoginOutcome::Disabled => "disabled",
            LoginOutcome::Locked => "locked",
            LoginOutcome::SourceDenied => "source_denied",
            LoginOutcome::BadPassword => "bad_password",
            LoginOutcome::LockedNow => "locked_now",
        }
    }
}

async fn log_attempt(
    state: &Shared,
    staff_no: &str,
    staff_id: Option<i64>,
    ip: &str,
    outcome: LoginOutcome,
) -> Result<(), ApiError> {
    state
        .metrics
        .logins
        .with_label_values(&[outcome.code()])
        .inc();
    let mut c = state.db.conn().await?;
    c.exec_drop(
        "INSERT INTO login_log (staff_no, staff_id, source_ip, outcome) VALUES (?, ?, ?, ?)",
        (staff_no, staff_id, ip, outcome.code()),
    )
    .await?;
    Ok(())
}

/// What a password check under the failed-password budget came to.
enum Checked {
    Right,
    /// No slot was left: refused unverified.
    Locked(ApiError),
    /// Wrong; with the lock error when this failure locked the account.
    Wrong(Failure, ApiError),
}

/// Checks `password` against `hash` after claiming a slot of the budget
/// (auth/login_guard.rs); the failure that uses the last slot locks the
/// account in the database too.
async fn check_password(
    state: &Shared,
    staff_id: i64,
    limits: &LoginLimits,
    password: &str,
    hash: &str,
) -> Result<Checked, ApiError> {
    let slot = match login_guard::claim(&state.cache, staff_id, limits).await? {
        Ok(slot) => slot,
        Err(seconds) => return Ok(Checked::Locked(ApiError::LockedFor(seconds))),
    };
    if state.hasher.verify(password, hash).await {
        login_guard::succeeded(&state.cache, slot).await?;
        return Ok(Checked::Right);
    }
    let failure = login_guard::failed(&state.cache, slot, limits).await?;
    let mut c = state.db.conn().await?;
    if failure == Failure::Counted {
        c.exec_drop(
            "UPDATE staff SET failed_logins = failed_logins + 1 WHERE staff_id = ?",
            (staff_id,),
        )
        .await?;
        return Ok(Checked::Wrong(failure, ApiError::BadCredentials));
    }
    c.exec_drop(
        format!(
            "UPDATE staff SET locked_until = NOW(3) + INTERVAL {} MINUTE, failed_logins = 0 \
             WHERE staff_id = ?",
            limits.lock_minutes
        ),
        (staff_id,),
    )
    .await?;
    let until: Option<haoka_core::time::Timestamp> = c
        .exec_first(
            concat!(
                "SELECT ",
                haoka_core::ts_col!("locked_until"),
                " FROM staff WHERE staff_id = ?"
            ),
            (staff_id,),
        )
        .await?;
    Ok(Checked::Wrong(
        failure,
        ApiError::Locked(until.unwrap_or_default()),
    ))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse)))]
pub async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    validate::text("staff_no", &req.staff_no, 1, 32)?;
    if req.password.is_empty() || req.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::Invalid(format!(
            "password must be 1 to {MAX_PASSWORD_CHARS} characters long"
        )));
    }
    let ip: IpAddr = peer.ip();
    let ip_text = ip.to_string();
    let mut c = state.db.conn().await?;
    let row: Option<Row> = c
        .exec_first(
            concat!(
                "SELECT staff_id, password_hash, status, (locked_until IS NOT NULL AND locked_until > NOW(3)), ",
                haoka_core::ts_col!("locked_until"),
                ", TIMESTAMPDIFF(DAY, password_changed_at, NOW(3)), must_change_password FROM staff WHERE staff_no = ?"
            ),
            (req.staff_no.as_str(),),
        )
        .await?;
    let Some(row) = row else {
        // As slow as a wrong password: the answer time names no account.
        state.hasher.verify_nobody(&req.password).await;
        log_attempt(
            &state,
            &req.staff_no,
            None,
            &ip_text,
            LoginOutcome::UnknownStaff,
        )
        .await?;
        return Err(ApiError::BadCredentials);
    };
    let staff_id: i64 = col(&row, 0);
    let hash: String = col(&row, 1);
    let deny = |outcome: LoginOutcome, err: ApiError| {
        let state = state.clone();
        let staff_no = req.staff_no.clone();
        let ip_text = ip_text.clone();
        async move {
            log_attempt(&state, &staff_no, Some(staff_id), &ip_text, outcome).await?;
            Err::<Json<LoginResponse>, ApiError>(err)
        }
    };
    if col::<String>(&row, 2) != "A" {
        return deny(
            LoginOutcome::Disabled,
            ApiError::LoginDenied("the account is disabled".into()),
        )
        .await;
    }
    if col::<i64>(&row, 3) != 0 {
        return deny(LoginOutcome::Locked, ApiError::Locked(col(&row, 4))).await;
    }
    let policy = login_limits::effective(&mut c, staff_id).await?;
    let hour = local_hour(now_secs(), state.cfg.utc_offset_hours);
    if let Err(e) = policy.limits.check_source(Some(ip), hour) {
        return deny(LoginOutcome::SourceDenied, e).await;
    }
    drop(c);
    match check_password(&state, staff_id, &policy.limits, &req.password, &hash).await? {
        Checked::Right => {}
        Checked::Locked(err) => return deny(LoginOutcome::Locked, err).await,
        Checked::Wrong(Failure::LockedNow, err) => return deny(LoginOutcome::LockedNow, err).await,
        Checked::Wrong(Failure::Counted, _) => {
            return deny(LoginOutcome::BadPassword, ApiError::BadCredentials).await
        }
    }
    let mut c = state.db.conn().await?;
    let age_days: i64 = col(&row, 5);
    let expired =
        policy.password.max_age_days > 0 && age_days >= i64::from(policy.password.max_age_days);
    let was_due = col::<i64>(&row, 6) != 0;
    let must_change = was_due || expired;
    c.exec_drop(
        "UPDATE staff SET failed_logins = 0, locked_until = NULL, must_change_password = ? WHERE staff_id = ?",
        (must_change, staff_id),
    )
    .await?;
    drop(c);
    if must_change != was_due {
        // The staff member's other sessions must now change the password too.
        state.sessions.principals_changed().await?;
    }
    log_attempt(
        &state,
        &req.staff_no,
        Some(staff_id),
        &ip_text,
        LoginOutcome::Ok,
    )
    .await?;
    let issued = state.sessions.create(staff_id).await?;
    Ok(Json(LoginResponse {
        token: issued.token,
        expires_at: haoka_core::time::Timestamp::from_unix_secs(issued.absolute_expiry),
        idle_timeout_seconds: issued.idle_seconds,
        must_change_password: must_change,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "the session is ended")))]
pub async fn logout(State(state): State<Shared>, who: Principal) -> Result<StatusCode, ApiError> {
    state.sessions.revoke(&who.session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub staff: StaffView,
    pub permissions: Vec<String>,
    /// Provinces whose data this staff member sees; `["all"]` for every one.
    pub provinces: Vec<String>,
    pub menus: Vec<MenuView>,
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me)))]
pub async fn me(State(state): State<Shared>, who: Principal) -> Result<Json<Me>, ApiError> {
    let mut c = state.db.conn().await?;
    let staff = staff::load(&mut c, who.staff_id).await?;
    let mut permissions: Vec<String> = who.permissions.iter().cloned().collect();
    permissions.sort();
    let provinces = match &who.scope {
        Scope::All => vec!["all".to_string()],
        Scope::Provinces(set) => set.iter().cloned().collect(),
    };
    let menus = visible_menus(&mut c, &who).await?;
    Ok(Json(Me {
        staff,
        permissions,
        provinces,
        menus,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    #[schema(min_length = 1, max_length = 128)]
    pub old_password: String,
    #[schema(min_length = 1, max_length = 128)]
    pub new_password: String,
}

/// Replaces a staff member's password hash, keeping the old one in the history.
pub async fn store_password<Q: Queryable>(
    c: &mut Q,
    staff_id: i64,
    new_hash: &str,
    must_change: bool,
) -> Result<(), ApiError> {
    let old: Option<String> = c
        .exec_first(
            "SELECT password_hash FROM staff WHERE staff_id = ?",
            (staff_id,),
        )
        .await?;
    let old = old.ok_or_else(|| ApiError::not_found("staff", staff_id))?;
    c.exec_drop(
        "INSERT INTO staff_password_history (staff_id, changed_at, password_hash) VALUES (?, NOW(3), ?)",
        (staff_id, old),
    )
    .await?;
    c.exec_drop(
        "UPDATE staff SET password_hash = ?, password_changed_at = NOW(3), must_change_password = ?, \
         failed_logins = 0, locked_until = NULL WHERE staff_id = ?",
        (new_hash, must_change, staff_id),
    )
    .await?;
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    security(("bearer" = [])), responses((status = 204, description = "the password is changed")))]
pub async fn change_password(
    State(state): State<Shared>,
    who: Principal,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    if req.old_password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::Invalid("old_password is too long".into()));
    }
    let mut c = state.db.conn().await?;
    let row: Option<Row> = c
        .exec_first(
            concat!(
                "SELECT password_hash, (locked_until IS NOT NULL AND locked_until > NOW(3)), ",
                haoka_core::ts_col!("locked_until"),
                " FROM staff WHERE staff_id = ?"
            ),
            (who.staff_id,),
        )
        .await?;
    let row = row.ok_or(ApiError::SessionInvalid)?;
    let current: String = col(&row, 0);
    if col::<i64>(&row, 1) != 0 {
        return Err(ApiError::Locked(col(&row, 2)));
    }
    let effective = login_limits::effective(&mut c, who.staff_id).await?;
    drop(c);
    // Old-password guesses draw on the login budget: a stolen session
    // cannot try passwords without end.
    let log = |outcome| {
        log_attempt(
            &state,
            &who.staff_no,
            Some(who.staff_id),
            &who.source_ip,
            outcome,
        )
    };
    match check_password(
        &state,
        who.staff_id,
        &effective.limits,
        &req.old_password,
        &current,
    )
    .await?
    {
        Checked::Right => {}
        Checked::Locked(err) => {
            log(LoginOutcome::Locked).await?;
            return Err(err);
        }
        Checked::Wrong(Failure::LockedNow, err) => {
            log(LoginOutcome::LockedNow).await?;
            state.sessions.revoke_all(who.staff_id).await?;
            return Err(err);
        }
        Checked::Wrong(Failure::Counted, _) => {
            log(LoginOutcome::BadPassword).await?;
            return Err(ApiError::WrongPassword);
        }
    }
    let mut c = state.db.conn().await?;
    let policy = effective.password;
    policy.check_shape(&req.new_password, &who.staff_no)?;
    let mut recent: Vec<String> = if policy.history > 0 {
        c.exec(
            format!(
                "SELECT password_hash FROM staff_password_history WHERE staff_id = ? \
                 ORDER BY changed_at DESC LIMIT {}",
                policy.history.saturating_sub(1)
            ),
            (who.staff_id,),
        )
        .await?
    } else {
        Vec::new()
    };
    if policy.history > 0 {
        recent.push(current);
    }
    if state.hasher.matches_any(&req.new_password, &recent).await {
        return Err(ApiError::PasswordPolicy(format!(
            "the new password must differ from the last {} passwords",
            policy.history
        )));
    }
    drop(c);
    let hash = state.hasher.hash(&req.new_password).await?;
    let mut tx = state.db.begin().await?;
    store_password(&mut tx, who.staff_id, &hash, false).await?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "staff.password_change",
            object_kind: "staff",
            object_id: who.staff_id.to_string(),
            province: who.province.as_deref(),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    login_guard::clear(&state.cache, who.staff_id).await?;
    // Whoever else held a session of this account loses it with the password.
    state.sessions.revoke_others(&who.session).await?;
    state.sessions.principals_changed().await?;
    Ok(StatusCode::NO_CONTENT)
}
