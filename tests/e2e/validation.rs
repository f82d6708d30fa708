//! Bad input, one field at a time: each gets a clear 4xx naming the field and the rule, and
//! nothing is stored.

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order, petition};
use serde_json::{Value, json};

struct Bad {
    what: &'static str,
    path: &'static str,
    body: Value,
    status: u16,
    /// The field the error must name ("" for body-level errors).
    field: &'static str,
    /// Words the message must contain (the rule).
    rule: &'static str,
}

fn with(base: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = base.clone();
    edit(&mut v);
    v
}

fn cases() -> Vec<Bad> {
    let o = order(1, &["chengguan"]);
    let p = petition(1, "letter");
    let bad = |what, body, field, rule| Bad { what, path: "/v1/hotline/orders", body, status: 422, field, rule };
    let bad_p = |what, body, field, rule| Bad { what, path: "/v1/petitions", body, status: 422, field, rule };
    vec![
        bad("empty order number", with(&o, |v| v["order_number"] = json!("")), "order_number", "is required"),
        bad("order number with a space", with(&o, |v| v["order_number"] = json!("GD 1")), "order_number", "A-Z"),
        bad("order number too long", with(&o, |v| v["order_number"] = json!("G".repeat(65))), "order_number", "1-64"),
        bad("no receipt time", with(&o, |v| v["received_at"] = json!("")), "received_at", "is required"),
        bad(
            "receipt time without offset",
            with(&o, |v| v["received_at"] = json!("2020-03-02 09:30")),
            "received_at",
            "RFC 3339",
        ),
        bad(
            "receipt time in the future",
            with(&o, |v| v["received_at"] = json!("2030-01-01T00:00:00+08:00")),
            "received_at",
            "future",
        ),
        bad("unknown channel", with(&o, |v| v["channel"] = json!("fax")), "channel", "'fax' is not one of"),
        bad("no channel", with(&o, |v| v["channel"] = json!("")), "channel", "is required"),
        bad("unknown kind", with(&o, |v| v["kind"] = json!("rant")), "kind", "'rant' is not one of"),
        bad(
            "category not in the taxonomy",
            with(&o, |v| v["category"] = json!("X99")),
            "category",
            "category 'X99' is not in the taxonomy; see GET /v1/taxonomy",
        ),
        bad("level-1 category", with(&o, |v| v["category"] = json!("urban_management")), "category", "level-1"),
        bad("empty content", with(&o, |v| v["content"] = json!("  ")), "content", "is required"),
        bad(
            "content over 4000 characters",
            with(&o, |v| v["content"] = json!("油".repeat(4001))),
            "content",
            "at most 4000 characters",
        ),
        bad(
            "control character in content",
            with(&o, |v| v["content"] = json!("油烟\u{7}")),
            "content",
            "control characters",
        ),
        bad(
            "unknown sub-district",
            with(&o, |v| v["location"]["sub_district"] = json!("nowhere")),
            "location.sub_district",
            "not in district",
        ),
        bad(
            "no sub-district",
            with(&o, |v| v["location"]["sub_district"] = json!("")),
            "location.sub_district",
            "is required",
        ),
        bad(
            "address too long",
            with(&o, |v| v["location"]["address"] = json!("路".repeat(201))),
            "location.address",
            "at most 200",
        ),
        bad(
            "latitude out of range",
            with(&o, |v| v["location"]["coordinates"] = json!({"lat": 91.0, "lon": 118.6})),
            "location.coordinates.lat",
            "between -90 and 90",
        ),
        bad(
            "longitude out of range",
            with(&o, |v| v["location"]["coordinates"] = json!({"lat": 24.9, "lon": -181.0})),
            "location.coordinates.lon",
            "between -180 and 180",
        ),
        bad(
            "no name for a named citizen",
            with(&o, |v| v["citizen"]["name"] = json!("")),
            "citizen.name",
            "is required",
        ),
        bad(
            "no phone for a named citizen",
            with(&o, |v| v["citizen"]["phone"] = json!("")),
            "citizen.phone",
            "unless citizen.anonymous",
        ),
        bad(
            "phone too short",
            with(&o, |v| v["citizen"]["phone"] = json!("12345")),
            "citizen.phone",
            "mainland mobile",
        ),
        bad(
            "phone with letters",
            with(&o, |v| v["citizen"]["phone"] = json!("1381234123a")),
            "citizen.phone",
            "digits",
        ),
        bad(
            "ID number with a wrong check digit",
            with(&o, |v| v["citizen"]["id_number"] = json!("110105194912310021")),
            "citizen.id_number",
            "check character",
        ),
        bad(
            "ID number with an impossible birth date",
            with(&o, |v| v["citizen"]["id_number"] = json!("110105194913310029")),
            "citizen.id_number",
            "birth date",
        ),
        bad(
            "ID number too short",
            with(&o, |v| v["citizen"]["id_number"] = json!("1101051949")),
            "citizen.id_number",
            "18 characters",
        ),
        bad("no matters", with(&o, |v| v["matters"] = json!([])), "matters", "at least one matter"),
        bad(
            "eleven matters",
            with(&o, |v| v["matters"] = json!(vec![o["matters"][0].clone(); 11])),
            "matters",
            "at most 10 matters",
        ),
        bad(
            "matter category not in the taxonomy",
            with(&o, |v| v["matters"][0]["category"] = json!("X99")),
            "matters[0].category",
            "not in the taxonomy",
        ),
        bad(
            "empty matter summary",
            with(&o, |v| v["matters"][0]["summary"] = json!("")),
            "matters[0].summary",
            "is required",
        ),
        bad(
            "target unit that is not a code",
            with(&o, |v| v["matters"][0]["target_unit"] = json!("城管局")),
            "matters[0].target_unit",
            "not a unit code",
        ),
        bad("channel of the wrong type", with(&o, |v| v["channel"] = json!(5)), "channel", "invalid type"),
        bad(
            "summary of the wrong type",
            with(&o, |v| v["matters"][0]["summary"] = json!(1)),
            "matters[0].summary",
            "invalid type",
        ),
        bad("unknown field", with(&o, |v| v["priority"] = json!("high")), "priority", "unknown field `priority`"),
        bad(
            "missing matters key",
            with(&o, |v| {
                v.as_object_mut().map(|m| m.remove("matters"));
            }),
            "body",
            "missing field `matters`",
        ),
        bad_p(
            "visit without batches and persons",
            with(&p, |v| v["channel"] = json!("visit")),
            "visit",
            "required for channel visit",
        ),
        bad_p(
            "visit of no one",
            with(&p, |v| {
                v["channel"] = json!("visit");
                v["visit"] = json!({"batches": 1, "persons": 0});
            }),
            "visit.persons",
            "1 to",
        ),
        bad_p(
            "accusation without the accused",
            with(&p, |v| v["purpose"] = json!("accusation")),
            "accused_unit",
            "required when purpose is accusation",
        ),
        bad_p("unknown purpose", with(&p, |v| v["purpose"] = json!("complain")), "purpose", "'complain' is not one of"),
        bad_p(
            "joint letter of one",
            with(&p, |v| v["joint_letter"] = json!({"signers": 1})),
            "joint_letter.signers",
            "2 to",
        ),
        bad_p(
            "joint letter on a visit",
            with(&p, |v| {
                v["channel"] = json!("online_complaint");
                v["joint_letter"] = json!({"signers": 3});
            }),
            "joint_letter",
            "only for channel letter",
        ),
        bad_p(
            "unknown petition channel",
            with(&p, |v| v["channel"] = json!("phone")),
            "channel",
            "'phone' is not one of",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_field_gets_its_own_error_and_nothing_is_stored() {
    let sandbox = Sandbox::start().await;
    let table = cases();
    assert!(table.len() >= 30, "the table covers at least 30 bad inputs");
    for bad in &table {
        let (status, body) = sandbox.post_json(Service::Intake, bad.path, keys::INTEGRATOR, &bad.body).await;
        assert_eq!(status.as_u16(), bad.status, "{}: {body}", bad.what);
        assert_eq!(body["code"], "invalid_argument", "{}: {body}", bad.what);
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{}: no errors in {body}", bad.what));
        let hit = errors.iter().find(|e| e["field"] == bad.field);
        let hit = hit.unwrap_or_else(|| panic!("{}: no error for field {} in {body}", bad.what, bad.field));
        let description = hit["description"].as_str().unwrap_or_default();
        assert!(description.contains(bad.rule), "{}: {description:?} does not say {:?}", bad.what, bad.rule);
        assert_eq!(errors.len(), 1, "{}: only the bad field is reported: {body}", bad.what);
    }

    let (status, page) = sandbox.get_json(Service::Intake, "/v1/cases", keys::ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(page["cases"], json!([]), "no bad input stored anything");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_bad_fields_are_reported_together() {
    let sandbox = Sandbox::start().await;
    let body = with(&order(1, &["chengguan"]), |v| {
        v["channel"] = json!("fax");
        v["citizen"]["phone"] = json!("123");
        v["matters"][0]["category"] = json!("X99");
    });
    let (status, answer) = sandbox.post_order(Some(keys::INTEGRATOR), &body).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> =
        answer["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["channel", "citizen.phone", "matters[0].category"]);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_utf8_json_or_too_large_are_refused_before_parsing() {
    let sandbox = Sandbox::start().await;
    let url = sandbox.url(Service::Intake, "/v1/hotline/orders");
    let send = |body: Vec<u8>, content_type: &'static str| {
        let (http, url) = (sandbox.http.clone(), url.clone());
        async move {
            let resp = http
                .post(url)
                .bearer_auth(keys::INTEGRATOR)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("answers");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut latin1 = serde_json::to_vec(&order(1, &["chengguan"])).expect("json");
    latin1.extend_from_slice(b" \xff\xfe");
    let (status, body) = send(latin1, "application/json").await;
    assert_eq!((status, body["rule"].as_str()), (400, Some("body.utf8")), "{body}");

    let huge = json!({"order_number": "GD1", "content": "x".repeat(70 * 1024)});
    let (status, body) = send(serde_json::to_vec(&huge).expect("json"), "application/json").await;
    assert_eq!((status, body["rule"].as_str()), (413, Some("body.size")), "{body}");

    let (status, body) = send(b"{".to_vec(), "application/json").await;
    assert_eq!((status, body["rule"].as_str()), (400, Some("body.json")), "{body}");

    let (status, body) = send(b"order_number=GD1".to_vec(), "text/plain").await;
    assert_eq!((status, body["rule"].as_str()), (400, Some("body.content_type")), "{body}");

    let (_, page) = sandbox.get_json(Service::Intake, "/v1/cases", keys::ADMIN).await;
    assert_eq!(page["cases"], json!([]));
    sandbox.shutdown().await;
}
