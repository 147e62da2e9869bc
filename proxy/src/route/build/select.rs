//! Scatter planning for reads over several shards: what each shard
//! computes (aggregates split into mergeable parts) and how the merge
//! engine puts the answers together (grouping, HAVING, ORDER BY, LIMIT).

use super::*;

pub(super) const MERGEABLE: &[&str] = &["COUNT", "SUM", "MIN", "MAX", "AVG"];
pub(super) const OTHER_AGGS: &[&str] = &[
    "GROUP_CONCAT",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
];

pub(super) fn func_name(f: &ast::Function) -> String {
    last_name(&f.name).to_ascii_uppercase()
}

/// An aggregate call at the top of `e`: (func name, distinct).
pub(super) fn top_aggregate(e: &Expr) -> Option<(String, bool)> {
    if let Expr::Function(f) = e {
        let n = func_name(f);
        if MERGEABLE.contains(&n.as_str()) || OTHER_AGGS.contains(&n.as_str()) {
            let distinct = matches!(
                &f.args,
                FunctionArguments::List(l) if matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct))
            );
            return Some((n, distinct));
        }
    }
    None
}

/// Does `e` contain an aggregate or window function anywhere (by text)?
pub(super) fn contains_aggregate(e: &Expr) -> Option<String> {
    let t = e.to_string().to_ascii_uppercase();
    for n in MERGEABLE.iter().chain(OTHER_AGGS) {
        let mut from = 0;
        while let Some(p) = t[from..].find(n) {
            let at = from + p;
            let before_ok = at == 0
                || !t.as_bytes()[at - 1].is_ascii_alphanumeric() && t.as_bytes()[at - 1] != b'_';
            let after = t[at + n.len()..].trim_start();
            if before_ok && after.starts_with('(') {
                return Some(n.to_string());
            }
            from = at + n.len();
        }
    }
    None
}

pub(super) fn has_window(e: &Expr) -> bool {
    let t = e.to_string().to_ascii_uppercase();
    t.contains(" OVER (") || t.contains(" OVER ")
}

pub(super) struct Proj {
    text: String,
    alias: Option<String>,
    column: Option<String>,
    /// The item's expression (None for a wildcard).
    expr: Option<Expr>,
}

/// Where a name is resolved: MariaDB looks GROUP BY names up among the
/// table's columns before the select aliases, ORDER BY and HAVING names
/// among the aliases first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clause {
    GroupBy,
    OrderBy,
    Having,
}

pub(super) struct ScatterBuilder {
    proj: Vec<Proj>,
    /// First wildcard position, when any.
    wildcard: Option<usize>,
    base: usize,
    hidden: Vec<Expr>,
    aggregates: Vec<Aggregate>,
    /// Column names the statement uses where no alias can stand (select
    /// list, WHERE, ON), lower case: certainly columns of its tables.
    columns: HashSet<String>,
}

/// Does `e` divide anywhere (`/`, outside quotes)? A division's value keeps
/// more digits than its declared scale, so its SUM needs full precision.
pub(super) fn has_division(e: &Expr) -> bool {
    let t = e.to_string();
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i = crate::route::lexer::quoted_end(b, i, q, planning_mode())
            }
            b'/' => return true,
            _ => i += 1,
        }
    }
    false
}

/// `CAST(SUM(x) AS DECIMAL(65,30))`: a shard's sum with every digit.
pub(super) fn exact_sum(sum: &ast::Function) -> Expr {
    Expr::Cast {
        kind: ast::CastKind::Cast,
        expr: Box::new(Expr::Function(sum.clone())),
        data_type: ast::DataType::Decimal(ast::ExactNumberInfo::PrecisionAndScale(65, 30)),
        format: None,
    }
}

/// Whether some leading run of `order` consists of group columns only and
/// names every one of them: the groups' order is then total, so each
/// shard's first n groups hold every part of the merged first n.
pub(super) fn order_covers_groups(order: &[SortKey], groups: &[usize]) -> bool {
    let want: HashSet<usize> = groups.iter().copied().collect();
    let mut covered = HashSet::new();
    for k in order {
        if covered.len() == want.len() {
            break;
        }
        if !want.contains(&k.column) {
            return false;
        }
        covered.insert(k.column);
    }
    covered.len() == want.len()
}

