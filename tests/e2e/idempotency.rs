//! Idempotency keys on the gRPC writes: a write sent again under its key is answered as the first
//! time (a return's id included) and applied once; a key used for another call is refused by
//! name; and an import whose journal lost its entries replays into the same state.

use std::time::Duration;

use caseflow::Service;
use caseflow_proto::v1 as pb;
use caseflow_tests::{Sandbox, keys, order};
use chrono::Duration as Span;
use serde_json::json;

const KEY: &str = "x-caseflow-idempotency-key";

fn call<T>(message: T, key: &str, idempotency_key: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("header"));
    if let Some(k) = idempotency_key {
        r.metadata_mut().insert(KEY, k.parse().expect("header"));
    }
    r
}

fn return_request(dispatch_id: &str, reason: &str) -> pb::ReturnRequest {
    pb::ReturnRequest {
        dispatch_id: dispatch_id.to_owned(),
        reason_code: "not_our_duty".into(),
        reason: reason.into(),
        proposed_unit: "shengtaihuanjing".into(),
        catalog_entry: "eco-fume-monitoring".into(),
        legal_basis: String::new(),
        contact: Some(pb::ContactRecord {
            at: Some(caseflow_runtime::time::to_proto(
                chrono::DateTime::parse_from_rfc3339("2020-06-30T13:00:00+08:00")
                    .expect("t")
                    .with_timezone(&chrono::Utc),
            )),
            method: "phone".into(),
            learned: "诉求人称餐馆排烟管道直通住宅窗口，已现场核实".into(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_again_under_its_key_is_answered_as_the_first_time_and_applied_once() {
    let sandbox = Sandbox::start().await;
    let mut complaint = order(1, &["chengguan"]);
    complaint["received_at"] = json!("2020-06-30T11:30:00+08:00");
    let (status, case) = sandbox.post_order(Some(keys::INTEGRATOR), &complaint).await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["case_id"].as_str().expect("case id").to_owned();
    let mut routing = pb::routing_client::RoutingClient::new(sandbox.channel(Service::Routing).await);
    let dispatch_id = sandbox
        .eventually("the case to be dispatched", Duration::from_secs(10), || {
            let mut routing = routing.clone();
            let case_id = case_id.clone();
            async move {
                let list = routing
                    .list_case_dispatches(call(
                        pb::ListCaseDispatchesRequest { case_id, ..Default::default() },
                        keys::DISPATCHER,
                        None,
                    ))
                    .await
                    .ok()?
                    .into_inner();
                list.dispatches.first().map(|d| d.dispatch_id.clone())
            }
        })
        .await;
    let cg = keys::CHENGGUAN;
    routing
        .acknowledge(call(pb::DispatchRef { dispatch_id: dispatch_id.clone() }, cg, None))
        .await
        .expect("acknowledged");
    sandbox.clock.advance(Span::hours(2));

    // The same return request twice under one key: one return, the same id both times.
    let first = routing
        .request_return(call(return_request(&dispatch_id, "油烟排放监测属生态环境部门"), cg, Some("return-1")))
        .await
        .expect("first call applies")
        .into_inner();
    let again = routing
        .request_return(call(return_request(&dispatch_id, "油烟排放监测属生态环境部门"), cg, Some("return-1")))
        .await
        .expect("the second call is answered, not refused")
        .into_inner();
    assert_eq!(again, first, "the same answer, the same return id");
    // The id is the one the key derives: a caller whose answer was lost can still name it.
    assert_eq!(first.return_id, caseflow_runtime::idempotency::derived_id("return-1", "return"));
    // Without the key, the same request is a second request, and the rules refuse it.
    let unkeyed = routing
        .request_return(call(return_request(&dispatch_id, "油烟排放监测属生态环境部门"), cg, None))
        .await
        .expect_err("a second return while one is pending");
    assert_ne!(unkeyed.code(), tonic::Code::Ok);

    let log = routing
        .case_log(call(
            pb::ListCaseDispatchesRequest { case_id: case_id.clone(), ..Default::default() },
            keys::DISPATCHER,
            None,
        ))
        .await
        .expect("log")
        .into_inner();
    let returns = log.entries.iter().filter(|e| e.action.contains("return")).count();
    assert_eq!(returns, 1, "one log entry for the return: {:?}", log.entries);

    // The same key for another call is refused, naming the header and the rule.
    let reused = routing
        .request_return(call(return_request(&dispatch_id, "另一个理由"), cg, Some("return-1")))
        .await
        .expect_err("a key used for another message");
    assert_eq!(reused.code(), tonic::Code::InvalidArgument);
    assert_eq!(caseflow_runtime::error::status_rule(&reused).as_deref(), Some("idempotency.key_reused"));
    assert!(reused.message().contains(KEY), "{}", reused.message());

    // Another caller's identical key is its own key: the dispatcher's decision goes through.
    let decided = routing
        .decide_return(call(
            pb::DecisionRequest {
                id: first.return_id.clone(),
                approve: true,
                reason: "证据充分".into(),
                unit: String::new(),
                days: 0,
            },
            keys::DISPATCHER,
            Some("return-1"),
        ))
        .await
        .expect("the dispatcher's key is not the unit's")
        .into_inner();
    assert_eq!(decided.status, "approved");

    // A key that cannot be one is refused before anything is applied.
    let bad = routing
        .reply(call(pb::TextRequest { dispatch_id: dispatch_id.clone(), text: "已处理".into() }, cg, Some("two words")))
        .await
        .expect_err("a key with a space");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(caseflow_runtime::error::status_rule(&bad).as_deref(), Some("idempotency.key_format"));
    sandbox.shutdown().await;
}
