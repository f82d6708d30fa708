//! Two replicas each of routing and reporting on one PostgreSQL: each stream is consumed by one
//! replica at a time under a lease, the lease moves when its holder goes, and every case is
//! dispatched and counted exactly once. (SQLite is one process's file: no replicas there.)

use std::time::Duration;

use caseflow::Service;
use caseflow_runtime::testing::TestDatabase;
use caseflow_tests::{Sandbox, keys, order};
use diesel::prelude::*;

const CASES: usize = 2_000;
const AT_ONCE: usize = 16;

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn connect(db: &TestDatabase) -> PgConnection {
    let mut conn = PgConnection::establish(&db.config.url).expect("connect");
    let schema = db.config.schema.clone().expect("a schema");
    diesel::connection::SimpleConnection::batch_execute(&mut conn, &format!("SET search_path TO \"{schema}\""))
        .expect("search path");
    conn
}

/// The server process (session) holding the lease `name` of `db`'s schema, if any.
fn holder(db: &TestDatabase, name: &str) -> Option<i32> {
    let mut conn = connect(db);
    diesel::sql_query(
        "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
         AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(current_schema() || $1, 0)",
    )
    .bind::<diesel::sql_types::Text, _>(format!("lease:{name}"))
    .load::<Pid>(&mut conn)
    .expect("pg_locks")
    .first()
    .map(|p| p.pid)
}

fn count(db: &TestDatabase, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Counted>(&mut connect(db)).expect("count").n
}

/// Waits until the lease `name` is held by a session other than `before`; returns how long.
async fn moved(db: &TestDatabase, name: &str, before: i32) -> Duration {
    let started = tokio::time::Instant::now();
    loop {
        if holder(db, name).is_some_and(|pid| pid != before) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the lease {name} never moved from {before}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(sandbox: &Sandbox, numbers: std::ops::Range<usize>) {
    let numbers: Vec<usize> = numbers.collect();
    for chunk in numbers.chunks(AT_ONCE) {
        let orders: Vec<serde_json::Value> = chunk.iter().map(|n| order(*n, &["chengguan"])).collect();
        let posts = orders.iter().map(|o| sandbox.post_order(Some(keys::INTEGRATOR), o));
        for (status, body) in futures::future::join_all(posts).await {
            assert_eq!(status, 201, "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_database_and_a_lease_moves_when_its_holder_goes() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        eprintln!("replicas share a PostgreSQL server; on SQLite there is one process per file");
        return;
    }
    let mut sandbox = Sandbox::start().await;
    let routing_b = sandbox.system.spawn_replica(Service::Routing).await.expect("a second routing");
    let reporting_b = sandbox.system.spawn_replica(Service::Reporting).await.expect("a second reporting");
    let (routing_db, reporting_db) = (&sandbox.databases[1], &sandbox.databases[3]);

    send(&sandbox, 0..CASES / 2).await;

    // Any replica serves the APIs: the second ones answer from the shared database.
    let (status, first) = sandbox.post_order(Some(keys::INTEGRATOR), &order(0, &["chengguan"])).await;
    assert_eq!(status, 200, "a resend: {first}");
    let case_id = first["case_id"].as_str().expect("case id");
    let dispatches = sandbox
        .eventually("routing B to list the first case's dispatch", Duration::from_secs(10), || async {
            let url = format!("http://{}/v1/cases/{case_id}/dispatches", routing_b.addr);
            let resp = sandbox.http.get(url).bearer_auth(keys::DISPATCHER).send().await.ok()?;
            let list: serde_json::Value = resp.json().await.ok()?;
            (list.as_array()?.len() == 1).then_some(list)
        })
        .await;
    assert_eq!(dispatches[0]["unit"], "chengguan");
    let url = format!(
        "http://{}/v1/reports/unit-counts?from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00",
        reporting_b.addr
    );
    let counts: serde_json::Value = sandbox
        .http
        .get(url)
        .bearer_auth(keys::OFFICE)
        .send()
        .await
        .expect("reporting B answers")
        .json()
        .await
        .expect("JSON");
    assert!(counts["cases"].as_i64().is_some_and(|n| n > 0), "{counts}");

    // One session holds each lease. When it ends (its process died, or the server dropped a node
    // that stopped answering), the replica standing by takes the lease at once.
    let intake_lease = "routing<-intake";
    let routing_lease = "reporting<-routing";
    let first = holder(routing_db, intake_lease).expect("someone consumes intake's stream");
    let first_reporting = holder(reporting_db, routing_lease).expect("someone consumes routing's stream");
    for (db, pid) in [(routing_db, first), (reporting_db, first_reporting)] {
        let mut conn = connect(db);
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid}) IS NOT NULL AS n"))
            .execute(&mut conn)
            .expect("terminate");
    }
    let took = moved(routing_db, intake_lease, first).await;
    assert!(took < Duration::from_secs(5), "routing's lease moved after {took:?}");
    let took = moved(reporting_db, routing_lease, first_reporting).await;
    assert!(took < Duration::from_secs(5), "reporting's lease moved after {took:?}");

    // The second half goes while the second replicas stop half-way through it, as pods do in a
    // rolling restart: whatever they held moves to the first ones at once.
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        routing_b.stop().await.expect("routing B stops cleanly");
        reporting_b.stop().await.expect("reporting B stops cleanly");
        tokio::time::Instant::now()
    };
    let ((), stopped) = tokio::join!(send(&sandbox, CASES / 2..CASES), stopping);
    for (db, lease) in [(routing_db, intake_lease), (reporting_db, routing_lease)] {
        while holder(db, lease).is_none() {
            assert!(stopped.elapsed() < Duration::from_secs(5), "nobody took {lease} after the replica stopped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Every case dispatched exactly once, and counted once.
    sandbox
        .eventually("reporting to count every dispatch", Duration::from_secs(60), || async {
            (sandbox.counted_dispatches().await == CASES as i64).then_some(())
        })
        .await;
    sandbox.settled().await;
    assert_eq!(count(routing_db, "SELECT COUNT(*) AS n FROM dispatches"), CASES as i64);
    assert_eq!(count(routing_db, "SELECT COUNT(DISTINCT case_id) AS n FROM dispatches"), CASES as i64);
    let counts = sandbox.unit_counts().await;
    assert_eq!(counts["cases"], CASES as i64, "{counts}");
    assert_eq!(sandbox.counted_dispatches().await, CASES as i64);
    assert_eq!(count(reporting_db, "SELECT COUNT(*) AS n FROM report_dispatches"), CASES as i64);
    sandbox.shutdown().await;
}
