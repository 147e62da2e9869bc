//! SQL routing: a pure library (no I/O, no async) that turns one statement
//! plus the session's schema into a plan of physical statements on shards.
//!
//! # API for the executor
//!
//! ```text
//! let router = Router::new(Arc::new(rules));          // share between connections
//!
//! // COM_QUERY: plans are cached by normalised text
//! match router.plan_text(&session.schema, sql, &segments)? {
//!     Routed::Shards(p) => {
//!         // p.targets: Vec<Target { place, sql, prepared: None }>
//!         // p.merge: Some(MergePlan) when several targets answer a SELECT:
//!         //   spec = merge.spec_for(columns_of_first_result_set)
//!         // p.broadcast: every target in one distributed transaction
//!         // p.any_copy: a broadcast read, any place may answer (same SQL)
//!         // p.ids: sequence ids filled in (LAST_INSERT_ID = ids[0])
//!     }
//!     Routed::NeedIds(pending) => {                 // INSERT needing sequence ids
//!         let ids = sequences.next(&pending.sequence, pending.count).await?;
//!         let routed = pending.bind_ids(&ids, &segments)?;   // -> Routed::Shards
//!     }
//!     Routed::NeedLookup(pending) => {              // sim_card by ICCID only
//!         // run pending.lookups (one column: the shard key), then
//!         let routed = pending.bind_keys(&keys, &segments)?; // -> Routed::Shards
//!     }
//!     Routed::Session(cmd)      => { /* SET NAMES, autocommit, USE, BEGIN, ... */ }
//!     Routed::Metadata(m)       => { /* SHOW DATABASES/TABLES/COLUMNS..., information_schema */ }
//!     Routed::Haoka(show)       => { /* SHOW HAOKA SHARDS|RULES|STATUS */ }
//!     Routed::Explain(inner)    => { let rows = explain(&inner, schema); /* EXPLAIN_COLUMNS */ }
//!     Routed::NoTable { sql }   => { /* SELECT 1, @@vars, DATABASE(): local or any shard */ }
//!     Routed::PassThrough { sql } => { /* KILL, FLUSH, ...: any backend or refuse */ }
//! }
//!
//! // COM_STMT_PREPARE once, COM_STMT_EXECUTE many times
//! let ps: Arc<PreparedPlan> = router.prepare(&session.schema, "SELECT c FROM sbtest1 WHERE id=?")?;
//! let routed = ps.bind(&[Value::Int(123)], &segments)?;
//! // each Target has prepared: Some(PreparedSql { sql: "SELECT c FROM `sbtest1` WHERE id = ?",
//! //   params: [0] }) -- stable text for a single-shard route; forwards_as_is(n)
//! //   says the client's EXECUTE parameters can be forwarded unchanged.
//! ```
//!
//! Errors are [`RouteError`]s with [`RouteError::code`] and
//! [`RouteError::sqlstate`] for the client's ERR packet.
//!
//! Plans are parameterised: a text query is normalised (literals become
//! placeholders, see [`normalize`]) and its plan is cached by that
//! fingerprint (plus schema and hint), exactly as a prepared statement's plan
//! is; binding the literals (or the EXECUTE values) evaluates the shard-key
//! conditions, the derivations (segment lookup through [`SegmentMap`]) and
//! renders each target's SQL. Segment-map changes need no cache flush, nor
//! do province moves: the province map is read at bind time, including
//! which shards hold stale rows of a moved province that a target must
//! exclude (`Piece::ExcludeOpen`, reshard); a new rules file needs a new
//! `Router`.
//!
//! Besides its routing, a plan carries [`StmtFlags`] (locking read,
//! `MAX_EXECUTION_TIME`, `SQL_CALC_FOUND_ROWS`, session values): read once
//! from the syntax tree and the tokens, cached with the plan, and given to
//! the executor by [`Router::plan_text_flagged`] and [`PreparedPlan::flags`].
//!
//! Modules: `lexer` (tokenizer, normaliser, hints, templates), `keys`
//! (shard-key conditions and their evaluation), `build` (classification,
//! rewrite and merge planning, one module per statement kind), `names` (the
//! client's text as the name of unaliased select items), `bind` (routing at
//! bind time, one module per statement kind), `cache`, `explain`, `error`.

mod bind;
mod build;
mod cache;
pub mod dialect;
mod error;
mod explain;
#[cfg(test)]
mod flags_tests;
mod keys;
mod lexer;
#[cfg(test)]
mod literal_tests;
mod names;
mod plan;
mod show;
#[cfg(test)]
mod tests;
mod versioned;

use std::sync::Arc;

use mysql_common::value::Value;

