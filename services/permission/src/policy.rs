//! Login policies: lock-out, allowed hours and networks, password rules; one
//! global row, optionally overridden per role or per staff member.

use axum::extract::State;
use mysql_async::prelude::Queryable;
use mysql_async::Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authority;
use haoka_core::auth::login_limits::{HourWindow, PolicySubject, POLICY_COLUMNS};
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, insert_id};
use haoka_core::oplog::{self, Change};
use haoka_core::problem::{ApiError, Json};
use haoka_core::state::Shared;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Global,
    Role,
    Staff,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginPolicy {
    pub subject_kind: SubjectKind,
    /// Role or staff id; ignored (0) for the global policy.
    #[schema(minimum = 0)]
    pub subject_id: i64,
    #[schema(minimum = 1, maximum = 100)]
    pub max_failures: u32,
    #[schema(minimum = 0, maximum = 10080)]
    pub lock_minutes: u32,
    /// Local hours, e.g. `07-22`; absent: any time.
    #[schema(pattern = "^([01][0-9]|2[0-3])-([01][0-9]|2[0-3])$")]
    pub allowed_hours: Option<String>,
    /// Comma-separated IPv4 networks (CIDR) or addresses; absent or empty: any network.
    #[schema(
        max_length = 512,
        pattern = "^$|^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12][0-9]|[0-9]))?(,((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12][0-9]|[0-9]))?)*$"
    )]
    pub allowed_networks: Option<String>,
    #[schema(minimum = 8, maximum = 128)]
    pub password_min_length: u32,
    #[schema(minimum = 1, maximum = 4)]
    pub password_min_classes: u32,
    #[schema(minimum = 0, maximum = 24)]
    pub password_history: u32,
    /// 0: passwords never expire.
    #[schema(minimum = 0, maximum = 3650)]
    pub password_max_age_days: u32,
}

fn from_row(r: &Row) -> LoginPolicy {
    let kind = match col::<String>(r, 0).as_str() {
        "R" => SubjectKind::Role,
        "S" => SubjectKind::Staff,
        _ => SubjectKind::Global,
    };
    let n = |i| col::<i64>(r, i).max(0) as u32;
    LoginPolicy {
        subject_kind: kind,
        subject_id: col(r, 1),
        max_failures: n(2),
        lock_minutes: n(3),
        allowed_hours: col(r, 4),
        allowed_networks: col(r, 5),
        password_min_length: n(6),
        password_min_classes: n(7),
        password_history: n(8),
        password_max_age_days: n(9),
    }
}

#[utoipa::path(get, path = "/api/v1/login-policies", tag = "login policies", security(("bearer" = [])),
    responses((status = 200, body = Vec<LoginPolicy>)))]
pub async fn list_policies(
    State(state): State<Shared>,
) -> Result<Json<Vec<LoginPolicy>>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<Row> = c
        .query(format!("SELECT {POLICY_COLUMNS} FROM login_policy ORDER BY subject_kind, subject_id LIMIT 1000"))
        .await?;
    Ok(Json(rows.iter().map(from_row).collect()))
}

/// An IPv4 address or CIDR, exactly as the schema's pattern allows it.
fn is_ipv4_network(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let octets: Vec<&str> = addr.split('.').collect();
    let canonical = |t: &str, max: u32| {
        !t.is_empty()
            && t.len() <= 3
            && t.bytes().all(|b| b.is_ascii_digit())
            && (t == "0" || !t.starts_with('0'))
            && t.parse::<u32>().is_ok_and(|v| v <= max)
    };
    octets.len() == 4
        && octets.iter().all(|o| canonical(o, 255))
        && prefix.is_none_or(|p| canonical(p, 32))
}

