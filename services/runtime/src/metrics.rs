//! Metrics: one OpenTelemetry meter provider per service, read two ways. Prometheus scrapes
//! `GET /metrics` (text exposition format 0.0.4, rendered here from a pull reader), and when an
//! OTLP endpoint is configured a periodic reader also pushes the same instruments there, beside
//! the traces. One set of instruments, two outputs: dashboards read the same names either way.
//!
//! Names are Prometheus names from the start (`caseflow_…`, base units: seconds), so nothing is
//! renamed between the two outputs; a monotonic sum gets `_total` when rendered. Every series
//! carries `service`. Labels hold codes, routes, methods and statuses only: never a citizen's
//! data, never a raw URL (an unknown path is `route="unmatched"`).
//!
//! Gauges an operator is paged for (open and overdue dispatches per unit, pending returns, …) are
//! read from the database when a scrape asks for them ([`Metrics::on_scrape`]), at most once a
//! second, and kept as a snapshot between scrapes: nothing runs while nobody is looking. With an
//! OTLP push the same refresh runs before each export.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
pub use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};

/// Request latency buckets, in seconds: from a cached read (1 ms) to the 10 s a waiting call may
/// hold (`x-caseflow-wait-ms`). Finer between 10 and 100 ms, where an order's take-in answers
/// under load and where its target lies (p99 at most 25 ms at half the peak rate, issue 15):
/// with only 10, 25 and 50 ms there, a p99 of 26 ms and one of 48 ms read alike.
pub const LATENCY_BUCKETS: [f64; 18] =
    [0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The least time between two database refreshes of the scrape-time gauges.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Where and how often to push, when an OTLP endpoint is configured.
#[derive(Debug, Clone)]
pub struct OtlpPush {
    pub endpoint: String,
    pub interval: Duration,
}

type Refresher = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A service's instruments and readers. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    service: &'static str,
    provider: SdkMeterProvider,
    reader: SharedReader,
    meter: Meter,
    requests: Histogram<f64>,
    push_every: Option<Duration>,
    consumers: Mutex<std::collections::HashMap<String, Arc<crate::consumer::Progress>>>,
    refreshers: Mutex<Vec<Refresher>>,
    refreshed: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("service", &self.inner.service).finish_non_exhaustive()
    }
}

/// The pull reader, shared between the provider (which registers its pipeline) and `/metrics`.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// Why the metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OTLP metrics exporter: {0}")]
pub struct MetricsError(String);

