//! No clear-text phone, ID number or name in anything the services store, log or export: every
//! database row, every log line (at debug), every event on every stream.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caseflow::Service;
use caseflow_proto::v1 as pb;
use caseflow_tests::{Sandbox, dump_database, keys, order, petition};
use serde_json::json;

const NAME: &str = "陈建红";
const PHONE: &str = "13812341234";
const PETITIONER: &str = "庄雅滨";
const PETITIONER_PHONE: &str = "13959001234";
const ID_NUMBER: &str = "11010519491231002X";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn find_any(haystack: &[u8], where_: &str) {
    for secret in [NAME, PHONE, PETITIONER, PETITIONER_PHONE, ID_NUMBER, "11010519491231002x"] {
        let needle = secret.as_bytes();
        assert!(
            !haystack.windows(needle.len()).any(|w| w == needle),
            "{where_} contains personal data ({} bytes scanned)",
            haystack.len()
        );
    }
}

async fn all_events(sandbox: &Sandbox, service: Service) -> Vec<u8> {
    let mut client = pb::event_stream_client::EventStreamClient::new(sandbox.channel(service).await);
    let mut bytes = Vec::new();
    let mut after = 0;
    loop {
        let mut request = tonic::Request::new(pb::SubscribeRequest { after_position: after, limit: 100 });
        request.metadata_mut().insert("authorization", format!("Bearer {}", keys::SERVICE).parse().expect("header"));
        let mut stream = client.subscribe(request).await.expect("subscribe").into_inner();
        let mut got = 0;
        // A limited subscription ends after `limit` events; an idle one is cut short here.
        while let Ok(Ok(Some(event))) = tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
            after = event.position;
            bytes.extend_from_slice(&event.payload);
            bytes.extend(format!("{:?}", event.trace_context).into_bytes());
            got += 1;
        }
        if got < 100 {
            return bytes;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_is_stored_logged_or_exported_in_the_clear() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info,caseflow=trace,caseflow_runtime=trace,caseflow_intake=trace,caseflow_routing=trace,caseflow_evaluation=trace,caseflow_reporting=trace,tower_http=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let sandbox = Sandbox::start().await;
    let mut hotline = order(1, &["chengguan", "zhujian"]);
    hotline["citizen"]["id_number"] = json!(ID_NUMBER);
    assert_eq!(sandbox.post_order(Some(keys::INTEGRATOR), &hotline).await.0, 201);
    // A changed resend and a validation failure both echo fields: never their values.
    let mut changed = hotline.clone();
    changed["citizen"]["phone"] = json!(PETITIONER_PHONE);
    assert_eq!(sandbox.post_order(Some(keys::INTEGRATOR), &changed).await.0, 409);
    let mut invalid = order(2, &["chengguan"]);
    invalid["citizen"]["id_number"] = json!("110105194912310021");
    assert_eq!(sandbox.post_order(Some(keys::INTEGRATOR), &invalid).await.0, 422);

    let mut visit = petition(3, "visit");
    visit["visit"] = json!({"batches": 1, "persons": 7});
    let (status, case) = sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &visit).await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["case_id"].as_str().expect("id");
    let (status, revealed) = sandbox
        .post_json(Service::Intake, &format!("/v1/cases/{case_id}/reveal"), keys::ADMIN, &json!({"reason": "回访核实"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(revealed["phone"], PETITIONER_PHONE, "the reveal itself answers in the clear");
    let (_, list) = sandbox.get_json(Service::Intake, "/v1/cases", keys::DISPATCHER).await;
    find_any(list.to_string().as_bytes(), "the case list");

    sandbox
        .eventually("both hotline matters counted", Duration::from_secs(10), || async {
            (sandbox.counted_dispatches().await == 2).then_some(())
        })
        .await;
    sandbox
        .eventually("the petition dispatched", Duration::from_secs(10), || async {
            let (_, c) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{case_id}"), keys::ADMIN).await;
            (c["status"] == "dispatched").then_some(())
        })
        .await;

    for (service, db) in Service::ALL.iter().zip(&sandbox.databases) {
        let dump = dump_database(db);
        assert!(!dump.is_empty(), "{} database was read", service.name());
        find_any(&dump, &format!("the {} database", service.name()));
    }
    for service in [Service::Intake, Service::Routing, Service::Evaluation] {
        let events = all_events(&sandbox, service).await;
        if service != Service::Evaluation {
            assert!(!events.is_empty(), "{} has events", service.name());
        }
        find_any(&events, &format!("{}'s event stream", service.name()));
    }
    let captured = logs.0.lock().expect("logs").clone();
    assert!(String::from_utf8_lossy(&captured).contains("case taken in"), "logs were captured");
    find_any(&captured, "the logs");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_petitioners_are_masked_in_reports_and_revealed_only_to_an_administrator_with_a_reason() {
    let sandbox = Sandbox::start().await;
    for n in 1..=3 {
        let (status, body) =
            sandbox.post_json(Service::Intake, "/v1/petitions", keys::DISPATCHER, &petition(n, "letter")).await;
        assert!(status.is_success(), "{body}");
    }
    let period = "source=petition&from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00";
    let summary = sandbox
        .eventually("reporting to count the three petitions", Duration::from_secs(10), || async {
            let (_, s) =
                sandbox.get_json(Service::Reporting, &format!("/v1/reports/summary?{period}"), keys::OFFICE).await;
            (s["total"]["count"] == 3).then_some(s)
        })
        .await;
    let repeat = &summary["repeat_petitioners"][0];
    assert_eq!((repeat["name"].as_str(), repeat["petitions"].as_u64()), (Some("庄**"), Some(3)), "{summary}");
    assert!(repeat["clear_name"].is_null());
    assert!(!summary.to_string().contains("庄雅滨"), "no clear name in the office's report");

    let reveal =
        format!("/v1/reports/summary?{period}&reveal_reason=%E9%87%8D%E5%A4%8D%E4%BF%A1%E8%AE%BF%E7%A0%94%E5%88%A4");
    let (status, refused) = sandbox.get_json(Service::Reporting, &reveal, keys::OFFICE).await;
    assert_eq!(status, 403, "the office may not reveal: {refused}");
    let (status, revealed) = sandbox.get_json(Service::Reporting, &reveal, keys::ADMIN).await;
    assert_eq!(status, 200, "{revealed}");
    assert_eq!(revealed["repeat_petitioners"][0]["clear_name"], "庄雅滨");
    // Intake logged the reveal under the administrator's name, with the reason.
    let case_id = revealed["repeat_petitioners"][0]["case_id"].as_str().expect("case id").to_owned();
    let (_, log) = sandbox.get_json(Service::Intake, &format!("/v1/cases/{case_id}/reveals"), keys::ADMIN).await;
    let entries = log.as_array().expect("log");
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(
        (entries[0]["actor"].as_str(), entries[0]["reason"].as_str()),
        (Some("operator (via services)"), Some("重复信访研判"))
    );
    sandbox.shutdown().await;
}
