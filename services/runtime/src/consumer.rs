//! Consuming another service's event stream, exactly once in effect.
//!
//! For each event the consumer opens one transaction on its own database, checks its stored
//! position, applies the effect (which may append its own outbox events) and records the new
//! position, then commits. A crash before the commit leaves neither effect nor position; a
//! resend of an applied event finds the position already past it and does nothing.
//!
//! An event the handler refuses is retried with back-off and logged each time, never skipped:
//! reports must follow from every event, so a gap is worse than a stall an operator can see.

use std::sync::Arc;
use std::time::Duration;

use caseflow_proto::v1::event_stream_client::EventStreamClient;
use caseflow_proto::v1::{EventEnvelope, SubscribeRequest};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::clock::SharedClock;
use crate::db::{AnyConnection, Db, DbError};
use crate::event_log;
use crate::grpc_client::{AuthedChannel, ServiceChannel};
use crate::telemetry;

/// Why applying an event failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("event {position} refused: {reason}")]
    Refused { position: i64, reason: String },
}

/// Applies one event inside the consumer's transaction.
pub trait EventHandler: Send + Sync + 'static {
    fn apply(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), ApplyError>;
}

/// Where to read from and under which checkpoint name.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// The consuming service, for spans ("routing").
    pub service: &'static str,
    /// Checkpoint key, unique per consumer and source ("routing<-intake").
    pub checkpoint: String,
    pub source: ServiceChannel,
}

/// Runs the consumer under `loops` (restarted if it panics), named by its checkpoint.
pub fn spawn<H: EventHandler + ?Sized>(
    loops: &crate::supervise::Loops,
    db: Db,
    clock: SharedClock,
    subscription: Subscription,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let name = subscription.checkpoint.clone();
    loops.spawn(name, shutdown.clone(), move || {
        run(db.clone(), clock.clone(), subscription.clone(), handler.clone(), shutdown.clone())
    })
}

/// Runs until `shutdown`, reconnecting with back-off whenever the stream or an apply fails.
pub async fn run<H: EventHandler + ?Sized>(
    db: Db,
    clock: SharedClock,
    subscription: Subscription,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = consume_once(&db, &clock, &subscription, &handler, &shutdown) => outcome,
        };
        match outcome {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(consumer = %subscription.checkpoint, error = %e, retry_in_ms = backoff.as_millis() as u64, "event consumer interrupted");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[derive(Debug, thiserror::Error)]
enum ConsumeError {
    #[error("stream: {0}")]
    Stream(#[from] tonic::Status),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

async fn consume_once<H: EventHandler + ?Sized>(
    db: &Db,
    clock: &SharedClock,
    subscription: &Subscription,
    handler: &Arc<H>,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let name = subscription.checkpoint.clone();
    let after =
        db.read(move |c| event_log::checkpoint(c, &name).map_err(DbError::from)).await.map_err(ApplyError::from)?;
    let mut client: EventStreamClient<AuthedChannel> = subscription.source.event_stream();
    let mut stream = client.subscribe(SubscribeRequest { after_position: after, limit: 0 }).await?.into_inner();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            event = stream.message() => event?,
        };
        let Some(event) = event else {
            return Err(tonic::Status::unavailable("event stream ended").into());
        };
        apply_one(db, clock, subscription, handler, event).await?;
    }
}

async fn apply_one<H: EventHandler + ?Sized>(
    db: &Db,
    clock: &SharedClock,
    subscription: &Subscription,
    handler: &Arc<H>,
    event: EventEnvelope,
) -> Result<(), ApplyError> {
    let span = tracing::info_span!(
        "apply_event",
        caseflow.service = subscription.service,
        consumer = %subscription.checkpoint,
        position = event.position,
        event_type = %event.event_type,
        aggregate_id = %event.aggregate_id,
    );
    telemetry::set_parent_from_map(&span, &event.trace_context);
    let name = subscription.checkpoint.clone();
    let handler = handler.clone();
    let now = clock.now();
    db.write(move |c| {
        let done = event_log::checkpoint(c, &name)?;
        if event.position <= done {
            return Ok(());
        }
        handler.apply(c, &event)?;
        event_log::set_checkpoint(c, &name, event.position, now)?;
        Ok(())
    })
    .instrument(span)
    .await
}
