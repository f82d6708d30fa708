//! Ten thousand random action sequences by concurrent actors against the routing service and
//! its database (SQLite, or PostgreSQL with `TEST_DATABASE_URL`). Whatever the order:
//! - no matter is dispatched to a unit that returned it, except by designation;
//! - approved returns never exceed the cap;
//! - deadlines never move later except by an approved extension;
//! - every state change has exactly one log entry and one event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;

use caseflow_proto::v1 as pb;
use caseflow_routing::Routing;
use caseflow_routing::dispatching::Rules;
use caseflow_routing::inputs::{Decision, ExtensionInput, LandInput, ReturnInput, ReviewInput, TextInput, UnitChoice};
use caseflow_routing::lifecycle::ContactRecord;
use caseflow_routing::suggest::Suggester;
use caseflow_runtime::clock::{ManualClock, SharedClock};
use caseflow_runtime::db::{Db, DbError};
use caseflow_runtime::testing::TestDatabase;
use caseflow_runtime::{Principal, Role, time};
use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;

const SEQUENCES: usize = 10_000;
const MATTERS: usize = 120;
const ACTORS: usize = 6;
const UNITS: [&str; 5] = ["chengguan", "zhujian", "shengtaihuanjing", "shichangjianguan", "kaiyuan"];

/// xorshift64*: small, seeded, good enough to shuffle actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn now() -> DateTime<Utc> {
    // Tuesday 30 June 2020, 10:00 in the district: every return window is open.
    Utc.with_ymd_and_hms(2020, 6, 30, 2, 0, 0).single().expect("instant")
}

fn unit_handler(unit: &str) -> Principal {
    Principal { name: format!("{unit}-clerk"), role: Role::UnitHandler, unit: Some(unit.to_owned()) }
}

fn dispatcher(n: usize) -> Principal {
    Principal { name: format!("dispatcher-{n}"), role: Role::Dispatcher, unit: None }
}

async fn seed(db: &Db, rules: Arc<Rules>, clock: SharedClock, matters: usize) {
    for i in 0..matters {
        let case = pb::CaseReceived {
            case_id: format!("case-{i:04}"),
            source: pb::CaseSource::Hotline as i32,
            received_at: Some(time::to_proto(now() - chrono::Duration::hours(1))),
            channel: "phone".into(),
            kind: pb::CaseKind::Complaint as i32,
            category: "urban_management.cooking_fume".into(),
            location: Some(pb::Location { sub_district: "kaiyuan".into(), ..Default::default() }),
            matters: vec![pb::ReceivedMatter {
                matter_id: format!("case-{i:04}-m1"),
                ordinal: 1,
                category: "urban_management.cooking_fume".into(),
                target_unit: UNITS[i % UNITS.len()].into(),
                summary: "油烟扰民".into(),
            }],
            ..Default::default()
        };
        common::receive(db, &rules, &clock, &Suggester::default(), i64::try_from(i + 1).unwrap_or_default(), case)
            .await;
    }
}

fn contact() -> Option<ContactRecord> {
    Some(ContactRecord {
        at: "2020-06-30T10:00:00+08:00".into(), method: "phone".into(), learned: "核实诉求".into()
    })
}

