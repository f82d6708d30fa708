//! A `Replanned` query is not kept by the connection: each run is planned for the table as it is
//! then, while the same query unwrapped is prepared once and kept (with the plan it got then).

use std::sync::{Arc, Mutex};

use caseflow_runtime::db::replanned::Replanned;
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::event_log::{self, outbox_events};
use caseflow_runtime::testing::TestDatabase;
use diesel::connection::{Connection as _, InstrumentationEvent};
use diesel::prelude::*;

#[tokio::test]
async fn a_replanned_query_is_planned_on_every_run_and_a_plain_one_is_kept() {
    let test_db = TestDatabase::new("runtime_replanned");
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    let kept: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorder = kept.clone();
    let (plain, replanned) = db
        .write(move |c: &mut AnyConnection| {
            c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                    recorder.lock().expect("lock").push(sql.to_owned());
                }
            });
            let unpublished = || outbox_events::table.filter(outbox_events::position.is_null()).count();
            let mut counts = (0_i64, 0_i64);
            for _ in 0..3 {
                counts.0 += unpublished().get_result::<i64>(c)?;
                counts.1 += Replanned(unpublished()).get_result::<i64>(c)?;
            }
            Ok::<_, DbError>(counts)
        })
        .await
        .expect("counted");
    assert_eq!((plain, replanned), (0, 0), "both read the same empty outbox");
    let kept = kept.lock().expect("lock");
    assert_eq!(kept.len(), 1, "only the plain count was prepared and kept, once: {kept:?}");
}
