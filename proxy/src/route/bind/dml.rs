//! SELECT, UPDATE and DELETE: the shards (and split tables) the conditions
//! select, one statement per target, and the merge spec for scatter reads.

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn bind_dml(
    plan: &Arc<Plan>,
    d: &DmlPlan,
    rules: &Arc<Rules>,
    schema_idx: usize,
    args: &Args,
    segs: &dyn SegmentMap,
    prepared: bool,
    known: Option<&BTreeSet<usize>>,
) -> Result<Routed, RouteError> {
    let schema = rules
        .schemas
        .get(schema_idx)
        .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
    let write = plan.kind.is_write();
    let mut broadcast = false;
    let mut any_copy = false;
    // (place, physical names per slot)
    let mut targets: Vec<(Place, Vec<String>)> = Vec::new();
    match (&d.placement, plan.hint) {
        (_, Some(Hint::Global)) | (Placement::Global, _) => {
            targets.push((Place::Global, logical_names(&d.slots)));
        }
        (Placement::Broadcast, Some(Hint::Shard(n))) => {
            targets.push((Place::Data(n), logical_names(&d.slots)));
        }
        (Placement::Broadcast, None) => {
            if write {
                broadcast = true;
                for p in schema.all_places() {
                    targets.push((p, logical_names(&d.slots)));
                }
            } else {
                any_copy = true;
                targets.push((Place::Data(0), logical_names(&d.slots)));
            }
        }
        (Placement::Sharded { group, sub }, hint) => {
            let mut shards: Option<BTreeSet<usize>> = None;
            let mut splits: Option<BTreeSet<(usize, usize)>> = None;
            let drivers = if group.is_empty() { sub } else { group };
            for &g in drivers {
                let SlotRule::Sharded(t) = &d.slots[g].rule else {
                    continue;
                };
                let l = layout(t, schema);
                let set = eval(&d.cond, g, &l, args, segs)?;
                if set == PairSet::All && t.split_by.is_none() {
                    continue;
                }
                let m = l.materialize(&set);
                let sh: BTreeSet<usize> = m.iter().map(|p| p.0).collect();
                shards = Some(match shards {
                    None => sh,
                    Some(s) => s.intersection(&sh).copied().collect(),
                });
                if t.split_by.is_some() {
                    splits = Some(match splits {
                        None => m,
                        Some(s) => s.intersection(&m).copied().collect(),
                    });
                }
            }
            let mut shards: BTreeSet<usize> =
                shards.unwrap_or_else(|| (0..schema.shards.len()).collect());
            match (known, &d.lookup, hint) {
                (Some(k), _, _) => shards = shards.intersection(k).copied().collect(),
                (None, Some(lk), None) if shards.len() == schema.shards.len() => {
                    if let Some(vals) = equalities(&d.cond, lk.slot, &lk.column, args) {
                        if !vals.is_empty() {
                            return lookup(plan, lk, rules, schema_idx, args, segs, vals);
                        }
                    }
                }
                _ => {}
            }
            let mut pairs: Vec<(usize, Option<usize>)> = match &splits {
                Some(sp) => sp
                    .iter()
                    .filter(|(s, _)| shards.contains(s))
                    .map(|(s, p)| (*s, Some(*p)))
                    .collect(),
                None => shards.iter().map(|s| (*s, None)).collect(),
            };
            if let Some(Hint::Shard(n)) = hint {
                let mut sp: BTreeSet<Option<usize>> = pairs.iter().map(|p| p.1).collect();
                if sp.is_empty() {
                    sp = match &splits {
                        Some(_) => split_count(d, drivers)
                            .map(|c| (0..c).map(Some).collect())
                            .unwrap_or_default(),
                        None => [None].into_iter().collect(),
                    };
                }
                pairs = sp.into_iter().map(|p| (n, p)).collect();
            }
            if pairs.is_empty() {
                // contradictory conditions: no row anywhere; one place answers
                pairs.push((0, splits.as_ref().map(|_| 0)));
            }
            let mut sub_names: Vec<(usize, String)> = Vec::new();
            if !sub.is_empty() {
                if pairs.len() != 1 {
                    return Err(RouteError::not_supported(
                        "a subquery, derived table or UNION on sharded tables across several shards",
                        "add shard-key conditions so that every table routes to the same single shard",
                    ));
                }
                let shard = pairs[0].0;
                for &s in sub {
                    let SlotRule::Sharded(t) = &d.slots[s].rule else {
                        continue;
                    };
                    let l = layout(t, schema);
                    let set = eval(&d.cond, s, &l, args, segs)?;
                    let m = l.materialize(&set);
                    let on: Vec<&(usize, usize)> = m.iter().filter(|p| p.0 == shard).collect();
                    let all_same = m.iter().all(|p| p.0 == shard);
                    if on.len() != 1 || !all_same {
                        return Err(RouteError::not_supported(
                            format!(
                                "a subquery on sharded table {} that does not route to the same single shard as the statement",
                                t.name
                            ),
                            "add shard-key conditions to the subquery so it reaches the same shard",
                        ));
                    }
                    sub_names.push((s, t.physical_name(on[0].1)));
                }
            }
            for (shard, split) in pairs {
                let names = d
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        if let Some((_, n)) = sub_names.iter().find(|(k, _)| *k == i) {
                            return n.clone();
                        }
                        match (&s.rule, split) {
                            (SlotRule::Sharded(t), Some(p)) if t.split_by.is_some() => {
                                t.physical_name(p)
                            }
                            _ => s.name.clone(),
                        }
                    })
                    .collect();
                targets.push((Place::Data(shard), names));
            }
        }
    }
    if write {
        // A write that may reach the rows of a province being switched
        // waits for the switch (`Reshard::hold`), then excludes them.
        for (place, _) in &targets {
            if let Some(p) = switching_on(d, *place) {
                return Err(RouteError::ProvinceMoving(p));
            }
        }
    }
    let (kind, single) = (plan.kind, targets.len() == 1);
    if single || write {
        if !single {
            if let Some(e) = &d.multi_write_error {
                return Err(e.clone());
            }
        }
        let targets = targets
            .into_iter()
            .map(|(place, names)| {
                let mut out = Out::new(args, prepared);
                let exclude = exclusion(d, place, &names);
                render(
                    &d.single,
                    &Fill {
                        names: &names,
                        limit: None,
                        rows: None,
                        seq: None,
                        exclude: exclude.as_deref(),
                    },
                    &mut out,
                );
                out.finish(place)
            })
            .collect();
        return Ok(Routed::Shards(ShardPlan {
            kind,
            targets,
            merge: None,
            broadcast,
            any_copy,
            rows: Vec::new(),
            ids: Vec::new(),
            index_move: false,
        }));
    }
    let sc = match &d.scatter {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(e.clone()),
        None => {
            return Err(RouteError::Unsupported(
                "internal: several targets without a merge plan".into(),
            ))
        }
    };
    let mut spec = sc.merge.clone();
    let mut limit_sum = None;
    if let Some(l) = &sc.limit {
        let get = |o: &crate::route::keys::Operand| -> Result<u64, RouteError> {
            match o {
                crate::route::keys::Operand::Param(i) => args.uint(*i),
                crate::route::keys::Operand::Const(k) => {
                    k.as_int().and_then(|v| u64::try_from(v).ok())
                }
            }
            .ok_or_else(|| RouteError::Syntax("LIMIT needs non-negative integers".into()))
        };
        let count = get(&l.count)?;
        let offset = match &l.offset {
            Some(o) => get(o)?,
            None => 0,
        };
        spec.offset = offset;
        spec.limit = Some(count);
        limit_sum = Some(offset.saturating_add(count));
    }
    if let Some(h) = &sc.having {
        spec.having = Some(having(h, args));
    }
    let targets = targets
        .into_iter()
        .map(|(place, names)| {
            let mut out = Out::new(args, prepared);
            let exclude = exclusion(d, place, &names);
            render(
                &sc.template,
                &Fill {
                    names: &names,
                    limit: limit_sum,
                    rows: None,
                    seq: None,
                    exclude: exclude.as_deref(),
                },
                &mut out,
            );
            out.finish(place)
        })
        .collect();
    Ok(Routed::Shards(ShardPlan {
        kind,
        targets,
        merge: Some(MergePlan::new(spec, sc.hidden, sc.wildcard)),
        broadcast: false,
        any_copy: false,
        rows: Vec::new(),
        ids: Vec::new(),
        index_move: false,
    }))
}

