//! History: a generated half-year replayed through the public gRPC APIs as the importer. The
//! reports then follow from the file (recounted here from its lines), a second run changes
//! nothing, bad lines are reported one by one while the rest go in, and an import killed
//! halfway resumes to the same end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use caseflow::Service;
use caseflow::history::demo::{self, Spec};
use caseflow::history::format::{Event, Line};
use caseflow::history::import;
use caseflow_tests::{Sandbox, keys};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

const PERIOD: &str =
    "from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00&as_of=2020-07-23T00:00:00%2B08:00";

/// A sandbox whose clock stands where the reports are read: after every event of the generated
/// half-year (an imported event may not be in the future).
async fn sandbox_after_the_file() -> Sandbox {
    let sandbox = Sandbox::start().await;
    let read_at = DateTime::parse_from_rfc3339("2020-07-23T00:00:00+08:00").expect("valid");
    sandbox.clock.set(read_at.with_timezone(&chrono::Utc));
    sandbox
}

fn write(dir: &Path, lines: &[Line]) -> PathBuf {
    let path = dir.join("history.jsonl");
    let mut out = Vec::new();
    demo::write(lines, &mut out).expect("written");
    std::fs::write(&path, out).expect("file");
    path
}

fn in_period(t: &DateTime<FixedOffset>) -> bool {
    let (from, to) = (
        DateTime::parse_from_rfc3339("2020-01-01T00:00:00+08:00").expect("t"),
        DateTime::parse_from_rfc3339("2020-07-01T00:00:00+08:00").expect("t"),
    );
    *t >= from && *t < to
}

/// What the reports must say, counted from the file's lines alone.
#[derive(Debug, Default, PartialEq)]
struct Recount {
    hotline: u64,
    petitions_by_channel: BTreeMap<String, u64>,
    received: u64,
    completed_by_unit: BTreeMap<String, u64>,
    unsatisfied: u64,
    petition_due: u64,
    petition_expired: u64,
    petition_rated: u64,
    /// The petition office's own part: opened by every decision, rated or expired on its own.
    agency_due: u64,
    agency_expired: u64,
    agency_rated: u64,
    /// 复查 and 复核 requested in the period: (level, outcome or "pending") -> count.
    reviews: BTreeMap<String, u64>,
    /// The petition office's decisions on the period's petitions, by outcome (a refusal with
    /// its legal channel: not_accepted.litigation), and the ones decided after the 15 days.
    decisions: BTreeMap<String, u64>,
    decided_late: u64,
}

