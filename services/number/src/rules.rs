//! 靓号 rule maintenance: the broadcast tables premium_rule and premium_level
//! (seeded with national defaults at start), and re-classification of stock
//! numbers after a rule change.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::change::{locate_all, read_rows};
use super::history::{self, Entry};
use super::premium::{self, PatternClass, Rule, DEFAULT_LEVELS, DEFAULT_RULES};
use super::shelf_cache::ShelfKey;
use super::status::NumberStatus;
use super::transition::Action;
use crate::NumberState;
use haoka_core::auth::actor::Actor;
use haoka_core::auth::rbac::Principal;
use haoka_core::db::{col, insert_id, Db};
use haoka_core::domain::ProvinceCode;
use haoka_core::problem::{ApiError, Json, Path};

/// Every rule (enabled or not).
pub async fn load(db: &Db) -> Result<Vec<Rule>, ApiError> {
    let mut c = db.conn().await?;
    let rows: Vec<mysql_async::Row> = c
        .query(
            "SELECT rule_id, level, pattern_class, pattern, priority, province_code, enabled \
             FROM premium_rule ORDER BY priority, rule_id",
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Rule {
                rule_id: col(r, 0),
                level: col(r, 1),
                class: PatternClass::from_code(&col::<String>(r, 2))?,
                pattern: col(r, 3),
                priority: col(r, 4),
                province: col(r, 5),
                enabled: col::<i64>(r, 6) != 0,
            })
        })
        .collect())
}

/// Level fees and the national default rules, when the tables are empty.
/// Servers starting together may race; a level row another one wrote first
/// is fine, and duplicate default rules classify the same.
pub async fn seed(state: &NumberState) -> Result<(), ApiError> {
    let mut c = state.db.conn().await?;
    for (level, name, deposit, monthly, term) in DEFAULT_LEVELS {
        let have: Option<i64> = c
            .exec_first("SELECT level FROM premium_level WHERE level = ?", (*level,))
            .await?;
        if have.is_none() {
            let r = c
                .exec_drop(
                    "INSERT INTO premium_level (level, name, pre_deposit_cents, min_monthly_spend_cents, \
                     term_months) VALUES (?, ?, ?, ?, ?)",
                    (*level, *name, *deposit, *monthly, *term),
                )
                .await
                .map_err(ApiError::from);
            match r {
                Ok(()) | Err(ApiError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let rules: Option<i64> = c.query_first("SELECT COUNT(*) FROM premium_rule").await?;
    if rules == Some(0) {
        let marks = vec!["(?, ?, ?, ?, ?)"; DEFAULT_RULES.len()].join(", ");
        let params: Vec<Value> = DEFAULT_RULES
            .iter()
            .flat_map(|(l, class, pat, prio, enabled)| {
                [
                    Value::from(*l),
                    Value::from(class.code()),
                    Value::from(*pat),
                    Value::from(*prio),
                    Value::from(*enabled),
                ]
            })
            .collect();
        c.exec_drop(
            format!(
                "INSERT INTO premium_rule (level, pattern_class, pattern, priority, enabled) VALUES {marks}"
            ),
            params,
        )
        .await?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/numbers/premium/rules", tag = "numbers",
    security(("bearer" = [])), responses((status = 200, body = Vec<Rule>)))]
pub async fn list_rules(State(state): State<NumberState>) -> Result<Json<Vec<Rule>>, ApiError> {
    Ok(Json(load(&state.db).await?))
}

/// Its schema (pattern by class) is in `doc.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub level: u8,
    pub class: PatternClass,
    #[serde(default)]
    pub pattern: String,
    pub priority: i32,
    pub province: Option<ProvinceCode>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn check_level(level: u8) -> Result<(), ApiError> {
    if (1..=6).contains(&level) {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "a rule's level must be 1 to 6 (got {level})"
        )))
    }
}

#[utoipa::path(post, path = "/api/v1/numbers/premium/rules", tag = "numbers", request_body = NewRule,
    security(("bearer" = [])), responses((status = 201, body = Rule)))]
pub async fn create_rule(
    State(state): State<NumberState>,
    principal: Principal,
    Json(req): Json<NewRule>,
) -> Result<Response, ApiError> {
    check_level(req.level)?;
    req.class
        .check_param(&req.pattern)
        .map_err(ApiError::Invalid)?;
    principal
        .scope
        .check(req.province.as_ref().map(|p| p.as_str()))?;
    let mut tx = state.db.begin().await?;
    let id = insert_id(
        &mut tx,
        "INSERT INTO premium_rule (level, pattern_class, pattern, priority, province_code, enabled) \
         VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            req.level.into(),
            req.class.code().into(),
            req.pattern.as_str().into(),
            req.priority.into(),
            req.province.as_ref().map(|p| p.as_str()).into(),
            req.enabled.into(),
        ],
    )
    .await?;
    let rule = Rule {
        rule_id: id,
        level: req.level,
        class: req.class,
        pattern: req.pattern,
        priority: req.priority,
        province: req.province.map(|p| p.to_string()),
        enabled: req.enabled,
    };
    haoka_core::oplog::record(
        &mut tx,
        &principal,
        haoka_core::oplog::Change {
            action: "premium_rule.create",
            object_kind: "premium_rule",
            object_id: id.to_string(),
            province: rule.province.as_deref(),
            before: None,
            after: serde_json::to_value(&rule).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    #[schema(minimum = 1, maximum = 6)]
    pub level: Option<u8>,
    pub priority: Option<i32>,
    pub enabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/numbers/premium/rules/{id}", tag = "numbers", params(("id" = i64, Path)), request_body = RulePatch,
    security(("bearer" = [])), responses((status = 200, body = Rule)))]
