//! The event log: a transactional outbox per service, one publisher that stamps positions in
//! commit order, and the gRPC stream that serves "events after position P".
//!
//! ## Why a publisher stamps positions
//! On PostgreSQL, ids from a sequence become visible out of order when transactions commit out
//! of order: a reader of "after 41" may see 43 before 42 commits and skip 42 for good. So a
//! writer appends its event with no position ([`append`]), in the same transaction as its state
//! change. One publisher at a time (an advisory transaction lock on PostgreSQL; SQLite has one
//! writer anyway) gives every visible unpublished row the next positions and commits. A publisher
//! run starts only after the previous one committed, so positions become visible in order and a
//! consumer reading `position > P` can never pass over a row that appears later.
//!
//! ## Waking, and nothing to do costing nothing
//! The publisher sleeps until a committed transaction appended a row: [`Db::write`] raises
//! [`Db::outbox_appended`] for writers in this process. On PostgreSQL the process also tells
//! the other replicas after the commit, with a `NOTIFY` on the schema's outbox channel sent by a
//! session of its own (`db::announce`; a `NOTIFY` inside each writer's transaction would
//! serialize their commits), which a dedicated `LISTEN` session in each replica turns into the
//! same wake-up (so a row written by another replica is published at once). After stamping,
//! the publisher notifies the streams in its process through a watch, and the other replicas'
//! streams are told the new last position the same way. A slow safety poll ([`SAFETY_POLL`])
//! covers a notification lost while the `LISTEN` session was reconnecting, or with a process
//! that stopped between a commit and its announcement; it first asks a read connection whether
//! anything waits, so an idle service commits nothing.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use caseflow_proto::v1::event_stream_server::EventStream;
use caseflow_proto::v1::{EventEnvelope, SubscribeRequest};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use tokio::sync::watch;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;

use crate::auth::{Principal, Role};
use crate::db::native::{Native as _, columns};
use crate::db::{AnyConnection, Db, DbError, MigrationSet, OUTBOX_CHANNEL_SQL};
use crate::error::Problem;
use crate::{gathered, telemetry};

mod recent;
pub(crate) use recent::Recent;

