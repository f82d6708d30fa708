//! The unit suggester through routing's service API, on the configured backend: trained on the
//! matters resolved before, it names the unit that finally resolves a matter more often than
//! the catalog does; its accuracy figures equal a recount; its suggestions carry their evidence
//! and the model's version.

mod common;

use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_routing::Routing;
use caseflow_routing::catalog::MatterFacts;
use caseflow_routing::dispatching::Rules;
use caseflow_routing::error::RoutingError;
use caseflow_routing::inputs::{LandInput, ReturnInput, ReviewInput, TextInput, UnitChoice};
use caseflow_routing::lifecycle::ContactRecord;
use caseflow_routing::suggest::accuracy::{self, InMemory};
use caseflow_routing::suggest::{Suggester, history};
use caseflow_runtime::clock::{Clock as _, ManualClock, SharedClock};
use caseflow_runtime::db::Db;
use caseflow_runtime::testing::TestDatabase;
use caseflow_runtime::{Principal, Problem, Role, time};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn dispatcher() -> Principal {
    Principal { name: "dispatcher".into(), role: Role::Dispatcher, unit: None }
}

fn handler(unit: &str) -> Principal {
    Principal { name: format!("{unit}-clerk"), role: Role::UnitHandler, unit: Some(unit.to_owned()) }
}

/// A kind of matter: what citizens write, the unit the platform names, and the unit that
/// finally resolves it.
struct Kind {
    category: &'static str,
    sub_district: &'static str,
    summary: &'static str,
    named: &'static str,
    resolver: &'static str,
}

/// Cooking fume in 开元 is 城管's, whatever the platform names (the catalog names no single
/// owner); a measured excess is 生态环境's; square-dance noise in 海滨 is settled by the
/// sub-district itself, though the catalog names 生态环境.
const KINDS: [Kind; 3] = [
    Kind {
        category: "urban_management.cooking_fume",
        sub_district: "kaiyuan",
        summary: "烧烤店油烟扰民",
        named: "shichangjianguan",
        resolver: "chengguan",
    },
    Kind {
        category: "urban_management.cooking_fume",
        sub_district: "kaiyuan",
        summary: "餐馆油烟检测超标",
        named: "shengtaihuanjing",
        resolver: "shengtaihuanjing",
    },
    Kind {
        category: "ecology.noise",
        sub_district: "haibin",
        summary: "广场舞音响噪音扰民",
        named: "shengtaihuanjing",
        resolver: "haibin",
    },
];

fn start() -> DateTime<Utc> {
    // Monday 6 January 2020, 09:00 in the district.
    Utc.with_ymd_and_hms(2020, 1, 6, 1, 0, 0).single().expect("instant")
}

/// Case `n` of `kind` arrives at `at`, routed as the service routes it (with the word of
/// `suggester`'s model, when one is trained).
async fn receive(
    db: &Db,
    rules: &Arc<Rules>,
    clock: &SharedClock,
    suggester: &Suggester,
    n: usize,
    kind: &Kind,
    at: DateTime<Utc>,
) {
    let case = pb::CaseReceived {
        case_id: format!("case-{n:04}"),
        source: pb::CaseSource::Hotline as i32,
        received_at: Some(time::to_proto(at)),
        channel: "phone".into(),
        kind: pb::CaseKind::Complaint as i32,
        category: kind.category.into(),
        location: Some(pb::Location { sub_district: kind.sub_district.into(), ..Default::default() }),
        matters: vec![pb::ReceivedMatter {
            matter_id: format!("case-{n:04}-m1"),
            ordinal: 1,
            category: kind.category.into(),
            target_unit: kind.named.into(),
            summary: kind.summary.into(),
        }],
        ..Default::default()
    };
    common::receive(db, rules, clock, suggester, i64::try_from(n + 1).unwrap_or_default(), case).await;
}

