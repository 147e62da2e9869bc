//! 选号: search on-shelf numbers by area, pool, premium level, tail, contained
//! or excluded digits, "no 4" and pattern classes, served from the local shelf
//! cache, only over pools the caller may view, with a cap on what one call and
//! one paging window may return (anti-grabbing).

use axum::extract::State;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::premium::PatternClass;
use super::shelf_cache::{ShelfKey, ShelfNumber};
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::channel_sign::ChannelCaller;
use haoka_core::auth::rbac::Principal;
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Query};

/// The page limits below are the server defaults (`number.max_results_per_call`,
/// `number.max_result_window`); page × page_size may not pass the window.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SelectQuery {
    /// Default: the caller's own province. A caller without one
    /// (headquarters staff, a national channel) must name it: a search
    /// covers one province (403 `not_allowed` otherwise).
    pub province_code: Option<ProvinceCode>,
    #[param(pattern = "^[0-9]{3}$")]
    pub city_code: Option<String>,
    pub pool_id: Option<i64>,
    /// Comma-separated premium levels, e.g. `1,2,9`.
    #[param(pattern = "^[1-69](,[1-69])*$")]
    pub level: Option<String>,
    /// The number ends with these digits.
    #[param(pattern = "^[0-9]{1,8}$")]
    pub tail: Option<String>,
    /// The last 8 digits contain this digit string.
    #[param(pattern = "^[0-9]{1,8}$")]
    pub contains: Option<String>,
    /// None of these digits appear in the last 8 digits.
    #[param(pattern = "^[0-9]{1,10}$")]
    pub not_contains: Option<String>,
    /// No 4 in the last 8 digits.
    pub no4: Option<bool>,
    /// A pattern class of the tail.
    #[param(pattern = "^(AAAAA|AAAA|AAA|ABCD|DCBA|AABB|ABAB|ABBA|NO4)$")]
    pub pattern: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 50)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SelectedNumber {
    pub phone_no: String,
    pub province_code: String,
    pub city_code: String,
    pub pool_id: Option<i64>,
    pub premium_level: u8,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SelectPage {
    pub items: Vec<SelectedNumber>,
    /// Matches within the paging window (never more than the window).
    pub total: usize,
    pub page: u32,
    pub page_size: u32,
}

/// The checked filters.
#[derive(Debug, Default)]
pub struct Criteria {
    levels: Option<Vec<u8>>,
    tail: Option<String>,
    contains: Option<String>,
    not_contains: Vec<u8>,
    no4: bool,
    pattern: Option<PatternClass>,
}

fn digits(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    if v.is_empty() || v.len() > max || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Invalid(format!(
            "{field} must be 1 to {max} digits"
        )));
    }
    Ok(v.to_string())
}

impl Criteria {
    pub fn parse(q: &SelectQuery) -> Result<Criteria, ApiError> {
        let levels = match &q.level {
            None => None,
            Some(s) => Some(
                s.split(',')
                    .map(|x| match x.parse::<u8>() {
                        Ok(l) if (1..=6).contains(&l) || l == 9 => Ok(l),
                        _ => Err(ApiError::Invalid(format!(
                            "level must list premium levels 1-6 or 9 (got {x:?})"
                        ))),
                    })
                    .collect::<Result<Vec<u8>, _>>()?,
            ),
        };
        let pattern = match &q.pattern {
            None => None,
            Some(p) => match PatternClass::from_code(p) {
                Some(PatternClass::Tail) | None => {
                    return Err(ApiError::Invalid(format!(
                        "pattern must be one of AAAAA, AAAA, AAA, ABCD, DCBA, AABB, ABAB, ABBA, NO4 (got {p:?}); use tail= for tail digits"
                    )))
                }
                Some(c) => Some(c),
            },
        };
        Ok(Criteria {
            levels,
            tail: q
                .tail
                .as_deref()
                .map(|t| digits("tail", t, 8))
                .transpose()?,
            contains: q
                .contains
                .as_deref()
                .map(|t| digits("contains", t, 8))
                .transpose()?,
            not_contains: q
                .not_contains
                .as_deref()
                .map(|t| digits("not_contains", t, 10))
                .transpose()?
                .map(|s| s.into_bytes())
                .unwrap_or_default(),
            no4: q.no4.unwrap_or(false),
            pattern,
        })
    }

    pub fn matches(&self, n: &ShelfNumber) -> bool {
        let d = n.no.digits();
        let body = &d[3..];
        if let Some(l) = &self.levels {
            if !l.contains(&n.level) {
                return false;
            }
        }
        if let Some(t) = &self.tail {
            if !d.ends_with(t.as_bytes()) {
                return false;
            }
        }
        if let Some(c) = &self.contains {
            if !body.windows(c.len()).any(|w| w == c.as_bytes()) {
                return false;
            }
        }
        if self.not_contains.iter().any(|x| body.contains(x)) {
            return false;
        }
        if self.no4 && body.contains(&b'4') {
            return false;
        }
        if let Some(p) = self.pattern {
            if !p.matches(d, "") {
                return false;
            }
        }
        true
    }
}