pub use build::PASS_THROUGH_PREFIXES;
pub use dialect::parse_statements;
pub use error::RouteError;
pub use explain::{describe_merge, explain, ExplainRow, EXPLAIN_COLUMNS};
pub use keys::{NoSegments, SegmentMap};
pub use lexer::{
    push_quoted_ident, quote_ident, split_statements, unescape_in, Hint, Lit, LitValue, SqlMode,
    SESSION_FUNCTIONS,
};
pub(crate) use lexer::{quoted_end, string_value};
pub use plan::{
    HaokaShow, MergePlan, Metadata, ParamSource, PendingInsert, PendingLookup, PreparedSql, Routed,
    SessionCommand, ShardPlan, ShowFilter, StmtFlags, StmtKind, TableShow, Target,
};
pub use show::table_target;
pub use versioned::{binary_literals_as_hex, expand_executable_comments, with_column_list};

use crate::rules::Rules;
use cache::{Key, PlanCache};
use keys::Args;
use lexer::{scan, scan_in, Mode};
use plan::Plan;

/// Default plan-cache capacity (statements).
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Text statements with more literals than this are not cached.
pub const MAX_CACHED_LITERALS: usize = 256;
/// Text statements longer than this (normalised) are not cached.
pub const MAX_CACHED_TEXT: usize = 16 * 1024;

/// A normalised statement: its fingerprint and literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The statement with literals replaced by `?1`, `?2`..., comments
    /// dropped (but `/*! */` and optimizer hints) and whitespace collapsed.
    pub fingerprint: String,
    pub literals: Vec<Lit>,
    /// The `/*+ HAOKA shard=... */` hint, part of the cache key.
    pub hint: Option<Hint>,
}

/// Normalise a text query without parsing it.
pub fn normalize(sql: &str) -> Result<Normalized, RouteError> {
    let s = scan(sql, Mode::Text)?;
    Ok(Normalized {
        fingerprint: s.text,
        literals: s.lits,
        hint: s.hint,
    })
}

const CACHED_FIRST_WORDS: &[&str] = &["SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE", "WITH"];

/// Plans statements for one set of rules; share it between connections.
pub struct Router {
    rules: Arc<Rules>,
    cache: PlanCache,
}

/// A statement prepared once (COM_STMT_PREPARE) and bound per execution.
#[derive(Debug, Clone)]
pub struct PreparedPlan {
    plan: Arc<Plan>,
    rules: Arc<Rules>,
    schema_idx: usize,
    sql_mode: SqlMode,
}

impl PreparedPlan {
    /// Number of `?` parameters the client must bind.
    pub fn params(&self) -> usize {
        self.plan.params
    }

    pub fn kind(&self) -> StmtKind {
        self.plan.kind
    }

    /// What the statement is, beyond its routing (see [`StmtFlags`]).
    pub fn flags(&self) -> StmtFlags {
        self.plan.flags
    }

    /// Route one execution. Each target carries `prepared` (physical SQL with
    /// `?` and the parameter map) besides the inlined `sql`; for a statement
    /// routed to one shard the prepared SQL is the same on every execution.
    pub fn bind(&self, params: &[Value], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        lexer::with_sql_mode(self.sql_mode, || {
            bind::bind(
                &self.plan,
                &self.rules,
                self.schema_idx,
                Args::Values(params),
                segs,
            )
        })
    }
}

impl Router {
    pub fn new(rules: Arc<Rules>) -> Router {
        Router::with_capacity(rules, DEFAULT_CACHE_CAPACITY)
    }

    pub fn with_capacity(rules: Arc<Rules>, capacity: usize) -> Router {
        Router {
            rules,
            cache: PlanCache::new(capacity),
        }
    }

    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// Plans in the cache.
    pub fn cached_plans(&self) -> usize {
        self.cache.len()
    }

    pub fn clear_cache(&self) {
        self.cache.clear()
    }

