//! Idempotency keys on the configured backend, call by call: a keyed write answers a resend from
//! its stored answer (a response or a refusal) without running again; a call that wrote nothing
//! claims nothing; a key whose answer was lost says so; a key reused for another call is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use caseflow_proto::v1::DispatchRef;
use caseflow_runtime::auth::{Principal, Role};
use caseflow_runtime::db::{Db, DbError};
use caseflow_runtime::event_log::MIGRATIONS;
use caseflow_runtime::idempotency::{HEADER, idempotent};
use caseflow_runtime::testing::TestDatabase;
use diesel::connection::SimpleConnection as _;

const METHOD: &str = "/caseflow.v1.Routing/Acknowledge";

fn request(id: &str, key: &str) -> tonic::Request<DispatchRef> {
    let mut r = tonic::Request::new(DispatchRef { dispatch_id: id.to_owned() });
    r.metadata_mut().insert(HEADER, key.parse().expect("header"));
    r.extensions_mut().insert(Principal {
        name: "clerk".into(),
        role: Role::UnitHandler,
        unit: Some("chengguan".into()),
    });
    r
}

/// A handler that counts its runs, writes when told to, and answers `outcome`.
async fn call(
    db: &Db,
    runs: &Arc<AtomicUsize>,
    id: &str,
    key: &str,
    write: bool,
    refuse: bool,
) -> Result<tonic::Response<DispatchRef>, tonic::Status> {
    let (db2, runs) = (db.clone(), runs.clone());
    idempotent(db, METHOD, request(id, key), move |r| async move {
        runs.fetch_add(1, Ordering::SeqCst);
        if write {
            db2.write(|c| c.batch_execute("SELECT 1").map_err(DbError::from))
                .await
                .map_err(|e| tonic::Status::internal(e.to_string()))?;
        }
        if refuse {
            return Err(tonic::Status::failed_precondition("the dispatch is acknowledged"));
        }
        Ok(tonic::Response::new(DispatchRef { dispatch_id: format!("answered {}", r.get_ref().dispatch_id) }))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_write_runs_once_and_its_answer_or_refusal_is_replayed() {
    let test_db = TestDatabase::new("idempotency");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database");
    let runs = Arc::new(AtomicUsize::new(0));

    // A write that answers: once, then from its stored answer.
    let first = call(&db, &runs, "d1", "k1", true, false).await.expect("applies").into_inner();
    let again = call(&db, &runs, "d1", "k1", true, false).await.expect("replayed").into_inner();
    assert_eq!((first.dispatch_id.as_str(), again), ("answered d1", first.clone()));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");

    // A write that then refuses: the refusal is the answer, replayed with its code.
    let refused = call(&db, &runs, "d2", "k2", true, true).await.expect_err("refused");
    let replayed = call(&db, &runs, "d2", "k2", true, true).await.expect_err("refused again");
    assert_eq!((replayed.code(), replayed.message()), (refused.code(), refused.message()));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the refusing handler ran once");

    // A call that wrote nothing claimed nothing: sent again, it runs again.
    call(&db, &runs, "d3", "k3", false, true).await.expect_err("refused without writing");
    call(&db, &runs, "d3", "k3", false, true).await.expect_err("refused again");
    assert_eq!(runs.load(Ordering::SeqCst), 4);

    // The same key for another message: refused by name, nothing run.
    let reused = call(&db, &runs, "other", "k1", true, false).await.expect_err("another message");
    assert_eq!(reused.code(), tonic::Code::InvalidArgument);
    assert_eq!(caseflow_runtime::error::status_rule(&reused).as_deref(), Some("idempotency.key_reused"));
    assert_eq!(runs.load(Ordering::SeqCst), 4);

    // A key whose call committed and whose answer was never stored (the process died between).
    call(&db, &runs, "d4", "k4", true, false).await.expect("applies");
    db.write(|c| {
        c.batch_execute("UPDATE idempotency_keys SET response = NULL WHERE key LIKE '%k4'").map_err(DbError::from)
    })
    .await
    .expect("answer removed");
    let lost = call(&db, &runs, "d4", "k4", true, false).await.expect_err("answer lost");
    assert_eq!(lost.code(), tonic::Code::AlreadyExists);
    assert_eq!(caseflow_runtime::error::status_rule(&lost).as_deref(), Some("idempotency.answer_lost"));
    assert_eq!(runs.load(Ordering::SeqCst), 5, "not run again");

    // A malformed key is refused before anything runs.
    let bad = call(&db, &runs, "d5", "two words", true, false).await.expect_err("bad key");
    assert_eq!(caseflow_runtime::error::status_rule(&bad).as_deref(), Some("idempotency.key_format"));
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_racing_with_one_key_apply_once_and_get_one_answer() {
    let test_db = TestDatabase::new("idempotency_race");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database");
    // Two replicas of a service on one database (two handles): both calls are past the key's
    // look-up before either writes. (Through one handle the second would wait its turn.)
    let replica = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("a second handle");
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let racer = |n: usize| {
        let (db, barrier) = (if n == 1 { db.clone() } else { replica.clone() }, barrier.clone());
        async move {
            let db2 = db.clone();
            idempotent(&db, METHOD, request("d1", "same"), move |_| async move {
                barrier.wait().await;
                db2.write(|c| c.batch_execute("SELECT 1").map_err(DbError::from))
                    .await
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                Ok(tonic::Response::new(DispatchRef { dispatch_id: format!("answered by call {n}") }))
            })
            .await
        }
    };
    let (a, b) = tokio::join!(racer(1), racer(2));
    let (a, b) = (a.expect("first answered").into_inner(), b.expect("second answered").into_inner());
    assert_eq!(a, b, "the call that lost the race answers as the one that won");
    let rows: i64 = db
        .read(|c| {
            use diesel::prelude::*;
            diesel::sql_query("SELECT COUNT(*) AS n FROM idempotency_keys")
                .get_result::<Count>(c)
                .map(|r| r.n)
                .map_err(DbError::from)
        })
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_that_arrives_while_the_first_call_still_runs_gets_its_answer() {
    let test_db = TestDatabase::new("idempotency_inflight");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database");
    let runs = Arc::new(AtomicUsize::new(0));
    // The first call waits before it writes (as a rating waits for its evaluation to open), the
    // second arrives meanwhile: it waits its turn and is answered as the first was; the handler
    // ran once. Without the turn, the second would run the handler again.
    let slow = {
        let (db, runs) = (db.clone(), runs.clone());
        tokio::spawn(async move {
            let db2 = db.clone();
            idempotent(&db, METHOD, request("d9", "k9"), move |r| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                db2.write(|c| c.batch_execute("SELECT 1").map_err(DbError::from))
                    .await
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                Ok(tonic::Response::new(DispatchRef { dispatch_id: format!("answered {}", r.get_ref().dispatch_id) }))
            })
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let resent = call(&db, &runs, "d9", "k9", true, false).await.expect("answered").into_inner();
    let first = slow.await.expect("joined").expect("applies").into_inner();
    assert_eq!((resent.clone(), resent.dispatch_id.as_str()), (first, "answered d9"));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
}
