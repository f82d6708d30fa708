//! One case is one trace: spans from intake, routing and reporting for the same case reach an
//! OTLP collector under one trace id.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caseflow_runtime::telemetry::{self, TelemetryConfig};
use caseflow_tests::{Sandbox, keys, order};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("collector lock");
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_case_is_one_trace_across_intake_routing_and_reporting() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind collector");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let server = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let telemetry = telemetry::init(&TelemetryConfig {
        otlp_endpoint: Some(endpoint),
        log_filter: "info".into(),
        ..TelemetryConfig::default()
    })
    .expect("telemetry starts");

    let sandbox = Sandbox::start().await;
    let (status, _) = sandbox.post_order(Some(keys::INTEGRATOR), &order(7, &["chengguan"])).await;
    assert_eq!(status, 201);
    sandbox
        .eventually("reporting to count the case", Duration::from_secs(10), || async {
            (sandbox.counted_dispatches().await == 1).then_some(())
        })
        .await;

    let telemetry = Arc::new(telemetry);
    let services = sandbox
        .eventually("spans of all three services in the case's trace", Duration::from_secs(20), || {
            let telemetry = telemetry.clone();
            let collector = collector.clone();
            async move {
                tokio::task::spawn_blocking(move || telemetry.flush()).await.ok()?;
                let spans = collector.spans.lock().ok()?.clone();
                let root = spans.iter().find(|s| {
                    attribute(s, "caseflow.service").as_deref() == Some("intake")
                        && s.name.contains("POST /v1/hotline/orders")
                })?;
                let services: BTreeSet<String> = spans
                    .iter()
                    .filter(|s| s.trace_id == root.trace_id)
                    .filter_map(|s| attribute(s, "caseflow.service"))
                    .collect();
                services.contains("reporting").then_some(services)
            }
        })
        .await;
    assert!(
        services.contains("intake") && services.contains("routing") && services.contains("reporting"),
        "{services:?}"
    );
    sandbox.shutdown().await;
}

#[derive(Clone, Default)]
struct MetricsCollector {
    /// (service.name, metric name)
    seen: Arc<Mutex<BTreeSet<(String, String)>>>,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService for MetricsCollector {
    async fn export(
        &self,
        request: tonic::Request<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest>,
    ) -> Result<
        tonic::Response<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse>,
        tonic::Status,
    > {
        let mut seen = self.seen.lock().expect("collector lock");
        for resource in request.into_inner().resource_metrics {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource.scope_metrics {
                for metric in scope.metrics {
                    seen.insert((service.clone(), metric.name));
                }
            }
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_pushes_its_metrics_to_the_otlp_endpoint_too() {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
    let collector = MetricsCollector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind collector");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let server = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let push = caseflow_runtime::metrics::OtlpPush { endpoint, interval: Duration::from_secs(2) };
    let sandbox = Sandbox::start_pushing_metrics(Some(push)).await;
    let (status, _) = sandbox.post_order(Some(keys::INTEGRATOR), &order(8, &["chengguan"])).await;
    assert_eq!(status, 201);
    let wanted = [
        ("caseflow-intake", "caseflow_request_duration_seconds"),
        ("caseflow-intake", "caseflow_cases_received"),
        ("caseflow-routing", "caseflow_consumer_lag_seconds"),
        ("caseflow-routing", "caseflow_dispatches_open"),
        ("caseflow-evaluation", "caseflow_evaluations_waiting"),
        ("caseflow-reporting", "caseflow_db_pool_connections"),
    ];
    sandbox
        .eventually("the collector to receive every service's metrics", Duration::from_secs(20), || async {
            let seen = collector.seen.lock().ok()?.clone();
            wanted.iter().all(|(s, m)| seen.contains(&((*s).to_owned(), (*m).to_owned()))).then_some(())
        })
        .await;
    sandbox.shutdown().await;
}