/// The outbox and checkpoint tables, run before each service's own migrations.
pub static MIGRATIONS: MigrationSet = MigrationSet {
    name: "event_log",
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

diesel::table! {
    outbox_events (id) {
        id -> BigInt,
        position -> Nullable<BigInt>,
        event_id -> Text,
        event_type -> Text,
        aggregate_id -> Text,
        payload -> Binary,
        trace_context -> Text,
        recorded_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    consumer_checkpoints (consumer) {
        consumer -> Text,
        position -> BigInt,
        updated_at -> Timestamp,
    }
}

/// A published row, read by a stream or returned whole by the stamping statement.
#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = outbox_events)]
struct PublishedEvent {
    position: Option<i64>,
    event_id: String,
    event_type: String,
    aggregate_id: String,
    payload: Vec<u8>,
    trace_context: String,
    recorded_at: NaiveDateTime,
    published_at: Option<NaiveDateTime>,
}

/// Appends `event` to the outbox inside the caller's transaction, with the current trace
/// context (inside a batch gathering [`Appends`], when that ends). The event is published when
/// the transaction commits.
pub fn append<M: prost::Message + prost::Name>(
    conn: &mut AnyConnection,
    recorded_at: DateTime<Utc>,
    aggregate_id: &str,
    event: &M,
) -> QueryResult<()> {
    let row = Appended {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: M::full_name(),
        aggregate_id: aggregate_id.to_owned(),
        payload: event.encode_to_vec(),
        trace_context: serde_json::to_string(&telemetry::current_trace_context()).unwrap_or_default(),
        recorded_at: recorded_at.naive_utc(),
    };
    if let Some(row) = gathered::gather(row, |appends: &mut Appends, row| appends.0.push(row)) {
        diesel::insert_into(outbox_events::table).values(&row).execute_native(conn)?;
        crate::db::mark_outbox_append();
    }
    Ok(())
}

/// An event on its way to the outbox.
#[derive(Debug, Insertable)]
#[diesel(table_name = outbox_events, treat_none_as_default_value = false)]
struct Appended {
    event_id: String,
    event_type: String,
    aggregate_id: String,
    payload: Vec<u8>,
    trace_context: String,
    recorded_at: NaiveDateTime,
}

/// The events a consumer's batch appends, gathered (`gathered::gathering::<Appends, _, _>`) and
/// written in one statement at its end on PostgreSQL, in the order appended. Nothing reads the
/// outbox inside a batch: its events are not there yet.
#[derive(Debug, Default)]
pub struct Appends(Vec<Appended>);

impl gathered::Batch for Appends {
    /// One row by its own kept insert; several in one statement, ids (and so positions) in the
    /// order of the arrays.
    fn write(self, pg: &mut diesel::PgConnection) -> QueryResult<()> {
        use crate::db::arrays::{Arrays, Column};
        match self.0.as_slice() {
            [] => return Ok(()),
            [row] => {
                diesel::insert_into(outbox_events::table).values(row).execute(pg)?;
            }
            rows => {
                let column = |value: fn(&Appended) -> &str| Column::Text(rows.iter().map(value).collect());
                Arrays::new(
                    &[
                        "INSERT INTO outbox_events \
                         (event_id, event_type, aggregate_id, payload, trace_context, recorded_at) \
                         SELECT e, t, a, p, c, r FROM unnest(",
                        "::text[], ",
                        "::text[], ",
                        "::text[], ",
                        "::bytea[], ",
                        "::text[], ",
                        "::timestamp[]) WITH ORDINALITY AS u (e, t, a, p, c, r, n) ORDER BY n",
                    ],
                    vec![
                        column(|r| &r.event_id),
                        column(|r| &r.event_type),
                        column(|r| &r.aggregate_id),
                        Column::Binary(rows.iter().map(|r| r.payload.as_slice()).collect()),
                        column(|r| &r.trace_context),
                        Column::Timestamp(rows.iter().map(|r| r.recorded_at).collect()),
                    ],
                )
                .execute(pg)?;
            }
        }
        crate::db::mark_outbox_append();
        Ok(())
    }
}

/// Largest number of rows one publisher run stamps.
const PUBLISH_BATCH: i64 = 1000;

/// Gives the next positions to every visible unpublished event (up to [`PUBLISH_BATCH`]).
/// Returns the last position stamped, or `None` when nothing was waiting. Must run inside a
/// transaction.
pub fn stamp_positions(conn: &mut AnyConnection) -> QueryResult<Option<i64>> {
    Ok(stamp(conn)?.map(|s| s.last))
}

/// What one publisher run stamped.
#[derive(Debug, Clone, PartialEq)]
struct Stamped {
    last: i64,
    /// Fewer than [`PUBLISH_BATCH`]: every row visible to the run is stamped.
    all: bool,
    /// The rows it stamped, in position order, for this process's streams once they commit
    /// (`recent`).
    events: Vec<EventEnvelope>,
}

fn stamp(conn: &mut AnyConnection) -> QueryResult<Option<Stamped>> {
    if let AnyConnection::Postgresql(pg) = conn {
        // Serializes publishers of this schema across replicas until this transaction ends.
        pg.batch_execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.outbox'))")?;
    }
    // The stamped rows come back whole with the update (both backends have RETURNING): the
    // positions without a second read of the largest one, and the events for this process's
    // streams without reading them back (`recent`). The text is fixed and the moment a bind,
    // so the connection keeps the statement prepared (a literal moment made it new text each
    // run: parsed and planned on every publication, 2 % of the write path's CPU on SQLite).
    use crate::db::kept::{Bind, Sql};
    let mut stamped: Vec<PublishedEvent> = Sql::<diesel::sql_types::Untyped>::new(
        &[
            "UPDATE outbox_events SET position = stamp.base + stamp.rn, published_at = ",
            " FROM (SELECT p.id, ROW_NUMBER() OVER (ORDER BY p.id) AS rn, \
                    (SELECT COALESCE(MAX(position), 0) FROM outbox_events) AS base \
             FROM (SELECT id FROM outbox_events WHERE position IS NULL ORDER BY id LIMIT ",
            ") p) AS stamp \
             WHERE outbox_events.id = stamp.id \
             RETURNING outbox_events.position AS position, outbox_events.event_id AS event_id, \
               outbox_events.event_type AS event_type, outbox_events.aggregate_id AS aggregate_id, \
               outbox_events.payload AS payload, outbox_events.trace_context AS trace_context, \
               outbox_events.recorded_at AS recorded_at, outbox_events.published_at AS published_at",
        ],
        vec![Bind::Timestamp(Utc::now().naive_utc()), Bind::BigInt(PUBLISH_BATCH)],
    )
    .load_native(conn)?;
    // RETURNING gives the rows in no promised order.
    stamped.sort_unstable_by_key(|r| r.position);
    let Some(last) = stamped.last().and_then(|r| r.position) else { return Ok(None) };
    // Told to the other replicas' streams once this commits (see the module's docs).
    crate::db::mark_outbox_stamped(last);
    let all = (stamped.len() as i64) < PUBLISH_BATCH;
    Ok(Some(Stamped { last, all, events: stamped.into_iter().map(to_envelope).collect() }))
}

/// True when some visible row has no position yet (a read: the idle check commits nothing).
pub fn has_unpublished(conn: &mut AnyConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(outbox_events::table.filter(outbox_events::position.is_null())))
        .get_result_native(conn)
}

/// The last stamped position, 0 for an empty log.
pub fn last_position(conn: &mut AnyConnection) -> QueryResult<i64> {
    outbox_events::table
        .select(diesel::dsl::max(outbox_events::position))
        .first_native::<Option<i64>>(conn)
        .map(|last| last.flatten().unwrap_or_default())
}

/// How often the publisher looks for work nobody announced, and for positions another replica
/// published without this one hearing: a commit wakes the publisher in its own process, and on
/// PostgreSQL every replica through `LISTEN`, which wakes everything once after it reconnects,
/// so this is a safety net only. Two indexed reads; at rest, nothing else reads the database.
pub const SAFETY_POLL: Duration = Duration::from_secs(300);

/// How often a stream with nothing to send reads again without being told of a new position:
/// the publisher's watch tells it (the safety poll above included), so this is a last resort.
const STREAM_POLL: Duration = Duration::from_secs(3600);

/// Publishes whenever a transaction that appended to the outbox committed (in this process or,
/// on PostgreSQL, in any replica), and every `poll` as a safety net, until `shutdown`. Sends
/// each new last position on `published`.
pub async fn run_publisher(db: Db, published: Arc<watch::Sender<i64>>, poll: Duration, shutdown: CancellationToken) {
    let appended = db.outbox_appended().clone();
    loop {
        // Drain: a full batch may leave more rows behind. A round woken by nothing but another
        // replica's notification or the safety poll asks a read connection first, so a row
        // another replica already stamped, or an idle tick, commits nothing; a row this process
        // committed is stamped without that look.
        loop {
            if !db.take_appended_here() {
                match db.read(|c| has_unpublished(c).map_err(DbError::from)).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox publisher could not read; retrying");
                        break;
                    }
                }
            }
            match db.write(|c| stamp(c).map_err(DbError::from)).await {
                Ok(Some(Stamped { last, all, events })) => {
                    // Committed: the streams of this process find the rows here, before
                    // they hear of the new position.
                    db.recent().keep(events);
                    published.send_if_modified(|p| advance(p, last));
                    // A row committed after this run began raised `appended` after its commit,
                    // which wakes the wait below at once: no read to find out.
                    if all {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox publisher failed; retrying");
                    break;
                }
            }
        }
        let ticked = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = appended.notified() => false,
            _ = tokio::time::sleep(poll) => true,
        };
        if ticked {
            // Positions another replica published while this one did not hear of them.
            match db.read(|c| last_position(c).map_err(DbError::from)).await {
                Ok(last) => {
                    published.send_if_modified(|p| advance(p, last));
                }
                Err(e) => tracing::warn!(error = %e, "outbox publisher could not read the last position"),
            }
        }
    }
}