/// Whether the shards may be sent `LIMIT offset+count`: each row of the
/// merged result's first offset+count must then be among the first
/// offset+count rows of some shard, and every shard part of such a group
/// among its shard's first rows.
pub(super) fn limit_goes_down(spec: &MergeSpec, having: bool, groups_on_one_shard: bool) -> bool {
    if spec.group_by.is_empty() {
        // plain rows come in the final order (DISTINCT only drops rows, so
        // a shard's first n distinct ones are enough); aggregates without
        // GROUP BY are one row whatever the shards return
        return true;
    }
    if spec.distinct || having {
        // the merger drops groups a shard's LIMIT would have counted
        return false;
    }
    groups_on_one_shard || order_covers_groups(&spec.order_by, &spec.group_by)
}

pub(super) fn norm_text(e: &Expr) -> String {
    e.to_string().to_ascii_lowercase()
}

pub(super) fn bare_column(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(v) => v.last().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

impl ScatterBuilder {
    fn visible_limit(&self) -> usize {
        self.wildcard.unwrap_or(self.proj.len())
    }

    /// A select-list position an expression denotes, without adding.
    fn find(&self, e: &Expr, clause: Clause) -> Result<Option<usize>, RouteError> {
        if clause != Clause::Having {
            if let Expr::Value(v) = e {
                if let SqlValue::Number(n, _) = &v.value {
                    let p: usize = n
                        .parse()
                        .map_err(|_| RouteError::Syntax(format!("bad column position {n}")))?;
                    if p == 0 || p > self.visible_limit() {
                        if self.wildcard.is_some() {
                            return Err(RouteError::not_supported(
                                "ORDER BY / GROUP BY position with SELECT * across shards",
                                "name the column instead of its position",
                            ));
                        }
                        return Err(RouteError::Syntax(format!(
                            "Unknown column '{p}' in 'order clause'"
                        )));
                    }
                    return Ok(Some(p - 1));
                }
            }
        }
        let lim = self.visible_limit();
        if let Expr::Identifier(i) = e {
            if let Some(p) = self.proj[..lim].iter().position(|p| {
                p.alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
            }) {
                // GROUP BY takes a column of the same name before the alias
                // (`DATE(created_at) AS created_at ... GROUP BY created_at`)
                let name = i.value.to_ascii_lowercase();
                let column_first = clause == Clause::GroupBy
                    && self.proj[p].column.as_deref() != Some(name.as_str())
                    && self.columns.contains(&name);
                if !column_first {
                    return Ok(Some(p));
                }
            }
        }
        let t = norm_text(e);
        if let Some(p) = self.proj[..lim].iter().position(|p| p.text == t) {
            return Ok(Some(p));
        }
        if let (Some(c), Expr::Identifier(_)) = (bare_column(e), e) {
            if let Some(p) = self.proj[..lim]
                .iter()
                .position(|p| p.alias.is_none() && p.column.as_deref() == Some(c.as_str()))
            {
                return Ok(Some(p));
            }
        }
        // a hidden column already added
        if let Some(k) = self.hidden.iter().position(|h| norm_text(h) == t) {
            return Ok(Some(self.base + k));
        }
        Ok(None)
    }

    /// The expression at a row position (select item or hidden column).
    fn expr_at(&self, p: usize) -> Option<&Expr> {
        if p < self.base {
            self.proj.get(p).and_then(|x| x.expr.as_ref())
        } else {
            self.hidden.get(p - self.base)
        }
    }

    fn push_hidden(&mut self, e: Expr) -> usize {
        self.hidden.push(e);
        self.base + self.hidden.len() - 1
    }

    fn find_or_add(&mut self, e: &Expr, clause: Clause) -> Result<usize, RouteError> {
        if let Some(p) = self.find(e, clause)? {
            return Ok(p);
        }
        let col = self.push_hidden(e.clone());
        if top_aggregate(e).is_some() {
            self.aggregate_at(col, e)?;
        } else if let Some(n) = contains_aggregate(e) {
            return Err(RouteError::not_supported(
                format!("{n}() inside an expression across shards"),
                "select the aggregate on its own or add a shard-key condition",
            ));
        }
        Ok(col)
    }

    fn aggregate_at(&mut self, col: usize, e: &Expr) -> Result<(), RouteError> {
        let Some((name, distinct)) = top_aggregate(e) else {
            return Ok(());
        };
        let Expr::Function(f) = e else {
            return Ok(());
        };
        if f.over.is_some() {
            return Err(RouteError::not_supported(
                "window functions across shards",
                "add a shard-key condition so the query reaches one shard",
            ));
        }
        let renamed = |to: &str| {
            let mut g = f.clone();
            g.name = ObjectName(vec![ObjectNamePart::Identifier(ident(to))]);
            g
        };
        let func = match name.as_str() {
            _ if distinct && name != "MIN" && name != "MAX" => {
                return Err(RouteError::not_supported(
                    format!("{name}(DISTINCT ...) across shards"),
                    "add a shard-key condition so the query reaches one shard, or select the DISTINCT values and aggregate them in the application",
                ))
            }
            "COUNT" => AggFunc::Count,
            "SUM" if has_division(e) => AggFunc::ExactSum {
                exact: self.push_hidden(exact_sum(f)),
            },
            "SUM" => AggFunc::Sum,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            "AVG" => {
                // SUM and COUNT are aggregates of their own, so that HAVING
                // SUM(x) / COUNT(x) next to AVG(x) bind to merged values
                let sum_fn = renamed("SUM");
                let sum = self.push_hidden(Expr::Function(sum_fn.clone()));
                let count = self.push_hidden(Expr::Function(renamed("COUNT")));
                let exact = has_division(e).then(|| self.push_hidden(exact_sum(&sum_fn)));
                self.aggregates.push(Aggregate {
                    column: sum,
                    func: match exact {
                        Some(exact) => AggFunc::ExactSum { exact },
                        None => AggFunc::Sum,
                    },
                });
                self.aggregates.push(Aggregate {
                    column: count,
                    func: AggFunc::Count,
                });
                AggFunc::Avg { sum, count, exact }
            }
            other => {
                return Err(RouteError::not_supported(
                    format!("{other}() across shards"),
                    "add a shard-key condition so the query reaches one shard",
                ))
            }
        };
        self.aggregates.push(Aggregate { column: col, func });
        Ok(())
    }

    fn having(&mut self, e: &Expr) -> Result<HExpr, RouteError> {
        let bin = |op| -> Option<BinaryOp> {
            Some(match op {
                ast::BinaryOperator::Eq => BinaryOp::Eq,
                ast::BinaryOperator::NotEq => BinaryOp::NotEq,
                ast::BinaryOperator::Lt => BinaryOp::Lt,
                ast::BinaryOperator::LtEq => BinaryOp::LtEq,
                ast::BinaryOperator::Gt => BinaryOp::Gt,
                ast::BinaryOperator::GtEq => BinaryOp::GtEq,
                ast::BinaryOperator::And => BinaryOp::And,
                ast::BinaryOperator::Or => BinaryOp::Or,
                ast::BinaryOperator::Plus => BinaryOp::Plus,
                ast::BinaryOperator::Minus => BinaryOp::Minus,
                ast::BinaryOperator::Multiply => BinaryOp::Multiply,
                ast::BinaryOperator::Divide => BinaryOp::Divide,
                _ => return None,
            })
        };
        Ok(match e {
            Expr::Nested(x) => self.having(x)?,
            Expr::Value(v) => match &v.value {
                SqlValue::Placeholder(p) => {
                    match p.strip_prefix('?').and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) if n > 0 => HExpr::Param(n - 1),
                        _ => return Err(RouteError::Syntax(format!("bad placeholder {p}"))),
                    }
                }
                SqlValue::Number(n, _) => HExpr::Literal(match n.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Bytes(n.clone().into_bytes()),
                }),
                SqlValue::SingleQuotedString(s) => HExpr::Literal(Value::Bytes(
                    string_value(s, '\'', planning_mode()).into_bytes(),
                )),
                SqlValue::DoubleQuotedString(s) => HExpr::Literal(Value::Bytes(
                    string_value(s, '"', planning_mode()).into_bytes(),
                )),
                SqlValue::Null => HExpr::Literal(Value::NULL),
                SqlValue::Boolean(b) => HExpr::Literal(Value::Int(*b as i64)),
                other => {
                    return Err(RouteError::not_supported(
                        format!("HAVING with {other} across shards"),
                        "add a shard-key condition",
                    ))
                }
            },
            Expr::BinaryOp { left, op, right } => match bin(op.clone()) {
                Some(op) => HExpr::Binary {
                    op,
                    left: Box::new(self.having(left)?),
                    right: Box::new(self.having(right)?),
                },
                None => HExpr::Column(self.having_column(e)?),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => HExpr::Not(Box::new(self.having(expr)?)),
            Expr::IsNull(x) => HExpr::IsNull {
                expr: Box::new(self.having(x)?),
                negated: false,
            },
            Expr::IsNotNull(x) => HExpr::IsNull {
                expr: Box::new(self.having(x)?),
                negated: true,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => HExpr::InList {
                expr: Box::new(self.having(expr)?),
                list: list
                    .iter()
                    .map(|x| self.having(x))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => HExpr::Between {
                expr: Box::new(self.having(expr)?),
                low: Box::new(self.having(low)?),
                high: Box::new(self.having(high)?),
                negated: *negated,
            },
            other => HExpr::Column(self.having_column(other)?),
        })
    }

    fn having_column(&mut self, e: &Expr) -> Result<usize, RouteError> {
        if contains_aggregate(e).is_some() && top_aggregate(e).is_none() {
            return Err(RouteError::not_supported(
                "an aggregate inside an expression in HAVING across shards",
                "compare the aggregate itself, or add a shard-key condition",
            ));
        }
        self.find_or_add(e, Clause::Having)
    }
}

pub(super) fn scatter(
    b: &Builder,
    q: Query,
    names: &names::ItemNames,
) -> Result<Scatter, RouteError> {
    let mut q = q;
    if q.with.is_some() {
        return Err(RouteError::not_supported(
            "WITH (common table expressions) across shards",
            "add a shard-key condition so the query reaches one shard",
        ));
    }
    if q.fetch.is_some() {
        return Err(RouteError::not_supported(
            "FETCH across shards",
            "use LIMIT",
        ));
    }
    let SetExpr::Select(sel) = q.body.as_mut() else {
        return Err(RouteError::not_supported(
            "UNION / INTERSECT / EXCEPT across shards",
            "add a shard-key condition so the query reaches one shard",
        ));
    };
    let mut sb = ScatterBuilder {
        proj: Vec::new(),
        wildcard: None,
        base: sel.projection.len(),
        hidden: Vec::new(),
        aggregates: Vec::new(),
        columns: b.columns.clone(),
    };
    let mut proj_aggs = Vec::new();
    for (i, item) in sel.projection.iter().enumerate() {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                if has_window(e) {
                    return Err(RouteError::not_supported(
                        "window functions across shards",
                        "add a shard-key condition so the query reaches one shard",
                    ));
                }
                let alias = match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                    _ => None,
                };
                sb.proj.push(Proj {
                    text: norm_text(e),
                    alias,
                    column: bare_column(e),
                    expr: Some(e.clone()),
                });
                if top_aggregate(e).is_some() {
                    if sb.wildcard.is_some() {
                        return Err(RouteError::not_supported(
                            "an aggregate after * across shards",
                            "put the aggregates before * or name the columns",
                        ));
                    }
                    proj_aggs.push((i, e.clone()));
                } else if let Some(n) = contains_aggregate(e) {
                    return Err(RouteError::not_supported(
                        format!("{n}() inside an expression across shards"),
                        "select the aggregate on its own (compute the expression in the application) or add a shard-key condition",
                    ));
                }
            }
            _ => {
                sb.wildcard.get_or_insert(i);
                sb.proj.push(Proj {
                    text: String::new(),
                    alias: None,
                    column: None,
                    expr: None,
                });
            }
        }
    }
    for (i, e) in &proj_aggs {
        sb.aggregate_at(*i, e)?;
    }
    let mut spec = MergeSpec::default();
    match &sel.distinct {
        None | Some(Distinct::All) => {}
        Some(Distinct::Distinct) => spec.distinct = true,
        Some(Distinct::On(_)) => {
            return Err(RouteError::not_supported(
                "DISTINCT ON",
                "MySQL has no DISTINCT ON",
            ))
        }
    }
    // GROUP BY
    let group_exprs: Vec<Expr> = match &sel.group_by {
        GroupByExpr::Expressions(list, mods) => {
            if !mods.is_empty() {
                return Err(RouteError::not_supported(
                    "GROUP BY ... WITH ROLLUP across shards",
                    "add a shard-key condition so the query reaches one shard",
                ));
            }
            list.clone()
        }
        GroupByExpr::All(_) => {
            return Err(RouteError::not_supported(
                "GROUP BY ALL",
                "name the group columns",
            ))
        }
    };
    for g in &group_exprs {
        let c = sb.find_or_add(g, Clause::GroupBy)?;
        spec.group_by.push(c);
    }
    // rows of one group on one shard: the group names the shard key
    let groups_on_one_shard = spec
        .group_by
        .iter()
        .any(|&c| sb.expr_at(c).is_some_and(|e| b.names_shard_key(e)));
    // HAVING: evaluated by the merger, removed from the shard query
    let having = match sel.having.take() {
        Some(h) => Some(sb.having(&h)?),
        None => None,
    };
    // ORDER BY
    let mut order_keys = Vec::new();
    let has_order = matches!(&q.order_by, Some(OrderBy { kind: OrderByKind::Expressions(l), .. }) if !l.is_empty());
    if let Some(ob) = &q.order_by {
        match &ob.kind {
            OrderByKind::Expressions(list) => {
                for o in list {
                    if has_window(&o.expr) {
                        return Err(RouteError::not_supported(
                            "window functions across shards",
                            "add a shard-key condition so the query reaches one shard",
                        ));
                    }
                    let c = sb.find_or_add(&o.expr, Clause::OrderBy)?;
                    order_keys.push(SortKey {
                        column: c,
                        descending: matches!(o.options.sort, Some(ast::OrderBySort::Desc)),
                    });
                }
            }
            OrderByKind::All(_) => {
                return Err(RouteError::not_supported(
                    "ORDER BY ALL",
                    "name the sort columns",
                ))
            }
        }
    }
    if !group_exprs.is_empty() && !has_order {
        // shards return groups in key order, so groups merge as they
        // stream; by position, as a name could mean a select alias there
        // (ORDER BY looks aliases up first, GROUP BY columns)
        let key = |(e, &c): (&Expr, &usize)| match sb.wildcard {
            None => Expr::Value(SqlValue::Number((c + 1).to_string(), false).into()),
            Some(_) => e.clone(),
        };
        q.order_by = Some(OrderBy {
            kind: OrderByKind::Expressions(
                group_exprs
                    .iter()
                    .zip(&spec.group_by)
                    .map(|g| OrderByExpr {
                        expr: key(g),
                        options: OrderByOptions {
                            sort: None,
                            nulls_first: None,
                        },
                        with_fill: None,
                    })
                    .collect(),
            ),
            interpolate: None,
        });
        spec.groups_sorted = true;
        order_keys = spec
            .group_by
            .iter()
            .map(|&c| SortKey {
                column: c,
                descending: false,
            })
            .collect();
    }
    spec.order_by = order_keys;
    // LIMIT
    let mut limit = None;
    if let Some(lc) = q.limit_clause.take() {
        let (off, cnt) = match lc {
            LimitClause::LimitOffset {
                limit: Some(l),
                offset,
                limit_by,
            } if limit_by.is_empty() => (offset.map(|o| o.value), l),
            LimitClause::OffsetCommaLimit { offset, limit } => (Some(offset), limit),
            LimitClause::LimitOffset {
                limit: None,
                offset: None,
                ..
            } => (None, Expr::Value(SqlValue::Null.into())),
            _ => {
                return Err(RouteError::not_supported(
                    "this LIMIT form across shards",
                    "use LIMIT n or LIMIT offset, n",
                ))
            }
        };
        let bad = || {
            RouteError::not_supported(
                "a LIMIT that is not a number or placeholder across shards",
                "use LIMIT n or LIMIT offset, n with literal numbers",
            )
        };
        if !matches!(&cnt, Expr::Value(v) if v.value == SqlValue::Null) {
            let count = operand(&cnt).ok_or_else(bad)?;
            let offset = match off {
                Some(o) => Some(operand(&o).ok_or_else(bad)?),
                None => None,
            };
            if limit_goes_down(&spec, having.is_some(), groups_on_one_shard) {
                q.limit_clause = Some(LimitClause::LimitOffset {
                    limit: Some(Expr::Identifier(ident(LIMIT_MARK))),
                    offset: None,
                    limit_by: Vec::new(),
                });
            }
            limit = Some(LimitDraft { offset, count });
        }
    }
    // hidden columns
    let hidden = sb.hidden.len();
    let SetExpr::Select(sel) = q.body.as_mut() else {
        return Err(RouteError::Unsupported("internal: select vanished".into()));
    };
    for h in sb.hidden.drain(..) {
        sel.projection.push(SelectItem::UnnamedExpr(h));
    }
    spec.visible = sb.base;
    spec.aggregates = sb.aggregates;
    Ok(Scatter {
        template: names::render(&q, names),
        merge: spec,
        hidden,
        wildcard: sb.wildcard.is_some(),
        limit,
        having,
    })
}

// ---------------------------------------------------------------------------
// INSERT / REPLACE
