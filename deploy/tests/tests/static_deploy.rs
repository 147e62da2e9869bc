//! The container, compose and Kubernetes files, checked without an engine or a
//! cluster (none runs on these machines): deploy/docker/check.py and
//! deploy/k8s/check.py do the work; up.sh installs what they need.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_check(program: &str, script: &str) {
    let out = Command::new(program)
        .arg(repo().join(script))
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{program} {script} runs: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 problem(s)"), "{stdout}");
}

#[test]
fn dockerfile_and_compose_pass_the_static_checks() {
    run_check("python3", "deploy/docker/check.py");
}

#[test]
fn every_kustomize_overlay_renders_and_validates_strictly() {
    run_check("python3", "deploy/k8s/check.py");
}

/// Needs the local stack (test.sh runs up.sh first): the metrics are scraped
/// from the running haoka-proxy and haoka-server.
#[test]
fn every_metric_a_dashboard_or_alert_names_is_exported() {
    run_check("python3", "deploy/grafana/check.py");
}
