//! Issue 11, as a hostile user and an operator pulling plugs would try it: uploads that cannot
//! hurt, and the findings that came with them, reproduced through the public APIs.

use caseflow::Service;
use caseflow_tests::{Sandbox, keys};

const PERIOD: &str = "from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The 7 KB workbook that used to stop all four services: cells at A1 and XFD1048576 only.
fn far_corner_workbook() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "单位").expect("A1");
    ws.write_string(1_048_575, 16_383, "x").expect("XFD1048576");
    wb.save_to_buffer().expect("workbook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_workbook_is_refused_by_its_bounds_and_the_services_go_on() {
    let sandbox = Sandbox::start().await;
    let path = format!("/v1/reports/reconciliation?{PERIOD}");
    let bomb = far_corner_workbook();
    assert!(bomb.len() < 16 * 1024, "small on the wire: {} bytes", bomb.len());

    // A unit handler may not upload: refused before the body is read.
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::CHENGGUAN, XLSX, bomb.clone()).await;
    assert_eq!(status, 403, "{refused}");

    // The office may, and the sheet's declared size is refused before any grid is made.
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::OFFICE, XLSX, bomb).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["rule"], "upload.rows", "{refused}");
    assert_eq!(refused["errors"][0]["field"], "body", "{refused}");
    assert!(
        refused["errors"][0]["description"].as_str().is_some_and(|m| m.contains("5000")),
        "names the bound: {refused}"
    );

    // A CSV with more fields on a line than any table has.
    let wide = format!("单位{}\n", ",x".repeat(100));
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::OFFICE, "text/csv", wide).await;
    assert_eq!((status.as_u16(), refused["rule"].as_str()), (422, Some("upload.columns")), "{refused}");

    // A body over the bound is refused while it is received.
    let huge = vec![b'x'; 4 * 1024 * 1024 + 10];
    let (status, refused) = sandbox.post_raw(Service::Reporting, &path, keys::OFFICE, "text/csv", huge).await;
    assert_eq!((status.as_u16(), refused["rule"].as_str()), (413, Some("upload.body_bytes")), "{refused}");

    // Every service still answers.
    for service in [Service::Intake, Service::Routing, Service::Evaluation, Service::Reporting] {
        let (status, _, _) = sandbox.get_raw(service, "/health/livez", keys::OFFICE).await;
        assert_eq!(status, 200, "{service:?} is alive");
    }
    sandbox.shutdown().await;
}

