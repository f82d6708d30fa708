//! Evaluation through the public APIs: one survey per resolved case, ratings by the platform,
//! the desk and the citizen's one-time link, expiry on the injected clock, and follow-ups.

use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order};
use chrono::Duration as Span;
use serde_json::{Value, json};

pub(crate) async fn dispatches(s: &Sandbox, case_id: &str, n: usize) -> Vec<Value> {
    s.eventually("the case's dispatches", Duration::from_secs(10), || async {
        let (status, list) =
            s.get_json(Service::Routing, &format!("/v1/cases/{case_id}/dispatches"), keys::DISPATCHER).await;
        let list = list.as_array().cloned().unwrap_or_default();
        (status == 200 && list.len() == n).then_some(list)
    })
    .await
}

/// Takes every dispatch of the case through to resolution.
pub(crate) async fn resolve_all(s: &Sandbox, case_id: &str, n: usize) -> Vec<Value> {
    resolve_all_landed(s, case_id, n, "2020-06-30T12:00:00+08:00").await
}

/// Takes every dispatch of the case through to resolution, landing each at `landed`.
pub(crate) async fn resolve_all_landed(s: &Sandbox, case_id: &str, n: usize, landed: &str) -> Vec<Value> {
    let list = dispatches(s, case_id, n).await;
    for d in &list {
        let (id, unit) = (d["dispatch_id"].as_str().expect("id"), d["unit"].as_str().expect("unit"));
        let clerk = keys::unit(unit);
        for (path, key, body) in [
            ("acknowledge", clerk.as_str(), json!({})),
            ("land", clerk.as_str(), json!({"at": landed, "method": "phone"})),
            ("reply", clerk.as_str(), json!({"text": "已处理"})),
            ("review", keys::DISPATCHER, json!({"accept": true})),
            ("resolve", keys::DISPATCHER, json!({})),
        ] {
            let (status, body) =
                s.post_json(Service::Routing, &format!("/v1/dispatches/{id}/{path}"), key, &body).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    list
}

pub(crate) async fn evaluation(s: &Sandbox, case_id: &str, status: &str) -> Value {
    s.eventually(&format!("the evaluation to be {status}"), Duration::from_secs(10), || async {
        let (code, e) = s.get_json(Service::Evaluation, &format!("/v1/evaluations/{case_id}"), keys::EVALUATOR).await;
        (code == 200 && e["status"] == status).then_some(e)
    })
    .await
}

/// Waits until the case's `part` (`case`, `agency` or a unit's code) has `status`.
pub(crate) async fn part(s: &Sandbox, case_id: &str, part: &str, status: &str) -> Value {
    s.eventually(&format!("{part}'s part to be {status}"), Duration::from_secs(10), || async {
        let (code, e) = s.get_json(Service::Evaluation, &format!("/v1/evaluations/{case_id}"), keys::EVALUATOR).await;
        let found = e["parts"].as_array().into_iter().flatten().any(|p| p["part"] == part && p["status"] == status);
        (code == 200 && found).then_some(e)
    })
    .await
}

fn part_of<'a>(e: &'a Value, part: &str) -> Option<&'a Value> {
    e["parts"].as_array()?.iter().find(|p| p["part"] == part)
}