#[utoipa::path(get, path = "/api/v1/numbers/select", tag = "numbers", params(SelectQuery),
    security(("bearer" = [])), responses((status = 200, body = SelectPage)))]
pub async fn staff_select(
    State(state): State<NumberState>,
    principal: Principal,
    Query(q): Query<SelectQuery>,
) -> Result<Json<SelectPage>, ApiError> {
    Ok(Json(select(&state, &Actor::Staff(principal), &q).await?))
}

#[utoipa::path(get, path = "/api/v1/open/numbers/select", tag = "channel api", params(SelectQuery),
    security(("channel_signature" = [])), responses((status = 200, body = SelectPage)))]
pub async fn channel_select(
    State(state): State<NumberState>,
    Extension(caller): Extension<ChannelCaller>,
    Query(q): Query<SelectQuery>,
) -> Result<Json<SelectPage>, ApiError> {
    Ok(Json(select(&state, &Actor::Channel(caller), &q).await?))
}

pub async fn select(
    state: &NumberState,
    actor: &Actor,
    q: &SelectQuery,
) -> Result<SelectPage, ApiError> {
    let cfg = &state.center.cfg;
    let page = q.page.unwrap_or(1);
    let page_size = q.page_size.unwrap_or(20);
    if page_size == 0 || page_size > cfg.max_results_per_call {
        return Err(ApiError::Invalid(format!(
            "page_size must be 1 to {} (at most that many numbers per call)",
            cfg.max_results_per_call
        )));
    }
    if page == 0 {
        return Err(ApiError::Invalid("page must be 1 or more".into()));
    }
    // Anti-grabbing: a well-formed request for more than the window is
    // refused, not an error in the request.
    if u64::from(page) * u64::from(page_size) > u64::from(cfg.max_result_window) {
        return Err(ApiError::NotAllowed(format!(
            "page × page_size may not pass {} (narrow the search instead of paging deeper)",
            cfg.max_result_window
        )));
    }
    let criteria = Criteria::parse(q)?;
    let province = match (&q.province_code, actor.home_province()) {
        (Some(p), _) => p.as_str(),
        (None, Some(p)) => p,
        // A well-formed request this caller may not make: a search of every
        // province at once (as with the window, refused rather than invalid).
        (None, None) => {
            return Err(ApiError::NotAllowed(
                "a search covers one province: name province_code (you have no home province)"
                    .into(),
            ))
        }
    };
    actor.check_province(province)?;
    let segs = state.center.segments(&state.db).await?;
    let cities = match &q.city_code {
        Some(c) if segs.city_in(province, c) => vec![c.clone()],
        Some(c) => return Err(super::unknown_city(province, c)),
        None => segs.cities(province),
    };
    let rights = state.center.grants.rights(&state.db, actor).await?;
    let pools: Vec<Option<i64>> = match q.pool_id {
        Some(p) if rights.can_view(Some(p)) => vec![Some(p)],
        // A pool the caller may not view looks empty, not forbidden.
        Some(_) => vec![],
        None => {
            let mut v = vec![None];
            v.extend(
                super::pool::pools_in(state, province, &rights)
                    .await?
                    .into_iter()
                    .map(Some),
            );
            v
        }
    };
    let window = (page * page_size) as usize;
    let mut hits: Vec<SelectedNumber> = Vec::new();
    for city in &cities {
        for pool in &pools {
            let key = ShelfKey {
                province: province.to_string(),
                city: city.clone(),
                pool: *pool,
            };
            let shelf = state.center.shelf.get(&state.db, &key).await?;
            let taken = state.center.shelf.taken_after(&key, &shelf);
            hits.extend(
                shelf
                    .numbers
                    .iter()
                    .filter(|n| criteria.matches(n) && taken.binary_search(&n.no).is_err())
                    .take(window)
                    .map(|n| SelectedNumber {
                        phone_no: n.no.to_string(),
                        province_code: province.to_string(),
                        city_code: city.clone(),
                        pool_id: *pool,
                        premium_level: n.level,
                    }),
            );
        }
    }
    hits.sort_unstable_by(|a, b| a.phone_no.cmp(&b.phone_no));
    hits.truncate(window);
    let total = hits.len();
    let start = ((page - 1) * page_size) as usize;
    let items = hits
        .into_iter()
        .skip(start)
        .take(page_size as usize)
        .collect();
    Ok(SelectPage {
        items,
        total,
        page,
        page_size,
    })
}
