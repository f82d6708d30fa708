//! Evaluation: keeps which units each case's rating applies to, and (issue 5) runs evaluations,
//! ratings, follow-ups and expiry.

pub mod gauges;
pub mod parts;
pub mod policy;
pub mod projections;
pub mod rating_page;
/// The rates, shared with reporting through their own crate.
pub use caseflow_rates as rates;
pub mod rest;
pub mod service;
pub mod store;
pub mod subjects;
pub mod summary;

use std::net::SocketAddr;
use std::sync::Arc;

use caseflow_proto::v1 as pb;
use caseflow_proto::v1::evaluation_server::{Evaluation, EvaluationServer};
use caseflow_proto::v1::event_stream_server::EventStreamServer;
use caseflow_runtime::awaiting;
use caseflow_runtime::consumer::{self, Subscription};
use caseflow_runtime::db::{DatabaseConfig, Db, MigrationSet};
use caseflow_runtime::deployment::ServiceContext;
use caseflow_runtime::event_log;
use caseflow_runtime::grpc_client::ServiceChannel;
use caseflow_runtime::idempotency::idempotent;
use caseflow_runtime::server::{self, Endpoints, GrpcAuth, Readiness, grpc_principal};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

/// One set for both backends: this service's SQL is portable (TEXT, INTEGER, BOOLEAN, DOUBLE
/// PRECISION, TIMESTAMP); only the event log's tables differ per backend.
pub static MIGRATIONS: MigrationSet = MigrationSet {
    name: "evaluation",
    postgres: diesel_migrations::embed_migrations!("migrations"),
    sqlite: diesel_migrations::embed_migrations!("migrations"),
};

/// `[evaluation]` in the deployment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_database")]
    pub database: DatabaseConfig,
    #[serde(default = "default_routing_url")]
    pub routing_url: String,
    #[serde(default = "default_intake_url")]
    pub intake_url: String,
    /// Evaluation policy (windows, hotline scale, targets); the built-in one when absent.
    #[serde(default)]
    pub policy_file: Option<std::path::PathBuf>,
    /// How often due evaluations past their window are expired, in seconds.
    #[serde(default = "default_expiry_seconds")]
    pub expiry_interval_seconds: u64,
}

fn default_intake_url() -> String {
    "http://127.0.0.1:8081".into()
}

fn default_expiry_seconds() -> u64 {
    60
}

impl caseflow_runtime::standalone::Listens for EvaluationConfig {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8083))
}

fn default_database() -> DatabaseConfig {
    DatabaseConfig { url: "sqlite://data/evaluation.db".into(), schema: None, pool_size: 8 }
}

fn default_routing_url() -> String {
    "http://127.0.0.1:8082".into()
}

#[derive(Clone, Debug)]
struct EvaluationGrpc {
    subjects: subjects::Subjects,
    evaluation: service::Evaluation,
}

#[tonic::async_trait]
impl Evaluation for EvaluationGrpc {
    async fn get_case_subjects(
        &self,
        request: tonic::Request<pb::GetCaseSubjectsRequest>,
    ) -> Result<tonic::Response<pb::CaseDispatchUnits>, tonic::Status> {
        let principal = grpc_principal(&request)?;
        let s = self.subjects.of_case(&principal, &request.into_inner().case_id).await?;
        let source = match s.source.as_deref() {
            Some("petition") => pb::CaseSource::Petition,
            Some(_) => pb::CaseSource::Hotline,
            None => pb::CaseSource::Unspecified,
        };
        Ok(tonic::Response::new(pb::CaseDispatchUnits { case_id: s.case_id, source: source as i32, units: s.units }))
    }

    async fn rate(
        &self,
        request: tonic::Request<pb::RateRequest>,
    ) -> Result<tonic::Response<pb::EvaluationView>, tonic::Status> {
        let this = self.clone();
        idempotent(&self.evaluation.db, "/caseflow.v1.Evaluation/Rate", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let wait = awaiting::requested(&request);
            let r = request.into_inner();
            let input =
                service::RateInput { level: r.level, unit_levels: r.unit_levels.into_iter().collect(), comment: None };
            let e = &this.evaluation;
            let v = awaiting::until_made(&e.db, wait, not_open_yet, || e.rate(&principal, &r.case_id, input.clone()))
                .await?;
            Ok(tonic::Response::new(view_pb(v)))
        })
        .await
    }

    async fn follow_up(
        &self,
        request: tonic::Request<pb::FollowUpRequest>,
    ) -> Result<tonic::Response<pb::EvaluationView>, tonic::Status> {
        let this = self.clone();
        idempotent(&self.evaluation.db, "/caseflow.v1.Evaluation/FollowUp", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let wait = awaiting::requested(&request);
            let r = request.into_inner();
            let part = Some(r.part).filter(|p| !p.is_empty());
            let input = service::FollowUpInput { outcome: r.outcome, note: r.note, part };
            let e = &this.evaluation;
            let v =
                awaiting::until_made(&e.db, wait, not_open_yet, || e.follow_up(&principal, &r.case_id, input.clone()))
                    .await?;
            Ok(tonic::Response::new(view_pb(v)))
        })
        .await
    }

    async fn expire(
        &self,
        request: tonic::Request<pb::ExpireRequest>,
    ) -> Result<tonic::Response<pb::EvaluationView>, tonic::Status> {
        let this = self.clone();
        idempotent(&self.evaluation.db, "/caseflow.v1.Evaluation/Expire", request, |request| async move {
            let principal = grpc_principal(&request)?;
            let wait = awaiting::requested(&request);
            let r = request.into_inner();
            let e = &this.evaluation;
            let v = awaiting::until_made(&e.db, wait, not_open_yet, || {
                e.expire(&principal, &r.case_id, Some(r.part.clone()).filter(|p| !p.is_empty()))
            })
            .await?;
            Ok(tonic::Response::new(view_pb(v)))
        })
        .await
    }
}

