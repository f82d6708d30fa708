//! The pool checks a connection with a round trip only when it has sat idle: one given back a
//! moment ago goes out again as it is (under load, that is every checkout), and one idle for
//! longer than a second is checked first, on both backends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;
use diesel::connection::{Connection as _, InstrumentationEvent};

/// Every statement the pool's one connection runs, as text.
type Seen = Arc<Mutex<Vec<String>>>;

async fn checkout(db: &Db) -> Result<(), DbError> {
    db.read(|_: &mut AnyConnection| Ok::<_, DbError>(())).await
}

fn checks(seen: &Seen) -> usize {
    seen.lock().expect("lock").iter().filter(|q| q.trim() == "SELECT 1").count()
}

#[tokio::test]
async fn a_connection_is_checked_only_after_it_sat_idle() {
    let test_db = TestDatabase::new("runtime_pool");
    let mut config = test_db.config.clone();
    config.pool_size = 1;
    let db = Db::connect(&config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    db.read(move |c: &mut AnyConnection| {
        c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                recorder.lock().expect("lock").push(query.to_string());
            }
        });
        Ok::<_, DbError>(())
    })
    .await
    .expect("instrumented");

    for _ in 0..20 {
        checkout(&db).await.expect("checkout");
    }
    assert_eq!(checks(&seen), 0, "connections given back a moment ago went out unchecked: {:?}", seen);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    checkout(&db).await.expect("checkout after a pause");
    assert_eq!(checks(&seen), 1, "a connection idle for over a second was checked once before use");
}
