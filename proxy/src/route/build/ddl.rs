//! DDL: a statement on a logical table goes to every physical copy.

use super::*;

pub(super) fn ddl(
    schema: &Schema,
    table: &str,
    mut render: impl FnMut(&str) -> String,
) -> Result<Routed, RouteError> {
    let phys = schema
        .physical_tables(table)
        .ok_or_else(|| no_such_table(schema, table))?;
    let targets = phys
        .into_iter()
        .map(|(place, name)| Target {
            place,
            sql: render(&name),
            prepared: None,
        })
        .collect();
    Ok(Routed::Shards(ShardPlan {
        kind: StmtKind::Ddl,
        targets,
        merge: None,
        broadcast: true,
        any_copy: false,
        rows: Vec::new(),
        ids: Vec::new(),
        index_move: false,
    }))
}
