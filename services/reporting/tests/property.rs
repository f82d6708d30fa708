//! For random event sets, applied with the three streams interleaved at random (a rating may
//! arrive before its dispatch, a dispatch before its case), every report builds (its
//! invariants hold) and every figure equals a brute-force recount from the generated events,
//! for ragged periods and for reports as of moments before, inside and after the events.
//! SQLite, or PostgreSQL with `TEST_DATABASE_URL`.

use std::collections::BTreeMap;
use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_reporting::projections::{EvaluationProjection, IntakeProjection, RoutingProjection};
use caseflow_reporting::{MIGRATIONS, Reports, units::Units};
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::testing::TestDatabase;
use caseflow_runtime::{Principal, Role, event_log, time};
use chrono::{DateTime, Duration, TimeZone, Utc};

const ROUNDS: u64 = 4;
const CASES: usize = 150;
const UNITS: [&str; 6] = ["chengguan", "zhujian", "shichangjianguan", "jiaoyu", "kaiyuan", "xinhua"];
const CHANNELS: [&str; 4] = ["letter", "visit", "online_complaint", "phone"];
const CATEGORIES: [&str; 3] = ["urban_management.cooking_fume", "environment.noise", "housing.property"];

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn seconds(&mut self, max_days: i64) -> Duration {
        Duration::seconds(self.below(u64::try_from(max_days * 86_400).unwrap_or(1)) as i64)
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 12, 31, 16, 0, 0).single().expect("2020-01-01 00:00 +08")
}

/// What the generator knows of each dispatch in the end: the truth the reports are checked against.
#[derive(Debug, Clone)]
struct Dispatch {
    id: String,
    case: usize,
    unit: String,
    lead: bool,
    /// open | resolved | returned | transferred
    status: &'static str,
    ack_deadline: DateTime<Utc>,
    acked: Option<DateTime<Utc>>,
    deadline: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Case {
    id: String,
    petition: bool,
    received: DateTime<Utc>,
    channel: &'static str,
    kind: pb::CaseKind,
    category: &'static str,
}

/// (case, subject) -> (status, mapped, dispatch id)
type Ratings = BTreeMap<(usize, String), (&'static str, Option<&'static str>, String)>;

#[derive(Default)]
struct World {
    cases: Vec<Case>,
    dispatches: Vec<Dispatch>,
    ratings: Ratings,
    intake: Vec<pb::IntakeEvent>,
    routing: Vec<pb::RoutingEvent>,
    evaluation: Vec<pb::EvaluationEvent>,
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(time::to_proto(t))
}

impl World {
    fn change(&mut self, d: &Dispatch, action: &str, to_state: &str, at: DateTime<Utc>) -> pb::DispatchChanged {
        let case = &self.cases[d.case];
        pb::DispatchChanged {
            dispatch_id: d.id.clone(),
            case_id: case.id.clone(),
            matter_id: format!("{}-m{}", case.id, d.id.rsplit('-').nth(1).unwrap_or("0")),
            unit: d.unit.clone(),
            assignment: 1,
            action: action.into(),
            to_state: to_state.into(),
            at: ts(at),
            source: if case.petition { pb::CaseSource::Petition } else { pb::CaseSource::Hotline } as i32,
            case_received_at: ts(case.received),
            dispatched_at: ts(at),
            acknowledge_deadline: ts(d.ack_deadline),
            resolve_deadline: ts(d.deadline),
            role: if d.lead { "lead" } else { "assist" }.into(),
            ..Default::default()
        }
    }

    fn emit(&mut self, e: pb::DispatchChanged) {
        self.routing.push(pb::RoutingEvent { kind: Some(pb::routing_event::Kind::DispatchChanged(e)) });
    }

