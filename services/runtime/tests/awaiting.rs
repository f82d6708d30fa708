//! Waiting for a record another service's event is still making (`runtime::awaiting`), on the
//! configured backend: the wait ends with the commit that makes the record, looking again only
//! when something was committed, and gives the usual answer when the wait is over.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use caseflow_runtime::awaiting;
use caseflow_runtime::db::{Db, DbError};
use caseflow_runtime::event_log::MIGRATIONS;
use caseflow_runtime::testing::TestDatabase;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn checkpoint(db: &Db, name: &'static str) -> Result<i64, DbError> {
    db.read(move |c| {
        let rows: Vec<Count> =
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM consumer_checkpoints WHERE consumer = '{name}'"))
                .load(c)?;
        Ok(rows.first().map_or(0, |r| r.n))
    })
    .await
}

async fn commit(db: &Db, sql: &'static str) {
    db.write(move |c| c.batch_execute(sql).map_err(DbError::from)).await.expect("committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_ends_with_the_commit_that_makes_the_record_and_looks_only_after_commits() {
    let test_db = TestDatabase::new("awaiting");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database");
    let looks = Arc::new(AtomicUsize::new(0));
    let missing = |n: &Result<i64, DbError>| matches!(n, Ok(0));

    // Without a wait: one look, the record is not there.
    let once = awaiting::until_made(&db, None, missing, || {
        looks.fetch_add(1, Ordering::SeqCst);
        checkpoint(&db, "made")
    })
    .await;
    assert_eq!((once.ok(), looks.swap(0, Ordering::SeqCst)), (Some(0), 1));

    // Another task commits something else, then the record; the wait ends with the record.
    let writer = db.clone();
    let maker = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        commit(&writer, "INSERT INTO consumer_checkpoints (consumer, position, updated_at) VALUES ('other', 1, '2020-01-01 00:00:00')").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        commit(&writer, "INSERT INTO consumer_checkpoints (consumer, position, updated_at) VALUES ('made', 1, '2020-01-01 00:00:00')").await;
    });
    let made = awaiting::until_made(&db, Some(awaiting::MAX_WAIT), missing, || {
        looks.fetch_add(1, Ordering::SeqCst);
        checkpoint(&db, "made")
    })
    .await;
    maker.await.expect("maker");
    assert_eq!(made.ok(), Some(1), "the record the second commit made");
    // The first look, one after the unrelated commit, one after the record's: not a poll.
    assert_eq!(looks.swap(0, Ordering::SeqCst), 3);

    // A record that never comes: the usual answer once the wait is over.
    let never = awaiting::until_made(&db, Some(Duration::from_millis(300)), missing, || {
        looks.fetch_add(1, Ordering::SeqCst);
        checkpoint(&db, "never")
    })
    .await;
    assert_eq!((never.ok(), looks.load(Ordering::SeqCst)), (Some(0), 1));
}

#[test]
fn the_wait_asked_for_is_bounded_and_a_bad_one_is_no_wait() {
    let with = |v: &str| {
        let mut r = tonic::Request::new(());
        r.metadata_mut().insert(awaiting::HEADER, v.parse().expect("header"));
        awaiting::requested(&r)
    };
    assert_eq!(with("250"), Some(Duration::from_millis(250)));
    assert_eq!(with("600000"), Some(awaiting::MAX_WAIT));
    assert_eq!(with("0"), None);
    assert_eq!(with("soon"), None);
    assert_eq!(awaiting::requested(&tonic::Request::new(())), None);
}
