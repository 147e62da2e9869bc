//! haoka-server: serves the centers named by --role; `create-admin` makes the
//! initial administrator.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use haoka_services::app::{self, AppState};
use haoka_services::config::Config;
use haoka_services::permission::seed;

#[derive(Parser)]
#[command(
    version,
    about = "haoka's HTTP server: number, card, permission and report centers"
)]
struct Cli {
    /// TOML config file; HAOKA_* environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Centers to serve, comma-separated (today: permission).
    #[arg(long, value_delimiter = ',')]
    role: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a headquarters administrator and prints its password once;
    /// prints nothing and exits 0 if the staff number exists.
    CreateAdmin {
        #[arg(long, default_value = "admin")]
        staff_no: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref()).context("loading the config")?;
    let telemetry = haoka_telemetry::init(
        &cfg.telemetry,
        &haoka_telemetry::Process {
            service_name: "haoka-server",
            // lapin warns of every returned (unroutable) publish; the outbox
            // relay already logs and counts them per row.
            default_filter: "info,tower_http=info,lapin::returned_messages=error",
            // stdout carries only what a subcommand prints (create-admin's
            // password).
            log_to: haoka_telemetry::LogOutput::Stderr,
        },
    )?;
    if !cli.role.is_empty() {
        cfg.roles = cli.role.clone();
    }
    let result = run(cli, cfg).await;
    telemetry.shutdown().await;
    result
}

async fn run(cli: Cli, mut cfg: Config) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::CreateAdmin { staff_no }) => {
            cfg.roles = vec!["permission".into()];
            let state = AppState::connect(cfg).await?;
            if let Some(pw) = seed::create_admin(&state, &staff_no, None).await? {
                println!("{pw}");
            }
            Ok(())
        }
        None => {
            let listen = cfg.listen;
            let state = AppState::connect(cfg).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            tracing::info!(%listen, "haoka-server listening");
            app::serve(listener, state, shutdown_signal()).await?;
            tracing::info!("haoka-server stopped");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