/// Moves a last-position watch forward, never back; true when it moved.
fn advance(current: &mut i64, last: i64) -> bool {
    if last > *current {
        *current = last;
        true
    } else {
        false
    }
}

/// How often the `LISTEN` session reads what the server sent: a non-blocking read of the
/// socket, no round trip and no transaction.
const LISTEN_TICK: Duration = Duration::from_millis(50);

/// On PostgreSQL, keeps a dedicated session listening on the schema's outbox channel until
/// `shutdown`: `appended` wakes this replica's publisher, `published:P` this replica's streams.
/// After each (re)connection both are woken once, for what was sent while nobody listened.
fn listen_blocking(db: &Db, published: &watch::Sender<i64>, shutdown: &CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let session = db.dedicated_connection().and_then(|mut conn| {
            let channel: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(OUTBOX_CHANNEL_SQL))
                .get_result(&mut conn)
                .map_err(DbError::from)?;
            conn.batch_execute(&format!("LISTEN \"{channel}\""))?;
            Ok(conn)
        });
        let mut conn = match session {
            Ok(AnyConnection::Postgresql(pg)) => pg,
            Ok(AnyConnection::Sqlite(_)) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox LISTEN session failed");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        db.outbox_appended().notify_one();
        published.send_modify(|_| {});
        'session: while !shutdown.is_cancelled() {
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) => match n.payload.strip_prefix("published:").map(str::parse::<i64>) {
                        Some(Ok(last)) => {
                            published.send_if_modified(|p| advance(p, last));
                        }
                        _ => {
                            db.outbox_appended().notify_one();
                            // A waiting call may be waiting for what that commit made.
                            db.changed_elsewhere();
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox LISTEN session lost; reconnecting");
                        break 'session;
                    }
                }
            }
            std::thread::sleep(LISTEN_TICK);
        }
    }
}