fn mapped<'a>(e: &'a Value, subject: &str) -> Option<&'a str> {
    e["subjects"].as_array()?.iter().find(|s| s["subject"] == subject)?["mapped"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_resolved_by_two_units_and_rated_unsatisfied_is_unsatisfied_twice_in_dispatches_and_once_as_a_case() {
    let sandbox = Sandbox::start().await;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(1, &["zhujian", "shengtaihuanjing"])).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    resolve_all(&sandbox, &case_id, 2).await;
    let due = evaluation(&sandbox, &case_id, "due").await;
    assert_eq!(due["cycle"], 1);

    let (status, rated) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "poor"}),
        )
        .await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(mapped(&rated, "case"), Some("unsatisfied"), "one unsatisfied case");
    assert_eq!(mapped(&rated, "zhujian"), Some("unsatisfied"));
    assert_eq!(mapped(&rated, "shengtaihuanjing"), Some("unsatisfied"), "and two unsatisfied dispatches");

    // The rates count it twice in dispatches and once in cases; both units fall below 98 %.
    let (status, rates) = sandbox
        .get_json(
            Service::Evaluation,
            "/v1/rates?from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00&source=hotline",
            keys::OFFICE,
        )
        .await;
    assert_eq!(status, 200, "{rates}");
    let unsatisfied: u64 =
        rates["units"].as_array().expect("units").iter().filter_map(|u| u["unsatisfied"].as_u64()).sum();
    assert_eq!((unsatisfied, rates["district_unsatisfied_cases"].as_u64()), (2, Some(1)));
    assert_eq!(rates["district_satisfaction"], 0.0);
    assert_eq!(rates["below_satisfaction_target"], json!(["shengtaihuanjing", "zhujian"]));

    // Rating again without a follow-up is refused; the office reads the result.
    let (status, body) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "satisfied"}),
        )
        .await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("evaluation.state")), "{body}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotline_rating_may_name_units() {
    let sandbox = Sandbox::start().await;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(2, &["zhujian", "shengtaihuanjing"])).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    resolve_all(&sandbox, &case_id, 2).await;
    evaluation(&sandbox, &case_id, "due").await;
    let (status, bad) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "great", "unit_levels": {"chengguan": "poor"}}),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> =
        bad["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["level", "unit_levels.chengguan"], "every violation in one answer: {bad}");
    let (status, rated) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "satisfied", "unit_levels": {"zhujian": "poor"}}),
        )
        .await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(
        (mapped(&rated, "zhujian"), mapped(&rated, "shengtaihuanjing")),
        (Some("unsatisfied"), Some("satisfied"))
    );

    sandbox.shutdown().await;
}

