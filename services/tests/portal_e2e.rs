//! The operator portal end to end: `npm run test:e2e` in portal/ (Debian's
//! Chromium driven by playwright-core, portal/e2e/portal.test.mjs) against
//! an in-process haoka-server on the real stack that serves the built
//! portal. It needs what deploy/local/up.sh installs and builds: Node and
//! npm, /usr/bin/chromium, portal/node_modules (`npm ci`) and portal/dist
//! (`npm run build`); anything missing fails the test with how to get it.
//! It prints the bundle size and the dashboard's load time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use haoka_services::permission::seed;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("services/ sits in the repository")
        .to_path_buf()
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(cmd).is_file()))
}

/// What the suite needs, or why it cannot run (a failure, not a skip).
fn prerequisites(portal: &Path) -> Result<(), String> {
    if !on_path("node") || !on_path("npm") {
        return Err(
            "node/npm are missing: apt-get install -y nodejs npm (deploy/local/up.sh does)".into(),
        );
    }
    let chromium =
        std::env::var("HAOKA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    if !Path::new(&chromium).is_file() {
        return Err(format!(
            "{chromium} is missing: apt-get install -y --no-install-recommends chromium (deploy/local/up.sh does)"
        ));
    }
    if !portal.join("node_modules/playwright-core").is_dir() {
        return Err(
            "portal/node_modules is missing: (cd portal && npm ci), or run deploy/local/up.sh"
                .into(),
        );
    }
    if !portal.join("dist/index.html").is_file() {
        return Err(
            "portal/dist is not built: (cd portal && npm run build), or run deploy/local/up.sh"
                .into(),
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_portal_works_end_to_end_in_chromium() {
    let root = repo();
    let portal = root.join("portal");
    if let Err(why) = prerequisites(&portal) {
        panic!("the portal's end-to-end suite cannot run: {why}");
    }
    let dist = portal.join("dist");
    let s = common::start_with(move |cfg| {
        cfg.roles = vec![
            "permission".into(),
            "number".into(),
            "card".into(),
            "report".into(),
        ];
        // Report files where the report tests keep theirs (a test server's
        // own, not the shared stack's).
        cfg.report.store_dir = "/tmp/haoka-report-tests".into();
        cfg.report.poll_interval_ms = 200;
        // Uploads into the drop the shared stack's haoka-batch watches
        // (deploy/local/batch.toml), so a batch file is really loaded.
        cfg.batch.drop_dir = "/var/lib/haoka/batch-store".into();
        cfg.portal.dir = Some(dist);
    })
    .await;
    let staff_no = common::unique("e2eadm");
    let password = format!("Adm-{}-9x", common::unique("p"));
    seed::create_admin(&s.state, &staff_no, Some(password.clone()))
        .await
        .unwrap()
        .expect("a new staff number");
    let artifacts = root.join("target").join("portal-e2e");
    let out = tokio::process::Command::new("npm")
        .args(["run", "--silent", "test:e2e"])
        .current_dir(&portal)
        .env("HAOKA_URL", &s.base)
        .env("HAOKA_ADMIN", &staff_no)
        .env("HAOKA_ADMIN_PASSWORD", &password)
        .env("HAOKA_E2E_ARTIFACTS", &artifacts)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("npm runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The measurements and the outcome of every browser test.
    for line in stdout.lines() {
        if line.starts_with("# portal:") || line.starts_with("ok ") || line.starts_with("not ok") {
            println!("{line}");
        }
    }
    println!("screenshots in {}", artifacts.display());
    assert!(
        out.status.success(),
        "portal e2e failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