fn recount(lines: &[Line]) -> Recount {
    let mut r = Recount::default();
    let mut hotline: BTreeMap<String, bool> = BTreeMap::new();
    let mut petitions: BTreeMap<String, bool> = BTreeMap::new();
    let mut registered: BTreeMap<String, DateTime<FixedOffset>> = BTreeMap::new();
    for l in lines {
        match &l.event {
            Event::HotlineOrder { order } => {
                hotline.insert(order.order_number.clone(), in_period(&order.received_at));
            }
            Event::Petition { petition } => {
                petitions.insert(petition.petition_number.clone(), in_period(&petition.received_at));
                if in_period(&petition.received_at) {
                    *r.petitions_by_channel.entry(petition.channel.clone()).or_default() += 1;
                    let d = petition.decision.as_ref();
                    let outcome = match d {
                        None => "accepted".to_owned(),
                        Some(d) if d.legal_channel.is_empty() => d.outcome.clone(),
                        Some(d) => format!("{}.{}", d.outcome, d.legal_channel),
                    };
                    if outcome != "pending" {
                        *r.decisions.entry(outcome).or_default() += 1;
                        r.agency_due += 1;
                    } else {
                        registered.insert(petition.petition_number.clone(), petition.received_at);
                    }
                }
            }
            Event::PetitionDecision { case, decision } => {
                if let Some(received) = registered.get(case) {
                    *r.decisions.entry(decision.outcome.clone()).or_default() += 1;
                    r.agency_due += 1;
                    // Due at the end of the 15th natural day after registration.
                    let due = (received.date_naive() + chrono::Duration::days(16)).and_hms_opt(0, 0, 0);
                    if due.is_some_and(|due| l.at.naive_local() > due) {
                        r.decided_late += 1;
                    }
                }
            }
            _ => {}
        }
    }
    r.hotline = hotline.values().filter(|v| **v).count() as u64;
    r.received = r.hotline;
    let mut last_rating: BTreeMap<String, String> = BTreeMap::new();
    let mut rated_units: BTreeMap<String, ()> = BTreeMap::new();
    let mut rated_agency: BTreeMap<String, ()> = BTreeMap::new();
    let in_period_petition = |case: &String| petitions.get(case) == Some(&true);
    for l in lines {
        match &l.event {
            // A petition's parts: the office's (`level`) and its units' (`unit_levels`).
            Event::Rating { case, level, unit_levels } if in_period_petition(case) => {
                if !level.is_empty() {
                    rated_agency.insert(case.clone(), ());
                }
                if !unit_levels.is_empty() {
                    rated_units.insert(case.clone(), ());
                }
            }
            Event::Expiry { case, part } if in_period_petition(case) => match part.as_deref() {
                Some("agency") => r.agency_expired += 1,
                _ => r.petition_expired += 1,
            },
            Event::Resolve { dispatch } if hotline.get(&dispatch.case) == Some(&true) => {
                *r.completed_by_unit.entry(dispatch.unit.clone()).or_default() += 1;
            }
            Event::Resolve { dispatch } if petitions.get(&dispatch.case) == Some(&true) => r.petition_due += 1,
            Event::Rating { case, level, .. } => {
                last_rating.insert(case.clone(), level.clone());
            }
            _ => {}
        }
    }
    for (case, level) in &last_rating {
        if hotline.get(case) == Some(&true) && matches!(level.as_str(), "unsatisfied" | "poor") {
            r.unsatisfied += 1;
        }
    }
    // Reviews requested in the period, with their outcome by the end of the file.
    let mut asked: BTreeMap<(String, String), String> = BTreeMap::new();
    for l in lines {
        match &l.event {
            Event::ReviewRequest { case, level, .. } if in_period(&l.at) => {
                asked.insert((case.clone(), level.clone()), "pending".into());
            }
            Event::ReviewDecision { case, level, outcome, .. } => {
                if let Some(o) = asked.get_mut(&(case.clone(), level.clone())) {
                    o.clone_from(outcome);
                }
            }
            _ => {}
        }
    }
    for ((_, level), outcome) in asked {
        *r.reviews.entry(format!("{level}.{outcome}")).or_default() += 1;
    }
    r.petition_rated = rated_units.len() as u64;
    r.agency_rated = rated_agency.len() as u64;
    r
}

fn rows(table: &Value) -> Vec<&Value> {
    table["departments"].as_array().into_iter().chain(table["sub_districts"].as_array()).flatten().collect()
}

fn sum(table: &Value, field: &str) -> u64 {
    rows(table).iter().filter_map(|r| r[field].as_u64()).sum()
}

/// The reports a test compares, and what they say against the recount.
async fn reports(sandbox: &Sandbox) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/v1/reports/attachment-1?{PERIOD}"),
        format!("/v1/reports/attachment-2?{PERIOD}"),
        format!("/v1/reports/summary?source=hotline&{PERIOD}"),
        format!("/v1/reports/summary?source=petition&{PERIOD}"),
        format!("/v1/reports/bounce?{PERIOD}"),
    ] {
        let (status, v) = sandbox.get_json(Service::Reporting, &path, keys::OFFICE).await;
        assert_eq!(status, 200, "{path}: the invariants hold: {v}");
        out.push(v);
    }
    out
}

