//! Login limits and password rules per staff member: the staff's own
//! `login_policy` row, else one of their roles', else the global one, else
//! built-in defaults. Lock after N failures for M minutes; allowed hours and
//! source networks.

use std::net::IpAddr;

use ipnet::IpNet;
use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::auth::password::PasswordPolicy;
use crate::problem::ApiError;

/// An inclusive range of local hours, e.g. `07-22` (07:00 to 22:59); `22-06`
/// wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourWindow {
    pub from: u8,
    pub to: u8,
}

impl HourWindow {
    pub fn parse(s: &str) -> Option<HourWindow> {
        let (a, b) = s.split_once('-')?;
        let from: u8 = a.trim().parse().ok()?;
        let to: u8 = b.trim().parse().ok()?;
        (from < 24 && to < 24).then_some(HourWindow { from, to })
    }

    pub fn contains(&self, hour: u8) -> bool {
        if self.from <= self.to {
            (self.from..=self.to).contains(&hour)
        } else {
            hour >= self.from || hour <= self.to
        }
    }
}

pub fn parse_networks(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<IpNet>()
                .or_else(|_| x.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{x:?} is not a network (CIDR) or address"))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    pub max_failures: u32,
    pub lock_minutes: u32,
    pub allowed_hours: Option<HourWindow>,
    /// Empty: any network.
    pub allowed_networks: Vec<IpNet>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_failures: 5,
            lock_minutes: 15,
            allowed_hours: None,
            allowed_networks: Vec::new(),
        }
    }
}

impl LoginLimits {
    /// Refuses a login from outside the allowed hours or networks.
    pub fn check_source(&self, ip: Option<IpAddr>, local_hour: u8) -> Result<(), ApiError> {
        if let Some(w) = self.allowed_hours {
            if !w.contains(local_hour) {
                return Err(ApiError::LoginDenied(format!(
                    "logins are allowed only between {:02}:00 and {:02}:59",
                    w.from, w.to
                )));
            }
        }
        if !self.allowed_networks.is_empty() {
            let ok = ip.is_some_and(|ip| self.allowed_networks.iter().any(|n| n.contains(&ip)));
            if !ok {
                return Err(ApiError::LoginDenied(
                    "logins are not allowed from this network".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Who a `login_policy` row applies to (`subject_kind`, `subject_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySubject {
    Global,
    Role(i64),
    Staff(i64),
}

impl PolicySubject {
    pub fn db(self) -> (&'static str, i64) {
        match self {
            PolicySubject::Global => ("G", 0),
            PolicySubject::Role(id) => ("R", id),
            PolicySubject::Staff(id) => ("S", id),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePolicy {
    pub limits: LoginLimits,
    pub password: PasswordPolicy,
}

pub const POLICY_COLUMNS: &str = "subject_kind, subject_id, max_failures, lock_minutes, \
     allowed_hours, allowed_networks, password_min_length, password_min_classes, \
     password_history, password_max_age_days";

/// One `login_policy` row as read with [`POLICY_COLUMNS`].
pub fn policy_from_row(row: &Row) -> EffectivePolicy {
    let int = |i: usize| row.get::<i64, _>(i).unwrap_or(0).max(0) as u32;
    let hours: Option<String> = row.get(4).flatten();
    let nets: Option<String> = row.get(5).flatten();
    EffectivePolicy {
        limits: LoginLimits {
            max_failures: int(2).max(1),
            lock_minutes: int(3),
            allowed_hours: hours.as_deref().and_then(HourWindow::parse),
            allowed_networks: nets
                .as_deref()
                .map(|n| parse_networks(n).unwrap_or_default())
                .unwrap_or_default(),
        },
        password: PasswordPolicy {
            min_length: int(6),
            min_classes: int(7),
            history: int(8),
            max_age_days: int(9),
        },
    }
}

/// The policy that applies to `staff_id`: staff row, else a role's, else global.
pub async fn effective<Q: Queryable>(
    conn: &mut Q,
    staff_id: i64,
) -> Result<EffectivePolicy, ApiError> {
    let rows: Vec<Row> = conn
        .exec(
            format!(
                "SELECT {POLICY_COLUMNS} FROM login_policy \
                 WHERE (subject_kind = 'S' AND subject_id = ?) OR (subject_kind = 'G' AND subject_id = 0) \
                 OR (subject_kind = 'R' AND subject_id IN (SELECT role_id FROM staff_role WHERE staff_id = ?))"
            ),
            (staff_id, staff_id),
        )
        .await?;
    let rank = |r: &Row| match r.get::<String, _>(0).as_deref() {
        Some("S") => 0,
        Some("R") => 1,
        _ => 2,
    };
    let best = rows
        .iter()
        .min_by_key(|r| (rank(r), r.get::<i64, _>(1).unwrap_or(0)));
    Ok(best.map(policy_from_row).unwrap_or_default())
}

/// The operator's local hour for a unix time.
pub fn local_hour(now_secs: u64, utc_offset_hours: i32) -> u8 {
    let shifted = now_secs as i64 + i64::from(utc_offset_hours) * 3600;
    (shifted.rem_euclid(86_400) / 3600) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_windows_wrap_and_networks_parse() {
        let w = HourWindow::parse("07-22").unwrap();
        assert!(w.contains(7) && w.contains(22) && !w.contains(23));
        let night = HourWindow::parse("22-06").unwrap();
        assert!(night.contains(23) && night.contains(3) && !night.contains(12));
        assert!(HourWindow::parse("7-25").is_none());
        let nets = parse_networks("10.0.0.0/8, 127.0.0.1").unwrap();
        let limits = LoginLimits {
            allowed_networks: nets,
            ..LoginLimits::default()
        };
        assert!(limits
            .check_source(Some("127.0.0.1".parse().unwrap()), 0)
            .is_ok());
        assert!(limits
            .check_source(Some("192.168.1.1".parse().unwrap()), 0)
            .is_err());
        assert!(parse_networks("nonsense").is_err());
        assert_eq!(local_hour(0, 8), 8);
        assert_eq!(local_hour(3600 * 20, 8), 4);
    }
}
