//! The BSDM org feed over the real SFTP drop: department, channel and staff
//! files go through the permission center's sync code (the
//! `/api/v1/sync/*` rules): an unknown parent or department refused, a bad
//! status invalid, the rest created; the same rows again are unchanged.

mod support;

use mysql_async::prelude::Queryable;

async fn answered(
    env: &support::Env,
    loader: &mut haoka_batch::loader::Loader,
    kind: &str,
    csv: &str,
) -> (serde_json::Value, String) {
    let name = format!("{kind}_51_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, csv.as_bytes());
    let s = env.run_until_answered(loader, &base).await;
    let result = String::from_utf8(
        env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    )
    .unwrap();
    (s, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_feed_files_through_the_sync_rules() {
    let env = support::env().await;
    let t = env.tag.to_ascii_uppercase();
    let (parent, child, channel, staff) = (
        format!("DP{t}"),
        format!("DC{t}"),
        format!("CH{t}"),
        format!("ST{t}"),
    );
    let mut loader = env.loader(100);

    let depts = format!(
        "code,name,parent_code,province_code,status\n\
         {parent},广东分公司,,51,\n\
         {child},广州营业部,{parent},51,active\n\
         DX{t},孤儿,NOPE{t},51,\n\
         DY{t},坏状态,,51,weird\n"
    );
    let (s, result) = answered(&env, &mut loader, "BSDM_DEPT", &depts).await;
    assert_eq!(s["status"], "D", "{s}");
    assert_eq!(
        (
            s["ok"].as_u64(),
            s["refused"].as_u64(),
            s["invalid"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{s} {result}"
    );
    assert!(result.contains(",refused,not_found,"), "{result}");

    let channels = format!(
        "code,name,channel_type,province_code,parent_code,status\n\
         {channel},天河厅,hall,51,,\n\
         CX{t},坏类型,spaceship,51,,\n"
    );
    let (s, result) = answered(&env, &mut loader, "BSDM_CHANNEL", &channels).await;
    assert_eq!(
        (s["ok"].as_u64(), s["invalid"].as_u64()),
        (Some(1), Some(1)),
        "{s} {result}"
    );

    let staff_csv = format!(
        "staff_no,name,department_code,province_code,channel_code,status\n\
         {staff},张三,{child},51,{channel},\n\
         SX{t},李四,NOPE{t},51,,\n"
    );
    let (s, result) = answered(&env, &mut loader, "BSDM_STAFF", &staff_csv).await;
    assert_eq!(
        (s["ok"].as_u64(), s["refused"].as_u64()),
        (Some(1), Some(1)),
        "{s} {result}"
    );

    let mut c = env.state.db.conn().await.unwrap();
    let linked: Option<(String, String, String)> = c
        .exec_first(
            "SELECT d.code, p.code, ch.code FROM staff s JOIN department d ON d.department_id = s.department_id \
             JOIN department p ON p.department_id = d.parent_id JOIN channel ch ON ch.channel_id = s.channel_id \
             WHERE s.staff_no = ?",
            (&staff,),
        )
        .await
        .unwrap();
    assert_eq!(
        linked,
        Some((child.clone(), parent.clone(), channel.clone()))
    );
    let refused: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM department WHERE code IN (?, ?)",
            (format!("DX{t}"), format!("DY{t}")),
        )
        .await
        .unwrap();
    assert_eq!(refused, Some(0));

    // The same staff row in a new file: unchanged, still one row.
    let again = format!(
        "staff_no,name,department_code,province_code,channel_code,status\n{staff},张三,{child},51,{channel},\n"
    );
    let name = format!("BSDM_STAFF_51_20261202_{}b.csv", env.tag);
    env.drop_file(&name, again.as_bytes());
    let s = env
        .run_until_answered(&mut loader, name.trim_end_matches(".csv"))
        .await;
    assert_eq!(s["ok"], 1, "{s}");
    let n: Option<i64> = c
        .exec_first("SELECT COUNT(*) FROM staff WHERE staff_no = ?", (&staff,))
        .await
        .unwrap();
    assert_eq!(n, Some(1));

    c.exec_drop("DELETE FROM staff WHERE staff_no = ?", (&staff,))
        .await
        .unwrap();
    c.exec_drop("DELETE FROM channel WHERE code = ?", (&channel,))
        .await
        .unwrap();
    for d in [&child, &parent] {
        c.exec_drop("DELETE FROM department WHERE code = ?", (d,))
            .await
            .unwrap();
    }
}
