//! The read model of a generated district, loaded straight into reporting's tables for the
//! report benchmarks (`halfyear.rs`, `console.rs`).
//!
//! The data comes from the demo generator (`caseflow demo-data`), scaled up: a half-year and
//! the one before for the district, in the bulletin's mix. Replaying millions of dispatches
//! through the APIs would take hours, so each generated case is turned into the read model's
//! facts here: its final dispatches (returned, designated and resolved ones as the lines say),
//! its rating, with deadlines from the policy's nominal lengths in calendar days (`deadlines`
//! below). The rollups are then summed with reporting's own contribution functions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use caseflow::history::demo::{self, Spec};
use caseflow::history::format::{Event, Line};
use caseflow_reporting::rollup::{self, DispatchCells};
use caseflow_reporting::single_visit;
use caseflow_reporting::store::{
    CaseFact, DispatchFact, report_case_days, report_cases, report_dispatches, report_ratings,
};
use caseflow_runtime::db::{Db, DbError};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

/// Cases the demo generator makes at scale 1 (a half-year and the one before, as the bulletin
/// counts them); each makes a little more than one dispatch.
const CASES_PER_SCALE: f64 = 2577.0 + 602.0 + 2575.0 + 614.0;

const BATCH: usize = 900;

/// Multi-row inserts need the concrete connection (the two-backend one inserts row by row).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            caseflow_runtime::AnyConnection::Postgresql($c) => $body,
            caseflow_runtime::AnyConnection::Sqlite($c) => $body,
        }
    };
}

/// A case's facts, as reporting's projections would have left them.
struct Row {
    facts: Vec<DispatchFact>,
    case: CaseFact,
    /// (dispatch, subject unit, mapped level) of the rated one.
    rating: Option<(String, String, &'static str)>,
}

fn naive(t: &DateTime<chrono::FixedOffset>) -> NaiveDateTime {
    t.with_timezone(&Utc).naive_utc()
}

/// Nominal deadlines (acknowledge, resolve) from `deploy/policy/routing.toml` in calendar time.
fn deadlines(petition: bool, single_visit: bool, kind: &str) -> (chrono::Duration, chrono::Duration) {
    match (petition, single_visit, kind) {
        (true, true, _) => (chrono::Duration::hours(1), chrono::Duration::days(15)),
        (true, false, _) => (chrono::Duration::days(3), chrono::Duration::days(60)),
        (false, _, "suggestion") => (chrono::Duration::hours(2), chrono::Duration::days(14)),
        (false, _, "inquiry") => (chrono::Duration::hours(2), chrono::Duration::days(4)),
        _ => (chrono::Duration::hours(2), chrono::Duration::days(7)),
    }
}

fn mapped(level: &str) -> &'static str {
    match level {
        "very_satisfied" | "satisfied" => "satisfied",
        "basic" => "basic",
        _ => "unsatisfied",
    }
}

