//! GBK CSV and XLSX number intake files over the real SFTP drop: GBK text
//! comes out right in the (UTF-8) result file; an XLSX phone number stored
//! as a number cell is refused, not rounded, and text cells are applied.

mod support;

use rust_xlsxwriter::Workbook;

fn rows(result: &[u8]) -> Vec<Vec<String>> {
    csv::Reader::from_reader(result)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_csv_is_decoded() {
    let env = support::env().await;
    let (depot, city) = env.depot("34").await;
    let nums = env.fresh_numbers("34", &city, 2).await;
    let text = format!(
        "phone_no,depot_id,pool_id\n{},{depot},\n号码错误,{depot},\n{},{depot},\n",
        nums[0], nums[1]
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    assert!(std::str::from_utf8(&gbk).is_err(), "really GBK bytes");
    let name = format!("NUM_INTAKE_34_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv").to_string();
    env.drop_file(&name, &gbk);
    let mut loader = env.loader(100);
    let s = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(s["encoding"], "GBK", "{s}");
    assert_eq!(
        (s["ok"].as_u64(), s["invalid"].as_u64()),
        (Some(2), Some(1))
    );
    let r = rows(
        &env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    );
    assert_eq!(r[1][1], "号码错误");
    assert_eq!(r[1][2], "invalid");
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({in})",
            &nums
        )
        .await,
        2
    );
    env.cleanup(&nums, depot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_numeric_phone_cell_is_refused() {
    let env = support::env().await;
    let (depot, city) = env.depot("36").await;
    let nums = env.fresh_numbers("36", &city, 3).await;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["phone_no", "depot_id", "pool_id"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, &nums[0]).unwrap();
    ws.write_number(1, 1, depot as f64).unwrap();
    // A phone number typed as a number: refused.
    ws.write_number(2, 0, nums[1].parse::<f64>().unwrap())
        .unwrap();
    ws.write_number(2, 1, depot as f64).unwrap();
    ws.write_string(3, 0, &nums[2]).unwrap();
    ws.write_string(3, 1, depot.to_string()).unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let name = format!("NUM_INTAKE_36_20261202_{}.xlsx", env.tag);
    let base = name.trim_end_matches(".xlsx").to_string();
    env.drop_file(&name, &bytes);
    let mut loader = env.loader(100);
    let s = env.run_until_answered(&mut loader, &base).await;
    assert_eq!(s["encoding"], "XLSX", "{s}");
    assert_eq!(
        (s["ok"].as_u64(), s["invalid"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    let r = rows(
        &env.fetch(&format!("/results/{}/{base}.result.csv", env.tag))
            .unwrap(),
    );
    assert_eq!(r[1][0], "3");
    assert_eq!(r[1][3], "numeric_cell");
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({in})",
            &nums
        )
        .await,
        2
    );
    env.cleanup(&nums, depot).await;
}
