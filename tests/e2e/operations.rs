//! What an operator relies on: health over REST and gRPC, reflection, the OpenAPI documents.

use caseflow::Service;
use caseflow_tests::Sandbox;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reports_health_and_lists_its_grpc_services() {
    let sandbox = Sandbox::start().await;
    let expected = [
        (Service::Intake, "caseflow.v1.Intake"),
        (Service::Routing, "caseflow.v1.Routing"),
        (Service::Evaluation, "caseflow.v1.Evaluation"),
        (Service::Reporting, "caseflow.v1.Reporting"),
    ];
    for (service, grpc_name) in expected {
        for path in ["/health/livez", "/health/readyz"] {
            let status = sandbox.http.get(sandbox.url(service, path)).send().await.expect("answers").status();
            assert_eq!(status, 200, "{} {path}", service.name());
        }

        let mut health = HealthClient::new(sandbox.channel(service).await);
        let status = health
            .check(HealthCheckRequest { service: grpc_name.into() })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{grpc_name}");

        let mut reflection = ServerReflectionClient::new(sandbox.channel(service).await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection answers")
            .into_inner();
        let listed = match responses.message().await.expect("a response").and_then(|r| r.message_response) {
            Some(MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        };
        assert!(listed.iter().any(|s| s == grpc_name), "{grpc_name} not in {listed:?}");
        for (_, other) in expected.iter().filter(|(_, n)| *n != grpc_name) {
            assert!(!listed.iter().any(|s| s == other), "{grpc_name}'s port lists {other}: {listed:?}");
        }

        // The older v1alpha protocol (the stock Python client's) answers the same.
        use tonic_reflection::pb::v1alpha as alpha;
        let mut reflection =
            alpha::server_reflection_client::ServerReflectionClient::new(sandbox.channel(service).await);
        let request = alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(alpha::server_reflection_request::MessageRequest::ListServices(String::new())),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("v1alpha reflection answers")
            .into_inner();
        let listed_alpha = match responses.message().await.expect("a response").and_then(|r| r.message_response) {
            Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected v1alpha reflection answer {other:?}"),
        };
        assert_eq!(listed_alpha, listed, "both versions list the same services");
    }

    for service in Service::ALL {
        let doc: serde_json::Value = sandbox
            .http
            .get(sandbox.url(service, "/openapi.json"))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')), "{}", service.name());
        assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
        assert!(
            doc["components"]["securitySchemes"]["api_key"].is_object(),
            "{} declares its bearer scheme",
            service.name()
        );
    }
    let intake_doc: serde_json::Value = sandbox
        .http
        .get(sandbox.url(Service::Intake, "/openapi.json"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert!(intake_doc["paths"]["/v1/hotline/orders"]["post"].is_object());

    // An unknown REST path is a problem+json 404, not a gRPC answer.
    let resp = sandbox.http.get(sandbox.url(Service::Intake, "/v1/nope")).send().await.expect("answers");
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_is_not_ready_and_comes_back() {
    let mut sandbox = Sandbox::start().await;
    sandbox.system.stop(Service::Evaluation).await.expect("stops cleanly");
    let refused = sandbox.http.get(sandbox.url(Service::Evaluation, "/health/livez")).send().await;
    assert!(refused.is_err(), "a stopped service no longer accepts connections");
    sandbox.system.restart(Service::Evaluation).await.expect("restarts");
    sandbox
        .eventually("evaluation ready again", std::time::Duration::from_secs(10), || async {
            let r = sandbox.http.get(sandbox.url(Service::Evaluation, "/health/readyz")).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_the_running_system_holds_what_was_committed() {
    use diesel::{Connection as _, RunQueryDsl as _};
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        eprintln!("SQLite's online backup; PostgreSQL is backed up with pg_dump (deploy/README.md)");
        return;
    }
    #[derive(diesel::QueryableByName)]
    struct Counted {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sandbox = Sandbox::start().await;
    let (status, body) =
        sandbox.post_order(Some(caseflow_tests::keys::INTEGRATOR), &caseflow_tests::order(5, &["chengguan"])).await;
    assert_eq!(status, 201, "{body}");
    sandbox
        .eventually("reporting to count the case", std::time::Duration::from_secs(10), || async {
            (sandbox.counted_dispatches().await == 1).then_some(())
        })
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("backup");
    let files = caseflow::backup_sqlite(sandbox.system.configs(), &out).expect("backs up while running");
    assert_eq!(files.len(), 4);
    let count = |file: &str, sql: &str| {
        let mut conn = diesel::SqliteConnection::establish(out.join(file).to_str().expect("path")).expect("opens");
        diesel::sql_query(sql).get_result::<Counted>(&mut conn).expect("counts").n
    };
    assert_eq!(count("intake.db", "SELECT COUNT(*) AS n FROM cases"), 1);
    assert_eq!(count("routing.db", "SELECT COUNT(*) AS n FROM dispatches"), 1);
    assert_eq!(count("reporting.db", "SELECT COUNT(*) AS n FROM report_dispatches"), 1);
    // A backup never overwrites one.
    let again = caseflow::backup_sqlite(sandbox.system.configs(), &out).expect_err("refused");
    assert!(again.to_string().contains("exists already"), "{again}");
    sandbox.shutdown().await;
}
