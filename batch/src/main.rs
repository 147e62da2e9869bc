//! haoka-batch: polls the configured drops and applies their files.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use haoka_batch::centers::Centers;
use haoka_batch::config::BatchConfig;
use haoka_batch::jobs;
use haoka_batch::loader::Loader;
use haoka_core::config::Config;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(about = "haoka's SFTP / object-store batch loader")]
struct Args {
    /// The loader's TOML config (see the crate's README).
    #[arg(long, env = "HAOKA_BATCH_CONFIG")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The subscriber needs the config's [telemetry]: a config that does not
    // load is reported by main's error, before any log line.
    let cfg = BatchConfig::load(&args.config)?;
    let telemetry = haoka_telemetry::init(
        &cfg.telemetry,
        &haoka_telemetry::Process {
            service_name: haoka_batch::config::SERVICE_NAME,
            default_filter: "info",
            log_to: haoka_telemetry::LogOutput::Stdout,
        },
    )?;
    let result = run(cfg).await;
    telemetry.shutdown().await;
    result
}

/// Polls the drops until SIGINT (the poll running then is finished first).
async fn run(cfg: BatchConfig) -> anyhow::Result<()> {
    let mut server = Config::load(cfg.server_config.as_deref())?;
    server.apply_env(|k| std::env::var(k).ok())?;
    // The loader uses the number and card centers' code, serves no HTTP API.
    let state = Centers::start(server).await?;
    jobs::migrate::ensure(&state.db).await?;
    let owner = cfg
        .loader_id
        .clone()
        .unwrap_or_else(|| format!("haoka-batch-{}", std::process::id()));
    let interval = Duration::from_millis(cfg.poll_interval_ms.max(100));
    let mut loader = Loader::new(state, cfg.clone(), owner);
    if let Some(addr) = cfg.metrics_addr {
        haoka_batch::metrics::serve(addr, loader.metrics.clone()).await?;
    }
    // One listener for the whole run: a SIGINT that arrives during a poll
    // is kept for the select below (a ctrl_c() made per iteration missed
    // it, and the loader never stopped or flushed its spans).
    let mut interrupt = signal(SignalKind::interrupt())?;
    tracing::info!(sources = cfg.sources.len(), "haoka-batch polling");
    loop {
        loader.poll_once().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("haoka-batch stopped");
    Ok(())
}