/// A petition as the desk registers it, to one unit.
fn petition(number: &str) -> serde_json::Value {
    serde_json::json!({
        "petition_number": number, "received_at": "2020-06-30T09:00:00+08:00", "channel": "letter",
        "purpose": "request_decision", "category": "construction.renovation", "content": "违规装修",
        "location": {"sub_district": "lizhong", "address": "新华路"}, "citizen": {"name": "林碧英", "phone": "13900001111"},
        "matters": [{"category": "construction.renovation", "summary": "违规装修", "target_unit": "zhujian"}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_only_its_own_cases_and_calls() {
    use crate::evaluation::{evaluation, resolve_all};
    use serde_json::json;
    let sandbox = Sandbox::start().await;
    let (_, hotline) = sandbox.post_order(Some(keys::INTEGRATOR), &caseflow_tests::order(1, &["zhujian"])).await;
    let hotline_id = hotline["case_id"].as_str().expect("id").to_owned();
    let (status, p) =
        sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &petition("XF2020LP0001")).await;
    assert_eq!(status, 201, "{p}");
    let petition_id = p["case_id"].as_str().expect("id").to_owned();

    // The importer acting as a dispatcher may not reveal a citizen, nor read a case.
    let importer = |path: &str| {
        sandbox
            .http
            .post(sandbox.url(Service::Intake, path))
            .bearer_auth(keys::IMPORTER)
            .header("x-caseflow-act-as", "dispatcher")
            .json(&json!({"reason": "import check"}))
    };
    let resp = importer(&format!("/v1/cases/{hotline_id}/reveal")).send().await.expect("answers");
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.expect("problem+json");
    assert_eq!(body["rule"], "import.scope", "{body}");
    assert!(!body.to_string().contains("13812341234"), "no citizen data: {body}");
    let resp = sandbox
        .http
        .get(sandbox.url(Service::Intake, &format!("/v1/cases/{hotline_id}")))
        .bearer_auth(keys::IMPORTER)
        .header("x-caseflow-act-as", "dispatcher")
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 403, "the importer reads no case");

    // The integrator reads hotline cases, never a petition, one by one or listed.
    let (status, body) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{petition_id}"), keys::INTEGRATOR).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("scope.source")), "{body}");
    let (status, _) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{hotline_id}"), keys::INTEGRATOR).await;
    assert_eq!(status, 200);
    let (status, listed) = sandbox.get_json(Service::Intake, "/v1/cases", keys::INTEGRATOR).await;
    assert_eq!(status, 200, "{listed}");
    let sources: Vec<&str> =
        listed["cases"].as_array().expect("cases").iter().filter_map(|c| c["source"].as_str()).collect();
    assert_eq!(sources, ["hotline"], "the integrator's list holds no petition");
    let (status, body) = sandbox.get_json(Service::Intake, "/v1/cases?source=petition", keys::INTEGRATOR).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("scope.source")), "{body}");
    let (_, desk) = sandbox.get_json(Service::Intake, "/v1/cases", keys::DISPATCHER).await;
    assert_eq!(desk["cases"].as_array().map(Vec::len), Some(2), "a dispatcher still sees both");

    // Raters are tied to the source: the platform rates hotline cases, the desk petitions.
    resolve_all(&sandbox, &hotline_id, 1).await;
    resolve_all(&sandbox, &petition_id, 1).await;
    evaluation(&sandbox, &hotline_id, "due").await;
    crate::evaluation::part(&sandbox, &petition_id, "zhujian", "due").await;
    let rate = |case: &str, key: &'static str, body: serde_json::Value| {
        let path = format!("/v1/evaluations/{case}/ratings");
        let sandbox = &sandbox;
        async move { sandbox.post_json(Service::Evaluation, &path, key, &body).await }
    };
    let (status, body) =
        rate(&petition_id, keys::INTEGRATOR, json!({"level": "satisfied", "unit_levels": {"zhujian": "basic"}})).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("evaluation.source_role")), "{body}");
    let (status, body) = rate(&hotline_id, keys::EVALUATOR, json!({"level": "poor"})).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("evaluation.source_role")), "{body}");
    let (status, body) = sandbox
        .post_json(Service::Evaluation, &format!("/v1/evaluations/{hotline_id}/link"), keys::EVALUATOR, &json!({}))
        .await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("evaluation.source_role")), "{body}");
    let (status, rated) = rate(&hotline_id, keys::INTEGRATOR, json!({"level": "poor"})).await;
    assert_eq!(status, 200, "{rated}");
    let (status, body) = sandbox
        .post_json(
            Service::Evaluation,
            &format!("/v1/evaluations/{hotline_id}/follow-ups"),
            keys::EVALUATOR,
            &json!({"outcome": "rehandling", "note": "重新办理"}),
        )
        .await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("evaluation.source_role")), "{body}");
    let (status, rated) =
        rate(&petition_id, keys::EVALUATOR, json!({"level": "satisfied", "unit_levels": {"zhujian": "basic"}})).await;
    assert_eq!(status, 200, "{rated}");

    // Nor does the integrator read a petition's evaluation, by REST or by gRPC, nor expire it;
    // its own hotline case it reads.
    let (status, body) =
        sandbox.get_json(Service::Evaluation, &format!("/v1/evaluations/{petition_id}"), keys::INTEGRATOR).await;
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("scope.source")), "{body}");
    assert!(!body.to_string().contains("zhujian"), "nothing of the petition: {body}");
    let (status, _) =
        sandbox.get_json(Service::Evaluation, &format!("/v1/evaluations/{hotline_id}"), keys::INTEGRATOR).await;
    assert_eq!(status, 200);
    let mut evaluation_client =
        caseflow_proto::v1::evaluation_client::EvaluationClient::new(sandbox.channel(Service::Evaluation).await);
    let as_integrator = |case_id: &str| {
        let mut r = tonic::Request::new(caseflow_proto::v1::GetCaseSubjectsRequest { case_id: case_id.to_owned() });
        r.metadata_mut().insert("authorization", format!("Bearer {}", keys::INTEGRATOR).parse().expect("header"));
        r
    };
    let refused = evaluation_client.get_case_subjects(as_integrator(&petition_id)).await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert_eq!(caseflow_runtime::error::status_rule(&refused).as_deref(), Some("scope.source"));
    let subjects = evaluation_client.get_case_subjects(as_integrator(&hotline_id)).await.expect("its own case");
    assert_eq!(subjects.into_inner().units, ["zhujian"]);
    let mut expire =
        tonic::Request::new(caseflow_proto::v1::ExpireRequest { case_id: petition_id.clone(), part: String::new() });
    expire.metadata_mut().insert("authorization", format!("Bearer {}", keys::INTEGRATOR).parse().expect("header"));
    let refused = evaluation_client.expire(expire).await.expect_err("refused");
    assert_eq!(caseflow_runtime::error::status_rule(&refused).as_deref(), Some("evaluation.source_role"));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_and_places_outside_the_districts_records_are_refused_by_name() {
    use caseflow_proto::v1 as pb;
    use serde_json::json;
    let sandbox = Sandbox::start().await;
    let with = |n: usize, f: &dyn Fn(&mut serde_json::Value)| {
        let mut o = caseflow_tests::order(n, &["zhujian"]);
        f(&mut o);
        o
    };
    // Dated before the district's first records, or in 2099.
    for (n, at, says) in [(1, "1900-01-01T09:00:00+08:00", "first records"), (2, "2099-01-01T09:00:00+08:00", "future")]
    {
        let (status, body) =
            sandbox.post_order(Some(keys::INTEGRATOR), &with(n, &|o| o["received_at"] = json!(at))).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], "received_at", "{body}");
        assert!(body["errors"][0]["description"].as_str().is_some_and(|d| d.contains(says)), "{body}");
    }
    // Coordinates outside the district's box, though valid WGS 84 (Beijing).
    let (status, body) = sandbox
        .post_order(
            Some(keys::INTEGRATOR),
            &with(3, &|o| o["location"]["coordinates"] = json!({"lat": 39.9, "lon": 116.4})),
        )
        .await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("location.coordinates")), "{body}");
    let (status, body) = sandbox
        .post_order(
            Some(keys::INTEGRATOR),
            &with(4, &|o| o["location"]["coordinates"] = json!({"lat": 24.91, "lon": 118.59})),
        )
        .await;
    assert_eq!(status, 201, "a place inside the district is taken: {body}");

    // Over gRPC, a latitude of 999 with no longitude used to be stored as no coordinates at all.
    let mut intake = pb::intake_client::IntakeClient::new(sandbox.channel(Service::Intake).await);
    let mut order = caseflow_tests::grpc_order("GD-GRPC-LAT");
    order.location =
        Some(pb::Location { sub_district: "lizhong".into(), address: "新华路".into(), lat: Some(999.0), lon: None });
    let mut request = tonic::Request::new(pb::SubmitHotlineOrderRequest { order: Some(order) });
    request.metadata_mut().insert("authorization", format!("Bearer {}", keys::INTEGRATOR).parse().expect("header"));
    let refused = intake.submit_hotline_order(request).await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let message = refused.message();
    assert!(message.contains("location.coordinates.lat") && message.contains("location.coordinates.lon"), "{message}");

    // The importer may not say an event happened in the future, nor before the first records.
    let mut request = tonic::Request::new(pb::SubmitHotlineOrderRequest::default());
    request.metadata_mut().insert("authorization", format!("Bearer {}", keys::IMPORTER).parse().expect("header"));
    request.metadata_mut().insert("x-caseflow-act-as", "integrator".parse().expect("header"));
    request.metadata_mut().insert("x-caseflow-event-time", "2099-03-02T09:30:00+08:00".parse().expect("header"));
    let refused = intake.submit_hotline_order(request).await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("x-caseflow-event-time"), "{refused:?}");

    // Report periods are bounded too: `to=9999-12-31` is refused instead of answering zeros.
    let (status, body) = sandbox
        .get_json(
            Service::Reporting,
            "/v1/reports/attachment-2?from=2020-01-01T00:00:00%2B08:00&to=9999-12-31T00:00:00%2B08:00",
            keys::OFFICE,
        )
        .await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("to")), "{body}");
    let (status, body) = sandbox
        .get_json(
            Service::Reporting,
            "/v1/reports/summary?source=hotline&from=1900-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00",
            keys::OFFICE,
        )
        .await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("from")), "{body}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_framework_refuses_is_problem_json_too() {
    let sandbox = Sandbox::start().await;
    let send = |method: reqwest::Method, service: Service, path: &str| {
        sandbox.http.request(method, sandbox.url(service, path)).bearer_auth(keys::ADMIN)
    };
    let cases = [
        // A path segment that is not UTF-8.
        (send(reqwest::Method::GET, Service::Intake, "/v1/cases/%FF%FE"), 400),
        // An integer path segment too large for its type.
        (
            send(reqwest::Method::PATCH, Service::Intake, "/v1/leader-receptions/r1/matters/99999999999999999999")
                .json(&serde_json::json!({"outcome": "resolved"})),
            400,
        ),
        // A method the route does not have.
        (send(reqwest::Method::DELETE, Service::Intake, "/v1/cases"), 405),
        // No such route.
        (send(reqwest::Method::GET, Service::Routing, "/v1/nothing-here"), 404),
    ];
    for (request, status) in cases {
        let resp = request.send().await.expect("answers");
        let url = resp.url().to_string();
        assert_eq!(resp.status().as_u16(), status, "{url}");
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(content_type, "application/problem+json", "{url}");
        let body: serde_json::Value = resp.json().await.expect("JSON");
        assert_eq!(body["status"], status, "{url}: {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{url}: {body}");
    }
    sandbox.shutdown().await;
}

