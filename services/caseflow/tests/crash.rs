//! The crash test: `caseflow run` as a child process takes 1,000 work orders from 16 clients
//! while an import runs, is killed with SIGKILL twice at random moments and restarted on the
//! same data each time. Afterwards every order that got a 2xx exists exactly once and is
//! dispatched exactly once, reporting's figures equal a recount of the orders, and the import
//! ends equal to a clean import of the same file into a system nobody killed.
//!
//! Runs on SQLite, and on PostgreSQL (a schema per service) when `TEST_DATABASE_URL` is set.
//! The moments are drawn from a seed printed at the start (`CRASH_SEED` replays one).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use caseflow::history::{demo, import};
use serde_json::Value;
use support::{DISPATCHER, Deployment, INTEGRATOR, OFFICE};
use tokio::sync::Mutex;

const ORDERS: usize = 1000;
const CLIENTS: usize = 16;

/// A small xorshift: the kill moments, reproducible from the printed seed.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Sends order `n` until it gets a 2xx (the platform retries what got no answer), and returns
/// the case id it was answered with. A 4xx is a failure of the test.
async fn submit(http: &reqwest::Client, url: &str, n: usize) -> String {
    let body = support::order("GDCRASH", n, &format!("138{n:08}"));
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match http.post(url).bearer_auth(INTEGRATOR).json(&body).timeout(Duration::from_secs(20)).send().await {
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await.expect("a case");
                return v["case_id"].as_str().expect("case id").to_owned();
            }
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                panic!("order {n} refused: {status} {}", r.text().await.unwrap_or_default());
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "order {n} got no 2xx in 180 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const PERIOD: &str =
    "from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00&as_of=2020-07-23T00:00:00%2B08:00";

/// `v` without the ids each system makes up (a case's id), which two systems cannot share.
fn without_ids(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(k, _)| *k != "case_id").map(|(k, v)| (k.clone(), without_ids(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}

/// Where two reports differ, as paths, for a readable failure.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                differences(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} against {b}")),
        _ => {}
    }
}

/// The imported half-year's reports, without the ids each system makes up.
async fn history_reports(d: &Deployment, http: &reqwest::Client) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/v1/reports/attachment-1?{PERIOD}"),
        format!("/v1/reports/attachment-2?{PERIOD}"),
        format!("/v1/reports/summary?source=hotline&{PERIOD}"),
        format!("/v1/reports/summary?source=petition&{PERIOD}"),
        format!("/v1/reports/bounce?{PERIOD}"),
    ] {
        out.push(without_ids(&d.get(http, "reporting", &path, OFFICE).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_under_load_and_import_it_loses_nothing_and_doubles_nothing() {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("crash test seed {seed} (CRASH_SEED={seed} replays these moments)");
    let mut draw = Draw(seed);
    let http = reqwest::Client::new();
    let mut crashed = Deployment::new();
    crashed.start(&http).await;

    let lines = demo::generate(&demo::Spec { seed: 31, scale: 0.02, ..demo::Spec::default() });
    let file = crashed.dir.path().join("history.jsonl");
    let mut text = Vec::new();
    demo::write(&lines, &mut text).expect("written");
    std::fs::write(&file, &text).expect("file");

    // The load: 16 clients, 1,000 orders, each retried until it gets a 2xx.
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(BTreeMap::<usize, String>::new()));
    let order_url = crashed.url("intake", "/v1/hotline/orders");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, next, acked, url) = (http.clone(), next.clone(), acked.clone(), order_url.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= ORDERS {
                        return;
                    }
                    let case_id = submit(&http, &url, n).await;
                    acked.lock().await.insert(n, case_id);
                }
            })
        })
        .collect();
    let importing = tokio::spawn({
        let opts = crashed.import_options(file.clone());
        async move { import::run(&opts).await }
    });

    // Two kills: the first once a random share of the orders is in, the second once the import
    // has gone a random way further (the orders may be done by then, the import not).
    let journal = crashed.dir.path().join("history.jsonl.journal");
    let journaled =
        |journal: &Path| std::fs::read_to_string(journal).map_or(0, |t| t.lines().count().saturating_sub(1));
    for kill in 0..2 {
        if kill == 0 {
            let at = 100 + draw.below(300) as usize;
            while acked.lock().await.len() < at && !clients.iter().all(|c| c.is_finished()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } else {
            let at = lines.len() / 5 + draw.below(lines.len() as u64 / 2) as usize;
            while journaled(&journal) < at && !importing.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let pause = draw.below(300);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        eprintln!(
            "SIGKILL with {} orders acknowledged and {} of {} import lines journaled (+{pause} ms)",
            acked.lock().await.len(),
            journaled(&journal),
            lines.len()
        );
        assert!(!importing.is_finished(), "the import is still running when the process is killed");
        crashed.kill();
        crashed.start(&http).await;
    }
    for c in clients {
        c.await.expect("client");
    }
    let summary = importing.await.expect("join").expect("the import rides out both crashes");
    assert!(summary.bad.is_empty(), "no line is bad for a crash: {}", summary.render());
    assert_eq!(summary.applied + summary.already_done, lines.len(), "{}", summary.render());
    crashed.settled(&http).await;

    // Every order that got a 2xx exists once, under the id it was answered with, and is
    // dispatched once.
    let acked = acked.lock().await.clone();
    assert_eq!(acked.len(), ORDERS);
    for (n, case_id) in &acked {
        let case = crashed.get(&http, "intake", &format!("/v1/cases/{case_id}"), DISPATCHER).await;
        assert_eq!(case["external_ref"], format!("GDCRASH{n:08}"), "{case}");
        let dispatches = crashed.get(&http, "routing", &format!("/v1/cases/{case_id}/dispatches"), DISPATCHER).await;
        assert_eq!(dispatches.as_array().map(Vec::len), Some(1), "order {n} dispatched once: {dispatches}");
    }
    // Resent orders were answered with their case, not made again: reporting counts 1,000.
    let today = chrono::Utc::now().with_timezone(&caseflow_runtime::clock::district_offset()).date_naive();
    let counts = crashed
        .get(
            &http,
            "reporting",
            &format!(
                "/v1/reports/unit-counts?from={}T00:00:00%2B08:00&to={}T00:00:00%2B08:00",
                today - chrono::Days::new(1),
                today + chrono::Days::new(1)
            ),
            OFFICE,
        )
        .await;
    let received: u64 = counts["units"].as_array().map_or(0, |u| u.iter().filter_map(|x| x["received"].as_u64()).sum());
    let in_triage = counts["in_triage"].as_u64().unwrap_or(0);
    assert_eq!((received, in_triage), (ORDERS as u64, 0), "reporting recounts the orders: {counts}");

    // The import ends where a clean import of the same file into a system nobody killed does.
    let mut clean = Deployment::new();
    clean.start(&http).await;
    let clean_file = clean.dir.path().join("history.jsonl");
    std::fs::write(&clean_file, &text).expect("file");
    let clean_summary = import::run(&clean.import_options(clean_file)).await.expect("clean import");
    assert!(clean_summary.bad.is_empty(), "{}", clean_summary.render());
    clean.settled(&http).await;
    let (after_crashes, after_clean) =
        (Value::Array(history_reports(&crashed, &http).await), Value::Array(history_reports(&clean, &http).await));
    let mut differ = Vec::new();
    differences(&after_crashes, &after_clean, "reports", &mut differ);
    assert!(differ.is_empty(), "the crashed system's half-year reports equal the clean one's:\n{}", differ.join("\n"));
}