    /// The index of a schema ("" = the default schema).
    fn schema_idx(&self, schema: &str) -> Result<usize, RouteError> {
        if schema.is_empty() {
            return self
                .rules
                .schemas
                .iter()
                .position(|s| s.is_default)
                .ok_or_else(|| RouteError::UnknownSchema(String::new()));
        }
        self.rules
            .schemas
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(schema))
            .ok_or_else(|| RouteError::UnknownSchema(schema.to_string()))
    }

    /// Route a text-protocol statement (COM_QUERY), using the plan cache for
    /// SELECT / INSERT / REPLACE / UPDATE / DELETE.
    pub fn plan_text(
        &self,
        schema: &str,
        sql: &str,
        segs: &dyn SegmentMap,
    ) -> Result<Routed, RouteError> {
        self.plan_text_in(schema, sql, segs, SqlMode::default())
    }

    /// [`Router::plan_text`] for a session whose sql_mode reads statements
    /// differently (NO_BACKSLASH_ESCAPES, ANSI_QUOTES).
    pub fn plan_text_in(
        &self,
        schema: &str,
        sql: &str,
        segs: &dyn SegmentMap,
        sql_mode: SqlMode,
    ) -> Result<Routed, RouteError> {
        self.plan_text_flagged(schema, sql, segs, sql_mode)
            .map(|(routed, _)| routed)
    }

    /// [`Router::plan_text_in`], with the statement's [`StmtFlags`].
    pub fn plan_text_flagged(
        &self,
        schema: &str,
        sql: &str,
        segs: &dyn SegmentMap,
        sql_mode: SqlMode,
    ) -> Result<(Routed, StmtFlags), RouteError> {
        // values inlined at bind time are written for the same sql_mode
        lexer::with_sql_mode(sql_mode, || self.plan_text_now(schema, sql, segs, sql_mode))
    }

    fn plan_text_now(
        &self,
        schema: &str,
        sql: &str,
        segs: &dyn SegmentMap,
        sql_mode: SqlMode,
    ) -> Result<(Routed, StmtFlags), RouteError> {
        let idx = self.schema_idx(schema)?;
        let run = |plan: &Arc<Plan>, lits: &[Lit]| {
            bind::bind(plan, &self.rules, idx, Args::Lits(lits), segs).map(|r| (r, plan.flags))
        };
        let scan = |sql: &str, mode: Mode| scan_in(sql, mode, sql_mode);
        let mut sc = scan(sql, Mode::Text)?;
        if !CACHED_FIRST_WORDS.contains(&sc.first_word.as_str())
            || build::mentions_info_schema(&sc.text)
        {
            let sc = scan(sql, Mode::Prepared)?;
            let plan = Arc::new(build::build(&self.rules.schemas[idx], &sc)?);
            return run(&plan, &[]);
        }
        // bulk statements (sysbench prepare's multi-row INSERTs) are planned
        // but not cached: each is different and their plans are large
        let cacheable = sc.lits.len() <= MAX_CACHED_LITERALS && sc.text.len() <= MAX_CACHED_TEXT;
        let key = Key {
            schema: idx,
            sql_mode,
            hint: sc.hint,
            text: std::mem::take(&mut sc.text),
        };
        if !cacheable {
            sc.text = key.text;
            return match build::build(&self.rules.schemas[idx], &sc) {
                Ok(plan) => run(&Arc::new(plan), &sc.lits),
                Err(RouteError::Syntax(e)) => {
                    let raw = scan(sql, Mode::Prepared)?;
                    if raw.params > 0 {
                        return Err(RouteError::Syntax(e));
                    }
                    let plan = Arc::new(build::build(&self.rules.schemas[idx], &raw)?);
                    run(&plan, &[])
                }
                Err(e) => Err(e),
            };
        }
        if let Some(plan) = self.cache.get(&key) {
            return run(&plan, &sc.lits);
        }
        sc.text = key.text.clone();
        match build::build(&self.rules.schemas[idx], &sc) {
            Ok(plan) => {
                let plan = Arc::new(plan);
                self.cache.put(key, plan.clone());
                run(&plan, &sc.lits)
            }
            Err(RouteError::Syntax(first_err)) => {
                // the normalised form may not parse where a literal is
                // required (e.g. a type length): plan the text as written
                let raw = scan(sql, Mode::Prepared)?;
                if raw.params > 0 {
                    return Err(RouteError::Syntax(first_err));
                }
                let plan = Arc::new(build::build(&self.rules.schemas[idx], &raw)?);
                run(&plan, &[])
            }
            Err(e) => Err(e),
        }
    }

    /// Plan a statement for COM_STMT_PREPARE; bind it per COM_STMT_EXECUTE.
    pub fn prepare(&self, schema: &str, sql: &str) -> Result<Arc<PreparedPlan>, RouteError> {
        self.prepare_in(schema, sql, SqlMode::default())
    }

    /// [`Router::prepare`] under a session's sql_mode.
    pub fn prepare_in(
        &self,
        schema: &str,
        sql: &str,
        sql_mode: SqlMode,
    ) -> Result<Arc<PreparedPlan>, RouteError> {
        let idx = self.schema_idx(schema)?;
        let sc = scan_in(sql, Mode::Prepared, sql_mode)?;
        let plan = build::build(&self.rules.schemas[idx], &sc)?;
        Ok(Arc::new(PreparedPlan {
            plan: Arc::new(plan),
            rules: self.rules.clone(),
            schema_idx: idx,
            sql_mode,
        }))
    }
}
