//! The bulletin's complaint, through the public API: a cooking-fume complaint bounces between
//! units until the rules stop it, and the delay is charged to the unit that caused it.

use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order};
use chrono::Duration as Span;
use serde_json::{Value, json};

async fn post(s: &Sandbox, path: &str, key: &str, body: Value) -> (u16, Value) {
    let (status, v) = s.post_json(Service::Routing, path, key, &body).await;
    (status.as_u16(), v)
}

fn contact(at: &str) -> Value {
    json!({"at": at, "method": "phone", "learned": "诉求人称餐馆排烟管道直通住宅窗口，已现场核实"})
}

async fn first_dispatch(s: &Sandbox, case_id: &str) -> Value {
    s.eventually("the case to be dispatched", Duration::from_secs(10), || async {
        let (status, list) =
            s.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
        (status == 200).then_some(())?;
        list.as_array().and_then(|l| l.first().cloned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bouncing_cooking_fume_complaint_lands_back_and_the_first_return_is_charged() {
    let sandbox = Sandbox::start().await;
    let clock = sandbox.clock.clone();
    let mut complaint = order(1, &["chengguan"]);
    complaint["received_at"] = json!("2020-06-30T11:30:00+08:00");
    let (status, case) = sandbox.post_order(Some(keys::INTEGRATOR), &complaint).await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["case_id"].as_str().expect("case id").to_owned();
    let d1 = first_dispatch(&sandbox, &case_id).await;
    assert_eq!(d1["unit"], "chengguan");
    let (d1_id, matter_id) =
        (d1["dispatch_id"].as_str().expect("id").to_owned(), d1["matter_id"].as_str().expect("id").to_owned());
    let original_resolve_deadline = d1["deadlines"]["resolve"].clone();

    // 区城管局 asks to return it on the text alone: refused, naming what is missing.
    let cg = keys::CHENGGUAN;
    assert_eq!(post(&sandbox, &format!("/v1/dispatches/{d1_id}/acknowledge"), cg, json!({})).await.0, 200);
    let (status, refused) = post(
        &sandbox,
        &format!("/v1/dispatches/{d1_id}/returns"),
        cg,
        json!({"reason_code": "not_our_duty", "reason": "油烟属生态环境局", "proposed_unit": "shengtaihuanjing", "catalog_entry": "eco-fume-monitoring"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["rule"], "return.evidence");
    assert_eq!(refused["errors"][0]["field"], "contact");

    // A proper return, with the call to the citizen, is approved to 鲤城生态环境局.
    clock.advance(Span::hours(2));
    let (status, r1) = post(
        &sandbox,
        &format!("/v1/dispatches/{d1_id}/returns"),
        cg,
        json!({
            "reason_code": "not_our_duty", "reason": "油烟排放监测属生态环境部门",
            "proposed_unit": "shengtaihuanjing", "catalog_entry": "eco-fume-monitoring",
            "contact": contact("2020-06-30T13:00:00+08:00"),
        }),
    )
    .await;
    assert_eq!(status, 201, "{r1}");
    assert_eq!(r1["status"], "pending");
    let (status, approved) = post(
        &sandbox,
        &format!("/v1/returns/{}/decision", r1["return_id"].as_str().expect("id")),
        keys::DISPATCHER,
        json!({"approve": true, "reason": "证据充分"}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let d2 = approved["next_dispatch"].clone();
    assert_eq!(d2["unit"], "shengtaihuanjing");
    assert_eq!(d2["deadlines"]["resolve"], original_resolve_deadline, "the clock never resets");
    let d2_id = d2["dispatch_id"].as_str().expect("id").to_owned();

    // No ping-pong: the dispatcher cannot transfer it back to the unit that returned it.
    let (status, body) = post(
        &sandbox,
        &format!("/v1/dispatches/{d2_id}/transfer"),
        keys::DISPATCHER,
        json!({"unit": "chengguan", "reason": "退回"}),
    )
    .await;
    assert_eq!((status, body["rule"].as_str()), (409, Some("dispatch.no_ping_pong")), "{body}");

    // 生态环境局 returns it too, to 区市场监管局: approved, the second return of the matter.
    clock.advance(Span::hours(3));
    let eco = keys::unit("shengtaihuanjing");
    let (status, r2) = post(
        &sandbox,
        &format!("/v1/dispatches/{d2_id}/returns"),
        &eco,
        json!({
            "reason_code": "not_our_duty", "reason": "餐饮经营许可属市场监管",
            "proposed_unit": "shichangjianguan", "legal_basis": "《食品安全法》餐饮服务许可",
            "contact": {"at": "2020-06-30T16:00:00+08:00", "method": "site_visit", "learned": "现场有油烟净化器但未开启"},
        }),
    )
    .await;
    assert_eq!(status, 201, "{r2}");
    let (_, approved) = post(
        &sandbox,
        &format!("/v1/returns/{}/decision", r2["return_id"].as_str().expect("id")),
        keys::DISPATCHER,
        json!({"approve": true, "reason": "同意"}),
    )
    .await;
    let d3_id = approved["next_dispatch"]["dispatch_id"].as_str().expect("third dispatch").to_owned();
    assert_eq!(approved["next_dispatch"]["unit"], "shichangjianguan");

    // A third return is refused: the cap is reached and the matter goes to arbitration.
    clock.advance(Span::hours(2));
    let market = keys::unit("shichangjianguan");
    let (status, capped) = post(
        &sandbox,
        &format!("/v1/dispatches/{d3_id}/returns"),
        &market,
        json!({
            "reason_code": "not_our_duty", "reason": "油烟不属市场监管", "proposed_unit": "chengguan",
            "catalog_entry": "cm-fume", "contact": contact("2020-06-30T18:00:00+08:00"),
        }),
    )
    .await;
    assert_eq!((status, capped["rule"].as_str()), (409, Some("return.cap")), "{capped}");

    // The dispatcher designates 区城管局, with reason and basis; it cannot return it again.
    clock.advance(Span::days(1));
    let (status, designated) = post(
        &sandbox,
        &format!("/v1/matters/{matter_id}/designation"),
        keys::DISPATCHER,
        json!({"unit": "chengguan", "reason": "餐饮油烟查处属综合执法", "basis": "cm-fume: 《大气污染防治法》第一百一十八条"}),
    )
    .await;
    assert_eq!(status, 200, "{designated}");
    assert_eq!((designated["unit"].as_str(), designated["via"].as_str()), (Some("chengguan"), Some("designation")));
    assert_eq!(
        designated["deadlines"]["resolve"], original_resolve_deadline,
        "still measured from the original receipt"
    );
    let d4_id = designated["dispatch_id"].as_str().expect("id").to_owned();
    let (status, body) = post(
        &sandbox,
        &format!("/v1/dispatches/{d4_id}/returns"),
        cg,
        json!({"reason_code": "not_our_duty", "reason": "再退", "proposed_unit": "shengtaihuanjing", "catalog_entry": "eco-fume-monitoring", "contact": contact("2020-07-01T19:00:00+08:00")}),
    )
    .await;
    assert_eq!((status, body["rule"].as_str()), (409, Some("return.designated")), "{body}");

    // 区城管局 handles it; the dispatcher reviews and resolves.
    clock.advance(Span::hours(2));
    for (path, key, body) in [
        ("acknowledge", cg.to_owned(), json!({})),
        (
            "land",
            cg.to_owned(),
            json!({"at": "2020-07-01T20:00:00+08:00", "method": "site_visit", "note": "责令安装油烟净化设施"}),
        ),
        ("reply", cg.to_owned(), json!({"text": "已责令餐馆整改，油烟净化器已正常运行"})),
        ("review", keys::DISPATCHER.to_owned(), json!({"accept": true})),
        ("resolve", keys::DISPATCHER.to_owned(), json!({})),
    ] {
        let (status, body) = post(&sandbox, &format!("/v1/dispatches/{d4_id}/{path}"), &key, body).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // 区城管局's first return was wrongful; the second unit's was not judged so.
    let (status, returns) =
        sandbox.get_json(Service::Routing, &format!("/v1/matters/{matter_id}/returns"), keys::DISPATCHER).await;
    assert_eq!(status, 200);
    let returns = returns.as_array().expect("list");
    assert_eq!(returns.len(), 2, "the refused third request was never recorded as a return");
    assert_eq!((returns[0]["unit"].as_str(), returns[0]["wrongful"].as_bool()), (Some("chengguan"), Some(true)));
    assert_eq!(returns[1]["wrongful"], false);
    // Approved 2020-06-30 14:00, back at 区城管局 by designation 2020-07-01 19:00: 29 hours.
    assert_eq!(returns[0]["days_cost"], 1.2);

    // Reporting charges it to 区城管局: one wrongful return, 1.2 days; resolved after bouncing.
    let bounce = sandbox
        .eventually("reporting to see the resolution", Duration::from_secs(10), || async {
            let (_, b) = sandbox
                .get_json(
                    Service::Reporting,
                    "/v1/reports/bounce?from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00",
                    keys::OFFICE,
                )
                .await;
            let row = b["units"].as_array()?.iter().find(|u| u["unit"] == "chengguan")?.clone();
            (row["resolved"] == 1).then_some(row)
        })
        .await;
    assert_eq!(
        (bounce["wrongful_returns"].as_u64(), bounce["wrongful_days"].as_f64()),
        (Some(1), Some(1.2)),
        "{bounce}"
    );
    assert_eq!((bounce["returns_asked"].as_u64(), bounce["returns_approved"].as_u64()), (Some(1), Some(1)));
    assert_eq!(bounce["first_assignment_share"], 0.0, "it came back by designation, not first time");
    assert!(bounce["mean_days_elsewhere"].as_f64().is_some_and(|d| d > 1.0), "{bounce}");

    // The log tells the whole story, in order.
    let (_, log) = sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/log"), keys::DISPATCHER).await;
    let actions: Vec<&str> = log.as_array().expect("log").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "dispatch",
            "acknowledge",
            "return_request",
            "return_approve",
            "dispatch",
            "return_request",
            "return_approve",
            "dispatch",
            "arbitration",
            "supersede",
            "designate",
            "acknowledge",
            "land",
            "reply",
            "review_accept",
            "resolve"
        ]
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_cannot_act_on_another_units_dispatch_and_nothing_changes() {
    let sandbox = Sandbox::start().await;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(2, &["shengtaihuanjing"])).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    let d = first_dispatch(&sandbox, &case_id).await;
    let id = d["dispatch_id"].as_str().expect("id").to_owned();
    let (_, log_before) =
        sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/log"), keys::DISPATCHER).await;

    let foreign = keys::CHENGGUAN;
    for (path, body) in [
        ("acknowledge", json!({})),
        ("land", json!({"at": "2020-06-30T12:00:00+08:00", "method": "phone"})),
        ("reply", json!({"text": "不是我们的"})),
        ("case-analysis", json!({"text": "分析"})),
        (
            "returns",
            json!({"reason_code": "not_our_duty", "reason": "x", "proposed_unit": "zhujian", "legal_basis": "x", "contact": contact("2020-06-30T12:00:00+08:00")}),
        ),
        ("extensions", json!({"days": 1, "reason": "x", "progress": "x"})),
    ] {
        let (status, body) = post(&sandbox, &format!("/v1/dispatches/{id}/{path}"), foreign, body).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["rule"], "scope.unit", "{path}");
    }
    // Dispatcher actions are not a unit's either.
    for (path, body) in [
        ("review", json!({"accept": true})),
        ("resolve", json!({})),
        ("transfer", json!({"unit": "zhujian", "reason": "x"})),
    ] {
        let (status, _) = post(&sandbox, &format!("/v1/dispatches/{id}/{path}"), foreign, body).await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, _) = sandbox.get_json(Service::Routing, &format!("/v1/dispatches/{id}"), foreign).await;
    assert_eq!(status, 403, "not even to read it");

    let (_, after) = sandbox.get_json(Service::Routing, &format!("/v1/dispatches/{id}"), keys::DISPATCHER).await;
    assert_eq!(after["state"], "dispatched");
    let (_, log_after) =
        sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/log"), keys::DISPATCHER).await;
    assert_eq!(log_before, log_after, "nothing was logged");

    // The unit's own handler may act, and sees it in its inbox with what is due next.
    let own = keys::unit("shengtaihuanjing");
    let (status, inbox) = sandbox.get_json(Service::Routing, "/v1/inbox", &own).await;
    assert_eq!(status, 200);
    assert_eq!(inbox[0]["dispatch_id"], id.as_str());
    assert_eq!(inbox[0]["next_due"]["what"], "acknowledge");
    assert_eq!(post(&sandbox, &format!("/v1/dispatches/{id}/acknowledge"), &own, json!({})).await.0, 200);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_rejects_a_return_by_the_unit_it_names_and_an_action_out_of_order_says_what_is_allowed() {
    let sandbox = Sandbox::start().await;
    let mut housing = order(3, &[]);
    housing["category"] = json!("construction.housing_safety");
    housing["matters"] = json!([{"category": "construction.housing_safety", "summary": "危房开裂"}]);
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &housing).await;
    let d = first_dispatch(&sandbox, case["case_id"].as_str().expect("id")).await;
    assert_eq!((d["unit"].as_str(), d["via"].as_str()), (Some("zhujian"), Some("catalog")));
    let id = d["dispatch_id"].as_str().expect("id").to_owned();
    let zj = keys::unit("zhujian");

    let (status, body) = post(&sandbox, &format!("/v1/dispatches/{id}/reply"), &zj, json!({"text": "已处理"})).await;
    assert_eq!(status, 409);
    assert_eq!((body["rule"].as_str(), body["state"].as_str()), (Some("dispatch.state"), Some("dispatched")));
    assert!(body["allowed"].as_array().expect("allowed").iter().any(|a| a == "acknowledge"), "{body}");

    let (status, r) = post(
        &sandbox,
        &format!("/v1/dispatches/{id}/returns"),
        &zj,
        json!({"reason_code": "not_our_duty", "reason": "属街道", "proposed_unit": "kaiyuan", "legal_basis": "属地管理", "contact": contact("2020-06-30T12:00:00+08:00")}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "rejected", "the catalog names 区住建局 for housing safety");
    assert!(r["decision_reason"].as_str().unwrap_or_default().contains("con-housing"), "{r}");
    sandbox.shutdown().await;
}

async fn run_scan(s: &Sandbox) -> Value {
    let (status, report) = post(s, "/v1/scanner/run", keys::ADMIN, json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_go_out_once_and_overdue_dispatches_are_supervised_then_escalated() {
    let sandbox = Sandbox::start().await;
    let mut complaint = order(4, &["zhujian"]);
    complaint["received_at"] = json!("2020-06-30T11:30:00+08:00");
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &complaint).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    let d = first_dispatch(&sandbox, &case_id).await;
    // Dispatched Tuesday 12:00; acknowledge within 2 working hours (by 14:00); half that time
    // has passed at 13:00.
    assert_eq!(d["deadlines"]["acknowledge"], "2020-06-30T06:00:00Z");
    // A new dispatch is not read before its first reminder falls due.
    let first = run_scan(&sandbox).await;
    assert_eq!((first["reminders"].as_u64(), first["looked_at"].as_u64()), (Some(0), Some(0)), "{first}");
    assert_eq!(first["next_at"], "2020-06-30T05:00:00Z", "it waits for half its acknowledge time: {first}");
    sandbox.clock.advance(Span::minutes(61));
    let reminded = run_scan(&sandbox).await;
    assert_eq!((reminded["reminders"].as_u64(), reminded["looked_at"].as_u64()), (Some(1), Some(1)), "{reminded}");
    let again = run_scan(&sandbox).await;
    assert_eq!(
        (again["reminders"].as_u64(), again["looked_at"].as_u64()),
        (Some(0), Some(0)),
        "a reminder goes out once, and the dispatch waits for the next: {again}"
    );

    // Past the resolve deadline (5 working days: 7 July 24:00) the dispatch is overdue and
    // supervised; still overdue two working days later (24:00 on Friday 10 July), the
    // supervision escalates.
    sandbox.clock.set(chrono::DateTime::parse_from_rfc3339("2020-07-08T09:00:00+08:00").expect("t").into());
    let report = run_scan(&sandbox).await;
    assert_eq!(report["supervisions_opened"], 1, "{report}");
    let (_, view) = sandbox
        .get_json(
            Service::Routing,
            &format!("/v1/dispatches/{}", d["dispatch_id"].as_str().expect("id")),
            keys::DISPATCHER,
        )
        .await;
    assert_eq!((view["overdue_view"].as_bool(), view["overdue_handling"].as_bool()), (Some(true), Some(true)));
    assert_eq!(run_scan(&sandbox).await["escalations"], 0);
    sandbox.clock.set(chrono::DateTime::parse_from_rfc3339("2020-07-10T23:00:00+08:00").expect("t").into());
    assert_eq!(run_scan(&sandbox).await["escalations"], 0, "not before the two working days are over");
    sandbox.clock.set(chrono::DateTime::parse_from_rfc3339("2020-07-11T09:00:00+08:00").expect("t").into());
    assert_eq!(run_scan(&sandbox).await["escalations"], 1);
    let (_, log) = sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/log"), keys::DISPATCHER).await;
    let actions: Vec<&str> = log.as_array().expect("log").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "supervise").count(), 1);
    assert_eq!(actions.iter().filter(|a| **a == "escalate").count(), 1);
    let (status, _) = post(&sandbox, "/v1/scanner/run", keys::DISPATCHER, json!({})).await;
    assert_eq!(status, 403, "the scanner is an operator's");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_are_asked_before_the_deadline_capped_and_move_it_only_when_approved() {
    let sandbox = Sandbox::start().await;
    let mut complaint = order(5, &["zhujian"]);
    complaint["received_at"] = json!("2020-06-30T11:30:00+08:00");
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &complaint).await;
    let d = first_dispatch(&sandbox, case["case_id"].as_str().expect("id")).await;
    let id = d["dispatch_id"].as_str().expect("id").to_owned();
    let zj = keys::unit("zhujian");
    let original = d["deadlines"]["resolve"].as_str().expect("deadline").to_owned();
    assert_eq!(original, "2020-07-07T16:00:00Z", "5 working days from Tuesday 30 June: 24:00 on Tuesday 7 July");

    let ask = |days: i32| json!({"days": days, "reason": "需协调多部门", "progress": "已约谈商户"});
    let (status, body) = post(&sandbox, &format!("/v1/dispatches/{id}/extensions"), &zj, ask(6)).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("days")),
        "at most 5 days for the hotline: {body}"
    );
    let (status, ext) = post(&sandbox, &format!("/v1/dispatches/{id}/extensions"), &zj, ask(3)).await;
    assert_eq!(status, 201, "{ext}");
    let ext_id = ext["extension_id"].as_str().expect("id").to_owned();
    let (status, body) = post(&sandbox, &format!("/v1/dispatches/{id}/extensions"), &zj, ask(2)).await;
    assert_eq!((status, body["rule"].as_str()), (409, Some("extension.pending")));

    // Asked but not yet approved: the deadline has not moved.
    let (_, view) = sandbox.get_json(Service::Routing, &format!("/v1/dispatches/{id}"), keys::DISPATCHER).await;
    assert_eq!(view["deadlines"]["resolve"], original.as_str());
    let (status, decided) = post(
        &sandbox,
        &format!("/v1/extensions/{ext_id}/decision"),
        keys::DISPATCHER,
        json!({"approve": true, "reason": "同意", "days": 2}),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(
        decided["resolve_deadline"], "2020-07-09T16:00:00Z",
        "two more working days: Wednesday 8 and Thursday 9 July"
    );

    // One extension per hotline matter.
    let (status, body) = post(&sandbox, &format!("/v1/dispatches/{id}/extensions"), &zj, ask(1)).await;
    assert_eq!((status, body["rule"].as_str()), (409, Some("extension.cap")), "{body}");

    // And none after the deadline has passed.
    let (_, case2) = sandbox
        .post_order(Some(keys::INTEGRATOR), &{
            let mut o = order(6, &["zhujian"]);
            o["received_at"] = json!("2020-06-30T11:30:00+08:00");
            o
        })
        .await;
    let d2 = first_dispatch(&sandbox, case2["case_id"].as_str().expect("id")).await;
    sandbox.clock.set(chrono::DateTime::parse_from_rfc3339("2020-07-08T09:00:00+08:00").expect("t").into());
    let (status, body) =
        post(&sandbox, &format!("/v1/dispatches/{}/extensions", d2["dispatch_id"].as_str().expect("id")), &zj, ask(1))
            .await;
    assert_eq!((status, body["rule"].as_str()), (409, Some("extension.late")), "{body}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_visit_matter_runs_on_natural_days_and_needs_its_case_analysis() {
    let sandbox = Sandbox::start().await;
    let petition = json!({
        "petition_number": "XF2020SV0001",
        "received_at": "2020-06-30T09:00:00+08:00",
        "channel": "letter",
        "purpose": "request_decision",
        "category": "construction.simple_repair",
        "content": "楼道漏水申请简易维修",
        "location": {"sub_district": "haibin", "address": "海滨路"},
        "citizen": {"name": "杨艺金", "phone": "13700001111"},
        "matters": [{"category": "construction.simple_repair", "summary": "楼道漏水", "target_unit": "zhujian"}],
        "single_visit": true,
    });
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &petition).await;
    assert_eq!(status, 201, "{case}");
    let d = first_dispatch(&sandbox, case["case_id"].as_str().expect("id")).await;
    // 五日落地，十五日办结（自然日）.
    assert_eq!(d["deadlines"]["land"], "2020-07-05T16:00:00Z");
    assert_eq!(d["deadlines"]["resolve"], "2020-07-15T16:00:00Z");
    let id = d["dispatch_id"].as_str().expect("id").to_owned();
    let zj = keys::unit("zhujian");
    for (path, key, body) in [
        ("acknowledge", zj.as_str(), json!({})),
        ("land", zj.as_str(), json!({"at": "2020-06-30T12:00:00+08:00", "method": "site_visit"})),
        ("reply", zj.as_str(), json!({"text": "已维修"})),
        ("review", keys::DISPATCHER, json!({"accept": true})),
    ] {
        assert_eq!(post(&sandbox, &format!("/v1/dispatches/{id}/{path}"), key, body).await.0, 200, "{path}");
    }
    let (status, body) = post(&sandbox, &format!("/v1/dispatches/{id}/resolve"), keys::DISPATCHER, json!({})).await;
    assert_eq!((status, body["rule"].as_str()), (409, Some("resolve.case_analysis")), "{body}");
    assert_eq!(
        post(&sandbox, &format!("/v1/dispatches/{id}/case-analysis"), &zj, json!({"text": "一事一分析：管道老化"}))
            .await
            .0,
        200
    );
    assert_eq!(post(&sandbox, &format!("/v1/dispatches/{id}/resolve"), keys::DISPATCHER, json!({})).await.0, 200);

    // Replayed from 2019, before 最多投一次 was in force: the same petition runs on the
    // petition clocks of its time (15 days to land, 60 to resolve), not on 2020's.
    let mut earlier = petition.clone();
    earlier["petition_number"] = json!("XF2019SV0001");
    earlier["received_at"] = json!("2019-11-04T09:00:00+08:00");
    earlier["citizen"]["phone"] = json!("13700002222");
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &earlier).await;
    assert_eq!(status, 201, "{case}");
    let d = first_dispatch(&sandbox, case["case_id"].as_str().expect("id")).await;
    assert_eq!(d["deadlines"]["land"], "2019-11-19T16:00:00Z");
    assert_eq!(d["deadlines"]["resolve"], "2020-01-03T16:00:00Z");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_assists_and_a_merged_unit_handing_over_to_its_successor() {
    let sandbox = Sandbox::start().await;
    // No unit named, and the catalog names two owners for cooking fumes: triage.
    let mut unnamed = order(7, &["chengguan"]);
    unnamed["matters"][0]["target_unit"] = Value::Null;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &unnamed).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    let matter_id = case["matters"][0]["matter_id"].as_str().expect("matter").to_owned();
    let matter = sandbox
        .eventually("the matter in triage", Duration::from_secs(10), || async {
            let (s, m) =
                sandbox.get_json(Service::Routing, &format!("/v1/matters/{matter_id}"), keys::DISPATCHER).await;
            (s == 200 && m["state"] == "triage").then_some(m)
        })
        .await;
    assert_eq!(matter["approved_returns"], 0);
    let (status, lead) = post(
        &sandbox,
        &format!("/v1/matters/{matter_id}/assignment"),
        keys::DISPATCHER,
        json!({"unit": "chengguan", "reason": "综合执法牵头"}),
    )
    .await;
    assert_eq!((status, lead["via"].as_str()), (200, Some("triage")), "{lead}");
    let (status, assist) = post(
        &sandbox,
        &format!("/v1/matters/{matter_id}/assists"),
        keys::DISPATCHER,
        json!({"unit": "shengtaihuanjing", "reason": "协助监测"}),
    )
    .await;
    assert_eq!((status, assist["role"].as_str()), (200, Some("assist")), "{assist}");

    // 区城管局 merges into 开元街道 (an example succession): its open dispatch moves, logged.
    let (status, moved) = post(
        &sandbox,
        "/v1/units/chengguan/succession",
        keys::ADMIN,
        json!({"status": "merged", "successor": "kaiyuan", "reason": "机构改革示例"}),
    )
    .await;
    assert_eq!((status, moved["dispatches_moved"].as_u64()), (200, Some(1)), "{moved}");
    let (_, dispatches) =
        sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
    let units: Vec<&str> = dispatches.as_array().expect("list").iter().filter_map(|d| d["unit"].as_str()).collect();
    assert_eq!(units, ["kaiyuan", "shengtaihuanjing"]);
    let (_, log) = sandbox.get_json(Service::Routing, &format!("/v1/cases/{case_id}/log"), keys::DISPATCHER).await;
    assert!(log.as_array().expect("log").iter().any(|e| e["action"] == "move_to_successor" && e["unit"] == "kaiyuan"));

    // The lead replies for both; resolving the lead resolves the assisting unit's part too.
    let lead_id = lead["dispatch_id"].as_str().expect("id");
    let ky = keys::unit("kaiyuan");
    for (path, key, body) in [
        ("acknowledge", ky.as_str(), json!({})),
        ("land", ky.as_str(), json!({"at": "2020-06-30T12:00:00+08:00", "method": "site_visit"})),
        ("reply", ky.as_str(), json!({"text": "联合整治完毕"})),
        ("review", keys::DISPATCHER, json!({"accept": true})),
        ("resolve", keys::DISPATCHER, json!({})),
    ] {
        assert_eq!(post(&sandbox, &format!("/v1/dispatches/{lead_id}/{path}"), key, body).await.0, 200, "{path}");
    }
    let (_, after) = sandbox
        .get_json(
            Service::Routing,
            &format!("/v1/dispatches/{}", assist["dispatch_id"].as_str().expect("id")),
            keys::DISPATCHER,
        )
        .await;
    assert_eq!(after["state"], "resolved");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_actions_work_over_grpc_too() {
    use caseflow_proto::v1 as pb;
    let sandbox = Sandbox::start().await;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(8, &["zhujian"])).await;
    let d = first_dispatch(&sandbox, case["case_id"].as_str().expect("id")).await;
    let mut client = pb::routing_client::RoutingClient::new(sandbox.channel(Service::Routing).await);
    let with_key = |key: &str, dispatch_id: &str| {
        let mut r = tonic::Request::new(pb::DispatchRef { dispatch_id: dispatch_id.to_owned() });
        r.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("header"));
        r
    };
    let id = d["dispatch_id"].as_str().expect("id");
    let denied = client.acknowledge(with_key(keys::CHENGGUAN, id)).await.expect_err("another unit");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let view = client.acknowledge(with_key(&keys::unit("zhujian"), id)).await.expect("own unit").into_inner();
    assert_eq!(view.state, "acknowledged");
    let refused = client.acknowledge(with_key(&keys::unit("zhujian"), id)).await.expect_err("twice");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    sandbox.shutdown().await;
}
