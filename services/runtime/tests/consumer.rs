//! A consumer over a real event stream (gRPC on loopback) on the configured backend: events
//! arrive in batches of one transaction each, and a bad event stops the consumer right before it
//! with every earlier event applied.

use std::sync::Arc;

use caseflow_proto::v1::event_stream_server::EventStreamServer;
use caseflow_proto::v1::{CaseReceived, EventEnvelope};
use caseflow_runtime::auth::{ApiKeyConfig, KeyStore, Role, digest_key_hex};
use caseflow_runtime::config::Secret;
use caseflow_runtime::consumer::{self, ApplyError, EventHandler, Subscription};
use caseflow_runtime::db::{AnyConnection, Db, DbError};
use caseflow_runtime::event_log::{self, MIGRATIONS};
use caseflow_runtime::grpc_client::ServiceChannel;
use caseflow_runtime::server::GrpcAuth;
use caseflow_runtime::testing::TestDatabase;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

const EVENTS: i64 = 600;
const BAD: i64 = 450;

/// Records each applied position as a checkpoint row of its own, and refuses one position.
struct Recorder;

impl EventHandler for Recorder {
    fn apply(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
        if event.position == BAD {
            return Err(ApplyError::Refused { position: BAD, reason: "a bad event".into() });
        }
        event_log::set_checkpoint(conn, &format!("seen-{:05}", event.position), event.position, Utc::now())?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_applied_in_batches_and_a_bad_one_stops_the_consumer_right_before_it() {
    // The producer: a database with its events already published, served on loopback.
    let source_db = TestDatabase::new("source");
    let source = Db::connect(&source_db.config, vec![&MIGRATIONS]).await.expect("source opens");
    source
        .write(|c| {
            for n in 0..EVENTS {
                event_log::append(
                    c,
                    Utc::now(),
                    "case",
                    &CaseReceived { case_id: format!("c{n}"), ..Default::default() },
                )?;
            }
            while event_log::stamp_positions(c)?.is_some() {}
            Ok::<_, DbError>(())
        })
        .await
        .expect("events published");
    let keys = KeyStore::from_config(&[ApiKeyConfig {
        name: "service".into(),
        role: Role::Service,
        unit: None,
        sha256: digest_key_hex("service-key"),
    }])
    .expect("keys");
    let shutdown = CancellationToken::new();
    let (_tx, published) = tokio::sync::watch::channel(EVENTS);
    let stream = event_log::EventStreamService::new(source.clone(), published, shutdown.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(tonic::service::interceptor::InterceptedService::new(
                EventStreamServer::new(stream),
                GrpcAuth::new(keys),
            ))
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), {
                let shutdown = shutdown.clone();
                async move { shutdown.cancelled().await }
            }),
    );

    // The consumer, on a database of its own.
    let sink_db = TestDatabase::new("sink");
    let sink = Db::connect(&sink_db.config, vec![&MIGRATIONS]).await.expect("sink opens");
    let channel = ServiceChannel::new(&format!("http://{addr}"), &Secret::new("service-key")).expect("channel");
    let before = sink.commits();
    let task = tokio::spawn(consumer::run(
        sink.clone(),
        Arc::new(caseflow_runtime::clock::SystemClock),
        Subscription { service: "test", checkpoint: "sink<-source".into(), source: channel },
        Arc::new(Recorder),
        Arc::default(),
        shutdown.clone(),
    ));

    // It stops right before the bad event: everything earlier is applied, nothing after.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let position =
            sink.read(|c| event_log::checkpoint(c, "sink<-source").map_err(DbError::from)).await.expect("read");
        if position == BAD - 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Give a consumer that would skip the bad event the time to do it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (position, seen) = sink
        .read(|c| {
            let position = event_log::checkpoint(c, "sink<-source")?;
            let seen =
                (1..=EVENTS).filter(|p| event_log::checkpoint(c, &format!("seen-{p:05}")).ok() == Some(*p)).count();
            Ok::<_, DbError>((position, seen as i64))
        })
        .await
        .expect("read");
    let commits = sink.commits() - before;
    shutdown.cancel();
    let _ = task.await;
    let _ = server.await;
    assert_eq!(position, BAD - 1, "stopped right before the bad event");
    assert_eq!(seen, BAD - 1, "every event before it applied once, none after");
    assert!(commits < (BAD - 1) as u64 / 4, "{} events took {commits} transactions: not batched", BAD - 1);
}
