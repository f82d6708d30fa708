//! The event log on the configured backend (SQLite, or PostgreSQL with `TEST_DATABASE_URL`):
//! transactions that commit out of order must not make a reader skip an event.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use caseflow_proto::v1::CaseReceived;
use caseflow_runtime::db::{ANNOUNCE_GATHER as GATHER, Db, DbError};
use caseflow_runtime::event_log::{self, MIGRATIONS};
use caseflow_runtime::gathered;
use caseflow_runtime::testing::TestDatabase;
use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

async fn open() -> (TestDatabase, Db) {
    let test_db = TestDatabase::new("eventlog");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database opens");
    (test_db, db)
}

fn event(n: usize) -> CaseReceived {
    CaseReceived { case_id: format!("case-{n}"), ..Default::default() }
}

/// Reads everything published after `after` until `expected` distinct events were seen or the
/// deadline passes; returns the case ids in position order and the positions.
async fn read_until(db: &Db, expected: usize, deadline: Duration) -> (Vec<String>, Vec<i64>) {
    let start = tokio::time::Instant::now();
    let (mut ids, mut positions) = (Vec::new(), Vec::new());
    let mut after = 0;
    while ids.len() < expected && start.elapsed() < deadline {
        let batch = db.read(move |c| event_log::read_after(c, after, 100).map_err(DbError::from)).await.expect("read");
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        for e in batch {
            after = e.position;
            positions.push(e.position);
            let decoded: CaseReceived = event_log::decode(&e).expect("decodes");
            ids.push(decoded.case_id);
        }
    }
    (ids, positions)
}

