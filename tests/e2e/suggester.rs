//! The unit suggester on a generated year, imported through the public APIs: measured on the
//! second half-year, each matter judged by a model of only what was resolved before it arrived,
//! its first choice is right more often than the catalog's; the report's figures for the
//! platform and the catalog equal a recount from the file; and the catalog entry the generated
//! history contradicts (简易维修 given to 住建局, done by the sub-districts) is listed.

use std::collections::BTreeMap;

use caseflow::Service;
use caseflow::history::demo::{self, Spec};
use caseflow::history::format::{Event, Line};
use caseflow::history::import;
use caseflow_routing::catalog::{Catalog, MatterFacts};
use caseflow_tests::{Sandbox, keys};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::Value;

const FROM: &str = "2020-01-01T00:00:00+08:00";
const TO: &str = "2020-07-01T00:00:00+08:00";

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("a valid timestamp")
}

/// A matter of the file: the unit the caller named, the catalog's unit on the day, and the unit
/// that resolved it last (none when it was not resolved by the cut-off).
#[derive(Debug, Default)]
struct Matter {
    named: String,
    catalog: Option<String>,
    resolver: Option<String>,
}

/// The measured half-year's matters that reached a unit, from the file alone.
fn recount(lines: &[Line], catalog: &Catalog) -> BTreeMap<String, Matter> {
    let (from, to) = (at(FROM), at(TO));
    let mut out: BTreeMap<String, Matter> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();
    for l in lines {
        let (case, received_at, sub_district, matter) = match &l.event {
            Event::HotlineOrder { order } => {
                (&order.order_number, order.received_at, &order.location.sub_district, order.matters.first())
            }
            Event::Petition { petition } => {
                // Not accepted, no longer accepted or forwarded: it never reaches a unit.
                if petition.decision.as_ref().is_some_and(|d| d.outcome != "pending") {
                    refused.push(petition.petition_number.clone());
                }
                (
                    &petition.petition_number,
                    petition.received_at,
                    &petition.location.sub_district,
                    petition.matters.first(),
                )
            }
            Event::Resolve { dispatch } => {
                if let Some(m) = out.get_mut(&dispatch.case) {
                    m.resolver = Some(dispatch.unit.clone());
                }
                continue;
            }
            _ => continue,
        };
        let Some(matter) = matter.filter(|_| received_at >= from && received_at < to) else { continue };
        let facts = MatterFacts {
            category: &matter.category,
            summary: &matter.summary,
            sub_district,
            on: received_at.date_naive(),
        };
        out.insert(
            case.clone(),
            Matter {
                named: matter.target_unit.clone(),
                catalog: catalog.responsible(&facts).map(|e| e.unit.clone()),
                resolver: None,
            },
        );
    }
    for case in refused {
        out.remove(&case);
    }
    out
}

fn method<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["figures"]["methods"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["method"] == name))
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trained_on_a_generated_half_year_the_suggester_beats_the_catalog_on_the_next() {
    let sandbox = Sandbox::start().await;
    sandbox.clock.set(at("2020-07-23T00:00:00+08:00").with_timezone(&chrono::Utc));
    let start = NaiveDate::from_ymd_opt(2019, 7, 1).expect("a date");
    let lines = demo::generate(&Spec { seed: 16, scale: 0.25, start, months: 12, previous_year: false });
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("year.jsonl");
    let mut out = Vec::new();
    demo::write(&lines, &mut out).expect("written");
    std::fs::write(&path, out).expect("file");
    let summary = import::run(&sandbox.import_options(&path)).await.expect("import runs");
    assert!(summary.bad.is_empty(), "every generated line is allowed by the rules: {}", summary.render());

    let period = format!("from={}&to={}", FROM.replace('+', "%2B"), TO.replace('+', "%2B"));
    let (status, report) =
        sandbox.get_json(Service::Routing, &format!("/v1/suggester/accuracy?{period}"), keys::OFFICE).await;
    assert_eq!(status, 200, "{report}");

    // The platform's and the catalog's figures, recounted from the file.
    let catalog = Catalog::load(None).expect("the built-in catalog");
    let matters = recount(&lines, &catalog);
    let resolved: Vec<&Matter> = matters.values().filter(|m| m.resolver.is_some()).collect();
    assert_eq!(count(&report["received"]), matters.len() as u64, "{report}");
    assert_eq!(count(&report["figures"]["measured"]), resolved.len() as u64, "{report}");
    let right = |choose: &dyn Fn(&Matter) -> Option<&str>| {
        resolved.iter().filter(|m| choose(m).is_some() && choose(m) == m.resolver.as_deref()).count() as u64
    };
    let platform = method(&report, "platform");
    assert_eq!(count(&platform["right"]), right(&|m| Some(m.named.as_str())), "{platform}");
    let by_catalog = method(&report, "catalog");
    assert_eq!(count(&by_catalog["right"]), right(&|m| m.catalog.as_deref()), "{by_catalog}");
    assert_eq!(
        count(&by_catalog["answered"]),
        resolved.iter().filter(|m| m.catalog.is_some()).count() as u64,
        "{by_catalog}"
    );

    // Learned from the first half-year (and the second's past), the suggester's first choice is
    // right more often than the catalog's; its top three more often still.
    let (top1, top3) = (method(&report, "suggester_top1"), method(&report, "suggester_top3"));
    assert!(count(&top1["right"]) > count(&by_catalog["right"]), "top 1 {top1} against the catalog {by_catalog}");
    assert!(count(&top3["right"]) >= count(&top1["right"]), "{top3}");
    eprintln!(
        "measured {}: platform {}, catalog {}, suggester top 1 {}, top 3 {}",
        resolved.len(),
        platform["right"],
        by_catalog["right"],
        top1["right"],
        top3["right"]
    );

    // The catalog gives every simple repair to 住建局, which handed most of them on.
    let year = format!("from=2019-07-01T00:00:00%2B08:00&to={}", TO.replace('+', "%2B"));
    let (status, listed) =
        sandbox.get_json(Service::Routing, &format!("/v1/catalog/contradictions?{year}"), keys::OFFICE).await;
    assert_eq!(status, 200, "{listed}");
    let entries = listed["entries"].as_array().expect("entries");
    let repair =
        entries.iter().find(|e| e["entry"] == "con-repair").unwrap_or_else(|| panic!("con-repair in {listed}"));
    assert_eq!(repair["unit"], "zhujian");
    assert!(count(&repair["handed_on"]) * 2 > count(&repair["matters"]), "{repair}");
    let by_sub_districts: u64 = repair["resolved_by"]
        .as_array()
        .expect("resolvers")
        .iter()
        .filter(|r| r["unit"] != "zhujian")
        .map(|r| count(&r["resolved"]))
        .sum();
    assert!(by_sub_districts > count(&repair["resolved_by_unit"]), "{repair}");
}
