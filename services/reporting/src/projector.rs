//! The three consumers that build the read model, and rebuilding it from the streams on demand.
//!
//! A rebuild stops the consumers, empties every read-model table and rollup and sets the three
//! checkpoints back to the start in one transaction, then starts the consumers again: they
//! replay intake's, routing's and evaluation's streams from their first event. Reports taken
//! while it runs show the part replayed so far; `status` says how far each stream is.

use std::sync::Arc;

use caseflow_runtime::consumer::{self, EventHandler, Subscription};
use caseflow_runtime::grpc_client::ServiceChannel;
use caseflow_runtime::metrics::Metrics;
use caseflow_runtime::{AnyConnection, Db, DbError, Principal, Problem, Role, SharedClock, event_log};
use diesel::prelude::*;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::projections::{EvaluationProjection, IntakeProjection, RoutingProjection};
use crate::store;

const STREAMS: [&str; 3] = ["reporting<-intake", "reporting<-routing", "reporting<-evaluation"];

/// The upstream services reporting reads.
#[derive(Clone, Debug)]
pub struct Sources {
    pub intake: ServiceChannel,
    pub routing: ServiceChannel,
    pub evaluation: ServiceChannel,
}

#[derive(Debug)]
struct Running {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Clone, Debug)]
pub struct Projector {
    db: Db,
    clock: SharedClock,
    sources: Sources,
    shutdown: CancellationToken,
    loops: caseflow_runtime::supervise::Loops,
    metrics: Metrics,
    running: Arc<Mutex<Running>>,
}

/// How far the read model has read each stream.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StreamPosition {
    /// "reporting<-intake", "reporting<-routing", "reporting<-evaluation".
    pub consumer: String,
    /// The last event applied; 0 before the first.
    pub position: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReadModelStatus {
    pub streams: Vec<StreamPosition>,
}

impl Projector {
    /// Starts the consumers under `loops`; they stop on `shutdown`.
    pub fn start(
        db: Db,
        clock: SharedClock,
        sources: Sources,
        shutdown: CancellationToken,
        loops: caseflow_runtime::supervise::Loops,
        metrics: Metrics,
    ) -> Self {
        let running = spawn(&metrics, &db, &clock, &sources, &shutdown, &loops);
        Self { db, clock, sources, shutdown, loops, metrics, running: Arc::new(Mutex::new(running)) }
    }

    /// Waits for the consumers to stop after shutdown.
    pub async fn stopped(&self) {
        let mut running = self.running.lock().await;
        for task in running.tasks.drain(..) {
            let _ = task.await;
        }
    }

    pub async fn status(&self, principal: &Principal) -> Result<ReadModelStatus, Problem> {
        principal.require("read the read model's status", &[Role::Admin, Role::EfficiencyOffice])?;
        let streams = self
            .db
            .read(|c| {
                STREAMS
                    .iter()
                    .map(|name| {
                        Ok(StreamPosition { consumer: (*name).to_owned(), position: event_log::checkpoint(c, name)? })
                    })
                    .collect::<Result<Vec<_>, diesel::result::Error>>()
                    .map_err(DbError::from)
            })
            .await?;
        Ok(ReadModelStatus { streams })
    }

    /// Empties the read model and replays the three streams from their start.
    #[tracing::instrument(skip_all, fields(caseflow.service = "reporting"))]
    pub async fn rebuild(&self, principal: &Principal) -> Result<ReadModelStatus, Problem> {
        principal.require("rebuild the read model", &[Role::Admin])?;
        let mut running = self.running.lock().await;
        running.stop.cancel();
        for task in running.tasks.drain(..) {
            let _ = task.await;
        }
        let now = self.clock.now();
        let cleared = self.db.write(move |c| clear(c, now)).await;
        // The consumers run again whether or not the reset went through: a failed reset leaves
        // the read model as it was, and it must go on following the streams.
        *running = spawn(&self.metrics, &self.db, &self.clock, &self.sources, &self.shutdown, &self.loops);
        drop(running);
        cleared?;
        tracing::info!("read model emptied; replaying the streams from the start");
        self.status(principal).await
    }
}

fn clear(c: &mut AnyConnection, now: chrono::DateTime<chrono::Utc>) -> Result<(), DbError> {
    diesel::delete(store::report_cases::table).execute(c)?;
    diesel::delete(store::report_dispatches::table).execute(c)?;
    diesel::delete(store::report_ratings::table).execute(c)?;
    diesel::delete(store::report_returns::table).execute(c)?;
    diesel::delete(store::report_history_warnings::table).execute(c)?;
    diesel::delete(store::report_reception_matters::table).execute(c)?;
    diesel::delete(store::report_dispatch_days::table).execute(c)?;
    diesel::delete(store::report_dispatch_shifts::table).execute(c)?;
    diesel::delete(store::report_rating_days::table).execute(c)?;
    diesel::delete(store::report_term_days::table).execute(c)?;
    diesel::delete(store::report_case_days::table).execute(c)?;
    diesel::delete(store::report_single_visit_days::table).execute(c)?;
    diesel::delete(store::report_reviews::table).execute(c)?;
    diesel::delete(store::report_shift_totals::table).execute(c)?;
    diesel::delete(store::report_shift_hours::table).execute(c)?;
    for name in STREAMS {
        event_log::set_checkpoint(c, name, 0, now)?;
    }
    Ok(())
}

fn spawn(
    metrics: &Metrics,
    db: &Db,
    clock: &SharedClock,
    sources: &Sources,
    shutdown: &CancellationToken,
    loops: &caseflow_runtime::supervise::Loops,
) -> Running {
    let stop = shutdown.child_token();
    let one = |checkpoint: &str, source: &ServiceChannel, handler: Arc<dyn EventHandler>| {
        consumer::spawn(
            loops,
            metrics,
            db.clone(),
            clock.clone(),
            Subscription { service: "reporting", checkpoint: checkpoint.to_owned(), source: source.clone() },
            handler,
            stop.clone(),
        )
    };
    let tasks = vec![
        one(STREAMS[0], &sources.intake, Arc::new(IntakeProjection)),
        one(STREAMS[1], &sources.routing, Arc::new(RoutingProjection)),
        one(STREAMS[2], &sources.evaluation, Arc::new(EvaluationProjection)),
    ];
    Running { stop, tasks }
}
