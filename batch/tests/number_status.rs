//! A 号码状态变更 file over the real SFTP drop goes through the number
//! center's status change: allowed transitions applied with history rows
//! and number.status_changed outbox events, a transition the table refuses,
//! a number not in stock, a line listed twice and malformed lines answered
//! with their codes, the rest applied.

mod support;

use haoka_services::number::access::Actor;
use haoka_services::number::intake::{self, IntakeRequest};
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_change_file() {
    let env = support::env().await;
    let (depot, city) = env.depot("17").await;
    let n = env.fresh_numbers("17", &city, 5).await;
    let admin = haoka_services::auth::rbac::principal_of(&env.state, &env.staff_no, "test")
        .await
        .unwrap();
    let taken = intake::run(
        &env.state,
        &Actor::Staff(admin),
        &IntakeRequest {
            numbers: Some(n[..4].to_vec()),
            range: None,
            depot_id: depot,
            pool_id: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(taken.accepted, 4);
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