/// The facts one generated case leads to (None for a leader reception).
fn row(lines: &[Line], serial: u64) -> Option<Row> {
    // A petitioner is known by phone (a keyed hash in production); a visit of five or more
    // persons is collective (集体访).
    let (person_key, citizen_masked, visit_persons) = lines
        .iter()
        .find_map(|l| match &l.event {
            Event::Petition { petition } if !petition.citizen.anonymous && !petition.citizen.phone.is_empty() => {
                Some((
                    petition.citizen.phone.clone(),
                    petition.citizen.name.chars().take(1).chain("**".chars()).collect::<String>(),
                    petition.visit_persons.unwrap_or(0),
                ))
            }
            _ => None,
        })
        .unwrap_or_default();
    let (received, source, channel, kind, category, single_visit, target) =
        lines.iter().find_map(|l| match &l.event {
            Event::HotlineOrder { order } => Some((
                naive(&order.received_at),
                "hotline",
                order.channel.clone(),
                order.kind.clone(),
                order.category.clone(),
                false,
                order.matters.first().map(|m| m.target_unit.clone()).unwrap_or_default(),
            )),
            Event::Petition { petition } => Some((
                naive(&petition.received_at),
                "petition",
                petition.channel.clone(),
                String::new(),
                petition.category.clone(),
                petition.single_visit,
                petition.matters.first().map(|m| m.target_unit.clone()).unwrap_or_default(),
            )),
            _ => None,
        })?;
    let case_id = format!("c{serial:09}");
    // A petition the office did not accept reaches no unit: the case alone.
    let refused = lines.iter().any(|l| {
        matches!(&l.event, Event::Petition { petition } if petition.decision.as_ref().is_some_and(|d| !matches!(d.outcome.as_str(), "accepted" | "pending")))
    });
    let (ack_after, resolve_after) = deadlines(source == "petition", single_visit, &kind);
    let resolve_deadline = received + resolve_after;
    let open = |unit: &str, at: NaiveDateTime, assignment: i32| DispatchFact {
        dispatch_id: format!("{case_id}-d{assignment}"),
        case_id: case_id.clone(),
        matter_id: format!("{case_id}-m1"),
        unit: Some(unit.to_owned()),
        role: "lead".into(),
        assignment,
        source: source.into(),
        received_at: received,
        dispatched_at: at,
        acknowledge_deadline: Some(at + ack_after),
        acknowledged_at: None,
        resolve_deadline: Some(resolve_deadline),
        resolved_at: None,
        status: "open".into(),
        closed_at: None,
        rehandled: 0,
        settles_at: None,
        first_case: true,
        previous_unit: None,
    };
    let mut facts = if refused { Vec::new() } else { vec![open(&target, received, 1)] };
    let mut proposed: BTreeMap<String, String> = BTreeMap::new();
    let mut rating = None;
    for l in lines.iter().filter(|_| !refused) {
        let at = naive(&l.at);
        let current = facts.len().saturating_sub(1);
        match &l.event {
            Event::Acknowledge { .. } => facts[current].acknowledged_at = Some(at),
            Event::ExtensionDecision { approve: true, .. } => {
                facts[current].resolve_deadline =
                    facts[current].resolve_deadline.map(|d| d + chrono::Duration::days(5));
            }
            Event::ReturnRequest { dispatch, proposed_unit, .. } if l.expect_refusal.is_none() => {
                proposed.insert(dispatch.unit.clone(), proposed_unit.clone());
            }
            Event::ReturnDecision { dispatch, approve: true, .. } => {
                facts[current].status = "returned".into();
                facts[current].closed_at = Some(at);
                let next = proposed.get(&dispatch.unit).cloned().unwrap_or_default();
                let n = i32::try_from(facts.len() + 1).unwrap_or(i32::MAX);
                facts.push(open(&next, at, n));
            }
            Event::Designate { unit, .. } => {
                facts[current].status = "superseded".into();
                facts[current].closed_at = Some(at);
                let n = i32::try_from(facts.len() + 1).unwrap_or(i32::MAX);
                facts.push(open(unit, at, n));
            }
            Event::Resolve { .. } => {
                facts[current].status = "resolved".into();
                facts[current].resolved_at = Some(at);
            }
            Event::Rating { level, unit_levels, .. } => {
                let holder = facts[current].unit.clone().unwrap_or_default();
                let level = unit_levels.get(&holder).unwrap_or(level);
                rating = Some((facts[current].dispatch_id.clone(), holder, mapped(level)));
            }
            _ => {}
        }
    }
    // Each assignment after the first moved from the unit before it.
    let mut before: Option<String> = None;
    for f in &mut facts {
        f.settles_at = rollup::settles_at(f);
        f.previous_unit = std::mem::replace(&mut before, f.unit.clone());
    }
    let case = CaseFact {
        case_id: case_id.clone(),
        source: source.into(),
        channel,
        kind,
        category,
        sub_district: String::new(),
        received_at: received,
        is_first: true,
        single_visit,
        repeat_of: None,
        person_key,
        citizen_masked,
        visit_persons,
        collective: visit_persons >= 5,
        terms: String::new(),
    };
    Some(Row { facts, case, rating })
}

