//! An event appended to the outbox (every write of every service makes one) is prepared once per
//! connection and run again after, on both backends: an insert whose `None` values mean
//! `DEFAULT` is never kept by diesel on PostgreSQL, where it was parsed and planned on every call.

use std::sync::{Arc, Mutex};

use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;
use diesel::connection::{Connection as _, InstrumentationEvent};

#[tokio::test]
async fn an_outbox_append_is_prepared_once_and_run_again() {
    let test_db = TestDatabase::new("runtime_prepared_once");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    let kept: Arc<Mutex<Vec<String>>> = Arc::default();
    let (recorder, ran) = (kept.clone(), Arc::new(Mutex::new(0_usize)));
    let counter = ran.clone();
    db.write(move |c: &mut AnyConnection| {
        c.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::CacheQuery { sql, .. } if sql.contains("outbox_events") => {
                recorder.lock().expect("lock").push(sql.to_owned());
            }
            InstrumentationEvent::StartQuery { query, .. } if query.to_string().contains("INSERT INTO") => {
                *counter.lock().expect("lock") += 1;
            }
            _ => {}
        });
        for _ in 0..5 {
            event_log::append(c, chrono::Utc::now(), "case-1", &prost_types::Timestamp::default())
                .map_err(DbError::from)?;
        }
        Ok::<_, DbError>(())
    })
    .await
    .expect("appended");
    assert_eq!(*ran.lock().expect("lock"), 5, "five inserts ran");
    let kept = kept.lock().expect("lock");
    assert_eq!(kept.len(), 1, "the insert was prepared and kept once, not on every call: {kept:?}");
}

/// The statements a connection prepared and kept, by their text.
type Kept = Arc<Mutex<Vec<String>>>;

/// Records in `kept` each statement containing `text` that `c` prepares and keeps.
fn record_kept(c: &mut AnyConnection, text: &'static str, kept: Kept) {
    c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::CacheQuery { sql, .. } = event
            && sql.contains(text)
        {
            kept.lock().expect("lock").push(sql.to_owned());
        }
    });
}

#[tokio::test]
async fn a_consumers_checkpoint_update_is_prepared_once_and_run_again() {
    let test_db = TestDatabase::new("runtime_checkpoint_kept");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    let kept: Kept = Arc::default();
    let recorder = kept.clone();
    let position = db
        .write(move |c: &mut AnyConnection| {
            record_kept(c, "UPDATE", recorder);
            // The first set inserts the row (its update finds none); every later one updates it.
            for position in 1..=6 {
                event_log::set_checkpoint(c, "reporting<-intake", position, chrono::Utc::now())
                    .map_err(DbError::from)?;
            }
            event_log::checkpoint(c, "reporting<-intake").map_err(DbError::from)
        })
        .await
        .expect("checkpoints set");
    assert_eq!(position, 6, "the last checkpoint stands");
    let kept = kept.lock().expect("lock");
    assert_eq!(kept.len(), 1, "the update was prepared and kept once, not planned on every batch: {kept:?}");
}

#[tokio::test]
async fn the_publishers_stamp_is_prepared_once_and_numbers_each_publication_on() {
    let test_db = TestDatabase::new("runtime_stamp_kept");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    let kept: Kept = Arc::default();
    let recorder = kept.clone();
    let lasts = db
        .write(move |c: &mut AnyConnection| {
            record_kept(c, "UPDATE outbox_events", recorder);
            // Four publications of two, one, three and no new events.
            let mut lasts = Vec::new();
            for appended in [2, 1, 3, 0] {
                for _ in 0..appended {
                    event_log::append(c, chrono::Utc::now(), "case-1", &prost_types::Timestamp::default())
                        .map_err(DbError::from)?;
                }
                lasts.push(event_log::stamp_positions(c).map_err(DbError::from)?);
            }
            Ok::<_, DbError>(lasts)
        })
        .await
        .expect("stamped");
    assert_eq!(lasts, [Some(2), Some(3), Some(6), None], "each publication numbers its events after the last");
    let kept = kept.lock().expect("lock");
    assert_eq!(kept.len(), 1, "the stamp was prepared and kept once, not planned on every publication: {kept:?}");
}

/// A changeset with a field that may be left out: each shape it takes is an update of its own.
#[derive(diesel::AsChangeset)]
#[diesel(table_name = caseflow_runtime::event_log::outbox_events)]
struct Republished<'a> {
    aggregate_id: &'a str,
    published_at: Option<chrono::NaiveDateTime>,
}

/// A changeset whose only field may be left out.
#[derive(diesel::AsChangeset)]
#[diesel(table_name = caseflow_runtime::event_log::outbox_events)]
struct Stamp {
    published_at: Option<chrono::NaiveDateTime>,
}

#[tokio::test]
async fn a_kept_update_is_prepared_once_per_shape_changes_only_its_row_and_diesels_own_is_not_kept() {
    use caseflow_runtime::db::kept;
    use caseflow_runtime::event_log::outbox_events as o;
    use diesel::prelude::*;

    let test_db = TestDatabase::new("runtime_kept_update");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    let kept: Kept = Arc::default();
    let recorder = kept.clone();
    let published = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("a time");
    let rows = db
        .write(move |c: &mut AnyConnection| {
            for _ in 0..2 {
                event_log::append(c, chrono::Utc::now(), "case-1", &prost_types::Timestamp::default())
                    .map_err(DbError::from)?;
            }
            let first: i64 = o::table.select(diesel::dsl::min(o::id)).first::<Option<i64>>(c)?.unwrap_or_default();
            record_kept(c, "UPDATE", recorder);
            for round in 0..3 {
                let name = format!("case-{round}");
                // Both shapes: with the time, and without it (the field is left out, not nulled).
                kept::update(o::table.find(first), &Republished { aggregate_id: &name, published_at: Some(published) })
                    .execute(c)?;
                kept::update(o::table.find(first), &Republished { aggregate_id: &name, published_at: None })
                    .execute(c)?;
                // diesel's own update of the same shape, for comparison: never kept.
                diesel::update(o::table.find(first)).set(o::event_type.eq("republished")).execute(c)?;
            }
            // A changeset that sets nothing is refused, as diesel's own update refuses it.
            let nothing = kept::update(o::table.find(first), &Stamp { published_at: None }).execute(c);
            assert!(
                matches!(nothing, Err(diesel::result::Error::QueryBuilderError(_))),
                "an empty changeset is an error: {nothing:?}"
            );
            let rows: Vec<(String, String, Option<chrono::NaiveDateTime>)> =
                o::table.order(o::id).select((o::aggregate_id, o::event_type, o::published_at)).load(c)?;
            Ok::<_, DbError>(rows)
        })
        .await
        .expect("updated");
    assert_eq!(rows[0].0, "case-2", "the last update's value stands");
    assert_eq!(rows[0].1, "republished");
    assert_eq!(rows[0].2, Some(published), "a field left out keeps its value");
    assert_eq!(rows[1].0, "case-1", "the other row is untouched");
    assert_eq!(rows[1].2, None);
    let kept = kept.lock().expect("lock");
    assert_eq!(kept.len(), 2, "each shape of the changeset was prepared and kept once: {kept:?}");
    assert!(kept.iter().all(|sql| sql.contains("aggregate_id")), "diesel's own update was not kept: {kept:?}");
}