impl Metrics {
    /// The service's provider: the pull reader always, the OTLP push when `push` is given.
    pub fn new(service: &'static str, push: Option<&OtlpPush>) -> Result<Self, MetricsError> {
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(format!("caseflow-{service}")).build();
        let mut builder = SdkMeterProvider::builder().with_resource(resource).with_reader(reader.clone());
        if let Some(push) = push {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(push.endpoint.clone())
                .build()
                .map_err(|e| MetricsError(e.to_string()))?;
            let periodic =
                opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).with_interval(push.interval).build();
            builder = builder.with_reader(periodic);
        }
        let provider = builder.build();
        let meter = provider.meter("caseflow");
        let requests = meter
            .f64_histogram("caseflow_request_duration_seconds")
            .with_description("Requests served (REST and gRPC), by route or gRPC method, method and status")
            .with_unit("s")
            .with_boundaries(LATENCY_BUCKETS.to_vec())
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                service,
                provider,
                reader,
                meter,
                requests,
                push_every: push.map(|p| p.interval),
                consumers: Mutex::default(),
                refreshers: Mutex::default(),
                refreshed: tokio::sync::Mutex::default(),
            }),
        })
    }

    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// The meter, for a service's own instruments.
    pub fn meter(&self) -> &Meter {
        &self.inner.meter
    }

    /// One request served. `route` is a route template or a gRPC method path, never a raw URL.
    pub fn record_request(&self, route: &str, method: &str, status: &str, seconds: f64) {
        self.inner.requests.record(
            seconds,
            &[
                KeyValue::new("route", route.to_owned()),
                KeyValue::new("method", method.to_owned()),
                KeyValue::new("status", status.to_owned()),
            ],
        );
    }

    /// The progress of the consumer named `checkpoint`, observed once however often the
    /// consumer is started again (reporting restarts its consumers when it rebuilds).
    pub(crate) fn consumer_progress(
        &self,
        checkpoint: &str,
        observe: impl FnOnce(&Self, &Arc<crate::consumer::Progress>),
    ) -> Arc<crate::consumer::Progress> {
        let mut consumers = self.inner.consumers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(progress) = consumers.get(checkpoint) {
            return progress.clone();
        }
        let progress = Arc::new(crate::consumer::Progress::default());
        observe(self, &progress);
        consumers.insert(checkpoint.to_owned(), progress.clone());
        progress
    }

    /// A count of things that happen in this process (cases taken in, by source), with the
    /// labels named here; rendered with `_total`.
    pub fn count(&self, name: &'static str, help: &'static str) -> Count {
        Count(self.inner.meter.u64_counter(name).with_description(help).build())
    }

    /// A gauge whose series are set as a whole at each refresh (a unit that no longer has any
    /// open dispatch drops out instead of showing its last count forever).
    pub fn gauge_family(&self, name: &'static str, help: &'static str) -> Family {
        let family = Family::default();
        let rows = family.rows.clone();
        self.inner
            .meter
            .f64_observable_gauge(name)
            .with_description(help)
            .with_callback(move |observer| {
                let rows = rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (labels, value) in rows.iter() {
                    observer.observe(*value, labels);
                }
            })
            .build();
        family
    }

    /// A gauge read at every collection from something the process holds (an atomic, a pool's
    /// state): no database call may happen inside `read`.
    pub fn gauge<F>(&self, name: &'static str, help: &'static str, read: F)
    where
        F: Fn() -> Vec<Row> + Send + Sync + 'static,
    {
        self.inner
            .meter
            .f64_observable_gauge(name)
            .with_description(help)
            .with_callback(move |observer| {
                for (labels, value) in read() {
                    observer.observe(value, &labels);
                }
            })
            .build();
    }

    /// A monotonic count read at every collection from the process (rendered with `_total`).
    pub fn counter<F>(&self, name: &'static str, help: &'static str, read: F)
    where
        F: Fn() -> Vec<(Vec<KeyValue>, u64)> + Send + Sync + 'static,
    {
        self.inner
            .meter
            .u64_observable_counter(name)
            .with_description(help)
            .with_callback(move |observer| {
                for (labels, value) in read() {
                    observer.observe(value, &labels);
                }
            })
            .build();
    }

    /// The database's pools (size, open, in use) and its transactions and waits.
    pub fn observe_db(&self, db: &crate::db::Db) {
        let pools = db.clone();
        self.gauge(
            "caseflow_db_pool_connections",
            "Database connections by pool and state (in_use, idle, max)",
            move || {
                pools
                    .pool_states()
                    .into_iter()
                    .flat_map(|p| {
                        let label =
                            |state: &'static str| vec![KeyValue::new("pool", p.pool), KeyValue::new("state", state)];
                        [
                            (label("in_use"), f64::from(p.open.saturating_sub(p.idle))),
                            (label("idle"), f64::from(p.idle)),
                            (label("max"), f64::from(p.max)),
                        ]
                    })
                    .collect()
            },
        );
        let stats = db.stats().clone();
        let read = move |f: fn(&crate::db::DbStats) -> &std::sync::atomic::AtomicU64| {
            let stats = stats.clone();
            move || vec![(vec![], f(&stats).load(std::sync::atomic::Ordering::Relaxed))]
        };
        self.counter("caseflow_db_pool_acquired", "Connections taken from the pools", read(|s| &s.acquired));
        self.counter(
            "caseflow_db_pool_acquire_failures",
            "Takes from a pool that gave up (exhausted for its timeout, or the database down)",
            read(|s| &s.acquire_failures),
        );
        let waited = db.stats().clone();
        self.inner
            .meter
            .f64_observable_counter("caseflow_db_pool_wait_seconds")
            .with_description("Time spent waiting for a pooled connection")
            .with_callback(move |observer| {
                let micros = waited.waited_micros.load(std::sync::atomic::Ordering::Relaxed);
                observer.observe(micros as f64 / 1e6, &[]);
            })
            .build();
        self.counter(
            "caseflow_db_write_groups",
            "SQLite: transactions of the writer thread, each holding one or more writes",
            read(|s| &s.groups),
        );
        let outcomes = db.stats().clone();
        self.counter(
            "caseflow_db_transactions",
            "Write transactions, by outcome (committed, rolled_back); on SQLite several share one commit (caseflow_db_write_groups)",
            move || {
                use std::sync::atomic::Ordering::Relaxed;
                vec![
                    (vec![KeyValue::new("outcome", "committed")], outcomes.committed.load(Relaxed)),
                    (vec![KeyValue::new("outcome", "rolled_back")], outcomes.rolled_back.load(Relaxed)),
                ]
            },
        );
    }

    /// Runs `refresh` before a scrape (at most once a second) and before an OTLP push: the place
    /// for the database reads behind a [`Family`].
    pub fn on_scrape<F>(&self, refresh: F)
    where
        F: Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        self.inner.refreshers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Arc::new(refresh));
    }

    /// Refreshes the scrape-time gauges unless that was done less than a second ago.
    pub async fn refresh(&self) {
        let mut refreshed = self.inner.refreshed.lock().await;
        if refreshed.is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY) {
            return;
        }
        let refreshers: Vec<Refresher> =
            self.inner.refreshers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        for refresh in refreshers {
            // A slow database must not hold the scrape past Prometheus's own timeout (10 s).
            if tokio::time::timeout(Duration::from_secs(5), refresh()).await.is_err() {
                tracing::warn!(service = self.inner.service, "a metrics refresh took over 5 s; last values kept");
            }
        }
        *refreshed = Some(tokio::time::Instant::now());
    }

    /// Refreshes, then renders every instrument in the Prometheus text format.
    pub async fn render(&self) -> String {
        self.refresh().await;
        let mut rm = ResourceMetrics::default();
        if let Err(e) = self.inner.reader.collect(&mut rm) {
            tracing::warn!(error = %e, "collecting metrics failed");
        }
        render(self.inner.service, &rm)
    }

    /// Pushes what is buffered (when OTLP is configured) and stops the readers. Blocking.
    pub fn shutdown(&self) {
        let _ = self.inner.provider.shutdown();
    }

    /// While pushing to OTLP: refreshes the scrape-time gauges before each push until `shutdown`,
    /// then pushes what is left and stops. Returns at once when there is no push.
    pub async fn push_until(self, shutdown: tokio_util::sync::CancellationToken) {
        let Some(interval) = self.inner.push_every else {
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval.saturating_sub(Duration::from_secs(1))) => self.refresh().await,
            }
        }
        let _ = tokio::task::spawn_blocking(move || self.shutdown()).await;
    }
}

