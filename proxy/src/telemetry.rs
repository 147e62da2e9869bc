//! The proxy's logging: fmt lines on stdout and, when `[telemetry]
//! otlp_endpoint` is set, its spans (a statement's `statement{request_id}`
//! span and those inside it) exported with OTLP over HTTP/protobuf, batched
//! on the tokio runtime. Off by default: no exporter exists then. (The
//! server has its own copy: the proxy depends on none of its crates.)

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// `[telemetry]` of the proxy's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Base URL of an OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318`
    /// (spans go to `<url>/v1/traces`). Absent or empty: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            otlp_endpoint: None,
            service_name: "haoka-proxy".into(),
        }
    }
}

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

/// Flushes the exported spans at shutdown; nothing when export is off.
#[must_use = "call shutdown() to flush the spans still queued"]
pub struct Telemetry(Option<SdkTracerProvider>);

/// Installs the global subscriber; on the tokio runtime.
pub fn init(cfg: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
    let endpoint = cfg.otlp_endpoint.as_deref().map(str::trim);
    let endpoint = endpoint.filter(|e| !e.is_empty()).map(|e| {
        let base = e.trim_end_matches('/');
        match base.ends_with("/v1/traces") {
            true => base.to_string(),
            false => format!("{base}/v1/traces"),
        }
    });
    let provider = match &endpoint {
        None => None,
        Some(url) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(url)
                .build()
                .map_err(|source| TelemetryError::Exporter {
                    endpoint: url.clone(),
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
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Colours only on a terminal: log files stay greppable.
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
        )
        .with(otel)
        .try_init()?;
    if let Some(url) = endpoint {
        tracing::info!(endpoint = %url, service = %cfg.service_name, "exporting spans with OTLP");
    }
    Ok(Telemetry(provider))
}

impl Telemetry {
    /// Sends the spans still queued.
    pub async fn shutdown(self) {
        let Some(provider) = self.0 else { return };
        // The processor's shutdown blocks until its runtime task exported.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing the OTLP spans"),
            Err(e) => tracing::warn!(error = %e, "flushing the OTLP spans"),
        }
    }
}