/// The part named has not opened yet: it is resolved or decided, and evaluation is still opening
/// it from routing's or intake's event (what a caller's `x-caseflow-wait-ms` waits for).
fn not_open_yet<T>(answer: &Result<T, service::EvaluationError>) -> bool {
    matches!(answer, Err(service::EvaluationError::Refused(p)) if p.rule.as_deref() == Some(service::NOT_OPEN))
}

fn view_pb(v: service::EvaluationView) -> pb::EvaluationView {
    pb::EvaluationView {
        case_id: v.case_id,
        source: if v.source == "petition" { pb::CaseSource::Petition as i32 } else { pb::CaseSource::Hotline as i32 },
        status: v.status,
        cycle: v.cycle,
        window_ends: Some(caseflow_runtime::time::to_proto(v.window_ends)),
        ratings: v
            .subjects
            .into_iter()
            .map(|s| pb::SubjectRating {
                subject: s.subject,
                dispatch_id: s.dispatch_id.unwrap_or_default(),
                level: s.level.unwrap_or_default(),
                mapped: s.mapped.unwrap_or_default(),
            })
            .collect(),
        parts: v
            .parts
            .into_iter()
            .map(|p| pb::EvaluationPart {
                part: p.part,
                status: p.status,
                cycle: p.cycle,
                opened_at: Some(caseflow_runtime::time::to_proto(p.opened_at)),
                window_ends: Some(caseflow_runtime::time::to_proto(p.window_ends)),
            })
            .collect(),
    }
}

/// Runs evaluation on `listener` until `shutdown`.
pub async fn run(
    ctx: ServiceContext,
    config: EvaluationConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = Db::connect(&config.database, vec![&event_log::MIGRATIONS, &MIGRATIONS]).await?;
    caseflow_runtime::idempotency::forget_old(&db).await?;
    let surveys = Arc::new(service::Surveys { policy: policy::EvaluationPolicy::load(config.policy_file.as_deref())? });
    let metrics = ctx.metrics("evaluation")?;
    let readiness = Readiness::default();
    let log = event_log::start(&db, &shutdown, readiness.loops());
    log.observe(&metrics, &db);
    gauges::observe(&metrics, &db);
    let routing = ServiceChannel::new(&config.routing_url, &ctx.service_key)?;
    let intake = ServiceChannel::new(&config.intake_url, &ctx.service_key)?;
    let consumers = [
        consumer::spawn(
            readiness.loops(),
            &metrics,
            db.clone(),
            ctx.clock.clone(),
            Subscription { service: "evaluation", checkpoint: "evaluation<-intake".into(), source: intake },
            Arc::new(projections::IntakeEvents { surveys: surveys.clone() }),
            shutdown.clone(),
        ),
        consumer::spawn(
            readiness.loops(),
            &metrics,
            db.clone(),
            ctx.clock.clone(),
            Subscription { service: "evaluation", checkpoint: "evaluation<-routing".into(), source: routing },
            Arc::new(projections::RoutingEvents { surveys: surveys.clone(), clock: ctx.clock.clone() }),
            shutdown.clone(),
        ),
    ];
    let evaluation = service::Evaluation::new(db.clone(), ctx.clock.clone(), surveys);
    let expiry = {
        let (evaluation, stop) = (evaluation.clone(), shutdown.clone());
        let interval = std::time::Duration::from_secs(config.expiry_interval_seconds.max(1));
        readiness.loops().spawn("expiry", shutdown.clone(), {
            let changes = log.published();
            move || evaluation.clone().run_expiry(interval, changes.clone(), stop.clone())
        })
    };
    let auth = GrpcAuth::new(ctx.keys.clone());
    let grpc = tonic::service::Routes::from(axum::Router::new())
        .add_service(InterceptedService::new(
            EvaluationServer::new(EvaluationGrpc {
                subjects: subjects::Subjects { db: db.clone() },
                evaluation: evaluation.clone(),
            }),
            auth.clone(),
        ))
        .add_service(InterceptedService::new(EventStreamServer::new(log.stream.clone()), auth));
    let endpoints = Endpoints {
        service: "evaluation",
        rest: rest::router(rest::RestState { evaluation, keys: ctx.keys.clone() }),
        grpc,
        grpc_names: vec!["caseflow.v1.Evaluation", "caseflow.v1.EventStream"],
        keys: ctx.keys.clone(),
        clock: ctx.clock.clone(),
        records: ctx.records,
        metrics,
    };
    server::serve(listener, endpoints, db, readiness, shutdown).await?;
    for c in consumers {
        let _ = c.await;
    }
    let _ = expiry.await;
    log.stopped().await;
    Ok(())
}
