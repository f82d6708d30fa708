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

/// 复查 and 复核 (信访工作条例 第三十五条, 第三十六条) through the public APIs: asked within 30
/// days of the answer, in order, once each; decided once; counted in the petition summary and
/// the bulletin; and after a decided 复核 the same facts are not accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_run_in_order_within_their_days_and_a_concluded_review_ends_reacceptance() {
    let sandbox = Sandbox::start().await;
    sandbox.clock.set("2020-10-01T00:00:00Z".parse().expect("moment"));
    let case = register(&sandbox, &petition("XF2020RV0001", "13900003001", Value::Null)).await;
    let id = case["case_id"].as_str().expect("id").to_owned();
    let post = |path: String, body: Value| {
        let s = &sandbox;
        async move { s.post_json(Service::Intake, &path, keys::DISPATCHER, &body).await }
    };
    let ask = |level: &str, answered: &str, requested: &str| json!({"level": level, "reviewing_body": "鲤城区人民政府", "answer_received_at": answered, "requested_at": requested});
    let reviews = format!("/v1/petitions/{id}/reviews");

    // Bad input names its fields; order and windows are rules with names.
    let (status, body) =
        post(reviews.clone(), json!({"level": "appeal", "reviewing_body": "x", "answer_received_at": "soon"})).await;
    let fields: Vec<&str> =
        body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!((status.as_u16(), fields), (422, vec!["level", "reviewing_body", "answer_received_at"]), "{body}");
    let (status, body) =
        post(reviews.clone(), ask("re_review", "2020-07-01T10:00:00+08:00", "2020-07-02T10:00:00+08:00")).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("review.order")), "{body}");
    let (status, body) =
        post(reviews.clone(), ask("review", "2020-07-01T10:00:00+08:00", "2020-08-01T10:00:00+08:00")).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("review.window")), "31 days after: {body}");

    // 复查 asked on 10 July against the answer of 1 July: due at the end of 9 August.
    let (status, review) =
        post(reviews.clone(), ask("review", "2020-07-01T10:00:00+08:00", "2020-07-10T10:00:00+08:00")).await;
    assert_eq!(status, 201, "{review}");
    assert_eq!((review["due_at"].as_str(), review["late"].as_bool()), (Some("2020-08-09T16:00:00Z"), Some(true)));
    let (status, body) =
        post(reviews.clone(), ask("review", "2020-07-01T10:00:00+08:00", "2020-07-11T10:00:00+08:00")).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("review.requested")), "once: {body}");
    let decide = |level: &str, outcome: &str, at: &str| {
        post(
            format!("/v1/petitions/{id}/reviews/{level}/decision"),
            json!({"outcome": outcome, "opinion": "经复查，原处理意见适当。", "decided_at": at}),
        )
    };
    let (status, decided) = decide("review", "upheld", "2020-08-01T10:00:00+08:00").await;
    assert_eq!(
        (status.as_u16(), decided["outcome"].as_str(), decided["late"].as_bool()),
        (200, Some("upheld"), Some(false)),
        "{decided}"
    );
    let (status, body) = decide("review", "revoked", "2020-08-02T10:00:00+08:00").await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("review.decided")), "{body}");

    // 复核 against the review opinion, decided after its 30 days: late, and the facts concluded.
    let (status, body) =
        post(reviews.clone(), ask("re_review", "2020-07-30T10:00:00+08:00", "2020-08-05T10:00:00+08:00")).await;
    assert_eq!(
        (status.as_u16(), body["errors"][0]["field"].as_str()),
        (422, Some("answer_received_at")),
        "before the review was decided: {body}"
    );
    let (status, body) =
        post(reviews.clone(), ask("re_review", "2020-08-02T10:00:00+08:00", "2020-08-05T10:00:00+08:00")).await;
    assert_eq!(status, 201, "{body}");
    let mut before = petition("XF2020RV0003", "13900003001", Value::Null);
    before["received_at"] = json!("2020-08-20T09:00:00+08:00");
    before["related_case_id"] = json!(id);
    let before_id = register(&sandbox, &before).await["case_id"].as_str().map(str::to_owned);
    let (status, decided) = decide("re_review", "changed", "2020-09-10T10:00:00+08:00").await;
    assert_eq!((status.as_u16(), decided["late"].as_bool()), (200, Some(true)), "{decided}");
    let (status, listed) = sandbox.get_json(Service::Intake, &reviews, keys::OFFICE).await;
    let levels: Vec<&str> = listed.as_array().into_iter().flatten().filter_map(|r| r["level"].as_str()).collect();
    assert_eq!((status.as_u16(), levels), (200, vec!["review", "re_review"]), "{listed}");

    // The same facts again: not accepted, whether at the desk or later; no longer accepted, named.
    let mut again = petition("XF2020RV0002", "13900003001", Value::Null);
    again["received_at"] = json!("2020-09-20T09:00:00+08:00");
    again["related_case_id"] = json!(id);
    let (status, body) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &again).await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("decision")), "{body}");
    assert!(body.to_string().contains("第三十六条"), "{body}");
    // A petition on the same facts taken in before the 复核 concluded, sent again now (a desk's
    // retry): answered with its case, not refused as the same facts.
    let (status, resent) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &before).await;
    assert_eq!((status.as_u16(), resent["case_id"].as_str()), (200, before_id.as_deref()), "{resent}");
    again["decision"] = json!({"outcome": "pending"});
    let pending = register(&sandbox, &again).await;
    let pending_id = pending["case_id"].as_str().expect("id");
    let (status, body) = post(
        format!("/v1/petitions/{pending_id}/decision"),
        json!({"outcome": "accepted", "notice": "已受理", "decided_at": "2020-09-21T09:00:00+08:00"}),
    )
    .await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("outcome")), "{body}");
    let (status, body) = post(
        format!("/v1/petitions/{pending_id}/decision"),
        json!({"outcome": "no_longer_accepted", "concluded_case": id, "notice": "同一事实已复核终结，不再受理。", "decided_at": "2020-09-21T09:00:00+08:00"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A petition not accepted has no answer to review.
    let (status, body) = post(
        format!("/v1/petitions/{pending_id}/reviews"),
        ask("review", "2020-09-22T10:00:00+08:00", "2020-09-23T10:00:00+08:00"),
    )
    .await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("review.accepted")), "{body}");

    // Counted where they were requested: July and August, their outcomes as of the moment.
    let summer = "from=2020-07-01T00:00:00%2B08:00&to=2020-09-01T00:00:00%2B08:00";
    let summary = sandbox
        .eventually("the reviews counted", Duration::from_secs(10), || async {
            let (status, s) = sandbox
                .get_json(Service::Reporting, &format!("/v1/reports/summary?source=petition&{summer}"), keys::OFFICE)
                .await;
            (status == 200 && s["reviews"]["re_review"]["changed"] == 1).then_some(s)
        })
        .await;
    let r = &summary["reviews"];
    assert_eq!(
        (r["review"]["requested"].as_u64(), r["review"]["upheld"].as_u64(), r["review"]["late"].as_u64()),
        (Some(1), Some(1), Some(0)),
        "{r}"
    );
    assert_eq!((r["re_review"]["requested"].as_u64(), r["re_review"]["late"].as_u64()), (Some(1), Some(1)), "{r}");
    let as_of = "as_of=2020-09-01T00:00:00%2B08:00";
    let (_, then) = sandbox
        .get_json(Service::Reporting, &format!("/v1/reports/summary?source=petition&{summer}&{as_of}"), keys::OFFICE)
        .await;
    assert_eq!(
        (then["reviews"]["re_review"]["pending"].as_u64(), then["reviews"]["re_review"]["changed"].as_u64()),
        (Some(1), Some(0)),
        "as of 1 September the 复核 was still being decided: {then}"
    );
    let (status, _, bulletin) =
        sandbox.get_raw(Service::Reporting, &format!("/v1/reports/bulletin?{summer}"), keys::OFFICE).await;
    let bulletin = String::from_utf8(bulletin).expect("utf-8");
    assert_eq!(status, 200, "{bulletin}");
    assert!(
        bulletin.contains("申请复查1件，维持1件") && bulletin.contains("申请复核1件，维持0件、变更1件"),
        "{bulletin}"
    );
    sandbox.shutdown().await;
}
