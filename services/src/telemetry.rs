//! The process's logging: the fmt lines on stderr and, when `[telemetry]
//! otlp_endpoint` is set, every span (the `request{request_id}` span of each
//! HTTP request and the spans inside it) exported with OTLP over
//! HTTP/protobuf. Off by default: no exporter exists then, whatever the
//! `OTEL_*` environment says.

use haoka_core::config::TelemetryConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::{
    span_processor_with_async_runtime::BatchSpanProcessor, SdkTracerProvider,
};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("[telemetry] otlp_endpoint {endpoint:?}: {source}")]
    Exporter {
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("installing the log subscriber: {0}")]
    Init(#[from] tracing_subscriber::util::TryInitError),
}

/// Flushes the exported spans at shutdown; a no-op when export is off.
#[must_use = "call shutdown() to flush the spans still queued"]
pub struct Telemetry(Option<SdkTracerProvider>);

/// Where OTLP/HTTP receivers take traces: `<base>/v1/traces`.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Installs the global subscriber. Must run on the tokio runtime (the batch
/// exporter is a task of it).
pub fn init(cfg: &TelemetryConfig, default_filter: &str) -> Result<Telemetry, TelemetryError> {
    let provider = match cfg.otlp_endpoint.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(traces_url(endpoint))
                .build()
                .map_err(|source| TelemetryError::Exporter {
                    endpoint: endpoint.to_string(),
                    source,
                })?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(cfg.service_name.clone())
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
                    .with_resource(resource)
                    .build(),
            )
        }
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(cfg.service_name.clone())));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        // stdout carries only what a subcommand prints (create-admin's password).
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(otel)
        .try_init()?;
    if let (Some(endpoint), Some(_)) = (&cfg.otlp_endpoint, &provider) {
        tracing::info!(endpoint = %traces_url(endpoint), service = %cfg.service_name, "exporting spans with OTLP");
    }
    Ok(Telemetry(provider))
}

impl Telemetry {
    /// Sends the spans still queued (waits for the receiver's answer).
    pub async fn shutdown(self) {
        let Some(provider) = self.0 else { return };
        // The processor's shutdown blocks until its task on the runtime has
        // exported: off the runtime's threads.
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing the OTLP spans"),
            Err(e) => tracing::warn!(error = %e, "flushing the OTLP spans"),
        }
    }
}