/// One sequence: a few actions by one actor on one matter, each allowed to be refused.
async fn sequence(routing: &Routing, rng: &mut Rng, actor: usize, stats: &Stats) {
    let matter_id = format!("case-{:04}-m1", rng.below(MATTERS));
    let boss = dispatcher(actor);
    let Ok(matter) = routing.matter(&boss, &matter_id).await else { return };
    let Ok(dispatches) = routing.case_dispatches(&boss, &matter.case_id).await else { return };
    let open = dispatches
        .iter()
        .rev()
        .find(|d| d.role == "lead" && !matches!(d.state.as_str(), "returned" | "transferred" | "superseded"));
    let steps = 1 + rng.below(3);
    for _ in 0..steps {
        stats.actions.fetch_add(1, Ordering::Relaxed);
        let result = match (matter.state.as_str(), open) {
            ("arbitration", _) => routing
                .designate(
                    &boss,
                    &matter_id,
                    UnitChoice {
                        unit: (*rng.pick(&UNITS)).into(), reason: "仲裁".into(), basis: "权责清单".into()
                    },
                )
                .await
                .map(|_| ()),
            ("triage", _) => routing
                .assign(
                    &boss,
                    &matter_id,
                    UnitChoice { unit: (*rng.pick(&UNITS)).into(), reason: "分派".into(), basis: String::new() },
                )
                .await
                .map(|_| ()),
            (_, Some(d)) => {
                let clerk = unit_handler(&d.unit);
                let id = d.dispatch_id.as_str();
                match rng.below(12) {
                    0 => routing.acknowledge(&clerk, id).await.map(|_| ()),
                    1 => routing
                        .land(
                            &clerk,
                            id,
                            LandInput {
                                at: "2020-06-30T10:00:00+08:00".into(),
                                method: "phone".into(),
                                note: String::new(),
                            },
                        )
                        .await
                        .map(|_| ()),
                    2 => routing.reply(&clerk, id, TextInput { text: "已处理".into() }).await.map(|_| ()),
                    3 | 4 => {
                        let to = *rng.pick(&UNITS);
                        let input = ReturnInput {
                            reason_code: "not_our_duty".into(),
                            reason: "非本单位职责".into(),
                            proposed_unit: to.into(),
                            legal_basis: Some("权责清单".into()),
                            contact: contact(),
                            ..Default::default()
                        };
                        routing.request_return(&clerk, id, input).await.map(|_| ())
                    }
                    5 | 6 => {
                        let pending = routing.matter_returns(&boss, &matter_id).await.unwrap_or_default();
                        match pending.iter().find(|r| r.status == "pending") {
                            Some(r) => {
                                let unit = (rng.below(3) == 0).then(|| (*rng.pick(&UNITS)).to_owned());
                                let approve = rng.below(3) != 0;
                                routing
                                    .decide_return(
                                        &boss,
                                        &r.return_id,
                                        Decision { approve, reason: "裁定".into(), unit, days: None },
                                    )
                                    .await
                                    .map(|_| ())
                            }
                            None => Ok(()),
                        }
                    }
                    7 => routing
                        .transfer(
                            &boss,
                            id,
                            UnitChoice {
                                unit: (*rng.pick(&UNITS)).into(),
                                reason: "转办".into(),
                                basis: String::new(),
                            },
                        )
                        .await
                        .map(|_| ()),
                    8 => routing
                        .review(&boss, id, ReviewInput { accept: rng.below(3) != 0, reason: "审核".into() })
                        .await
                        .map(|_| ()),
                    9 => routing.resolve(&boss, id).await.map(|_| ()),
                    10 => routing
                        .request_extension(
                            &clerk,
                            id,
                            ExtensionInput {
                                days: 1 + i32::try_from(rng.below(5)).unwrap_or(0),
                                reason: "复杂".into(),
                                progress: "进行中".into(),
                            },
                        )
                        .await
                        .map(|_| ()),
                    _ => routing.rehandle(&boss, id, TextInput { text: "不满意".into() }).await.map(|_| ()),
                }
            }
            _ => Ok(()),
        };
        if result.is_err() {
            stats.refused.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Pending extensions are decided now and then.
    if rng.below(4) == 0 {
        let _ = decide_some_extension(routing, &boss, &matter_id, rng).await;
    }
}

async fn decide_some_extension(routing: &Routing, boss: &Principal, matter_id: &str, rng: &mut Rng) -> Option<()> {
    let id: Option<String> = routing
        .db_for_tests()
        .read({
            let m = matter_id.to_owned();
            move |c| {
                caseflow_routing::store::extensions::table
                    .filter(caseflow_routing::store::extensions::matter_id.eq(m))
                    .filter(caseflow_routing::store::extensions::status.eq("pending"))
                    .select(caseflow_routing::store::extensions::id)
                    .first::<String>(c)
                    .optional()
                    .map_err(DbError::from)
            }
        })
        .await
        .ok()?;
    let approve = rng.below(2) == 0;
    routing
        .decide_extension(boss, &id?, Decision { approve, reason: "审批".into(), unit: None, days: None })
        .await
        .ok()
        .map(|_| ())
}

#[derive(Default)]
struct Stats {
    actions: AtomicUsize,
    refused: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_random_sequences_keep_every_rule() {
    let test_db = TestDatabase::new("routing_random");
    let (db, rules, routing) = start(&test_db, MATTERS).await;

    let stats = Arc::new(Stats::default());
    let mut actors = Vec::new();
    for actor in 0..ACTORS {
        let (routing, stats) = (routing.clone(), stats.clone());
        actors.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (actor as u64 + 1));
            for _ in 0..SEQUENCES / ACTORS + usize::from(actor < SEQUENCES % ACTORS) {
                sequence(&routing, &mut rng, actor, &stats).await;
            }
        }));
    }
    for a in actors {
        a.await.expect("actor finished");
    }
    let (actions, refused) = (stats.actions.load(Ordering::Relaxed), stats.refused.load(Ordering::Relaxed));
    assert!(actions >= SEQUENCES, "{actions} actions");
    assert!(refused < actions, "some actions succeeded ({refused} of {actions} refused)");

    check_invariants(&db, &rules, true).await;
}

