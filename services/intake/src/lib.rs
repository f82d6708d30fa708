//! Intake: takes in 12345 hotline work orders (and, with issue 3, petitions) exactly once,
//! protects the citizen's data, and emits `CaseReceived` for routing and reporting.

pub mod citizen;
pub mod decisions;
pub mod error;
pub mod grpc;
pub mod input;
pub mod ledger;
pub mod receptions;
pub mod rest;
pub mod reviews;
pub mod rotation;
pub mod routing_events;
pub mod service;
pub mod store;
pub mod taxonomy;
pub mod validate;
pub mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use caseflow_proto::v1::event_stream_server::EventStreamServer;
use caseflow_proto::v1::intake_server::IntakeServer;
use caseflow_runtime::config::Secret;
use caseflow_runtime::consumer::{self, Subscription};
use caseflow_runtime::db::{DatabaseConfig, Db, MigrationSet};
use caseflow_runtime::deployment::ServiceContext;
use caseflow_runtime::event_log;
use caseflow_runtime::grpc_client::ServiceChannel;
use caseflow_runtime::server::{self, Endpoints, GrpcAuth, Readiness};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use service::Intake;

/// One set for both backends: this service's SQL is portable (TEXT, INTEGER, BOOLEAN, DOUBLE
/// PRECISION, TIMESTAMP); only the event log's tables differ per backend.
pub static MIGRATIONS: MigrationSet = MigrationSet {
    name: "intake",
    postgres: diesel_migrations::embed_migrations!("migrations"),
    sqlite: diesel_migrations::embed_migrations!("migrations"),
};

/// `[intake]` in the deployment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
    /// 32 random bytes, base64: encrypts and matches citizen data. Never logged.
    pub citizen_data_key: Secret,
    /// During a rotation of `citizen_data_key`, the key being retired: read, never written.
    /// Remove it once `caseflow rotate-citizen-key` reports the rotation finished.
    #[serde(default)]
    pub citizen_data_key_previous: Option<Secret>,
    /// Taxonomy policy file; the built-in example district when absent.
    #[serde(default)]
    pub taxonomy_file: Option<PathBuf>,
    /// District policy file (sub-districts); the built-in example when absent.
    #[serde(default)]
    pub district_file: Option<PathBuf>,
    /// A case from the same person about the same matter (same source, category and
    /// sub-district) within this many days of an earlier one is a repeat (重复件). Policy, not
    /// law: 180 days covers the half-year the bulletin reports on.
    #[serde(default = "default_repeat_window_days")]
    pub repeat_window_days: u32,
    /// Where routing serves its event stream (case statuses and the units a case went to).
    #[serde(default = "default_routing_url")]
    pub routing_url: String,
}

fn default_repeat_window_days() -> u32 {
    180
}

fn default_routing_url() -> String {
    "http://127.0.0.1:8082".into()
}

impl caseflow_runtime::standalone::Listens for IntakeConfig {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig { url: "sqlite://data/intake.db".into(), schema: None, pool_size: 8 }
}

/// Runs intake on `listener` until `shutdown`: serves REST and gRPC, and publishes its outbox.
pub async fn run(
    ctx: ServiceContext,
    config: IntakeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let policy = taxonomy::Policy::load(config.taxonomy_file.as_deref(), config.district_file.as_deref())?;
    let vault = citizen::vault(&config)?;
    let db = Db::connect(&config.database, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    caseflow_runtime::idempotency::forget_old(&db).await?;
    let rules = service::IntakeRules { repeat_window_days: i64::from(config.repeat_window_days), records: ctx.records };
    let metrics = ctx.metrics("intake")?;
    let intake = Intake::new(db.clone(), ctx.clock.clone(), Arc::new(policy), Arc::new(vault), rules).counted(&metrics);

    let readiness = Readiness::default();
    let log = event_log::start(&db, &shutdown, readiness.loops());
    log.observe(&metrics, &db);
    let routing = ServiceChannel::new(&config.routing_url, &ctx.service_key)?;
    let consumer = consumer::spawn(
        readiness.loops(),
        &metrics,
        db.clone(),
        ctx.clock.clone(),
        Subscription { service: "intake", checkpoint: "intake<-routing".into(), source: routing },
        Arc::new(routing_events::RoutingEvents),
        shutdown.clone(),
    );

    let auth = GrpcAuth::new(ctx.keys.clone());
    let grpc = tonic::service::Routes::from(axum::Router::new())
        .add_service(InterceptedService::new(
            IntakeServer::new(grpc::IntakeGrpc { intake: intake.clone() }),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(EventStreamServer::new(log.stream.clone()), auth));
    let endpoints = Endpoints {
        service: "intake",
        rest: rest::router(rest::RestState { intake, keys: ctx.keys.clone() }),
        grpc,
        grpc_names: vec!["caseflow.v1.Intake", "caseflow.v1.EventStream"],
        keys: ctx.keys.clone(),
        clock: ctx.clock.clone(),
        records: ctx.records,
        metrics,
    };
    server::serve(listener, endpoints, db, readiness, shutdown).await?;
    let _ = consumer.await;
    log.stopped().await;
    Ok(())
}
