//! Scope resolution: which logical tables a statement names, under which
//! aliases and scopes, and the shard-key conditions and joins that decide
//! where it runs.

use super::*;

pub(super) struct Builder<'a> {
    schema: &'a Schema,
    kind: StmtKind,
    pub(super) slots: Vec<Slot>,
    /// (slot, alias-or-name as written, scope)
    names: Vec<(usize, String, usize)>,
    ctes: Vec<String>,
    pub(super) conds: Vec<Cond>,
    /// equalities between columns of two slots: (slot, col, slot, col)
    joins: Vec<(usize, String, usize, String)>,
    next_scope: usize,
    pub(super) no_alias: bool,
    /// Per slot: was the table given an alias in the statement?
    pub(super) aliased: Vec<bool>,
    /// Per slot: the alias it has in the physical statement (written or
    /// added), None when its physical name qualifies its columns.
    quals: Vec<Option<String>>,
    /// The slots whose stale rows of moved provinces a target excludes
    /// (set by `build::mark_exclusion`).
    pub(super) exclude: Vec<usize>,
    /// Column names used at the top level where no select alias can stand
    /// (select list, WHERE, ON), lower case.
    pub(super) columns: HashSet<String>,
    /// Collecting into `columns` (while walking those clauses).
    collect_columns: bool,
}

impl<'a> Builder<'a> {
    pub(super) fn new(schema: &'a Schema, kind: StmtKind) -> Self {
        Builder {
            schema,
            kind,
            slots: Vec::new(),
            names: Vec::new(),
            ctes: Vec::new(),
            conds: Vec::new(),
            joins: Vec::new(),
            next_scope: 1,
            no_alias: false,
            aliased: Vec::new(),
            quals: Vec::new(),
            exclude: Vec::new(),
            columns: HashSet::new(),
            collect_columns: false,
        }
    }

    /// Does `e` name the shard-key column of a top-level sharded table that
    /// is not split, so that rows with one value of `e` live on one shard?
    pub(super) fn names_shard_key(&self, e: &Expr) -> bool {
        let (qual, col) = match e {
            Expr::Nested(x) => return self.names_shard_key(x),
            Expr::Identifier(i) => (None, &i.value),
            Expr::CompoundIdentifier(v) if v.len() >= 2 => {
                (Some(&v[v.len() - 2].value), &v[v.len() - 1].value)
            }
            _ => return false,
        };
        let top: Vec<usize> = self
            .names
            .iter()
            .filter(|(slot, n, scope)| {
                *scope == 0
                    && matches!(self.slots[*slot].rule, SlotRule::Sharded(_))
                    && qual.is_none_or(|q| n.eq_ignore_ascii_case(q))
            })
            .map(|(slot, _, _)| *slot)
            .collect();
        // an unqualified name is only sure with one table
        if qual.is_none() && top.len() != 1 {
            return false;
        }
        top.iter().any(|&slot| match &self.slots[slot].rule {
            SlotRule::Sharded(t) => {
                t.split_by.is_none() && t.shard_by.column.eq_ignore_ascii_case(col)
            }
            _ => false,
        })
    }

    fn new_scope(&mut self) -> usize {
        self.next_scope += 1;
        self.next_scope - 1
    }

