//! `haoka-proxy --config <file>`: the sharding proxy.
//! `haoka-proxy --config <file> apply-schema --ddl <dir>`: create shard databases and tables.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use haoka_proxy::admin::apply_schema;
use haoka_proxy::config::ProxyConfig;

#[derive(Parser)]
#[command(name = "haoka-proxy", version, about = "haoka's MySQL sharding proxy")]
struct Cli {
    /// Proxy configuration file (TOML); it names the rules file.
    #[arg(long)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create every shard database and physical table the rules imply
    /// (only what is missing; prints what it created).
    ApplySchema {
        /// Directory of logical `CREATE TABLE IF NOT EXISTS` files.
        #[arg(long)]
        ddl: Option<PathBuf>,
        /// Logical schema the DDL belongs to (default: the rules' default schema).
        #[arg(long)]
        schema: Option<String>,
        /// Only create the databases and the proxy's own tables of every schema.
        #[arg(long)]
        all_schemas: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = ProxyConfig::load(&cli.config)?;
    let telemetry = haoka_telemetry::init(
        &config.telemetry,
        &haoka_telemetry::Process {
            service_name: "haoka-proxy",
            default_filter: "info",
            log_to: haoka_telemetry::LogOutput::Stdout,
        },
    )?;
    let result = run(cli, config).await;
    telemetry.shutdown().await;
    result
}

async fn run(cli: Cli, config: ProxyConfig) -> anyhow::Result<()> {
    let rules = config.load_rules()?;
    match cli.command {
        Some(Command::ApplySchema {
            ddl,
            schema,
            all_schemas,
        }) => {
            let proxy_tables =
                apply_schema::parse_ddl("proxy tables", apply_schema::PROXY_TABLES_DDL)?;
            let mut targets: Vec<(String, Vec<apply_schema::TableDdl>)> = Vec::new();
            if let Some(dir) = ddl {
                let name = schema.unwrap_or_else(|| rules.default_schema().name.clone());
                let tables = apply_schema::read_ddl_dir(&dir)
                    .with_context(|| format!("reading {}", dir.display()))?;
                targets.push((name, tables));
            }
            if all_schemas {
                for s in &rules.schemas {
                    if !targets.iter().any(|(n, _)| n.eq_ignore_ascii_case(&s.name)) {
                        targets.push((s.name.clone(), proxy_tables.clone()));
                    }
                }
            }
            anyhow::ensure!(
                !targets.is_empty(),
                "apply-schema needs --ddl or --all-schemas"
            );
            for (name, tables) in targets {
                let report =
                    apply_schema::apply_schema(&rules, &config.backend, &name, &tables).await?;
                for db in &report.created_databases {
                    println!("created database {db}");
                }
                for t in &report.created_tables {
                    println!("created table {t}");
                }
                println!(
                    "schema {name}: {} databases and {} tables created",
                    report.created_databases.len(),
                    report.created_tables.len()
                );
            }
            Ok(())
        }
        None => serve(config, rules).await,
    }
}

/// Serves MySQL clients until SIGINT or SIGTERM.
async fn serve(config: ProxyConfig, rules: haoka_proxy::rules::Rules) -> anyhow::Result<()> {
    use haoka_proxy::exec::{metrics::serve_metrics, Session, Shared};
    use haoka_proxy::protocol::{server, FrontendConfig};

    let shared = Shared::start(&config, rules).await?;
    // Decision tables first, then in-doubt XA branches of any earlier run.
    haoka_proxy::transactions::recovery::start(shared.clone()).await;
    // Moved provinces first (the rules file still names their old shards),
    // then moves an earlier run left unfinished.
    haoka_proxy::reshard::start(shared.clone()).await;
    let frontend = FrontendConfig {
        users: std::sync::Arc::new(
            config
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
        ),
        max_allowed_packet: config.limits.max_allowed_packet,
        max_connections: config.limits.max_connections,
        server_version: shared.identity.handshake.clone(),
        ..FrontendConfig::default()
    };
    let metrics_listener = tokio::net::TcpListener::bind(&config.listen.metrics_addr)
        .await
        .with_context(|| format!("binding metrics address {}", config.listen.metrics_addr))?;
    let for_metrics = shared.clone();
    tokio::spawn(serve_metrics(metrics_listener, move || {
        for_metrics.render_metrics()
    }));
    let listener = tokio::net::TcpListener::bind(&config.listen.addr)
        .await
        .with_context(|| format!("binding {}", config.listen.addr))?;
    tracing::info!(
        addr = %config.listen.addr,
        metrics = %config.listen.metrics_addr,
        "haoka-proxy serving"
    );
    server::run(
        listener,
        std::sync::Arc::new(frontend),
        move || Session::new(shared.clone()),
        shutdown_signal(),
    )
    .await;
    tracing::info!("haoka-proxy stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