/// A migrated routing database with `matters` matters dispatched (`case-NNNN-m1`, to the units
/// in turn), and the service over it.
async fn start(test_db: &TestDatabase, matters: usize) -> (Db, Arc<Rules>, Routing) {
    let (db, rules) = common::open(test_db).await;
    let clock: SharedClock = Arc::new(ManualClock::new(now()));
    seed(&db, rules.clone(), clock.clone(), matters).await;
    let routing = Routing::new(db.clone(), clock, rules.clone());
    (db, rules, routing)
}

const RACES: usize = 1_000;

/// The four conflicts of the issue, raced by two clients on one dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Race {
    TwoReturns,
    ReturnAgainstTransfer,
    ResolveAgainstReturn,
    TwoDecisions,
}

fn return_to(unit: &str) -> ReturnInput {
    ReturnInput {
        reason_code: "not_our_duty".into(),
        reason: "非本单位职责".into(),
        proposed_unit: unit.into(),
        legal_basis: Some("权责清单".into()),
        contact: contact(),
        ..Default::default()
    }
}

/// A refusal must be a rule's or a lost race's, never a failure.
fn refused_by_rule<T>(r: &Result<T, caseflow_routing::error::RoutingError>) -> bool {
    use caseflow_routing::error::RoutingError;
    match r {
        Ok(_) | Err(RoutingError::Db(_)) => false,
        Err(RoutingError::Refused(p)) => {
            !matches!(p.kind, caseflow_runtime::ErrorKind::Internal | caseflow_runtime::ErrorKind::Unavailable)
        }
        Err(RoutingError::Invalid(_) | RoutingError::NotFound(_) | RoutingError::Conflict(_)) => true,
    }
}

/// One race on matter `i`: the state it needs, then two conflicting actions at once. Returns
/// how many of the two were applied.
async fn race(routing: &Routing, i: usize, kind: Race) -> usize {
    let boss = dispatcher(i);
    let matter_id = format!("case-{i:04}-m1");
    let case_id = format!("case-{i:04}");
    let list = routing.case_dispatches(&boss, &case_id).await.expect("dispatches");
    let d = list.iter().find(|d| d.role == "lead").expect("a lead dispatch");
    let (id, clerk) = (d.dispatch_id.clone(), unit_handler(&d.unit));
    let other = UNITS.iter().find(|u| **u != d.unit).copied().unwrap_or("zhujian");
    let third = UNITS.iter().rev().find(|u| **u != d.unit && **u != other).copied().unwrap_or("kaiyuan");
    let transfer = UnitChoice { unit: other.into(), reason: "转办".into(), basis: String::new() };
    let applied = |a: bool, b: bool| usize::from(a) + usize::from(b);
    match kind {
        Race::TwoReturns => {
            let (a, b) = tokio::join!(
                routing.request_return(&clerk, &id, return_to(other)),
                routing.request_return(&clerk, &id, return_to(third)),
            );
            assert!(a.is_ok() || refused_by_rule(&a), "{a:?}");
            assert!(b.is_ok() || refused_by_rule(&b), "{b:?}");
            assert!(a.is_ok() != b.is_ok(), "race {i}: exactly one of two returns is taken: {a:?} {b:?}");
            applied(a.is_ok(), b.is_ok())
        }
        Race::ReturnAgainstTransfer => {
            let (a, b) = tokio::join!(
                routing.request_return(&clerk, &id, return_to(third)),
                routing.transfer(&boss, &id, transfer)
            );
            assert!(a.is_ok() || refused_by_rule(&a), "{a:?}");
            assert!(b.is_ok() || refused_by_rule(&b), "{b:?}");
            applied(a.is_ok(), b.is_ok())
        }
        Race::ResolveAgainstReturn => {
            routing.acknowledge(&clerk, &id).await.expect("acknowledged");
            let land =
                LandInput { at: "2020-06-30T10:00:00+08:00".into(), method: "phone".into(), note: String::new() };
            routing.land(&clerk, &id, land).await.expect("landed");
            routing.reply(&clerk, &id, TextInput { text: "已处理".into() }).await.expect("replied");
            routing.review(&boss, &id, ReviewInput { accept: true, reason: "审核".into() }).await.expect("reviewed");
            let (a, b) =
                tokio::join!(routing.resolve(&boss, &id), routing.request_return(&clerk, &id, return_to(other)));
            assert!(a.is_ok() || refused_by_rule(&a), "{a:?}");
            assert!(b.is_ok() || refused_by_rule(&b), "{b:?}");
            assert!(a.is_ok() && b.is_err(), "race {i}: a reviewed dispatch resolves and is no longer returned");
            applied(a.is_ok(), b.is_ok())
        }
        Race::TwoDecisions => {
            let r = routing.request_return(&clerk, &id, return_to(other)).await.expect("return asked");
            let decide = |approve: bool| Decision { approve, reason: "裁定".into(), unit: None, days: None };
            let second = dispatcher(i + 1);
            let (a, b) = tokio::join!(
                routing.decide_return(&boss, &r.return_id, decide(true)),
                routing.decide_return(&second, &r.return_id, decide(false)),
            );
            assert!(a.is_ok() || refused_by_rule(&a), "{a:?}");
            assert!(b.is_ok() || refused_by_rule(&b), "{b:?}");
            assert!(a.is_ok() != b.is_ok(), "race {i}: exactly one decision on one request: {a:?} {b:?}");
            let returns = routing.matter_returns(&boss, &matter_id).await.expect("returns");
            assert_eq!(returns.iter().filter(|r| r.status == "pending").count(), 0, "race {i}: decided once");
            applied(a.is_ok(), b.is_ok())
        }
    }
}

