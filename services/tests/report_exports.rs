//! Issue 16: report tasks and their files. A task is queued (202), run in
//! the background, and its CSV (UTF-8 BOM, formulas defused) and XLSX
//! (codes as text, Chinese header, several sheets when long) read back with
//! the csv crate and calamine equal the rows in the database; the sweep
//! removes expired and orphaned files.

#[allow(unused_imports)]
mod card_support;
mod common;
mod number_support;
mod report_support;

use std::time::Duration;

use calamine::{Data, Reader, Xlsx};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};

use common::Server;
use report_support::{export, file, PROVINCES};

/// The cards of the test's depot as the detail export has them.
async fn card_rows(s: &Server, depot: i64) -> Vec<Vec<String>> {
    let mut c = s.state.db.conn().await.unwrap();
    let rows: Vec<mysql_async::Row> = c
        .exec(
            "SELECT iccid, imsi, province_code, city_code, depot_id, status, card_type, package_id, \
             paired_phone_no FROM sim_card WHERE depot_id = ?",
            (depot,),
        )
        .await
        .unwrap();
    let mut out: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::NULL => String::new(),
                    mysql_async::Value::Bytes(b) => String::from_utf8(b).unwrap(),
                    other => other.as_sql(true),
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn csv_and_xlsx_exports_read_back_equal_to_the_rows() {
    let s = report_support::server_with(|c| c.report.xlsx_rows_per_sheet = 40).await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 25).await;
    // A 20-digit ICCID and an IMSI that a spreadsheet would run as a formula.
    let long = "89860612345678901234".to_string();
    let mut c = s.state.db.conn().await.unwrap();
    // A run that failed half-way left it behind: the ICCID is fixed.
    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&long,))
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO sim_card (iccid, imsi, province_code, city_code, depot_id, card_type, status) \
         VALUES (?, '=1+1', '51', ?, ?, 'M', '01')",
        (&long, s.state.number.center.segments(&s.state.db).await.unwrap().cities("51")[0].clone(), st.card_depot),
    )
    .await
    .unwrap();
    let want = card_rows(&s, st.card_depot).await;
    assert_eq!(want.len(), 4 * 25 + 1);
    let filters = json!({ "depot_id": st.card_depot, "province_code": PROVINCES.join(",") });

    // CSV
    let (id, done) = export(
        &s,
        &admin.token,
        json!({"template": "card_detail", "format": "csv", "filters": filters}),
    )
    .await;
    assert_eq!(done["progress_rows"], 101);
    let bytes = file(&s, &admin.token, id).await;
    assert_eq!(&bytes[..3], b"\xef\xbb\xbf", "UTF-8 byte-order mark");
    assert_eq!(done["byte_size"].as_i64().unwrap() as usize, bytes.len());
    let mut rd = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header[0], "ICCID");
    assert_eq!(header[2], "省份");
    let mut got: Vec<Vec<String>> = rd
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    got.sort();
    let defused: Vec<Vec<String>> = want
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| {
                    if v == "=1+1" {
                        "'=1+1".into()
                    } else {
                        v.clone()
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(got, defused);
    assert!(got.iter().any(|r| r[0] == long && r[1] == "'=1+1"));

    // XLSX: three sheets of at most 40 rows, codes as text.
    let (id, _) = export(
        &s,
        &admin.token,
        json!({"template": "card_detail", "format": "xlsx", "filters": filters}),
    )
    .await;
    let bytes = file(&s, &admin.token, id).await;
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let sheets = wb.sheet_names().to_vec();
    assert_eq!(sheets.len(), 3, "{sheets:?}");
    let mut got: Vec<Vec<String>> = vec![];
    for name in &sheets {
        let range = wb.worksheet_range(name).unwrap();
        let mut rows = range.rows();
        let head: Vec<String> = rows.next().unwrap().iter().map(|d| d.to_string()).collect();
        assert_eq!(head[0], "ICCID");
        assert_eq!(head[8], "预配号码");
        for r in rows {
            assert!(r.len() <= 9);
            for d in r {
                assert!(
                    matches!(d, Data::String(_) | Data::Empty),
                    "a code stays text: {d:?}"
                );
            }
            let mut v: Vec<String> = r.iter().map(|d| d.to_string()).collect();
            v.resize(9, String::new());
            got.push(v);
        }
    }
    got.sort();
    assert_eq!(got, want);
    assert!(got.iter().any(|r| r[0] == long && r[1] == "=1+1"));

    // An aggregate in XLSX: counts are numbers.
    let (id, _) = export(
        &s,
        &admin.token,
        json!({"template": "card_stock", "format": "xlsx", "filters": filters}),
    )
    .await;
    let mut wb: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(file(&s, &admin.token, id).await)).unwrap();
    let range = wb.worksheet_range(&wb.sheet_names()[0].clone()).unwrap();
    let total: f64 = range
        .rows()
        .skip(1)
        .map(|r| match r[4] {
            Data::Float(f) => f,
            ref d => panic!("a count is a number: {d:?}"),
        })
        .sum();
    assert_eq!(total, 101.0);

    // No filters at all (national scope): the statement has no parameters
    // and is read over the text protocol.
    let (_, done) = export(
        &s,
        &admin.token,
        json!({"template": "bundles", "format": "csv"}),
    )
    .await;
    assert!(done["progress_rows"].as_i64().unwrap() >= 4, "{done}");

    c.exec_drop("DELETE FROM sim_card WHERE iccid = ?", (&long,))
        .await
        .unwrap();
    report_support::cleanup(&s, &st).await;
}

