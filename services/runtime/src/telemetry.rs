//! Logs and traces.
//!
//! [`init`] installs one `tracing` subscriber: a log formatter, plus an OpenTelemetry layer that
//! exports spans with OTLP/gRPC when an endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`).
//! W3C trace context travels in gRPC metadata and HTTP headers ([`extract_http_parent`],
//! [`inject_current`]) and inside events (the outbox stores [`current_trace_context`]), so one
//! case is one trace from the REST call to the report update.
//!
//! Personal data never enters a span or a log line: spans record ids, codes and counts only, and
//! request spans record the path without its query string.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `tracing` filter directives; `RUST_LOG` wins when set.
    #[serde(default = "default_filter")]
    pub log_filter: String,
    #[serde(default)]
    pub log_format: LogFormat,
    /// OTLP/gRPC collector, for example `http://127.0.0.1:4317`. The standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` variable fills it when set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` resource attribute of exported spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// With an OTLP endpoint, push metrics there this often too (0: only `/metrics`).
    #[serde(default = "default_metrics_push_seconds")]
    pub metrics_push_seconds: u64,
}

fn default_metrics_push_seconds() -> u64 {
    60
}

impl TelemetryConfig {
    /// Where and how often each service pushes its metrics, if at all.
    pub fn metrics_push(&self) -> Option<crate::metrics::OtlpPush> {
        let endpoint = self.otlp_endpoint.as_deref().filter(|e| !e.is_empty())?;
        (self.metrics_push_seconds > 0).then(|| crate::metrics::OtlpPush {
            endpoint: endpoint.to_owned(),
            interval: std::time::Duration::from_secs(self.metrics_push_seconds),
        })
    }
}

fn default_filter() -> String {
    "info,h2=warn,hyper=warn,tower=warn".to_owned()
}

fn default_service_name() -> String {
    "caseflow".to_owned()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: default_filter(),
            log_format: LogFormat::default(),
            otlp_endpoint: None,
            service_name: default_service_name(),
            metrics_push_seconds: default_metrics_push_seconds(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
    #[error("invalid log_filter: {0}")]
    Filter(String),
}

/// Keeps the exporter alive; [`Telemetry::shutdown`] flushes spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporter. Blocking: call from `spawn_blocking` in async code.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.force_flush() {
                tracing::warn!(error = %e, "flushing spans failed");
            }
            let _ = provider.shutdown();
        }
    }

    /// Flushes buffered spans without stopping. Blocking.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            let _ = provider.force_flush();
        }
    }
}

/// Installs the global subscriber and propagator. Call once per process.
pub fn init(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(&config.log_filter),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;

    let json = crate::json_log::JsonWithTrace::default();
    let fmt = match config.log_format {
        // Colours only on a terminal: log files and collectors get plain text.
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
        // trace_id and span_id on every line (`json_log`).
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(json.clone())
            .fmt_fields(crate::json_log::fields())
            .with_writer(std::io::stderr)
            .boxed(),
    };

    let provider = match config.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            let resource =
                opentelemetry_sdk::Resource::builder().with_service_name(config.service_name.clone()).build();
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
        // JSON logs carry trace ids, so spans get OpenTelemetry contexts (continuing a caller's
        // `traceparent`) even when none are exported.
        None if config.log_format == LogFormat::Json => Some(SdkTracerProvider::builder().build()),
        None => None,
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("caseflow")));

    tracing_subscriber::registry()
        .with(filter)
        .with((config.log_format == LogFormat::Json).then(|| json.dispatch_layer()))
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}

/// The W3C trace context of the current span, as stored with an event.
pub fn current_trace_context() -> HashMap<String, String> {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier
}

/// Makes `span` a child of the trace context carried by an event.
pub fn set_parent_from_map(span: &tracing::Span, carrier: &HashMap<String, String>) {
    if carrier.is_empty() {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(carrier));
    let _ = span.set_parent(cx);
}

/// Makes `span` a child of the trace context in HTTP headers / gRPC metadata.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(cx);
}

/// Writes the current span's trace context into outgoing HTTP headers / gRPC metadata.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}
