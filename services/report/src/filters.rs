//! A report's filters and the SQL they make. Province staff get only the
//! provinces of their scope whatever they ask for: the provinces are
//! resolved once, when the request comes in, and stored with the task.

use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::templates::{FilterKey, Shape, Template};
use haoka_core::auth::scope::Scope;
use haoka_core::db::Filter;
use haoka_core::domain::PROVINCES;
use haoka_core::problem::ApiError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Comma-separated province codes (default: every province of your scope).
    /// Provinces outside your scope are left out.
    /// (The pattern lists the operator's 31 province codes, as `domain::PROVINCES`.)
    #[param(
        pattern = "^(10|11|13|17|18|19|30|31|34|36|38|50|51|59|70|71|74|75|76|79|81|83|84|85|86|87|88|89|90|91|97)(,(10|11|13|17|18|19|30|31|34|36|38|50|51|59|70|71|74|75|76|79|81|83|84|85|86|87|88|89|90|91|97))*$"
    )]
    #[schema(
        pattern = "^(10|11|13|17|18|19|30|31|34|36|38|50|51|59|70|71|74|75|76|79|81|83|84|85|86|87|88|89|90|91|97)(,(10|11|13|17|18|19|30|31|34|36|38|50|51|59|70|71|74|75|76|79|81|83|84|85|86|87|88|89|90|91|97))*$"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province_code: Option<String>,
    #[param(pattern = "^[0-9]{3}$")]
    #[schema(pattern = "^[0-9]{3}$")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depot_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<i64>,
    /// Number or card status code (01..14 / 01..08), or a transfer's P/D/R.
    #[param(pattern = "^[0-9A-Z]{1,2}$")]
    #[schema(pattern = "^[0-9A-Z]{1,2}$")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 9)]
    #[schema(minimum = 1, maximum = 9)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// First day (UTC, inclusive), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    #[schema(value_type = Option<String>, format = Date)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (UTC, inclusive), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    #[schema(value_type = Option<String>, format = Date)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A real calendar day written `YYYY-MM-DD` (what `format: date` means):
/// `2026-02-30` is refused here rather than compared as text in SQL.
pub fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

impl Filters {
    /// Checks the values and replaces the provinces by those of `scope`
    /// the request may see (None: all provinces, for national scope only).
    pub fn resolve(mut self, scope: &Scope) -> Result<Filters, ApiError> {
        let asked: Option<Vec<String>> = match self.province_code.as_deref() {
            None | Some("") => None,
            Some(list) => Some(
                list.split(',')
                    .map(|p| {
                        let p = p.trim();
                        if PROVINCES.contains(&p) {
                            Ok(p.to_string())
                        } else {
                            Err(ApiError::Invalid(format!(
                                "province_code: unknown province {p:?}"
                            )))
                        }
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        if let Some(c) = &self.city_code {
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::Invalid("city_code: three digits".into()));
            }
        }
        if let Some(s) = &self.status {
            if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ApiError::Invalid("status: a status code such as 03".into()));
            }
        }
        for (name, d) in [("from", &self.from), ("to", &self.to)] {
            if d.as_deref().is_some_and(|d| !is_day(d)) {
                return Err(ApiError::Invalid(format!("{name}: a day as YYYY-MM-DD")));
            }
        }
        let provinces = match (scope, asked) {
            (Scope::All, asked) => asked,
            (Scope::Provinces(mine), asked) => {
                let kept: Vec<String> = asked
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| mine.contains(p))
                    .collect();
                // Asking for other provinces only (or for all) gives your own.
                Some(if kept.is_empty() {
                    mine.iter().cloned().collect()
                } else {
                    kept
                })
            }
        };
        self.province_code = provinces.map(|mut v| {
            v.sort();
            v.dedup();
            v.join(",")
        });
        Ok(self)
    }

    fn provinces(&self) -> Option<Vec<String>> {
        self.province_code
            .as_deref()
            .map(|l| l.split(',').map(str::to_string).collect())
    }

    /// The WHERE clause for `t` (filters a template has no column for are ignored).
    pub fn filter(&self, t: &Template) -> Filter {
        let days = t.date_col.map(|col| Days {
            col,
            from: self.from.clone(),
            to: self.to.clone(),
        });
        self.filter_on(&Source::of(t), days.as_ref())
    }

    /// The WHERE clause over `src`, for the days of `days` if given.
    pub fn filter_on(&self, src: &Source<'_>, days: Option<&Days<'_>>) -> Filter {
        let mut f = Filter::default();
        if !src.base.is_empty() {
            f.condition(src.base.to_string(), vec![]);
        }
        if let Some(ps) = self.provinces() {
            f.any_of(src.province_col, &ps);
        }
        for (key, col) in src.filters {
            let v: Option<Value> = match key {
                FilterKey::City => self.city_code.clone().map(Value::from),
                FilterKey::Pool => self.pool_id.map(Value::from),
                FilterKey::Depot => self.depot_id.map(Value::from),
                FilterKey::Channel => self.channel_id.map(Value::from),
                FilterKey::Status => self.status.clone().map(Value::from),
                FilterKey::Level => self.level.map(Value::from),
            };
            f.eq(col, v);
        }
        if let Some(d) = days {
            if let Some(from) = &d.from {
                f.condition(format!("{} >= ?", d.col), vec![from.clone().into()]);
            }
            if let Some(to) = &d.to {
                f.condition(
                    format!("{} < DATE_ADD(?, INTERVAL 1 DAY)", d.col),
                    vec![to.clone().into()],
                );
            }
        }
        f
    }

    /// The statement computing `t` under these filters, with its parameters.
    pub fn sql(&self, t: &Template) -> (String, Vec<Value>) {
        let f = self.filter(t);
        Source::of(t).statement(f)
    }
}

