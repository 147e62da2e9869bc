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

    /// Like [`Scope::check`], but an object outside the scope answers as
    /// if it did not exist (404): its id is not confirmed to anyone who may
    /// not see it.
    pub fn find(
        &self,
        province: Option<&str>,
        kind: &'static str,
        id: impl ToString,
    ) -> Result<(), ApiError> {
        if self.allows(province) {
            Ok(())
        } else {
            Err(ApiError::not_found(kind, id))
        }
    }

    /// Whether every province `other` sees is one this scope sees too.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) => true,
            (Scope::Provinces(_), Scope::All) => false,
            (Scope::Provinces(mine), Scope::Provinces(theirs)) => theirs.is_subset(mine),
        }
    }

    /// Restricts a listing to the visible provinces.
    pub fn restrict(&self, filter: &mut Filter, column: &str) {
        if let Scope::Provinces(set) = self {
            let list: Vec<String> = set.iter().cloned().collect();
            filter.any_of(column, &list);
        }
    }

    /// Restricts a listing to rows whose `column` is the id of an object of
    /// a visible province: `column IN (SELECT id FROM table WHERE
    /// province_code IN (...))` (rows without one only for national scope).
    pub fn restrict_through(&self, filter: &mut Filter, column: &str, table: &str, id: &str) {
        if let Scope::Provinces(set) = self {
            let list: Vec<String> = set.iter().cloned().collect();
            filter.any_of_subquery(
                column,
                &format!("SELECT {id} FROM {table} WHERE province_code"),
                &list,
            );
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
        let mut f = Filter::default();
        s.restrict_through(&mut f, "staff_id", "staff", "staff_id");
        assert_eq!(
            f.sql(),
            " WHERE staff_id IN (SELECT staff_id FROM staff WHERE province_code IN (?))"
        );
    }

    #[test]
    fn a_scope_covers_its_subsets_only() {
        let p = |v: &[&str]| Scope::Provinces(v.iter().map(|s| s.to_string()).collect());
        assert!(Scope::All.covers(&Scope::All));
        assert!(Scope::All.covers(&p(&["51"])));
        assert!(!p(&["51", "36"]).covers(&Scope::All));
        assert!(p(&["51", "36"]).covers(&p(&["51"])));
        assert!(p(&["51", "36"]).covers(&p(&["36", "51"])));
        assert!(!p(&["51"]).covers(&p(&["51", "36"])));
        assert!(!p(&["51", "36"]).covers(&p(&["51", "11"])));
    }
}
