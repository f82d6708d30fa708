//! A half-year report over a year of dispatches (10M by default; `BENCH_DISPATCHES` to change),
//! against the reference measured in the same run on the same database: the plain GROUP BY over
//! the half-year's dispatch rows that `../shared/bench/pg_dispatch_halfyear_agg.sql` runs.
//! The data follows `../shared/bench/pg_dispatch_10m.sql`: one dispatch per case, inserted in time
//! order over calendar 2025, the district's units, 15 categories, the same status, deadline
//! and rating mix. SQLite by default; PostgreSQL with `BENCH_DATABASE_URL`.
//!
//! Target (issue 6): the half-year report under 100 ms over 10M dispatches. The reference
//! machine measured the plain aggregation at 2.6 s on SQLite and 800 ms on PostgreSQL, so
//! 100 ms is a ratio of about 0.04 (SQLite) or 0.12 (PostgreSQL) against it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caseflow_reporting::rollup::{self, DispatchCells};
use caseflow_reporting::store::{
    CaseFact, DispatchFact, report_case_days, report_cases, report_dispatches, report_ratings,
};
use caseflow_reporting::{MIGRATIONS, Reports, units::Units};
use caseflow_runtime::db::{DatabaseConfig, Db, DbError};
use caseflow_runtime::{Principal, Role, event_log};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;

const CATEGORIES: [&str; 15] = [
    "urban_management.cooking_fume",
    "urban_management.illegal_construction",
    "ecology.construction_noise",
    "ecology.noise",
    "market_regulation.food_safety",
    "market_regulation.consumer_rights",
    "education.school_district",
    "education.tuition_refund",
    "construction.property_management",
    "construction.renovation",
    "health.medical_service",
    "labour.wage_arrears",
    "political_legal.dispute",
    "civil_affairs.elderly_care",
    "culture_sports.tourism",
];
const CHANNELS: [&str; 5] = ["phone", "web", "app", "mini_program", "merged_hotline"];
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

/// xorshift64*, seeded: the same data every run.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("a valid timestamp")
}

struct Row {
    fact: DispatchFact,
    case: CaseFact,
    rating: Option<&'static str>,
}

/// Dispatch `i` of `n`, as `pg_dispatch_10m.sql` makes it.
fn row(i: u64, n: u64, units: &[String], rng: &mut Rng) -> Row {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("start").naive_utc();
    let ts: NaiveDateTime = start + chrono::Duration::microseconds((i as f64 * 31_536_000_000_000.0 / n as f64) as i64);
    let (r1, r2, r3, r4, r5, r7) = (rng.unit(), rng.unit(), rng.unit(), rng.unit(), rng.unit(), rng.unit());
    let unit = units[((r1 * units.len() as f64) as usize).min(units.len() - 1)].clone();
    let category = CATEGORIES[((r2 * 15.0) as usize).min(14)];
    // 1 new, 2 accepted, 3 in progress, 4 completed, 5 closed.
    let status = if r3 < 0.75 {
        5
    } else if r3 < 0.85 {
        4
    } else if r3 < 0.92 {
        3
    } else if r3 < 0.97 {
        2
    } else {
        1
    };
    let day = chrono::Duration::days(1);
    let resolved_at = (status >= 4).then(|| ts + chrono::Duration::seconds((r4 * 864_000.0) as i64));
    let acknowledged_at = (status >= 2).then(|| if r5 < 0.04 { ts + day + day / 2 } else { ts + day / 4 });
    let mut fact = DispatchFact {
        dispatch_id: format!("d{i:08}"),
        case_id: format!("c{i:08}"),
        matter_id: format!("c{i:08}-m1"),
        unit: Some(unit),
        role: "lead".into(),
        assignment: 1,
        source: "hotline".into(),
        received_at: ts,
        dispatched_at: ts,
        acknowledge_deadline: Some(ts + day),
        acknowledged_at,
        resolve_deadline: Some(ts + day * 5),
        resolved_at,
        status: if resolved_at.is_some() { "resolved" } else { "open" }.into(),
        closed_at: None,
        rehandled: 0,
        settles_at: None,
    };
    fact.settles_at = rollup::settles_at(&fact);
    let level = if r7 < 0.80 {
        "satisfied"
    } else if r7 < 0.95 {
        "basic"
    } else {
        "unsatisfied"
    };
    let rating = (status >= 4 && r4 < 0.6).then_some(level);
    let case = CaseFact {
        case_id: fact.case_id.clone(),
        source: "hotline".into(),
        channel: CHANNELS[(i % 5) as usize].into(),
        kind: if r2 < 0.78 { "complaint" } else { "suggestion" }.into(),
        category: category.into(),
        sub_district: String::new(),
        received_at: ts,
        is_first: true,
        single_visit: false,
        repeat_of: None,
        person_key: String::new(),
        citizen_masked: String::new(),
        visit_persons: 0,
        collective: false,
        terms: String::new(),
    };
    Row { fact, case, rating }
}