/// Attachment 1's row of `unit`: due and expired.
async fn a1_row(sandbox: &Sandbox, unit: &str) -> (u64, u64) {
    let path = "/v1/reports/attachment-1?from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00";
    let (status, a1) = sandbox.get_json(Service::Reporting, path, keys::OFFICE).await;
    assert_eq!(status, 200, "{a1}");
    let row = a1["departments"]
        .as_array()
        .into_iter()
        .chain(a1["sub_districts"].as_array())
        .flatten()
        .find(|r| r["unit"] == unit)
        .cloned()
        .unwrap_or_default();
    (row["due"].as_u64().unwrap_or(0), row["expired"].as_u64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_as_of_a_moment_is_the_same_before_and_after_the_expiry_job_runs() {
    use crate::evaluation::{evaluation, resolve_all};
    let sandbox = Sandbox::start().await;
    let (status, p) =
        sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &petition("XF2020EX0001")).await;
    assert_eq!(status, 201, "{p}");
    let id = p["case_id"].as_str().expect("id").to_owned();
    resolve_all(&sandbox, &id, 1).await;
    evaluation(&sandbox, &id, "due").await;
    sandbox
        .eventually("reporting to hold the due evaluation", std::time::Duration::from_secs(10), || async {
            (a1_row(&sandbox, "zhujian").await == (1, 0)).then_some(())
        })
        .await;

    // The 30-day window closes; the expiry job (hourly in the sandbox) has not run.
    sandbox.clock.advance(chrono::Duration::days(31));
    assert_eq!(a1_row(&sandbox, "zhujian").await, (1, 1), "expired as of now, recorded or not");
    let rates = "/v1/rates?from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00&source=petition";
    let (_, before) = sandbox.get_json(Service::Evaluation, rates, keys::OFFICE).await;

    // The job records what the derivation already said: nothing moves.
    let (status, ran) =
        sandbox.post_json(Service::Evaluation, "/v1/evaluations/expiry/run", keys::ADMIN, &serde_json::json!({})).await;
    assert_eq!(status, 200, "{ran}");
    evaluation(&sandbox, &id, "expired").await;
    sandbox.settled().await;
    assert_eq!(a1_row(&sandbox, "zhujian").await, (1, 1), "the same figures after the job");
    let (_, after) = sandbox.get_json(Service::Evaluation, rates, keys::OFFICE).await;
    assert_eq!(before, after, "evaluation's own rates agree before and after the job");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_state_what_the_servers_take() {
    use serde_json::json;
    let sandbox = Sandbox::start().await;
    let (_, doc) = sandbox.get_json(Service::Intake, "/openapi.json", keys::ADMIN).await;
    let (_, taxonomy) = sandbox.get_json(Service::Intake, "/v1/taxonomy", keys::ADMIN).await;
    let schemas = &doc["components"]["schemas"];

    // The deployment's codes are the fields' enums: the taxonomy's level-2 codes, the district's
    // sub-districts, its coordinate box.
    let mut leaves: Vec<String> = taxonomy["taxonomy"]["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .flat_map(|c| {
            let code = c["code"].as_str().unwrap_or_default().to_owned();
            c["subcategories"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |s| format!("{code}.{}", s["code"].as_str().unwrap_or_default()))
        })
        .collect();
    leaves.sort();
    let listed = |v: &serde_json::Value| -> Vec<String> {
        let mut l: Vec<String> =
            v.as_array().expect("an enum").iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
        l.sort();
        l
    };
    for schema in ["OrderInput", "PetitionInput", "MatterInput"] {
        assert_eq!(listed(&schemas[schema]["properties"]["category"]["enum"]), leaves, "{schema}.category");
    }
    let mut sub_districts: Vec<String> = taxonomy["district"]["sub_districts"]
        .as_array()
        .expect("sub-districts")
        .iter()
        .filter_map(|s| s["code"].as_str().map(str::to_owned))
        .collect();
    sub_districts.sort();
    assert_eq!(listed(&schemas["LocationInput"]["properties"]["sub_district"]["enum"]), sub_districts);
    assert!(schemas["LocationInput"]["required"].as_array().is_some_and(|r| r.contains(&json!("sub_district"))));
    assert_eq!(schemas["Coordinates"]["properties"]["lat"]["minimum"], taxonomy["district"]["bounds"]["south"]);
    assert_eq!(schemas["Coordinates"]["properties"]["lon"]["maximum"], taxonomy["district"]["bounds"]["east"]);
    // A closed list is an enum, lengths and formats are stated.
    assert_eq!(
        listed(&schemas["PetitionInput"]["properties"]["channel"]["enum"]),
        ["leader_mailbox", "letter", "online_complaint", "visit"]
    );
    assert_eq!(schemas["OrderInput"]["properties"]["content"]["maxLength"], 4000);
    assert_eq!(schemas["OrderInput"]["properties"]["received_at"]["format"], "date-time");
    let watch = doc["paths"]["/v1/watch"]["get"]["parameters"].as_array().expect("parameters");
    let status = watch.iter().find(|p| p["name"] == "status").expect("status");
    assert_eq!((status["in"].as_str(), status["required"].as_bool()), (Some("query"), Some(false)));
    assert_eq!(listed(&status["schema"]["enum"]), ["in_progress", "open", "resolved"]);

    // A whole number written as JSON Schema's integer allows (5.0) is taken as one: the visit
    // counts as a collective one; a fraction is refused by name.
    let mut visit = petition("XF2020LP0002");
    visit["channel"] = json!("visit");
    visit["visit"] = json!({"batches": 1.0, "persons": 5.0});
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &visit).await;
    assert_eq!(status, 201, "{case}");
    let (_, watched) = sandbox.get_json(Service::Intake, "/v1/watch?reason=collective_visit", keys::DISPATCHER).await;
    assert_eq!(watched.as_array().map(Vec::len), Some(1), "a collective visit of five: {watched}");
    visit["petition_number"] = json!("XF2020LP0003");
    visit["visit"] = json!({"batches": 1, "persons": 5.5});
    let (status, refused) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &visit).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("visit.persons") && refused.to_string().contains("whole number"), "{refused}");

    // Routing: each text states its own bound; a unit in the path that does not exist is not
    // found, a successor that does not exist is a refused field.
    let (_, routing) = sandbox.get_json(Service::Routing, "/openapi.json", keys::ADMIN).await;
    let body_of = |path: &str| {
        let r = &routing["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
        let name = r.as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
        routing["components"]["schemas"][name].clone()
    };
    assert_eq!(body_of("/v1/dispatches/{id}/reply")["properties"]["text"]["maxLength"], 4000);
    assert_eq!(body_of("/v1/dispatches/{id}/supervision")["properties"]["text"]["maxLength"], 1000);
    assert!(
        body_of("/v1/matters/{id}/designation")["required"].as_array().is_some_and(|r| r.contains(&json!("basis")))
    );
    let succession = json!({"status": "merged", "successor": "kaiyuan", "reason": "机构改革"});
    let (status, body) =
        sandbox.post_json(Service::Routing, "/v1/units/no_such_unit/succession", keys::ADMIN, &succession).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = sandbox
        .post_json(
            Service::Routing,
            "/v1/units/chengguan/succession",
            keys::ADMIN,
            &json!({"status": "merged", "successor": "no_such_unit", "reason": "机构改革"}),
        )
        .await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("successor")), "{body}");
    sandbox.shutdown().await;
}