/// Where rows come from: a template's own tables, or the statistics table
/// of a trend (`plan.rs`).
pub struct Source<'a> {
    pub from: &'a str,
    pub province_col: &'a str,
    /// A condition every row meets (empty: none).
    pub base: &'a str,
    pub filters: &'a [(FilterKey, &'a str)],
    /// The select items.
    pub items: Vec<String>,
    /// What it groups and orders by (empty: a detail, rows as they are).
    pub group: Vec<String>,
}

impl<'a> Source<'a> {
    /// The template's own tables.
    pub fn of(t: &'a Template) -> Source<'a> {
        let items = t.dims.iter().chain(t.measures).map(|x| x.sql.to_string());
        let group = match t.shape {
            Shape::Aggregate => t.dims.iter().map(|x| x.sql.to_string()).collect(),
            Shape::Detail => vec![],
        };
        Source {
            from: t.from,
            province_col: t.province_col,
            base: t.base,
            filters: t.filters,
            items: items.collect(),
            group,
        }
    }

    /// The statement over this source under the WHERE clause `f`.
    pub fn statement(&self, f: Filter) -> (String, Vec<Value>) {
        let mut sql = format!(
            "SELECT {} FROM {}{}",
            self.items.join(", "),
            self.from,
            f.sql()
        );
        if !self.group.is_empty() {
            sql.push_str(&format!(
                " GROUP BY {0} ORDER BY {0}",
                self.group.join(", ")
            ));
        }
        (sql, f.params)
    }
}

/// Days (UTC, inclusive; None: open) a statement covers, on a date or
/// DATETIME column.
pub struct Days<'a> {
    pub col: &'a str,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::find;

    fn scope(ps: &[&str]) -> Scope {
        Scope::Provinces(ps.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn province_staff_get_their_own_provinces_whatever_they_ask() {
        let ask = |p: Option<&str>, s: &Scope| {
            Filters {
                province_code: p.map(str::to_string),
                ..Default::default()
            }
            .resolve(s)
            .unwrap()
            .province_code
        };
        let s = scope(&["51"]);
        assert_eq!(ask(None, &s).as_deref(), Some("51"));
        assert_eq!(ask(Some("36"), &s).as_deref(), Some("51"));
        assert_eq!(ask(Some("36,51"), &s).as_deref(), Some("51"));
        let two = scope(&["51", "36"]);
        assert_eq!(ask(Some("36"), &two).as_deref(), Some("36"));
        assert_eq!(ask(None, &two).as_deref(), Some("36,51"));
        assert_eq!(ask(None, &Scope::All), None);
        assert_eq!(ask(Some("51,11"), &Scope::All).as_deref(), Some("11,51"));
        let bad = Filters {
            province_code: Some("99".into()),
            ..Default::default()
        };
        assert!(bad.resolve(&Scope::All).is_err());
    }

    #[test]
    fn the_statement_groups_by_the_dimensions() {
        let f = Filters {
            province_code: Some("51".into()),
            status: Some("03".into()),
            ..Default::default()
        };
        let (sql, params) = f.sql(find("premium").unwrap());
        assert_eq!(
            sql,
            "SELECT province_code, premium_level, status, COUNT(*) FROM phone_number \
             WHERE premium_level < 9 AND province_code IN (?) AND status = ? \
             GROUP BY province_code, premium_level, status ORDER BY province_code, premium_level, status"
        );
        assert_eq!(params.len(), 2);
        assert!(is_day("2026-12-02") && !is_day("2026-13-02") && !is_day("2026-1-02"));
        assert!(is_day("2024-02-29") && !is_day("2026-02-29") && !is_day("2026-04-31"));
        assert!(!is_day("2026-00-10") && !is_day("2026-05-00"));
    }
}