/// Sends the matter on to its resolver when the platform named another unit, and resolves it.
async fn resolve(routing: &Routing, clock: &ManualClock, n: usize, kind: &Kind) {
    let matter = format!("case-{n:04}-m1");
    let mut dispatch = format!("{matter}-d1");
    if kind.named != kind.resolver {
        routing
            .transfer(
                &dispatcher(),
                &dispatch,
                UnitChoice { unit: kind.resolver.into(), reason: "职责在此单位".into(), basis: String::new() },
            )
            .await
            .expect("transferred");
        dispatch = format!("{matter}-d2");
    }
    let unit = handler(kind.resolver);
    routing.acknowledge(&unit, &dispatch).await.expect("acknowledged");
    let at = clock.now().to_rfc3339();
    routing
        .land(&unit, &dispatch, LandInput { at, method: "phone".into(), note: "已电话联系".into() })
        .await
        .expect("landed");
    routing.reply(&unit, &dispatch, TextInput { text: "已处理".into() }).await.expect("replied");
    routing
        .review(&dispatcher(), &dispatch, ReviewInput { accept: true, reason: String::new() })
        .await
        .expect("reviewed");
    routing.resolve(&dispatcher(), &dispatch).await.expect("resolved");
}

/// Two weeks of the past, resolved the same day; then two weeks more: `KINDS` in turn. Returns
/// the number of the next case.
async fn history(
    routing: &Routing,
    manual: &ManualClock,
    db: &Db,
    rules: &Arc<Rules>,
    clock: &SharedClock,
    past: usize,
    future: usize,
) -> usize {
    let mut n = 0;
    for period in 0..2 {
        let count = if period == 0 { past } else { future };
        for i in 0..count {
            let at = start() + Duration::days(14 * period + (i as i64 % 10)) + Duration::minutes(i as i64);
            manual.set(at);
            let kind = &KINDS[i % KINDS.len()];
            receive(db, rules, clock, routing.suggester(), n, kind, at).await;
            manual.set(at + Duration::hours(3));
            resolve(routing, manual, n, kind).await;
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trained_on_the_past_the_suggester_beats_the_catalog_and_its_figures_recount() {
    let test_db = TestDatabase::new("suggester");
    let (db, rules) = common::open(&test_db).await;
    let manual = Arc::new(ManualClock::new(start()));
    let clock: SharedClock = manual.clone();
    let routing = Routing::new(db.clone(), clock.clone(), rules.clone());

    let (past, future) = (30usize, 30usize);
    let n = history(&routing, &manual, &db, &rules, &clock, past, future).await;
    manual.set(start() + Duration::days(40));

    let from = start() + Duration::days(14);
    let to = start() + Duration::days(28);
    let report = routing.suggester_accuracy(&dispatcher(), from, to).await.expect("accuracy");
    let method = |name: &str| report.figures.methods.iter().find(|m| m.method == name).cloned().expect(name);
    assert_eq!(report.received, future as u64);
    assert_eq!(report.figures.measured, future as u64, "every measured matter was resolved");

    // The recount: the platform names the resolver only for the measured-excess kind; the
    // catalog names 生态环境 for noise and no single owner for fume.
    let recount = |choose: &dyn Fn(&Kind) -> Option<String>| {
        (0..future)
            .filter(|i| choose(&KINDS[i % KINDS.len()]) == Some(KINDS[i % KINDS.len()].resolver.to_owned()))
            .count() as u64
    };
    assert_eq!(method("platform").right, recount(&|k| Some(k.named.to_owned())));
    assert_eq!(method("first_dispatch").right, recount(&|k| Some(k.named.to_owned())));
    let catalog = method("catalog");
    let catalog_unit = |k: &Kind| {
        let facts = MatterFacts {
            category: k.category,
            summary: k.summary,
            sub_district: k.sub_district,
            on: from.date_naive(),
        };
        rules.catalog.responsible(&facts).map(|e| e.unit.clone())
    };
    assert_eq!(catalog.right, recount(&catalog_unit), "{catalog:?}");
    assert_eq!(
        catalog.answered,
        (0..future).filter(|i| catalog_unit(&KINDS[i % KINDS.len()]).is_some()).count() as u64
    );
    assert_eq!(method("platform").answered, future as u64, "the platform named a unit every time");
    // Learned from the past only, the suggester knows each kind's resolver.
    let top1 = method("suggester_top1");
    assert_eq!(top1.right, future as u64, "{report:?}");
    assert!(top1.right > catalog.right && top1.right > method("platform").right);
    assert_eq!(method("suggester_top3").right, future as u64);
    assert!((top1.percent - 100.0).abs() < 1e-9);

    // A new matter in triage: the dispatcher sees the units, scores, evidence and version.
    receive(&db, &rules, &clock, routing.suggester(), n, &Kind { named: "", ..KINDS[0] }, start() + Duration::days(40))
        .await;
    let s = routing.suggestions(&dispatcher(), &format!("case-{n:04}-m1")).await.expect("suggestions");
    let first = &s.suggestions[0];
    assert_eq!(first.unit, "chengguan");
    assert_eq!(first.scope, "sub_district");
    assert_eq!((first.resolved, first.of), (20, 40), "fume matters in 开元: 20 by 城管, 20 by 生态环境");
    assert!(first.evidence.contains("resolved 20 of 40 such matters"), "{}", first.evidence);
    assert!(first.evidence.contains("开元街道"), "{}", first.evidence);
    assert!(s.suggestions.len() <= 3 && s.suggestions.windows(2).all(|w| w[0].score >= w[1].score));
    let version = s.model.version;
    assert_eq!(s.model.matters, (past + future) as u64);
    let retrained = routing.train_suggester(&dispatcher()).await.expect("retrained");
    assert_eq!(retrained.version, version + 1, "each training is a new version");

    // Only dispatchers (and the office, for the figures) may ask.
    let clerk = handler("chengguan");
    let refused = routing.suggestions(&clerk, &format!("case-{n:04}-m1")).await.expect_err("a unit's clerk");
    assert_eq!(Problem::from(refused).rule.as_deref(), Some("auth.role"));
    match routing.suggester_accuracy(&dispatcher(), to, from).await {
        Err(RoutingError::Invalid(v)) => {
            assert_eq!(v.len(), 1);
            assert_eq!((v[0].field.as_str(), v[0].description.as_str()), ("to", "must be after `from`"));
        }
        other => panic!("a period that ends before it starts is refused by name: {other:?}"),
    }
    match routing.catalog_contradictions(&dispatcher(), from, from + Duration::days(367)).await {
        Err(RoutingError::Invalid(v)) => {
            assert_eq!(v.len(), 1);
            assert_eq!(
                (v[0].field.as_str(), v[0].description.as_str()),
                ("to", "must be at most 366 days after `from`")
            );
        }
        other => panic!("a period longer than a year is refused by name: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suggesters_word_goes_with_triage_dispatches_returns_and_the_catalog_it_contradicts() {
    let test_db = TestDatabase::new("suggester_word");
    let (db, rules) = common::open(&test_db).await;
    let manual = Arc::new(ManualClock::new(start()));
    let clock: SharedClock = manual.clone();
    let routing = Routing::new(db.clone(), clock.clone(), rules.clone());
    let mut n = history(&routing, &manual, &db, &rules, &clock, 30, 30).await;
    let now = start() + Duration::days(40);
    manual.set(now);
    let version = routing.train_suggester(&dispatcher()).await.expect("trained").version;

    // A barbecue-fume matter with no unit named: the catalog names no single owner, so it waits
    // in triage, and the log and the event carry the units history ranks first.
    receive(&db, &rules, &clock, routing.suggester(), n, &Kind { named: "", ..KINDS[0] }, now).await;
    let triaged = format!("case-{n:04}");
    let log = routing.case_log(&dispatcher(), &triaged).await.expect("log");
    let entry = log.iter().find(|e| e.action == "triage").expect("a triage entry");
    let evidence: serde_json::Value = serde_json::from_str(&entry.evidence).expect("evidence is JSON");
    assert_eq!(evidence["suggester"]["model_version"], version);
    assert_eq!(evidence["suggester"]["suggestions"][0]["unit"], "chengguan", "{evidence}");
    n += 1;

    // The platform names 市场监管局 for the same kind: it resolved none of the 40 fume matters in
    // 开元, so the dispatch goes ahead and carries the warning, naming 城管局 as the likely unit.
    receive(&db, &rules, &clock, routing.suggester(), n, &KINDS[0], now).await;
    let warned_matter = format!("case-{n:04}-m1");
    let warned = format!("{warned_matter}-d1");
    let view = routing.dispatch(&dispatcher(), &warned).await.expect("dispatch");
    assert_eq!(view.unit, "shichangjianguan", "the warning never changes the unit: a person decides");
    let warning = view.history_warning.expect("a warning on the dispatch");
    assert_eq!(warning.model_version, version);
    assert_eq!((warning.unit.resolved, warning.unit.of), (0, 40));
    assert_eq!(warning.likely.as_ref().map(|l| l.unit.as_str()), Some("chengguan"));
    assert!(warning.warning.as_deref().is_some_and(|w| w.contains("0 of 40")), "{warning:?}");
    // A unit that resolved half of such matters is not warned about.
    n += 1;
    receive(&db, &rules, &clock, routing.suggester(), n, &KINDS[1], now).await;
    let plain = routing.dispatch(&dispatcher(), &format!("case-{n:04}-m1-d1")).await.expect("dispatch");
    assert!(plain.history_warning.is_none(), "{:?}", plain.history_warning);

    // 市场监管局 asks to return it to 城管局: the dispatcher sees what history says of 城管局.
    let unit = handler("shichangjianguan");
    routing.acknowledge(&unit, &warned).await.expect("acknowledged");
    let asked = routing
        .request_return(
            &unit,
            &warned,
            ReturnInput {
                reason_code: "not_our_duty".into(),
                reason: "露天烧烤油烟属城管执法".into(),
                proposed_unit: "chengguan".into(),
                catalog_entry: Some("cm-fume".into()),
                legal_basis: None,
                contact: Some(ContactRecord {
                    at: now.to_rfc3339(),
                    method: "phone".into(),
                    learned: "诉求人反映烧烤摊油烟".into(),
                }),
            },
        )
        .await
        .expect("return asked");
    let proposed = asked.proposed_unit_history.expect("the proposed unit's history");
    assert_eq!((proposed.unit.unit.as_str(), proposed.unit.resolved, proposed.unit.of), ("chengguan", 20, 40));
    assert!(proposed.warning.is_none() && proposed.likely.is_none(), "{proposed:?}");
    let returns = routing.matter_returns(&dispatcher(), &warned_matter).await.expect("returns");
    assert_eq!(returns[0].proposed_unit_history.as_ref().map(|h| h.unit.resolved), Some(20), "kept with the request");

    // The events say what the dispatcher saw, with the model's version.
    let events = db.read(common::read_all_events).await.expect("events");
    let note = |action: &str, matter: &str| {
        events
            .iter()
            .find(|e| e.action == action && e.matter_id == matter)
            .and_then(|e| e.suggester.clone())
            .unwrap_or_else(|| panic!("{action} of {matter} carries the suggester's note"))
    };
    let triage = note("triage", &format!("{triaged}-m1"));
    assert_eq!((triage.model_version, triage.units[0].unit.as_str()), (version, "chengguan"));
    assert!(triage.warning.is_empty());
    let dispatched = note("dispatch", &warned_matter);
    assert!(dispatched.warning.contains("rarely"), "{dispatched:?}");
    assert_eq!(dispatched.units.iter().map(|u| u.unit.as_str()).collect::<Vec<_>>(), ["shichangjianguan", "chengguan"]);
    let asked = note("return_request", &warned_matter);
    assert_eq!((asked.units[0].unit.as_str(), asked.units[0].resolved), ("chengguan", 20));
    assert!(
        events.iter().filter(|e| e.action == "dispatch" && e.suggester.is_some()).count() == 1,
        "only the warned dispatch"
    );

    // Noise in 海滨: the catalog gives it to 生态环境局, which handed every one on to the
    // sub-district. The entry is listed for the office that keeps the catalog.
    let report = routing
        .catalog_contradictions(&dispatcher(), start(), start() + Duration::days(28))
        .await
        .expect("contradictions");
    assert_eq!(report.entries.len(), 1, "{report:?}");
    let noise = &report.entries[0];
    assert_eq!((noise.entry.as_str(), noise.unit.as_str()), ("eco-noise", "shengtaihuanjing"));
    assert_eq!((noise.matters, noise.handed_on, noise.resolved_by_unit), (20, 20, 0));
    assert_eq!(noise.resolved_by.iter().map(|r| (r.unit.as_str(), r.resolved)).collect::<Vec<_>>(), [("haibin", 20)]);
    let refused = routing
        .catalog_contradictions(&handler("haibin"), start(), now)
        .await
        .expect_err("a unit's clerk does not keep the catalog");
    assert_eq!(Problem::from(refused).rule.as_deref(), Some("auth.role"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_training_at_once_each_get_their_own_model_number() {
    let test_db = TestDatabase::new("suggester_replicas");
    let (db, _rules) = common::open(&test_db).await;
    // Each replica has its own suggester and its own connections to the one database.
    let other =
        Db::connect(&test_db.config, vec![&caseflow_runtime::event_log::MIGRATIONS, &caseflow_routing::MIGRATIONS])
            .await
            .expect("a second replica's connections");
    let (a, b) = (Suggester::default(), Suggester::default());
    let mut versions = Vec::new();
    for _ in 0..10 {
        let (x, y) = tokio::join!(a.train(&db, start()), b.train(&other, start()));
        versions.push(x.expect("the first replica trained").version);
        versions.push(y.expect("the second replica trained").version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<i32>>(), "twenty trainings, twenty numbers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_reads_page_after_page_and_learns_each_matter_once() {
    let test_db = TestDatabase::new("suggester_pages");
    let (db, rules) = common::open(&test_db).await;
    let manual = Arc::new(ManualClock::new(start()));
    let clock: SharedClock = manual.clone();
    let routing = Routing::new(db.clone(), clock.clone(), rules.clone());
    // 25 matters read in pages of 4: six full pages and a last one of 1.
    history(&routing, &manual, &db, &rules, &clock, 15, 10).await;
    let (from, to) = ((start() - Duration::days(1)).naive_utc(), (start() + Duration::days(60)).naive_utc());
    let all = db
        .read(move |c| history::resolved_between(c, from, to).map_err(caseflow_runtime::DbError::from))
        .await
        .expect("all at once");
    assert_eq!(all.len(), 25);
    let mut paged: Vec<(String, String)> = Vec::new();
    let mut after: Option<(chrono::NaiveDateTime, String)> = None;
    loop {
        let from_here = after.clone();
        let page = db
            .read(move |c| {
                history::resolved_page(c, from, to, from_here.as_ref(), 4).map_err(caseflow_runtime::DbError::from)
            })
            .await
            .expect("a page");
        paged.extend(page.resolved.iter().map(|r| (r.matter_id.clone(), r.example.unit.clone())));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let whole: Vec<(String, String)> = all.iter().map(|r| (r.matter_id.clone(), r.example.unit.clone())).collect();
    assert_eq!(paged, whole, "pages of 4 give the same matters in the same order, none twice");

    // The accuracy report learns and forgets from two cursors over pages: the same figures as
    // from the matters held whole, with a window short enough that forgetting crosses pages.
    let window = Duration::days(10);
    let (over_pages, held_whole) = db
        .read(move |c| {
            let arrivals = history::received_between(c, from, to)?;
            let all = history::resolved_between(c, from, to)?;
            let Ok(whole) = accuracy::measure(&mut InMemory::new(&all), &mut InMemory::new(&all), &arrivals, window);
            let conn = std::cell::RefCell::new(c);
            let (mut learn, mut forget) =
                (history::Pages::new(&conn, from, to, 4), history::Pages::new(&conn, from, to, 4));
            let paged = accuracy::measure(&mut learn, &mut forget, &arrivals, window)?;
            Ok::<_, caseflow_runtime::DbError>((paged, whole))
        })
        .await
        .expect("measured both ways");
    assert_eq!(over_pages, held_whole);
    assert!(over_pages.measured > 0, "{over_pages:?}");
    manual.set(start() + Duration::days(60));
    let model = routing.train_suggester(&dispatcher()).await.expect("trained");
    assert_eq!(model.matters, 25, "the model learned what was read, page after page");
}
