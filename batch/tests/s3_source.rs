//! An S3-compatible drop (the moto server deploy/local/s3.sh runs on
//! 127.0.0.1:9310, a bucket of this test's own, the drop under a prefix):
//! a number intake file put into `<prefix>/incoming/` is applied and
//! answered in `<prefix>/results/`, the input moved to `<prefix>/done/`.

mod support;

use std::sync::Arc;

use haoka_batch::config::{S3Config, SourceConfig};
use haoka_batch::loader::Loader;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_file_from_an_s3_bucket() {
    let env = support::env().await;
    let endpoint = s3_endpoint().await;
    let bucket = format!("haoka-batch-{}", env.tag.to_ascii_lowercase());
    // moto accepts an unsigned bucket creation.
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let s3 = S3Config {
        name: "s3".into(),
        bucket: bucket.clone(),
        prefix: "feeds/hq".into(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        allow_http: true,
    };
    let client: Arc<dyn ObjectStore> = Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .build()
            .unwrap(),
    );

    let (depot, city) = env.depot("51").await;
    let nums = env.fresh_numbers("51", &city, 6).await;
    let mut csv = String::from("phone_no,depot_id,pool_id\n");
    for n in &nums[..5] {
        csv.push_str(&format!("{n},{depot},\n"));
    }
    csv.push_str(&format!("{},{depot},\n", nums[0])); // listed twice
    let name = format!("NUM_INTAKE_51_20261202_{}.csv", env.tag);
    let base = name.trim_end_matches(".csv");
    client
        .put(
            &Path::from(format!("feeds/hq/incoming/{name}")),
            PutPayload::from(csv.clone().into_bytes()),
        )
        .await
        .unwrap();

    let mut cfg = env.batch_config(2);
    cfg.sources = vec![SourceConfig::S3(s3)];
    let mut loader = Loader::new(
        haoka_batch::centers::Centers::new(env.state.number.clone(), env.state.card.clone()),
        cfg,
        support::unique("loader"),
    );
    let summary_at = Path::from(format!("feeds/hq/results/{base}.summary.json"));
    let mut summary = None;
    for _ in 0..30 {
        loader.poll_once().await;
        if let Ok(r) = client.get(&summary_at).await {
            summary = Some(r.bytes().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&summary.expect("answered in the bucket")).unwrap();
    assert_eq!(summary["status"], "D", "{summary}");
    assert_eq!(summary["source"], "s3");
    assert_eq!(summary["ok"], 5, "{summary}");
    assert_eq!(summary["refused"], 1, "{summary}");
    let result = client
        .get(&Path::from(format!("feeds/hq/results/{base}.result.csv")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let result = String::from_utf8(result.to_vec()).unwrap();
    assert_eq!(result.lines().count(), 7, "{result}");
    assert!(result.contains("duplicate_in_file"), "{result}");
    // The input moved to done/.
    assert!(client
        .head(&Path::from(format!("feeds/hq/done/{name}")))
        .await
        .is_ok());
    assert!(client
        .head(&Path::from(format!("feeds/hq/incoming/{name}")))
        .await
        .is_err());
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM phone_number WHERE phone_no IN ({in}) AND status = '01'",
            &nums[..5]
        )
        .await,
        5
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM number_history WHERE phone_no IN ({in}) AND action = 'intake'",
            &nums[..5]
        )
        .await,
        5
    );
    let mut want = nums[..5].to_vec();
    want.sort();
    assert_eq!(env.taken_in(depot).await, want);
    env.cleanup(&nums, depot).await;
}
