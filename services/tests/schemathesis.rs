//! Schemathesis (PyPI, installed by deploy/local/up.sh) fuzzes every operation
//! of the OpenAPI document with all its checks: no 5xx, no schema
//! violations, bad input refused with 4xx.
//!
//! It runs as a staff member of province 79 holding every permission but not
//! national scope: it exercises every bearer endpoint, yet what it creates or
//! changes stays in a province the other tests do not use, and national
//! settings (roles, global policy) answer 403 to it. Logout is left out (it
//! would end the run's own session), and so are login and the password
//! change: fuzzed passwords would lock real accounts, and wrong old
//! passwords lock the fuzzer's own and end its session (tests/login.rs and
//! tests/security_accounts.rs cover them). The permission center's
//! channel API operations are called without a valid signature (schemathesis
//! cannot sign), so they show only that unsigned calls are refused;
//! tests/channel_api.rs covers signing. The number and card centers' channel
//! operations (/api/v1/open/numbers/..., /api/v1/open/cards/...) are
//! documented but not fuzzed: they are the staff operations' twins behind
//! the same gate.
//!
//! So that the number center's operations reach past "no such number", the
//! run gets real stock of province 79 to draw from: on-shelf numbers (for the
//! `{no}` path), a depot and a pool (for `depot_id` and `pool_id` bodies),
//! bound as schemathesis dictionaries half of the time. (Not for `numbers`
//! lists: a dictionary fills their items without keeping them unique.)
//! The card center likewise gets in-stock cards of that depot (for the
//! `{iccid}` path and `iccid` bodies).
//! The fuzzer holds, sells, moves and re-statuses them as it likes; they are
//! removed at the end.
//! The report center is served too, without a task runner: the fuzzer's
//! queued tasks are cancelled and its schedules stopped at the end, so no
//! other test's runner picks them up.
//! The stateful phase is left out: its inferred links put the text `None`
//! into id paths when a response nests the id (a 400 it then reports as a
//! rejected valid request).

mod card_support;
mod common;
mod number_support;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_or_schema_violations() {
    let srv = common::start_with(|cfg| {
        cfg.roles = vec![
            "permission".into(),
            "number".into(),
            "card".into(),
            "report".into(),
        ];
        cfg.report.run_tasks = false;
        cfg.report.store_dir = std::env::temp_dir()
            .join("haoka-schemathesis-reports")
            .to_string_lossy()
            .into_owned();
    })
    .await;
    let admin = srv.admin().await;
    let all: Vec<&str> = haoka_services::auth::rbac::Permission::ALL
        .iter()
        .map(|p| p.code())
        .collect();
    let fuzzer = srv.user(&admin, Some("79"), &all, None).await;
    let fuzzer_id = fuzzer.staff_id;
    let stock = number_support::on_shelf(&srv, &admin, "79", 12, None).await;
    let (depot, _) = card_support::depot(&srv, &admin, "79").await;
    let pool = number_support::pool(&srv, &admin, "79", None).await;
    let cards = card_support::cards(&srv, &admin, "79", depot, 8).await;
    let config = std::env::temp_dir().join(format!("{}.toml", common::unique("schemathesis")));
    std::fs::write(&config, stock_config(&stock, &cards, depot, pool)).unwrap();
    let config_arg = config.to_string_lossy().to_string();
    let schema = srv.url("/api-docs/openapi.json");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .args(["--config-file", &config_arg])
            .args(["run", &schema])
            .args(["-H", &format!("Authorization: Bearer {}", fuzzer.token)])
            .args([
                "--checks",
                "all",
                "--max-examples",
                "10",
                "--seed",
                "20261123",
            ])
            .args(["--exclude-path", "/api/v1/auth/logout"])
            .args(["--exclude-path", "/api/v1/auth/login"])
            .args(["--exclude-path", "/api/v1/auth/password"])
            .args(["--exclude-path-regex", "^/api/v1/open/(numbers|cards)/"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--workers", "1", "--request-timeout", "10"])
            .env("NO_COLOR", "1")
            // The `iccid` format (Luhn check digit) comes from the hooks.
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests"))
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis runs (deploy/local/up.sh installs it)");
    std::fs::remove_file(&config).ok();
    number_support::cleanup(&srv, &stock).await;
    card_support::cleanup(&srv, &cards).await;
    stop_reports(&srv, fuzzer_id).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}

/// Cancels the fuzzer's queued report tasks and stops its schedules.
async fn stop_reports(srv: &common::Server, staff_id: i64) {
    use mysql_async::prelude::Queryable;
    let mut c = srv.state.db.conn().await.unwrap();
    c.exec_drop(
        "UPDATE report_task SET status = 'C', error = 'schemathesis run ended' \
         WHERE requested_by = ? AND status IN ('Q', 'R')",
        (staff_id,),
    )
    .await
    .unwrap();
    c.exec_drop(
        "UPDATE report_template SET schedule_utc = NULL WHERE schedule_owner = ?",
        (staff_id,),
    )
    .await
    .unwrap();
}

/// Schemathesis dictionaries of real stock, each used half of the time.
fn stock_config(numbers: &[String], cards: &[String], depot: i64, pool: i64) -> String {
    let list: Vec<String> = numbers.iter().map(|n| format!("{n:?}")).collect();
    let iccids: Vec<String> = cards.iter().map(|n| format!("{n:?}")).collect();
    format!(
        "[dictionaries.numbers]\nvalues = [{}]\n\
         [dictionaries.cards]\nvalues = [{}]\n\
         [dictionaries.depots]\nvalues = [{depot}]\n\
         [dictionaries.pools]\nvalues = [{pool}]\n\
         [parameters]\n\
         \"path.no\" = {{ dictionary = \"numbers\", probability = 0.5 }}\n\
         \"path.iccid\" = {{ dictionary = \"cards\", probability = 0.5 }}\n\
         \"body.iccid\" = {{ dictionary = \"cards\", probability = 0.5 }}\n\
         \"body.depot_id\" = {{ dictionary = \"depots\", probability = 0.5 }}\n\
         \"body.pool_id\" = {{ dictionary = \"pools\", probability = 0.5 }}\n",
        list.join(", "),
        iccids.join(", ")
    )
}
