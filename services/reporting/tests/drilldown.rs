//! The facts behind a figure: for random event sets, random periods and moments, and random
//! cells of attachments 1, 2 and 3, of the bounce figures and of the cases received, the drill-down lists exactly as
//! many facts as the figure says, each once across its pages. A unit handler follows only its
//! own unit's figures. SQLite, or PostgreSQL with `TEST_DATABASE_URL`.

use std::collections::BTreeSet;
use std::sync::Arc;

mod common;

use caseflow_reporting::cells::{Asked, CellQuery};
use caseflow_reporting::{MIGRATIONS, Reports, units::Units};
use caseflow_runtime::db::Db;
use caseflow_runtime::testing::TestDatabase;
use caseflow_runtime::{Principal, Role, event_log};
use chrono::{DateTime, Duration, Utc};
use common::{Rng, World, office, replay, start};

fn moment(rng: &mut Rng, days: i64) -> DateTime<Utc> {
    start() + Duration::days(days) + Duration::minutes(i64::try_from(rng.below(24 * 60)).unwrap_or(0))
}

fn query(
    report: &str,
    column: &str,
    unit: Option<&str>,
    (from, to, as_of): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
) -> CellQuery {
    CellQuery::parse(
        Asked { report: Some(report), column: Some(column), unit, per_page: Some("7"), ..Asked::default() },
        from,
        to,
        as_of,
    )
    .expect("a valid cell")
}

