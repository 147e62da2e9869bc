//! A 成卡库位变更 file over the real SFTP drop goes through the card
//! center's depot move: a bad Luhn digit, an unknown card, a card already
//! in the target depot, a card listed twice and an unknown depot refused
//! with reasons; the rest moved with their history rows.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_depot_file_with_bad_lines() {
    let env = support::env().await;
    let (from, _) = env.depot("71").await;
    let (to, _) = env.depot("71").await;
    let cards: Vec<String> = (0..5).map(|_| iccid()).collect();
    // The cards come in through the loader's own CARD_INTAKE.
    let mut intake = String::from("iccid,imsi,card_type,depot_id,package_id\n");
    for c in &cards {
        intake.push_str(&format!("{c},,blank,{from},\n"));
    }
    let name = format!("CARD_INTAKE_71_20261202_{}.csv", env.tag);
    env.drop_file(&name, intake.as_bytes());
    let mut loader = env.loader(100);
    let s = env
        .run_until_answered(&mut loader, name.trim_end_matches(".csv"))
        .await;
    assert_eq!(s["ok"], 5, "{s}");

    let unknown = iccid();
    let mut bad_luhn = iccid();
    let last = bad_luhn.pop().unwrap();
    bad_luhn.push(if last == '0' { '1' } else { '0' });
    let mut csv = String::from("iccid,depot_id\n");
    for c in &cards[..3] {
        csv.push_str(&format!("{c},{to}\n")); // 2-4: moved
    }
    csv.push_str(&format!("{bad_luhn},{to}\n")); // 5: invalid_iccid
    csv.push_str(&format!("{unknown},{to}\n")); // 6: no such card
    csv.push_str(&format!("{},{from}\n", cards[3])); // 7: already there
    csv.push_str(&format!("{},{to}\n", cards[0])); // 8: listed twice
    csv.push_str(&format!("{},999999999999\n", cards[4])); // 9: unknown depot
    let name = format!("CARD_DEPOT_71_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, csv.as_bytes());
    let s = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(s["status"], "D", "{s}");
    assert_eq!(s["total"], 8, "{s}");
    assert_eq!(s["ok"], 3, "{s}");
    assert_eq!(s["invalid"], 1, "{s}");
    assert_eq!(s["refused"], 4, "{s}");
    let result = String::from_utf8(
        env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    )
    .unwrap();
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(result.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let outcome = |line: &str| {
        let r = rows.iter().find(|r| r[0] == line).unwrap();
        (r[2].clone(), r[3].clone())
    };
    for l in ["2", "3", "4"] {
        assert_eq!(outcome(l), ("ok".into(), "ok".into()), "{result}");
    }
    assert_eq!(outcome("5"), ("invalid".into(), "invalid_iccid".into()));
    assert_eq!(outcome("6"), ("refused".into(), "no_such_card".into()));
    assert_eq!(outcome("7"), ("refused".into(), "refused".into()));
    assert_eq!(outcome("8"), ("refused".into(), "duplicate_in_file".into()));
    assert_eq!(outcome("9"), ("refused".into(), "not_found".into()));

    let mut c = env.state.db.conn().await.unwrap();
    let marks = vec!["?"; cards.len()].join(", ");
    let params: Vec<Value> = cards.iter().map(|s| Value::from(s.as_str())).collect();
    let depots: Vec<(String, i64)> = c
        .exec(
            format!("SELECT iccid, depot_id FROM sim_card WHERE province_code = '71' AND iccid IN ({marks})"),
            params.clone(),
        )
        .await
        .unwrap();
    for (i, d) in depots {
        let want = if cards[..3].contains(&i) { to } else { from };
        assert_eq!(d, want, "{i}");
    }
    let moves: Option<i64> = c
        .exec_first(
            format!(
                "SELECT COUNT(*) FROM card_history WHERE province_code = '71' AND iccid IN ({marks}) \
                 AND action = 'move_depot'"
            ),
            params.clone(),
        )
        .await
        .unwrap();
    assert_eq!(moves, Some(3), "one history row per moved card");
    for table in ["card_history", "sim_card"] {
        c.exec_drop(
            format!("DELETE FROM {table} WHERE province_code = '71' AND iccid IN ({marks})"),
            params.clone(),
        )
        .await
        .unwrap();
    }
    c.exec_drop("DELETE FROM depot WHERE depot_id IN (?, ?)", (from, to))
        .await
        .unwrap();
}
