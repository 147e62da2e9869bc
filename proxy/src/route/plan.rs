//! Plan types: the parameterised plan (cached, shared as `Arc`) and the
//! routed result the executor runs.

use std::sync::Arc;

use mysql_common::value::Value;

use super::error::RouteError;
use super::keys::{Cond, Operand};
use super::lexer::{Hint, Template};
use crate::merge::{BinaryOp, Expr, MergeSpec};
use crate::rules::{Place, ShardedTable};

/// What kind of statement a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StmtKind {
    Select,
    Insert,
    Replace,
    Update,
    Delete,
    Ddl,
    Session,
    Metadata,
    Haoka,
    Explain,
    NoTable,
    PassThrough,
}

impl StmtKind {
    /// Does the statement change data or schema?
    pub fn is_write(self) -> bool {
        matches!(
            self,
            StmtKind::Insert
                | StmtKind::Replace
                | StmtKind::Update
                | StmtKind::Delete
                | StmtKind::Ddl
        )
    }
}

/// One statement for one shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub place: Place,
    /// The physical statement, every value inlined (text protocol).
    pub sql: String,
    /// For a bound prepared statement: the physical statement with `?`
    /// placeholders, and which client parameter feeds each `?`.
    pub prepared: Option<PreparedSql>,
}

/// A physical statement to run as a backend prepared statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSql {
    pub sql: String,
    /// What feeds each `?`, in order.
    pub params: Vec<ParamSource>,
}

/// What feeds one `?` of a backend prepared statement. Values the proxy
/// computes per execution (sequence ids, a merged LIMIT) are parameters too,
/// so the statement text stays the same and is prepared once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSource {
    /// The client's parameter with this index.
    Client(usize),
    /// A value the proxy computed for this execution.
    Computed(u64),
}

impl PreparedSql {
    /// True when the client's EXECUTE parameters can be forwarded unchanged
    /// (the backend statement takes exactly the client's parameters, in order).
    pub fn forwards_as_is(&self, client_params: usize) -> bool {
        self.params.len() == client_params
            && self
                .params
                .iter()
                .enumerate()
                .all(|(i, p)| *p == ParamSource::Client(i))
    }

    /// The backend statement's parameter values, given the client's.
    pub fn values(&self, client: &[mysql_common::value::Value]) -> Vec<mysql_common::value::Value> {
        use mysql_common::value::Value;
        self.params
            .iter()
            .map(|p| match *p {
                ParamSource::Client(k) => client.get(k).cloned().unwrap_or(Value::NULL),
                ParamSource::Computed(v) => Value::UInt(v),
            })
            .collect()
    }
}

/// How the merger combines the rows of several targets.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    spec: MergeSpec,
    /// Hidden columns the router appended after the client's columns.
    pub hidden: usize,
    /// The client's select list has a `*`, so its width is only known from
    /// the shard's result set: call [`MergePlan::spec_for`].
    pub wildcard: bool,
}

impl MergePlan {
    pub(crate) fn new(spec: MergeSpec, hidden: usize, wildcard: bool) -> MergePlan {
        MergePlan {
            spec,
            hidden,
            wildcard,
        }
    }

    /// The merge spec for result sets of `columns` columns.
    pub fn spec_for(&self, columns: usize) -> MergeSpec {
        if !self.wildcard {
            return self.spec.clone();
        }
        let base = self.spec.visible;
        let actual = columns.saturating_sub(self.hidden);
        let shift = |c: usize| {
            if c >= base {
                c + actual - base.min(actual)
            } else {
                c
            }
        };
        let mut s = self.spec.clone();
        s.visible = actual;
        s.group_by.iter_mut().for_each(|c| *c = shift(*c));
        s.order_by
            .iter_mut()
            .for_each(|k| k.column = shift(k.column));
        for a in &mut s.aggregates {
            a.column = shift(a.column);
            match &mut a.func {
                crate::merge::AggFunc::Avg { sum, count, exact } => {
                    *sum = shift(*sum);
                    *count = shift(*count);
                    if let Some(e) = exact {
                        *e = shift(*e);
                    }
                }
                crate::merge::AggFunc::ExactSum { exact } => *exact = shift(*exact),
                _ => {}
            }
        }
        if let Some(h) = &mut s.having {
            shift_expr(h, &shift);
        }
        s
    }

