//! Consuming another service's event stream, exactly once in effect.
//!
//! Events are applied in batches: the consumer takes the next event, then every further event
//! the stream has already delivered, up to [`MAX_BATCH`], without waiting for more (so a quiet
//! stream adds no latency and a busy one fills its batches by itself). One transaction on the
//! consumer's own database checks the stored position, applies each event past it (effects may
//! append the service's own outbox events) and records the last position, then commits. A crash
//! before the commit leaves neither effects nor position; a resend of an applied event finds the
//! position already past it and does nothing.
//!
//! On PostgreSQL, where several replicas may share the database, a consumer first takes its
//! lease ([`crate::lease`]) and applies every batch on the lease's own session: one replica at a
//! time applies a stream, and a replica that lost its lease has lost the connection it wrote on.
//!
//! A batch that fails is applied again one event per transaction, so the events before a bad
//! one still land. An event the handler refuses is retried with back-off and logged each time,
//! never skipped: reports must follow from every event, so a gap is worse than a stall an
//! operator can see.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;

use caseflow_proto::v1::event_stream_client::EventStreamClient;
use caseflow_proto::v1::{EventEnvelope, SubscribeRequest};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::clock::SharedClock;
use crate::db::{AnyConnection, Db, DbError, Session};
use crate::grpc_client::{AuthedChannel, ServiceChannel};
use crate::metrics::Metrics;
use crate::telemetry;
use crate::{event_log, gathered};

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

/// Applies events inside the consumer's transaction.
pub trait EventHandler: Send + Sync + 'static {
    fn apply(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), ApplyError>;

    /// Runs a batch's events (`events`, applied one by one by `apply_all`) inside its
    /// transaction, before the checkpoint moves. A handler overrides it to do something once
    /// per batch around them: take a lock that serializes it with consumers whose effects share
    /// its rows (reporting's three projections, so two batches never lock the same rows in
    /// opposite orders), gather the batch's changes to shared rows and write each once
    /// (reporting's rollups, `gathered`), or read once what its events would each read
    /// (reporting's `known`).
    fn apply_batch(
        &self,
        conn: &mut AnyConnection,
        events: &[&EventEnvelope],
        apply_all: ApplyAll<'_>,
    ) -> Result<(), ApplyError> {
        let _ = events;
        apply_all(conn)
    }
}

/// A batch's events, applied one by one on the connection given (see [`EventHandler::apply_batch`]).
pub type ApplyAll<'a> = &'a mut dyn FnMut(&mut AnyConnection) -> Result<(), ApplyError>;

/// Most events applied in one transaction.
pub const MAX_BATCH: usize = 256;

/// Where to read from and under which checkpoint name.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// The consuming service, for spans ("routing").
    pub service: &'static str,
    /// Checkpoint key, unique per consumer and source ("routing<-intake").
    pub checkpoint: String,
    pub source: ServiceChannel,
}

/// Where a consumer stands, for `/metrics`: its position, the producer's last position as the
/// stream last told it, and the publish time of the oldest event it has not applied.
#[derive(Debug, Default)]
pub struct Progress {
    position: AtomicI64,
    head: AtomicI64,
    /// Microseconds since the epoch; 0 when caught up.
    behind_since_micros: AtomicI64,
    retries: AtomicU64,
    applied: AtomicU64,
}

impl Progress {
    fn started_at(&self, position: i64) {
        self.position.store(position, Ordering::Relaxed);
        self.head.fetch_max(position, Ordering::Relaxed);
    }

