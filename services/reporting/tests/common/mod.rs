//! A seeded world of cases, dispatches and evaluations, as the three streams carry them, and
//! its replay through reporting's projections: shared by the property and snapshot tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_reporting::projections::{EvaluationProjection, IntakeProjection, RoutingProjection};
use caseflow_runtime::consumer::{ApplyError, EventHandler};
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::{Principal, Role, time};
use chrono::{DateTime, Duration, TimeZone, Utc};

pub const CASES: usize = 150;
pub const UNITS: [&str; 6] = ["chengguan", "zhujian", "shichangjianguan", "jiaoyu", "kaiyuan", "lizhong"];
pub const CHANNELS: [&str; 4] = ["letter", "visit", "online_complaint", "phone"];
pub const CATEGORIES: [&str; 3] = ["urban_management.cooking_fume", "ecology.construction_noise", "health.mask_supply"];

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub fn seconds(&mut self, max_days: i64) -> Duration {
        Duration::seconds(self.below(u64::try_from(max_days * 86_400).unwrap_or(1)) as i64)
    }
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 12, 31, 16, 0, 0).single().expect("2020-01-01 00:00 +08")
}

/// What the generator knows of each dispatch in the end: the truth the reports are checked against.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub id: String,
    pub case: usize,
    pub unit: String,
    pub lead: bool,
    /// open | resolved | returned | transferred
    pub status: &'static str,
    pub ack_deadline: DateTime<Utc>,
    pub acked: Option<DateTime<Utc>>,
    pub deadline: DateTime<Utc>,
    pub resolved: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub petition: bool,
    pub received: DateTime<Utc>,
    pub channel: &'static str,
    pub kind: pb::CaseKind,
    pub category: &'static str,
    /// Petitions: one of `PERSONS`, so that some petition more than once.
    pub person: Option<usize>,
    pub summary: &'static str,
    /// A first case (初信初访件); a repeat case (`repeat_of`) never is.
    pub first: bool,
    /// Petitions admitted under 最多投一次.
    pub single_visit: bool,
    /// A repeat of an earlier generated case (by index), whenever that one was received.
    pub repeat_of: Option<usize>,
    /// Petitions by visit: the persons who came; five or more is a collective visit (集体访).
    pub visit_persons: i32,
}

/// Petitioners, by masked name (the event never carries a clear one).
pub const PERSONS: [&str; 6] = ["庄**", "陈**", "杨**", "林**", "王**", "李**"];

/// Matter summaries: the mask and quarantine ones come early in the year, the noise ones late,
/// so hot topics have something to find.
pub const EARLY: [&str; 3] = ["口罩供应不足", "隔离检测安排", "复工复产手续"];
pub const LATE: [&str; 3] = ["工地施工噪音扰民", "餐饮店油烟污染", "学区划分咨询"];

/// (case, subject) -> (status, mapped, dispatch id)
pub type Ratings = BTreeMap<(usize, String), (&'static str, Option<&'static str>, String)>;

/// A petition's 复查 (`review`) or 复核 (`re_review`), decided or not.
#[derive(Debug, Clone)]
pub struct Review {
    pub level: &'static str,
    pub requested: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub decided: Option<(DateTime<Utc>, &'static str)>,
}

#[derive(Default)]
pub struct World {
    pub cases: Vec<Case>,
    pub dispatches: Vec<Dispatch>,
    pub ratings: Ratings,
    /// When each evaluated case's window closes: due past it counts as expired.
    pub windows: BTreeMap<usize, DateTime<Utc>>,
    pub intake: Vec<pb::IntakeEvent>,
    /// 复查 and 复核 of petitions.
    pub reviews: Vec<Review>,
    pub routing: Vec<pb::RoutingEvent>,
    pub evaluation: Vec<pb::EvaluationEvent>,
}

pub fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(time::to_proto(t))
}

