//! Transaction counters (Prometheus): commits by kind, rollbacks, aborts
//! forced by a shard (deadlock / lock wait timeout), XA recoveries.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct TxnMetrics {
    pub commits_local: AtomicU64,
    pub commits_xa: AtomicU64,
    pub rollbacks: AtomicU64,
    /// Whole distributed transactions rolled back because a shard reported
    /// a deadlock or lock wait timeout.
    pub forced_rollbacks: AtomicU64,
    pub recovered_commit: AtomicU64,
    pub recovered_rollback: AtomicU64,
}

impl TxnMetrics {
    pub fn render(&self, out: &mut String) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let series: [(&str, &str, &AtomicU64); 6] = [
            (
                "haoka_proxy_tx_commits_total",
                "{kind=\"local\"}",
                &self.commits_local,
            ),
            (
                "haoka_proxy_tx_commits_total",
                "{kind=\"xa\"}",
                &self.commits_xa,
            ),
            ("haoka_proxy_tx_rollbacks_total", "", &self.rollbacks),
            (
                "haoka_proxy_tx_forced_rollbacks_total",
                "",
                &self.forced_rollbacks,
            ),
            (
                "haoka_proxy_xa_recovered_total",
                "{outcome=\"commit\"}",
                &self.recovered_commit,
            ),
            (
                "haoka_proxy_xa_recovered_total",
                "{outcome=\"rollback\"}",
                &self.recovered_rollback,
            ),
        ];
        out.push_str("# HELP haoka_proxy_tx_commits_total Committed transactions by kind (local = at most one shard wrote, xa = two-phase).\n");
        out.push_str("# HELP haoka_proxy_tx_forced_rollbacks_total Transactions rolled back on every shard after a deadlock, lock wait timeout or lost shard connection.\n");
        out.push_str(
            "# HELP haoka_proxy_xa_recovered_total In-doubt XA branches finished by recovery.\n",
        );
        let mut last = "";
        for (name, labels, v) in series {
            if name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{labels} {}", g(v));
        }
    }
}
