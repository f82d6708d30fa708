//! Routing: turns each matter of a received case into a dispatch to a unit, and (issue 4)
//! enforces the rules on return and transfer, deadlines and the routing log.

pub mod actions;
pub mod calendar;
pub mod catalog;
pub mod dispatching;
pub mod error;
pub mod evaluation_events;
pub mod gauges;
pub mod grpc;
pub mod inputs;
pub mod intake_events;
pub mod lifecycle;
pub mod policy;
pub mod record;
pub mod registry;
pub mod rest;
pub mod scanner;
pub mod service;
pub mod store;
pub mod suggest;
pub mod suggestions;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use caseflow_proto::v1::event_stream_server::EventStreamServer;
use caseflow_proto::v1::routing_server::RoutingServer;
use caseflow_runtime::consumer::{self, Subscription};
use caseflow_runtime::db::{DatabaseConfig, Db, DbError, MigrationSet};
use caseflow_runtime::deployment::ServiceContext;
use caseflow_runtime::event_log;
use caseflow_runtime::grpc_client::ServiceChannel;
use caseflow_runtime::server::{self, Endpoints, GrpcAuth, Readiness};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use service::Routing;

/// One set for both backends: this service's SQL is portable (TEXT, INTEGER, BOOLEAN, DOUBLE
/// PRECISION, TIMESTAMP); only the event log's tables differ per backend.
pub static MIGRATIONS: MigrationSet = MigrationSet {
    name: "routing",
    postgres: diesel_migrations::embed_migrations!("migrations"),
    sqlite: diesel_migrations::embed_migrations!("migrations"),
};

/// `[routing]` in the deployment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
    /// Where intake serves its event stream.
    #[serde(default = "default_intake_url")]
    pub intake_url: String,
    /// Where evaluation serves its event stream (re-handling requests).
    #[serde(default = "default_evaluation_url")]
    pub evaluation_url: String,
    /// Unit registry policy file; the built-in example district when absent.
    #[serde(default)]
    pub units_file: Option<PathBuf>,
    /// Responsibility catalog (权责清单); the built-in example when absent.
    #[serde(default)]
    pub catalog_file: Option<PathBuf>,
    /// Working-day calendar; the built-in one (2020, 2024-2026) when absent.
    #[serde(default)]
    pub calendar_file: Option<PathBuf>,
    /// Deadlines and return, extension, reminder and supervision rules; built-in when absent.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    /// How often the scanner looks for due reminders and escalations, in seconds.
    #[serde(default = "default_scan_seconds")]
    pub scan_interval_seconds: u64,
    /// How often the unit suggester retrains from the matters resolved in the last year, in
    /// hours (the first model is trained when first asked for, and a new one on
    /// `POST /v1/suggester/training`).
    #[serde(default = "default_suggester_hours")]
    pub suggester_retrain_hours: u64,
}

fn default_suggester_hours() -> u64 {
    24
}

fn default_scan_seconds() -> u64 {
    60
}

impl caseflow_runtime::standalone::Listens for RoutingConfig {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8082))
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig { url: "sqlite://data/routing.db".into(), schema: None, pool_size: 8 }
}

fn default_evaluation_url() -> String {
    "http://127.0.0.1:8083".into()
}

fn default_intake_url() -> String {
    "http://127.0.0.1:8081".into()
}

/// Runs routing on `listener` until `shutdown`: consumes intake's events, serves REST and gRPC,
/// and publishes its own outbox.
pub async fn run(
    ctx: ServiceContext,
    config: RoutingConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let rules = Arc::new(dispatching::Rules {
        registry: registry::Registry::load(config.units_file.as_deref())?,
        catalog: catalog::Catalog::load(config.catalog_file.as_deref())?,
        calendar: calendar::Calendar::load(config.calendar_file.as_deref())?,
        policy: policy::RoutingPolicy::load(config.policy_file.as_deref())?,
    });
    let db = Db::connect(&config.database, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    caseflow_runtime::idempotency::forget_old(&db).await?;
    {
        let rules = rules.clone();
        db.write(move |c| rules.registry.sync(c).map_err(DbError::from)).await?;
    }
    let metrics = ctx.metrics("routing")?;
    let readiness = Readiness::default();
    let log = event_log::start(&db, &shutdown, readiness.loops());
    log.observe(&metrics, &db);
    gauges::observe(&metrics, &db, ctx.clock.clone());
    let routing = Routing::new(db.clone(), ctx.clock.clone(), rules.clone());
    let intake = ServiceChannel::new(&config.intake_url, &ctx.service_key)?;
    let consumer = consumer::spawn(
        readiness.loops(),
        &metrics,
        db.clone(),
        ctx.clock.clone(),
        Subscription { service: "routing", checkpoint: "routing<-intake".into(), source: intake },
        Arc::new(intake_events::IntakeEvents {
            rules: rules.clone(),
            clock: ctx.clock.clone(),
            suggester: routing.suggester().clone(),
        }),
        shutdown.clone(),
    );

    let evaluation = ServiceChannel::new(&config.evaluation_url, &ctx.service_key)?;
    let rehandling = consumer::spawn(
        readiness.loops(),
        &metrics,
        db.clone(),
        ctx.clock.clone(),
        Subscription { service: "routing", checkpoint: "routing<-evaluation".into(), source: evaluation },
        Arc::new(evaluation_events::EvaluationEvents { clock: ctx.clock.clone() }),
        shutdown.clone(),
    );
    let scanner = {
        let (routing, stop) = (routing.clone(), shutdown.clone());
        let interval = std::time::Duration::from_secs(config.scan_interval_seconds.max(1));
        readiness.loops().spawn("scanner", shutdown.clone(), {
            let changes = log.published();
            move || routing.clone().run_scanner(interval, changes.clone(), stop.clone())
        })
    };
    let training = {
        let (routing, stop) = (routing.clone(), shutdown.clone());
        let every = std::time::Duration::from_secs(config.suggester_retrain_hours.max(1) * 3600);
        readiness
            .loops()
            .spawn("suggester", shutdown.clone(), move || routing.clone().run_suggester_training(every, stop.clone()))
    };
    let auth = GrpcAuth::new(ctx.keys.clone());
    let grpc = tonic::service::Routes::from(axum::Router::new())
        .add_service(InterceptedService::new(
            RoutingServer::new(grpc::RoutingGrpc { routing: routing.clone() }),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(EventStreamServer::new(log.stream.clone()), auth));
    let endpoints = Endpoints {
        service: "routing",
        rest: rest::router(rest::RestState { routing, keys: ctx.keys.clone() }),
        grpc,
        grpc_names: vec!["caseflow.v1.Routing", "caseflow.v1.EventStream"],
        keys: ctx.keys.clone(),
        clock: ctx.clock.clone(),
        records: ctx.records,
        metrics,
    };
    server::serve(listener, endpoints, db, readiness, shutdown).await?;
    let _ = consumer.await;
    let _ = scanner.await;
    let _ = training.await;
    let _ = rehandling.await;
    log.stopped().await;
    Ok(())
}
