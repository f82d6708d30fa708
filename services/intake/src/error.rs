//! Intake's one error type. Every variant becomes a [`Problem`], which answers both gRPC
//! (status with field violations) and REST (RFC 9457 problem+json).

use caseflow_runtime::{DbError, ErrorKind, FieldViolation, Problem};

use crate::citizen::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// An order or petition number already taken in, sent again with different content.
    #[error("number {number} was already taken in with different {fields:?}")]
    ChangedResend { number: String, case_id: String, fields: Vec<String> },
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<diesel::result::Error> for IntakeError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<IntakeError> for Problem {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Invalid(violations) => Problem::invalid(violations),
            IntakeError::ChangedResend { number, case_id, fields } => {
                let mut p = Problem::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "'{number}' was already taken in as case {case_id} with different {}; a changed case needs a new number",
                        fields.join(", ")
                    ),
                )
                .with_rule("intake.idempotency");
                p.violations = fields
                    .into_iter()
                    .map(|f| FieldViolation::new(f, "differs from what was already taken in under this number"))
                    .collect();
                p
            }
            IntakeError::NotFound(what) => Problem::new(ErrorKind::NotFound, format!("'{what}' does not exist")),
            IntakeError::Refused(p) => p,
            IntakeError::Db(e) => e.into(),
            IntakeError::Vault(e) => Problem::internal(&e),
        }
    }
}

impl From<IntakeError> for tonic::Status {
    fn from(e: IntakeError) -> Self {
        Problem::from(e).into()
    }
}

impl axum::response::IntoResponse for IntakeError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}