#[tokio::test]
async fn the_sweep_removes_expired_and_orphaned_files() {
    let s = report_support::server_with(|c| c.report.lease_seconds = 1).await;
    let admin = s.admin().await;
    let (id, done) = export(
        &s,
        &admin.token,
        json!({"template": "premium", "format": "csv", "filters": {"pool_id": report_support::tag()}}),
    )
    .await;
    assert_eq!(done["progress_rows"], 0);
    let key: String = {
        let mut c = s.state.db.conn().await.unwrap();
        c.exec_first(
            "SELECT object_key FROM report_result WHERE task_id = ?",
            (id,),
        )
        .await
        .unwrap()
        .unwrap()
    };
    let orphan = format!("reports/{id}/orphan.csv");
    std::fs::write(format!("{}/{orphan}", report_support::STORE_DIR), b"x").unwrap();
    assert!(s.state.report.center.store.exists(&key).await.unwrap());
    let mut c = s.state.db.conn().await.unwrap();
    c.exec_drop(
        "UPDATE report_result SET expires_at = DATE_SUB(NOW(3), INTERVAL 1 SECOND) WHERE task_id = ?",
        (id,),
    )
    .await
    .unwrap();
    // Older than two leases (of 1 s) before it counts as an orphan.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let swept = haoka_services::report::sweep::run_once(&s.state.report)
        .await
        .unwrap();
    assert!(swept.expired >= 1 && swept.orphans >= 1, "{swept:?}");
    assert!(!s.state.report.center.store.exists(&key).await.unwrap());
    assert!(!s.state.report.center.store.exists(&orphan).await.unwrap());
    let v: Json = s
        .get(&admin.token, &format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "expired");
    let r = s
        .get(&admin.token, &format!("/api/v1/reports/{id}/file"))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Json>().await.unwrap()["code"], "report_expired");
}

/// A trend template's XLSX has a chart sheet (Excel's own kind) over a
/// sheet of the daily totals, which equal the rows summed per day.
#[tokio::test]
async fn a_trend_export_has_a_chart_sheet_of_its_daily_totals() {
    use calamine::DataType;
    use haoka_services::report::export_chart::{CHART_SHEET, DATA_SHEET};
    let s = report_support::server().await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 10).await;
    let filters = json!({ "channel_id": st.channel, "province_code": PROVINCES.join(",") });
    let (id, done) = export(
        &s,
        &admin.token,
        json!({"template": "channel_activity", "format": "xlsx", "filters": filters}),
    )
    .await;
    assert!(done["progress_rows"].as_i64().unwrap() >= 1, "{done}");
    let mut wb: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(file(&s, &admin.token, id).await)).unwrap();
    let meta: Vec<(String, calamine::SheetType)> = wb
        .sheets_metadata()
        .iter()
        .map(|m| (m.name.clone(), m.typ))
        .collect();
    assert_eq!(meta.len(), 3, "{meta:?}");
    assert_eq!(
        meta[1],
        (DATA_SHEET.to_string(), calamine::SheetType::WorkSheet)
    );
    assert_eq!(
        meta[2],
        (CHART_SHEET.to_string(), calamine::SheetType::ChartSheet)
    );

    // The rows (day, channel, holds, sales, releases, expiries) per day...
    let rows = wb.worksheet_range(&meta[0].0).unwrap();
    let mut want: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for r in rows.rows().skip(1) {
        let sums = want.entry(r[0].to_string()).or_insert_with(|| vec![0.0; 4]);
        for (i, d) in r[2..6].iter().enumerate() {
            sums[i] += d.as_f64().unwrap();
        }
    }
    // ...are the totals the chart plots.
    let data = wb.worksheet_range(DATA_SHEET).unwrap();
    let mut it = data.rows();
    let head: Vec<String> = it.next().unwrap().iter().map(|d| d.to_string()).collect();
    assert_eq!(head, ["日期", "选占", "销售", "释放", "超时释放"]);
    let got: std::collections::BTreeMap<String, Vec<f64>> = it
        .map(|r| {
            (
                r[0].to_string(),
                r[1..].iter().map(|d| d.as_f64().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let total: f64 = got.values().flatten().sum();
    assert!(total >= 1.0);
    report_support::cleanup(&s, &st).await;
}