/// The condition a target on `place` adds so that it does not see rows of
/// provinces routed to another shard (a move's source rows until COMPLETE,
/// its copies on the target before the switch), for each excluded slot:
/// `(<qualifier>.<shard key> IS NULL OR <qualifier>.<shard key> NOT IN
/// ('36', ...))`. None where the shard holds no such rows (normal
/// operation): the statement is then exactly what it always was.
fn exclusion(d: &DmlPlan, place: Place, names: &[String]) -> Option<String> {
    let Place::Data(shard) = place else {
        return None;
    };
    let mut out = String::new();
    for e in &d.exclude {
        let SlotRule::Sharded(t) = &d.slots[e.slot].rule else {
            continue;
        };
        let crate::rules::Algorithm::Province(map) = &t.shard_by.algorithm else {
            continue;
        };
        let stale = map.stale_on(shard);
        if stale.is_empty() {
            continue;
        }
        let mut col = String::new();
        let qualifier = e
            .qualifier
            .as_deref()
            .or_else(|| names.get(e.slot).map(String::as_str))
            .unwrap_or(&t.name);
        push_quoted_ident(&mut col, qualifier);
        col.push('.');
        push_quoted_ident(&mut col, &t.shard_by.column);
        let no_backslash = planning_mode().no_backslash_escapes;
        let list: Vec<String> = stale
            .into_iter()
            .map(|p| mysql_common::value::Value::Bytes(p.into_bytes()).as_sql(no_backslash))
            .collect();
        if !out.is_empty() {
            out.push_str(" AND ");
        }
        out.push_str(&format!(
            "({col} IS NULL OR {col} NOT IN ({}))",
            list.join(", ")
        ));
    }
    (!out.is_empty()).then_some(out)
}