pub async fn update_rule(
    State(state): State<NumberState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(req): Json<RulePatch>,
) -> Result<Json<Rule>, ApiError> {
    let rules = load(&state.db).await?;
    let before = rules
        .into_iter()
        .find(|r| r.rule_id == id)
        .ok_or_else(|| ApiError::not_found("premium rule", id))?;
    principal.scope.check(before.province.as_deref())?;
    let mut after = before.clone();
    if let Some(l) = req.level {
        check_level(l)?;
        after.level = l;
    }
    if let Some(p) = req.priority {
        after.priority = p;
    }
    if let Some(e) = req.enabled {
        after.enabled = e;
    }
    let mut tx = state.db.begin().await?;
    tx.exec_drop(
        "UPDATE premium_rule SET level = ?, priority = ?, enabled = ? WHERE rule_id = ?",
        (after.level, after.priority, after.enabled, id),
    )
    .await?;
    haoka_core::oplog::record(
        &mut tx,
        &principal,
        haoka_core::oplog::Change {
            action: "premium_rule.update",
            object_kind: "premium_rule",
            object_id: id.to_string(),
            province: after.province.as_deref(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(after))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Level {
    pub level: u8,
    pub name: String,
    pub pre_deposit_cents: i64,
    pub min_monthly_spend_cents: i64,
    pub term_months: i32,
}

pub async fn level_of<Q: Queryable>(c: &mut Q, level: u8) -> Result<Option<Level>, ApiError> {
    let row: Option<(u8, String, i64, i64, i32)> = c
        .exec_first(
            "SELECT level, name, pre_deposit_cents, min_monthly_spend_cents, term_months \
             FROM premium_level WHERE level = ?",
            (level,),
        )
        .await?;
    Ok(row.map(|(level, name, d, m, t)| Level {
        level,
        name,
        pre_deposit_cents: d,
        min_monthly_spend_cents: m,
        term_months: t,
    }))
}

#[utoipa::path(get, path = "/api/v1/numbers/premium/levels", tag = "numbers",
    security(("bearer" = [])), responses((status = 200, body = Vec<Level>)))]
pub async fn list_levels(State(state): State<NumberState>) -> Result<Json<Vec<Level>>, ApiError> {
    let mut c = state.db.conn().await?;
    let rows: Vec<(u8, String, i64, i64, i32)> = c
        .query(
            "SELECT level, name, pre_deposit_cents, min_monthly_spend_cents, term_months \
             FROM premium_level ORDER BY level",
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(level, name, d, m, t)| Level {
                level,
                name,
                pre_deposit_cents: d,
                min_monthly_spend_cents: m,
                term_months: t,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReclassifyRequest {
    #[schema(schema_with = super::doc::numbers)]
    pub numbers: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Reclassified {
    pub phone_no: String,
    pub from_level: u8,
    pub to_level: u8,
}

/// Re-applies the current rules to in-stock numbers; changed levels get a
/// history row.
#[utoipa::path(post, path = "/api/v1/numbers/premium/reclassify", tag = "numbers", request_body = ReclassifyRequest,
    security(("bearer" = [])), responses((status = 200, body = Vec<Reclassified>, description = "the numbers whose level changed")))]
pub async fn reclassify(
    State(state): State<NumberState>,
    principal: Principal,
    Json(req): Json<ReclassifyRequest>,
) -> Result<Json<Vec<Reclassified>>, ApiError> {
    let actor = Actor::Staff(principal);
    let located = locate_all(&state, &actor, &req.numbers).await?;
    let rules = load(&state.db).await?;
    let names: Vec<&str> = located.iter().map(|l| l.no.as_str()).collect();
    let mut tx = state.db.begin().await?;
    let rows = read_rows(&mut tx, &names, true).await?;
    let mut levels: std::collections::HashMap<String, u8> = std::collections::HashMap::new();
    for chunk in names.chunks(500) {
        let r: Vec<(String, u8)> = tx
            .exec(
                format!(
                    "SELECT phone_no, premium_level FROM phone_number WHERE phone_no IN ({})",
                    haoka_core::db::marks(chunk.len())
                ),
                chunk.iter().map(|n| Value::from(*n)).collect::<Vec<_>>(),
            )
            .await?;
        levels.extend(r);
    }
    let mut out = Vec::new();
    let mut entries = Vec::new();
    let mut shelves: HashSet<ShelfKey> = HashSet::new();
    for l in &located {
        let n = l.no.as_str();
        let (Some(row), Some(old)) = (rows.get(n), levels.get(n)) else {
            return Err(ApiError::not_found("number", n));
        };
        if !row.status.in_stock() {
            continue;
        }
        let new = premium::classify(&l.no, &row.province, &rules);
        if new == *old {
            continue;
        }
        tx.exec_drop(
            "UPDATE phone_number SET premium_level = ?, version = version + 1 WHERE phone_no = ?",
            (new, n),
        )
        .await?;
        if row.status == NumberStatus::OnShelf {
            shelves.insert(row.shelf());
        }
        entries.push(Entry {
            phone_no: n.to_string(),
            province: row.province.clone(),
            from: Some(row.status),
            to: row.status,
            action: Action::Reclassify,
            hold_key: None,
            channel_id: None,
            staff_id: actor.staff_id(),
            detail: Some(format!("level {old} -> {new}")),
        });
        out.push(Reclassified {
            phone_no: n.to_string(),
            from_level: *old,
            to_level: new,
        });
    }
    history::write(&mut tx, &entries).await?;
    tx.commit().await?;
    state.center.announce(shelves);
    Ok(Json(out))
}
