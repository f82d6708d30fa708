//! Routing's one error type, converted into [`Problem`] for gRPC and problem+json.

use caseflow_runtime::{DbError, ErrorKind, FieldViolation, Problem};

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(String),
    /// A concurrent action changed the dispatch first.
    #[error("concurrent change of {0}")]
    Conflict(String),
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl RoutingError {
    pub fn field(field: &str, rule: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, rule)])
    }

    /// The same refusal of a field, naming `field` instead (a unit check made for another
    /// field than `unit`).
    pub fn for_field(self, field: &str) -> Self {
        match self {
            Self::Invalid(v) => {
                Self::Invalid(v.into_iter().map(|f| FieldViolation { field: field.to_owned(), ..f }).collect())
            }
            other => other,
        }
    }

    pub fn rule(rule: &str, detail: impl Into<String>) -> Self {
        Self::Refused(Problem::new(ErrorKind::FailedPrecondition, detail).with_rule(rule))
    }
}

impl From<diesel::result::Error> for RoutingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<RoutingError> for Problem {
    fn from(e: RoutingError) -> Self {
        match e {
            RoutingError::Invalid(v) => Problem::invalid(v),
            RoutingError::NotFound(what) => Problem::new(ErrorKind::NotFound, format!("{what} does not exist")),
            RoutingError::Conflict(what) => Problem::new(
                ErrorKind::Conflict,
                format!("{what} was changed by someone else at the same moment; read it again and retry"),
            )
            .with_rule("concurrency.version"),
            RoutingError::Refused(p) => p,
            RoutingError::Db(e) => e.into(),
        }
    }
}

impl From<RoutingError> for tonic::Status {
    fn from(e: RoutingError) -> Self {
        Problem::from(e).into()
    }
}

impl axum::response::IntoResponse for RoutingError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}
