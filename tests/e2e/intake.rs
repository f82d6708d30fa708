//! Intake through its public APIs: exactly-once intake, petitions, repeats, the watch ledger,
//! masking and reveal, leader receptions, and the case list.

use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order, petition};
use reqwest::Method;
use serde_json::{Value, json};

async fn case_count(sandbox: &Sandbox) -> usize {
    let (status, page) = sandbox.get_json(Service::Intake, "/v1/cases?limit=500", keys::ADMIN).await;
    assert_eq!(status, 200, "{page}");
    page["cases"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_order_posted_100_times_concurrently_is_one_case() {
    let sandbox = Sandbox::start().await;
    let body = order(42, &["chengguan", "zhujian"]);
    let posts = (0..100).map(|_| {
        let (s, b) = (&sandbox, &body);
        async move { s.post_order(Some(keys::INTEGRATOR), b).await }
    });
    let results = futures::future::join_all(posts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let existing = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, existing), (1, 99), "one creation, 99 answers with the existing case");
    let ids: std::collections::BTreeSet<&str> = results.iter().filter_map(|(_, b)| b["case_id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "every answer names the same case");
    assert_eq!(case_count(&sandbox).await, 1);
    // Two matters: two routing inputs, two dispatches, and no more.
    sandbox
        .eventually("both matters dispatched", Duration::from_secs(10), || async {
            (sandbox.counted_dispatches().await == 2).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sandbox.counted_dispatches().await, 2);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_to_an_order_is_the_case_as_a_later_read_returns_it() {
    let sandbox = Sandbox::start().await;
    // Nanoseconds in the receipt time: the case is answered as stored (microseconds), not as sent.
    let mut body = order(11, &["chengguan"]);
    body["received_at"] = json!("2020-03-02T09:30:00.123456789+08:00");
    let (status, created) = sandbox.post_order(Some(keys::INTEGRATOR), &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["case_id"].as_str().expect("case id").to_owned();
    let (status, read) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{id}"), keys::INTEGRATOR).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(created, read, "the answer and a later read agree");
    let received = created["received_at"].as_str().unwrap_or_default();
    assert!(received.starts_with("2020-03-02T01:30:00.123456") && !received.contains("789"), "{received}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_resend_is_a_conflict_naming_the_fields() {
    let sandbox = Sandbox::start().await;
    let original = order(7, &["chengguan"]);
    assert_eq!(sandbox.post_order(Some(keys::INTEGRATOR), &original).await.0, 201);
    let mut changed = original.clone();
    changed["content"] = json!("内容改了");
    changed["citizen"]["phone"] = json!("13900009999");
    changed["matters"][0]["target_unit"] = json!("zhujian");
    let (status, body) = sandbox.post_order(Some(keys::INTEGRATOR), &changed).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "already_exists");
    let fields: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["citizen.phone", "content", "matters[0].target_unit"]);
    assert!(!body.to_string().contains("13900009999"), "the conflict does not echo personal data");
    assert_eq!(case_count(&sandbox).await, 1);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_of_six_persons_is_collective_and_on_the_watch_ledger() {
    let sandbox = Sandbox::start().await;
    let mut visit = petition(1, "visit");
    visit["visit"] = json!({"batches": 1, "persons": 6});
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &visit).await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(case["petition"]["collective"], true);
    assert_eq!(case["petition"]["visit_persons"], 6);

    let mut small = petition(2, "visit");
    small["visit"] = json!({"batches": 1, "persons": 4});
    small["category"] = json!("labour.wage_arrears");
    small["matters"][0]["category"] = json!("labour.wage_arrears");
    let (_, small_case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &small).await;
    assert_eq!(small_case["petition"]["collective"], false, "four persons is not collective");

    let (status, ledger) =
        sandbox.get_json(Service::Intake, "/v1/watch?reason=collective_visit", keys::DISPATCHER).await;
    assert_eq!(status, 200);
    let items = ledger.as_array().expect("list");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["case_id"], case["case_id"]);
    assert_eq!(items[0]["status"], "open");

    // Staff follow it up to resolution.
    let watch_id = items[0]["watch_id"].as_str().expect("id").to_owned();
    let (status, updated) = sandbox
        .send_json(
            Method::PATCH,
            Service::Intake,
            &format!("/v1/watch/{watch_id}"),
            keys::DISPATCHER,
            &json!({"status": "resolved", "note": "三见面后化解"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], "resolved");
    let (status, bad) = sandbox
        .send_json(
            Method::PATCH,
            Service::Intake,
            &format!("/v1/watch/{watch_id}"),
            keys::DISPATCHER,
            &json!({"status": "done", "note": "x"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(bad["errors"][0]["field"], "status");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joint_letters_and_threats_are_on_the_watch_ledger() {
    let sandbox = Sandbox::start().await;
    let mut letter = petition(3, "letter");
    letter["joint_letter"] = json!({"signers": 12});
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &letter).await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["case_id"].as_str().expect("id");
    let (status, flagged) = sandbox
        .post_json(
            Service::Intake,
            &format!("/v1/cases/{case_id}/threat"),
            keys::EVALUATOR,
            &json!({"note": "扬言到市政府上访"}),
        )
        .await;
    assert_eq!(status, 200, "{flagged}");
    let (_, ledger) = sandbox.get_json(Service::Intake, "/v1/watch", keys::OFFICE).await;
    let mut reasons: Vec<&str> = ledger.as_array().expect("list").iter().filter_map(|i| i["reason"].as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["joint_letter", "threat"]);
    let (status, _) = sandbox
        .post_json(Service::Intake, &format!("/v1/cases/{case_id}/threat"), keys::OFFICE, &json!({"note": "x"}))
        .await;
    assert_eq!(status, 403, "the efficiency office reads the ledger but does not keep it");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_case_from_the_same_phone_about_the_same_matter_is_a_repeat() {
    let sandbox = Sandbox::start().await;
    let (_, first) =
        sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &petition(10, "letter")).await;
    assert_eq!(first["is_first"], true);

    // Same phone written differently, no ID number, a week later: a repeat of the first.
    let mut again = petition(11, "visit");
    again["received_at"] = json!("2020-03-10T10:00:00+08:00");
    again["citizen"] = json!({"name": "庄雅滨", "phone": "+86 139-5900-1234"});
    let (status, second) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &again).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["is_first"], false);
    assert_eq!(second["repeat_of"], first["case_id"]);

    // A third links to the first of the chain, not to the second.
    let mut third = petition(12, "letter");
    third["received_at"] = json!("2020-04-01T10:00:00+08:00");
    let (_, third) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &third).await;
    assert_eq!(third["repeat_of"], first["case_id"]);

    // Another matter from the same person is a first case of its own.
    let mut other = petition(13, "letter");
    other["category"] = json!("labour.wage_arrears");
    other["matters"][0]["category"] = json!("labour.wage_arrears");
    let (_, other) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &other).await;
    assert_eq!(other["is_first"], true);

    // The repeat visit is on the ledger; the person heads the repeat-petitioner list, masked.
    let (_, ledger) = sandbox.get_json(Service::Intake, "/v1/watch?reason=repeat_visit", keys::DISPATCHER).await;
    assert_eq!(ledger.as_array().map(Vec::len), Some(1));
    let (status, list) = sandbox
        .get_json(
            Service::Intake,
            "/v1/repeat-petitioners?from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00",
            keys::OFFICE,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["cases"], 4);
    assert_eq!(list[0]["name"], "庄**");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_linked_case_is_a_repeat_and_an_unknown_link_is_refused() {
    let sandbox = Sandbox::start().await;
    let (_, first) = sandbox.post_order(Some(keys::INTEGRATOR), &order(1, &["chengguan"])).await;
    let mut linked = order(2, &["chengguan"]);
    linked["citizen"] = json!({"name": "林碧英", "phone": "13900001111"});
    linked["category"] = json!("ecology.noise");
    linked["related_case_id"] = first["case_id"].clone();
    let (status, second) = sandbox.post_order(Some(keys::INTEGRATOR), &linked).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["repeat_of"], first["case_id"]);

    let mut dangling = order(3, &["chengguan"]);
    dangling["related_case_id"] = json!("0000-0000");
    let (status, body) = sandbox.post_order(Some(keys::INTEGRATOR), &dangling).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "related_case_id");
    assert_eq!(case_count(&sandbox).await, 2, "the refused case was not stored");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizen_data_is_masked_and_every_reveal_is_logged_and_scoped() {
    let sandbox = Sandbox::start().await;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(5, &["chengguan"])).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    let (_, hidden) = sandbox
        .post_order(Some(keys::INTEGRATOR), &{
            let mut o = order(6, &["chengguan"]);
            o["citizen"]["hide_identity"] = json!(true);
            o
        })
        .await;
    assert_eq!(hidden["citizen"]["name"], Value::Null, "a hidden identity shows nothing");
    let hidden_id = hidden["case_id"].as_str().expect("id").to_owned();

    let reveal = |key: &'static str, id: String, reason: &'static str| {
        let s = &sandbox;
        async move { s.post_json(Service::Intake, &format!("/v1/cases/{id}/reveal"), key, &json!({"reason": reason})).await }
    };
    let (status, body) = reveal(keys::ADMIN, case_id.clone(), "").await;
    assert_eq!(status, 422, "a reveal needs a reason: {body}");
    let (status, clear) = reveal(keys::ADMIN, case_id.clone(), "回访核实诉求").await;
    assert_eq!(status, 200, "{clear}");
    assert_eq!(clear["phone"], "13812341234");
    assert_eq!(clear["name"], "陈建红");
    let (status, _) = reveal(keys::OFFICE, case_id.clone(), "统计核对").await;
    assert_eq!(status, 403, "the efficiency office may not reveal");
    let (status, log) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{case_id}/reveals"), keys::OFFICE).await;
    assert_eq!(status, 200, "{log}");
    let log = log.as_array().expect("list");
    assert_eq!(log.len(), 1, "one reveal happened; the refused ones are not logged as reveals");
    assert_eq!((log[0]["actor"].as_str(), log[0]["reason"].as_str()), (Some("operator"), Some("回访核实诉求")));

    // The unit the case went to may reveal once routing has dispatched it; not a hidden identity.
    sandbox
        .eventually("the case to be dispatched to chengguan", Duration::from_secs(10), || async {
            let (s, _) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{case_id}"), keys::CHENGGUAN).await;
            (s == 200).then_some(())
        })
        .await;
    let (status, clear) = reveal(keys::CHENGGUAN, case_id.clone(), "联系诉求人落地核实").await;
    assert_eq!(status, 200, "{clear}");
    sandbox
        .eventually("the hidden case to be dispatched", Duration::from_secs(10), || async {
            let (s, _) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{hidden_id}"), keys::CHENGGUAN).await;
            (s == 200).then_some(())
        })
        .await;
    let (status, body) = reveal(keys::CHENGGUAN, hidden_id.clone(), "联系诉求人").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["rule"], "privacy.withheld");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accusation_never_goes_to_the_accused_and_hides_the_accuser_from_units() {
    let sandbox = Sandbox::start().await;
    let mut accusation = petition(20, "letter");
    accusation["purpose"] = json!("accusation");
    accusation["accused_unit"] = json!("chengguan");
    accusation["matters"][0]["target_unit"] = json!("chengguan");
    let (status, body) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &accusation).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "matters[0].target_unit");

    accusation["matters"][0]["target_unit"] = json!("zhujian");
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &accusation).await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    sandbox
        .eventually("the accusation dispatched", Duration::from_secs(10), || async {
            let (_, c) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{case_id}"), keys::ADMIN).await;
            (c["status"] == "dispatched").then_some(())
        })
        .await;
    let (status, _) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{case_id}"), keys::CHENGGUAN).await;
    assert_eq!(status, 403, "the accused unit never sees the case");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_are_listed_by_filter_a_page_at_a_time() {
    let sandbox = Sandbox::start().await;
    for n in 0..5 {
        let mut o = order(n, &["chengguan"]);
        o["received_at"] = json!(format!("2020-03-0{}T09:00:00+08:00", n + 1));
        assert_eq!(sandbox.post_order(Some(keys::INTEGRATOR), &o).await.0, 201);
    }
    assert_eq!(
        sandbox.post_json(Service::Intake, "/v1/petitions", keys::INTEGRATOR, &petition(1, "letter")).await.0,
        201
    );

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/cases?source=hotline&limit=2{cursor}");
        let (status, page) = sandbox.get_json(Service::Intake, &path, keys::DISPATCHER).await;
        assert_eq!(status, 200, "{page}");
        for c in page["cases"].as_array().expect("cases") {
            seen.push(c["external_ref"].as_str().expect("ref").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|n| format!("GD2020{n:08}")).collect();
    assert_eq!(seen, expected, "every hotline case once, oldest first");

    let (_, march2) = sandbox
        .get_json(
            Service::Intake,
            "/v1/cases?from=2020-03-02T00:00:00%2B08:00&to=2020-03-04T00:00:00%2B08:00",
            keys::DISPATCHER,
        )
        .await;
    assert_eq!(march2["cases"].as_array().map(Vec::len), Some(3), "two work orders and the petition of 3 March");
    let (_, level1) = sandbox.get_json(Service::Intake, "/v1/cases?category=construction", keys::DISPATCHER).await;
    assert_eq!(level1["cases"].as_array().map(Vec::len), Some(1), "a level-1 code matches its subcategories");
    let (_, letters) =
        sandbox.get_json(Service::Intake, "/v1/cases?channel=letter&sub_district=lizhong", keys::DISPATCHER).await;
    assert_eq!(letters["cases"].as_array().map(Vec::len), Some(1));
    let (status, bad) = sandbox.get_json(Service::Intake, "/v1/cases?status=lost&limit=0", keys::DISPATCHER).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> =
        bad["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["status", "limit"]);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_receptions_add_up_as_the_bulletin_counts_them() {
    let sandbox = Sandbox::start().await;
    let reception = |n: usize, persons: i32, outcomes: &[&str]| {
        json!({
            "reception_number": format!("LD2020{n:04}"),
            "leader_name": "王区长",
            "leader_title": "区长",
            "received_at": format!("2020-0{}-15T09:00:00+08:00", n + 1),
            "persons": persons,
            "matters": outcomes.iter().map(|o| json!({"summary": "拆迁安置", "outcome": o})).collect::<Vec<_>>(),
        })
    };
    let (status, first) = sandbox
        .post_json(Service::Intake, "/v1/leader-receptions", keys::EVALUATOR, &reception(1, 3, &["solved_on_spot"]))
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        sandbox
            .post_json(Service::Intake, "/v1/leader-receptions", keys::EVALUATOR, &reception(1, 3, &["solved_on_spot"]))
            .await
            .0,
        200,
        "the same reception again is not counted twice"
    );
    let (_, second) = sandbox
        .post_json(
            Service::Intake,
            "/v1/leader-receptions",
            keys::EVALUATOR,
            &reception(2, 2, &["in_progress", "resolved"]),
        )
        .await;
    let id = second["reception_id"].as_str().expect("id");
    let (status, _) = sandbox
        .send_json(
            Method::PATCH,
            Service::Intake,
            &format!("/v1/leader-receptions/{id}/matters/1"),
            keys::EVALUATOR,
            &json!({"outcome": "resolved"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, summary) = sandbox
        .get_json(
            Service::Intake,
            "/v1/leader-receptions?from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00",
            keys::OFFICE,
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!((&summary["batches"], &summary["persons"], &summary["matters"]), (&json!(2), &json!(5), &json!(3)));
    assert_eq!(
        (&summary["solved_on_spot"], &summary["resolved"], &summary["in_progress"]),
        (&json!(1), &json!(2), &json!(0))
    );

    // Reporting counts the same from intake's events, for the petition summary.
    let receptions = sandbox
        .eventually("reporting to count the receptions", Duration::from_secs(10), || async {
            let (_, s) = sandbox
                .get_json(
                    Service::Reporting,
                    "/v1/reports/summary?source=petition&from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00",
                    keys::OFFICE,
                )
                .await;
            let r = s["leader_receptions"].clone();
            (r["resolved"] == 2).then_some(r)
        })
        .await;
    assert_eq!(
        receptions,
        json!({"batches": 2, "persons": 5, "matters": 3, "solved_on_spot": 1, "resolved": 2, "in_progress": 0})
    );
    sandbox.shutdown().await;
}
