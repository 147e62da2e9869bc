//! Runs sysbench and reads its summary.

use std::process::Command;

/// Where sysbench connects.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

impl Target {
    fn args(&self) -> Vec<String> {
        vec![
            format!("--mysql-host={}", self.host),
            format!("--mysql-port={}", self.port),
            format!("--mysql-user={}", self.user),
            format!("--mysql-password={}", self.password),
            format!("--mysql-db={}", self.database),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub queries: u64,
    pub qps: f64,
    pub transactions: u64,
    pub errors: u64,
    pub p95_ms: Option<f64>,
}

/// Runs `sysbench <workload> <extra...> <command>` and returns its stdout.
pub fn sysbench(
    workload: &str,
    target: &Target,
    extra: &[String],
    command: &str,
) -> anyhow::Result<String> {
    let out = Command::new("sysbench")
        .arg(workload)
        .args(target.args())
        .args(extra)
        .arg(command)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        anyhow::bail!(
            "sysbench {workload} {command} against {}:{} failed:\n{}\n{}",
            target.host,
            target.port,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// Reads the numbers from sysbench 1.0's "SQL statistics" block.
pub fn parse_summary(text: &str) -> anyhow::Result<Summary> {
    let field = |label: &str| -> Option<(&str, &str)> {
        let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
        let rest = line.trim_start()[label.len()..].trim();
        let (count, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        Some((count, tail))
    };
    let (queries, qps_tail) =
        field("queries:").ok_or_else(|| anyhow::anyhow!("no 'queries:' line in:\n{text}"))?;
    let qps = qps_tail
        .trim()
        .trim_start_matches('(')
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no per-second figure"))?
        .parse()?;
    let transactions = field("transactions:")
        .map(|(c, _)| c.parse())
        .transpose()?
        .unwrap_or(0);
    let errors = field("ignored errors:")
        .map(|(c, _)| c.parse())
        .transpose()?
        .unwrap_or(0);
    let p95_ms = field("95th percentile:").and_then(|(c, _)| c.parse().ok());
    Ok(Summary {
        queries: queries.parse()?,
        qps,
        transactions,
        errors,
        p95_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "SQL statistics:
    queries performed:
        read:                            67428
        total:                           67428
    transactions:                        67428  (33578.85 per sec.)
    queries:                             67428  (33578.85 per sec.)
    ignored errors:                      3      (0.00 per sec.)
Latency (ms):
         min:                                    0.05
         95th percentile:                        0.23
";

    #[test]
    fn reads_queries_qps_errors_and_p95() {
        let s = parse_summary(SAMPLE).unwrap();
        assert_eq!(s.queries, 67428);
        assert!((s.qps - 33578.85).abs() < 1e-6);
        assert_eq!(s.transactions, 67428);
        assert_eq!(s.errors, 3);
        assert_eq!(s.p95_ms, Some(0.23));
    }

    #[test]
    fn a_failed_run_is_an_error_not_zero() {
        assert!(parse_summary("FATAL: connection refused").is_err());
    }
}
