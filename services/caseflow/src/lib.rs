//! The whole system in one process: the four services, each on its own port with its own
//! database, talking gRPC to each other exactly as when deployed apart. The `caseflow` binary
//! and the end-to-end tests both start it through [`System`].

pub mod history;
pub mod probe;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use caseflow_evaluation::EvaluationConfig;
use caseflow_intake::IntakeConfig;
use caseflow_reporting::ReportingConfig;
use caseflow_routing::RoutingConfig;
use caseflow_runtime::deployment::{Deployment, ServiceContext};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The four services' sections.
#[derive(Debug, Clone)]
pub struct Configs {
    pub intake: IntakeConfig,
    pub routing: RoutingConfig,
    pub evaluation: EvaluationConfig,
    pub reporting: ReportingConfig,
}

impl Configs {
    /// Reads and strictly checks all four sections.
    pub fn from_deployment(d: &Deployment) -> anyhow::Result<Self> {
        Ok(Self {
            intake: d.section("intake")?,
            routing: d.section("routing")?,
            evaluation: d.section("evaluation")?,
            reporting: d.section("reporting")?,
        })
    }
}

/// A service of the system, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Intake,
    Routing,
    Evaluation,
    Reporting,
}

impl Service {
    pub const ALL: [Service; 4] = [Service::Intake, Service::Routing, Service::Evaluation, Service::Reporting];

    pub fn name(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::Routing => "routing",
            Self::Evaluation => "evaluation",
            Self::Reporting => "reporting",
        }
    }
}