    fn layout(&self, slot: usize) -> Option<Layout<'_>> {
        match &self.slots[slot].rule {
            SlotRule::Sharded(t) => Some(Layout {
                table: t,
                shards: self.schema.shards.len(),
            }),
            _ => None,
        }
    }

    /// The global index keyed on `column` of slot `slot`'s table.
    fn indexed(&self, slot: usize, column: &str) -> Option<&'a GlobalIndex> {
        let name = &self.slots[slot].name;
        self.schema
            .global_indexes
            .iter()
            .find(|g| g.table == *name && g.column == column)
    }

    pub(super) fn slot_by_bare_name(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(s, _, _)| *s)
    }

    /// Resolve a table reference, rename it to its slot marker.
    pub(super) fn table(
        &mut self,
        name: &mut ObjectName,
        alias: &mut Option<TableAlias>,
        scope: usize,
    ) -> Result<(), RouteError> {
        let parts = name_parts(name);
        let Some(tname) = parts.last().cloned() else {
            return Ok(());
        };
        if parts.len() == 1
            && (tname.eq_ignore_ascii_case("dual")
                || self.ctes.iter().any(|c| c.eq_ignore_ascii_case(&tname)))
        {
            return Ok(());
        }
        if parts.len() >= 2 {
            let db = &parts[parts.len() - 2];
            if !db.eq_ignore_ascii_case(&self.schema.name) {
                return Err(RouteError::not_supported(
                    format!("a table of another database ({db}.{tname})"),
                    format!(
                        "this connection's schema is {}; use one schema per statement",
                        self.schema.name
                    ),
                ));
            }
        }
        let rule = self
            .schema
            .table(&tname)
            .ok_or_else(|| no_such_table(self.schema, &tname))?;
        let lower = tname.to_ascii_lowercase();
        let rule = match rule {
            TableRule::Sharded(t) => SlotRule::Sharded(t.clone()),
            TableRule::Broadcast => SlotRule::Broadcast,
            TableRule::Global => SlotRule::Global,
        };
        let split = matches!(&rule, SlotRule::Sharded(t) if t.split_by.is_some());
        let slot = self.slots.len();
        self.slots.push(Slot {
            name: lower.clone(),
            rule,
            scope,
        });
        let written = match alias {
            Some(a) => a.name.value.clone(),
            None => tname.clone(),
        };
        self.aliased.push(alias.is_some());
        self.names.push((slot, written, scope));
        if alias.is_none() && !self.no_alias && (split || lower != tname) {
            *alias = Some(TableAlias {
                explicit: true,
                name: match name.0.last() {
                    Some(ObjectNamePart::Identifier(i)) => i.clone(),
                    _ => ident(&tname),
                },
                columns: Vec::new(),
                at: None,
            });
        }
        self.quals
            .push(alias.as_ref().map(|a| a.name.value.clone()));
        *name = marker(slot);
        Ok(())
    }

    /// The top-level slots of province-sharded tables: on a shard holding
    /// rows of a province that is routed elsewhere (a move's copies before
    /// its switch, its source rows until COMPLETE), a target excludes them
    /// for each. Tables of a statement on several shards are joined on
    /// their shard keys, so a stale row only ever meets stale rows.
    pub(super) fn excluded_slots(&self, placement: &Placement) -> Vec<usize> {
        let Placement::Sharded { group, .. } = placement else {
            return Vec::new();
        };
        group
            .iter()
            .copied()
            .filter(|&g| {
                matches!(&self.slots[g].rule, SlotRule::Sharded(t)
                    if matches!(t.shard_by.algorithm, crate::rules::Algorithm::Province(_)))
            })
            .collect()
    }

    pub(super) fn walk_query(&mut self, q: &mut Query, scope: usize) -> Result<(), RouteError> {
        if let Some(with) = &mut q.with {
            for cte in &mut with.cte_tables {
                self.ctes.push(cte.alias.name.value.clone());
                let s = self.new_scope();
                self.walk_query(&mut cte.query, s)?;
            }
        }
        self.walk_set_expr(&mut q.body, scope)?;
        if let Some(OrderBy {
            kind: OrderByKind::Expressions(list),
            ..
        }) = &mut q.order_by
        {
            for o in list {
                self.walk_expr(&mut o.expr, scope)?;
            }
        }
        Ok(())
    }

    fn walk_set_expr(&mut self, e: &mut SetExpr, scope: usize) -> Result<(), RouteError> {
        match e {
            SetExpr::Select(s) => self.walk_select(s, scope),
            SetExpr::Query(q) => self.walk_query(q, scope),
            SetExpr::SetOperation { left, right, .. } => {
                let l = self.new_scope();
                self.walk_set_expr(left, l)?;
                let r = self.new_scope();
                self.walk_set_expr(right, r)
            }
            SetExpr::Values(v) => {
                for row in &mut v.rows {
                    for x in &mut row.content {
                        self.walk_expr(x, scope)?;
                    }
                }
                Ok(())
            }
            other => Err(RouteError::not_supported(
                format!("'{}'", truncate(&other.to_string(), 60)),
                "this query form is not routed by haoka",
            )),
        }
    }

    fn walk_select(&mut self, s: &mut Select, scope: usize) -> Result<(), RouteError> {
        if s.into.is_some() {
            return Err(RouteError::not_supported(
                "SELECT ... INTO",
                "select the rows and write them with INSERT",
            ));
        }
        let outer = std::mem::replace(&mut self.collect_columns, scope == 0);
        for twj in &mut s.from {
            self.walk_twj(twj, scope, true)?;
        }
        if let Some(w) = &mut s.selection {
            let c = self.extract(w, scope);
            self.conds.push(c);
            self.walk_expr(w, scope)?;
        }
        for item in &mut s.projection {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    self.walk_expr(e, scope)?
                }
                _ => {}
            }
        }
        self.collect_columns = outer;
        if let GroupByExpr::Expressions(list, _) = &mut s.group_by {
            for e in list {
                self.walk_expr(e, scope)?;
            }
        }
        if let Some(h) = &mut s.having {
            self.walk_expr(h, scope)?;
        }
        Ok(())
    }

    pub(super) fn walk_twj(
        &mut self,
        twj: &mut TableWithJoins,
        scope: usize,
        use_where: bool,
    ) -> Result<(), RouteError> {
        let first = self.slots.len();
        self.walk_factor(&mut twj.relation, scope)?;
        for j in &mut twj.joins {
            let before = self.slots.len();
            self.walk_factor(&mut j.relation, scope)?;
            let right: Vec<usize> = (before..self.slots.len()).collect();
            let (constraint, inner) = match &mut j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::CrossJoin(c) => {
                    (Some(c), true)
                }
                JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c) => (Some(c), false),
                JoinOperator::StraightJoin(c) => (Some(c), true),
                _ => (None, false),
            };
            match constraint {
                Some(JoinConstraint::On(e)) => {
                    let c = self.extract(e, scope);
                    if inner && use_where {
                        self.conds.push(c);
                    }
                    self.walk_expr(e, scope)?;
                }
                Some(JoinConstraint::Using(cols)) => {
                    for col in cols.iter() {
                        let col = last_name(col).to_ascii_lowercase();
                        for l in first..before {
                            for r in &right {
                                self.joins.push((l, col.clone(), *r, col.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn walk_factor(&mut self, f: &mut TableFactor, scope: usize) -> Result<(), RouteError> {
        match f {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return Err(RouteError::not_supported(
                        "table functions",
                        "haoka routes plain tables only",
                    ));
                }
                self.table(name, alias, scope)
            }
            TableFactor::Derived { subquery, .. } => {
                let s = self.new_scope();
                self.walk_query(subquery, s)
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.walk_twj(table_with_joins, scope, true),
            other => Err(RouteError::not_supported(
                format!("'{}'", truncate(&other.to_string(), 60)),
                "haoka routes plain tables, joins and derived tables",
            )),
        }
    }

    /// Find subqueries inside an expression and walk them.
    #[allow(clippy::only_used_in_recursion)]
    pub(super) fn walk_expr(&mut self, e: &mut Expr, scope: usize) -> Result<(), RouteError> {
        match e {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } => {
                let s = self.new_scope();
                self.walk_query(q, s)
            }
            Expr::In { expr, target, .. } => {
                self.walk_expr(expr, scope)?;
                match target {
                    ast::InTarget::List(l) => {
                        for x in l {
                            self.walk_expr(x, scope)?;
                        }
                        Ok(())
                    }
                    ast::InTarget::Subquery(q) => {
                        let s = self.new_scope();
                        self.walk_query(q, s)
                    }
                    _ => Err(RouteError::not_supported(
                        "this IN form",
                        "use IN (list) or IN (SELECT ...)",
                    )),
                }
            }
            Expr::BinaryOp { left, right, .. } => {
                self.walk_expr(left, scope)?;
                self.walk_expr(right, scope)
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr)
            | Expr::IsNotTrue(expr)
            | Expr::IsNotFalse(expr)
            | Expr::Cast { expr, .. }
            | Expr::Collate { expr, .. } => self.walk_expr(expr, scope),
            Expr::Between {
                expr, low, high, ..
            } => {
                self.walk_expr(expr, scope)?;
                self.walk_expr(low, scope)?;
                self.walk_expr(high, scope)
            }
            Expr::Like { expr, pattern, .. } | Expr::RLike { expr, pattern, .. } => {
                self.walk_expr(expr, scope)?;
                self.walk_expr(pattern, scope)
            }
            Expr::Identifier(i) => {
                if self.collect_columns {
                    self.columns.insert(i.value.to_ascii_lowercase());
                }
                Ok(())
            }
            Expr::CompoundIdentifier(v) => {
                if let Some(i) = v.last().filter(|_| self.collect_columns) {
                    self.columns.insert(i.value.to_ascii_lowercase());
                }
                Ok(())
            }
            Expr::Value(_)
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
            | Expr::Interval(_)
            | Expr::TypedString(_) => Ok(()),
            Expr::Tuple(list) => {
                for x in list {
                    self.walk_expr(x, scope)?;
                }
                Ok(())
            }
            Expr::Function(f) => {
                if let FunctionArguments::List(l) = &mut f.args {
                    for a in &mut l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x))
                        | FunctionArg::Named {
                            arg: FunctionArgExpr::Expr(x),
                            ..
                        } = a
                        {
                            self.walk_expr(x, scope)?;
                        }
                    }
                    Ok(())
                } else if let FunctionArguments::Subquery(_) = &f.args {
                    Err(RouteError::not_supported(
                        "a subquery as a function argument",
                        "rewrite the subquery as a join",
                    ))
                } else {
                    Ok(())
                }
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    self.walk_expr(o, scope)?;
                }
                for w in conditions {
                    self.walk_expr(&mut w.condition, scope)?;
                    self.walk_expr(&mut w.result, scope)?;
                }
                if let Some(e) = else_result {
                    self.walk_expr(e, scope)?;
                }
                Ok(())
            }
            other => {
                let t = other.to_string().to_ascii_uppercase();
                if t.contains("SELECT") {
                    Err(RouteError::not_supported(
                        "a subquery in this position",
                        "rewrite the subquery as a join or a separate query",
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The sharded slots in (or visible from) `scope` a column reference
    /// denotes, with the lower-case column name; only routing columns.
    fn column_slots(&self, e: &Expr, scope: usize) -> Vec<(usize, String)> {
        let (qual, col) = match e {
            Expr::Identifier(i) => (None, i.value.to_ascii_lowercase()),
            Expr::CompoundIdentifier(v) if v.len() >= 2 => (
                Some(v[v.len() - 2].value.clone()),
                v[v.len() - 1].value.to_ascii_lowercase(),
            ),
            Expr::Nested(x) => return self.column_slots(x, scope),
            _ => return Vec::new(),
        };
        let candidates: Vec<usize> = match &qual {
            Some(q) => {
                let in_scope = self
                    .names
                    .iter()
                    .filter(|(_, n, s)| *s == scope && n.eq_ignore_ascii_case(q))
                    .map(|(i, _, _)| *i)
                    .collect::<Vec<_>>();
                if in_scope.is_empty() {
                    self.names
                        .iter()
                        .filter(|(_, n, _)| n.eq_ignore_ascii_case(q))
                        .map(|(i, _, _)| *i)
                        .take(1)
                        .collect()
                } else {
                    in_scope
                }
            }
            None => self
                .names
                .iter()
                .filter(|(_, _, s)| *s == scope)
                .map(|(i, _, _)| *i)
                .collect(),
        };
        candidates
            .into_iter()
            .filter(|&i| {
                self.layout(i).is_some_and(|l| l.is_routing_column(&col))
                    || self.indexed(i, &col).is_some()
            })
            .map(|i| (i, col.clone()))
            .collect()
    }

    pub(super) fn extract(&mut self, e: &Expr, scope: usize) -> Cond {
        match e {
            Expr::Nested(x) => self.extract(x, scope),
            Expr::BinaryOp { left, op, right } => match op {
                ast::BinaryOperator::And => {
                    let mut v = Vec::new();
                    for side in [left, right] {
                        match self.extract(side, scope) {
                            Cond::And(inner) => v.extend(inner),
                            Cond::True => {}
                            c => v.push(c),
                        }
                    }
                    match v.len() {
                        0 => Cond::True,
                        1 => v.pop().unwrap_or(Cond::True),
                        _ => Cond::And(v),
                    }
                }
                ast::BinaryOperator::Or => {
                    // a join equality under OR does not co-locate rows
                    let joins = self.joins.len();
                    let l = self.extract(left, scope);
                    let r = self.extract(right, scope);
                    self.joins.truncate(joins);
                    if l == Cond::True || r == Cond::True {
                        return Cond::True;
                    }
                    let mut v = Vec::new();
                    for c in [l, r] {
                        match c {
                            Cond::Or(inner) => v.extend(inner),
                            c => v.push(c),
                        }
                    }
                    Cond::Or(v)
                }
                ast::BinaryOperator::Eq => {
                    let lc = self.column_slots(left, scope);
                    let rc = self.column_slots(right, scope);
                    if !lc.is_empty() && !rc.is_empty() {
                        for (a, ac) in &lc {
                            for (b, bc) in &rc {
                                if a != b {
                                    self.joins.push((*a, ac.clone(), *b, bc.clone()));
                                }
                            }
                        }
                        return Cond::True;
                    }
                    let (cols, val) = if !lc.is_empty() {
                        (lc, operand(right))
                    } else {
                        (rc, operand(left))
                    };
                    let Some(val) = val else { return Cond::True };
                    all_of(
                        cols.into_iter()
                            .map(|(slot, column)| Cond::Eq {
                                slot,
                                column,
                                value: val.clone(),
                            })
                            .collect(),
                    )
                }
                ast::BinaryOperator::Lt
                | ast::BinaryOperator::LtEq
                | ast::BinaryOperator::Gt
                | ast::BinaryOperator::GtEq => {
                    let lc = self.column_slots(left, scope);
                    let (cols, val, col_left) = if !lc.is_empty() {
                        (lc, operand(right), true)
                    } else {
                        (self.column_slots(right, scope), operand(left), false)
                    };
                    let Some(val) = val else { return Cond::True };
                    let upper = matches!(op, ast::BinaryOperator::Lt | ast::BinaryOperator::LtEq)
                        == col_left;
                    all_of(
                        cols.into_iter()
                            .map(|(slot, column)| Cond::Range {
                                slot,
                                column,
                                low: (!upper).then(|| val.clone()),
                                high: upper.then(|| val.clone()),
                            })
                            .collect(),
                    )
                }
                _ => Cond::True,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated: false,
                ..
            } => {
                let cols = self.column_slots(expr, scope);
                let vals: Option<Vec<Operand>> = list.iter().map(operand).collect();
                let Some(vals) = vals else { return Cond::True };
                all_of(
                    cols.into_iter()
                        .map(|(slot, column)| Cond::In {
                            slot,
                            column,
                            values: vals.clone(),
                        })
                        .collect(),
                )
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                let cols = self.column_slots(expr, scope);
                let (Some(lo), Some(hi)) = (operand(low), operand(high)) else {
                    return Cond::True;
                };
                all_of(
                    cols.into_iter()
                        .map(|(slot, column)| Cond::Range {
                            slot,
                            column,
                            low: Some(lo.clone()),
                            high: Some(hi.clone()),
                        })
                        .collect(),
                )
            }
            _ => Cond::True,
        }
    }

    /// The scope-0 slots an assignment may write (all of them when the
    /// column is not qualified and several tables are joined).
    pub(super) fn assigned_slots(&self, a: &Assignment) -> Vec<usize> {
        let targets: Vec<&ObjectName> = match &a.target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(v) => v.iter().collect(),
        };
        let top: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].scope == 0)
            .collect();
        let mut out = Vec::new();
        for n in targets {
            let parts = name_parts(n);
            if parts.len() >= 2 {
                let q = &parts[parts.len() - 2];
                out.extend(
                    self.names
                        .iter()
                        .filter(|(_, w, s)| *s == 0 && w.eq_ignore_ascii_case(q))
                        .map(|(i, _, _)| *i),
                );
            } else {
                out.extend(top.iter().copied());
            }
        }
        out
    }

    /// A broadcast table may only be written together with all its copies:
    /// refuse writes to one while the statement is placed elsewhere.
    pub(super) fn check_broadcast_writes(&self, written: &[usize]) -> Result<(), RouteError> {
        let only_broadcast = self
            .slots
            .iter()
            .all(|s| matches!(s.rule, SlotRule::Broadcast));
        if only_broadcast {
            return Ok(());
        }
        if let Some(&i) = written.iter().find(|&&i| {
            self.slots
                .get(i)
                .is_some_and(|s| matches!(s.rule, SlotRule::Broadcast))
        }) {
            return Err(RouteError::not_supported(
                format!(
                    "writing broadcast table {} in a statement that also uses non-broadcast tables",
                    self.slots[i].name
                ),
                "write the broadcast table in its own statement (qualify the assigned columns if you meant another table)",
            ));
        }
        Ok(())
    }

    pub(super) fn check_assignment(&self, a: &Assignment) -> Result<(), RouteError> {
        let targets: Vec<&ObjectName> = match &a.target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(v) => v.iter().collect(),
        };
        for n in targets {
            let parts = name_parts(n);
            let col = parts
                .last()
                .cloned()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let qual = (parts.len() >= 2).then(|| parts[parts.len() - 2].clone());
            for (i, slot) in self.slots.iter().enumerate() {
                if let Some(q) = &qual {
                    if !self
                        .names
                        .iter()
                        .any(|(s, n, _)| *s == i && n.eq_ignore_ascii_case(q))
                    {
                        continue;
                    }
                }
                if let Some(l) = self.layout(i) {
                    if l.is_routing_column(&col) {
                        return Err(RouteError::ShardKeyUpdate {
                            table: slot.name.clone(),
                            column: col,
                        });
                    }
                }
                // A single-table UPDATE of the indexed column is kept in
                // step by the executor (exec/global_index.rs).
                if let Some(g) = self.indexed(i, &col).filter(|_| self.slots.len() > 1) {
                    return Err(RouteError::IndexedColumnUpdate {
                        table: slot.name.clone(),
                        column: col,
                        index: g.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    pub(super) fn placement(&self) -> Result<Placement, RouteError> {
        let mut group = Vec::new();
        let mut sub = Vec::new();
        let mut global = None;
        for (i, s) in self.slots.iter().enumerate() {
            match s.rule {
                SlotRule::Sharded(_) if s.scope == 0 => group.push(i),
                SlotRule::Sharded(_) => sub.push(i),
                SlotRule::Global => global = Some(i),
                SlotRule::Broadcast => {}
            }
        }
        // an unsplit subquery table joined on its shard key with a top-level
        // table (a correlated subquery) lives on the same shard as each row:
        // it goes wherever the statement goes
        if !group.is_empty() {
            let sharded = |i: usize| match &self.slots[i].rule {
                SlotRule::Sharded(t) => Some(t.clone()),
                _ => None,
            };
            let mut colocated: Vec<usize> = group.clone();
            loop {
                let before = colocated.len();
                for &s in &sub {
                    if colocated.contains(&s) {
                        continue;
                    }
                    let Some(ts) = sharded(s) else { continue };
                    if ts.split_by.is_some() {
                        continue;
                    }
                    let joined = self.joins.iter().any(|(a, ac, b, bc)| {
                        let (other, oc, sc) = if *a == s {
                            (*b, bc, ac)
                        } else if *b == s {
                            (*a, ac, bc)
                        } else {
                            return false;
                        };
                        colocated.contains(&other)
                            && sharded(other).is_some_and(|to| {
                                *oc == to.shard_by.column
                                    && *sc == ts.shard_by.column
                                    && to.shard_by.algorithm == ts.shard_by.algorithm
                            })
                    });
                    if joined {
                        colocated.push(s);
                    }
                }
                if colocated.len() == before {
                    break;
                }
            }
            sub.retain(|s| !colocated.contains(s));
        }
        if group.is_empty() && sub.is_empty() {
            return Ok(if global.is_some() {
                Placement::Global
            } else {
                Placement::Broadcast
            });
        }
        if let Some(g) = global {
            let sharded = group.first().or(sub.first()).copied().unwrap_or(0);
            return Err(RouteError::CrossShardJoin(format!(
                "{} is a global table (on the global shard) and {} is sharded; query them separately",
                self.slots[g].name, self.slots[sharded].name
            )));
        }
        // co-location of the top-level sharded tables
        if group.len() > 1 {
            let mut parent: Vec<usize> = (0..self.slots.len()).collect();
            fn find(p: &mut [usize], x: usize) -> usize {
                let mut x = x;
                while p[x] != x {
                    p[x] = p[p[x]];
                    x = p[x];
                }
                x
            }
            let table = |i: usize| match &self.slots[i].rule {
                SlotRule::Sharded(t) => Some(t.clone()),
                _ => None,
            };
            for (a, ac, b, bc) in &self.joins {
                let (Some(ta), Some(tb)) = (table(*a), table(*b)) else {
                    continue;
                };
                let shard_eq = *ac == ta.shard_by.column
                    && *bc == tb.shard_by.column
                    && ta.shard_by.algorithm == tb.shard_by.algorithm;
                if shard_eq {
                    let (ra, rb) = (find(&mut parent, *a), find(&mut parent, *b));
                    parent[ra] = rb;
                }
            }
            let root = find(&mut parent, group[0]);
            for &g in &group[1..] {
                if find(&mut parent, g) != root {
                    return Err(RouteError::CrossShardJoin(format!(
                        "sharded tables {} and {} are not joined on their shard keys ({}.{} = {}.{}); join them on the shard key or query them separately",
                        self.slots[group[0]].name,
                        self.slots[g].name,
                        self.slots[group[0]].name,
                        table(group[0]).map(|t| t.shard_by.column.clone()).unwrap_or_default(),
                        self.slots[g].name,
                        table(g).map(|t| t.shard_by.column.clone()).unwrap_or_default(),
                    )));
                }
            }
            let split: Vec<usize> = group
                .iter()
                .copied()
                .filter(|&g| table(g).is_some_and(|t| t.split_by.is_some()))
                .collect();
            if split.len() > 1 {
                for &s in &split[1..] {
                    let (ta, tb) = (table(split[0]), table(s));
                    let (Some(ta), Some(tb)) = (ta, tb) else {
                        continue;
                    };
                    let (sa, sb) = (ta.split_by.as_ref(), tb.split_by.as_ref());
                    let joined = self.joins.iter().any(|(a, ac, b, bc)| {
                        let pair = (*a == split[0] && *b == s) || (*a == s && *b == split[0]);
                        pair && sa.is_some_and(|x| x.column == *ac)
                            && sb.is_some_and(|x| x.column == *bc)
                    });
                    if !joined
                        || sa.map(|x| (&x.algorithm, x.count))
                            != sb.map(|x| (&x.algorithm, x.count))
                    {
                        return Err(RouteError::CrossShardJoin(format!(
                            "split tables {} and {} must also be joined on their split keys",
                            self.slots[split[0]].name, self.slots[s].name
                        )));
                    }
                }
            }
        }
        Ok(Placement::Sharded { group, sub })
    }

    pub(super) fn finish(
        self,
        sc: &Scanned,
        placement: Placement,
        single: Template,
        scatter: Option<Result<Scatter, RouteError>>,
        multi_write_error: Option<RouteError>,
    ) -> Plan {
        let cond = all_of(self.conds);
        let lookup = match &placement {
            Placement::Sharded { group, sub } if group.len() == 1 && sub.is_empty() => {
                let g = group[0];
                let name = &self.slots[g].name;
                self.schema
                    .global_indexes
                    .iter()
                    .find(|gi| gi.table == *name)
                    .and_then(|gi| {
                        let base = match &self.slots[g].rule {
                            SlotRule::Sharded(t) => t.clone(),
                            _ => return None,
                        };
                        match self.schema.table(&gi.index_table) {
                            Some(TableRule::Sharded(it)) => Some(LookupPlan {
                                slot: g,
                                index: gi.name.clone(),
                                index_table: it.clone(),
                                column: gi.column.clone(),
                                key_column: base.shard_by.column.clone(),
                            }),
                            _ => None,
                        }
                    })
            }
            _ => None,
        };
        let exclude = self
            .exclude
            .iter()
            .map(|&slot| Exclude {
                slot,
                qualifier: self.quals.get(slot).cloned().flatten(),
            })
            .collect();
        Plan {
            kind: self.kind,
            params: sc.params,
            hint: sc.hint,
            flags: StmtFlags::default(),
            body: Body::Dml(DmlPlan {
                exclude,
                slots: self.slots,
                cond,
                placement,
                single,
                scatter,
                multi_write_error,
                lookup,
            }),
        }
    }
}

pub(super) fn all_of(mut v: Vec<Cond>) -> Cond {
    v.retain(|c| *c != Cond::True);
    match v.len() {
        0 => Cond::True,
        1 => v.pop().unwrap_or(Cond::True),
        _ => Cond::And(v),
    }
}

/// A placeholder or literal usable as a key value.
pub(super) fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Nested(x) => operand(x),
        Expr::Value(v) => {
            match &v.value {
                SqlValue::Placeholder(p) => p
                    .strip_prefix('?')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 0)
                    .map(|n| Operand::Param(n - 1)),
                SqlValue::Number(n, _) => Some(Operand::Const(match n.parse::<i128>() {
                    Ok(i) => KeyValue::Int(i),
                    Err(_) => KeyValue::Str(n.clone()),
                })),
                SqlValue::SingleQuotedString(s) => Some(Operand::Const(KeyValue::Str(
                    string_value(s, '\'', planning_mode()),
                ))),
                SqlValue::DoubleQuotedString(s) => Some(Operand::Const(KeyValue::Str(
                    string_value(s, '"', planning_mode()),
                ))),
                _ => None,
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match operand(expr)? {
            Operand::Const(KeyValue::Int(i)) => Some(Operand::Const(KeyValue::Int(-i))),
            _ => None,
        },
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// scatter / merge planning
