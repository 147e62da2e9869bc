//! INSERT and REPLACE: rows split by shard (and split table), sequence
//! values drawn, global index rows kept in step.

use super::*;

/// `ON DUPLICATE KEY UPDATE` for a global index row that may move: when the
/// existing row has the same identity (covering columns outside the base
/// shard key), its placement columns take the new values; otherwise nothing
/// changes and the statement reports 0 rows, which the executor turns into a
/// duplicate-key error. None when the covering columns have no identity or no
/// placement part.
pub(super) fn move_suffix(
    covering: &[String],
    is_placement: impl Fn(&str) -> bool,
) -> Option<String> {
    let q = |c: &str| crate::route::quote_ident(c);
    let (place, ident): (Vec<&String>, Vec<&String>) =
        covering.iter().partition(|c| is_placement(c));
    if place.is_empty() || ident.is_empty() {
        return None;
    }
    let same = ident
        .iter()
        .map(|c| format!("{0} <=> VALUES({0})", q(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sets = place
        .iter()
        .map(|c| format!("{0} = IF({same}, VALUES({0}), {0})", q(c)))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(" ON DUPLICATE KEY UPDATE {sets}"))
}

pub(super) fn build_insert(
    schema: &Schema,
    sc: &Scanned,
    ins: ast::Insert,
) -> Result<Plan, RouteError> {
    let mut ins = ins;
    let kind = if ins.replace_into {
        StmtKind::Replace
    } else {
        StmtKind::Insert
    };
    let TableObject::TableName(tname) = &ins.table else {
        return Err(RouteError::not_supported(
            "INSERT INTO a table function",
            "insert into a table",
        ));
    };
    let tname = tname.clone();
    let parts = name_parts(&tname);
    let table = parts.last().cloned().unwrap_or_default();
    if parts.len() >= 2 && !parts[parts.len() - 2].eq_ignore_ascii_case(&schema.name) {
        return Err(RouteError::not_supported(
            format!("a table of another database ({})", tname),
            format!("this connection's schema is {}", schema.name),
        ));
    }
    let rule = schema
        .table(&table)
        .ok_or_else(|| no_such_table(schema, &table))?;
    let slot = Slot {
        name: table.to_ascii_lowercase(),
        rule: match rule {
            TableRule::Sharded(t) => SlotRule::Sharded(t.clone()),
            TableRule::Broadcast => SlotRule::Broadcast,
            TableRule::Global => SlotRule::Global,
        },
        scope: 0,
    };
    // INSERT ... SET a = 1  ->  (a) VALUES (1)
    if ins.source.is_none() && !ins.assignments.is_empty() {
        let mut cols = Vec::new();
        let mut vals = Vec::new();
        for a in ins.assignments.drain(..) {
            match a.target {
                AssignmentTarget::ColumnName(n) => cols.push(n),
                AssignmentTarget::Tuple(_) => {
                    return Err(RouteError::Syntax("INSERT ... SET (a, b) = ...".into()))
                }
            }
            vals.push(a.value);
        }
        ins.columns = cols;
        ins.source = Some(Box::new(values_query(vec![vals])));
    }
    let layout = match &slot.rule {
        SlotRule::Sharded(t) => Some(Layout {
            table: t,
            shards: schema.shards.len(),
        }),
        _ => None,
    };
    // ON DUPLICATE KEY UPDATE must not move the row
    if let (Some(OnInsert::DuplicateKeyUpdate(assigns)), Some(l)) = (&ins.on, &layout) {
        for a in assigns {
            if let AssignmentTarget::ColumnName(n) = &a.target {
                let col = last_name(n).to_ascii_lowercase();
                if l.is_routing_column(&col) {
                    return Err(RouteError::ShardKeyUpdate {
                        table: slot.name.clone(),
                        column: col,
                    });
                }
            }
        }
    }
    let rows_owned = match ins.source.as_deref_mut().map(|q| q.body.as_mut()) {
        Some(SetExpr::Values(v)) => Some(std::mem::take(&mut v.rows)),
        _ => None,
    };
    let Some(rows) = rows_owned else {
        // INSERT ... SELECT: only among broadcast / global tables
        if layout.is_some() {
            return Err(RouteError::not_supported(
                "INSERT ... SELECT into a sharded table",
                "select the rows, then insert them with VALUES",
            ));
        }
        let mut b = Builder::new(schema, kind);
        let mut name = tname.clone();
        let mut alias = None;
        b.no_alias = true;
        b.table(&mut name, &mut alias, 0)?;
        ins.table = TableObject::TableName(name);
        if let Some(src) = ins.source.as_deref_mut() {
            b.walk_query(src, 1)?;
        }
        let placement = b.placement()?;
        b.check_broadcast_writes(&[0])?;
        if matches!(placement, Placement::Sharded { .. }) {
            return Err(RouteError::not_supported(
                "INSERT ... SELECT from a sharded table",
                "select the rows, then insert them with VALUES",
            ));
        }
        let single = Template::from_rendered(&Statement::Insert(ins).to_string());
        return Ok(b.finish(sc, placement, single, None, None));
    };
    let mut columns: Vec<String> = ins
        .columns
        .iter()
        .map(|c| last_name(c).to_ascii_lowercase())
        .collect();
    if columns.is_empty() && layout.is_some() {
        return Err(RouteError::NeedsColumnList {
            table: slot.name.clone(),
        });
    }
    let mut rows: Vec<Vec<Expr>> = rows.into_iter().map(|p| p.content).collect();
    for (r, row) in rows.iter().enumerate() {
        if !columns.is_empty() && row.len() != columns.len() {
            return Err(RouteError::Syntax(format!(
                "Column count doesn't match value count at row {}",
                r + 1
            )));
        }
    }
    // sequence
    let mut seq = None;
    if let Some(s) = schema.sequence_for(&slot.name) {
        if !columns.is_empty() {
            let pos = columns.iter().position(|c| *c == s.column);
            let pos = match pos {
                Some(p) => p,
                None => {
                    columns.push(s.column.clone());
                    ins.columns
                        .push(ObjectName(vec![ObjectNamePart::Identifier(ident(
                            &s.column,
                        ))]));
                    for row in &mut rows {
                        row.push(Expr::Identifier(ident(SEQ_MARK)));
                    }
                    columns.len() - 1
                }
            };
            let mut per_row = Vec::new();
            for row in &mut rows {
                let v = &row[pos];
                let need = match v {
                    Expr::Identifier(i) if i.value == SEQ_MARK => None,
                    Expr::Value(x)
                        if x.value == SqlValue::Null
                            || x.value == SqlValue::Number("0".into(), false) =>
                    {
                        row[pos] = Expr::Identifier(ident(SEQ_MARK));
                        None
                    }
                    Expr::Value(x) => match &x.value {
                        SqlValue::Placeholder(p) => p
                            .strip_prefix('?')
                            .and_then(|n| n.parse::<usize>().ok())
                            .filter(|n| *n > 0)
                            .map(|n| n - 1),
                        _ => Some(usize::MAX),
                    },
                    _ => Some(usize::MAX),
                };
                per_row.push(need);
            }
            seq = Some(SeqFill {
                name: s.name.clone(),
                column: s.column.clone(),
                rows: per_row,
            });
        }
    }
    // routing keys per row
    let mut row_keys = Vec::new();
    if let Some(l) = &layout {
        for row in &rows {
            let mut keys = Vec::new();
            for (c, v) in columns.iter().zip(row) {
                if l.is_routing_column(c) {
                    let op = match v {
                        Expr::Identifier(i) if i.value == SEQ_MARK => None,
                        other => operand(other),
                    };
                    keys.push((c.clone(), op));
                }
            }
            row_keys.push(keys);
        }
    }
    // global index rows, kept in step with the base rows
    let mut index = None;
    if let Some(gi) = schema.global_indexes.iter().find(|g| g.table == slot.name) {
        let Some(TableRule::Sharded(it)) = schema.table(&gi.index_table) else {
            return Err(RouteError::Unsupported(format!(
                "global index {} has no sharded index table",
                gi.name
            )));
        };
        let mut cols = vec![gi.column.clone()];
        cols.extend(gi.covering.iter().cloned());
        let mut pos = Vec::new();
        for c in &cols {
            match columns.iter().position(|x| x == c) {
                Some(p) => pos.push(p),
                None => {
                    return Err(RouteError::MissingShardKey {
                        table: slot.name.clone(),
                        column: c.clone(),
                        row: 1,
                    })
                }
            }
        }
        let mut irows = Vec::new();
        let mut keys = Vec::new();
        for row in &rows {
            let mut t = String::from("(");
            for (k, p) in pos.iter().enumerate() {
                if k > 0 {
                    t.push_str(", ");
                }
                t.push_str(&row[*p].to_string());
            }
            t.push(')');
            irows.push(Template::from_rendered(&t));
            keys.push(operand(&row[pos[0]]));
        }
        let verb = if kind == StmtKind::Replace || ins.on.is_some() {
            "REPLACE"
        } else {
            "INSERT"
        };
        let plain = kind == StmtKind::Insert && ins.on.is_none() && !ins.ignore;
        let head = format!(
            "{verb} INTO {} ({}) VALUES ",
            crate::route::quote_ident(&it.physical_name(0)),
            cols.join(", ")
        );
        let template = Template(vec![
            crate::route::lexer::Piece::Text(head.clone()),
            crate::route::lexer::Piece::Rows,
        ]);
        // A plain single-row INSERT of a key the index holds for the same
        // row identity (covering columns that are not the base shard key,
        // e.g. card_id) is the row moving shards: re-point the index row.
        let move_template = match &layout {
            Some(l) if plain => move_suffix(&gi.covering, |c| l.is_routing_column(c)).map(|tail| {
                Template(vec![
                    crate::route::lexer::Piece::Text(head),
                    crate::route::lexer::Piece::Rows,
                    crate::route::lexer::Piece::Text(tail),
                ])
            }),
            _ => None,
        };
        index = Some(IndexInsert {
            table: it.clone(),
            template,
            move_template,
            rows: irows,
            keys,
        });
    }
    // templates
    let row_templates = rows
        .iter()
        .map(|row| {
            let mut s = String::from("(");
            for (i, e) in row.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&e.to_string());
            }
            s.push(')');
            Template::from_rendered(&s)
        })
        .collect();
    ins.table = TableObject::TableName(marker(0));
    if let Some(src) = ins.source.as_deref_mut() {
        if let SetExpr::Values(v) = src.body.as_mut() {
            v.rows = vec![ast::Parens {
                opening_token: ast::helpers::attached_token::AttachedToken::empty(),
                content: vec![Expr::Identifier(ident(ROWS_MARK))],
                closing_token: ast::helpers::attached_token::AttachedToken::empty(),
            }];
        }
    }
    let template = Template::from_rendered(&Statement::Insert(ins).to_string());
    Ok(Plan {
        kind,
        params: sc.params,
        hint: sc.hint,
        flags: StmtFlags::default(),
        body: Body::Insert(InsertPlan {
            slot,
            template,
            rows: row_templates,
            row_keys,
            sequence: seq,
            index,
        }),
    })
}

pub(super) fn values_query(rows: Vec<Vec<Expr>>) -> Query {
    let mut q = empty_query();
    q.body = Box::new(SetExpr::Values(ast::Values {
        explicit_row: false,
        value_keyword: false,
        rows: rows
            .into_iter()
            .map(|r| ast::Parens {
                opening_token: ast::helpers::attached_token::AttachedToken::empty(),
                content: r,
                closing_token: ast::helpers::attached_token::AttachedToken::empty(),
            })
            .collect(),
    }));
    q
}

pub(super) fn empty_query() -> Query {
    Query {
        with: None,
        body: Box::new(SetExpr::Values(ast::Values {
            explicit_row: false,
            value_keyword: false,
            rows: Vec::new(),
        })),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}