/// The reports' figures, in the recount's terms.
fn figures(reports: &[Value]) -> Recount {
    let (a1, a2, hotline, petition) = (&reports[0], &reports[1], &reports[2], &reports[3]);
    let agency = &petition["evaluation"]["agency"];
    let completed_by_unit: BTreeMap<String, u64> = rows(a2)
        .iter()
        .filter(|r| r["completed"].as_u64() > Some(0))
        .map(|r| (r["unit"].as_str().unwrap_or_default().to_owned(), r["completed"].as_u64().unwrap_or(0)))
        .collect();
    let petitions_by_channel: BTreeMap<String, u64> = petition["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["count"].as_u64() > Some(0))
        .map(|c| (c["key"].as_str().unwrap_or_default().to_owned(), c["count"].as_u64().unwrap_or(0)))
        .collect();
    Recount {
        hotline: hotline["total"]["count"].as_u64().unwrap_or(0),
        petitions_by_channel,
        received: sum(a2, "received"),
        completed_by_unit,
        unsatisfied: sum(a2, "unsatisfied"),
        petition_due: sum(a1, "due"),
        petition_expired: sum(a1, "expired"),
        petition_rated: sum(a1, "satisfied") + sum(a1, "basic") + sum(a1, "unsatisfied"),
        agency_due: agency["due"].as_u64().unwrap_or(0),
        agency_expired: agency["expired"].as_u64().unwrap_or(0),
        agency_rated: ["satisfied", "basic", "unsatisfied"].iter().filter_map(|k| agency[k].as_u64()).sum(),
        decisions: decisions(&petition["decisions"]),
        decided_late: petition["decisions"]["late"].as_u64().unwrap_or(0),
        reviews: ["review", "re_review"]
            .iter()
            .flat_map(|level| {
                ["upheld", "changed", "revoked", "pending"].iter().filter_map(move |o| {
                    let n = petition["reviews"][level][o].as_u64().filter(|n| *n > 0)?;
                    Some((format!("{level}.{o}"), n))
                })
            })
            .collect(),
    }
}

/// The summary's decisions in the recount's terms (outcomes with a count).
fn decisions(d: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for key in ["accepted", "no_longer_accepted", "forwarded"] {
        if let Some(n) = d[key].as_u64().filter(|n| *n > 0) {
            out.insert(key.to_owned(), n);
        }
    }
    for c in d["not_accepted"].as_array().into_iter().flatten() {
        if let (Some(k), Some(n)) = (c["key"].as_str(), c["count"].as_u64()) {
            out.insert(format!("not_accepted.{k}"), n);
        }
    }
    out
}

/// Waits (the three streams reach reporting in their own time) until the reports equal the
/// recount, then returns them; fails with the difference after a minute.
async fn reports_equal(sandbox: &Sandbox, expected: &Recount) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let now = reports(sandbox).await;
        let got = figures(&now);
        if got == *expected {
            assert!(now[2]["total"]["last_year"].as_u64() > Some(0), "the year before was imported too");
            return now;
        }
        if started.elapsed() > Duration::from_secs(60) {
            assert_eq!(got, *expected, "the reports never came to the recount from the file");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn small(seed: u64) -> Vec<Line> {
    demo::generate(&Spec { seed, scale: 0.02, ..Spec::default() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_half_year_imports_into_reports_that_recount_from_the_file_and_twice_changes_nothing() {
    let sandbox = sandbox_after_the_file().await;
    let dir = tempfile::tempdir().expect("dir");
    let lines = small(11);
    let path = write(dir.path(), &lines);
    let summary = import::run(&sandbox.import_options(&path)).await.expect("import runs");
    assert!(summary.bad.is_empty(), "every generated line is allowed by the rules: {}", summary.render());
    assert_eq!((summary.lines, summary.applied), (lines.len(), lines.len()));
    assert!(summary.by_type.contains_key("return_request (refused as recorded)"), "{}", summary.render());
    let expected = recount(&lines);
    assert!(
        expected.reviews.keys().any(|k| k.starts_with("re_review.")) && expected.agency_rated > 0,
        "the file has 复查, 复核 and the office's own ratings to recount: {expected:?}"
    );
    reports_equal(&sandbox, &expected).await;
    sandbox.settled().await;
    let first = reports(&sandbox).await;
    let bounce = &first[4]["units"];
    assert!(
        bounce.as_array().expect("units").iter().any(|u| u["wrongful_returns"].as_u64() > Some(0)),
        "some returns were wrongful: {bounce}"
    );

    // The bulletin for the generated half-year has every section of the source document.
    let (status, _, md) =
        sandbox.get_raw(Service::Reporting, &format!("/v1/reports/bulletin?{PERIOD}"), keys::OFFICE).await;
    assert_eq!(status, 200);
    let md = String::from_utf8(md).expect("utf-8");
    caseflow_tests::assert_in_order(
        &md,
        &[
            "2020年上半年信访动态",
            "一、信访信息系统受理情况",
            "（一）来信来访",
            "重复信访件集中在",
            "（二）领导接访",
            "（三）三率及最多投一次情况",
            "存在不足：1.",
            "（四）工作要求",
            "二、12345便民服务平台受理情况",
            "1.诉求分类",
            "2.诉求热点",
            "3.办理情况",
            "4.自查整改",
            "附件1",
            "附件2",
            "附件3",
        ],
    );
    assert!(md.contains(&format!("12345便民服务平台共受理群众诉求{}件", recount(&lines).hotline)), "{md}");

    // The same file again: nothing to do, nothing changes.
    let again = import::run(&sandbox.import_options(&path)).await.expect("second run");
    assert_eq!((again.applied, again.already_done, again.bad.len()), (0, lines.len(), 0), "{}", again.render());
    tokio::time::sleep(Duration::from_millis(500)).await;
    sandbox.settled().await;
    assert_eq!(reports(&sandbox).await, first, "the reports are identical");

    // Only the importer says when something happened.
    let resp = sandbox
        .http
        .post(sandbox.url(Service::Intake, "/v1/hotline/orders"))
        .bearer_auth(keys::INTEGRATOR)
        .header("x-caseflow-event-time", "2019-01-01T00:00:00+08:00")
        .json(&caseflow_tests::order(99, &["chengguan"]))
        .send()
        .await
        .expect("answers");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!((status.as_u16(), body["rule"].as_str()), (403, Some("import.only")), "{body}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_by_number_and_rule_and_the_good_ones_still_go_in() {
    let sandbox = sandbox_after_the_file().await;
    let dir = tempfile::tempdir().expect("dir");
    let lines = small(12);
    let mut out = Vec::new();
    demo::write(&lines, &mut out).expect("written");
    let mut text: Vec<String> = String::from_utf8(out).expect("utf-8").lines().map(str::to_owned).collect();
    // About 1 %: unreadable lines in place of expiries, and ratings at a level no scale has.
    let mut broken: BTreeMap<usize, &str> = BTreeMap::new();
    let budget = (lines.len() / 100).max(4);
    for (i, l) in lines.iter().enumerate() {
        if broken.len() >= budget {
            break;
        }
        match &l.event {
            Event::Expiry { .. } if broken.len().is_multiple_of(2) => {
                text[i] = "{\"at\": \"2020-03-01T10:00:00+08:00\", \"type\": \"expiry\"".into();
                broken.insert(i + 1, "EOF");
            }
            Event::Rating { level, .. }
                if !matches!(level.as_str(), "unsatisfied" | "poor") && broken.len() % 2 == 1 =>
            {
                text[i] = text[i].replace(&format!("\"level\":\"{level}\""), "\"level\":\"excellent\"");
                broken.insert(i + 1, "level");
            }
            _ => {}
        }
    }
    let path = dir.path().join("history.jsonl");
    std::fs::write(&path, text.join("\n") + "\n").expect("file");
    let mut opts = sandbox.import_options(&path);
    let metrics = caseflow_runtime::metrics::Metrics::new("importer", None).expect("metrics");
    opts.metrics = Some(metrics.clone());
    let summary = import::run(&opts).await.expect("import runs");
    let reported: Vec<usize> = summary.bad.iter().map(|b| b.line).collect();
    // The lines are counted by outcome, as the collector would see them.
    let text = metrics.render().await;
    let counted = |outcome: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!("caseflow_import_lines_total{{service=\"importer\",outcome=\"{outcome}\"}}"))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<usize>().ok())
            .unwrap_or(0)
    };
    assert_eq!(counted("applied"), summary.applied, "{text}");
    assert_eq!(counted("bad"), summary.bad.len(), "{text}");
    assert_eq!(reported, broken.keys().copied().collect::<Vec<_>>(), "exactly the broken lines: {}", summary.render());
    for b in &summary.bad {
        let expect = broken[&b.line];
        assert!(b.reason.contains(expect), "line {} says why ({expect}): {}", b.line, b.reason);
    }
    assert_eq!(summary.applied, lines.len() - broken.len(), "every good line went in");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_halfway_resumes_and_ends_where_an_uninterrupted_one_would() {
    let sandbox = sandbox_after_the_file().await;
    let dir = tempfile::tempdir().expect("dir");
    let lines = small(13);
    let path = write(dir.path(), &lines);
    let journal = PathBuf::from(format!("{}.journal", path.display()));
    let opts = sandbox.import_options(&path);
    let task = tokio::spawn(async move { import::run(&opts).await });
    // Kill it once about half the lines are in.
    loop {
        let written = std::fs::read_to_string(&journal).map(|t| t.lines().count()).unwrap_or(0);
        if written > lines.len() / 2 || task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    let before = std::fs::read_to_string(&journal).map(|t| t.lines().count()).unwrap_or(0);
    assert!(before < lines.len() + 1, "stopped before the end ({before} of {})", lines.len());

    let resumed = import::run(&sandbox.import_options(&path)).await.expect("resumes");
    assert!(resumed.bad.is_empty(), "{}", resumed.render());
    assert_eq!(resumed.applied + resumed.already_done, lines.len(), "{}", resumed.render());
    assert!(resumed.already_done > 0 && resumed.applied > 0, "it picked up where it stopped: {}", resumed.render());
    reports_equal(&sandbox, &recount(&lines)).await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_applied_but_not_journaled_is_answered_again_under_its_key_and_applied_once() {
    let sandbox = sandbox_after_the_file().await;
    let dir = tempfile::tempdir().expect("dir");
    let lines = small(23);
    let path = write(dir.path(), &lines);
    let journal = PathBuf::from(format!("{}.journal", path.display()));
    // Three times: the importer dies mid-run, and the last line it applied never reached its
    // journal (the process died between the answer and the append).
    let mut lost = Vec::new();
    for quarter in 1..=3 {
        let opts = sandbox.import_options(&path);
        let task = tokio::spawn(async move { import::run(&opts).await });
        journal_passes(&path, lines.len() * quarter / 4).await;
        task.abort();
        let _ = task.await;
        let text = std::fs::read_to_string(&journal).expect("journal");
        let mut entries: Vec<&str> = text.lines().collect();
        lost.push(entries.pop().map(str::to_owned).expect("an entry"));
        std::fs::write(&journal, entries.join("\n") + "\n").expect("journal cut");
    }
    assert!(lost.iter().all(|e| e.contains("\"applied\"")), "the lost entries were applied lines: {lost:?}");

    let last = import::run(&sandbox.import_options(&path)).await.expect("the last run");
    assert!(last.bad.is_empty(), "every unrecorded line is answered as before: {}", last.render());
    assert_eq!(last.applied + last.already_done, lines.len(), "{}", last.render());
    reports_equal(&sandbox, &recount(&lines)).await;
    sandbox.shutdown().await;
}

/// Waits until the journal of `path` holds more than `lines` lines.
async fn journal_passes(path: &Path, lines: usize) {
    let journal = PathBuf::from(format!("{}.journal", path.display()));
    for _ in 0..1500 {
        if std::fs::read_to_string(&journal).map(|t| t.lines().count()).unwrap_or(0) > lines {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the import did not pass line {lines}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_restarted_during_an_import_costs_no_line() {
    let mut sandbox = sandbox_after_the_file().await;
    let dir = tempfile::tempdir().expect("dir");
    let lines = small(17);
    let path = write(dir.path(), &lines);
    let opts = sandbox.import_options(&path);
    let task = tokio::spawn(async move { import::run(&opts).await });
    journal_passes(&path, lines.len() / 3).await;
    // Routing goes away mid-import, connections cut, and comes back a moment later.
    sandbox.system.stop(Service::Routing).await.expect("routing stops");
    tokio::time::sleep(Duration::from_millis(800)).await;
    sandbox.system.restart(Service::Routing).await.expect("routing restarts");
    let summary = task.await.expect("join").expect("the import rides out the restart");
    assert!(summary.bad.is_empty(), "no line is bad for an outage: {}", summary.render());
    assert_eq!(summary.applied + summary.already_done, lines.len(), "{}", summary.render());
    reports_equal(&sandbox, &recount(&lines)).await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_stops_when_a_service_stays_away_and_resumes_where_it_stopped() {
    let mut sandbox = sandbox_after_the_file().await;
    let dir = tempfile::tempdir().expect("dir");
    let lines = small(19);
    let path = write(dir.path(), &lines);
    let mut opts = sandbox.import_options(&path);
    opts.outage_patience = Duration::from_secs(1);
    let task = tokio::spawn(async move { import::run(&opts).await });
    journal_passes(&path, lines.len() / 3).await;
    sandbox.system.stop(Service::Routing).await.expect("routing stops");
    let stopped = task.await.expect("join").expect_err("the import stops while routing is away");
    let message = stopped.to_string();
    assert!(message.contains("run the import again to resume from line"), "{message}");
    let journal = std::fs::read_to_string(format!("{}.journal", path.display())).expect("journal");
    assert!(!journal.contains("\"outcome\":\"bad\""), "nothing journaled as bad for an outage");

    sandbox.system.restart(Service::Routing).await.expect("routing restarts");
    let resumed = import::run(&sandbox.import_options(&path)).await.expect("resumes");
    assert!(resumed.bad.is_empty(), "{}", resumed.render());
    assert_eq!(resumed.applied + resumed.already_done, lines.len(), "{}", resumed.render());
    reports_equal(&sandbox, &recount(&lines)).await;
    sandbox.shutdown().await;
}
