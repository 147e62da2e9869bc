//! Who may change whom, and what may link to what.
//!
//! An account *exceeds* the caller's when it holds a permission the caller
//! does not (through its active roles), or when its province scope is not
//! inside the caller's (a scope of every province exceeds one of several,
//! which exceeds one of one; two scopes of the same size but different
//! provinces exceed each other). Nobody changes an account that exceeds their
//! own — password reset, disable, enable, unlock, edit, role changes, login
//! policy, the sync feed all ask [`may_change`] — so a province staff
//! member cannot take over, lock out or strip a stronger account. Roles get
//! the same rule ([`may_change_role`]): changing a role changes everyone
//! holding it. (Nobody grants what they do not hold either: role.rs.)
//!
//! Links ([`check_link`]): a department's parent, a channel's parent, a
//! staff member's department and channel belong to the same province as the
//! row, or to headquarters; one the caller may not see answers 404.

use mysql_async::prelude::Queryable;

use super::role::RoleView;
use super::staff::StaffView;
use haoka_core::auth::rbac::{rights_of, Principal};
use haoka_core::problem::ApiError;

/// Refuses when `target`'s permissions or scope exceed the caller's.
pub async fn may_change<Q: Queryable>(
    c: &mut Q,
    who: &Principal,
    target: &StaffView,
) -> Result<(), ApiError> {
    if target.staff_id == who.staff_id {
        return Ok(());
    }
    let (permissions, scope) =
        rights_of(c, target.staff_id, target.province_code.as_deref()).await?;
    let mut beyond: Vec<&String> = permissions
        .iter()
        .filter(|p| !who.permissions.contains(*p))
        .collect();
    beyond.sort();
    if let Some(p) = beyond.first() {
        return Err(ApiError::NotAllowed(format!(
            "staff {} holds {p:?}, which you do not: their account is changed only by \
             someone holding every permission they hold",
            target.staff_no
        )));
    }
    if !who.scope.covers(&scope) {
        return Err(ApiError::NotAllowed(format!(
            "staff {} sees provinces outside your scope: their account is changed only by \
             someone whose scope covers theirs",
            target.staff_no
        )));
    }
    Ok(())
}

/// Refuses a change of a role holding permissions the caller does not.
pub fn may_change_role(who: &Principal, role: &RoleView) -> Result<(), ApiError> {
    match role
        .permissions
        .iter()
        .find(|p| !who.permissions.contains(*p))
    {
        Some(p) => Err(ApiError::NotAllowed(format!(
            "role {} holds {p:?}, which you do not: it is changed only by someone holding \
             every permission it holds",
            role.code
        ))),
        None => Ok(()),
    }
}

/// A row of `province` links to `kind` `id` of `linked`: the caller must
/// see the linked object (else it does not exist for them), and it must be
/// of the same province or of headquarters.
pub fn check_link(
    who: &Principal,
    province: Option<&str>,
    (kind, id): (&'static str, impl std::fmt::Display),
    linked: Option<&str>,
) -> Result<(), ApiError> {
    who.scope.find(linked, kind, &id)?;
    match linked {
        None => Ok(()),
        Some(p) if Some(p) == province => Ok(()),
        Some(p) => Err(ApiError::Refused {
            code: "cross_province_link",
            message: format!(
                "{kind} {id} belongs to province {p}; a row of {} links only to its own \
                 province's or to headquarters'",
                province
                    .map(|p| format!("province {p}"))
                    .unwrap_or_else(|| "headquarters".into())
            ),
        }),
    }
}