/// See [`Metrics::count`].
#[derive(Clone)]
pub struct Count(opentelemetry::metrics::Counter<u64>);

impl std::fmt::Debug for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Count")
    }
}

impl Count {
    /// Adds one, under `labels` (codes only: never a citizen's data).
    pub fn add_one(&self, labels: &[(&'static str, &str)]) {
        let labels: Vec<KeyValue> = labels.iter().map(|(k, v)| KeyValue::new(*k, (*v).to_owned())).collect();
        self.0.add(1, &labels);
    }
}

/// One series: its labels and its value.
pub type Row = (Vec<KeyValue>, f64);

/// Series set together by a refresh; see [`Metrics::gauge_family`].
#[derive(Clone, Default)]
pub struct Family {
    rows: Arc<Mutex<Vec<Row>>>,
}

impl Family {
    pub fn set(&self, rows: Vec<Row>) {
        *self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = rows;
    }
}

/// The `/metrics` response's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus text exposition of `rm`, each series labelled with `service`.
pub fn render(service: &str, rm: &ResourceMetrics) -> String {
    let mut out = String::new();
    for scope in rm.scope_metrics() {
        for metric in scope.metrics() {
            let name = sanitize(metric.name());
            match metric.data() {
                AggregatedMetrics::F64(data) => write_data(&mut out, service, &name, metric.description(), data),
                AggregatedMetrics::U64(data) => write_data(&mut out, service, &name, metric.description(), data),
                AggregatedMetrics::I64(data) => write_data(&mut out, service, &name, metric.description(), data),
            }
        }
    }
    out
}

trait Number: Copy {
    fn as_f64(self) -> f64;
}
impl Number for f64 {
    fn as_f64(self) -> f64 {
        self
    }
}
impl Number for u64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}
impl Number for i64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

fn write_data<T: Number>(out: &mut String, service: &str, name: &str, help: &str, data: &MetricData<T>) {
    let header = |out: &mut String, name: &str, kind: &str| {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    match data {
        MetricData::Gauge(g) => {
            header(out, name, "gauge");
            for p in g.data_points() {
                line(out, name, service, p.attributes(), None, p.value().as_f64());
            }
        }
        MetricData::Sum(s) => {
            let (name, kind) = if s.is_monotonic() {
                (Cow::Owned(format!("{}_total", name.trim_end_matches("_total"))), "counter")
            } else {
                (Cow::Borrowed(name), "gauge")
            };
            header(out, &name, kind);
            for p in s.data_points() {
                line(out, &name, service, p.attributes(), None, p.value().as_f64());
            }
        }
        MetricData::Histogram(h) => {
            header(out, name, "histogram");
            for p in h.data_points() {
                let mut cumulative = 0u64;
                let bucket = format!("{name}_bucket");
                for (bound, count) in p.bounds().zip(p.bucket_counts()) {
                    cumulative += count;
                    line(out, &bucket, service, p.attributes(), Some(&format_value(bound)), cumulative as f64);
                }
                line(out, &bucket, service, p.attributes(), Some("+Inf"), p.count() as f64);
                line(out, &format!("{name}_sum"), service, p.attributes(), None, p.sum().as_f64());
                line(out, &format!("{name}_count"), service, p.attributes(), None, p.count() as f64);
            }
        }
        // Not used by Caseflow's instruments.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn line<'a>(
    out: &mut String,
    name: &str,
    service: &str,
    attributes: impl Iterator<Item = &'a KeyValue>,
    le: Option<&str>,
    value: f64,
) {
    let _ = write!(out, "{name}{{service=\"{}\"", escape_label(service));
    // By name, so that a series reads the same at every scrape.
    let mut attributes: Vec<&KeyValue> = attributes.collect();
    attributes.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    for kv in attributes {
        let _ = write!(out, ",{}=\"{}\"", sanitize(kv.key.as_str()), escape_label(&kv.value.as_str()));
    }
    if let Some(le) = le {
        let _ = write!(out, ",le=\"{le}\"");
    }
    let _ = writeln!(out, "}} {}", format_value(value));
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// A metric or label name as Prometheus allows it: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn sanitize(name: &str) -> String {
    let mut s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn instruments_render_as_prometheus_text() {
        let metrics = Metrics::new("routing", None).expect("metrics");
        metrics.record_request("/v1/dispatches/{id}", "GET", "200", 0.003);
        metrics.record_request("/v1/dispatches/{id}", "GET", "200", 0.2);
        metrics.record_request("/v1/dispatches/{id}", "GET", "200", 0.03);
        let family = metrics.gauge_family("caseflow_dispatches_open", "Open dispatches, by unit");
        family.set(vec![(vec![KeyValue::new("unit", "cgj")], 3.0), (vec![KeyValue::new("unit", "a\"b")], 1.0)]);
        metrics.counter("caseflow_db_pool_acquired", "Connections taken from the pool", || vec![(vec![], 7)]);
        let text = metrics.render().await;
        assert!(text.contains("# TYPE caseflow_request_duration_seconds histogram"), "{text}");
        let route = r#"service="routing",method="GET",route="/v1/dispatches/{id}",status="200""#;
        assert!(
            text.contains(&format!("caseflow_request_duration_seconds_bucket{{{route},le=\"0.005\"}} 1")),
            "{text}"
        );
        // 30 ms: above the 25 ms target, within 35 ms.
        assert!(
            text.contains(&format!("caseflow_request_duration_seconds_bucket{{{route},le=\"0.025\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("caseflow_request_duration_seconds_bucket{{{route},le=\"0.035\"}} 2")),
            "{text}"
        );
        assert!(text.contains(&format!("caseflow_request_duration_seconds_bucket{{{route},le=\"0.25\"}} 3")), "{text}");
        assert!(text.contains(&format!("caseflow_request_duration_seconds_bucket{{{route},le=\"+Inf\"}} 3")), "{text}");
        assert!(text.contains(&format!("caseflow_request_duration_seconds_count{{{route}}} 3")), "{text}");
        assert!(text.contains("caseflow_dispatches_open{service=\"routing\",unit=\"cgj\"} 3"), "{text}");
        assert!(text.contains(r#"caseflow_dispatches_open{service="routing",unit="a\"b"} 1"#), "{text}");
        assert!(text.contains("# TYPE caseflow_db_pool_acquired_total counter"), "{text}");
        assert!(text.contains("caseflow_db_pool_acquired_total{service=\"routing\"} 7"), "{text}");

        // A family set again drops the series it no longer has.
        family.set(vec![(vec![KeyValue::new("unit", "cgj")], 2.0)]);
        tokio::time::sleep(REFRESH_AT_MOST_EVERY).await;
        let text = metrics.render().await;
        assert!(text.contains("caseflow_dispatches_open{service=\"routing\",unit=\"cgj\"} 2"), "{text}");
        assert!(!text.contains(r#"unit="a\"b""#), "{text}");
    }

    #[tokio::test]
    async fn a_refresh_runs_at_most_once_a_second() {
        let metrics = Metrics::new("intake", None).expect("metrics");
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        metrics.on_scrape(move || {
            let counted = counted.clone();
            Box::pin(async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        });
        metrics.render().await;
        metrics.render().await;
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn names_and_values_follow_the_exposition_format() {
        assert_eq!(sanitize("http.server.duration"), "http_server_duration");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(escape_label("a\\b\n"), r"a\\b\n");
    }
}
