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
