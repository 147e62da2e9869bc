//! A 号码状态变更 file over the real SFTP drop goes through the number
//! center's status change: allowed transitions applied with history rows
//! and number.status_changed outbox events, a transition the table refuses,
//! a number not in stock, a line listed twice and malformed lines answered
//! with their codes, the rest applied.

mod support;

use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_change_file() {
    let env = support::env().await;
    let (depot, city) = env.depot("17").await;
    let n = env.fresh_numbers("17", &city, 5).await;
    env.take_in(&n[..4], depot).await;
    let csv = format!(
        "phone_no,to_status,reason\n{},03,上架\n{},02,\n{},09,\n{},03,上架\n{},03,\n{},02,\n123,03,\n{},99,\n",
        n[0], n[1], n[2], n[3], n[4], n[0], n[3]
    );
    let name = format!("NUM_STATUS_17_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, csv.as_bytes());
    let mut loader = env.loader(100);
    let s = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(s["status"], "D", "{s}");
    let result = String::from_utf8(
        env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            s["ok"].as_u64(),
            s["refused"].as_u64(),
            s["invalid"].as_u64()
        ),
        (Some(3), Some(3), Some(2)),
        "{s}\n{result}"
    );
    let mut c = env.state.db.conn().await.unwrap();
    for (no, want) in [(&n[0], "03"), (&n[1], "02"), (&n[2], "01"), (&n[3], "03")] {
        let st: Option<String> = c
            .exec_first("SELECT status FROM phone_number WHERE phone_no = ?", (no,))
            .await
            .unwrap();
        assert_eq!(st.as_deref(), Some(want), "{no}\n{result}");
    }
    for no in [&n[0], &n[1], &n[3]] {
        let events: Option<i64> = c
            .exec_first(
                "SELECT COUNT(*) FROM outbox WHERE routing_key = 'number.status_changed' AND payload LIKE ?",
                (format!("%\"phone_no\":\"{no}\"%"),),
            )
            .await
            .unwrap();
        assert_eq!(events, Some(1), "one event for {no}");
        let history: Option<i64> = c
            .exec_first(
                "SELECT COUNT(*) FROM number_history WHERE phone_no = ? AND from_status = '01'",
                (no,),
            )
            .await
            .unwrap();
        assert_eq!(history, Some(1), "one change row for {no}");
    }
    assert!(result.contains("duplicate_in_file"), "{result}");
    env.cleanup(&n, depot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depot_move_file() {
    let env = support::env().await;
    let (depot, city) = env.depot("17").await;
    let (other, _) = env.depot("17").await;
    let (elsewhere, _) = env.depot("76").await;
    let n = env.fresh_numbers("17", &city, 4).await;
    env.take_in(&n[..3], depot).await;
    let csv = format!(
        "phone_no,depot_id\n{},{other}\n{},{elsewhere}\n{},999999999999\n{},{other}\n",
        n[0], n[1], n[2], n[3]
    );
    let name = format!("NUM_DEPOT_17_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, csv.as_bytes());
    let mut loader = env.loader(100);
    let s = env.run_until_answered(&mut loader, &base).await;
    let result = String::from_utf8(
        env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (s["ok"].as_u64(), s["refused"].as_u64()),
        (Some(1), Some(3)),
        "{s}\n{result}"
    );
    assert!(result.contains("not_found"), "{result}");
    let mut c = env.state.db.conn().await.unwrap();
    let d: Option<i64> = c
        .exec_first(
            "SELECT depot_id FROM phone_number WHERE phone_no = ?",
            (&n[0],),
        )
        .await
        .unwrap();
    assert_eq!(d, Some(other));
    let d: Option<i64> = c
        .exec_first(
            "SELECT depot_id FROM phone_number WHERE phone_no = ?",
            (&n[1],),
        )
        .await
        .unwrap();
    assert_eq!(d, Some(depot));
    let moves: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM number_history WHERE phone_no = ? AND action = 'move_depot'",
            (&n[0],),
        )
        .await
        .unwrap();
    assert_eq!(moves, Some(1));
    for d in [other, elsewhere] {
        c.exec_drop("DELETE FROM depot WHERE depot_id = ?", (d,))
            .await
            .unwrap();
    }
    env.cleanup(&n, depot).await;
}