/// A publisher whose safety poll never fires during a test: what it publishes, it was woken for.
fn spawn_publisher(db: &Db) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let (tx, _rx) = watch::channel(0);
    let task =
        tokio::spawn(event_log::run_publisher(db.clone(), Arc::new(tx), Duration::from_secs(3600), stop.clone()));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_commit_is_still_delivered_after_an_earlier_one_was_read() {
    let (_guard, db) = open().await;
    let (stop, publisher) = spawn_publisher(&db);

    // T1 appends first (lower id) but commits last.
    let (appended_tx, appended_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let slow_db = db.clone();
    let slow = tokio::spawn(async move {
        slow_db
            .write(move |c| {
                event_log::append(c, Utc::now(), "case-slow", &event(1))?;
                let _ = appended_tx.send(());
                let _ = release_rx.recv_timeout(Duration::from_secs(10));
                Ok::<_, DbError>(())
            })
            .await
    });
    appended_rx.recv_timeout(Duration::from_secs(10)).expect("slow writer appended");

    if db.backend() == caseflow_runtime::db::Backend::Postgres {
        // T2 commits while T1 is open; a reader sees T2's event first.
        db.write(|c| event_log::append(c, Utc::now(), "case-fast", &event(2)).map_err(DbError::from))
            .await
            .expect("fast writer commits");
        let (first, _) = read_until(&db, 1, Duration::from_secs(5)).await;
        assert_eq!(first, ["case-2"], "the committed event is readable while T1 is open");
    }
    release_tx.send(()).expect("release slow writer");
    slow.await.expect("join").expect("slow writer commits");
    if db.backend() == caseflow_runtime::db::Backend::Sqlite {
        db.write(|c| event_log::append(c, Utc::now(), "case-fast", &event(2)).map_err(DbError::from))
            .await
            .expect("second writer commits");
    }

    let (ids, positions) = read_until(&db, 2, Duration::from_secs(5)).await;
    stop.cancel();
    publisher.await.expect("publisher stops");
    let seen: BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(seen, BTreeSet::from(["case-1".to_owned(), "case-2".to_owned()]), "nothing skipped");
    assert_eq!(ids.len(), 2, "nothing delivered twice");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions increase: {positions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_committing_out_of_order_lose_nothing() {
    const WRITERS: usize = 8;
    const EACH: usize = 40;
    let (_guard, db) = open().await;
    let (stop, publisher) = spawn_publisher(&db);

    // The reader runs while writers commit, so it really reads "after P" mid-flight.
    let reader_db = db.clone();
    let reader = tokio::spawn(async move { read_until(&reader_db, WRITERS * EACH, Duration::from_secs(60)).await });

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                let n = w * EACH + i;
                // Hold some transactions open after appending so commits overtake each other.
                let hold = Duration::from_millis(((n * 7919) % 5) as u64);
                db.write(move |c| {
                    event_log::append(c, Utc::now(), &format!("case-{n}"), &event(n))?;
                    std::thread::sleep(hold);
                    Ok::<_, DbError>(())
                })
                .await
                .expect("writer commits");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer task");
    }
    let (ids, positions) = reader.await.expect("reader task");
    stop.cancel();
    publisher.await.expect("publisher stops");

    let distinct: BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(distinct.len(), WRITERS * EACH, "every committed event is read");
    assert_eq!(ids.len(), WRITERS * EACH, "no event is read twice");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "positions strictly increase");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_publisher_commits_nothing() {
    let (_guard, db) = open().await;
    let (stop, publisher) = spawn_publisher(&db);
    db.write(|c| event_log::append(c, Utc::now(), "case-1", &event(1)).map_err(DbError::from)).await.expect("append");
    let (ids, _) = read_until(&db, 1, Duration::from_secs(5)).await;
    assert_eq!(ids, ["case-1"], "the appended event is published without waiting for a poll");

    // Published: from here on nothing is waiting, and the publisher must not keep itself busy.
    // (The stamping transaction is visible a moment before its task counts it: let it.)
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = db.commits();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = db.commits() - before;
    // A write without an event (a consumer's checkpoint) wakes nothing either.
    db.write(|c| event_log::set_checkpoint(c, "someone", 1, Utc::now()).map_err(DbError::from))
        .await
        .expect("checkpoint");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_checkpoint = db.commits() - before;
    stop.cancel();
    publisher.await.expect("publisher stops");
    assert_eq!(during, 0, "an idle publisher committed {during} transactions in 0.5 s");
    assert_eq!(after_checkpoint, 1, "a write with no event wakes no publisher run");
}

/// Rows stamped by a publisher this one never heard of (another replica's, whose notification
/// was lost) reach this replica's streams at the safety poll: it reads the last position too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safety_poll_tells_the_streams_of_positions_published_elsewhere() {
    let (_guard, db) = open().await;
    let stop = CancellationToken::new();
    let (tx, mut rx) = watch::channel(0);
    let publisher =
        tokio::spawn(event_log::run_publisher(db.clone(), Arc::new(tx), Duration::from_millis(200), stop.clone()));
    // Appended and stamped in one transaction, as another replica's publisher would have: this
    // publisher finds nothing to stamp, and nothing tells it the position.
    let last = db
        .write(|c| {
            event_log::append(c, Utc::now(), "case-elsewhere", &event(3))?;
            event_log::stamp_positions(c).map_err(DbError::from)
        })
        .await
        .expect("append and stamp")
        .expect("a position");
    let seen = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|p| *p >= last)).await;
    stop.cancel();
    publisher.await.expect("publisher stops");
    assert!(seen.is_ok(), "the streams were told of position {last} at the safety poll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_written_by_another_replica_is_published_at_once() {
    let (test_db, db) = open().await;
    if db.backend() != caseflow_runtime::db::Backend::Postgres {
        return; // SQLite has one process writing a file; replicas need PostgreSQL.
    }
    // Replica A runs the whole event log (publisher and LISTEN session); replica B only writes.
    let stop = CancellationToken::new();
    // A failing assertion still stops the LISTEN session, which the runtime would wait for.
    let _stop_on_panic = stop.clone().drop_guard();
    let log = event_log::start(&db, &stop, &caseflow_runtime::supervise::Loops::default());
    let other = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("second replica opens");
    tokio::time::sleep(Duration::from_millis(300)).await; // the LISTEN session is up
    other
        .write(|c| event_log::append(c, Utc::now(), "case-b", &event(7)).map_err(DbError::from))
        .await
        .expect("append");
    // Long before the safety poll: only the notification can have woken A's publisher.
    let (ids, _) = read_until(&db, 1, Duration::from_secs(3)).await;
    // The row is visible stamped a moment before A's publisher counts its own commit: let that
    // count settle before taking the figure the next step compares with.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A call of A's waiting for a record (`awaiting`) is woken by B's commit, even when B's own
    // publisher stamped the row first and A's has nothing to commit.
    let mut changes = db.changes();
    changes.borrow_and_update();
    let commits_before = db.commits();
    other
        .write(|c| {
            event_log::append(c, Utc::now(), "case-b", &event(8))?;
            event_log::stamp_positions(c).map(|_| ()).map_err(DbError::from)
        })
        .await
        .expect("append and stamp");
    tokio::time::timeout(Duration::from_secs(3), changes.changed())
        .await
        .expect("replica B's commit wakes a wait in replica A")
        .expect("open");
    assert_eq!(db.commits(), commits_before, "A committed nothing: the notification itself woke the wait");
    stop.cancel();
    log.stopped().await;
    assert_eq!(ids, ["case-7"], "replica A published replica B's row through NOTIFY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_commits_is_told_to_the_other_replicas_in_a_few_notifications() {
    use diesel::connection::SimpleConnection as _;
    use diesel::{Connection as _, PgConnection};
    let (test_db, db) = open().await;
    let (Some(url), Some(schema)) = (caseflow_runtime::testing::postgres_url(), test_db.config.schema.clone()) else {
        return; // Notifications are PostgreSQL's; SQLite has one process.
    };
    // Another replica's LISTEN session, on this schema's outbox channel.
    let mut listener = PgConnection::establish(&url).expect("listener connects");
    listener
        .batch_execute(&format!(
            "SET search_path TO \"{schema}\"; DO $$ BEGIN EXECUTE 'LISTEN ' || quote_ident('caseflow_outbox_' || md5(current_schema())); END $$;"
        ))
        .expect("listening");
    // Forty orders' worth of commits, one after another, each appending to the outbox.
    const COMMITS: usize = 40;
    let started = std::time::Instant::now();
    for n in 0..COMMITS {
        db.write(move |c| event_log::append(c, Utc::now(), "case", &event(n)).map_err(DbError::from))
            .await
            .expect("append");
    }
    let committing = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let told: Vec<String> = listener.notifications_iter().map(|n| n.expect("a notification").payload).collect();
    assert!(told.iter().any(|p| p == "appended"), "the other replicas were told: {told:?}");
    // One notification per gathering window while the commits ran, and the last one after: on a
    // quiet machine forty commits take a few tens of milliseconds, so a handful of notifications,
    // where telling each commit would send forty. A busy machine's slower commits widen the bound
    // with them rather than failing a run that told no commit twice.
    let bound = (committing.as_micros() / GATHER.as_micros()) as usize + 2;
    assert!(
        told.len() <= bound.min(COMMITS - 1),
        "{} notifications for {COMMITS} commits in {committing:?} (at most {bound}): a run of commits is told together, not one by one",
        told.len()
    );
}

/// One publication of a row this process wrote costs the stamping transaction and nothing
/// else: the publisher does not look before stamping what it was told of, and the stream takes
/// the stamped rows from the publisher (`event_log::Recent`) instead of reading them back.
/// Neither goes back to the database to find that nothing more is there (which was a quarter
/// of all statements on a busy PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_publication_is_read_once_by_the_publisher_and_once_by_a_stream() {
    use caseflow_proto::v1::SubscribeRequest;
    use caseflow_proto::v1::event_stream_server::EventStream as _;
    use caseflow_runtime::auth::Principal;
    use std::sync::atomic::Ordering;
    use tokio_stream::StreamExt as _;

    let (_guard, db) = open().await;
    let stop = CancellationToken::new();
    let _stop_on_panic = stop.clone().drop_guard();
    let (tx, rx) = watch::channel(0);
    let publisher =
        tokio::spawn(event_log::run_publisher(db.clone(), Arc::new(tx), Duration::from_secs(3600), stop.clone()));
    let service = event_log::EventStreamService::new(db.clone(), rx, stop.clone());
    let mut request = tonic::Request::new(SubscribeRequest { after_position: 0, limit: 0 });
    request.extensions_mut().insert(Principal::system("test"));
    let mut stream = service.subscribe(request).await.expect("subscribed").into_inner();
    tokio::time::sleep(Duration::from_millis(100)).await; // the stream's first (empty) read

    const ROUNDS: u64 = 20;
    let takes = || db.stats().acquired.load(Ordering::Relaxed);
    let before = takes();
    for n in 0..ROUNDS as usize {
        db.write(move |c| event_log::append(c, Utc::now(), "case", &event(n)).map_err(DbError::from))
            .await
            .expect("append");
        let delivered = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        let envelope = delivered.expect("delivered at once").expect("open").expect("an event");
        let decoded: CaseReceived = event_log::decode(&envelope).expect("decodes");
        assert_eq!(decoded.case_id, format!("case-{n}"), "delivered in order");
    }
    // Whatever either loop would still do after its last delivery, it has done by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_round = (takes() - before) as f64 / ROUNDS as f64;
    stop.cancel();
    publisher.await.expect("publisher stops");
    // The writer's append and the publisher's stamp.
    assert!(per_round <= 2.0, "{per_round:.2} connections taken per publication, where an append and a stamp need 2");
}

