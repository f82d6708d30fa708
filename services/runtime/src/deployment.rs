//! The deployment file every binary reads: shared sections (`telemetry`, `auth`) plus one
//! section per service. The top level is strict. Each service reads its own section strictly
//! with [`Deployment::section`]; the all-in-one binary reads all four, so a misspelt key in any
//! section stops it at start-up.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::{ApiKeyConfig, KeyConfigError, KeyStore};
use crate::clock::SharedClock;
use crate::config::{self, ConfigError, Secret};
use crate::telemetry::TelemetryConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Every accepted key, by digest.
    #[serde(default)]
    pub keys: Vec<ApiKeyConfig>,
    /// The key services present to each other. Its digest must be among `keys` with role
    /// `service`. Set it with `CASEFLOW__AUTH__SERVICE_KEY` in production.
    pub service_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    /// What times a record may carry (`[records]`: `earliest`, `future_skew_seconds`,
    /// `report_horizon_days`); every service checks stated times against it.
    #[serde(default)]
    pub records: crate::time::RecordBounds,
    #[serde(default)]
    pub intake: toml::Table,
    #[serde(default)]
    pub routing: toml::Table,
    #[serde(default)]
    pub evaluation: toml::Table,
    #[serde(default)]
    pub reporting: toml::Table,
}

impl Deployment {
    /// Reads `path` with `CASEFLOW__*` overrides from the process environment, and fills the
    /// OTLP endpoint from the standard `OTEL_EXPORTER_OTLP_ENDPOINT` when set.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut deployment: Self = config::load(path, std::env::vars())?;
        if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            && !endpoint.is_empty()
        {
            deployment.telemetry.otlp_endpoint = Some(endpoint);
        }
        Ok(deployment)
    }

    /// One service's section, strictly typed.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let table = match name {
            "intake" => &self.intake,
            "routing" => &self.routing,
            "evaluation" => &self.evaluation,
            "reporting" => &self.reporting,
            other => return Err(ConfigError::Invalid(format!("no section named {other}"))),
        };
        T::deserialize(toml::Value::Table(table.clone())).map_err(|e| ConfigError::Invalid(format!("[{name}]: {e}")))
    }

    /// The key table, checked: the service key must be configured with role `service`.
    pub fn key_store(&self) -> Result<KeyStore, ConfigError> {
        let keys =
            KeyStore::from_config(&self.auth.keys).map_err(|e: KeyConfigError| ConfigError::Invalid(e.to_string()))?;
        match keys.authenticate(Some(self.auth.service_key.expose())) {
            Ok(p) if p.role == crate::auth::Role::Service => Ok(keys),
            _ => Err(ConfigError::Invalid(
                "auth.service_key: its sha256 must be listed in auth.keys with role \"service\"".into(),
            )),
        }
    }
}

/// What every service receives besides its own section.
#[derive(Debug, Clone)]
pub struct ServiceContext {
    pub clock: SharedClock,
    pub keys: KeyStore,
    /// The key this service presents to its peers.
    pub service_key: Secret,
    /// The span of time a stated time or a report period must fall in.
    pub records: crate::time::RecordBounds,
    /// Where each service also pushes its metrics (`telemetry.otlp_endpoint`), if anywhere.
    pub metrics_push: Option<crate::metrics::OtlpPush>,
}

impl ServiceContext {
    /// A service's instruments: `/metrics` always, the OTLP push when configured.
    pub fn metrics(&self, service: &'static str) -> Result<crate::metrics::Metrics, crate::metrics::MetricsError> {
        crate::metrics::Metrics::new(service, self.metrics_push.as_ref())
    }
}
