//! Routing through a global index: look the shard keys up by the indexed
//! column, then bind the statement to the shards they name.

use super::*;

/// A key value as a literal the session's MySQL reads back exactly.
fn sql_literal(v: &KeyValue) -> String {
    match v {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::Str(s) => {
            let escapes = !planning_mode().no_backslash_escapes;
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\'' if escapes => out.push_str("\\'"),
                    '\'' => out.push_str("''"),
                    '\\' if escapes => out.push_str("\\\\"),
                    '\0' if escapes => out.push_str("\\0"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
    }
}

fn owned(args: &Args) -> OwnedArgs {
    match args {
        Args::Lits(l) => OwnedArgs::Lits(l.to_vec()),
        Args::Values(v) => OwnedArgs::Values(v.to_vec()),
    }
}

pub(super) fn lookup(
    plan: &Arc<Plan>,
    lk: &LookupPlan,
    rules: &Arc<Rules>,
    schema_idx: usize,
    args: &Args,
    segs: &dyn SegmentMap,
    vals: Vec<KeyValue>,
) -> Result<Routed, RouteError> {
    let schema = &rules.schemas[schema_idx.min(rules.schemas.len().saturating_sub(1))];
    let l = layout(&lk.index_table, schema);
    let mut by_shard: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for v in &vals {
        let set = l.materialize(&l.point(&lk.column, v, segs)?);
        for (shard, _) in set {
            let lit = sql_literal(v);
            let e = by_shard.entry(shard).or_default();
            if !e.contains(&lit) {
                e.push(lit);
            }
        }
    }
    let lookups = by_shard
        .into_iter()
        .map(|(shard, vs)| Target {
            place: Place::Data(shard),
            sql: format!(
                "SELECT DISTINCT {} FROM {} WHERE {} IN ({})",
                quote_ident(&lk.key_column),
                quote_ident(&lk.index_table.physical_name(0)),
                quote_ident(&lk.column),
                vs.join(", ")
            ),
            prepared: None,
        })
        .collect();
    Ok(Routed::NeedLookup(PendingLookup {
        kind: plan.kind,
        index: lk.index.clone(),
        lookups,
        key_column: lk.key_column.clone(),
        plan: plan.clone(),
        rules: rules.clone(),
        schema_idx,
        args: owned(args),
        sql_mode: planning_mode(),
    }))
}

impl PendingLookup {
    /// Give the shard-key values the lookups returned (all rows of all
    /// lookups; none when the index has no entry) and get the routed statement.
    pub fn bind_keys(&self, keys: &[String], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        with_sql_mode(self.sql_mode, || self.bind_keys_now(keys, segs))
    }

    fn bind_keys_now(&self, keys: &[String], segs: &dyn SegmentMap) -> Result<Routed, RouteError> {
        let schema = self
            .rules
            .schemas
            .get(self.schema_idx)
            .ok_or_else(|| RouteError::Unsupported("internal: schema index".into()))?;
        let Body::Dml(d) = &self.plan.body else {
            return Err(RouteError::Unsupported("internal: not a DML plan".into()));
        };
        let Some(lk) = &d.lookup else {
            return Err(RouteError::Unsupported("internal: no lookup".into()));
        };
        let SlotRule::Sharded(base) = &d.slots[lk.slot].rule else {
            return Err(RouteError::Unsupported(
                "internal: lookup on unsharded".into(),
            ));
        };
        let l = layout(base, schema);
        let mut known = BTreeSet::new();
        for k in keys {
            let set = l.materialize(&l.point(&lk.key_column, &KeyValue::Str(k.clone()), segs)?);
            known.extend(set.into_iter().map(|p| p.0));
        }
        let (args, prepared) = match &self.args {
            OwnedArgs::Lits(l) => (Args::Lits(l), false),
            OwnedArgs::Values(v) => (Args::Values(v), true),
        };
        bind_dml(
            &self.plan,
            d,
            &self.rules,
            self.schema_idx,
            &args,
            segs,
            prepared,
            Some(&known),
        )
    }
}