/// Positions another replica's publisher stamped between two runs of this one's are read from
/// the database, and the stream goes on in order with this one's next run: nothing is skipped,
/// nothing sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reads_what_another_publisher_stamped_between_this_ones_runs() {
    use caseflow_proto::v1::SubscribeRequest;
    use caseflow_proto::v1::event_stream_server::EventStream as _;
    use caseflow_runtime::auth::Principal;
    use tokio_stream::StreamExt as _;

    let (_guard, db) = open().await;
    let stop = CancellationToken::new();
    let _stop_on_panic = stop.clone().drop_guard();
    let (tx, rx) = watch::channel(0);
    let tx = Arc::new(tx);
    let publisher =
        tokio::spawn(event_log::run_publisher(db.clone(), tx.clone(), Duration::from_secs(3600), stop.clone()));
    let service = event_log::EventStreamService::new(db.clone(), rx, stop.clone());
    let mut request = tonic::Request::new(SubscribeRequest { after_position: 0, limit: 0 });
    request.extensions_mut().insert(Principal::system("test"));
    let mut stream = service.subscribe(request).await.expect("subscribed").into_inner();
    let mut next = async || {
        let delivered = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        let envelope = delivered.expect("delivered").expect("open").expect("an event");
        let decoded: CaseReceived = event_log::decode(&envelope).expect("decodes");
        (envelope.position, decoded.case_id)
    };

    for n in 0..2 {
        db.write(move |c| event_log::append(c, Utc::now(), "case", &event(n)).map_err(DbError::from))
            .await
            .expect("append");
        assert_eq!(next().await, (n as i64 + 1, format!("case-{n}")), "this publisher's run");
    }
    // Another replica's publisher stamps two rows; its announcement reaches the streams.
    let elsewhere = db
        .write(|c| {
            event_log::append(c, Utc::now(), "case", &event(2))?;
            event_log::append(c, Utc::now(), "case", &event(3))?;
            event_log::stamp_positions(c).map_err(DbError::from)
        })
        .await
        .expect("append and stamp")
        .expect("positions");
    tx.send_modify(|p| *p = (*p).max(elsewhere));
    assert_eq!(next().await, (3, "case-2".to_owned()), "read from the database");
    assert_eq!(next().await, (4, "case-3".to_owned()), "read from the database");
    for n in 4..6 {
        db.write(move |c| event_log::append(c, Utc::now(), "case", &event(n)).map_err(DbError::from))
            .await
            .expect("append");
        assert_eq!(next().await, (n as i64 + 1, format!("case-{n}")), "this publisher's run after the gap");
    }
    stop.cancel();
    publisher.await.expect("publisher stops");
}