/// A thousand races of two clients on one dispatch each: two returns, a return against a
/// transfer, a resolution against a return, two decisions on one request. Each ends in a state
/// the lifecycle allows, with one log entry and one event per applied action.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_races_on_one_dispatch_each_end_as_the_lifecycle_allows() {
    let test_db = TestDatabase::new("routing_races");
    let (db, rules, routing) = start(&test_db, RACES).await;
    let kinds = [Race::TwoReturns, Race::ReturnAgainstTransfer, Race::ResolveAgainstReturn, Race::TwoDecisions];
    let mut applied: BTreeMap<Race, usize> = BTreeMap::new();
    for chunk in (0..RACES).collect::<Vec<_>>().chunks(8) {
        let runs = chunk.iter().map(|&i| {
            let routing = routing.clone();
            let kind = kinds[i % kinds.len()];
            tokio::spawn(async move { (kind, race(&routing, i, kind).await) })
        });
        for run in futures::future::join_all(runs).await {
            let (kind, n) = run.expect("race finished");
            *applied.entry(kind).or_default() += n;
        }
    }
    // Both actions of a return against a transfer can land (the return is asked, then the
    // dispatch moves on), or one: either way some of each race's actions were applied.
    for kind in kinds {
        assert!(applied.get(&kind).copied().unwrap_or(0) >= RACES / kinds.len(), "{kind:?}: {applied:?}");
    }
    check_invariants(&db, &rules, false).await;
}

