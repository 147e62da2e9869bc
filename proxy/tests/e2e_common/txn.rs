//! Helpers of the transaction tests: sysbench-shaped tables in the `sbtest`
//! schema (range_mod by id, block 1000 -> shard (id div 1000) mod 8), read
//! back with direct connections to the shard databases.

use mysql_async::prelude::*;

use super::{direct, sbtest_shard};

/// haoka's XA formatID ("HKXA").
pub const FORMAT_ID: i64 = 0x484B_5841;

/// Creates `table` (one of sbtest1..16) through the proxy if missing.
pub async fn create_sb_table(c: &mut mysql_async::Conn, table: &str) {
    c.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {table} (id INT NOT NULL, k INT NOT NULL DEFAULT 0, \
         c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id))"
    ))
    .await
    .unwrap_or_else(|e| panic!("create {table}: {e}"));
}

/// (Re)sets rows `ids` of `table` to `k` through the proxy.
pub async fn reset_rows(c: &mut mysql_async::Conn, table: &str, ids: &[i64], k: i64) {
    for id in ids {
        c.exec_drop(format!("DELETE FROM {table} WHERE id = ?"), (id,))
            .await
            .unwrap();
        c.exec_drop(
            format!("INSERT INTO {table} (id, k) VALUES (?, ?)"),
            (id, k),
        )
        .await
        .unwrap();
    }
}

/// `k` of row `id`, read directly on its shard (None: no row).
pub async fn direct_k(table: &str, id: i64) -> Option<i64> {
    let db = format!("sbtest_s{}", sbtest_shard(id));
    let mut d = direct(Some(&db)).await;
    let k = d
        .exec_first(format!("SELECT k FROM {table} WHERE id = ?"), (id,))
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    k
}

/// Prepared XA branches of haoka on the server: (gtrid, bqual).
pub async fn our_in_doubt() -> Vec<(String, String)> {
    let mut d = direct(None).await;
    let rows: Vec<(i64, usize, usize, Vec<u8>)> = d.query("XA RECOVER").await.unwrap();
    d.disconnect().await.unwrap();
    rows.into_iter()
        .filter(|r| r.0 == FORMAT_ID)
        .map(|(_, g, b, data)| {
            (
                String::from_utf8_lossy(&data[..g]).into_owned(),
                String::from_utf8_lossy(&data[g..g + b]).into_owned(),
            )
        })
        .collect()
}

/// Moves `amount` of `k` from row `from` to row `to` (two statements, inside
/// whatever transaction the connection has open).
pub async fn move_k(
    c: &mut mysql_async::Conn,
    table: &str,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), mysql_async::Error> {
    c.exec_drop(
        format!("UPDATE {table} SET k = k - ? WHERE id = ?"),
        (amount, from),
    )
    .await?;
    c.exec_drop(
        format!("UPDATE {table} SET k = k + ? WHERE id = ?"),
        (amount, to),
    )
    .await
}

/// A proxy connection to `sbtest` with `table` created and rows `ids` (on
/// shards `shards`, in order) set to `k`.
pub async fn sb_rows(
    proxy: &super::ProxyProc,
    table: &str,
    ids: &[i64],
    shards: &[usize],
    k: i64,
) -> mysql_async::Conn {
    let mut c = proxy.conn("sbtest").await;
    create_sb_table(&mut c, table).await;
    let got: Vec<usize> = ids.iter().map(|i| sbtest_shard(*i)).collect();
    assert_eq!(got, shards, "shards of rows {ids:?}");
    reset_rows(&mut c, table, ids, k).await;
    c
}

/// Nanoseconds since the epoch, for names unique to a run.
pub fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