fn to_envelope(row: PublishedEvent) -> EventEnvelope {
    let trace_context: HashMap<String, String> = serde_json::from_str(&row.trace_context).unwrap_or_default();
    let timestamp = |t: NaiveDateTime| {
        let t = t.and_utc();
        prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or_default(),
        }
    };
    EventEnvelope {
        position: row.position.unwrap_or_default(),
        event_id: row.event_id,
        event_type: row.event_type,
        aggregate_id: row.aggregate_id,
        recorded_at: Some(timestamp(row.recorded_at)),
        trace_context,
        payload: row.payload,
        published_at: row.published_at.map(timestamp),
        // Filled by the stream as it sends.
        head_position: 0,
    }
}

/// Reads up to `limit` published events after `after`, in position order.
pub fn read_after(conn: &mut AnyConnection, after: i64, limit: i64) -> QueryResult<Vec<EventEnvelope>> {
    // The upper bound takes nothing away; it is there for the planner. Without statistics an
    // open range (`> $1`) is guessed at a third of the table and read whole under a cached
    // plan, while a range with both ends is guessed narrow and read through the index
    // (`services/intake/tests/plans.rs` checks the plan).
    let rows = outbox_events::table
        .filter(outbox_events::position.gt(after))
        .filter(outbox_events::position.le(i64::MAX))
        .order(outbox_events::position.asc())
        .limit(limit)
        .select(columns::<PublishedEvent>())
        .load_native(conn)?;
    Ok(rows.into_iter().map(to_envelope).collect())
}

/// Serves the outbox as `caseflow.v1.EventStream`.
#[derive(Debug, Clone)]
pub struct EventStreamService {
    db: Db,
    published: watch::Receiver<i64>,
    poll: Duration,
    shutdown: CancellationToken,
}

impl EventStreamService {
    pub fn new(db: Db, published: watch::Receiver<i64>, shutdown: CancellationToken) -> Self {
        Self { db, published, poll: STREAM_POLL, shutdown }
    }
}

const READ_BATCH: i64 = 500;

