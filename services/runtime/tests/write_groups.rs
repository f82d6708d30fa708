//! Writes queued together commit together on SQLite (`db::group`), and each still answers for
//! itself: a refused write leaves nothing, the others keep theirs, and a write that panics takes
//! its group down without taking the writer, or its connection, with it. On PostgreSQL each
//! write is its own transaction, and the same answers hold.

use std::sync::atomic::Ordering;
use std::time::Duration;

use caseflow_runtime::db::{AnyConnection, Backend, Db, DbError};
use caseflow_runtime::event_log;
use caseflow_runtime::testing::TestDatabase;

async fn open(name: &str) -> (TestDatabase, Db) {
    let test_db = TestDatabase::new(name);
    let db = Db::connect(&test_db.config, vec![&event_log::MIGRATIONS]).await.expect("database opens");
    (test_db, db)
}

/// Records consumer `name` at position `n`, as a write of its own.
fn mark(conn: &mut AnyConnection, name: &str, n: i64) -> Result<(), DbError> {
    event_log::set_checkpoint(conn, name, n, chrono::Utc::now()).map_err(DbError::from)
}

async fn recorded(db: &Db, name: &str) -> i64 {
    let name = name.to_owned();
    db.read(move |c| event_log::checkpoint(c, &name).map_err(DbError::from)).await.expect("read")
}

/// Starts a write that holds the writer for a moment, so that the writes sent next queue
/// behind it and go together.
fn hold_the_writer(db: &Db) -> tokio::task::JoinHandle<Result<(), DbError>> {
    let db = db.clone();
    tokio::spawn(async move {
        db.write(|c| {
            std::thread::sleep(Duration::from_millis(300));
            mark(c, "holder", 1)
        })
        .await
    })
}

#[tokio::test]
async fn writes_queued_together_keep_their_own_answers() {
    let (_guard, db) = open("runtime_write_groups").await;
    let holder = hold_the_writer(&db);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let writes: Vec<_> = (1..=20_i64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| {
                    mark(c, &format!("w{i}"), i)?;
                    // Every fourth write is refused after it wrote: its row must not stay.
                    if i % 4 == 0 { Err(DbError::Config(format!("write {i} refused"))) } else { Ok(i) }
                })
                .await
            })
        })
        .collect();
    holder.await.expect("joins").expect("the holder commits");
    for (i, w) in (1..=20_i64).zip(writes) {
        match w.await.expect("joins") {
            Ok(n) => {
                assert_ne!(i % 4, 0, "write {i} was refused but answered Ok");
                assert_eq!(n, i, "write {i} got another write's answer");
            }
            Err(DbError::Config(m)) => assert_eq!(m, format!("write {i} refused")),
            Err(other) => panic!("write {i}: unexpected error {other}"),
        }
    }
    for i in 1..=20_i64 {
        let expected = if i % 4 == 0 { 0 } else { i };
        assert_eq!(recorded(&db, &format!("w{i}")).await, expected, "write {i}'s row");
    }
    assert_eq!(recorded(&db, "holder").await, 1);
    let stats = db.stats();
    assert_eq!(stats.committed.load(Ordering::Relaxed), 16, "the holder and 15 writes committed");
    assert_eq!(stats.rolled_back.load(Ordering::Relaxed), 5);
    match db.backend() {
        // The twenty writes queued behind the holder: far fewer commits than writes.
        Backend::Sqlite => {
            let groups = stats.groups.load(Ordering::Relaxed);
            assert!((2..=4).contains(&groups), "21 writes took {groups} transactions");
        }
        Backend::Postgres => assert_eq!(stats.groups.load(Ordering::Relaxed), 0),
    }
}

#[tokio::test]
async fn a_write_that_panics_undoes_its_group_and_the_writer_goes_on() {
    let (_guard, db) = open("runtime_write_group_panic").await;
    let holder = hold_the_writer(&db);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = {
        let db = db.clone();
        tokio::spawn(async move { db.write(|c| mark(c, "before", 1)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let panics = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(|c| {
                mark(c, "panics", 1)?;
                panic!("a bug in a write");
                #[allow(unreachable_code)]
                Ok::<(), DbError>(())
            })
            .await
        })
    };
    holder.await.expect("joins").expect("the holder commits");
    let before = before.await.expect("joins");
    let panicked = panics.await.expect("joins");
    assert!(matches!(panicked, Err(DbError::Unavailable(_))), "the panicking write answers an error: {panicked:?}");
    assert_eq!(recorded(&db, "panics").await, 0, "nothing of the panicking write stays");
    if db.backend() == Backend::Sqlite {
        // It shared a transaction with "before", which is answered as not committed.
        assert!(matches!(&before, Err(DbError::Unavailable(m)) if m.contains("did not commit")), "{before:?}");
        assert_eq!(recorded(&db, "before").await, 0);
    } else {
        before.expect("on PostgreSQL each write is its own transaction");
        assert_eq!(recorded(&db, "before").await, 1);
    }
    db.write(|c| mark(c, "after", 7)).await.expect("the writer still serves");
    assert_eq!(recorded(&db, "after").await, 7);
}

#[tokio::test]
async fn after_a_panic_the_writer_keeps_its_connection_out_of_any_transaction() {
    let (_guard, db) = open("runtime_write_group_connection").await;
    if db.backend() != Backend::Sqlite {
        // One writer connection is SQLite's alone; PostgreSQL writes take any pooled one.
        return;
    }
    // A table only this connection sees: it is gone if the connection was thrown away.
    db.write(|c| {
        use diesel::RunQueryDsl as _;
        diesel::sql_query("CREATE TEMP TABLE writer_marker (x INTEGER)").execute(c).map_err(DbError::from)
    })
    .await
    .expect("marker");
    let holder = hold_the_writer(&db);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let writes: Vec<_> = (0..2)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| {
                    mark(c, &format!("nested{i}"), 1)?;
                    if i == 1 {
                        // Panics inside a transaction of its own, leaving its savepoint open.
                        use diesel::Connection as _;
                        c.transaction::<(), DbError, _>(|_| panic!("a bug inside a nested transaction"))?;
                    }
                    Ok::<(), DbError>(())
                })
                .await
            })
        })
        .collect();
    holder.await.expect("joins").expect("the holder commits");
    for w in writes {
        assert!(matches!(w.await.expect("joins"), Err(DbError::Unavailable(_))), "the group did not commit");
    }
    let marker = db
        .write(|c| {
            use diesel::RunQueryDsl as _;
            diesel::sql_query("INSERT INTO writer_marker VALUES (1)").execute(c).map_err(DbError::from)
        })
        .await;
    assert_eq!(marker.expect("the same connection, out of every transaction, still writes"), 1);
    assert_eq!(recorded(&db, "nested0").await, 0);
    assert_eq!(recorded(&db, "nested1").await, 0);
}
