//! haoka-batch: polls the configured drops and applies their files.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use haoka_batch::centers::Centers;
use haoka_batch::config::BatchConfig;
use haoka_batch::jobs;
use haoka_batch::loader::Loader;
use haoka_core::config::Config;

#[derive(Parser)]
#[command(about = "haoka's SFTP / object-store batch loader")]
struct Args {
    /// The loader's TOML config (see the crate's README).
    #[arg(long, env = "HAOKA_BATCH_CONFIG")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let cfg = BatchConfig::load(&args.config)?;
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
    tracing::info!(sources = cfg.sources.len(), "haoka-batch polling");
    loop {
        loader.poll_once().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
