//! A rollup row's change is one statement that the connection prepares once: it adds to the
//! counts of the row it finds (or makes the row), keeps the later of two moments, and is run
//! again as prepared however often it comes, on both backends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use caseflow_reporting::add_row::{AddRow, Key};
use caseflow_reporting::rollup::DispatchCells;
use caseflow_reporting::store::report_dispatch_days as t;
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::InstrumentationEvent;
use diesel::prelude::*;

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("a time")
}

/// Adds to the row of `unit` on 1 March: `received` and `late`, and a settling moment.
fn add(
    conn: &mut AnyConnection,
    unit: &str,
    received: i64,
    late: i64,
    settles: Option<NaiveDateTime>,
) -> QueryResult<usize> {
    let day = NaiveDate::from_ymd_opt(2020, 3, 1).expect("a day");
    AddRow {
        table: "report_dispatch_days",
        keys: &[("source", Key::Text("hotline")), ("day", Key::Date(day)), ("unit", Key::Text(unit))],
        counts: &DispatchCells { received, late, ..DispatchCells::default() }.columns(),
        raised: Some(("settles_by", settles)),
    }
    .run(conn)
}

#[tokio::test]
async fn a_rollup_row_adds_up_keeps_the_later_moment_and_is_prepared_once() {
    let test_db = TestDatabase::new("reporting_add_row");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_reporting::MIGRATIONS])
        .await
        .expect("database opens");
    let (prepared, rows) = db
        .write(|c: &mut AnyConnection| {
            let prepared = Arc::new(AtomicUsize::new(0));
            let counter = prepared.clone();
            c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if matches!(event, InstrumentationEvent::CacheQuery { .. }) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            add(c, "chengguan", 1, 0, Some(at("2020-03-20 00:00:00")))?;
            // A later moment raises it; an earlier one or none leaves it.
            add(c, "chengguan", 2, 1, Some(at("2020-04-02 09:30:00")))?;
            add(c, "chengguan", -1, 0, Some(at("2020-03-25 00:00:00")))?;
            add(c, "chengguan", 0, 0, None)?;
            // Another row: its own counts, and no moment until one comes.
            add(c, "zhujian", 5, 0, None)?;
            let prepared = prepared.load(Ordering::Relaxed);
            c.set_instrumentation(|_: InstrumentationEvent<'_>| {});
            let rows = t::table
                .order(t::unit)
                .select((t::unit, t::received, t::late, t::in_progress, t::settles_by))
                .load::<(String, i64, i64, i64, Option<NaiveDateTime>)>(c)?;
            Ok::<_, DbError>((prepared, rows))
        })
        .await
        .expect("the rows are written");
    assert_eq!(
        rows,
        vec![("chengguan".to_owned(), 2, 1, 0, Some(at("2020-04-02 09:30:00"))), ("zhujian".to_owned(), 5, 0, 0, None),]
    );
    assert_eq!(prepared, 1, "the statement was prepared once and run five times");
}
