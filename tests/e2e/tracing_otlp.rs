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
