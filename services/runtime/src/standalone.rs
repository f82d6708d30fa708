//! The `main` of a service deployed on its own: read the deployment file (first argument,
//! default `deploy/caseflow.toml`) and the service's section, start telemetry, bind, run until
//! SIGTERM or SIGINT, flush spans.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::SystemClock;
use crate::deployment::{Deployment, ServiceContext};

/// A service's section names where it listens.
pub trait Listens {
    fn listen(&self) -> SocketAddr;
}

pub async fn main<C, F, Fut>(section: &str, run: F) -> anyhow::Result<()>
where
    C: DeserializeOwned + Listens,
    F: FnOnce(ServiceContext, C, TcpListener, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let path = std::env::args().nth(1).unwrap_or_else(|| "deploy/caseflow.toml".into());
    let deployment = Deployment::load(Some(path.as_ref()))?;
    let config: C = deployment.section(section)?;
    let keys = deployment.key_store()?;
    let telemetry = crate::telemetry::init(&deployment.telemetry)?;
    let ctx = ServiceContext {
        clock: Arc::new(SystemClock),
        keys,
        service_key: deployment.auth.service_key.clone(),
        records: deployment.records,
        metrics_push: deployment.telemetry.metrics_push(),
    };
    let listener = TcpListener::bind(config.listen()).await?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        crate::server::termination_signal().await;
        tracing::info!("termination signal received; shutting down");
        signal.cancel();
    });
    let result = run(ctx, config, listener, shutdown).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    result
}