type EnvelopeStream = Pin<Box<dyn Stream<Item = Result<EventEnvelope, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl EventStream for EventStreamService {
    type SubscribeStream = EnvelopeStream;

    async fn subscribe(
        &self,
        request: tonic::Request<SubscribeRequest>,
    ) -> Result<tonic::Response<Self::SubscribeStream>, tonic::Status> {
        let principal = request
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| tonic::Status::unauthenticated("missing API key"))?;
        principal.require("read the event stream", &[Role::Service, Role::Admin])?;
        let SubscribeRequest { after_position, limit } = request.into_inner();
        if after_position < 0 || limit < 0 {
            return Err(Problem::field(
                if after_position < 0 { "after_position" } else { "limit" },
                "must not be negative",
            )
            .into());
        }
        let (tx, rx) = tokio::sync::mpsc::channel(READ_BATCH as usize);
        let this = self.clone();
        tokio::spawn(async move { this.pump(after_position, limit, tx).await });
        Ok(tonic::Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

impl EventStreamService {
    async fn pump(
        mut self,
        mut after: i64,
        limit: i64,
        tx: tokio::sync::mpsc::Sender<Result<EventEnvelope, tonic::Status>>,
    ) {
        let mut sent = 0i64;
        loop {
            // The last position published before this read (and seen: a later one wakes the
            // wait below). Every event up to it is committed, so a read that reaches it and
            // comes back short has read everything there was: the stream waits for the next
            // publication instead of reading again to find nothing (which was a second read of
            // the outbox per stream for every batch the publisher stamped).
            let head = *self.published.borrow_and_update();
            let batch = match self.db.recent().after(after, READ_BATCH as usize) {
                Some(kept) => Ok(kept),
                None => self.db.read(move |c| read_after(c, after, READ_BATCH).map_err(DbError::from)).await,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    let _ = tx.send(Err(Problem::from(e).into())).await;
                    return;
                }
            };
            // An empty read waits too, whatever the watch says: a position announced but never
            // seen (a replica that lost its commit) must not turn this loop into a busy one.
            let caught_up = batch.is_empty()
                || ((batch.len() as i64) < READ_BATCH && batch.last().map_or(after, |e| e.position) >= head);
            for mut event in batch {
                after = event.position;
                event.head_position = (*self.published.borrow()).max(event.position);
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
                sent += 1;
                if limit > 0 && sent >= limit {
                    return;
                }
            }
            if caught_up {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = tx.closed() => return,
                    _ = self.published.changed() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                }
            }
        }
    }
}

/// The stored position of consumer `name`, 0 when it has none.
pub fn checkpoint(conn: &mut AnyConnection, name: &str) -> QueryResult<i64> {
    consumer_checkpoints::table
        .find(name)
        .select(consumer_checkpoints::position)
        .first_native::<i64>(conn)
        .map(Option::unwrap_or_default)
}