impl World {
    pub fn change(&mut self, d: &Dispatch, action: &str, to_state: &str, at: DateTime<Utc>) -> pb::DispatchChanged {
        let case = &self.cases[d.case];
        pb::DispatchChanged {
            dispatch_id: d.id.clone(),
            case_id: case.id.clone(),
            matter_id: format!("{}-m{}", case.id, d.id.rsplit('-').nth(1).unwrap_or("0")),
            unit: d.unit.clone(),
            // As routing numbers them: a matter's first dispatch is 1, the unit after a return or
            // a transfer 2 (the id ends in the hop; an assisting unit's in `assist`, hop 0).
            assignment: d.id.rsplit('-').next().and_then(|hop| hop.parse::<i32>().ok()).map_or(1, |hop| hop + 1),
            action: action.into(),
            to_state: to_state.into(),
            at: ts(at),
            source: if case.petition { pb::CaseSource::Petition } else { pb::CaseSource::Hotline } as i32,
            case_received_at: ts(case.received),
            dispatched_at: ts(at),
            acknowledge_deadline: ts(d.ack_deadline),
            resolve_deadline: ts(d.deadline),
            role: if d.lead { "lead" } else { "assist" }.into(),
            single_visit: case.single_visit,
            ..Default::default()
        }
    }

    pub fn emit(&mut self, e: pb::DispatchChanged) {
        self.routing.push(pb::RoutingEvent { kind: Some(pb::routing_event::Kind::DispatchChanged(e)) });
    }

