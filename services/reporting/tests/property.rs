//! For random event sets, applied with the three streams interleaved at random (a rating may
//! arrive before its dispatch, a dispatch before its case), every report builds (its
//! invariants hold) and every figure equals a brute-force recount from the generated events,
//! for ragged periods and for reports as of moments before, inside and after the events.
//! SQLite, or PostgreSQL with `TEST_DATABASE_URL`.

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use caseflow_reporting::{MIGRATIONS, Reports, units::Units};
use caseflow_runtime::db::Db;
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{Case, Dispatch, Rng, World, office, replay, start};

const ROUNDS: u64 = 4;
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
        // As of a moment, only what had been received by then exists.
        if case.received < from || case.received >= to || case.received > as_of {
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
/// A rating's status as of `at`: still due past its window is expired (超期未评), recorded or not.
fn standing(w: &World, case: usize, status: &'static str, at: DateTime<Utc>) -> &'static str {
    match w.windows.get(&case) {
        Some(ends) if status == "due" && *ends < at => "expired",
        _ => status,
    }
}

fn recount_petition(
    w: &World,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    at: DateTime<Utc>,
) -> BTreeMap<String, [u64; 5]> {
    let mut out: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    for ((case, subject), (status, mapped, _)) in &w.ratings {
        let c = &w.cases[*case];
        if !c.petition || subject == "agency" || c.received < from || c.received >= to {
            continue;
        }
        let row = out.entry(subject.clone()).or_default();
        row[0] += 1;
        match (standing(w, *case, status, at), *mapped) {
            ("expired", _) => row[1] += 1,
            ("rated", Some("satisfied")) => row[2] += 1,
            ("rated", Some("basic")) => row[3] += 1,
            ("rated", Some(_)) => row[4] += 1,
            _ => {}
        }
    }
    out
}

/// A moment at `days` from the start, off the hour so periods have ragged edges.
fn moment(rng: &mut Rng, days: i64) -> DateTime<Utc> {
    start() + Duration::days(days) + Duration::minutes(i64::try_from(rng.below(24 * 60)).unwrap_or(0))
}

/// Attachment 2's hotline figures per unit.
async fn attachment_2(
    reports: &Reports,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: DateTime<Utc>,
) -> BTreeMap<String, HotlineCount> {
    let a2 = reports.attachment_2(&office(), from, to, as_of).await.expect("attachment 2 adds up");
    a2.departments
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
        .collect()
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
        // Moments a few hours from a dispatch's change, so that the hours between the nearer
        // midnight and the moment hold changes (read from the hour totals) and so does the half
        // hour before or after it (read one by one).
        let near_changes: Vec<DateTime<Utc>> = (0..12)
            .filter_map(|_| {
                let d = &world.dispatches[usize::try_from(rng.below(world.dispatches.len() as u64)).unwrap_or(0)];
                let changes =
                    [Some(world.cases[d.case].received), Some(d.ack_deadline), d.acked, Some(d.deadline), d.resolved];
                let t = rng.pick(&changes)?;
                let minutes = i64::try_from(rng.below(8 * 60)).unwrap_or(0) - 4 * 60;
                Some(t + Duration::minutes(minutes))
            })
            .collect();
        for as_of in near_changes {
            let (from, to) = half_year;
            assert_eq!(
                attachment_2(&reports, from, to, as_of).await,
                recount_hotline(&world, from, to, as_of),
                "seed {seed}: as of {as_of}"
            );
        }
        for (from, to) in periods {
            for as_of in [moment(&mut rng, 30), moment(&mut rng, 100), moment(&mut rng, 400)] {
                let got = attachment_2(&reports, from, to, as_of).await;
                assert_eq!(got, recount_hotline(&world, from, to, as_of), "seed {seed}: [{from}, {to}) as of {as_of}");
            }
            // Bounce figures: each unit's resolved matters (lead dispatches it resolved).
            let bounce = reports.bounce(&office(), from, to).await.expect("bounce figures");
            let got: BTreeMap<String, u64> =
                bounce.units.iter().filter(|u| u.resolved > 0).map(|u| (u.unit.clone(), u.resolved)).collect();
            let mut expected: BTreeMap<String, u64> = BTreeMap::new();
            for d in world.dispatches.iter().filter(|d| d.lead && d.status == "resolved") {
                let c = &world.cases[d.case];
                if c.received >= from && c.received < to {
                    *expected.entry(d.unit.clone()).or_default() += 1;
                }
            }
            assert_eq!(got, expected, "seed {seed}: resolved per unit in the bounce figures");
            // The flows between units: each time a matter's next lead dispatch went to another unit.
            let mut paths: BTreeMap<&str, Vec<(u32, &str)>> = BTreeMap::new();
            for d in world.dispatches.iter().filter(|d| d.lead) {
                let c = &world.cases[d.case];
                if c.received >= from && c.received < to {
                    let (matter, hop) = d.id.rsplit_once('-').expect("a matter's dispatch id ends in its hop");
                    paths.entry(matter).or_default().push((hop.parse().expect("a hop"), d.unit.as_str()));
                }
            }
            let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
            for legs in paths.values_mut() {
                legs.sort();
                for w in legs.windows(2).filter(|w| w[0].1 != w[1].1) {
                    *expected.entry((w[0].1.to_owned(), w[1].1.to_owned())).or_default() += 1;
                }
            }
            let moves = reports.moves(&office(), from, to).await.expect("the flows");
            let got: BTreeMap<(String, String), u64> =
                moves.flows.iter().map(|(a, b, n)| ((a.clone(), b.clone()), *n)).collect();
            assert_eq!(got, expected, "seed {seed}: the flows between units");
            // Judged at the period's end: the earlier cases' windows have closed by then.
            let judged = to;
            let a1 = reports.attachment_1(&office(), from, to, judged).await.expect("attachment 1 adds up");
            let got: BTreeMap<String, [u64; 5]> = a1
                .departments
                .iter()
                .chain(&a1.sub_districts)
                .map(|r| (r.unit.clone(), [r.due, r.expired, r.satisfied, r.basic, r.unsatisfied]))
                .collect();
            // Every sub-district is printed, a department only with something due.
            let mut expected = recount_petition(&world, from, to, judged);
            for u in Units::load(None).expect("units").all().iter().filter(|u| u.kind == "sub_district") {
                expected.entry(u.code.clone()).or_default();
            }
            assert_eq!(got, expected, "seed {seed}: attachment 1 [{from}, {to})");

            for (source, petition) in [("hotline", false), ("petition", true)] {
                let s = reports.summary(&office(), source.into(), from, to, judged).await.expect("summary adds up");
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
                    // The first petitions' (初信初访件) resolutions: on time, and late by unit.
                    let mut late_by_unit: BTreeMap<String, u64> = BTreeMap::new();
                    let mut on_time = 0;
                    for d in resolved.iter().filter(|d| world.cases[d.case].first) {
                        if d.resolved.is_some_and(|r| r > d.deadline) {
                            *late_by_unit.entry(d.unit.clone()).or_default() += 1;
                        } else {
                            on_time += 1;
                        }
                    }
                    // 复查 and 复核 requested in the period (by then), their outcomes as of the moment.
                    let reviews = s.reviews.as_ref().expect("petitions have the figure");
                    for (level, got) in [("review", &reviews.review), ("re_review", &reviews.re_review)] {
                        let asked: Vec<_> = world
                            .reviews
                            .iter()
                            .filter(|r| {
                                r.level == level && r.requested >= from && r.requested < to && r.requested <= judged
                            })
                            .collect();
                        let decided = |outcome: &str| {
                            asked
                                .iter()
                                .filter(|r| r.decided.is_some_and(|(at, o)| at <= judged && o == outcome))
                                .count() as u64
                        };
                        let pending =
                            asked.iter().filter(|r| r.decided.is_none_or(|(at, _)| at > judged)).count() as u64;
                        let late = asked
                            .iter()
                            .filter(|r| match r.decided.filter(|(at, _)| *at <= judged) {
                                Some((at, _)) => at > r.due,
                                None => judged > r.due,
                            })
                            .count() as u64;
                        assert_eq!(
                            (got.requested, got.upheld, got.changed, got.revoked, got.pending, got.late),
                            (
                                asked.len() as u64,
                                decided("upheld"),
                                decided("changed"),
                                decided("revoked"),
                                pending,
                                late
                            ),
                            "seed {seed}: {level}s as of {judged}"
                        );
                    }
                    let first = s.first_petitions.as_ref().expect("petitions have the figure");
                    let got: BTreeMap<String, u64> =
                        first.late_by_unit.iter().map(|l| (l.unit.clone(), l.late)).collect();
                    assert_eq!((first.on_time, got), (on_time, late_by_unit), "seed {seed}: first petitions");
                    // Collective visits: five persons or more.
                    let collective: Vec<&&Case> = cases.iter().filter(|c| c.visit_persons >= 5).collect();
                    let visits = s.collective_visits.as_ref().expect("petitions have the figure");
                    assert_eq!(
                        (visits.batches, visits.persons),
                        (collective.len() as u64, collective.iter().map(|c| c.visit_persons as u64).sum::<u64>()),
                        "seed {seed}: collective visits"
                    );
                }
                // 最多投一次: resolved once every matter's lead dispatch is, 一次性办结 when no
                // repeat case followed, the mean days to the last resolution.
                let (mut solved, mut once, mut secs) = (0_u64, 0_u64, 0_i64);
                for c in cases.iter().filter(|c| c.single_visit) {
                    let index = world.cases.iter().position(|w| w.id == c.id).expect("its own case");
                    let leads: Vec<&Dispatch> = world
                        .dispatches
                        .iter()
                        .filter(|d| d.case == index && d.lead && matches!(d.status, "open" | "resolved"))
                        .collect();
                    if leads.is_empty() || leads.iter().any(|d| d.status != "resolved") {
                        continue;
                    }
                    solved += 1;
                    once += u64::from(!world.cases.iter().any(|w| w.repeat_of == Some(index)));
                    let last = leads.iter().filter_map(|d| d.resolved).max().expect("resolved");
                    secs += (last - c.received).num_seconds().max(0);
                }
                let admitted = cases.iter().filter(|c| c.single_visit).count() as u64;
                assert_eq!(s.single_visit.admitted, admitted, "seed {seed}: {source} single visit");
                let rate = caseflow_rates::Rate::of(once, admitted).map(|r| r.percent(1));
                assert_eq!(s.single_visit.first_time_resolution, rate, "seed {seed}: {source} once");
                let days = (solved > 0).then(|| ((secs as f64 / 86_400.0 / solved as f64) * 10.0).round() / 10.0);
                assert_eq!(s.single_visit.average_days, days, "seed {seed}: {source} single-visit days");
                // Hot topics: each word's and sub-category's count, now and in the period before.
                let before: Vec<&Case> = world
                    .cases
                    .iter()
                    .filter(|c| c.petition == petition && c.received >= from - (to - from) && c.received < from)
                    .collect();
                let with_word = |v: &[&Case], w: &str| {
                    v.iter().filter(|c| caseflow_runtime::words::terms(&[c.summary]).contains(w)).count() as u64
                };
                for g in &s.hot_topics.keywords {
                    assert_eq!(
                        (g.count, g.previous.unwrap_or(0)),
                        (with_word(&cases, &g.key), with_word(&before, &g.key)),
                        "seed {seed}: {}",
                        g.key
                    );
                    assert_eq!(g.growth.is_some(), !before.is_empty(), "seed {seed}: compared only with data");
                    assert!(g.growth.is_none_or(|n| n > 0));
                }
                for g in &s.hot_topics.categories {
                    let n = |v: &[&Case]| v.iter().filter(|c| c.category == g.key).count() as u64;
                    assert_eq!((g.count, g.previous.unwrap_or(0)), (n(&cases), n(&before)), "seed {seed}: {}", g.key);
                }
                if petition {
                    // Units below target: the summary agrees with attachment 1.
                    let sorted = |v: &[String]| {
                        let mut v = v.to_vec();
                        v.sort();
                        v
                    };
                    assert_eq!(sorted(&s.below_targets.participation), sorted(&a1.below_participation_target));
                    assert_eq!(sorted(&s.below_targets.petition_satisfaction), sorted(&a1.below_satisfaction_target));
                    // Repeat petitioners: more than one petition in the period, most first.
                    let mut by_person: BTreeMap<String, u64> = BTreeMap::new();
                    for c in &cases {
                        if let Some(p) = c.person {
                            *by_person.entry(common::PERSONS[p].to_owned()).or_default() += 1;
                        }
                    }
                    by_person.retain(|_, n| *n > 1);
                    let mut got: Vec<(String, u64)> =
                        s.repeat_petitioners.iter().map(|r| (r.name.clone(), r.petitions)).collect();
                    got.sort();
                    assert_eq!(got, by_person.into_iter().collect::<Vec<_>>(), "seed {seed}: repeat petitioners");
                    // The agency's evaluations and the units' together, from the same recount.
                    let mut agency = [0_u64; 5];
                    for ((case, subject), (status, mapped, _)) in &world.ratings {
                        let c = &world.cases[*case];
                        if subject == "agency" && c.received >= from && c.received < to {
                            agency[0] += 1;
                            match (standing(&world, *case, status, judged), *mapped) {
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
                    let units = recount_petition(&world, from, to, judged).values().fold([0_u64; 5], |mut acc, r| {
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

/// The hour totals a migration has the service fill from the facts already in the read model
/// (`backfill`) are the rows the projections wrote event by event; filling them twice changes
/// nothing, and the work is done once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hour_totals_filled_from_the_facts_equal_those_the_projections_wrote() {
    use caseflow_reporting::store::{report_backfills, report_shift_hours};
    use caseflow_runtime::DbError;
    use diesel::prelude::*;
    /// Source, hour, unit and month received; the counts.
    type HourRow = ((String, chrono::NaiveDateTime, String, chrono::NaiveDate), Vec<i64>);
    type Counts7 = (i64, i64, i64, i64, i64, i64, i64);
    type Counts6 = (i64, i64, i64, i64, i64, i64);
    /// The rows with any count: a batch whose changes to a row cancel out leaves it at zero.
    fn rows(c: &mut caseflow_runtime::AnyConnection) -> Result<Vec<HourRow>, DbError> {
        use report_shift_hours as h;
        type Key = (String, chrono::NaiveDateTime, String, chrono::NaiveDate);
        let found: Vec<(Key, Counts7, Counts6)> = h::table
            .select((
                (h::source, h::shift_hour, h::unit, h::received_month),
                (
                    h::received,
                    h::in_progress,
                    h::completed,
                    h::overdue_view,
                    h::overdue_handling,
                    h::unsatisfied,
                    h::on_time,
                ),
                (h::late, h::first_resolved, h::elsewhere_secs, h::rehandled, h::first_on_time, h::first_late),
            ))
            .order((h::source, h::shift_hour, h::unit, h::received_month))
            .load(c)?;
        Ok(found
            .into_iter()
            .map(|(key, a, b)| (key, vec![a.0, a.1, a.2, a.3, a.4, a.5, a.6, b.0, b.1, b.2, b.3, b.4, b.5]))
            .filter(|r| r.1.iter().any(|n| *n != 0))
            .collect())
    }
    let test_db = TestDatabase::new("reporting_backfill");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await.expect("database");
    // The migration named the work; on an empty read model it fills nothing.
    db.write(|c| caseflow_reporting::backfill::run(c).map_err(DbError::from)).await.expect("backfill");
    let world = World::generate(31);
    replay(&db, &world, &mut Rng(17)).await;
    let projected = db.read(rows).await.expect("rows");
    assert!(projected.iter().any(|r| r.1[0] > 0), "the projections wrote the hours cases were received in");
    for _ in 0..2 {
        db.write(|c| {
            diesel::insert_into(report_backfills::table).values(report_backfills::name.eq("shift_hours")).execute(c)?;
            caseflow_reporting::backfill::run(c).map_err(DbError::from)
        })
        .await
        .expect("backfill");
        assert_eq!(db.read(rows).await.expect("rows"), projected);
    }
    let left: i64 =
        db.read(|c| report_backfills::table.count().get_result(c).map_err(DbError::from)).await.expect("count");
    assert_eq!(left, 0, "done work is no longer named");
}