/// A province being switched whose rows the shard of `place` may hold, for
/// any of the statement's excluded slots.
fn switching_on(d: &DmlPlan, place: Place) -> Option<String> {
    let Place::Data(shard) = place else {
        return None;
    };
    d.exclude.iter().find_map(|e| match &d.slots[e.slot].rule {
        SlotRule::Sharded(t) => match &t.shard_by.algorithm {
            crate::rules::Algorithm::Province(map) => map.frozen_on(shard),
            _ => None,
        },
        _ => None,
    })
}

fn split_count(d: &DmlPlan, group: &[usize]) -> Option<usize> {
    group.iter().find_map(|g| match &d.slots[*g].rule {
        SlotRule::Sharded(t) => t.split_by.as_ref().map(|s| s.count),
        _ => None,
    })
}

fn having(h: &HExpr, args: &Args) -> Expr {
    match h {
        HExpr::Column(c) => Expr::Column(*c),
        HExpr::Literal(v) => Expr::Literal(v.clone()),
        HExpr::Param(i) => Expr::Literal(args.value(*i)),
        HExpr::Binary { op, left, right } => Expr::Binary {
            op: *op,
            left: Box::new(having(left, args)),
            right: Box::new(having(right, args)),
        },
        HExpr::Not(x) => Expr::Not(Box::new(having(x, args))),
        HExpr::IsNull { expr, negated } => Expr::IsNull {
            expr: Box::new(having(expr, args)),
            negated: *negated,
        },
        HExpr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: Box::new(having(expr, args)),
            list: list.iter().map(|x| having(x, args)).collect(),
            negated: *negated,
        },
        HExpr::Between {
            expr,
            low,
            high,
            negated,
        } => Expr::Between {
            expr: Box::new(having(expr, args)),
            low: Box::new(having(low, args)),
            high: Box::new(having(high, args)),
            negated: *negated,
        },
    }
}
