//! The unit suggester over a year of 1M resolved matters (`BENCH_MATTERS` to change): training,
//! and one suggestion, against references measured in the same run on the same database.
//! SQLite by default; PostgreSQL with `BENCH_DATABASE_URL`.
//!
//! - Training reads the year's resolved matters a page at a time and counts their features.
//!   Its reference is the read alone (the same pages, each dropped): the ratio says what the
//!   model adds to reading its data. Peak RSS includes the benchmark's own list of matter ids.
//! - A suggestion reads the matter and ranks every unit. Its reference is routing's plain view
//!   of the same matter (`GET /v1/matters/{id}`); the target (issue 16) is well under 10 ms.
//!
//! The matters come from the demo generator (a year from 2019-07-01, its overlapping wording
//! and its final resolvers), written straight into routing's tables: each as resolved, with the
//! lead dispatch of the unit that resolved it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use caseflow::history::demo::{self, Spec};
use caseflow::history::format::Event;
use caseflow_routing::calendar::Calendar;
use caseflow_routing::catalog::Catalog;
use caseflow_routing::dispatching::Rules;
use caseflow_routing::policy::RoutingPolicy;
use caseflow_routing::registry::Registry;
use caseflow_routing::store::{DispatchRow, MatterRow, dispatches, routing_matters};
use caseflow_routing::suggest::history;
use caseflow_routing::{MIGRATIONS, Routing};
use caseflow_runtime::clock::{ManualClock, SharedClock};
use caseflow_runtime::db::{AnyConnection, DatabaseConfig, Db, DbError};
use caseflow_runtime::{Principal, Role, event_log};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

/// Cases the generator makes per unit of scale over a year (2577 hotline + 602 petitions).
const CASES_PER_SCALE: f64 = 2577.0 + 602.0;
const BATCH: usize = 500;

/// A resolved matter of the generated year, as routing stores it.
fn rows(lines: &[caseflow::history::format::Line], serial: u64) -> Option<(MatterRow, DispatchRow)> {
    let mut matter: Option<MatterRow> = None;
    let mut resolved: Option<(String, NaiveDateTime)> = None;
    for l in lines {
        let t = l.at.naive_utc();
        match &l.event {
            Event::HotlineOrder { order } => {
                let m = order.matters.first()?;
                matter = Some(row(serial, "hotline", &order.kind, m, &order.location.sub_district, t));
            }
            Event::Petition { petition } => {
                let m = petition.matters.first()?;
                matter = Some(row(serial, "petition", "complaint", m, &petition.location.sub_district, t));
            }
            Event::Resolve { dispatch } => resolved = Some((dispatch.unit.clone(), t)),
            _ => {}
        }
    }
    let (mut m, (unit, at)) = (matter?, resolved?);
    m.state = "resolved".into();
    m.resolved_at = Some(at);
    let d = DispatchRow {
        id: format!("{}-d1", m.matter_id),
        case_id: m.case_id.clone(),
        matter_id: m.matter_id.clone(),
        assignment: 1,
        unit,
        role: "lead".into(),
        via: "named".into(),
        state: "resolved".into(),
        dispatched_at: m.case_received_at,
        acknowledge_deadline: m.case_received_at,
        return_deadline: m.case_received_at,
        acknowledged_at: Some(m.case_received_at),
        landed_at: Some(m.case_received_at),
        landing_method: Some("phone".into()),
        replied_at: Some(at),
        reply: Some("已处理".into()),
        reviewed_at: Some(at),
        resolved_at: Some(at),
        closed_at: None,
        version: 1,
        scan_at: None,
        history_warning: None,
    };
    Some((m, d))
}

fn row(
    serial: u64,
    source: &str,
    kind: &str,
    m: &caseflow::history::format::Matter,
    sub_district: &str,
    at: NaiveDateTime,
) -> MatterRow {
    MatterRow {
        matter_id: format!("bench-{serial:08}-m1"),
        case_id: format!("bench-{serial:08}"),
        source: source.into(),
        kind: kind.into(),
        category: m.category.clone(),
        summary: m.summary.clone(),
        sub_district: sub_district.into(),
        anonymous: false,
        single_visit: false,
        accused_unit: None,
        case_received_at: at,
        land_deadline: at,
        resolve_deadline: at,
        extensions: 0,
        approved_returns: 0,
        state: "open".into(),
        designated_unit: None,
        case_analysis: None,
        resolved_at: None,
        version: 1,
        named_unit: Some(m.target_unit.clone()),
        catalog_unit: None,
    }
}

