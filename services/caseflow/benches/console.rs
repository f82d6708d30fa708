//! The console's pages over a year of 1M dispatches (`BENCH_CONSOLE_DISPATCHES` to change): the
//! data each page reads, through the same service-layer calls the pages make, against the
//! reference the half-year benchmark uses, measured in the same run on the same database (the
//! plain GROUP BY over the half-year's dispatch rows, `../shared/bench/pg_dispatch_halfyear_agg.sql`).
//! SQLite by default; PostgreSQL with `BENCH_DATABASE_URL`.
//!
//! Target (issue 13): each page's data under 100 ms over a year of 1M dispatches.

use std::sync::Arc;
use std::time::Duration;

use caseflow_reporting::cells::{Asked, CellQuery};
use caseflow_reporting::{MIGRATIONS, Reports, read, repeats, single_visit, units::Units};
use caseflow_runtime::db::{DatabaseConfig, Db, DbError};
use caseflow_runtime::{Principal, Role, event_log};
use diesel::prelude::*;

mod readmodel;
use readmodel::{at, load, reference, time};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("BENCH_CONSOLE_DISPATCHES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    // BENCH_KEEP=1 leaves the SQLite file behind to look at the query plans.
    let dir = if std::env::var("BENCH_KEEP").is_ok() { dir.keep() } else { dir.path().to_owned() };
    let config = match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            DatabaseConfig { url, schema: Some(format!("bench_console_{}", std::process::id())), pool_size: 4 }
        }
        None => DatabaseConfig {
            url: format!("sqlite://{}", dir.join("reporting.db").display()),
            schema: None,
            pool_size: 4,
        },
    };
    let backend = if config.url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    eprintln!("console benchmark: {n} dispatches over a year on {backend} ({})", dir.display());
    let db = Db::connect(&config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    let n = load(&db, n).await?;
    let reports = Reports::new(db.clone(), Arc::new(Units::load(None)?), Default::default());
    let office = Principal { name: "bench".into(), role: Role::EfficiencyOffice, unit: None };
    let (from, to) = (at("2020-01-01T00:00:00+08:00"), at("2020-07-01T00:00:00+08:00"));
    let as_of = at("2020-07-23T00:00:00+08:00");

    // The busiest unit: its page and its busiest cell are the slowest to read.
    let a2 = reports.attachment_2(&office, from, to, as_of).await?;
    let busiest = a2.departments.iter().chain(&a2.sub_districts).max_by_key(|r| r.received).ok_or("no unit")?.clone();
    eprintln!("  the busiest unit, {}, received {} dispatches in the half-year", busiest.unit, busiest.received);
    let cell = CellQuery::parse(
        Asked { report: Some("attachment-2"), column: Some("received"), unit: Some(&busiest.unit), ..Asked::default() },
        from,
        to,
        as_of,
    )
    .map_err(|v| format!("{v:?}"))?;
    let unsatisfied_cell = CellQuery::parse(
        Asked {
            report: Some("attachment-2"),
            column: Some("unsatisfied"),
            unit: Some(&busiest.unit),
            ..Asked::default()
        },
        from,
        to,
        as_of,
    )
    .map_err(|v| format!("{v:?}"))?;
    // Each measured page must succeed: an error would be timed as fast.
    reports.cells(&office, cell.clone()).await?;
    reports.cells(&office, unsatisfied_cell.clone()).await?;
    reports.unit_view(&office, &busiest.unit, from, to, as_of).await?;
    reports.moves(&office, from, to).await?;
    reports.weekly_cases(&office, "hotline", from, to).await?;

    let (f, t) = (from.naive_utc(), to.naive_utc());
    let reference = time(3, || {
        let db = db.clone();
        async move {
            let _ = db.read(move |c| reference(c, f, t).map_err(DbError::from)).await;
        }
    })
    .await;
    let runs = 7;
    let overview = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            // Side by side, as the page reads them.
            let _ = futures::join!(
                r.summary(&o, "hotline".into(), from, to, as_of),
                r.summary(&o, "petition".into(), from, to, as_of)
            );
            let _ = r.weekly_cases(&o, "hotline", from, to).await;
            let _ = r.weekly_cases(&o, "petition", from, to).await;
        }
    })
    .await;
    let attachments = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.attachment_1(&o, from, to, as_of).await;
            let _ = r.attachment_3(&o, from, to, as_of).await;
        }
    })
    .await;
    let unit = time(runs, || {
        let (r, o, u) = (reports.clone(), office.clone(), busiest.unit.clone());
        async move {
            let _ = r.unit_view(&o, &u, from, to, as_of).await;
        }
    })
    .await;
    let cells = time(runs, || {
        let (r, o, q) = (reports.clone(), office.clone(), cell.clone());
        async move {
            let _ = r.cells(&o, q).await;
        }
    })
    .await;
    let unsatisfied = time(runs, || {
        let (r, o, q) = (reports.clone(), office.clone(), unsatisfied_cell.clone());
        async move {
            let _ = r.cells(&o, q).await;
        }
    })
    .await;
    let bounces = time(runs, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.bounce(&o, from, to).await;
            let _ = r.moves(&o, from, to).await;
        }
    })
    .await;
    let bulletin = time(3, || {
        let (r, o) = (reports.clone(), office.clone());
        async move {
            let _ = r.bulletin(&o, from, to, as_of).await;
        }
    })
    .await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = |d: Duration| d.as_secs_f64() / reference.as_secs_f64();
    println!("console pages over {n} dispatches in a year on {backend}");
    println!("reference: plain GROUP BY over the half-year's dispatch rows: {:.1} ms", ms(reference));
    let pages = [
        ("overview (both summaries, both weekly series)", overview),
        ("attachments 1 and 3 (2 is inside 3)", attachments),
        ("the busiest unit's page", unit),
        ("the busiest cell's facts, first page", cells),
        ("its unsatisfied dispatches, first page", unsatisfied),
        ("bounces (figures and flows)", bounces),
        ("bulletin preview", bulletin),
    ];
    for (name, d) in pages {
        let verdict = if ms(d) < 100.0 { "under 100 ms" } else { "OVER 100 ms" };
        println!("{name}: {:.1} ms, ratio {:.4}, {verdict}", ms(d), ratio(d));
    }
    // Where the summaries' time goes: each read they make, for each source.
    println!("the summaries' reads, each:");
    let (f, t, at) = (from.naive_utc(), to.naive_utc(), as_of.naive_utc());
    let settled = chrono::NaiveDate::from_ymd_opt(9999, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).ok_or("a date")?;
    type Read = fn(
        &mut caseflow_runtime::AnyConnection,
        &str,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
    ) -> diesel::QueryResult<usize>;
    // (name, the moment it is read as of, the read); the repeat petitioners are petitions' only.
    let reads: [(&str, chrono::NaiveDateTime, Read); 6] = [
        ("case counts", at, |c, s, f, t, _| read::case_counts(c, s, f, t).map(|m| m.len())),
        ("term counts", at, |c, s, f, t, _| read::term_counts(c, s, f, t).map(|m| m.len())),
        ("rating cells", at, |c, s, f, t, at| read::rating_cells(c, s, f, t, at).map(|m| m.len())),
        ("dispatch cells, settled", settled, |c, s, f, t, at| read::dispatch_cells(c, s, f, t, at).map(|m| m.len())),
        ("single-visit cells", at, |c, s, f, t, _| single_visit::read(c, s, f, t).map(|_| 1)),
        ("repeat petitioners", at, |c, _, f, t, _| repeats::read(c, f, t).map(|m| m.len())),
    ];
    for source in ["hotline", "petition"] {
        for (name, moment, read) in
            reads.into_iter().filter(|(name, ..)| source == "petition" || !name.starts_with("repeat"))
        {
            let d = time(runs, || {
                let db = db.clone();
                async move {
                    let _ = db.read(move |c| read(c, source, f, t, moment).map_err(DbError::from)).await;
                }
            })
            .await;
            println!("  {source} {name}: {:.1} ms", ms(d));
        }
    }
    if let Some(schema) = &config.schema {
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        db.write(move |c| diesel::sql_query(drop).execute(c).map_err(DbError::from)).await?;
    }
    Ok(())
}