/// A petition is rated in parts at their own times (信访工作条例 第二十二条: the office decides,
/// registers and notifies; the units handle): the petition office's part opens with its
/// decision, each unit's with its resolution, and each has its own window, expiry and follow-ups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_petition_rates_the_office_at_its_decision_and_each_unit_at_its_resolution() {
    let sandbox = Sandbox::start().await;
    let petition = |number: &str, units: &[&str]| {
        let matters: Vec<Value> = units
            .iter()
            .map(|u| json!({"category": "construction.renovation", "summary": "违规装修", "target_unit": u}))
            .collect();
        json!({
            "petition_number": number, "received_at": "2020-06-30T09:00:00+08:00", "channel": "letter",
            "purpose": "request_decision", "category": "construction.renovation", "content": "违规装修",
            "location": {"sub_district": "lizhong", "address": "新华路"}, "citizen": {"name": "林碧英", "phone": "13900001111"},
            "matters": matters,
        })
    };
    let rate = |case: String, body: Value| {
        let s = &sandbox;
        async move {
            s.post_json(Service::Evaluation, &format!("/v1/evaluations/{case}/ratings"), keys::EVALUATOR, &body).await
        }
    };
    let (_, p) = sandbox
        .post_json(
            Service::Intake,
            "/v1/petitions",
            keys::DISPATCHER,
            &petition("XF2020EV0001", &["zhujian", "lizhong"]),
        )
        .await;
    let pid = p["case_id"].as_str().expect("id").to_owned();

    // Accepted at the desk: the office's part is due at once, before any unit has done anything.
    let opened = part(&sandbox, &pid, "agency", "due").await;
    assert_eq!(opened["parts"].as_array().map(Vec::len), Some(1), "no unit's part yet: {opened}");
    let (status, body) = rate(pid.clone(), json!({"unit_levels": {"zhujian": "basic"}})).await;
    assert_eq!(
        (status.as_u16(), body["rule"].as_str()),
        (404, Some("evaluation.not_open")),
        "a unit is rated once it resolved: {body}"
    );
    let (status, body) = rate(pid.clone(), json!({"unit_levels": {"chengguan": "basic"}})).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (404, Some("evaluation.not_open")), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.starts_with("unit_levels.chengguan: unit 'chengguan'")),
        "the field and the unit are named: {body}"
    );
    let (status, body) = rate(pid.clone(), json!({})).await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("level")), "{body}");
    let (status, rated) = rate(pid.clone(), json!({"level": "unsatisfied"})).await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(mapped(&rated, "agency"), Some("unsatisfied"));
    assert_eq!(part_of(&rated, "agency").map(|p| p["status"].clone()), Some(json!("rated")));
    let (status, body) = rate(pid.clone(), json!({"level": "satisfied"})).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("evaluation.state")), "rated once: {body}");

    // The office's own step is explained, not re-handled by a unit.
    let follow = |body: Value| {
        let (s, pid) = (&sandbox, pid.clone());
        async move {
            s.post_json(Service::Evaluation, &format!("/v1/evaluations/{pid}/follow-ups"), keys::EVALUATOR, &body).await
        }
    };
    let (status, body) = follow(json!({"outcome": "rehandling", "note": "重办", "part": "agency"})).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("follow_up.agency_rehandling")), "{body}");
    let (status, invited) = follow(json!({"outcome": "explanation", "note": "已解释登记转送程序"})).await;
    assert_eq!(status, 200, "{invited}");
    assert_eq!(part_of(&invited, "agency").map(|p| p["status"].clone()), Some(json!("re_rating_invited")));
    let (status, rerated) = rate(pid.clone(), json!({"level": "basic"})).await;
    assert_eq!(status, 200, "{rerated}");
    assert_eq!(mapped(&rerated, "agency"), Some("basic"), "the second rating stands");

    // Each unit's part opens with its own resolution; the units are rated apart.
    let list = dispatches(&sandbox, &pid, 2).await;
    resolve_all(&sandbox, &pid, 2).await;
    for d in &list {
        part(&sandbox, &pid, d["unit"].as_str().expect("unit"), "due").await;
    }
    let (status, rated) = rate(pid.clone(), json!({"unit_levels": {"zhujian": "satisfied"}})).await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(
        (mapped(&rated, "agency"), mapped(&rated, "zhujian"), mapped(&rated, "lizhong")),
        (Some("basic"), Some("satisfied"), None),
        "{rated}"
    );

    // Each part's window is its own: past lizhong's window, only lizhong's part expires.
    let lizhong = part_of(&rated, "lizhong").cloned().expect("lizhong's part");
    let ends: chrono::DateTime<chrono::Utc> = lizhong["window_ends"].as_str().expect("window").parse().expect("time");
    sandbox.clock.set(ends + Span::minutes(1));
    let (status, ran) =
        sandbox.post_json(Service::Evaluation, "/v1/evaluations/expiry/run", keys::ADMIN, &json!({})).await;
    assert_eq!((status.as_u16(), ran["expired"].as_u64()), (200, Some(1)), "{ran}");
    let (_, after) = sandbox.get_json(Service::Evaluation, &format!("/v1/evaluations/{pid}"), keys::EVALUATOR).await;
    let states: Vec<(String, String)> = after["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (p["part"].as_str().unwrap_or_default().to_owned(), p["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(
        states,
        [
            ("agency".to_owned(), "rated".to_owned()),
            ("lizhong".into(), "expired".into()),
            ("zhujian".into(), "rated".into())
        ],
        "{after}"
    );

    // Reporting counts the office and the units apart: the office rated, a unit rated, a unit expired.
    let period = "from=2020-06-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00";
    let summary = sandbox
        .eventually("reporting to count the parts", Duration::from_secs(10), || async {
            let (_, v) = sandbox
                .get_json(Service::Reporting, &format!("/v1/reports/summary?source=petition&{period}"), keys::OFFICE)
                .await;
            let e = &v["evaluation"];
            // Every figure asserted below: the parts reach reporting on two streams (routing's
            // resolutions, evaluation's ratings and expiries), either one first.
            (e["units"]["expired"] == 1
                && e["agency"]["basic"] == 1
                && e["units"]["due"] == 2
                && e["units"]["satisfied"] == 1)
                .then_some(v)
        })
        .await;
    let e = &summary["evaluation"];
    assert_eq!((e["agency"]["due"].as_u64(), e["agency"]["expired"].as_u64()), (Some(1), Some(0)), "{e}");
    assert_eq!((e["units"]["due"].as_u64(), e["units"]["satisfied"].as_u64()), (Some(2), Some(1)), "{e}");
    assert_eq!(
        (e["agency"]["participation"].as_f64(), e["units"]["participation"].as_f64()),
        (Some(100.0), Some(50.0))
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizens_link_works_once_and_an_unrated_evaluation_expires_on_the_clock() {
    let sandbox = Sandbox::start().await;
    let (_, a) = sandbox.post_order(Some(keys::INTEGRATOR), &order(3, &["zhujian"])).await;
    let (_, b) = sandbox.post_order(Some(keys::INTEGRATOR), &order(4, &["zhujian"])).await;
    let (a, b) = (a["case_id"].as_str().expect("id").to_owned(), b["case_id"].as_str().expect("id").to_owned());
    resolve_all(&sandbox, &a, 1).await;
    resolve_all(&sandbox, &b, 1).await;
    evaluation(&sandbox, &a, "due").await;
    let due_b = evaluation(&sandbox, &b, "due").await;

    let (status, link) = sandbox
        .post_json(Service::Evaluation, &format!("/v1/evaluations/{a}/link"), keys::INTEGRATOR, &json!({}))
        .await;
    assert_eq!(status, 200, "{link}");
    let token = link["token"].as_str().expect("token").to_owned();
    assert!(token.len() >= 43, "256 random bits");
    let rate = |token: String, level: &'static str| {
        let s = &sandbox;
        async move {
            let resp = s
                .http
                .post(s.url(Service::Evaluation, "/v1/ratings"))
                .json(&json!({"token": token, "level": level}))
                .send()
                .await
                .expect("answers");
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, rated) = rate(token.clone(), "very_satisfied").await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(rated["history"][0]["channel"], "citizen");
    let (status, again) = rate(token.clone(), "poor").await;
    assert_eq!((status, again["rule"].as_str()), (404, Some("evaluation.token")), "a token works once: {again}");
    let (status, _) = rate("guessed-token".into(), "poor").await;
    assert_eq!(status, 404);

    // Past its window (7 days from resolution), b expires: still due, never rated.
    let window_ends: chrono::DateTime<chrono::Utc> =
        due_b["window_ends"].as_str().expect("window").parse().expect("time");
    sandbox.clock.set(window_ends + Span::minutes(1));
    let (status, run) =
        sandbox.post_json(Service::Evaluation, "/v1/evaluations/expiry/run", keys::ADMIN, &json!({})).await;
    assert_eq!((status.as_u16(), run["expired"].as_u64()), (200, Some(1)), "{run}");
    let expired = evaluation(&sandbox, &b, "expired").await;
    assert_eq!(expired["subjects"], json!([]), "never counted as rated");
    let (status, body) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{b}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "satisfied"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizens_link_opens_a_page_that_rates_once_without_javascript() {
    let sandbox = Sandbox::start().await;
    let mut with_phone = order(6, &["zhujian"]);
    with_phone["matters"][0]["summary"] = json!("油烟扰民，请回电13812345678");
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &with_phone).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    resolve_all(&sandbox, &case_id, 1).await;
    let due = evaluation(&sandbox, &case_id, "due").await;
    let (status, link) = sandbox
        .post_json(Service::Evaluation, &format!("/v1/evaluations/{case_id}/link"), keys::INTEGRATOR, &json!({}))
        .await;
    assert_eq!(status, 200, "{link}");
    let path = link["path"].as_str().expect("path").to_owned();
    let token = link["token"].as_str().expect("token").to_owned();
    let open = |path: String| {
        let s = &sandbox;
        async move {
            let resp = s.http.get(s.url(Service::Evaluation, &path)).send().await.expect("answers");
            let csp = resp.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).map(str::to_owned);
            (resp.status().as_u16(), csp, resp.text().await.unwrap_or_default())
        }
    };
    let send = |form: Vec<(&'static str, String)>| {
        let s = &sandbox;
        async move {
            let resp = s.http.post(s.url(Service::Evaluation, "/rate")).form(&form).send().await.expect("answers");
            (resp.status().as_u16(), resp.text().await.unwrap_or_default())
        }
    };

    // A petition's page asks for the petition office and each handling unit by name.
    let petition = json!({
        "petition_number": "XF2020EV0101", "received_at": "2020-06-30T09:00:00+08:00", "channel": "letter",
        "purpose": "request_decision", "category": "construction.renovation", "content": "违规装修",
        "location": {"sub_district": "lizhong", "address": "新华路"}, "citizen": {"name": "林碧英", "phone": "13900001112"},
        "matters": [{"category": "construction.renovation", "summary": "违规装修", "target_unit": "zhujian"}],
    });
    let (_, p) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &petition).await;
    let pid = p["case_id"].as_str().expect("id").to_owned();
    resolve_all(&sandbox, &pid, 1).await;
    part(&sandbox, &pid, "zhujian", "due").await;
    let (status, plink) = sandbox
        .post_json(Service::Evaluation, &format!("/v1/evaluations/{pid}/link"), keys::EVALUATOR, &json!({}))
        .await;
    assert_eq!(status, 200, "{plink}");
    let (status, _, page) = open(plink["path"].as_str().expect("path").to_owned()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("对信访部门") && page.contains("对办理单位“区住建局”"), "{page}");
    assert!(page.contains(r#"name="unit.zhujian""#), "{page}");
    let ptoken = plink["token"].as_str().expect("token").to_owned();
    let (status, page) = send(vec![("t", ptoken.clone()), ("level", "satisfied".into())]).await;
    assert_eq!(status, 422, "each unit is rated: {page}");
    assert!(page.contains("请选择：对办理单位“区住建局”的评价"), "{page}");
    let (status, page) =
        send(vec![("t", ptoken), ("level", "satisfied".into()), ("unit.zhujian", "basic".into())]).await;
    assert_eq!(status, 200, "{page}");
    let rated = evaluation(&sandbox, &pid, "rated").await;
    assert_eq!((mapped(&rated, "agency"), mapped(&rated, "zhujian")), (Some("satisfied"), Some("basic")));

    // The link the citizen gets opens a form in Chinese: the masked summary, the scale.
    let (status, csp, page) = open(path.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("油烟扰民，请回电138****5678"), "the summary, its phone masked: {page}");
    assert!(!page.contains("13812345678"));
    for label in ["非常满意", "满意", "基本满意", "不满意", "差", "提交评价"] {
        assert!(page.contains(label), "{label}: {page}");
    }
    assert!(!page.contains("<script"), "no JavaScript needed");
    assert!(csp.is_some_and(|c| c.contains("default-src 'none'")), "scripts refused by the page's policy");

    // Sent without a choice: the same form, saying what is missing, the comment kept.
    let (status, page) = send(vec![("t", token.clone()), ("comment", "师傅很耐心".into())]).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("请选择") && page.contains("师傅很耐心"), "{page}");

    // Sent with a choice and a comment: thanks, and the rating is the citizen's.
    let (status, page) =
        send(vec![("t", token.clone()), ("level", "very_satisfied".into()), ("comment", "师傅很耐心".into())]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("感谢您的评价"), "{page}");
    let rated = evaluation(&sandbox, &case_id, "rated").await;
    assert_eq!(rated["history"][0]["channel"], "citizen");
    assert_eq!(rated["history"][0]["comment"], "师傅很耐心");

    // The link works once: opening or posting it again says so plainly.
    let (status, _, page) = open(path).await;
    assert_eq!(status, 404);
    assert!(page.contains("此评价链接无效或已使用"), "{page}");
    let (status, page) = send(vec![("t", token), ("level", "poor".into())]).await;
    assert_eq!(status, 404, "{page}");

    // A link whose window has closed says that, not that it is invalid.
    let (_, other) = sandbox.post_order(Some(keys::INTEGRATOR), &order(7, &["zhujian"])).await;
    let other = other["case_id"].as_str().expect("id").to_owned();
    resolve_all(&sandbox, &other, 1).await;
    let due_other = evaluation(&sandbox, &other, "due").await;
    let (_, link) = sandbox
        .post_json(Service::Evaluation, &format!("/v1/evaluations/{other}/link"), keys::INTEGRATOR, &json!({}))
        .await;
    let window_ends: chrono::DateTime<chrono::Utc> =
        due_other["window_ends"].as_str().expect("window").parse().expect("time");
    assert!(due["window_ends"].is_string());
    sandbox.clock.set(window_ends + Span::minutes(1));
    let (status, _, page) = open(link["path"].as_str().expect("path").to_owned()).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("评价期已经结束"), "{page}");
    let (status, page) =
        send(vec![("t", link["token"].as_str().expect("token").to_owned()), ("level", "satisfied".into())]).await;
    assert_eq!(status, 410, "a post after the window says so too: {page}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehandling_after_an_unsatisfied_rating_reopens_the_dispatch_and_the_final_rating_counts() {
    let sandbox = Sandbox::start().await;
    let (_, case) = sandbox.post_order(Some(keys::INTEGRATOR), &order(5, &["zhujian"])).await;
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    let list = resolve_all(&sandbox, &case_id, 1).await;
    let dispatch_id = list[0]["dispatch_id"].as_str().expect("id").to_owned();
    evaluation(&sandbox, &case_id, "due").await;
    sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "unsatisfied"}),
        )
        .await;

    // An explanation invites one more rating, which supersedes the first; the history is kept.
    let (status, invited) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/follow-ups"),
            keys::INTEGRATOR,
            &json!({"outcome": "explanation", "note": "解释政策"}),
        )
        .await;
    assert_eq!((status.as_u16(), invited["status"].as_str()), (200, Some("re_rating_invited")), "{invited}");
    let (_, rerated) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "poor"}),
        )
        .await;
    assert_eq!(
        rerated["history"].as_array().map(Vec::len),
        Some(4),
        "two ratings of case and unit, the first superseded"
    );
    let (status, body) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/follow-ups"),
            keys::INTEGRATOR,
            &json!({"outcome": "explanation", "note": "再解释"}),
        )
        .await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (409, Some("follow_up.rerate_once")));

    // Re-handling: routing re-opens the dispatch; after the new resolution the evaluation re-opens once.
    let (status, _) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/follow-ups"),
            keys::INTEGRATOR,
            &json!({"outcome": "rehandling", "note": "答复敷衍，重办"}),
        )
        .await;
    assert_eq!(status, 200);
    sandbox
        .eventually("routing to re-open the dispatch", Duration::from_secs(10), || async {
            let (_, d) =
                sandbox.get_json(Service::Routing, &format!("/v1/dispatches/{dispatch_id}"), keys::DISPATCHER).await;
            (d["state"] == "rehandling").then_some(())
        })
        .await;
    let zj = keys::unit("zhujian");
    for (path, key, body) in [
        ("reply", zj.as_str(), json!({"text": "重新处理完毕"})),
        ("review", keys::DISPATCHER, json!({"accept": true})),
        ("resolve", keys::DISPATCHER, json!({})),
    ] {
        let (status, body) =
            sandbox.post_json(Service::Routing, &format!("/v1/dispatches/{dispatch_id}/{path}"), key, &body).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let reopened = evaluation(&sandbox, &case_id, "due").await;
    assert_eq!(reopened["cycle"], 2);
    let (_, final_rating) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/ratings"),
            keys::INTEGRATOR,
            &json!({"level": "satisfied"}),
        )
        .await;
    assert_eq!(mapped(&final_rating, "zhujian"), Some("satisfied"), "the final rating counts: {final_rating}");
    assert!(
        final_rating["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter(|r| r["superseded"] == false)
            .all(|r| r["cycle"] == 2)
    );
    // Re-opened once only.
    let (status, body) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{case_id}/follow-ups"),
            keys::INTEGRATOR,
            &json!({"outcome": "rehandling", "note": "again"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    sandbox.shutdown().await;
}
