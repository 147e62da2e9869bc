//! A write to a broadcast table reaches every copy (8 data shards and the
//! global shard) in one distributed transaction: when one copy refuses it
//! (a conflicting row, a trigger — set up with a direct connection), no copy
//! changes and the error names the shard.

mod e2e_common;

use e2e_common::*;
use mysql_async::prelude::*;

/// Every copy's `name` for the dictionary row, read directly.
async fn copies(dict_type: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for db in (0..8)
        .map(|s| format!("haoka_s{s}"))
        .chain(["haoka_global".to_string()])
    {
        let mut d = direct(Some(&db)).await;
        out.push(
            d.exec_first(
                "SELECT name FROM dictionary WHERE dict_type = ? AND code = '01'",
                (dict_type,),
            )
            .await
            .unwrap(),
        );
        d.disconnect().await.unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_writes_change_every_copy_or_none() {
    let proxy = ProxyProc::start();
    let mut c = proxy.conn("haoka").await;
    let nanos = e2e_common::txn::nanos();
    let t = format!("xa_bc_{}", nanos % 1_000_000_000_000);
    let trigger = format!("{t}_refuse");

    // Shard 3's copy already has the key: the INSERT fails there.
    let mut s3 = direct(Some("haoka_s3")).await;
    s3.exec_drop(
        "INSERT INTO dictionary (dict_type, code, name) VALUES (?, '01', 'conflict')",
        (&t,),
    )
    .await
    .unwrap();
    let err = c
        .exec_drop(
            "INSERT INTO dictionary (dict_type, code, name) VALUES (?, '01', 'x')",
            (&t,),
        )
        .await
        .expect_err("duplicate key on shard 3");
    let after_insert = copies(&t).await;
    s3.exec_drop("DELETE FROM dictionary WHERE dict_type = ?", (&t,))
        .await
        .unwrap();

    // Without the conflict every copy gets the row.
    c.exec_drop(
        "INSERT INTO dictionary (dict_type, code, name) VALUES (?, '01', 'x')",
        (&t,),
    )
    .await
    .unwrap();
    let inserted = copies(&t).await;

    // The global shard's copy refuses an UPDATE (trigger).
    let mut g = direct(Some("haoka_global")).await;
    g.query_drop(format!(
        "CREATE TRIGGER `{trigger}` BEFORE UPDATE ON dictionary FOR EACH ROW \
         IF NEW.dict_type = '{t}' AND NEW.name = 'refused' THEN \
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'this copy refuses the change'; END IF"
    ))
    .await
    .unwrap();
    let upd = c
        .exec_drop(
            "UPDATE dictionary SET name = 'refused' WHERE dict_type = ?",
            (&t,),
        )
        .await;
    let after_update = copies(&t).await;
    g.query_drop(format!("DROP TRIGGER `{trigger}`"))
        .await
        .unwrap();
    g.disconnect().await.unwrap();
    c.exec_drop("DELETE FROM dictionary WHERE dict_type = ?", (&t,))
        .await
        .unwrap();
    let deleted = copies(&t).await;

    let msg = err.to_string();
    assert!(msg.contains("shard 3 (haoka)"), "names the shard: {msg}");
    assert!(msg.contains("no shard changed"), "{msg}");
    let mut want = vec![None; 9];
    want[3] = Some("conflict".to_string());
    assert_eq!(after_insert, want, "only shard 3's own row");
    assert_eq!(inserted, vec![Some("x".to_string()); 9]);
    let msg = upd.expect_err("the global copy refuses").to_string();
    assert!(
        msg.contains("shard global (haoka)"),
        "names the shard: {msg}"
    );
    assert!(msg.contains("this copy refuses the change"), "{msg}");
    assert_eq!(
        after_update,
        vec![Some("x".to_string()); 9],
        "no copy changed"
    );
    assert_eq!(deleted, vec![None; 9]);
}
