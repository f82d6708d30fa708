//! `/metrics` after the walking slice: each service's Prometheus text has the series an operator
//! needs, with the values one case and one dispatch imply, and no citizen's data.

use std::collections::BTreeMap;
use std::time::Duration;

use caseflow::Service;
use caseflow_tests::{Sandbox, keys, order};

/// One sample: its name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format (what the services write: no timestamps, no escapes in
/// the labels these tests look at).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line ends with its value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").expect("label=\"value\"");
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample { name: name.to_owned(), labels, value: value.parse().expect("a number") }
        })
        .collect()
}

/// The value of the one series named `name` with (at least) these labels.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} names several series: {found:?}");
    found.first().map(|s| s.value)
}

/// The sum over every series named `name` with these labels (a figure split by pool, say).
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

async fn scrape(sandbox: &Sandbox, service: Service) -> (String, Vec<Sample>) {
    let response = sandbox.http.get(sandbox.url(service, "/metrics")).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = response.text().await.expect("text");
    let samples = parse(&text);
    for s in &samples {
        assert_eq!(s.labels.get("service").map(String::as_str), Some(service.name()), "{s:?}");
    }
    (text, samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_serves_the_figures_one_case_implies_and_no_citizen_data() {
    let sandbox = Sandbox::start().await;
    let sent = order(7, &["chengguan"]);
    let (status, case) = sandbox.post_order(Some(keys::INTEGRATOR), &sent).await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["case_id"].as_str().expect("case id").to_owned();
    // An unknown path is counted without naming it.
    let _ = sandbox.http.get(sandbox.url(Service::Intake, "/v1/no-such-route-13812341234")).send().await;

    // Wait until every consumer has applied everything its producer published.
    let caught_up = |samples: &[Sample], consumer: &str| {
        value(samples, "caseflow_consumer_lag_events", &[("consumer", consumer)]) == Some(0.0)
            && value(samples, "caseflow_consumer_position", &[("consumer", consumer)]).unwrap_or(0.0) > 0.0
    };
    sandbox
        .eventually("routing to apply intake's event", Duration::from_secs(10), || async {
            let (_, samples) = scrape(&sandbox, Service::Routing).await;
            caught_up(&samples, "routing<-intake").then_some(())
        })
        .await;
    let reporting = sandbox
        .eventually("reporting to apply intake's and routing's events", Duration::from_secs(10), || async {
            let (text, samples) = scrape(&sandbox, Service::Reporting).await;
            (caught_up(&samples, "reporting<-intake") && caught_up(&samples, "reporting<-routing"))
                .then_some((text, samples))
        })
        .await;
    // The gauges read from the database are refreshed at most once a second: scrape again
    // after that, now that everything is applied.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let routing = scrape(&sandbox, Service::Routing).await;
    let intake = scrape(&sandbox, Service::Intake).await;
    let evaluation = scrape(&sandbox, Service::Evaluation).await;

    // Intake: one POST answered 201, one hotline case, its event published and nothing waiting.
    let (_, i) = &intake;
    let post = [("route", "/v1/hotline/orders"), ("method", "POST"), ("status", "201")];
    assert_eq!(value(i, "caseflow_request_duration_seconds_count", &post), Some(1.0));
    assert_eq!(
        value(i, "caseflow_request_duration_seconds_bucket", &[post[0], post[1], post[2], ("le", "+Inf")]),
        Some(1.0)
    );
    assert_eq!(
        value(i, "caseflow_request_duration_seconds_count", &[("route", "unmatched"), ("status", "404")]),
        Some(1.0)
    );
    assert_eq!(value(i, "caseflow_cases_received_total", &[("source", "hotline"), ("kind", "complaint")]), Some(1.0));
    let head = value(i, "caseflow_stream_head_position", &[]).expect("intake's head");
    assert!(head >= 1.0, "intake published the case");
    assert_eq!(value(i, "caseflow_outbox_unpublished", &[]), Some(0.0));
    assert!(value(i, "caseflow_db_transactions_total", &[("outcome", "committed")]).unwrap_or(0.0) >= 1.0);
    assert!(total(i, "caseflow_db_pool_connections", &[("state", "max")]) >= 1.0);
    assert!(value(i, "caseflow_db_pool_acquired_total", &[]).unwrap_or(0.0) >= 1.0);

    // Routing: it applied intake's stream up to intake's head; one dispatch open for 城管局,
    // overdue for handling already (the order is from March, the clock in June) but not yet
    // for acknowledgement.
    let (_, r) = &routing;
    assert_eq!(value(r, "caseflow_consumer_position", &[("consumer", "routing<-intake")]), Some(head));
    assert_eq!(value(r, "caseflow_consumer_lag_seconds", &[("consumer", "routing<-intake")]), Some(0.0));
    assert_eq!(value(r, "caseflow_dispatches_open", &[("unit", "chengguan")]), Some(1.0));
    assert_eq!(value(r, "caseflow_dispatches_overdue", &[("unit", "chengguan"), ("kind", "handling")]), Some(1.0));
    assert_eq!(value(r, "caseflow_dispatches_overdue", &[("unit", "chengguan"), ("kind", "view")]), None);
    assert_eq!(value(r, "caseflow_return_requests_pending", &[]), Some(0.0));
    assert_eq!(value(r, "caseflow_matters_unresolved", &[("state", "open")]), Some(1.0));
    let routing_head = value(r, "caseflow_stream_head_position", &[]).expect("routing's head");

    // Reporting: both streams applied to their heads.
    let (_, p) = &reporting;
    assert_eq!(value(p, "caseflow_consumer_position", &[("consumer", "reporting<-intake")]), Some(head));
    assert_eq!(value(p, "caseflow_consumer_position", &[("consumer", "reporting<-routing")]), Some(routing_head));
    assert_eq!(value(p, "caseflow_consumer_lag_seconds", &[("consumer", "reporting<-routing")]), Some(0.0));

    // Evaluation sees the case too, and nothing is due before the unit replies.
    let (_, e) = &evaluation;
    assert_eq!(value(e, "caseflow_consumer_lag_events", &[("consumer", "evaluation<-intake")]), Some(0.0));
    assert_eq!(value(e, "caseflow_evaluations_waiting", &[("status", "due"), ("source", "hotline")]), Some(0.0));

    // Ten days on, the dispatch is late for acknowledgement too: the gauge follows the clock.
    sandbox.clock.advance(chrono::Duration::days(10));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, r) = scrape(&sandbox, Service::Routing).await;
    assert_eq!(value(&r, "caseflow_dispatches_overdue", &[("unit", "chengguan"), ("kind", "view")]), Some(1.0));

    // No citizen's data in any series: not the name, the phone, the address, the content, the
    // summary, nor the case id.
    for (service, (text, _)) in
        [("intake", &intake), ("routing", &routing), ("reporting", &reporting), ("evaluation", &evaluation)]
    {
        for secret in ["陈建红", "13812341234", "中山路", "油烟", &case_id, "no-such-route"] {
            assert!(!text.contains(secret), "{service}'s metrics hold {secret:?}:\n{text}");
        }
    }
    sandbox.shutdown().await;
}