/// Writes about `n` resolved matters of a generated year; returns their ids.
async fn load(db: &Db, n: u64) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let spec = Spec {
        seed: 2019,
        scale: (n as f64 / (CASES_PER_SCALE * 0.93)).max(0.01),
        start: NaiveDate::from_ymd_opt(2019, 7, 1).unwrap_or_default(),
        months: 12,
        previous_year: false,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(MatterRow, DispatchRow)>>(4);
    let generator = std::thread::spawn(move || {
        let (mut serial, mut batch) = (0_u64, Vec::new());
        demo::for_each_case(&spec, |lines| {
            serial += 1;
            if let Some(r) = rows(&lines, serial) {
                batch.push(r);
                if batch.len() >= BATCH * 20 {
                    let _ = tx.blocking_send(std::mem::take(&mut batch));
                }
            }
        });
        let _ = tx.blocking_send(batch);
    });
    let mut ids = Vec::new();
    let started = Instant::now();
    while let Some(batch) = rx.recv().await {
        ids.extend(batch.iter().map(|(m, _)| m.matter_id.clone()));
        db.write(move |c| {
            for chunk in batch.chunks(BATCH) {
                let (matters, dispatched): (Vec<MatterRow>, Vec<DispatchRow>) = chunk.iter().cloned().unzip();
                // Many rows to one statement: each backend's own connection does that.
                match &mut *c {
                    AnyConnection::Postgresql(pg) => {
                        diesel::insert_into(routing_matters::table).values(&matters).execute(pg)?;
                        diesel::insert_into(dispatches::table).values(&dispatched).execute(pg)?;
                    }
                    AnyConnection::Sqlite(lite) => {
                        diesel::insert_into(routing_matters::table).values(&matters).execute(lite)?;
                        diesel::insert_into(dispatches::table).values(&dispatched).execute(lite)?;
                    }
                }
            }
            Ok::<_, DbError>(())
        })
        .await?;
    }
    let _ = generator.join();
    eprintln!("  loaded {} resolved matters in {:.1} s", ids.len(), started.elapsed().as_secs_f64());
    Ok(ids)
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident memory of this process, in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("BENCH_MATTERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let config = match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => DatabaseConfig { url, schema: Some(format!("bench_{}", std::process::id())), pool_size: 4 },
        None => DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("routing.db").display()),
            schema: None,
            pool_size: 4,
        },
    };
    let backend = if config.url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    eprintln!("unit suggester benchmark: a year of about {n} resolved matters on {backend}");
    let db = Db::connect(&config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    let rules = Arc::new(Rules {
        registry: Registry::load(None)?,
        catalog: Catalog::load(None)?,
        calendar: Calendar::load(None)?,
        policy: RoutingPolicy::load(None)?,
    });
    {
        let rules = rules.clone();
        db.write(move |c| rules.registry.sync(c).map_err(DbError::from)).await?;
    }
    let ids = load(&db, n).await?;
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2020-07-01T00:00:00+08:00")?.with_timezone(&Utc);
    let clock: SharedClock = Arc::new(ManualClock::new(now));
    let routing = Routing::new(db.clone(), clock, rules);
    let dispatcher = Principal { name: "bench".into(), role: Role::Dispatcher, unit: None };

    // Reference: the year's resolved matters read, nothing learned.
    let (from, to) = ((now - chrono::Duration::days(365)).naive_utc(), now.naive_utc());
    let mut reads = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        // Page after page as training reads them, each dropped.
        let mut after: Option<(NaiveDateTime, String)> = None;
        loop {
            let from_here = after.take();
            let page = db
                .read(move |c| {
                    history::resolved_page(c, from, to, from_here.as_ref(), history::PAGE).map_err(DbError::from)
                })
                .await?;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        reads.push(t.elapsed());
    }
    let read = percentile(reads, 0.5);
    let mut trainings = Vec::new();
    let mut learned = 0;
    for _ in 0..3 {
        let t = Instant::now();
        learned = routing.train_suggester(&dispatcher).await?.matters;
        trainings.push(t.elapsed());
    }
    let training = percentile(trainings, 0.5);

    // One suggestion at a time for random matters, against the plain view of the same matter.
    let mut pick = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        pick ^= pick << 13;
        pick ^= pick >> 7;
        pick ^= pick << 17;
        ids[(pick % ids.len() as u64) as usize].clone()
    };
    let (mut suggested, mut viewed) = (Vec::new(), Vec::new());
    for _ in 0..1000 {
        let id = next();
        let t = Instant::now();
        let s = routing.suggestions(&dispatcher, &id).await?;
        suggested.push(t.elapsed());
        assert!(!s.suggestions.is_empty(), "a suggestion for {id}");
        let t = Instant::now();
        routing.matter(&dispatcher, &id).await?;
        viewed.push(t.elapsed());
    }
    let (s50, s99, v50) = (percentile(suggested.clone(), 0.5), percentile(suggested, 0.99), percentile(viewed, 0.5));

    println!("suggester {backend}: {learned} matters learned");
    println!(
        "  training   {:>8.0} ms ({:.0} matters/s); reference read alone {:.0} ms; ratio {:.2}",
        ms(training),
        learned as f64 / training.as_secs_f64(),
        ms(read),
        training.as_secs_f64() / read.as_secs_f64()
    );
    println!(
        "  suggestion p50 {:.2} ms, p99 {:.2} ms (target well under 10 ms: {}); reference matter view p50 {:.2} ms; ratio {:.2}",
        ms(s50),
        ms(s99),
        if ms(s99) < 10.0 { "met" } else { "NOT met" },
        ms(v50),
        s50.as_secs_f64() / v50.as_secs_f64()
    );
    if let Some(mb) = peak_rss_mb() {
        println!("  peak RSS {mb:.0} MB");
    }
    if let Some(schema) = config.schema.as_ref() {
        // The benchmark's own schema goes again.
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        db.write(move |c| diesel::sql_query(drop).execute(c).map_err(DbError::from)).await?;
    }
    Ok(())
}