struct Running {
    token: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// A service whose handle is dropped without `System::shutdown` (a caller that panicked) is told
/// to stop: its loops on blocking threads (PostgreSQL's `LISTEN` session) end, instead of
/// keeping the runtime from shutting down.
impl Drop for Running {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Waits until the instance at `addr` answers `/health/readyz` with 200; an instance that
/// stops while starting gives its error.
async fn until_ready(
    service: Service,
    addr: SocketAddr,
    task: &mut JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    loop {
        if task.is_finished() {
            task.await.context("service task panicked")??;
            anyhow::bail!("{} stopped while starting", service.name());
        }
        let probe = probe::status(&addr.to_string(), "/health/readyz", std::time::Duration::from_secs(2)).await;
        if matches!(probe, Ok(200)) {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < PATIENCE, "{} is not ready after {PATIENCE:?}: {probe:?}", service.name());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A further replica of a service (see [`System::spawn_replica`]).
pub struct Replica {
    pub addr: SocketAddr,
    token: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    /// Stops it as Kubernetes stops a pod: not ready, drain, end its leases, exit.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.token.cancel();
        self.task.await.context("replica task panicked")?
    }
}

/// The running system.
pub struct System {
    ctx: ServiceContext,
    configs: Configs,
    addrs: BTreeMap<Service, SocketAddr>,
    running: BTreeMap<Service, Running>,
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

impl System {
    /// Binds every service's listener (port 0 picks a free port), points each service at its
    /// peers' actual addresses, and starts all four.
    pub async fn start(ctx: ServiceContext, mut configs: Configs) -> anyhow::Result<Self> {
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for (service, listen) in [
            (Service::Intake, configs.intake.listen),
            (Service::Routing, configs.routing.listen),
            (Service::Evaluation, configs.evaluation.listen),
            (Service::Reporting, configs.reporting.listen),
        ] {
            let listener = TcpListener::bind(listen)
                .await
                .with_context(|| format!("{}: cannot listen on {listen}", service.name()))?;
            addrs.insert(service, listener.local_addr()?);
            listeners.insert(service, listener);
        }
        configs.intake.listen = addrs[&Service::Intake];
        configs.routing.listen = addrs[&Service::Routing];
        configs.evaluation.listen = addrs[&Service::Evaluation];
        configs.reporting.listen = addrs[&Service::Reporting];
        configs.intake.routing_url = url(addrs[&Service::Routing]);
        configs.routing.intake_url = url(addrs[&Service::Intake]);
        configs.routing.evaluation_url = url(addrs[&Service::Evaluation]);
        configs.evaluation.routing_url = url(addrs[&Service::Routing]);
        configs.evaluation.intake_url = url(addrs[&Service::Intake]);
        configs.reporting.intake_url = url(addrs[&Service::Intake]);
        configs.reporting.routing_url = url(addrs[&Service::Routing]);
        configs.reporting.evaluation_url = url(addrs[&Service::Evaluation]);

        let mut system = Self { ctx, configs, addrs, running: BTreeMap::new() };
        for (service, listener) in listeners {
            system.spawn(service, listener);
        }
        Ok(system)
    }

    fn spawn(&mut self, service: Service, listener: TcpListener) {
        let token = CancellationToken::new();
        let task = self.run(service, listener, token.clone());
        self.running.insert(service, Running { token, task });
    }

    /// One instance of `service` on `listener`, with the system's context and configuration.
    fn run(&self, service: Service, listener: TcpListener, token: CancellationToken) -> JoinHandle<anyhow::Result<()>> {
        let (ctx, c) = (self.ctx.clone(), self.configs.clone());
        match service {
            Service::Intake => tokio::spawn(caseflow_intake::run(ctx, c.intake, listener, token)),
            Service::Routing => tokio::spawn(caseflow_routing::run(ctx, c.routing, listener, token)),
            Service::Evaluation => tokio::spawn(caseflow_evaluation::run(ctx, c.evaluation, listener, token)),
            Service::Reporting => tokio::spawn(caseflow_reporting::run(ctx, c.reporting, listener, token)),
        }
    }

    pub fn addr(&self, service: Service) -> SocketAddr {
        self.addrs[&service]
    }

    /// Stops one service gracefully and waits until it has.
    pub async fn stop(&mut self, service: Service) -> anyhow::Result<()> {
        if let Some(mut running) = self.running.remove(&service) {
            running.token.cancel();
            (&mut running.task).await.context("service task panicked")??;
        }
        Ok(())
    }

    /// The configuration the services were (or will be) started with.
    pub fn configs(&self) -> &Configs {
        &self.configs
    }

    /// Changes the configuration the next (re)start of a service uses.
    pub fn configure(&mut self, change: impl FnOnce(&mut Configs)) {
        change(&mut self.configs);
    }

    /// Starts another replica of `service` on a free port, on the same database and peers (the
    /// way a second pod of a Deployment runs), and waits until it is ready.
    pub async fn spawn_replica(&mut self, service: Service) -> anyhow::Result<Replica> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let mut task = self.run(service, listener, token.clone());
        until_ready(service, addr, &mut task).await?;
        Ok(Replica { addr, token, task })
    }

    /// Starts a stopped service again on its address, with the same database, and waits until
    /// its `/health/readyz` answers 200; a service that stops while starting gives its error.
    pub async fn restart(&mut self, service: Service) -> anyhow::Result<()> {
        self.stop(service).await?;
        let addr = self.addrs[&service];
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("{}: cannot listen on {addr}", service.name()))?;
        self.spawn(service, listener);
        self.until_ready(service).await
    }

    async fn until_ready(&mut self, service: Service) -> anyhow::Result<()> {
        let addr = self.addrs[&service];
        let running = self.running.get_mut(&service).context("the service is not running")?;
        let ready = until_ready(service, addr, &mut running.task).await;
        if ready.is_err() && running.task.is_finished() {
            self.running.remove(&service);
        }
        ready
    }

    /// Resolves when any service stops by itself (an error at start, or a crash).
    pub async fn any_stopped(&mut self) -> (Service, anyhow::Result<()>) {
        let tasks = self.running.iter_mut().map(|(s, r)| {
            let s = *s;
            Box::pin(async move { (s, (&mut r.task).await) })
        });
        let ((service, result), _, _) = futures::future::select_all(tasks).await;
        self.running.remove(&service);
        (service, result.unwrap_or_else(|e| Err(anyhow::anyhow!("task panicked: {e}"))))
    }

    /// Stops every service: reporting and evaluation first, then routing, then intake, so
    /// consumers stop before the streams they read.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        for service in [Service::Reporting, Service::Evaluation, Service::Routing, Service::Intake] {
            if let Err(e) = self.stop(service).await {
                tracing::error!(service = service.name(), error = %e, "service stopped with an error");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Re-encrypts every stored citizen record under intake's `citizen_data_key` (with the key being
/// retired as `citizen_data_key_previous`), `batch` cases per transaction, while intake runs;
/// resumable. `report` hears after each batch.
pub async fn rotate_citizen_key(
    intake: &IntakeConfig,
    batch: i64,
    report: impl FnMut(&caseflow_intake::rotation::Progress),
) -> anyhow::Result<caseflow_intake::rotation::Progress> {
    let vault = caseflow_intake::citizen::vault(intake)?;
    anyhow::ensure!(
        vault.previous().is_some(),
        "intake.citizen_data_key_previous must hold the key being retired (and citizen_data_key the new one)"
    );
    let db = caseflow_runtime::Db::connect(
        &intake.database,
        vec![&caseflow_runtime::event_log::MIGRATIONS, &caseflow_intake::MIGRATIONS],
    )
    .await?;
    let clock: caseflow_runtime::SharedClock = std::sync::Arc::new(caseflow_runtime::clock::SystemClock);
    Ok(caseflow_intake::rotation::run(&db, &vault, batch, &clock, report).await?)
}

/// Copies each service's SQLite database into `out` while the services run (`VACUUM INTO`: one
/// consistent snapshot per database, written by SQLite itself, compact and ready to open).
/// Returns the files written. PostgreSQL deployments back up with `pg_dump` (deploy/README.md).
pub fn backup_sqlite(configs: &Configs, out: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    for (service, database) in [
        (Service::Intake, &configs.intake.database),
        (Service::Routing, &configs.routing.database),
        (Service::Evaluation, &configs.evaluation.database),
        (Service::Reporting, &configs.reporting.database),
    ] {
        let Some(path) = database.url.strip_prefix("sqlite://") else {
            anyhow::bail!(
                "{}: database.url is not SQLite; back PostgreSQL up with pg_dump per schema (deploy/README.md)",
                service.name()
            );
        };
        let target = out.join(format!("{}.db", service.name()));
        anyhow::ensure!(!target.exists(), "{} exists already: back up into an empty folder", target.display());
        let target_text = target.to_str().context("the backup folder's path is not UTF-8")?;
        let mut conn = diesel::SqliteConnection::establish(path)
            .with_context(|| format!("{}: cannot open {path}", service.name()))?;
        conn.batch_execute("PRAGMA busy_timeout = 10000")?;
        conn.batch_execute(&format!("VACUUM INTO '{}'", target_text.replace('\'', "''")))
            .with_context(|| format!("{}: backup into {} failed", service.name(), target.display()))?;
        written.push(target);
    }
    Ok(written)
}
