//! INSERT and REPLACE: rows grouped by shard and physical table, sequence
//! ids filled in, global index rows routed with them.

use super::*;

impl PendingInsert {
    /// Give the ids (exactly `count`, from sequence `sequence`) and get the
    /// routed INSERT.
    pub fn bind_ids(&self, ids: &[u64], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        with_sql_mode(self.sql_mode, || self.bind_ids_now(ids, segs))
    }

    fn bind_ids_now(&self, ids: &[u64], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        if ids.len() != self.count {
            return Err(RouteError::WrongIdCount {
                expected: self.count,
                got: ids.len(),
            });
        }
        let schema = self
            .rules
            .schemas
            .get(self.schema_idx)
            .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
        let Body::Insert(ip) = &self.plan.body else {
            return Err(RouteError::Unsupported("internal: not an insert".into()));
        };
        let (args, prepared) = match &self.args {
            OwnedArgs::Lits(l) => (Args::Lits(l), false),
            OwnedArgs::Values(v) => (Args::Values(v), true),
        };
        bind_insert(
            &self.plan,
            ip,
            schema,
            &args,
            segs,
            &self.needs,
            ids,
            prepared,
        )
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn bind_insert(
    plan: &Plan,
    ip: &InsertPlan,
    schema: &Schema,
    args: &Args,
    segs: &dyn SegmentMap,
    needs: &[bool],
    ids: &[u64],
    prepared: bool,
) -> Result<Routed, RouteError> {
    let nrows = ip.rows.len();
    let mut row_ids: Vec<Option<u64>> = vec![None; nrows];
    let mut it = ids.iter();
    for (r, n) in needs.iter().enumerate() {
        if *n {
            row_ids[r] = it.next().copied();
        }
    }
    let seq_param = |r: usize| -> Option<usize> {
        ip.sequence
            .as_ref()
            .and_then(|s| s.rows.get(r).copied().flatten())
            .filter(|p| *p != usize::MAX)
    };
    // group rows by (place, physical name)
    let mut groups: BTreeMap<(Place, String), Vec<usize>> = BTreeMap::new();
    let mut broadcast = false;
    match (&ip.slot.rule, plan.hint) {
        (_, Some(Hint::Global)) => {
            groups.insert((Place::Global, ip.slot.name.clone()), (0..nrows).collect());
        }
        (SlotRule::Sharded(t), hint) => {
            let l = layout(t, schema);
            let seq_col = ip.sequence.as_ref().map(|s| s.column.as_str());
            #[allow(clippy::needless_range_loop)]
            for r in 0..nrows {
                let mut vals: Vec<(&str, KeyValue)> = Vec::new();
                for (c, op) in ip.row_keys.get(r).map(|v| v.as_slice()).unwrap_or(&[]) {
                    let from_seq = Some(c.as_str()) == seq_col
                        && (op.is_none()
                            || (needs.get(r) == Some(&true) && seq_param(r).is_some()));
                    let v = if from_seq {
                        row_ids[r].map(|i| KeyValue::Int(i as i128))
                    } else {
                        op.as_ref().and_then(|o| o.resolve(args))
                    };
                    if let Some(v) = v {
                        vals.push((c.as_str(), v));
                    }
                }
                let (shard, split) = match place_row(&l, &vals, segs)? {
                    Some(p) => p,
                    None => match hint {
                        Some(Hint::Shard(n)) if t.split_by.is_none() => (n, 0),
                        _ => {
                            // name the split column when the shard is known
                            let shard_known = l.point_known(&vals, segs);
                            let column = match (&t.split_by, shard_known) {
                                (Some(sp), true) => sp.column.clone(),
                                _ => t.shard_by.column.clone(),
                            };
                            return Err(RouteError::MissingShardKey {
                                table: t.name.clone(),
                                column,
                                row: r + 1,
                            });
                        }
                    },
                };
                let shard = match hint {
                    Some(Hint::Shard(n)) => n,
                    _ => shard,
                };
                groups
                    .entry((Place::Data(shard), t.physical_name(split)))
                    .or_default()
                    .push(r);
            }
        }
        (SlotRule::Broadcast, Some(Hint::Shard(n))) => {
            groups.insert((Place::Data(n), ip.slot.name.clone()), (0..nrows).collect());
        }
        (SlotRule::Broadcast, _) => {
            broadcast = true;
            for p in schema.all_places() {
                groups.insert((p, ip.slot.name.clone()), (0..nrows).collect());
            }
        }
        (SlotRule::Global, _) => {
            groups.insert((Place::Global, ip.slot.name.clone()), (0..nrows).collect());
        }
    }
    // per row: the parameter that carries the sequence column (replaced by
    // the id when the row gets one)
    let seq_p: Vec<Option<usize>> = match &ip.sequence {
        Some(s) => s
            .rows
            .iter()
            .map(|r| r.filter(|p| *p != usize::MAX))
            .collect(),
        None => Vec::new(),
    };
    let mut targets = Vec::with_capacity(groups.len());
    let mut rows = Vec::with_capacity(groups.len());
    for ((place, name), rs) in &groups {
        let names = [name.clone()];
        let fill = Fill {
            names: &names,
            limit: None,
            rows: Some((&ip.rows, rs, &row_ids)),
            seq: None,
            exclude: None,
        };
        let mut out = Out::new(args, prepared);
        render_insert(&ip.template, &fill, &mut out, &seq_p);
        targets.push(out.finish(*place));
        rows.push(rs.len());
    }
    let mut index_move = false;
    if let Some(ix) = &ip.index {
        let l = layout(&ix.table, schema);
        let template = match &ix.move_template {
            Some(m) if nrows == 1 && !broadcast => {
                index_move = true;
                m
            }
            _ => &ix.template,
        };
        let mut by_shard: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for r in 0..nrows {
            let key = ix
                .keys
                .get(r)
                .cloned()
                .flatten()
                .and_then(|o| o.resolve(args))
                .ok_or_else(|| RouteError::MissingShardKey {
                    table: ip.slot.name.clone(),
                    column: ix.table.shard_by.column.clone(),
                    row: r + 1,
                })?;
            let (shard, _) = place_row(&l, &[(ix.table.shard_by.column.as_str(), key)], segs)?
                .ok_or_else(|| RouteError::MissingShardKey {
                    table: ip.slot.name.clone(),
                    column: ix.table.shard_by.column.clone(),
                    row: r + 1,
                })?;
            by_shard.entry(shard).or_default().push(r);
        }
        for (shard, rs) in by_shard {
            let fill = Fill {
                names: &[],
                limit: None,
                rows: Some((&ix.rows, &rs, &row_ids)),
                seq: None,
                exclude: None,
            };
            let mut out = Out::new(args, prepared);
            render_insert(template, &fill, &mut out, &seq_p);
            targets.push(out.finish(Place::Data(shard)));
            rows.push(rs.len());
        }
    }
    Ok(Routed::Shards(ShardPlan {
        kind: plan.kind,
        targets,
        merge: None,
        broadcast,
        any_copy: false,
        rows,
        ids: row_ids.iter().flatten().copied().collect(),
        index_move,
    }))
}

/// An INSERT template: rows get their own sequence id.
fn render_insert(t: &Template, fill: &Fill, out: &mut Out, seq_p: &[Option<usize>]) {
    for p in &t.0 {
        match p {
            Piece::Rows => {
                let Some((templates, rows, ids)) = fill.rows else {
                    continue;
                };
                for (k, r) in rows.iter().enumerate() {
                    if k > 0 {
                        out.text(", ");
                    }
                    let Some(rt) = templates.get(*r) else {
                        continue;
                    };
                    let id = ids.get(*r).copied().flatten();
                    let sub = Fill {
                        names: fill.names,
                        limit: None,
                        rows: None,
                        seq: id.map(|id| (seq_p.get(*r).copied().flatten(), id)),
                        exclude: None,
                    };
                    render(rt, &sub, out);
                }
            }
            other => render(
                &Template(vec![other.clone()]),
                &Fill {
                    names: fill.names,
                    limit: None,
                    rows: None,
                    seq: None,
                    exclude: None,
                },
                out,
            ),
        }
    }
}