    fn received(&self, event: &EventEnvelope) {
        self.head.fetch_max(event.head_position.max(event.position), Ordering::Relaxed);
        if event.position > self.position.load(Ordering::Relaxed) {
            let _ = self.behind_since_micros.compare_exchange(
                0,
                published_micros(event),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn applied(&self, last: &EventEnvelope, events: usize) {
        self.position.fetch_max(last.position, Ordering::Relaxed);
        self.applied.fetch_add(events as u64, Ordering::Relaxed);
        // Still behind: the next event was published after this one, so the age of this one
        // bounds the lag from above until the next arrives.
        let behind = self.head.load(Ordering::Relaxed) > self.position.load(Ordering::Relaxed);
        self.behind_since_micros.store(if behind { published_micros(last) } else { 0 }, Ordering::Relaxed);
    }

    /// Events the producer had published that this consumer has not applied.
    pub fn lag_events(&self) -> i64 {
        (self.head.load(Ordering::Relaxed) - self.position.load(Ordering::Relaxed)).max(0)
    }

    /// How long the oldest event not yet applied has waited since it was published.
    pub fn lag_seconds(&self, now: chrono::DateTime<chrono::Utc>) -> f64 {
        let since = self.behind_since_micros.load(Ordering::Relaxed);
        if since == 0 || self.lag_events() == 0 {
            return 0.0;
        }
        ((now.timestamp_micros() - since) as f64 / 1e6).max(0.0)
    }

    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Relaxed)
    }

    pub fn head(&self) -> i64 {
        self.head.load(Ordering::Relaxed)
    }
}

fn published_micros(event: &EventEnvelope) -> i64 {
    event
        .published_at
        .as_ref()
        .map(|t| t.seconds.saturating_mul(1_000_000).saturating_add(i64::from(t.nanos / 1000)))
        .filter(|m| *m > 0)
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
}

/// Runs the consumer under `loops` (restarted if it panics), named by its checkpoint, and
/// reports its position, lag and retries on `metrics`.
pub fn spawn<H: EventHandler + ?Sized>(
    loops: &crate::supervise::Loops,
    metrics: &Metrics,
    db: Db,
    clock: SharedClock,
    subscription: Subscription,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let name = subscription.checkpoint.clone();
    let progress = metrics.consumer_progress(&name, |metrics, progress| observe(metrics, &name, progress));
    loops.spawn(name, shutdown.clone(), move || {
        run(db.clone(), clock.clone(), subscription.clone(), handler.clone(), progress.clone(), shutdown.clone())
    })
}

fn observe(metrics: &Metrics, consumer: &str, progress: &Arc<Progress>) {
    use opentelemetry::KeyValue;
    let labels = {
        let consumer = consumer.to_owned();
        move || vec![KeyValue::new("consumer", consumer.clone())]
    };
    let gauge = |name: &'static str, help: &'static str, read: fn(&Progress) -> f64| {
        let (progress, labels) = (progress.clone(), labels.clone());
        metrics.gauge(name, help, move || vec![(labels(), read(&progress))]);
    };
    gauge("caseflow_consumer_position", "The last stream position the consumer applied", |p| p.position() as f64);
    gauge("caseflow_consumer_head_position", "The producer's last position, as its stream last said", |p| {
        p.head() as f64
    });
    gauge("caseflow_consumer_lag_events", "Events published that the consumer has not applied", |p| {
        p.lag_events() as f64
    });
    gauge("caseflow_consumer_lag_seconds", "How long the oldest event not yet applied has waited", |p| {
        p.lag_seconds(chrono::Utc::now())
    });
    let counter = |name: &'static str, help: &'static str, read: fn(&Progress) -> u64| {
        let (progress, labels) = (progress.clone(), labels.clone());
        metrics.counter(name, help, move || vec![(labels(), read(&progress))]);
    };
    counter("caseflow_consumer_events_applied", "Events the consumer applied", |p| p.applied.load(Ordering::Relaxed));
    counter(
        "caseflow_consumer_retries",
        "Times the consumer reconnected after an error, or applied a failed batch again event by event",
        |p| p.retries.load(Ordering::Relaxed),
    );
}

/// Runs until `shutdown`, reconnecting with back-off whenever the stream or an apply fails.
pub async fn run<H: EventHandler + ?Sized>(
    db: Db,
    clock: SharedClock,
    subscription: Subscription,
    handler: Arc<H>,
    progress: Arc<Progress>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // One replica at a time (`lease`); on SQLite there is only one.
        let session = if db.backend() == crate::db::Backend::Postgres {
            match crate::lease::acquire(&db, &subscription.checkpoint, &shutdown).await {
                Ok(Some(session)) => Some(session),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(consumer = %subscription.checkpoint, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot take the consumer's lease");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
        } else {
            None
        };
        let consumer = Consumer { db: &db, clock: &clock, subscription: &subscription, session: session.as_ref() };
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = consume_once(&consumer, &handler, &progress, &shutdown) => outcome,
        };
        // The lease goes with any failure (its session may be what failed) and is taken again.
        drop(session);
        match outcome {
            Ok(()) => return,
            Err(e) => {
                progress.retries.fetch_add(1, Ordering::Relaxed);
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

/// A running consumer's parts: where it writes (its lease's session, on PostgreSQL) and what it reads.
struct Consumer<'a> {
    db: &'a Db,
    clock: &'a SharedClock,
    subscription: &'a Subscription,
    session: Option<&'a Session>,
}

async fn consume_once<H: EventHandler + ?Sized>(
    consumer: &Consumer<'_>,
    handler: &Arc<H>,
    progress: &Arc<Progress>,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let Consumer { db, subscription, .. } = *consumer;
    let name = subscription.checkpoint.clone();
    let after =
        db.read(move |c| event_log::checkpoint(c, &name).map_err(DbError::from)).await.map_err(ApplyError::from)?;
    progress.started_at(after);
    let mut client: EventStreamClient<AuthedChannel> = subscription.source.event_stream();
    let mut stream = client.subscribe(SubscribeRequest { after_position: after, limit: 0 }).await?.into_inner();
    let ended = || ConsumeError::from(tonic::Status::unavailable("event stream ended"));
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            event = stream.message() => event?,
        };
        let mut batch = vec![first.ok_or_else(ended)?];
        // What the stream has already delivered joins the batch; nothing waits for more.
        // (`Streaming::message` keeps its state in the stream, so a poll dropped here loses
        // nothing.)
        let mut after = None;
        while batch.len() < MAX_BATCH {
            match stream.message().now_or_never() {
                None => break,
                Some(Ok(Some(event))) => batch.push(event),
                Some(Ok(None)) => after = Some(ended()),
                Some(Err(status)) => after = Some(status.into()),
            }
            if after.is_some() {
                break;
            }
        }
        batch.iter().for_each(|e| progress.received(e));
        let (events, last) = (batch.len(), batch.last().cloned());
        apply_batch(consumer, handler, progress, batch).await?;
        if let Some(last) = last {
            progress.applied(&last, events);
        }
        if let Some(e) = after {
            return Err(e);
        }
    }
}

/// Applies `batch` in one transaction. When an event is refused, the events before it are
/// applied in one transaction and the refused one is tried alone (its error is the answer);
/// any other failure (a deadlock, a lost connection) is retried one event per transaction.
async fn apply_batch<H: EventHandler + ?Sized>(
    consumer: &Consumer<'_>,
    handler: &Arc<H>,
    progress: &Progress,
    batch: Vec<EventEnvelope>,
) -> Result<(), ApplyError> {
    let subscription = consumer.subscription;
    if batch.len() == 1 {
        return apply_in_one_transaction(consumer, handler, progress, batch).await;
    }
    match apply_in_one_transaction(consumer, handler, progress, batch.clone()).await {
        Ok(()) => Ok(()),
        Err(ApplyError::Refused { position, .. }) => {
            let (before, rest): (Vec<_>, Vec<_>) = batch.into_iter().partition(|e| e.position < position);
            if !before.is_empty() {
                apply_in_one_transaction(consumer, handler, progress, before).await?;
            }
            let bad: Vec<EventEnvelope> = rest.into_iter().take(1).collect();
            apply_in_one_transaction(consumer, handler, progress, bad).await
        }
        Err(e) => {
            progress.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(consumer = %subscription.checkpoint, events = batch.len(), error = %e, "batch failed; applying its events one by one");
            for event in batch {
                apply_in_one_transaction(consumer, handler, progress, vec![event]).await?;
            }
            Ok(())
        }
    }
}

async fn apply_in_one_transaction<H: EventHandler + ?Sized>(
    consumer: &Consumer<'_>,
    handler: &Arc<H>,
    progress: &Progress,
    events: Vec<EventEnvelope>,
) -> Result<(), ApplyError> {
    let Consumer { db, clock, subscription, session } = *consumer;
    // One span per event, each continuing the trace its producer started.
    let spanned: Vec<(tracing::Span, EventEnvelope)> = events
        .into_iter()
        .map(|event| {
            let span = tracing::info_span!(
                "apply_event",
                caseflow.service = subscription.service,
                consumer = %subscription.checkpoint,
                position = event.position,
                event_type = %event.event_type,
                aggregate_id = %event.aggregate_id,
            );
            telemetry::set_parent_from_map(&span, &event.trace_context);
            (span, event)
        })
        .collect();
    let batch_span = tracing::debug_span!("apply_batch", consumer = %subscription.checkpoint, events = spanned.len());
    let name = subscription.checkpoint.clone();
    let handler = handler.clone();
    let now = clock.now();
    // Where this consumer last left its checkpoint, as far as it knows: when the stored one
    // still stands there, one statement both checks and moves it; otherwise (a batch split after
    // a refusal, a first batch, a checkpoint moved by someone else) it is read and written.
    let expected = progress.position();
    let apply = move |c: &mut AnyConnection| {
        let Some(last) = spanned.iter().map(|(_, e)| e.position).max() else { return Ok(()) };
        let (done, moved) = if last > expected && event_log::advance_checkpoint(c, &name, expected, last, now)? {
            (expected, true)
        } else {
            (event_log::checkpoint(c, &name)?, false)
        };
        if last <= done {
            return Ok(());
        }
        let pending: Vec<&(tracing::Span, EventEnvelope)> = spanned.iter().filter(|(_, e)| e.position > done).collect();
        let events: Vec<&EventEnvelope> = pending.iter().map(|(_, e)| e).collect();
        // The events the batch appends to this service's outbox go in one statement.
        gathered::gathering::<event_log::Appends, _, _>(c, |c| {
            handler.apply_batch(c, &events, &mut |c| {
                for (span, event) in &pending {
                    span.in_scope(|| handler.apply(c, event))?;
                }
                Ok(())
            })
        })?;
        if !moved {
            event_log::set_checkpoint(c, &name, last, now)?;
        }
        Ok(())
    };
    match session {
        Some(session) => db.write_on(session, apply).instrument(batch_span).await,
        None => db.write(apply).instrument(batch_span).await,
    }
}