    /// One matter: a first dispatch, perhaps a return or a transfer to a second unit, then the
    /// final unit's acknowledgement, extension, resolution and re-handling.
    fn matter(&mut self, rng: &mut Rng, case: usize, matter: usize, units: &[&str]) -> Option<usize> {
        let received = self.cases[case].received;
        let mut at = received + rng.seconds(2);
        let mut unit = rng.pick(units).to_owned();
        let mut hop = 0;
        loop {
            let id = format!("{}-{matter}-{hop}", self.cases[case].id);
            let mut d = Dispatch {
                id,
                case,
                unit: unit.clone(),
                lead: true,
                status: "open",
                ack_deadline: at + Duration::days(1),
                acked: None,
                deadline: at + Duration::days(10),
                resolved: None,
            };
            let created = self.change(&d, "dispatch", "dispatched", at);
            self.emit(created);
            if hop == 0 && rng.chance(10) {
                // An assisting unit: never counted in the unit tables.
                let mut assist = d.clone();
                assist.id = format!("{}-assist", d.id);
                assist.lead = false;
                assist.unit = rng.pick(units).to_owned();
                let e = self.change(&assist, "dispatch", "dispatched", at);
                self.emit(e);
                self.dispatches.push(assist);
            }
            if rng.chance(85) {
                at += rng.seconds(3);
                d.acked = Some(at);
                let e = self.change(&d, "acknowledge", "acknowledged", at);
                self.emit(e);
            }
            if hop == 0 && rng.chance(25) {
                at += rng.seconds(2);
                let (action, state) = if rng.chance(50) {
                    let mut e = self.change(&d, "return_request", "return_requested", at);
                    e.return_id = format!("{}-r", d.id);
                    self.emit(e);
                    ("return_approve", "returned")
                } else {
                    ("transfer", "transferred")
                };
                at += rng.seconds(1);
                d.status = state;
                let e = self.change(&d, action, state, at);
                self.emit(e);
                self.dispatches.push(d);
                let next = units.iter().filter(|u| **u != unit).collect::<Vec<_>>();
                unit = (*rng.pick(&next)).to_owned();
                hop += 1;
                continue;
            }
            if rng.chance(15) {
                at += rng.seconds(5);
                d.deadline += Duration::days(5);
                let e = self.change(&d, "extension_approve", "acknowledged", at);
                self.emit(e);
            }
            if rng.chance(75) {
                at += rng.seconds(15);
                d.status = "resolved";
                d.resolved = Some(at);
                let e = self.change(&d, "resolve", "resolved", at);
                self.emit(e);
                if rng.chance(10) {
                    at += rng.seconds(2);
                    d.status = "open";
                    d.resolved = None;
                    let e = self.change(&d, "rehandle", "acknowledged", at);
                    self.emit(e);
                    if rng.chance(60) {
                        at += rng.seconds(4);
                        d.status = "resolved";
                        d.resolved = Some(at);
                        let e = self.change(&d, "resolve", "resolved", at);
                        self.emit(e);
                    }
                }
            }
            self.dispatches.push(d);
            return Some(self.dispatches.len() - 1);
        }
    }

    fn rate(&mut self, rng: &mut Rng, case: usize, finals: &[usize]) {
        let c = self.cases[case].clone();
        let source = if c.petition { pb::CaseSource::Petition } else { pb::CaseSource::Hotline } as i32;
        let resolved: Vec<Dispatch> =
            finals.iter().map(|i| self.dispatches[*i].clone()).filter(|d| d.status == "resolved").collect();
        if resolved.is_empty() {
            return;
        }
        let mut subjects: Vec<pb::SubjectRating> = resolved
            .iter()
            .map(|d| pb::SubjectRating { subject: d.unit.clone(), dispatch_id: d.id.clone(), ..Default::default() })
            .collect();
        if c.petition {
            subjects.push(pb::SubjectRating { subject: "agency".into(), ..Default::default() });
        }
        let at = resolved.iter().filter_map(|d| d.resolved).max().unwrap_or(c.received) + rng.seconds(3);
        self.evaluation.push(pb::EvaluationEvent {
            kind: Some(pb::evaluation_event::Kind::Due(pb::EvaluationDue {
                case_id: c.id.clone(),
                source,
                due_at: ts(at),
                subjects: subjects.clone(),
                ..Default::default()
            })),
        });
        for s in &subjects {
            self.ratings.insert((case, s.subject.clone()), ("due", None, s.dispatch_id.clone()));
        }
        match rng.below(10) {
            0..=5 => {
                for s in &mut subjects {
                    let mapped = rng.pick(&["satisfied", "satisfied", "satisfied", "basic", "unsatisfied"]);
                    s.mapped = mapped.into();
                    self.ratings.insert((case, s.subject.clone()), ("rated", Some(mapped), s.dispatch_id.clone()));
                }
                self.evaluation.push(pb::EvaluationEvent {
                    kind: Some(pb::evaluation_event::Kind::Rated(pb::Rated {
                        case_id: c.id.clone(),
                        source,
                        at: ts(at + Duration::days(1)),
                        case_mapped: "satisfied".into(),
                        subjects,
                        ..Default::default()
                    })),
                });
            }
            6..=8 => {
                for s in &subjects {
                    self.ratings.insert((case, s.subject.clone()), ("expired", None, s.dispatch_id.clone()));
                }
                self.evaluation.push(pb::EvaluationEvent {
                    kind: Some(pb::evaluation_event::Kind::Expired(pb::Expired {
                        case_id: c.id.clone(),
                        source,
                        at: ts(at + Duration::days(30)),
                        subjects,
                        ..Default::default()
                    })),
                });
            }
            _ => {} // still inside its window
        }
    }

