//! A 成卡入库 file over the real SFTP drop goes through the card center's
//! intake: a wrong Luhn check digit and a made card without IMSI refused,
//! the rest in stock with their history rows.

mod support;

use haoka_services::card::iccid::luhn_digit;
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use rand::Rng;

fn iccid() -> String {
    let body: String = (0..12)
        .map(|_| char::from(b'0' + rand::thread_rng().gen_range(0..10u8)))
        .collect();
    let payload = format!("898601{body}");
    format!("{payload}{}", luhn_digit(&payload))
}

fn imsi() -> String {
    format!(
        "46001{:010}",
        rand::thread_rng().gen_range(0..10_000_000_000u64)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_intake_file_with_bad_luhn() {
    let env = support::env().await;
    let (depot, _) = env.depot("71").await;
    let good: Vec<String> = (0..3).map(|_| iccid()).collect();
    let blank = iccid();
    let no_imsi = iccid();
    let mut bad_luhn = iccid();
    let last = bad_luhn.pop().unwrap();
    bad_luhn.push(if last == '0' { '1' } else { '0' });
    let mut csv = String::from("iccid,imsi,card_type,depot_id,package_id\n");
    for g in &good {
        csv.push_str(&format!("{g},{},made,{depot},\n", imsi())); // 2-4
    }
    csv.push_str(&format!("{blank},,blank,{depot},\n")); // 5
    csv.push_str(&format!("{bad_luhn},{},made,{depot},\n", imsi())); // 6
    csv.push_str(&format!("{no_imsi},,made,{depot},\n")); // 7
    let name = format!("CARD_INTAKE_71_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, csv.as_bytes());
    let mut loader = env.loader(100);
    let s = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(s["status"], "D", "{s}");
    assert_eq!(s["ok"], 4, "{s}");
    assert_eq!(s["total"], 6, "{s}");
    let result = String::from_utf8(
        env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    )
    .unwrap();
    assert!(
        result.contains("6,") && result.contains("invalid_iccid"),
        "{result}"
    );
    assert!(result.contains("Luhn"), "{result}");
    assert!(result.contains("imsi_required"), "{result}");

    let mut all = good.clone();
    all.push(blank.clone());
    let mut c = env.state.db.conn().await.unwrap();
    let marks = vec!["?"; all.len()].join(", ");
    let params: Vec<Value> = all.iter().map(|s| Value::from(s.as_str())).collect();
    let stock: Option<i64> = c
        .exec_first(
            format!(
                "SELECT COUNT(*) FROM sim_card WHERE province_code = '71' AND iccid IN ({marks})"
            ),
            params.clone(),
        )
        .await
        .unwrap();
    assert_eq!(stock, Some(4));
    let history: Option<i64> = c
        .exec_first(
            format!(
                "SELECT COUNT(*) FROM card_history WHERE province_code = '71' AND iccid IN ({marks}) \
                 AND action = 'intake'"
            ),
            params.clone(),
        )
        .await
        .unwrap();
    assert_eq!(history, Some(4));
    let refused: Option<i64> = c
        .exec_first(
            "SELECT COUNT(*) FROM sim_card WHERE province_code = '71' AND iccid IN (?, ?)",
            (&bad_luhn, &no_imsi),
        )
        .await
        .unwrap();
    assert_eq!(refused, Some(0));
    for table in ["card_history", "sim_card"] {
        c.exec_drop(
            format!("DELETE FROM {table} WHERE province_code = '71' AND iccid IN ({marks})"),
            params.clone(),
        )
        .await
        .unwrap();
    }
    c.exec_drop("DELETE FROM depot WHERE depot_id = ?", (depot,))
        .await
        .unwrap();
}