/// Every page of the cell: how many facts in all, and the distinct facts the pages listed.
async fn all_pages(reports: &Reports, p: &Principal, mut q: CellQuery) -> (u64, usize) {
    let mut seen = BTreeSet::new();
    let mut listed = 0;
    loop {
        let page = reports.cells(p, q.clone()).await.expect("the cell's facts");
        listed += page.rows.len();
        for r in &page.rows {
            seen.insert((r.case_id.clone(), r.dispatch_id.clone(), r.unit.clone()));
        }
        if u64::from(q.page) * u64::from(q.per_page) >= page.count {
            assert_eq!(listed, seen.len(), "no fact is listed twice across pages");
            // And nothing past the figure: the page after the last is empty.
            q.page += 1;
            let after = reports.cells(p, q.clone()).await.expect("the page after");
            assert!(after.rows.is_empty(), "{} more facts than the figure {}", after.rows.len(), page.count);
            return (page.count, seen.len());
        }
        q.page += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_lists_as_many_facts_as_its_figure() {
    // Matters followed along a band of the flows, over every seed: the random events must move
    // some, or the moves would go unchecked.
    let mut moved_followed = 0;
    // Dispatches the suggester warned about, and those of them handed on, followed likewise.
    let (mut warned_followed, mut handed_on_followed) = (0, 0);
    for seed in 1..=3u64 {
        let test_db = TestDatabase::new("reporting_drilldown");
        let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await.expect("database");
        let world = World::generate(seed * 6_151);
        let mut rng = Rng(seed * 31_337);
        replay(&db, &world, &mut rng).await;
        let reports = Reports::new(db.clone(), Arc::new(Units::load(None).expect("units")), Default::default());
        let mut checked = 0;
        for _ in 0..3 {
            let day = i64::try_from(rng.below(60)).unwrap_or(0) - 10;
            let from = moment(&mut rng, day);
            let to = from + Duration::days(i64::try_from(20 + rng.below(150)).unwrap_or(20));
            let day = i64::try_from(rng.below(300)).unwrap_or(0);
            let as_of = moment(&mut rng, day);
            let at = (from, to, as_of);

            let a2 = reports.attachment_2(&office(), from, to, as_of).await.expect("attachment 2");
            let rows: Vec<_> = a2.departments.iter().chain(&a2.sub_districts).collect();
            for _ in 0..6 {
                let Some(row) = rows.get(usize::try_from(rng.below(rows.len() as u64)).unwrap_or(0)) else { break };
                let columns = [
                    ("received", row.received),
                    ("in_progress", row.in_progress),
                    ("completed", row.completed),
                    ("overdue_view", row.overdue_view),
                    ("overdue_handling", row.overdue_handling),
                    ("unsatisfied", row.unsatisfied),
                ];
                let (column, figure) = columns[usize::try_from(rng.below(6)).unwrap_or(0)];
                let (count, listed) =
                    all_pages(&reports, &office(), query("attachment-2", column, Some(&row.unit), at)).await;
                assert_eq!((count, listed as u64), (figure, figure), "seed {seed}: attachment 2 {} {column}", row.unit);
                // The unit's handler follows the same cell.
                let handler = Principal { name: "clerk".into(), role: Role::UnitHandler, unit: Some(row.unit.clone()) };
                let (own, _) = all_pages(&reports, &handler, query("attachment-2", column, Some(&row.unit), at)).await;
                assert_eq!(own, figure);
                checked += 1;
            }
            // A column's total over every unit.
            let total: u64 = rows.iter().map(|r| r.overdue_handling).sum();
            let (count, listed) =
                all_pages(&reports, &office(), query("attachment-2", "overdue_handling", None, at)).await;
            assert_eq!((count, listed as u64), (total, total), "seed {seed}: overdue handling over every unit");

            let a3 = reports.attachment_3(&office(), from, to, as_of).await.expect("attachment 3");
            for r in a3.departments.iter().chain(&a3.sub_districts).take(3) {
                let (count, _) =
                    all_pages(&reports, &office(), query("attachment-3", "unsatisfied", Some(&r.unit), at)).await;
                assert_eq!(count, r.unsatisfied, "seed {seed}: attachment 3 {}", r.unit);
            }

            // The bounce figures' counts: resolutions and returns per unit.
            let bounce = reports.bounce(&office(), from, to).await.expect("bounce figures");
            for r in bounce.units.iter().take(5) {
                warned_followed += r.history_warnings;
                handed_on_followed += r.history_warnings_handed_on;
                for (column, figure) in [
                    ("resolved", r.resolved),
                    ("resolved_on_first_assignment", r.resolved_on_first_assignment),
                    ("returns_asked", r.returns_asked),
                    ("returns_approved", r.returns_approved),
                    ("returns_rejected", r.returns_rejected),
                    ("wrongful_returns", r.wrongful_returns),
                    ("history_warnings", r.history_warnings),
                    ("history_warnings_handed_on", r.history_warnings_handed_on),
                ] {
                    let (count, listed) =
                        all_pages(&reports, &office(), query("bounce", column, Some(&r.unit), at)).await;
                    assert_eq!((count, listed as u64), (figure, figure), "seed {seed}: bounce {} {column}", r.unit);
                    checked += 1;
                }
            }

            // The flows between units: each band's matters.
            let moves = reports.moves(&office(), from, to).await.expect("moves");
            for (a, b, n) in moves.flows.iter().take(6) {
                let q = CellQuery::parse(
                    Asked {
                        report: Some("moves"),
                        column: Some("moved"),
                        unit: Some(a.as_str()),
                        next_unit: Some(b.as_str()),
                        per_page: Some("7"),
                        ..Asked::default()
                    },
                    from,
                    to,
                    as_of,
                )
                .expect("valid");
                let (count, listed) = all_pages(&reports, &office(), q).await;
                assert_eq!((count, listed as u64), (*n, *n), "seed {seed}: moves {a} -> {b}");
                moved_followed += count;
                checked += 1;
            }

            let a1 = reports.attachment_1(&office(), from, to, as_of).await.expect("attachment 1");
            for r in a1.departments.iter().chain(&a1.sub_districts).filter(|r| r.due > 0).take(4) {
                for (column, figure) in [
                    ("due", r.due),
                    ("expired", r.expired),
                    ("satisfied", r.satisfied),
                    ("basic", r.basic),
                    ("unsatisfied", r.unsatisfied),
                ] {
                    let (count, listed) =
                        all_pages(&reports, &office(), query("attachment-1", column, Some(&r.unit), at)).await;
                    assert_eq!(
                        (count, listed as u64),
                        (figure, figure),
                        "seed {seed}: attachment 1 {} {column}",
                        r.unit
                    );
                    checked += 1;
                }
            }

            // The cases received, in all and by category, as the summary counts them.
            for source in ["hotline", "petition"] {
                let s = reports.summary(&office(), source.into(), from, to, as_of).await.expect("summary");
                let cases = |category: Option<&str>| {
                    CellQuery::parse(
                        Asked {
                            report: Some("cases"),
                            column: Some("received"),
                            source: Some(source),
                            category,
                            ..Asked::default()
                        },
                        from,
                        to,
                        as_of,
                    )
                    .expect("valid")
                };
                let (count, _) = all_pages(&reports, &office(), cases(None)).await;
                assert_eq!(count, s.total.count, "seed {seed}: {source} cases");
                for c in &s.categories {
                    let (count, _) = all_pages(&reports, &office(), cases(Some(&c.key))).await;
                    assert_eq!(count, c.count, "seed {seed}: {source} category {}", c.key);
                }
            }
        }
        assert!(checked > 10, "seed {seed}: enough cells were followed ({checked})");
    }
    assert!(moved_followed > 0, "some matters moved between units and were followed");
    assert!(warned_followed > handed_on_followed && handed_on_followed > 0, "warnings were followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_handler_follows_only_its_own_units_figures() {
    let test_db = TestDatabase::new("reporting_drilldown_scope");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await.expect("database");
    let reports = Reports::new(db, Arc::new(Units::load(None).expect("units")), Default::default());
    let handler = Principal { name: "clerk".into(), role: Role::UnitHandler, unit: Some("chengguan".into()) };
    let at = (start(), start() + Duration::days(30), start() + Duration::days(40));
    for unit in [Some("zhujian"), None] {
        let e = reports.cells(&handler, query("attachment-2", "received", unit, at)).await.expect_err("refused");
        assert_eq!(e.rule.as_deref(), Some("auth.unit"), "{unit:?}");
    }
    let dispatcher = Principal { name: "d".into(), role: Role::Dispatcher, unit: None };
    assert!(reports.cells(&dispatcher, query("attachment-2", "received", Some("zhujian"), at)).await.is_err());
    // A bad request names each bad field.
    let e = CellQuery::parse(
        Asked {
            report: Some("attachment-9"),
            column: Some("x"),
            page: Some("0"),
            per_page: Some("500"),
            ..Asked::default()
        },
        at.0,
        at.1,
        at.2,
    )
    .expect_err("refused");
    let fields: Vec<&str> = e.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["report", "page", "per_page"]);
}