    fn generate(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let mut w = World::default();
        for i in 0..CASES {
            let petition = rng.chance(40);
            let case = Case {
                id: format!("s{seed}-c{i:03}"),
                petition,
                // Mostly the first half of 2020, some the half-year before (year on year) and after.
                received: start() + rng.seconds(200) - Duration::days(if rng.chance(15) { 366 } else { 10 }),
                channel: if petition { rng.pick(&CHANNELS[..3]) } else { CHANNELS[3] },
                kind: rng.pick(&[pb::CaseKind::Complaint, pb::CaseKind::Inquiry, pb::CaseKind::Unspecified]),
                category: rng.pick(&CATEGORIES),
            };
            w.intake.push(pb::IntakeEvent {
                kind: Some(pb::intake_event::Kind::CaseReceived(pb::CaseReceived {
                    case_id: case.id.clone(),
                    source: if petition { pb::CaseSource::Petition } else { pb::CaseSource::Hotline } as i32,
                    received_at: ts(case.received),
                    channel: case.channel.into(),
                    kind: case.kind as i32,
                    category: case.category.into(),
                    is_first: true,
                    ..Default::default()
                })),
            });
            w.cases.push(case);
            // Two matters go to disjoint units, so each unit rates one dispatch per case.
            let mut finals = Vec::new();
            finals.extend(w.matter(&mut rng, i, 1, &UNITS[..3]));
            if rng.chance(30) {
                finals.extend(w.matter(&mut rng, i, 2, &UNITS[3..]));
            }
            w.rate(&mut rng, i, &finals);
        }
        w
    }
}

fn envelope<M: prost::Message + prost::Name>(position: usize, message: &M) -> pb::EventEnvelope {
    pb::EventEnvelope {
        position: i64::try_from(position + 1).unwrap_or_default(),
        event_type: M::full_name(),
        payload: message.encode_to_vec(),
        ..Default::default()
    }
}

async fn apply(db: &Db, handler: Arc<dyn EventHandler>, event: pb::EventEnvelope) {
    db.write(move |c: &mut AnyConnection| {
        handler.apply(c, &event).map_err(|e| match e {
            ApplyError::Db(e) => e,
            other => DbError::Unavailable(other.to_string()),
        })
    })
    .await
    .expect("event applied");
}

/// Applies the three streams, each in its order, interleaved at random.
async fn replay(db: &Db, world: &World, rng: &mut Rng) {
    let streams: [(Arc<dyn EventHandler>, Vec<pb::EventEnvelope>); 3] = [
        (Arc::new(IntakeProjection), world.intake.iter().enumerate().map(|(i, e)| envelope(i, e)).collect()),
        (Arc::new(RoutingProjection), world.routing.iter().enumerate().map(|(i, e)| envelope(i, e)).collect()),
        (Arc::new(EvaluationProjection), world.evaluation.iter().enumerate().map(|(i, e)| envelope(i, e)).collect()),
    ];
    let mut next = [0_usize; 3];
    loop {
        let open: Vec<usize> = (0..3).filter(|s| next[*s] < streams[*s].1.len()).collect();
        if open.is_empty() {
            return;
        }
        let s = rng.pick(&open);
        // Runs of a few events, so one stream gets well ahead of another at times.
        for _ in 0..=rng.below(8) {
            if let Some(e) = streams[s].1.get(next[s]) {
                apply(db, streams[s].0.clone(), e.clone()).await;
                next[s] += 1;
            }
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct HotlineCount {
    received: u64,
    in_progress: u64,
    completed: u64,
    overdue_view: u64,
    overdue_handling: u64,
    unsatisfied: u64,
}

fn recount_hotline(
    w: &World,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: DateTime<Utc>,
) -> BTreeMap<String, HotlineCount> {
    let mut out: BTreeMap<String, HotlineCount> = BTreeMap::new();
    for d in &w.dispatches {
        let case = &w.cases[d.case];
        if case.petition || !d.lead || !matches!(d.status, "open" | "resolved") {
            continue;
        }
        if case.received < from || case.received >= to {
            continue;
        }
        let row = out.entry(d.unit.clone()).or_default();
        row.received += 1;
        if d.resolved.is_some_and(|r| r <= as_of) {
            row.completed += 1;
            let rating = w.ratings.get(&(d.case, d.unit.clone()));
            if rating.is_some_and(|(s, m, id)| *s == "rated" && *m == Some("unsatisfied") && *id == d.id) {
                row.unsatisfied += 1;
            }
        } else if as_of > d.deadline {
            row.overdue_handling += 1;
        } else {
            row.in_progress += 1;
        }
        let late_view = match d.acked {
            Some(t) if t <= as_of => t > d.ack_deadline,
            _ => as_of > d.ack_deadline,
        };
        row.overdue_view += u64::from(late_view);
    }
    out
}

/// Per unit: (due, expired, satisfied, basic, unsatisfied).
fn recount_petition(w: &World, from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<String, [u64; 5]> {
    let mut out: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    for ((case, subject), (status, mapped, _)) in &w.ratings {
        let c = &w.cases[*case];
        if !c.petition || subject == "agency" || c.received < from || c.received >= to {
            continue;
        }
        let row = out.entry(subject.clone()).or_default();
        row[0] += 1;
        match (*status, *mapped) {
            ("expired", _) => row[1] += 1,
            ("rated", Some("satisfied")) => row[2] += 1,
            ("rated", Some("basic")) => row[3] += 1,
            ("rated", Some(_)) => row[4] += 1,
            _ => {}
        }
    }
    out
}

fn office() -> Principal {
    Principal { name: "office".into(), role: Role::EfficiencyOffice, unit: None }
}

/// A moment at `days` from the start, off the hour so periods have ragged edges.
fn moment(rng: &mut Rng, days: i64) -> DateTime<Utc> {
    start() + Duration::days(days) + Duration::minutes(i64::try_from(rng.below(24 * 60)).unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_equal_a_recount_of_random_events_whatever_the_arrival_order() {
    for seed in 1..=ROUNDS {
        let test_db = TestDatabase::new("reporting_property");
        let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await.expect("database");
        let world = World::generate(seed * 7919);
        let mut rng = Rng(seed * 104_729);
        replay(&db, &world, &mut rng).await;
        let reports = Reports::new(db.clone(), Arc::new(Units::load(None).expect("units")), Default::default());

        // Whole half-year by midnights, then ragged periods; as of before, during and after.
        let half_year = (start(), Utc.with_ymd_and_hms(2020, 6, 30, 16, 0, 0).single().expect("2020-07-01 +08"));
        let mut periods = vec![half_year];
        for _ in 0..4 {
            let day = i64::try_from(rng.below(120)).unwrap_or(0) - 20;
            let a = moment(&mut rng, day);
            let days = i64::try_from(1 + rng.below(150)).unwrap_or(1);
            periods.push((a, a + Duration::days(days)));
        }
        let a = moment(&mut rng, 40);
        periods.push((a, a + Duration::hours(30)));
        for (from, to) in periods {
            for as_of in [moment(&mut rng, 30), moment(&mut rng, 100), moment(&mut rng, 400)] {
                let a2 = reports.attachment_2(&office(), from, to, as_of).await.expect("attachment 2 adds up");
                let got: BTreeMap<String, HotlineCount> = a2
                    .departments
                    .iter()
                    .chain(&a2.sub_districts)
                    .map(|r| {
                        let c = HotlineCount {
                            received: r.received,
                            in_progress: r.in_progress,
                            completed: r.completed,
                            overdue_view: r.overdue_view,
                            overdue_handling: r.overdue_handling,
                            unsatisfied: r.unsatisfied,
                        };
                        (r.unit.clone(), c)
                    })
                    .collect();
                assert_eq!(got, recount_hotline(&world, from, to, as_of), "seed {seed}: [{from}, {to}) as of {as_of}");
            }
            let a1 = reports.attachment_1(&office(), from, to).await.expect("attachment 1 adds up");
            let got: BTreeMap<String, [u64; 5]> = a1
                .departments
                .iter()
                .chain(&a1.sub_districts)
                .map(|r| (r.unit.clone(), [r.due, r.expired, r.satisfied, r.basic, r.unsatisfied]))
                .collect();
            assert_eq!(got, recount_petition(&world, from, to), "seed {seed}: attachment 1 [{from}, {to})");

            for (source, petition) in [("hotline", false), ("petition", true)] {
                let s = reports.summary(&office(), source.into(), from, to).await.expect("summary adds up");
                let cases: Vec<&Case> = world
                    .cases
                    .iter()
                    .filter(|c| c.petition == petition && c.received >= from && c.received < to)
                    .collect();
                assert_eq!(s.total.count, cases.len() as u64, "seed {seed}: {source} total");
                let last_year = world
                    .cases
                    .iter()
                    .filter(|c| {
                        c.petition == petition
                            && c.received >= from - chrono::Months::new(12)
                            && c.received < to - chrono::Months::new(12)
                    })
                    .count() as u64;
                assert_eq!(s.total.last_year, last_year, "seed {seed}: {source} last year");
                for channel in &s.channels {
                    let n = cases.iter().filter(|c| c.channel == channel.key).count() as u64;
                    assert_eq!(channel.count, n, "seed {seed}: {source} channel {}", channel.key);
                }
                for category in &s.categories {
                    let n = cases.iter().filter(|c| c.category.starts_with(&format!("{}.", category.key))).count();
                    assert_eq!(category.count, n as u64, "seed {seed}: {source} category {}", category.key);
                }
                let resolved: Vec<&Dispatch> = world
                    .dispatches
                    .iter()
                    .filter(|d| {
                        d.lead && d.status == "resolved" && cases.iter().any(|c| c.id == world.cases[d.case].id)
                    })
                    .collect();
                let late = resolved.iter().filter(|d| d.resolved.is_some_and(|r| r > d.deadline)).count() as u64;
                assert_eq!(s.on_time, resolved.len() as u64 - late, "seed {seed}: {source} on time");
                assert_eq!(s.late_by_unit.iter().map(|l| l.late).sum::<u64>(), late, "seed {seed}: {source} late");
                if petition {
                    // The agency's evaluations and the units' together, from the same recount.
                    let mut agency = [0_u64; 5];
                    for ((case, subject), (status, mapped, _)) in &world.ratings {
                        let c = &world.cases[*case];
                        if subject == "agency" && c.received >= from && c.received < to {
                            agency[0] += 1;
                            match (*status, *mapped) {
                                ("expired", _) => agency[1] += 1,
                                ("rated", Some("satisfied")) => agency[2] += 1,
                                ("rated", Some("basic")) => agency[3] += 1,
                                ("rated", Some(_)) => agency[4] += 1,
                                _ => {}
                            }
                        }
                    }
                    let got = s.evaluation.agency.as_ref().expect("petitions rate the agency");
                    assert_eq!(
                        [got.due, got.expired, got.satisfied, got.basic, got.unsatisfied],
                        agency,
                        "seed {seed}"
                    );
                    let units = recount_petition(&world, from, to).values().fold([0_u64; 5], |mut acc, r| {
                        for i in 0..5 {
                            acc[i] += r[i];
                        }
                        acc
                    });
                    let got = s.evaluation.units.as_ref().expect("units");
                    assert_eq!([got.due, got.expired, got.satisfied, got.basic, got.unsatisfied], units, "seed {seed}");
                }
            }
        }
    }
}
