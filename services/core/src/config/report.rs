//! Report center settings (`[report]` in the server config).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Local directory of the object store that holds export files
    /// (relative paths are taken from the working directory); unused when
    /// `[report.s3]` is set.
    pub store_dir: String,
    /// An S3-compatible object store instead of the local directory.
    pub s3: Option<S3Config>,
    /// Export files (and their tasks' results) are removed this long after
    /// they were written.
    pub retention_hours: u64,
    /// A claimed task whose process has not renewed its lease for this long
    /// is claimed again by another process.
    pub lease_seconds: u64,
    /// How often an idle runner looks for queued tasks (a POST in the same
    /// process wakes it at once).
    pub poll_interval_ms: u64,
    /// Whether this process runs tasks (false: it only serves the API, as
    /// behind a load balancer where other processes run them).
    pub run_tasks: bool,
    /// Tasks one process runs at once.
    pub max_parallel: usize,
    /// The same request (staff, template, filters, format) within this many
    /// seconds answers the task it already made.
    pub dedup_seconds: u64,
    /// Rows of one XLSX sheet below its header: Excel's limit is 1,048,576
    /// rows per sheet, header included; longer exports go on to the next sheet.
    pub xlsx_rows_per_sheet: u32,
    /// How often a process looks for due scheduled reports.
    pub schedule_check_seconds: u64,
    /// How often the retention sweep runs.
    pub sweep_interval_seconds: u64,
    /// Tests only: a runner waits this long between writing a file and
    /// uploading it, so that a crash test can kill it mid-task.
    pub pause_before_upload_ms: u64,
    /// Largest page of a statistics answer (`GET .../stats`); exports have no limit.
    pub max_stat_rows: usize,
    /// The daily roll-up's first run fills at most this many closed days
    /// back (older days of a trend are read from history), and an admin's
    /// run covers at most this many days.
    pub rollup_backfill_days: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            store_dir: "/var/lib/haoka/reports".into(),
            s3: None,
            retention_hours: 72,
            lease_seconds: 30,
            poll_interval_ms: 1000,
            run_tasks: true,
            max_parallel: 2,
            dedup_seconds: 60,
            xlsx_rows_per_sheet: 1_048_575,
            schedule_check_seconds: 30,
            sweep_interval_seconds: 600,
            pause_before_upload_ms: 0,
            max_stat_rows: 10_000,
            rollup_backfill_days: 400,
        }
    }
}

/// `[report.s3]`: a bucket on any S3-compatible store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// e.g. `http://127.0.0.1:9310` (MinIO, moto, Ceph); none = AWS itself.
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Whether a plain-http endpoint is allowed (loopback test stores).
    #[serde(default)]
    pub allow_http: bool,
    /// How long a download's presigned URL is valid.
    #[serde(default = "default_presign_seconds")]
    pub presign_seconds: u64,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_presign_seconds() -> u64 {
    300
}
