//! A consumer's batch gathers its handler's writes and makes them at its end on PostgreSQL
//! (`runtime::gathered`): in a statement or two however many events, every event still seeing
//! the writes of the events before it when it asks (`flush`), and nothing of a batch that failed.
//! On SQLite each write is made at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use caseflow_runtime::consumer::ApplyError;
use caseflow_runtime::db::arrays::{Arrays, Column};
use caseflow_runtime::db::{AnyConnection, Backend, Db, DbError};
use caseflow_runtime::event_log::{self, MIGRATIONS};
use caseflow_runtime::gathered::{self, Batch};
use caseflow_runtime::testing::TestDatabase;
use chrono::Utc;
use diesel::connection::{Connection as _, InstrumentationEvent};

/// Positions seen, kept as checkpoints named `seen-N` (a table every service has).
#[derive(Debug, Default)]
struct Seen(Vec<String>);

impl Batch for Seen {
    fn write(self, pg: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        Arrays::new(
            &[
                "INSERT INTO consumer_checkpoints (consumer, position, updated_at) SELECT s, 1, now() FROM unnest(",
                "::text[]) AS u (s)",
            ],
            vec![Column::Text(self.0.iter().map(String::as_str).collect())],
        )
        .execute(pg)?;
        Ok(())
    }
}

/// Records `name` as seen: gathered, or at once when nothing is being gathered.
fn see(c: &mut AnyConnection, name: String) -> Result<(), ApplyError> {
    if let Some(name) = gathered::gather(name, |seen: &mut Seen, name| seen.0.push(name)) {
        event_log::set_checkpoint(c, &name, 1, Utc::now())?;
    }
    Ok(())
}

/// How many checkpoints named `seen-…` there are.
fn seen(c: &mut AnyConnection) -> Result<usize, ApplyError> {
    let mut n = 0;
    for i in 0..100 {
        if event_log::checkpoint(c, &format!("seen-{i:03}"))? == 1 {
            n += 1;
        }
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batchs_writes_are_made_together_and_an_event_that_asks_sees_those_before_it() {
    // One connection, so the instrumentation set on it counts every write below.
    let mut test_db = TestDatabase::new("gathered");
    test_db.config.pool_size = 1;
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database opens");
    let inserts = Arc::new(AtomicUsize::new(0));
    let counter = inserts.clone();
    db.write(move |c| {
        c.set_instrumentation(move |e: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = e
                && let sql = query.to_string()
                && sql.starts_with("INSERT")
                && sql.contains("consumer_checkpoints")
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok::<_, DbError>(())
    })
    .await
    .expect("instrumented");

    // Forty events; the twentieth reads what the ones before it wrote.
    let seen_by_the_twentieth = db
        .write(|c| {
            let mut seen_then = 0;
            gathered::gathering::<Seen, _, _>(c, |c| {
                for i in 0..40 {
                    if i == 20 {
                        gathered::flush::<Seen>(c)?;
                        seen_then = seen(c)?;
                    }
                    see(c, format!("seen-{i:03}"))?;
                }
                Ok::<_, ApplyError>(())
            })?;
            Ok::<_, ApplyError>(seen_then)
        })
        .await
        .expect("the batch commits");
    // A batch that fails after gathering leaves nothing.
    let failed = db
        .write(|c| {
            gathered::gathering::<Seen, _, _>(c, |c| {
                for i in 40..60 {
                    see(c, format!("seen-{i:03}"))?;
                }
                Err::<(), _>(ApplyError::Refused { position: 60, reason: "a bad event".into() })
            })
        })
        .await;
    assert!(failed.is_err(), "the second batch fails");
    // Outside a batch, a write is made at once again.
    db.write(|c| see(c, "seen-099".into())).await.expect("written");

    assert_eq!(seen_by_the_twentieth, 20, "the twentieth event saw the twenty before it");
    assert_eq!(
        db.read(seen).await.expect("read"),
        41,
        "the first batch's forty and the lone one; none of the failed batch"
    );
    let statements = inserts.load(Ordering::Relaxed);
    if db.backend() == Backend::Postgres {
        // Twenty before the flush, twenty at the end; nothing of the failed batch left the
        // process. The lone write is `set_checkpoint`'s insert.
        assert_eq!(statements, 2 + 1, "a batch's forty writes went in two statements");
    } else {
        assert_eq!(statements, 40 + 20 + 1, "SQLite writes each at once");
    }
}
