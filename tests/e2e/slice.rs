//! The walking slice: a work order POSTed to intake is dispatched by routing and counted by
//! reporting for its unit.

use std::time::Duration;

use caseflow::Service;
use caseflow_proto::v1 as pb;
use caseflow_tests::{Sandbox, grpc_order, keys, order};
use serde_json::Value;

fn received(counts: &Value, unit: &str) -> i64 {
    counts["units"]
        .as_array()
        .and_then(|units| units.iter().find(|u| u["unit"] == unit))
        .and_then(|u| u["received"].as_i64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_order_is_dispatched_and_counted_for_its_unit() {
    let sandbox = Sandbox::start().await;
    let (status, case) =
        sandbox.post_order(Some(keys::INTEGRATOR), &order(1, &["chengguan", "shengtaihuanjing"])).await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(case["citizen"]["phone"], "138****1234", "views mask the phone");
    assert_eq!(case["citizen"]["name"], "陈**", "views mask the name");
    let case_id = case["case_id"].as_str().expect("case id").to_owned();

    let counts = sandbox
        .eventually("reporting to count both dispatches and the case", Duration::from_secs(10), || async {
            // Dispatches come on routing's stream, the case on intake's: wait for both.
            let counts = sandbox.unit_counts().await;
            let both = received(&counts, "chengguan") == 1 && received(&counts, "shengtaihuanjing") == 1;
            (both && counts["cases"] == 1).then_some(counts)
        })
        .await;
    assert_eq!(counts["count_unit"], "dispatches");
    assert_eq!(counts["cases"], 1, "one case, two dispatches");

    let (status, dispatches) =
        sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
    assert_eq!(status, 200);
    let units: Vec<&str> = dispatches.as_array().expect("list").iter().filter_map(|d| d["unit"].as_str()).collect();
    assert_eq!(units, ["chengguan", "shengtaihuanjing"]);

    // The same order again is the same case, not a second dispatch.
    let (status, again) =
        sandbox.post_order(Some(keys::INTEGRATOR), &order(1, &["chengguan", "shengtaihuanjing"])).await;
    assert_eq!(status, 200);
    assert_eq!(again["case_id"], case["case_id"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sandbox.counted_dispatches().await, 2);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_order_submitted_over_grpc_takes_the_same_path() {
    let sandbox = Sandbox::start().await;
    let channel = sandbox.channel(Service::Intake).await;
    let mut intake = pb::intake_client::IntakeClient::new(channel);
    let mut request = tonic::Request::new(pb::SubmitHotlineOrderRequest { order: Some(grpc_order("GD-GRPC-1")) });
    request.metadata_mut().insert("authorization", format!("Bearer {}", keys::INTEGRATOR).parse().expect("header"));
    let response = intake.submit_hotline_order(request).await.expect("accepted").into_inner();
    assert!(response.created);
    assert_eq!(response.case.as_ref().map(|c| c.citizen_phone_masked.as_str()), Some("139****1111"));

    sandbox
        .eventually("reporting to count the gRPC order", Duration::from_secs(10), || async {
            (received(&sandbox.unit_counts().await, "shengtaihuanjing") == 1).then_some(())
        })
        .await;
    sandbox.shutdown().await;
}
