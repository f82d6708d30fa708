//! A rollup row's change is one statement that the connection prepares once: it adds to the
//! counts of the row it finds (or makes the row), keeps the later of two moments, and is run
//! again as prepared however often it comes, on both backends. Inside a projection's batch the
//! changes to a row add up first and the row is written once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use caseflow_reporting::add_row::{AddRow, Key, gathered};
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
) -> QueryResult<()> {
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

type DayRow = (String, i64, i64, i64, Option<NaiveDateTime>);

fn day_rows(c: &mut AnyConnection) -> QueryResult<Vec<DayRow>> {
    t::table.order(t::unit).select((t::unit, t::received, t::late, t::in_progress, t::settles_by)).load(c)
}

#[tokio::test]
async fn a_batch_writes_each_row_it_touched_once_and_a_failed_batch_writes_none() {
    let test_db = TestDatabase::new("reporting_add_row_batch");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS, &caseflow_reporting::MIGRATIONS])
        .await
        .expect("database opens");
    let (writes, after_batch, after_failure, writes_after) = db
        .write(|c: &mut AnyConnection| {
            let writes = Arc::new(AtomicUsize::new(0));
            let counter = writes.clone();
            c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = event
                    && query.to_string().starts_with("INSERT")
                {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            gathered(c, |c| {
                add(c, "chengguan", 1, 0, Some(at("2020-03-20 00:00:00")))?;
                add(c, "zhujian", 5, 0, None)?;
                add(c, "chengguan", 2, 1, Some(at("2020-04-02 09:30:00")))?;
                add(c, "chengguan", -1, 0, Some(at("2020-03-25 00:00:00")))?;
                add(c, "chengguan", 0, 0, None)?;
                assert_eq!(day_rows(c)?, vec![], "nothing is written while the batch runs");
                Ok::<_, diesel::result::Error>(())
            })?;
            let in_batch = writes.load(Ordering::Relaxed);
            let after_batch = day_rows(c)?;
            // A batch that fails writes nothing of what it gathered (its transaction rolls
            // back), and a change after it is written at once.
            let failed = gathered(c, |c| {
                add(c, "chengguan", 100, 0, None)?;
                Err::<(), _>(diesel::result::Error::RollbackTransaction)
            });
            assert!(failed.is_err());
            add(c, "zhujian", 1, 0, None)?;
            let after_failure = day_rows(c)?;
            let writes_after = writes.load(Ordering::Relaxed) - in_batch;
            c.set_instrumentation(|_: InstrumentationEvent<'_>| {});
            Ok::<_, DbError>((in_batch, after_batch, after_failure, writes_after))
        })
        .await
        .expect("the rows are written");
    assert_eq!(
        after_batch,
        vec![("chengguan".to_owned(), 2, 1, 0, Some(at("2020-04-02 09:30:00"))), ("zhujian".to_owned(), 5, 0, 0, None)],
        "the batch's changes add up as they do one by one"
    );
    assert_eq!(writes, 2, "one write per row the batch touched");
    assert_eq!(after_failure[1], ("zhujian".to_owned(), 6, 0, 0, None));
    assert_eq!(after_failure[0], after_batch[0], "the failed batch wrote nothing");
    assert_eq!(writes_after, 1, "the change after the failed batch was written at once");
}