/// Loads `n` dispatches with their cases and ratings, and the rollups they make.
async fn load(db: &Db, n: u64, units: &[String]) -> Result<(), DbError> {
    let mut rng = Rng(0x42);
    let mut dispatch_days: BTreeMap<rollup::DispatchKey, (DispatchCells, Option<NaiveDateTime>)> = BTreeMap::new();
    let mut rating_days: BTreeMap<rollup::RatingKey, rollup::RatingCells> = BTreeMap::new();
    let mut case_days: BTreeMap<(String, chrono::NaiveDate, &'static str, String), i64> = BTreeMap::new();
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let rows: Vec<Row> = (i..(i + BATCH as u64 * 50).min(n)).map(|k| row(k, n, units, &mut rng)).collect();
        i += rows.len() as u64;
        for r in &rows {
            if let Some((key, cells)) = rollup::dispatch_cells(&r.fact, r.rating == Some("unsatisfied"), None) {
                let day = dispatch_days.entry(key).or_default();
                day.0 += cells;
                day.1 = day.1.max(r.fact.settles_at);
            }
            if let (Some(mapped), Some(unit)) = (r.rating, &r.fact.unit) {
                let key = ("hotline".to_owned(), unit.clone(), rollup::district_day(r.fact.received_at));
                *rating_days.entry(key).or_default() += rollup::rating_cells("rated", Some(mapped));
            }
            let c = &r.case;
            for (dimension, value) in rollup::case_dimensions(c) {
                *case_days
                    .entry((c.source.clone(), rollup::district_day(c.received_at), dimension, value))
                    .or_default() += 1;
            }
        }
        db.write(move |c| {
            for chunk in rows.chunks(BATCH) {
                let facts: Vec<DispatchFact> = chunk.iter().map(|r| r.fact.clone()).collect();
                on_backend!(&mut *c, |b| diesel::insert_into(report_dispatches::table).values(&facts).execute(b))?;
                let cases: Vec<CaseFact> = chunk.iter().map(|r| r.case.clone()).collect();
                on_backend!(&mut *c, |b| diesel::insert_into(report_cases::table).values(&cases).execute(b))?;
                let ratings: Vec<_> = chunk
                    .iter()
                    .filter_map(|r| {
                        r.rating.map(|m| {
                            (
                                report_ratings::case_id.eq(r.fact.case_id.clone()),
                                report_ratings::subject.eq(r.fact.unit.clone().unwrap_or_default()),
                                report_ratings::dispatch_id.eq(Some(r.fact.dispatch_id.clone())),
                                report_ratings::source.eq("hotline"),
                                report_ratings::status.eq("rated"),
                                report_ratings::mapped.eq(Some(m)),
                            )
                        })
                    })
                    .collect();
                on_backend!(&mut *c, |b| diesel::insert_into(report_ratings::table).values(&ratings).execute(b))?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
        if i % 1_000_000 < BATCH as u64 * 50 {
            eprintln!("  loaded {i} of {n} dispatches ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    db.write(move |c| {
        for (key, (cells, settles)) in dispatch_days {
            rollup::add_dispatch(c, &key, cells, settles)?;
        }
        for (key, cells) in rating_days {
            rollup::add_rating(c, &key, cells)?;
        }
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
    if let caseflow_runtime::db::Backend::Postgres = db.backend() {
        db.write(|c| diesel::sql_query("ANALYZE").execute(c).map_err(DbError::from)).await?;
    }
    eprintln!("  loaded in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The reference: the plain per-unit aggregation over the half-year's dispatch rows.
fn reference(c: &mut caseflow_runtime::AnyConnection, from: NaiveDateTime, to: NaiveDateTime) -> QueryResult<usize> {
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

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn time<F, Fut>(runs: usize, mut f: F) -> Duration
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("BENCH_DISPATCHES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = tempfile::tempdir()?;
    // BENCH_KEEP=1 leaves the SQLite file behind to look at the query plans.
    let dir = if std::env::var("BENCH_KEEP").is_ok() { dir.keep() } else { dir.path().to_owned() };
    let config = match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => DatabaseConfig { url, schema: Some(format!("bench_{}", std::process::id())), pool_size: 4 },
        None => DatabaseConfig {
            url: format!("sqlite://{}", dir.join("reporting.db").display()),
            schema: None,
            pool_size: 4,
        },
    };
    let backend = if config.url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    eprintln!("half-year report benchmark: {n} dispatches on {backend}");
    let db = Db::connect(&config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    let units = Units::load(None)?;
    let codes: Vec<String> = units.all().iter().map(|u| u.code.clone()).collect();
    load(&db, n, &codes).await?;

    let reports = Reports::new(db.clone(), Arc::new(units), Default::default());
    let office = Principal { name: "bench".into(), role: Role::EfficiencyOffice, unit: None };
    let (from, to) = (at("2025-01-01T00:00:00+08:00"), at("2025-07-01T00:00:00+08:00"));
    let as_of = at("2026-01-01T00:00:00+08:00");
    let mid_year = at("2025-06-20T00:00:00+08:00");

    let a2 = reports.attachment_2(&office, from, to, as_of).await?;
    let in_window: u64 = a2.departments.iter().chain(&a2.sub_districts).map(|r| r.received).sum();
    eprintln!("  attachment 2 counts {in_window} dispatches in the half-year");

    let (f, t) = (from.naive_utc(), to.naive_utc());
    let reference = time(3, || {
        let db = db.clone();
        async move {
            let _ = db.read(move |c| reference(c, f, t).map_err(DbError::from)).await;
        }
    })
    .await;
    let runs = 15;
    let a2_time = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.attachment_2(&o, from, to, as_of).await;
        }
    })
    .await;
    let a2_mid = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.attachment_2(&o, from, to, mid_year).await;
        }
    })
    .await;
    let a3_time = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.attachment_3(&o, from, to, as_of).await;
        }
    })
    .await;
    let summary_time = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.summary(&o, "hotline".into(), from, to).await;
        }
    })
    .await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = |d: Duration| d.as_secs_f64() / reference.as_secs_f64();
    println!("reference: plain GROUP BY over the half-year's dispatch rows: {:.1} ms", ms(reference));
    for (name, d) in [
        ("attachment 2, as of after the period", a2_time),
        ("attachment 3, as of after the period", a3_time),
        ("hotline summary, with the year before", summary_time),
    ] {
        println!("{name}: {:.2} ms, ratio {:.4}", ms(d), ratio(d));
    }
    // As of a moment inside the period, the dispatches not settled by then are read one by one.
    println!("attachment 2, as of 20 June (inside the period): {:.2} ms, ratio {:.4}", ms(a2_mid), ratio(a2_mid));
    let target = if backend == "SQLite" { 100.0 / 2600.0 } else { 100.0 / 800.0 };
    let worst = [a2_time, a3_time, summary_time].into_iter().max().unwrap_or_default();
    let verdict = match (ratio(worst) < target, n >= 10_000_000) {
        (true, true) => "met",
        (true, false) => "met at this size (the target is set at 10M)",
        (false, _) => "NOT met",
    };
    println!(
        "target: the half-year report under 100 ms over 10M dispatches, a ratio under {target:.3} on {backend}: {verdict}"
    );
    if let Some(schema) = &config.schema {
        // The benchmark's own schema goes again.
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        db.write(move |c| diesel::sql_query(drop).execute(c).map_err(DbError::from)).await?;
    }
    Ok(())
}
