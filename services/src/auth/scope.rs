//! Province data scope: staff see and change only their own province's data
//! unless a role grant adds provinces (or all of them). Headquarters staff (no
//! province) see every province.

use std::collections::BTreeSet;

use mysql_async::prelude::Queryable;

use crate::db::Filter;
use crate::problem::ApiError;

/// `staff_role.scope_province_code` value that grants every province.
pub const ALL_PROVINCES: &str = "**";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Provinces(BTreeSet<String>),
}

impl Scope {
    /// Whether data of `province` (None = headquarters / national) is visible.
    pub fn allows(&self, province: Option<&str>) -> bool {
        match (self, province) {
            (Scope::All, _) => true,
            (Scope::Provinces(set), Some(p)) => set.contains(p),
            (Scope::Provinces(_), None) => false,
        }
    }

    pub fn check(&self, province: Option<&str>) -> Result<(), ApiError> {
        if self.allows(province) {
            Ok(())
        } else {
            Err(ApiError::OutOfScope(
                province.unwrap_or("(headquarters)").to_string(),
            ))
        }
    }

    /// Restricts a listing to the visible provinces.
    pub fn restrict(&self, filter: &mut Filter, column: &str) {
        if let Scope::Provinces(set) = self {
            let list: Vec<String> = set.iter().cloned().collect();
            filter.any_of(column, &list);
        }
    }
}

/// The scope of a staff member: own province plus role grants.
pub async fn load<Q: Queryable>(
    conn: &mut Q,
    staff_id: i64,
    own_province: Option<&str>,
) -> Result<Scope, ApiError> {
    let Some(own) = own_province else {
        return Ok(Scope::All);
    };
    let grants: Vec<String> = conn
        .exec(
            "SELECT sr.scope_province_code FROM staff_role sr \
             JOIN role r ON r.role_id = sr.role_id \
             WHERE sr.staff_id = ? AND r.status = 'A' AND sr.scope_province_code IS NOT NULL",
            (staff_id,),
        )
        .await?;
    if grants.iter().any(|g| g == ALL_PROVINCES) {
        return Ok(Scope::All);
    }
    let mut set: BTreeSet<String> = grants.into_iter().collect();
    set.insert(own.to_string());
    Ok(Scope::Provinces(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn province_scope_rules() {
        let s = Scope::Provinces(["51".to_string()].into());
        assert!(s.allows(Some("51")));
        assert!(!s.allows(Some("36")));
        assert!(!s.allows(None));
        assert!(Scope::All.allows(None));
        let mut f = Filter::default();
        s.restrict(&mut f, "province_code");
        assert_eq!(f.sql(), " WHERE province_code IN (?)");
    }
}
