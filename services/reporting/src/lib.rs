//! Reporting: a read model built only from intake's, routing's and evaluation's events, and the
//! efficiency office's reports over it.

pub mod add_row;
pub mod attachments;
pub mod backfill;
pub mod bounce;
pub mod bulletin;
pub mod cells;
pub mod console;
pub mod csv_file;
pub mod document;
pub mod docx;
pub mod grpc;
pub mod known;
pub mod projections;
pub mod projector;
pub mod read;
pub mod reconcile;
pub mod repeats;
pub mod reports;
pub mod rest;
pub mod reviews;
pub mod rollup;
pub mod single_visit;
pub mod store;
pub mod summary;
pub mod units;
pub mod upload;
pub mod views;
pub mod xlsx;

use caseflow_proto::v1::reporting_server::ReportingServer;
use caseflow_runtime::db::{DatabaseConfig, Db, MigrationSet};
use caseflow_runtime::deployment::ServiceContext;
use caseflow_runtime::event_log;
use caseflow_runtime::grpc_client::ServiceChannel;
use caseflow_runtime::server::{self, Endpoints, GrpcAuth, Readiness};
use serde::Deserialize;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub use reports::Reports;

/// One set for both backends: this service's SQL is portable (TEXT, INTEGER, BOOLEAN, DOUBLE
/// PRECISION, TIMESTAMP); only the event log's tables differ per backend.
pub static MIGRATIONS: MigrationSet = MigrationSet {
    name: "reporting",
    postgres: diesel_migrations::embed_migrations!("migrations"),
    sqlite: diesel_migrations::embed_migrations!("migrations"),
};

/// `[reporting]` in the deployment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
    #[serde(default = "default_intake_url")]
    pub intake_url: String,
    #[serde(default = "default_routing_url")]
    pub routing_url: String,
    #[serde(default = "default_evaluation_url")]
    pub evaluation_url: String,
    /// Unit names and groups for the tables; the built-in registry when absent.
    #[serde(default)]
    pub units_file: Option<std::path::PathBuf>,
    /// The targets (强基促稳指标): 70 % participation, 85 % petition, 98 % hotline satisfaction.
    #[serde(default)]
    pub targets: caseflow_rates::Targets,
    /// The bulletin's masthead (GB/T 9704-2012 版头): the issuing body's mark and name.
    #[serde(default)]
    pub bulletin: BulletinConfig,
    /// The office's console: how long a sign-in lasts, single sign-on through a trusted proxy.
    #[serde(default)]
    pub console: console::sso::ConsoleConfig,
}

/// `[reporting.bulletin]`: what the DOCX bulletin's masthead prints unless the request names
/// another issuer. The defaults are the source bulletin's own masthead (鲤城信访, issued by
/// 中共泉州市鲤城区委 and 泉州市鲤城区人民政府: `shared/domain/000_75e8fb351e9c560f.txt`, lines 1-5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinConfig {
    /// 发文机关标志, printed in red.
    pub mark: String,
    /// 发文机关, printed beside the date.
    pub issuer: String,
}

impl Default for BulletinConfig {
    fn default() -> Self {
        Self {
            mark: "鲤城信访".into(), issuer: "中共泉州市鲤城区委 泉州市鲤城区人民政府".into()
        }
    }
}

fn default_evaluation_url() -> String {
    "http://127.0.0.1:8083".into()
}

impl caseflow_runtime::standalone::Listens for ReportingConfig {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8084))
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig { url: "sqlite://data/reporting.db".into(), schema: None, pool_size: 8 }
}

fn default_intake_url() -> String {
    "http://127.0.0.1:8081".into()
}

fn default_routing_url() -> String {
    "http://127.0.0.1:8082".into()
}

/// Runs reporting on `listener` until `shutdown`.
pub async fn run(
    ctx: ServiceContext,
    config: ReportingConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.console.check(&ctx.keys).map_err(anyhow::Error::msg)?;
    let db = Db::connect(&config.database, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    // What the migrations left to do in Rust, before any event is applied.
    db.write(|c| backfill::run(c).map_err(caseflow_runtime::DbError::from)).await?;
    let intake = ServiceChannel::new(&config.intake_url, &ctx.service_key)?;
    let routing = ServiceChannel::new(&config.routing_url, &ctx.service_key)?;
    let evaluation = ServiceChannel::new(&config.evaluation_url, &ctx.service_key)?;
    let units = std::sync::Arc::new(units::Units::load(config.units_file.as_deref()).map_err(anyhow::Error::msg)?);
    let metrics = ctx.metrics("reporting")?;
    let readiness = Readiness::default();
    let projector = projector::Projector::start(
        db.clone(),
        ctx.clock.clone(),
        projector::Sources { intake: intake.clone(), routing, evaluation },
        shutdown.clone(),
        readiness.loops().clone(),
        metrics.clone(),
    );
    let reports = Reports::new(db.clone(), units, config.targets)
        .with_bulletin(config.bulletin.clone())
        .with_intake(intake.clone())
        .with_records(ctx.records, ctx.clock.clone());
    let auth = GrpcAuth::new(ctx.keys.clone());
    let grpc = tonic::service::Routes::from(axum::Router::new()).add_service(InterceptedService::new(
        ReportingServer::new(grpc::ReportingGrpc { reports: reports.clone(), clock: ctx.clock.clone() }),
        auth,
    ));
    let endpoints = Endpoints {
        service: "reporting",
        rest: rest::router(rest::RestState {
            reports,
            projector: projector.clone(),
            keys: ctx.keys.clone(),
            clock: ctx.clock.clone(),
            console: config.console.clone(),
        }),
        grpc,
        grpc_names: vec!["caseflow.v1.Reporting"],
        keys: ctx.keys.clone(),
        clock: ctx.clock.clone(),
        records: ctx.records,
        metrics,
    };
    server::serve(listener, endpoints, db, readiness, shutdown).await?;
    projector.stopped().await;
    Ok(())
}