    /// The spec as planned (exact when `!wildcard`).
    pub fn spec(&self) -> &MergeSpec {
        &self.spec
    }
}

fn shift_expr(e: &mut Expr, f: &dyn Fn(usize) -> usize) {
    match e {
        Expr::Column(c) => *c = f(*c),
        Expr::Literal(_) => {}
        Expr::Binary { left, right, .. } => {
            shift_expr(left, f);
            shift_expr(right, f);
        }
        Expr::Not(x) => shift_expr(x, f),
        Expr::IsNull { expr, .. } => shift_expr(expr, f),
        Expr::InList { expr, list, .. } => {
            shift_expr(expr, f);
            list.iter_mut().for_each(|x| shift_expr(x, f));
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            shift_expr(expr, f);
            shift_expr(low, f);
            shift_expr(high, f);
        }
    }
}

/// Statements sent to shards.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    pub kind: StmtKind,
    pub targets: Vec<Target>,
    /// Set when more than one target answers a SELECT.
    pub merge: Option<MergePlan>,
    /// A write to every copy of a broadcast table (or a DDL fan-out): all
    /// targets must succeed together (one distributed transaction).
    pub broadcast: bool,
    /// A read of a broadcast table: the single target may be moved to any
    /// other place holding a copy (same SQL), e.g. to spread load.
    pub any_copy: bool,
    /// Rows per target for a split INSERT (for affected-row bookkeeping).
    pub rows: Vec<usize>,
    /// Sequence ids that were filled in, by row (for LAST_INSERT_ID()).
    pub ids: Vec<u64>,
    /// The last target is a single-row global index insert that may move an
    /// index row (`IndexInsert::move_template`): it affects 1 row (new), 2
    /// (moved) or 0 (the key belongs to another row: a duplicate).
    pub index_move: bool,
}

/// What a session statement asks for; the executor applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// BEGIN / START TRANSACTION [READ ONLY | WITH CONSISTENT SNAPSHOT ...].
    Begin {
        read_only: bool,
    },
    Commit,
    Rollback,
    Savepoint(String),
    RollbackToSavepoint(String),
    ReleaseSavepoint(String),
    /// USE db
    Use(String),
    /// SET NAMES charset [COLLATE collation] / SET CHARACTER SET charset.
    SetNames {
        charset: String,
        collation: Option<String>,
    },
    /// SET autocommit = 0|1
    SetAutocommit(bool),
    /// LOCK TABLES ...: the proxy takes no table locks across shards; like
    /// MySQL it commits an open transaction, then answers OK.
    LockTables,
    /// UNLOCK TABLES: OK.
    UnlockTables,
    /// ALTER TABLE t DISABLE KEYS / ENABLE KEYS (mysqldump): InnoDB ignores
    /// it; OK once the table is known.
    KeysToggle,
    /// Any other SET (session / global / user variables, sql_mode, ...):
    /// `sql` is the statement to replay on backend connections.
    Set {
        sql: String,
        /// Assigned names as written, `@` kept for user variables.
        variables: Vec<String>,
    },
}

/// A metadata statement. `db` is the database a statement names (`FROM db`,
/// `db.t`); None: the session's. The executor resolves it (and checks that
/// the user may see it).
#[derive(Debug, Clone, PartialEq)]
pub enum Metadata {
    /// SHOW DATABASES / SCHEMAS [LIKE | WHERE]: the logical schemas.
    Databases { filter: ShowFilter },
    /// SHOW [FULL] TABLES [FROM db] [LIKE | WHERE]: logical tables.
    Tables {
        full: bool,
        db: Option<String>,
        filter: ShowFilter,
    },
    /// SHOW TABLE STATUS [FROM db] [LIKE | WHERE]: logical tables.
    TableStatus {
        db: Option<String>,
        filter: ShowFilter,
    },
    /// SHOW COLUMNS / INDEX / CREATE TABLE, DESCRIBE of one logical table:
    /// run on one physical copy (`show::table_target`), presented under the
    /// logical name.
    Table {
        db: Option<String>,
        table: String,
        show: TableShow,
    },
    /// SHOW CREATE DATABASE [IF NOT EXISTS] db.
    CreateDatabase { db: String, if_not_exists: bool },
    /// SHOW VARIABLES / WARNINGS / STATUS / ..., information_schema selects:
    /// any backend (or the session's last connection for WARNINGS) answers.
    AnyShard { sql: String },
}