/// Loads about `n` dispatches from the generator with their cases and ratings, and the
/// rollups they make. Returns the dispatches loaded.
pub async fn load(db: &Db, n: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let spec = Spec { seed: 2020, scale: (n as f64 / (CASES_PER_SCALE * 1.02)).max(0.01), ..Spec::default() };
    let mut dispatch_days: BTreeMap<rollup::DispatchKey, (DispatchCells, Option<NaiveDateTime>)> = BTreeMap::new();
    let mut dispatch_shifts: BTreeMap<(rollup::DispatchKey, chrono::NaiveDate), DispatchCells> = BTreeMap::new();
    let mut rating_days: BTreeMap<rollup::RatingKey, rollup::RatingCells> = BTreeMap::new();
    let mut case_days: BTreeMap<(String, chrono::NaiveDate, &'static str, String), i64> = BTreeMap::new();
    let mut single_visit_days: BTreeMap<single_visit::DayKey, single_visit::SingleVisitCells> = BTreeMap::new();
    // The load is not what is measured: on SQLite the writer keeps the growing tables' pages in
    // memory while it loads (2 MB by default; the B-trees of 10M rows are read back from the
    // file on every insert otherwise), and goes back to the default before the reports are read.
    let cache = |kib: i64| {
        move |c: &mut caseflow_runtime::AnyConnection| {
            if let caseflow_runtime::AnyConnection::Sqlite(lite) = c {
                diesel::sql_query(format!("PRAGMA cache_size = -{kib}")).execute(lite)?;
            }
            Ok::<_, DbError>(())
        }
    };
    db.write(cache(1 << 20)).await?;
    // The growing tables' secondary indexes are built once after the load, not row by row.
    let indexes = db.write(|c| secondary_indexes(c).map_err(DbError::from)).await?;
    let started = Instant::now();
    // Each petition with a known person, to work out its `previous_at` once all are loaded.
    let mut petitions: Vec<(String, NaiveDateTime, String)> = Vec::new();
    let (mut serial, mut loaded, mut reported) = (0_u64, 0_u64, 0_u64);
    let mut batch: Vec<Row> = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Row>>(4);
    // The generator runs on its own thread; rows go to the database in batches.
    let generator = std::thread::spawn(move || {
        demo::for_each_case(&spec, |lines| {
            serial += 1;
            if let Some(row) = row(&lines, serial) {
                batch.push(row);
                if batch.len() >= BATCH * 20 {
                    let _ = tx.blocking_send(std::mem::take(&mut batch));
                }
            }
        });
        let _ = tx.blocking_send(batch);
    });
    while let Some(rows) = rx.recv().await {
        for r in &rows {
            let unsatisfied = |f: &DispatchFact| {
                r.rating.as_ref().is_some_and(|(d, _, m)| *d == f.dispatch_id && *m == "unsatisfied")
            };
            for f in &r.facts {
                if let Some((key, cells)) = rollup::dispatch_cells(f, unsatisfied(f), rollup::AsOf::End) {
                    let day = dispatch_days.entry(key.clone()).or_default();
                    day.0 += cells;
                    day.1 = day.1.max(f.settles_at);
                    for (shift_day, c) in rollup::dispatch_shifts(f, unsatisfied(f)) {
                        *dispatch_shifts.entry((key.clone(), shift_day)).or_default() += c;
                    }
                }
            }
            if let Some((_, unit, m)) = &r.rating {
                let key = (r.case.source.clone(), unit.clone(), rollup::district_day(r.case.received_at));
                *rating_days.entry(key).or_default() += rollup::rating_cells("rated", Some(m));
            }
            for (dimension, value, n) in rollup::case_dimensions(&r.case) {
                *case_days
                    .entry((r.case.source.clone(), rollup::district_day(r.case.received_at), dimension, value))
                    .or_default() += n;
            }
            if r.case.single_visit {
                let leads: Vec<(String, Option<NaiveDateTime>)> = r
                    .facts
                    .iter()
                    .filter(|f| matches!(f.status.as_str(), "open" | "resolved"))
                    .map(|f| (f.status.clone(), f.resolved_at))
                    .collect();
                *single_visit_days
                    .entry((r.case.source.clone(), rollup::district_day(r.case.received_at)))
                    .or_default() += single_visit::case_cells(r.case.received_at, &leads, false);
            }
            if r.case.source == "petition" && !r.case.person_key.is_empty() {
                petitions.push((r.case.person_key.clone(), r.case.received_at, r.case.case_id.clone()));
            }
            loaded += r.facts.len() as u64;
        }
        db.write(move |c| {
            for chunk in rows.chunks(BATCH / 2) {
                let facts: Vec<DispatchFact> = chunk.iter().flat_map(|r| r.facts.iter().cloned()).collect();
                on_backend!(&mut *c, |b| diesel::insert_into(report_dispatches::table).values(&facts).execute(b))?;
                let cases: Vec<CaseFact> = chunk.iter().map(|r| r.case.clone()).collect();
                on_backend!(&mut *c, |b| diesel::insert_into(report_cases::table).values(&cases).execute(b))?;
                let ratings: Vec<_> = chunk
                    .iter()
                    .filter_map(|r| {
                        r.rating.as_ref().map(|(dispatch, unit, m)| {
                            (
                                report_ratings::case_id.eq(r.case.case_id.clone()),
                                report_ratings::subject.eq(unit.clone()),
                                report_ratings::dispatch_id.eq(Some(dispatch.clone())),
                                report_ratings::source.eq(r.case.source.clone()),
                                report_ratings::status.eq("rated"),
                                report_ratings::mapped.eq(Some(*m)),
                            )
                        })
                    })
                    .collect();
                on_backend!(&mut *c, |b| diesel::insert_into(report_ratings::table).values(&ratings).execute(b))?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
        if loaded >= reported + 1_000_000 {
            reported = loaded;
            eprintln!("  loaded {loaded} dispatches ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    generator.join().map_err(|_| "the generator panicked")?;
    eprintln!("  facts loaded ({:.0} s); building {} indexes", started.elapsed().as_secs_f64(), indexes.len());
    db.write(move |c| {
        for create in &indexes {
            diesel::sql_query(create.as_str()).execute(c)?;
        }
        Ok::<_, DbError>(())
    })
    .await?;
    let previous = previous_petitions(petitions);
    db.write(move |c| {
        for chunk in previous.chunks(BATCH) {
            set_previous(c, chunk)?;
        }
        Ok::<_, DbError>(())
    })
    .await?;
    db.write(move |c| {
        for (key, (cells, settles)) in dispatch_days {
            rollup::add_dispatch(c, &key, cells, settles)?;
        }
        for ((key, shift_day), cells) in dispatch_shifts {
            rollup::add_shift(c, &key, shift_day, cells)?;
        }
        for (key, cells) in rating_days {
            rollup::add_rating(c, &key, cells)?;
        }
        for (key, cells) in single_visit_days {
            single_visit::add(c, &key, cells)?;
        }
        // The hour totals, as the service fills them from the facts when the migration that
        // made them finds a read model already there.
        caseflow_reporting::backfill::run(c)?;
        for ((source, day, dimension, value), cases) in case_days {
            diesel::insert_into(report_case_days::table)
                .values((
                    report_case_days::source.eq(source),
                    report_case_days::day.eq(day),
                    report_case_days::dimension.eq(dimension),
                    report_case_days::value.eq(value),
                    report_case_days::cases.eq(cases),
                ))
                .execute(c)?;
        }
        Ok::<_, DbError>(())
    })
    .await?;
    db.write(cache(2_000)).await?;
    // A read model in service is vacuumed and analyzed by autovacuum as it grows; a bulk load
    // is not until then (VACUUM sets the visibility map that index-only scans rely on). It runs
    // outside a transaction: on a plain read connection.
    if let caseflow_runtime::db::Backend::Postgres = db.backend() {
        db.read(|c| diesel::sql_query("VACUUM ANALYZE").execute(c).map_err(DbError::from)).await?;
    }
    eprintln!("  loaded {loaded} dispatches in {:.0} s", started.elapsed().as_secs_f64());
    Ok(loaded)
}

/// The tables the load fills row by row.
const LOADED: &str = "'report_dispatches', 'report_cases', 'report_ratings'";

/// Drops the loaded tables' secondary indexes (not those behind a key or a unique constraint)
/// and returns the statements that build them again.
fn secondary_indexes(c: &mut caseflow_runtime::AnyConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Index {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        create: String,
    }
    let list = match c {
        caseflow_runtime::AnyConnection::Sqlite(_) => format!(
            "SELECT name, sql AS \"create\" FROM sqlite_master \
             WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({LOADED})"
        ),
        caseflow_runtime::AnyConnection::Postgresql(_) => format!(
            "SELECT indexname AS name, indexdef AS \"create\" FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename IN ({LOADED}) \
             AND indexname NOT IN (SELECT conname FROM pg_constraint \
                                   WHERE connamespace = current_schema()::regnamespace)"
        ),
    };
    let indexes: Vec<Index> = diesel::sql_query(list).load(c)?;
    for i in &indexes {
        diesel::sql_query(format!("DROP INDEX \"{}\"", i.name)).execute(c)?;
    }
    Ok(indexes.into_iter().map(|i| i.create).collect())
}

/// Each petition's `previous_at`: when the same person's petition just before it was received
/// (by time, then case id), as `repeats::petition_arrived` keeps it. (case id, previous).
fn previous_petitions(mut petitions: Vec<(String, NaiveDateTime, String)>) -> Vec<(String, NaiveDateTime)> {
    petitions.sort_unstable();
    petitions.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| (w[1].2.clone(), w[0].1)).collect()
}

/// Sets `previous_at` of each case in `chunk`, in one statement.
fn set_previous(c: &mut caseflow_runtime::AnyConnection, chunk: &[(String, NaiveDateTime)]) -> QueryResult<usize> {
    if chunk.is_empty() {
        return Ok(0);
    }
    // Ids and times of the generator's making: safe as literals (quotes doubled all the same).
    // Times as diesel writes them on SQLite (`%F %T%.f`), so that they compare as its binds do.
    let cast = if matches!(c, caseflow_runtime::AnyConnection::Postgresql(_)) { "::timestamp" } else { "" };
    let values: Vec<String> = chunk
        .iter()
        .map(|(id, at)| format!("('{}', '{}'{cast})", id.replace('\'', "''"), at.format("%F %T%.f")))
        .collect();
    diesel::sql_query(format!(
        "UPDATE report_cases SET previous_at = v.previous_at \
         FROM (SELECT column1 AS case_id, column2 AS previous_at FROM (VALUES {}) AS t) AS v \
         WHERE report_cases.case_id = v.case_id",
        values.join(", ")
    ))
    .execute(c)
}

/// The reference: the plain per-unit aggregation over the half-year's dispatch rows.
pub fn reference(
    c: &mut caseflow_runtime::AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<usize> {
    use diesel::dsl::{count_star, sum};
    use report_dispatches as d;
    let rows: Vec<(Option<String>, i64, Option<i64>)> = d::table
        .filter(d::source.eq("hotline"))
        .filter(d::received_at.ge(from))
        .filter(d::received_at.lt(to))
        .group_by(d::unit)
        .select((d::unit, count_star(), sum(d::rehandled)))
        .load(c)?;
    Ok(rows.len())
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("a valid timestamp")
}

pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// The median of `runs` runs of `f`.
pub async fn time<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    median(times)
}
