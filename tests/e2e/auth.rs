//! Identity at the edges: a missing key and a wrong key are 401, a known key without the right
//! is 403, and none of them changes anything.

use std::time::Duration;

use caseflow::Service;
use caseflow_proto::v1 as pb;
use caseflow_tests::{Sandbox, keys, order};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_and_unprivileged_keys_are_refused_without_effect() {
    let sandbox = Sandbox::start().await;
    let (missing, body) = sandbox.post_order(None, &order(1, &["chengguan"])).await;
    assert_eq!(missing, 401, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    let (wrong, _) = sandbox.post_order(Some("not-a-key"), &order(2, &["chengguan"])).await;
    assert_eq!(wrong, 401);
    let (role, body) = sandbox.post_order(Some(keys::OFFICE), &order(3, &["chengguan"])).await;
    assert_eq!(role, 403, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("integrator"), "{body}");

    // The refused orders left nothing behind: the same order numbers are new cases now.
    for n in 1..=3 {
        let (status, _) = sandbox.post_order(Some(keys::INTEGRATOR), &order(n, &["chengguan"])).await;
        assert_eq!(status, 201, "order {n} was not stored by the refused call");
    }
    sandbox
        .eventually("three dispatches", Duration::from_secs(10), || async {
            (sandbox.counted_dispatches().await == 3).then_some(())
        })
        .await;

    // Reports are for the efficiency office, not the platform.
    let (status, _) = sandbox
        .get_json(
            Service::Reporting,
            "/v1/reports/unit-counts?from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z",
            keys::INTEGRATOR,
        )
        .await;
    assert_eq!(status, 403);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_get_unauthenticated_and_permission_denied() {
    let sandbox = Sandbox::start().await;
    let mut intake = pb::intake_client::IntakeClient::new(sandbox.channel(Service::Intake).await);
    let request = || tonic::Request::new(pb::GetCaseRequest { case_id: "nope".into() });

    let status = intake.get_case(request()).await.expect_err("no key");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let mut wrong = request();
    wrong.metadata_mut().insert("authorization", "Bearer nope".parse().expect("header"));
    assert_eq!(intake.get_case(wrong).await.expect_err("wrong key").code(), tonic::Code::Unauthenticated);

    let mut office = tonic::Request::new(pb::SubmitHotlineOrderRequest { order: Some(pb::HotlineOrder::default()) });
    office.metadata_mut().insert("authorization", format!("Bearer {}", keys::OFFICE).parse().expect("header"));
    let denied = intake.submit_hotline_order(office).await.expect_err("wrong role");
    assert_eq!(
        denied.code(),
        tonic::Code::PermissionDenied,
        "the role is checked before the (empty) order is validated"
    );

    // The event stream is for services only.
    let mut stream = pb::event_stream_client::EventStreamClient::new(sandbox.channel(Service::Intake).await);
    let mut sub = tonic::Request::new(pb::SubscribeRequest { after_position: 0, limit: 1 });
    sub.metadata_mut().insert("authorization", format!("Bearer {}", keys::INTEGRATOR).parse().expect("header"));
    assert_eq!(stream.subscribe(sub).await.expect_err("not a service").code(), tonic::Code::PermissionDenied);
    sandbox.shutdown().await;
}