/// `LIKE` / `WHERE` of a SHOW statement, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShowFilter {
    All,
    /// The pattern literal with its quotes.
    Like(String),
    /// The condition after WHERE.
    Where(String),
}

/// What is asked about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableShow {
    /// `<head> FROM <table> <tail>`: SHOW [FULL] COLUMNS / FIELDS / INDEX /
    /// KEYS with the LIKE / WHERE tail as written (DESCRIBE is SHOW COLUMNS).
    Listing {
        head: String,
        tail: String,
    },
    CreateTable,
}

impl TableShow {
    /// The statement for one physical copy named `physical`.
    pub fn physical_sql(&self, physical: &str) -> String {
        let t = super::quote_ident(physical);
        match self {
            TableShow::Listing { head, tail } if tail.is_empty() => format!("{head} FROM {t}"),
            TableShow::Listing { head, tail } => format!("{head} FROM {t} {tail}"),
            TableShow::CreateTable => format!("SHOW CREATE TABLE {t}"),
        }
    }
}

/// `SHOW HAOKA ...`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaokaShow {
    Shards,
    Rules,
    Status,
}

/// The routed form of one statement execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    Shards(ShardPlan),
    /// A SELECT without tables: answer locally or on any shard with `sql`.
    NoTable {
        sql: String,
    },
    Session(SessionCommand),
    Metadata(Metadata),
    Haoka(HaokaShow),
    /// `EXPLAIN <stmt>`: show the plan of the inner statement (see `explain`).
    Explain(Box<Routed>),
    /// A session/admin statement the parser does not know (KILL, SHOW ENGINE
    /// ...): send `sql` to any backend or handle locally.
    PassThrough {
        sql: String,
    },
    /// An INSERT that needs sequence ids first: see [`PendingInsert`].
    NeedIds(PendingInsert),
    /// A statement that names only a globally indexed column (e.g. sim_card
    /// by ICCID): run `lookups`, collect the shard-key values they return and
    /// call [`PendingLookup::bind_keys`].
    NeedLookup(PendingLookup),
}

impl Routed {
    pub fn kind(&self) -> StmtKind {
        match self {
            Routed::Shards(p) => p.kind,
            Routed::NoTable { .. } => StmtKind::NoTable,
            Routed::Session(_) => StmtKind::Session,
            Routed::Metadata(_) => StmtKind::Metadata,
            Routed::Haoka(_) => StmtKind::Haoka,
            Routed::Explain(_) => StmtKind::Explain,
            Routed::PassThrough { .. } => StmtKind::PassThrough,
            Routed::NeedIds(p) => p.kind,
            Routed::NeedLookup(p) => p.kind,
        }
    }
}

/// An INSERT whose rows need ids from a sequence before they can be routed.
#[derive(Debug, Clone)]
pub struct PendingInsert {
    pub kind: StmtKind,
    /// The sequence name (row of `haoka_sequence`).
    pub sequence: String,
    /// The column the ids go to.
    pub column: String,
    /// How many ids are needed (one per row that lacks one).
    pub count: usize,
    pub(crate) plan: Arc<Plan>,
    pub(crate) rules: Arc<crate::rules::Rules>,
    pub(crate) schema_idx: usize,
    pub(crate) args: OwnedArgs,
    pub(crate) needs: Vec<bool>,
    pub(crate) sql_mode: super::lexer::SqlMode,
}