/// A consumer's checkpoint moves in one statement only from where the consumer left it: from
/// anywhere else (another consumer moved it, or there is none yet) nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_advances_only_from_where_it_was_expected() {
    let (_guard, db) = open().await;
    let step = |expected: i64, to: i64| {
        db.write(move |c| {
            event_log::advance_checkpoint(c, "reporting", expected, to, Utc::now()).map_err(DbError::from)
        })
    };
    let stored = || db.read(|c| event_log::checkpoint(c, "reporting").map_err(DbError::from));
    assert!(!step(0, 5).await.expect("advance"), "no checkpoint row yet: nothing to move");
    assert_eq!(stored().await.expect("read"), 0);
    db.write(|c| event_log::set_checkpoint(c, "reporting", 5, Utc::now()).map_err(DbError::from)).await.expect("set");
    assert!(!step(3, 9).await.expect("advance"), "the checkpoint is at 5, not 3");
    assert_eq!(stored().await.expect("read"), 5, "a wrong expectation moves nothing");
    assert!(step(5, 9).await.expect("advance"), "from where it was");
    assert_eq!(stored().await.expect("read"), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batchs_appends_are_written_together_in_their_order_and_a_failed_one_leaves_none() {
    use diesel::connection::{Connection as _, InstrumentationEvent};
    // One connection, so every write below is counted by the instrumentation set on it.
    let mut test_db = TestDatabase::new("eventlog");
    test_db.config.pool_size = 1;
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database opens");
    let inserts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = inserts.clone();
    let gathered = |from: usize, fail: bool| {
        db.write(move |c| {
            gathered::gathering::<event_log::Appends, _, _>(c, |c| {
                for n in from..from + 40 {
                    event_log::append(c, Utc::now(), "case", &event(n))?;
                }
                if fail { Err(DbError::Unavailable("the batch failed".into())) } else { Ok(()) }
            })
        })
    };
    db.write(move |c| {
        c.set_instrumentation(move |e: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = e
                && query.to_string().contains("INSERT INTO")
            {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        Ok::<_, DbError>(())
    })
    .await
    .expect("instrumented");
    gathered(0, false).await.expect("the first batch commits");
    assert!(gathered(100, true).await.is_err(), "the second batch fails");
    // Outside a batch, an append is written at once again.
    db.write(|c| {
        event_log::append(c, Utc::now(), "case", &event(40))?;
        while event_log::stamp_positions(c)?.is_some() {}
        Ok::<_, DbError>(())
    })
    .await
    .expect("published");

    let (ids, _) = read_until(&db, 41, Duration::from_secs(2)).await;
    let expected: Vec<String> = (0..=40).map(|n| event(n).case_id).collect();
    assert_eq!(ids, expected, "the first batch's events in their order, then the later one; none of the failed batch");
    let statements = inserts.load(std::sync::atomic::Ordering::Relaxed);
    if db.backend() == caseflow_runtime::db::Backend::Postgres {
        // The batch's 40 rows in one statement, none for the failed batch (its rows never left
        // the process), one for the lone append.
        assert_eq!(statements, 2, "a batch's 40 events went in one statement");
    } else {
        // SQLite has no round trip to save: row by row, each kept prepared.
        assert_eq!(statements, 40 + 40 + 1);
    }
}