/// Records that consumer `name` has applied everything up to `position`; call in the same
/// transaction as the effect.
///
/// The update is written as its SQL text with its binds, so that the connection keeps it
/// prepared (keyed by that text): diesel keeps no `UPDATE` statement, so on PostgreSQL each
/// consumer batch's checkpoint was parsed and planned again
/// (`tests/prepared_once.rs`).
pub fn set_checkpoint(conn: &mut AnyConnection, name: &str, position: i64, now: DateTime<Utc>) -> QueryResult<()> {
    use crate::db::kept::{Bind, Sql};
    let updated = Sql::<()>::new(
        &["UPDATE consumer_checkpoints SET position = ", ", updated_at = ", " WHERE consumer = ", ""],
        vec![Bind::BigInt(position), Bind::Timestamp(now.naive_utc()), Bind::Text(name)],
    )
    .execute_native(conn)?;
    if updated == 0 {
        diesel::insert_into(consumer_checkpoints::table)
            .values((
                consumer_checkpoints::consumer.eq(name),
                consumer_checkpoints::position.eq(position),
                consumer_checkpoints::updated_at.eq(now.naive_utc()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Moves consumer `name`'s checkpoint from `expected` to `position` in one statement, when it
/// stands at `expected`; false (and nothing changed) when it stands elsewhere or has no row. A
/// consumer that knows where it left its checkpoint calls this first in a batch's transaction:
/// the read of [`checkpoint`] and the write of [`set_checkpoint`] become one round trip, and on
/// PostgreSQL the row lock taken here makes a second consumer of the same name wait and then
/// find the checkpoint moved.
pub fn advance_checkpoint(
    conn: &mut AnyConnection,
    name: &str,
    expected: i64,
    position: i64,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    use crate::db::kept::{Bind, Sql};
    let updated = Sql::<()>::new(
        &[
            "UPDATE consumer_checkpoints SET position = ",
            ", updated_at = ",
            " WHERE consumer = ",
            " AND position = ",
            "",
        ],
        vec![Bind::BigInt(position), Bind::Timestamp(now.naive_utc()), Bind::Text(name), Bind::BigInt(expected)],
    )
    .execute_native(conn)?;
    Ok(updated == 1)
}

/// When the event was recorded by its service: the moment its effects downstream happen too,
/// so that a replayed history keeps its own times.
pub fn recorded_at(event: &EventEnvelope) -> Option<chrono::DateTime<chrono::Utc>> {
    event.recorded_at.as_ref().and_then(|t| crate::time::from_proto(Some(t), "recorded_at").ok())
}

/// Decodes an envelope's payload as `M`, checking the type name first.
pub fn decode<M: prost::Message + prost::Name + Default>(event: &EventEnvelope) -> Result<M, String> {
    if event.event_type != M::full_name() {
        return Err(format!("expected {}, got {}", M::full_name(), event.event_type));
    }
    M::decode(event.payload.as_slice()).map_err(|e| e.to_string())
}

/// A service's running event log: the publisher task, its `LISTEN` session on PostgreSQL, and
/// the stream they feed.
#[derive(Debug)]
pub struct RunningLog {
    pub stream: EventStreamService,
    publisher: tokio::task::JoinHandle<()>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the publisher for `db` (supervised by `loops`) and returns the stream service to serve.
pub fn start(db: &Db, shutdown: &CancellationToken, loops: &crate::supervise::Loops) -> RunningLog {
    let (published_tx, published_rx) = watch::channel(0);
    let published_tx = Arc::new(published_tx);
    let listener = (db.backend() == crate::db::Backend::Postgres).then(|| {
        let (db, published, shutdown) = (db.clone(), published_tx.clone(), shutdown.clone());
        tokio::task::spawn_blocking(move || listen_blocking(&db, &published, &shutdown))
    });
    let publisher = {
        let (db, stop) = (db.clone(), shutdown.clone());
        loops.spawn("publisher", shutdown.clone(), move || {
            run_publisher(db.clone(), published_tx.clone(), SAFETY_POLL, stop.clone())
        })
    };
    RunningLog { stream: EventStreamService::new(db.clone(), published_rx, shutdown.clone()), publisher, listener }
}

impl RunningLog {
    /// Reports the stream on `metrics`: its last position and the rows waiting to be published.
    pub fn observe(&self, metrics: &crate::metrics::Metrics, db: &Db) {
        let published = self.published();
        metrics.gauge(
            "caseflow_stream_head_position",
            "The last position this service's stream published",
            move || vec![(vec![], *published.borrow() as f64)],
        );
        let waiting =
            metrics.gauge_family("caseflow_outbox_unpublished", "Outbox rows committed but not yet published");
        let db = db.clone();
        metrics.on_scrape(move || {
            let (db, waiting) = (db.clone(), waiting.clone());
            Box::pin(async move {
                // Through the partial index of unpublished rows: as many rows as wait.
                let count = db
                    .read(|c| {
                        outbox_events::table
                            .filter(outbox_events::position.is_null())
                            .count()
                            .get_result::<i64>(c)
                            .map_err(DbError::from)
                    })
                    .await;
                match count {
                    Ok(n) => waiting.set(vec![(vec![], n as f64)]),
                    Err(e) => tracing::warn!(error = %e, "metrics: counting unpublished rows failed"),
                }
            })
        });
    }

    /// The last position the publisher gave (or, on PostgreSQL, any replica's publisher).
    pub fn published(&self) -> watch::Receiver<i64> {
        self.stream.published.clone()
    }

    /// Waits for the publisher and the `LISTEN` session to finish after shutdown.
    pub async fn stopped(self) {
        let _ = self.publisher.await;
        if let Some(listener) = self.listener {
            let _ = listener.await;
        }
    }
}