impl PartialEq for PendingInsert {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind
            && self.sequence == o.sequence
            && self.column == o.column
            && self.count == o.count
            && Arc::ptr_eq(&self.plan, &o.plan)
            && self.args == o.args
            && self.needs == o.needs
    }
}

/// A statement routed through a global secondary index.
#[derive(Debug, Clone)]
pub struct PendingLookup {
    pub kind: StmtKind,
    /// The global index name (rules: `[[schemas.global_indexes]]`).
    pub index: String,
    /// Statements on the index table; each returns one column: the base
    /// table's shard-key values (`key_column`).
    pub lookups: Vec<Target>,
    pub key_column: String,
    pub(crate) plan: Arc<Plan>,
    pub(crate) rules: Arc<crate::rules::Rules>,
    pub(crate) schema_idx: usize,
    pub(crate) args: OwnedArgs,
    pub(crate) sql_mode: super::lexer::SqlMode,
}

impl PartialEq for PendingLookup {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind
            && self.index == o.index
            && self.lookups == o.lookups
            && self.key_column == o.key_column
            && Arc::ptr_eq(&self.plan, &o.plan)
            && self.args == o.args
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OwnedArgs {
    Lits(Vec<super::lexer::Lit>),
    Values(Vec<Value>),
}

// ---------------------------------------------------------------------------
// the parameterised plan

/// A parameterised plan: built once per statement shape (cache entry or
/// PREPARE), bound many times.
#[derive(Debug)]
pub struct Plan {
    pub(crate) kind: StmtKind,
    pub(crate) params: usize,
    pub(crate) hint: Option<Hint>,
    pub(crate) flags: StmtFlags,
    pub(crate) body: Body,
}

/// Facts about a statement the executor needs, read once when it is planned
/// (from its syntax tree and tokens, so a comment or a string literal never
/// counts) and cached with the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StmtFlags {
    /// `SELECT ... FOR UPDATE | FOR SHARE | LOCK IN SHARE MODE`: it locks
    /// rows, so it runs on the primary.
    pub locking_read: bool,
    /// A SELECT's `/*+ MAX_EXECUTION_TIME(ms) */` hint (None: no hint, or 0,
    /// which means no limit in MySQL).
    pub max_execution_ms: Option<u64>,
    /// `SELECT SQL_CALC_FOUND_ROWS`: FOUND_ROWS() asks the shards after it.
    pub calc_found_rows: bool,
    /// It uses values the proxy keeps per session (`LAST_INSERT_ID()`,
    /// `DATABASE()`, `@user_var`, `@@autocommit`...), which are put in as
    /// literals before the statement is planned for good.
    pub session_values: bool,
}

impl StmtFlags {
    /// The statement's own query timeout.
    pub fn max_execution_time(&self) -> Option<std::time::Duration> {
        self.max_execution_ms.map(std::time::Duration::from_millis)
    }
}

// A plan is built once and shared behind an Arc: variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Body {
    /// Independent of parameters (session, metadata, DDL...).
    Fixed(Box<Routed>),
    NoTable(Template),
    /// An information_schema query: its parameters inlined, run as
    /// [`Metadata::AnyShard`].
    Catalog(Template),
    Dml(DmlPlan),
    Insert(InsertPlan),
    Explain(Arc<Plan>),
}

#[derive(Debug, Clone)]
pub(crate) enum SlotRule {
    Sharded(Arc<ShardedTable>),
    Broadcast,
    Global,
}

#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// Logical name, lower case.
    pub name: String,
    pub rule: SlotRule,
    /// 0 = the statement's own FROM; >0 = inside a subquery / derived table.
    pub scope: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Only global (and broadcast) tables: the global shard.
    Global,
    /// Only broadcast tables: reads go to one copy, writes to all.
    Broadcast,
    /// Sharded tables: `group` are the co-located top-level slots, `sub` the
    /// sharded slots of subqueries (must land on the same single place).
    Sharded { group: Vec<usize>, sub: Vec<usize> },
}