    /// One matter: a first dispatch, perhaps a return or a transfer to a second unit, then the
    /// final unit's acknowledgement, extension, resolution and re-handling.
    pub fn matter(&mut self, rng: &mut Rng, case: usize, matter: usize, units: &[&str]) -> Option<usize> {
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
            let mut created = self.change(&d, "dispatch", "dispatched", at);
            if hop == 0 && case % 4 == 1 {
                // Every fourth case's first unit is one the suggester's history warned about
                // (decided without a draw, so the rest of the world is as it was).
                created.suggester = Some(pb::SuggesterNote {
                    model_version: 3,
                    units: vec![pb::UnitHistory { unit: unit.clone(), resolved: 1, of: 12, ..Default::default() }],
                    warning: "history says this unit rarely resolves such matters".into(),
                });
            }
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

    pub fn rate(&mut self, rng: &mut Rng, case: usize, finals: &[usize]) {
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
                window_ends: ts(at + chrono::Duration::days(15)),
                subjects: subjects.clone(),
                ..Default::default()
            })),
        });
        self.windows.insert(case, at + chrono::Duration::days(15));
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
                        // The case's own level: the worst of its units'.
                        case_mapped: ["unsatisfied", "basic", "satisfied"]
                            .into_iter()
                            .find(|m| subjects.iter().any(|s| s.mapped == *m))
                            .unwrap_or("satisfied")
                            .into(),
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

    pub fn generate(seed: u64) -> Self {
        let mut rng = Rng(seed);
        // The attributes added later come from their own sequence, so the earlier ones (and the
        // snapshots made of them) stay as they were.
        let mut more = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        let mut w = World::default();
        for i in 0..CASES {
            let petition = rng.chance(40);
            let case = Case {
                id: format!("s{seed}-c{i:03}"),
                petition,
                // Mostly the first half of 2020, some the half-year before (year on year) and after.
                received: start() + rng.seconds(200) - Duration::days(if rng.chance(15) { 366 } else { 10 }),
                channel: if petition { rng.pick(&CHANNELS[..3]) } else { CHANNELS[3] },
                kind: if petition {
                    pb::CaseKind::Unspecified
                } else {
                    rng.pick(&[
                        pb::CaseKind::Complaint,
                        pb::CaseKind::Complaint,
                        pb::CaseKind::Suggestion,
                        pb::CaseKind::Inquiry,
                    ])
                },
                category: rng.pick(&CATEGORIES),
                person: None,
                summary: "",
                first: true,
                single_visit: false,
                repeat_of: None,
                visit_persons: 0,
            };
            let mut case = case;
            case.person = petition.then(|| rng.below(PERSONS.len() as u64 * 3) as usize).filter(|p| *p < PERSONS.len());
            case.summary =
                if case.received < start() + Duration::days(90) { rng.pick(&EARLY) } else { rng.pick(&LATE) };
            case.repeat_of = (i > 0 && more.chance(20)).then(|| more.below(i as u64) as usize);
            case.first = case.repeat_of.is_none() && more.chance(85);
            case.single_visit = petition && more.chance(40);
            case.visit_persons = if petition && case.channel == "visit" { 1 + more.below(8) as i32 } else { 0 };
            w.intake.push(pb::IntakeEvent {
                kind: Some(pb::intake_event::Kind::CaseReceived(pb::CaseReceived {
                    case_id: case.id.clone(),
                    source: if petition { pb::CaseSource::Petition } else { pb::CaseSource::Hotline } as i32,
                    received_at: ts(case.received),
                    channel: case.channel.into(),
                    kind: case.kind as i32,
                    category: case.category.into(),
                    is_first: case.first,
                    single_visit: case.single_visit,
                    repeat_of: case.repeat_of.map(|r| w.cases[r].id.clone()).unwrap_or_default(),
                    visit_persons: case.visit_persons,
                    collective: case.visit_persons >= 5,
                    matters: vec![pb::ReceivedMatter {
                        matter_id: format!("{}-m1", case.id),
                        ordinal: 1,
                        category: case.category.into(),
                        summary: case.summary.into(),
                        ..Default::default()
                    }],
                    person_key: case.person.map(|p| format!("person-{p}")).unwrap_or_default(),
                    citizen_masked_name: case.person.map(|p| PERSONS[p].to_owned()).unwrap_or_default(),
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
        w.review(seed);
        w
    }

    /// Some petitions' 复查, a few then 复核, from their own sequence; decided (some after the
    /// 30 days) or not, some decisions after the period.
    fn review(&mut self, seed: u64) {
        let mut rng = Rng(seed ^ 0x2545_F491_4F6C_DD1D);
        let petitions: Vec<usize> = (0..self.cases.len()).filter(|i| self.cases[*i].petition).collect();
        for i in petitions {
            if !rng.chance(20) {
                continue;
            }
            let mut after = self.cases[i].received + Duration::days(10) + rng.seconds(40);
            for level in ["review", "re_review"] {
                let requested = after + rng.seconds(20);
                let due = requested + Duration::days(30);
                let decided = rng.chance(75).then(|| {
                    let outcome = rng.pick(&["upheld", "upheld", "changed", "revoked"]);
                    (requested + Duration::days(1) + rng.seconds(40), outcome)
                });
                let case_id = self.cases[i].id.clone();
                self.intake.push(pb::IntakeEvent {
                    kind: Some(pb::intake_event::Kind::ReviewRequested(pb::ReviewRequested {
                        case_id: case_id.clone(),
                        level: level.into(),
                        reviewing_body: "鲤城区人民政府".into(),
                        requested_at: ts(requested),
                        due_at: ts(due),
                    })),
                });
                if let Some((at, outcome)) = decided {
                    self.intake.push(pb::IntakeEvent {
                        kind: Some(pb::intake_event::Kind::ReviewDecided(pb::ReviewDecided {
                            case_id,
                            level: level.into(),
                            outcome: outcome.into(),
                            decided_at: ts(at),
                            due_at: ts(due),
                        })),
                    });
                }
                self.reviews.push(Review { level, requested, due, decided });
                match decided {
                    Some((at, _)) if rng.chance(40) => after = at,
                    _ => break,
                }
            }
        }
    }
}

pub fn envelope<M: prost::Message + prost::Name>(position: usize, message: &M) -> pb::EventEnvelope {
    pb::EventEnvelope {
        position: i64::try_from(position + 1).unwrap_or_default(),
        event_type: M::full_name(),
        payload: message.encode_to_vec(),
        ..Default::default()
    }
}

/// Applies `events` as a consumer applies a batch: in one transaction, through the handler's
/// `apply_batch` (the projections' lock, gathered rollups, what the batch reads ahead).
pub async fn apply_batch(db: &Db, handler: Arc<dyn EventHandler>, events: Vec<pb::EventEnvelope>) {
    db.write(move |c: &mut AnyConnection| {
        let batch: Vec<&pb::EventEnvelope> = events.iter().collect();
        handler.apply_batch(c, &batch, &mut |c| events.iter().try_for_each(|e| handler.apply(c, e))).map_err(
            |e| match e {
                ApplyError::Db(e) => e,
                other => DbError::Unavailable(other.to_string()),
            },
        )
    })
    .await
    .expect("events applied");
}

/// Applies the three streams, each in its order, interleaved at random, in batches of one to
/// nine events as a consumer takes them.
pub async fn replay(db: &Db, world: &World, rng: &mut Rng) {
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
        let run = 1 + rng.below(9) as usize;
        let batch: Vec<pb::EventEnvelope> = streams[s].1.iter().skip(next[s]).take(run).cloned().collect();
        next[s] += batch.len();
        apply_batch(db, streams[s].0.clone(), batch).await;
    }
}

pub fn office() -> Principal {
    Principal { name: "office".into(), role: Role::EfficiencyOffice, unit: None }
}
