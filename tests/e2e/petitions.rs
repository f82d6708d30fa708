//! The petition office's decision (信访工作条例 第二十二条), through the public APIs: a petition
//! registered pending a decision reaches no unit until it is accepted, and its handling period
//! then runs from the acceptance; one not accepted or forwarded never reaches a unit; every
//! petition counts in the totals, and the decisions add up in the petition summary.

use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys};
use serde_json::{Value, json};

fn petition(number: &str, phone: &str, decision: Value) -> Value {
    let mut p = json!({
        "petition_number": number, "received_at": "2020-06-20T09:00:00+08:00", "channel": "letter",
        "purpose": "request_decision", "category": "construction.renovation", "content": "违规装修",
        "location": {"sub_district": "lizhong", "address": "新华路"}, "citizen": {"name": "林碧英", "phone": phone},
        "matters": [{"category": "construction.renovation", "summary": "违规装修", "target_unit": "zhujian"}],
    });
    if !decision.is_null() {
        p["decision"] = decision;
    }
    p
}

async fn dispatches(s: &Sandbox, case_id: &str) -> Vec<Value> {
    let (status, list) =
        s.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
    if status != 200 {
        return Vec::new();
    }
    list.as_array().cloned().unwrap_or_default()
}

async fn register(s: &Sandbox, body: &Value) -> Value {
    let (status, case) = s.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, body).await;
    assert_eq!(status, 201, "{case}");
    case
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_petition_reaches_units_only_once_the_office_accepts_it() {
    let sandbox = Sandbox::start().await;
    let pending = register(&sandbox, &petition("XF2020DC0001", "13900002001", json!({"outcome": "pending"}))).await;
    let pending_id = pending["case_id"].as_str().expect("id").to_owned();
    assert_eq!(pending["status"], "awaiting_decision");
    assert_eq!(pending["petition"]["decision"]["outcome"], "pending");
    // Due at the end of the 15th natural day after registration (2020-06-20 + 15, 24:00 +08).
    assert_eq!(pending["petition"]["decision"]["due_at"], "2020-07-05T16:00:00Z");

    // Not accepted at the desk: the legal channel and the notice are required, named.
    let (status, refused) = sandbox
        .post_json(
            Service::Intake,
            "/v1/petitions",
            keys::DISPATCHER,
            &petition("XF2020DC0002", "13900002002", json!({"outcome": "not_accepted"})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<&str> =
        refused["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["decision.legal_channel", "decision.notice"], "{refused}");
    let (status, refused) = sandbox
        .post_json(
            Service::Intake,
            "/v1/petitions",
            keys::DISPATCHER,
            &petition(
                "XF2020DC0002",
                "13900002002",
                json!({"outcome": "accepted", "notice": "已受理", "decided_at": "2020-06-21T09:00:00+08:00"}),
            ),
        )
        .await;
    assert_eq!(
        (status.as_u16(), refused["errors"][0]["field"].as_str()),
        (422, Some("decision.decided_at")),
        "a registration's decision is made when received: {refused}"
    );
    let not_accepted = register(
        &sandbox,
        &petition(
            "XF2020DC0002",
            "13900002002",
            json!({"outcome": "not_accepted", "legal_channel": "litigation", "notice": "该事项应通过诉讼途径解决，已书面告知。"}),
        ),
    )
    .await;
    assert_eq!(not_accepted["status"], "not_accepted");
    let forwarded = register(
        &sandbox,
        &petition(
            "XF2020DC0003",
            "13900002003",
            json!({"outcome": "forwarded", "forwarded_to": "泉州市丰泽区信访局", "notice": "已转送丰泽区信访局，已书面告知。"}),
        ),
    )
    .await;
    // Registered and accepted in one step, as the desk always did: it goes to its unit.
    let at_once = register(&sandbox, &petition("XF2020DC0004", "13900002004", Value::Null)).await;
    assert_eq!(at_once["petition"]["decision"]["outcome"], "accepted");
    let at_once_id = at_once["case_id"].as_str().expect("id").to_owned();
    sandbox
        .eventually("the accepted petition dispatched", Duration::from_secs(10), || async {
            (!dispatches(&sandbox, &at_once_id).await.is_empty()).then_some(())
        })
        .await;
    // Routing reads intake's stream in order: the three before it reached no unit.
    for case in [&pending, &not_accepted, &forwarded] {
        let id = case["case_id"].as_str().expect("id");
        assert!(dispatches(&sandbox, id).await.is_empty(), "{id} reached a unit before being accepted");
    }

    // Only a dispatcher or an administrator decides; a decision is complete or refused.
    let decide = |key: &'static str, body: Value| {
        let s = &sandbox;
        let path = format!("/v1/petitions/{pending_id}/decision");
        async move { s.post_json(Service::Intake, &path, key, &body).await }
    };
    let (status, _) = decide(keys::INTEGRATOR, json!({"outcome": "accepted", "notice": "已受理"})).await;
    assert_eq!(status, 403);
    let (status, refused) = decide(keys::DISPATCHER, json!({"outcome": "pending"})).await;
    assert_eq!((status.as_u16(), refused["errors"][0]["field"].as_str()), (422, Some("outcome")), "{refused}");
    let (status, refused) = decide(
        keys::DISPATCHER,
        json!({"outcome": "accepted", "notice": "已受理", "decided_at": "2020-07-30T09:00:00+08:00"}),
    )
    .await;
    assert_eq!((status.as_u16(), refused["errors"][0]["field"].as_str()), (422, Some("decided_at")), "{refused}");
    let (status, decided) =
        decide(keys::DISPATCHER, json!({"outcome": "accepted", "notice": "您的信访事项已受理，转区住建局办理。"}))
            .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["petition"]["decision"]["outcome"], "accepted");
    assert_eq!(decided["petition"]["decision"]["late"], false);
    let (status, again) =
        decide(keys::DISPATCHER, json!({"outcome": "forwarded", "forwarded_to": "市局", "notice": "x"})).await;
    assert_eq!((status.as_u16(), again["rule"].as_str()), (409, Some("decision.made")), "{again}");

    // Accepted on 30 June: the unit gets it now, and its clock runs from the acceptance
    // (15 days to land, 60 to resolve, natural days), not from the registration.
    let d = sandbox
        .eventually("the accepted petition dispatched", Duration::from_secs(10), || async {
            dispatches(&sandbox, &pending_id).await.first().cloned()
        })
        .await;
    assert_eq!(d["unit"], "zhujian");
    assert_eq!(d["deadlines"]["land"], "2020-07-15T16:00:00Z");
    assert_eq!(d["deadlines"]["resolve"], "2020-08-29T16:00:00Z");

    // Every petition counts in the totals; the decisions add up.
    let period = "from=2020-06-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00";
    let summary = sandbox
        .eventually("the decisions counted", Duration::from_secs(10), || async {
            let (status, s) = sandbox
                .get_json(Service::Reporting, &format!("/v1/reports/summary?source=petition&{period}"), keys::OFFICE)
                .await;
            (status == 200 && s["decisions"]["pending"] == 0 && s["total"]["count"] == 4).then_some(s)
        })
        .await;
    let d = &summary["decisions"];
    assert_eq!((d["registered"].as_u64(), d["accepted"].as_u64()), (Some(4), Some(2)), "{summary}");
    assert_eq!((d["forwarded"].as_u64(), d["no_longer_accepted"].as_u64()), (Some(1), Some(0)));
    assert_eq!(d["not_accepted"][0]["key"], "litigation");
    assert_eq!(d["not_accepted"][0]["count"], 1);
    assert_eq!(d["late"], 0);
    sandbox.shutdown().await;
}
