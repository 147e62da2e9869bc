//! A process's logging: fmt lines (stdout or stderr, the process chooses)
//! under an `EnvFilter` and, when `[telemetry] otlp_endpoint` is set, every
//! span the filter keeps exported with OTLP over HTTP/protobuf, batched on
//! the tokio runtime and flushed at shutdown. Off by default: no exporter
//! exists then, whatever the `OTEL_*` environment says.
//!
//! Shared by haoka-proxy, haoka-server and haoka-batch; it depends on no
//! haoka crate, so the proxy stays clear of the services' crates.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// `[telemetry]` of a process's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Base URL of an OTLP/HTTP receiver (a collector), e.g.
    /// `http://127.0.0.1:4318`; spans go to `<url>/v1/traces` as protobuf.
    /// Absent or empty: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans; empty (the default): the
    /// process's own name ([`Process::service_name`]).
    pub service_name: String,
}

impl TelemetrySettings {
    /// Where the spans go: [`traces_url`] of the endpoint; `None` when the
    /// endpoint is absent or blank (export off).
    pub fn traces_endpoint(&self) -> Option<String> {
        let endpoint = self.otlp_endpoint.as_deref().map(str::trim)?;
        (!endpoint.is_empty()).then(|| traces_url(endpoint))
    }

    /// The configured `service_name`, else `default`.
    pub fn service_name_or<'a>(&'a self, default: &'a str) -> &'a str {
        match self.service_name.as_str() {
            "" => default,
            name => name,
        }
    }
}

/// Where OTLP/HTTP receivers take traces: `<base>/v1/traces`.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Which stream the fmt lines go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    Stdout,
    /// For processes whose stdout is the output of a command
    /// (haoka-server's `create-admin` prints a password there).
    Stderr,
}

/// What differs between the processes.
#[derive(Debug, Clone, Copy)]
pub struct Process<'a> {
    /// `service.name` when `[telemetry] service_name` is empty or absent.
    pub service_name: &'a str,
    /// The filter (`RUST_LOG` syntax) when `RUST_LOG` is unset or invalid.
    pub default_filter: &'a str,
    pub log_to: LogOutput,
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

/// Flushes the exported spans at shutdown; a no-op when export is off.
#[must_use = "call shutdown() to flush the spans still queued"]
pub struct Telemetry(Option<SdkTracerProvider>);

/// Installs the global subscriber. Must run on the tokio runtime (the batch
/// exporter is a task of it).
pub fn init(settings: &TelemetrySettings, process: &Process) -> Result<Telemetry, TelemetryError> {
    let service_name = settings.service_name_or(process.service_name).to_string();
    let url = settings.traces_endpoint();
    let provider = match &url {
        None => None,
        Some(url) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(url)
                .build()
                .map_err(|source| TelemetryError::Exporter {
                    endpoint: settings.otlp_endpoint.clone().unwrap_or_default(),
                    source,
                })?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name.clone())
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
                    .with_resource(resource)
                    .build(),
            )
        }
    };
    let tracer = provider.as_ref().map(|p| p.tracer(service_name.clone()));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| process.default_filter.into());
    // Colours only on a terminal: log files stay greppable.
    match process.log_to {
        LogOutput::Stdout => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            install(filter, std::io::stdout, ansi, tracer)?
        }
        LogOutput::Stderr => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            install(filter, std::io::stderr, ansi, tracer)?
        }
    }
    if let Some(url) = url {
        tracing::info!(endpoint = %url, service = %service_name, "exporting spans with OTLP");
    }
    Ok(Telemetry(provider))
}

/// Generic over the writer (rather than a boxed one): no allocation per
/// log line. The filter is a global one: spans it drops are not exported
/// either.
fn install<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
    ansi: bool,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> Result<(), tracing_subscriber::util::TryInitError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(ansi),
        )
        .with(tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t)))
        .try_init()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TelemetrySettings, toml::de::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            telemetry: TelemetrySettings,
        }
        toml::from_str::<File>(text).map(|f| f.telemetry)
    }

    #[test]
    fn export_is_off_unless_an_endpoint_is_set() {
        for text in [
            "",
            "[telemetry]\n",
            "[telemetry]\nservice_name = \"x\"\n",
            "[telemetry]\notlp_endpoint = \"\"\n",
            "[telemetry]\notlp_endpoint = \"  \"\n",
        ] {
            let s = parse(text).unwrap();
            assert_eq!(s.traces_endpoint(), None, "{text:?}");
        }
        let s = parse("[telemetry]\notlp_endpoint = \" http://c:4318/ \"\n").unwrap();
        assert_eq!(
            s.traces_endpoint().as_deref(),
            Some("http://c:4318/v1/traces")
        );
    }

    #[test]
    fn the_service_name_defaults_to_the_process() {
        let s = parse("").unwrap();
        assert_eq!(s.service_name_or("haoka-proxy"), "haoka-proxy");
        let s = parse("[telemetry]\nservice_name = \"haoka-number\"\n").unwrap();
        assert_eq!(s.service_name_or("haoka-server"), "haoka-number");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("[telemetry]\nendpoint = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("endpoint"), "{err}");
    }

    #[test]
    fn traces_go_to_v1_traces_of_the_base() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/otlp"),
            "http://c:4318/otlp/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces/"),
            "http://c:4318/v1/traces"
        );
    }
}