#[derive(Debug)]
pub(crate) struct DmlPlan {
    pub slots: Vec<Slot>,
    pub cond: Cond,
    pub placement: Placement,
    pub single: Template,
    /// For a SELECT answered by several targets.
    pub scatter: Option<Result<Scatter, RouteError>>,
    /// For UPDATE/DELETE: why several targets cannot be written (ORDER BY/LIMIT).
    pub multi_write_error: Option<RouteError>,
    /// Route through a global index when the statement names only its column.
    pub lookup: Option<LookupPlan>,
    /// The slots a target excludes stale rows of moved provinces for (the
    /// template has `Piece::Exclude*` where the condition goes).
    pub exclude: Vec<Exclude>,
}

/// A province-sharded table slot whose rows of provinces routed elsewhere a
/// target on their old (or future) shard must not see.
#[derive(Debug)]
pub(crate) struct Exclude {
    pub slot: usize,
    /// Its alias in the physical statement; None: its physical name.
    pub qualifier: Option<String>,
}

#[derive(Debug)]
pub(crate) struct LookupPlan {
    pub slot: usize,
    pub index: String,
    pub index_table: Arc<ShardedTable>,
    /// The indexed column (in both tables).
    pub column: String,
    /// The base table's shard-key column, stored in the index table.
    pub key_column: String,
}

#[derive(Debug)]
pub(crate) struct IndexInsert {
    pub table: Arc<ShardedTable>,
    /// `INSERT INTO <index> (col, covering...) VALUES <Rows>`
    pub template: Template,
    /// The same with `ON DUPLICATE KEY UPDATE` re-pointing an index row of
    /// the same row identity (`build::move_suffix`); used for single-row
    /// plain INSERTs only, where 0 affected rows means a duplicate.
    pub move_template: Option<Template>,
    pub rows: Vec<Template>,
    /// Per row: the indexed column's value.
    pub keys: Vec<Option<Operand>>,
}

#[derive(Debug)]
pub(crate) struct Scatter {
    pub template: Template,
    pub merge: MergeSpec,
    pub hidden: usize,
    pub wildcard: bool,
    pub limit: Option<LimitDraft>,
    pub having: Option<HExpr>,
}

#[derive(Debug, Clone)]
pub(crate) struct LimitDraft {
    pub offset: Option<Operand>,
    pub count: Operand,
}

/// HAVING over the merged row, with parameters not yet bound.
#[derive(Debug, Clone)]
pub(crate) enum HExpr {
    Column(usize),
    Literal(Value),
    Param(usize),
    Binary {
        op: BinaryOp,
        left: Box<HExpr>,
        right: Box<HExpr>,
    },
    Not(Box<HExpr>),
    IsNull {
        expr: Box<HExpr>,
        negated: bool,
    },
    InList {
        expr: Box<HExpr>,
        list: Vec<HExpr>,
        negated: bool,
    },
    Between {
        expr: Box<HExpr>,
        low: Box<HExpr>,
        high: Box<HExpr>,
        negated: bool,
    },
}

#[derive(Debug)]
pub(crate) struct InsertPlan {
    pub slot: Slot,
    /// `INSERT INTO <Table(0)> (cols) VALUES <Rows> [ON DUPLICATE ...]`
    pub template: Template,
    /// One template per row: `(v1, v2, ...)` (a SeqId piece where an id goes).
    pub rows: Vec<Template>,
    /// Per row, per routing column: (column, operand). For sequence-filled
    /// columns the operand is missing and the id is used.
    pub row_keys: Vec<Vec<(String, Option<Operand>)>>,
    /// Sequence to fill: (sequence name, column, per row: Some(param) when a
    /// `?` may be NULL at bind time, None when the id is always needed).
    pub sequence: Option<SeqFill>,
    /// Rows for the global index table kept in step with this table.
    pub index: Option<IndexInsert>,
}

#[derive(Debug)]
pub(crate) struct SeqFill {
    pub name: String,
    pub column: String,
    /// Per row: `None` = the column is absent or NULL (id always needed);
    /// `Some(p)` = parameter p gives it (needed only when bound to NULL);
    /// rows with a literal value are `Some(usize::MAX)`.
    pub rows: Vec<Option<usize>>,
}