/// The rules every run keeps; `deep` also asks that the run reached the cap and deep states
/// (the random sequences must, or they tested little).
async fn check_invariants(db: &Db, rules: &Rules, deep: bool) {
    use caseflow_routing::store::{
        DispatchRow, LogRow, MatterRow, ReturnRow, dispatches, return_requests, routing_log, routing_matters,
    };
    let (matters, all_dispatches, returns, log, events) = db
        .read(|c| {
            let m: Vec<MatterRow> = routing_matters::table.select(MatterRow::as_select()).load(c)?;
            let d: Vec<DispatchRow> = dispatches::table.select(DispatchRow::as_select()).load(c)?;
            let r: Vec<ReturnRow> = return_requests::table.select(ReturnRow::as_select()).load(c)?;
            let l: Vec<LogRow> = routing_log::table
                .order((routing_log::at.asc(), routing_log::id.asc()))
                .select(LogRow::as_select())
                .load(c)?;
            let e = common::read_all_events(c)?;
            Ok::<_, DbError>((m, d, r, l, e))
        })
        .await
        .expect("read back");

    // No ping-pong: after a unit's approved return, it gets the matter again only by designation.
    let mut exercised = 0;
    // (The clock stands still in this run, so "after" is by assignment number, not by time.)
    let assignment: BTreeMap<&str, i32> = all_dispatches.iter().map(|d| (d.id.as_str(), d.assignment)).collect();
    for r in returns.iter().filter(|r| r.status == "approved") {
        let returned = assignment[r.dispatch_id.as_str()];
        let later = |d: &&DispatchRow| {
            d.matter_id == r.matter_id && d.unit == r.unit && d.id != r.dispatch_id && d.assignment >= returned
        };
        for d in all_dispatches.iter().filter(later) {
            assert_eq!(
                d.via, "designation",
                "{} got matter {} back after returning it, via {}",
                d.unit, d.matter_id, d.via
            );
            exercised += 1;
        }
    }
    // The cap.
    let cap = i32::try_from(rules.policy.returns.cap).unwrap_or(i32::MAX);
    let mut approved: BTreeMap<&str, i32> = BTreeMap::new();
    for r in returns.iter().filter(|r| r.status == "approved") {
        *approved.entry(r.matter_id.as_str()).or_default() += 1;
    }
    assert!(approved.values().all(|n| *n <= cap), "approved returns over the cap: {approved:?}");
    assert!(!deep || approved.values().any(|n| *n == cap), "the cap was reached at least once");
    for m in &matters {
        assert_eq!(m.approved_returns, approved.get(m.matter_id.as_str()).copied().unwrap_or(0), "{}", m.matter_id);
    }

    // Deadlines: each change of a matter's resolve deadline in its event history is an approved
    // extension, and moves it later; nothing else moves it.
    let mut last: BTreeMap<String, prost_types::Timestamp> = BTreeMap::new();
    let mut extended = 0;
    for e in &events {
        let Some(deadline) = e.resolve_deadline else { continue };
        if let Some(prev) = last.get(&e.matter_id)
            && *prev != deadline
        {
            assert_eq!(e.action, "extension_approve", "matter {} deadline moved by {}", e.matter_id, e.action);
            assert!(
                (deadline.seconds, deadline.nanos) > (prev.seconds, prev.nanos),
                "an extension moves the deadline later"
            );
            extended += 1;
        }
        last.insert(e.matter_id.clone(), deadline);
    }
    for m in &matters {
        let recorded = last.get(&m.matter_id).expect("every matter has events");

        assert_eq!(
            recorded.seconds,
            m.resolve_deadline.and_utc().timestamp(),
            "{}: stored and announced deadlines agree",
            m.matter_id
        );
    }

    // One log entry and one event per change, the same ones.
    assert_eq!(log.len(), events.len(), "log entries and events");
    let key = |d: &str, a: &str, f: &str, t: &str| (d.to_owned(), a.to_owned(), f.to_owned(), t.to_owned());
    let mut log_keys: Vec<_> = log
        .iter()
        .map(|l| key(l.dispatch_id.as_deref().unwrap_or(""), &l.action, &l.from_state, &l.to_state))
        .collect();
    let mut event_keys: Vec<_> =
        events.iter().map(|e| key(&e.dispatch_id, &e.action, &e.from_state, &e.to_state)).collect();
    log_keys.sort();
    event_keys.sort();
    assert_eq!(log_keys, event_keys, "every log entry has its event");
    // Each dispatch's state changes chain from `dispatched` to its current state: none lost,
    // none twice.
    let mut chains: BTreeMap<&str, Vec<&LogRow>> = BTreeMap::new();
    for l in log.iter().filter(|l| l.from_state != l.to_state && l.dispatch_id.is_some()) {
        chains.entry(l.dispatch_id.as_deref().unwrap_or("")).or_default().push(l);
    }
    for d in &all_dispatches {
        let chain = chains.get(d.id.as_str()).expect("every dispatch has its history");
        let mut state = "dispatched".to_owned();
        for l in chain.iter().skip(1) {
            assert_eq!(
                l.from_state, state,
                "dispatch {}: {} from {} but it was {}",
                d.id, l.action, l.from_state, state
            );
            state = l.to_state.clone();
        }
        assert_eq!(state, d.state, "dispatch {} ends where its log ends", d.id);
    }
    let states: BTreeSet<&str> = all_dispatches.iter().map(|d| d.state.as_str()).collect();
    assert!(states.contains("resolved") && states.contains("returned"), "the run reached deep states: {states:?}");
    assert!(!deep || states.contains("transferred"), "the run transferred: {states:?}");
    eprintln!(
        "checked {} dispatches, {} returns ({exercised} designations back), {extended} extensions, {} log entries",
        all_dispatches.len(),
        returns.len(),
        log.len()
    );
}