fn validate(p: &LoginPolicy) -> Result<PolicySubject, ApiError> {
    let bad = |m: &str| Err(ApiError::Invalid(m.to_string()));
    if !(1..=100).contains(&p.max_failures) {
        return bad("max_failures must be 1 to 100");
    }
    if p.lock_minutes > 10080 {
        return bad("lock_minutes must be 0 to 10080");
    }
    if let Some(h) = &p.allowed_hours {
        if HourWindow::parse(h).is_none() || h.len() != 5 {
            return bad("allowed_hours must look like 07-22");
        }
    }
    if let Some(n) = &p.allowed_networks {
        if n.len() > 512 {
            return bad("allowed_networks is longer than 512 characters");
        }
        if !n.is_empty() && !n.split(',').all(is_ipv4_network) {
            return bad("allowed_networks must be comma-separated IPv4 networks such as 10.0.0.0/8 or 192.168.1.7");
        }
    }
    if !(8..=128).contains(&p.password_min_length) {
        return bad("password_min_length must be 8 to 128");
    }
    if !(1..=4).contains(&p.password_min_classes) {
        return bad("password_min_classes must be 1 to 4");
    }
    if p.password_history > 24 {
        return bad("password_history must be 0 to 24");
    }
    if p.password_max_age_days > 3650 {
        return bad("password_max_age_days must be 0 to 3650");
    }
    match p.subject_kind {
        SubjectKind::Global => Ok(PolicySubject::Global),
        SubjectKind::Role => Ok(PolicySubject::Role(p.subject_id)),
        SubjectKind::Staff => Ok(PolicySubject::Staff(p.subject_id)),
    }
}

#[utoipa::path(put, path = "/api/v1/login-policies", tag = "login policies", request_body = LoginPolicy,
    security(("bearer" = [])), responses((status = 200, body = LoginPolicy)))]
pub async fn put_policy(
    State(state): State<Shared>,
    who: Principal,
    Json(p): Json<LoginPolicy>,
) -> Result<Json<LoginPolicy>, ApiError> {
    let subject = validate(&p)?;
    let (kind, id) = subject.db();
    let mut tx = state.db.begin().await?;
    match subject {
        PolicySubject::Role(r) => {
            who.scope.check(None)?;
            authority::may_change_role(&who, &super::role::load(&mut tx, r).await?)?;
        }
        // A staff policy can lock an account out: the same rule as any
        // other change of it.
        PolicySubject::Staff(s) => {
            let staff = super::staff::load_in_scope(&mut tx, &who, s).await?;
            authority::may_change(&mut tx, &who, &staff).await?;
        }
        // National settings: only staff with every province in scope.
        PolicySubject::Global => who.scope.check(None)?,
    }
    let select = format!(
        "SELECT {POLICY_COLUMNS} FROM login_policy WHERE subject_kind = ? AND subject_id = ?"
    );
    let before: Option<Row> = tx.exec_first(&select, (kind, id)).await?;
    let values = (
        p.max_failures,
        p.lock_minutes,
        p.allowed_hours.clone(),
        p.allowed_networks.clone(),
        p.password_min_length,
        p.password_min_classes,
        p.password_history,
        p.password_max_age_days,
        kind,
        id,
    );
    if before.is_some() {
        tx.exec_drop(
            "UPDATE login_policy SET max_failures = ?, lock_minutes = ?, allowed_hours = ?, allowed_networks = ?, \
             password_min_length = ?, password_min_classes = ?, password_history = ?, password_max_age_days = ? \
             WHERE subject_kind = ? AND subject_id = ?",
            values,
        )
        .await?;
    } else {
        let (a, b, c, d, e, f, g, h, k, i) = values;
        insert_id(
            &mut tx,
            "INSERT INTO login_policy (max_failures, lock_minutes, allowed_hours, allowed_networks, \
             password_min_length, password_min_classes, password_history, password_max_age_days, \
             subject_kind, subject_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![a.into(), b.into(), c.into(), d.into(), e.into(), f.into(), g.into(), h.into(), k.into(), i.into()],
        )
        .await?;
    }
    let after: Option<Row> = tx.exec_first(&select, (kind, id)).await?;
    let after = after
        .as_ref()
        .map(from_row)
        .ok_or_else(|| ApiError::Internal("policy vanished".into()))?;
    oplog::record(
        &mut tx,
        &who,
        Change {
            action: "login_policy.put",
            object_kind: "login_policy",
            object_id: format!("{kind}:{id}"),
            province: None,
            before: before
                .as_ref()
                .map(from_row)
                .and_then(|b| serde_json::to_value(b).ok()),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after))
}
