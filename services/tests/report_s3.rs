//! Issue 16: report files on an S3-compatible store. A report exported to a
//! real S3 server (moto_server on loopback, started by deploy/local/s3.sh
//! when it is not running) is downloaded through a presigned URL the
//! download endpoint redirects to, and equals the rows in the database.

#[allow(unused_imports)]
mod card_support;
mod common;
mod number_support;
mod report_support;

use std::time::Duration;

use haoka_services::report::config::S3Config;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

const S3_PORT: u16 = 9310;

/// The loopback S3 store, started by the project's script if it is down.
async fn s3_endpoint() -> String {
    if tokio::net::TcpStream::connect(("127.0.0.1", S3_PORT))
        .await
        .is_err()
    {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/s3.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    format!("http://127.0.0.1:{S3_PORT}")
}

#[tokio::test]
async fn a_report_exported_to_s3_downloads_through_a_presigned_url_equal() {
    let endpoint = s3_endpoint().await;
    // A bucket of this test's own (moto accepts an unsigned create).
    let bucket = format!("haoka-reports-{}", report_support::tag());
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let s3 = S3Config {
        bucket: bucket.clone(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        allow_http: true,
        presign_seconds: 60,
    };
    let s = report_support::server_with(|c| c.report.s3 = Some(s3)).await;
    let admin = s.admin().await;
    let st = report_support::build(&s, 5).await;
    let filters = json!({ "depot_id": st.card_depot,
        "province_code": report_support::PROVINCES.join(",") });
    let r = s
        .post(
            &admin.token,
            "/api/v1/reports",
            json!({"template": "card_detail", "format": "csv", "filters": filters}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Json>().await.unwrap()["task_id"].as_i64().unwrap();
    let mut done = Json::Null;
    for _ in 0..300 {
        done = s
            .get(&admin.token, &format!("/api/v1/reports/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if done["status"] != "queued" && done["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"], "done", "{done}");

    // The file is in the bucket, not in the local directory.
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
    let listed = reqwest::get(format!("{endpoint}/{bucket}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&key), "{listed}");
    assert!(!std::path::Path::new(report_support::STORE_DIR)
        .join(&key)
        .exists());

    // The download answers a presigned URL (after the permission check)...
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_follow
        .get(s.url(&format!("/api/v1/reports/{id}/file")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let url = r.headers()["location"].to_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{endpoint}/{bucket}/")), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    // ...that needs no token, and others get no URL at all.
    let other = s
        .user(&admin, Some("51"), &["report:read", "report:export"], None)
        .await;
    let r = no_follow
        .get(s.url(&format!("/api/v1/reports/{id}/file")))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    // (moto by default checks neither signatures nor the signed
    // response-content-disposition; AWS and MinIO do.)
    let bytes = r.bytes().await.unwrap().to_vec();

    // Equal: size and hash as recorded, rows as in the database.
    assert_eq!(done["byte_size"].as_i64().unwrap() as usize, bytes.len());
    assert_eq!(done["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(&bytes[..3], b"\xef\xbb\xbf");
    let mut rd = csv::Reader::from_reader(&bytes[3..]);
    let mut got: Vec<String> = rd
        .records()
        .map(|r| r.unwrap().get(0).unwrap().to_string())
        .collect();
    got.sort();
    let mut want = st.iccids.clone();
    want.sort();
    assert_eq!(got, want);

    report_support::cleanup(&s, &st).await;
}
