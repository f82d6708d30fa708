//! The error shape every Caseflow API answers with.
//!
//! Policy (each service's own error type converts into [`Problem`]):
//! - A refusal names the field and the rule that failed, the current state where a state machine
//!   refused, and what is allowed instead. The message is written for the integrator or clerk
//!   who reads it, in English, with Chinese terms where the domain has them.
//! - Validation failures carry one [`FieldViolation`] per bad field, so a client can show them all
//!   at once: gRPC `InvalidArgument` with `google.rpc.BadRequest`, HTTP 422 problem+json.
//! - A body that cannot be parsed at all (not UTF-8, not JSON, too large) is HTTP 400 / 413.
//! - Storage outages are `Unavailable` / 503, so callers retry; anything else unexpected is
//!   `Internal` / 500 with a reference id, logged once here, and no internals in the message.
//! - No personal data (name, phone, ID number) ever goes into a message: messages echo codes and
//!   field names, never citizen values.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic_types::{ErrorDetails, StatusExt};

/// What kind of failure, which fixes both the gRPC code and the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request body could not be read as a request at all.
    Malformed,
    /// The request was read, and fields break rules.
    InvalidArgument,
    PayloadTooLarge,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// The body's content type is not one the route reads.
    UnsupportedMediaType,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    /// The action is not allowed in the current state, or a business rule refuses it.
    FailedPrecondition,
    /// A concurrent change won; the caller may re-read and retry.
    Conflict,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::Malformed | Self::InvalidArgument => Code::InvalidArgument,
            Self::PayloadTooLarge => Code::ResourceExhausted,
            Self::MethodNotAllowed => Code::Unimplemented,
            Self::UnsupportedMediaType => Code::InvalidArgument,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::Conflict => Code::Aborted,
            Self::Unavailable => Code::Unavailable,
            Self::Internal => Code::Internal,
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::InvalidArgument => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::FailedPrecondition | Self::Conflict => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Malformed => "malformed request",
            Self::InvalidArgument => "invalid request",
            Self::PayloadTooLarge => "request too large",
            Self::MethodNotAllowed => "method not allowed",
            Self::UnsupportedMediaType => "unsupported media type",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission denied",
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::FailedPrecondition => "refused by rule",
            Self::Conflict => "concurrent change",
            Self::Unavailable => "service unavailable",
            Self::Internal => "internal error",
        }
    }
}

/// One field that broke one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    /// Path of the field in the request, for example `matters[1].category`.
    pub field: String,
    /// The rule it broke, in words, for example "must be at most 4000 characters".
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// An error as it leaves a service: convertible to a gRPC status and to RFC 9457 problem+json.
/// Boxed, so that `Result<_, Problem>` stays small on the happy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<ProblemDetails>);

/// The fields of a [`Problem`], reachable through `Deref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemDetails {
    pub kind: ErrorKind,
    pub detail: String,
    pub violations: Vec<FieldViolation>,
    /// Machine-readable name of the rule that refused, for example `return.window`.
    pub rule: Option<String>,
    /// The state the target was in when the rule refused.
    pub state: Option<String>,
    /// What the caller may do instead (actions or values).
    pub allowed: Vec<String>,
}

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

impl Problem {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemDetails {
            kind,
            detail: detail.into(),
            violations: Vec::new(),
            rule: None,
            state: None,
            allowed: Vec::new(),
        }))
    }

    /// A validation failure listing every bad field.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let detail =
            violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; ");
        let mut p = Self::new(ErrorKind::InvalidArgument, detail);
        p.violations = violations;
        p
    }

    pub fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub fn with_state(mut self, state: impl Into<String>, allowed: Vec<String>) -> Self {
        self.state = Some(state.into());
        self.allowed = allowed;
        self
    }

    /// An unexpected failure: logged here with a reference, answered without internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let reference = uuid::Uuid::new_v4();
        tracing::error!(%reference, error = %cause, "internal error");
        Self::new(ErrorKind::Internal, format!("internal error; reference {reference}"))
    }

    fn body(&self) -> ProblemBody<'_> {
        let status = self.kind.http_status();
        ProblemBody {
            kind: "about:blank",
            title: self.kind.title(),
            status: status.as_u16(),
            detail: &self.detail,
            code: self.kind,
            errors: &self.violations,
            rule: self.rule.as_deref(),
            state: self.state.as_deref(),
            allowed: &self.allowed,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.title(), self.detail)
    }
}

impl std::error::Error for Problem {}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: ErrorKind,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldViolation],
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    allowed: &'a [String],
}

/// The problem+json body as the OpenAPI documents describe it (`Problem`): the same fields as
/// `ProblemBody`, owned, for the schema.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used; the body itself is `ProblemBody`.
pub(crate) struct ProblemJson {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    kind: String,
    /// The kind of failure in words ("invalid request", "permission denied" ...).
    title: String,
    /// The HTTP status.
    status: u16,
    /// What failed, for the person reading it; never citizen data.
    detail: String,
    /// malformed | invalid_argument | payload_too_large | method_not_allowed |
    /// unsupported_media_type | unauthenticated | permission_denied | not_found | already_exists
    /// | failed_precondition | conflict | unavailable | internal
    code: String,
    /// One entry per field that broke a rule.
    errors: Option<Vec<FieldViolationJson>>,
    /// Machine-readable name of the rule that refused (`return.window`, `upload.rows` ...).
    rule: Option<String>,
    /// The state the target was in when the rule refused.
    state: Option<String>,
    /// What the caller may do instead.
    allowed: Option<Vec<String>>,
}

/// One field that broke one rule, as problem+json carries it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct FieldViolationJson {
    /// Path of the field in the request (`matters[1].category`, `location.coordinates.lat`).
    field: String,
    /// The rule it broke, in words.
    description: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.http_status();
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        (status, [(axum::http::header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}

/// The domain under which `google.rpc.ErrorInfo` reasons are named.
pub const ERROR_DOMAIN: &str = "caseflow.v1";

impl Problem {
    /// A peer service's refusal passed on to our caller: its kind and message. A peer refusing
    /// our own service key is our fault, not the caller's.
    pub fn from_status(peer: &str, s: &tonic::Status) -> Self {
        use tonic::Code;
        let kind = match s.code() {
            Code::InvalidArgument => ErrorKind::InvalidArgument,
            Code::PermissionDenied => ErrorKind::PermissionDenied,
            Code::NotFound => ErrorKind::NotFound,
            Code::FailedPrecondition => ErrorKind::FailedPrecondition,
            Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, format!("{peer}: {}", s.message()))
    }
}

/// What a refusal says, read back from a peer's status: the rule, and each field and its rule.
pub fn status_reason(s: &tonic::Status) -> String {
    let mut parts = vec![s.message().to_owned()];
    if let Some(info) = s.get_details_error_info() {
        parts.push(format!("rule {}", info.reason));
    }
    if let Some(bad) = s.get_details_bad_request() {
        for v in bad.field_violations {
            parts.push(format!("{}: {}", v.field, v.description));
        }
    }
    parts.dedup();
    parts.join("; ")
}

/// The rule a peer's refusal names, if any.
pub fn status_rule(s: &tonic::Status) -> Option<String> {
    s.get_details_error_info().map(|i| i.reason)
}

impl From<Problem> for tonic::Status {
    fn from(p: Problem) -> Self {
        let mut details = ErrorDetails::new();
        for v in &p.violations {
            details.add_bad_request_violation(v.field.clone(), v.description.clone());
        }
        if let Some(rule) = &p.rule {
            let mut metadata = HashMap::new();
            if let Some(state) = &p.state {
                metadata.insert("state".to_owned(), state.clone());
            }
            if !p.allowed.is_empty() {
                metadata.insert("allowed".to_owned(), p.allowed.join(","));
            }
            details.set_error_info(rule.clone(), ERROR_DOMAIN, metadata);
            if let Some(state) = &p.state {
                details.add_precondition_failure_violation("STATE", state.clone(), p.detail.clone());
            }
        }
        tonic::Status::with_error_details(p.kind.grpc_code(), p.detail.clone(), details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_maps_to_422_and_invalid_argument_with_every_field() {
        let p = Problem::invalid(vec![
            FieldViolation::new("order.content", "must be at most 4000 characters"),
            FieldViolation::new("order.matters", "must not be empty"),
        ]);
        assert_eq!(p.kind.http_status(), StatusCode::UNPROCESSABLE_ENTITY);
        let status = tonic::Status::from(p.clone());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("field violations attached");
        let fields: Vec<_> = bad.field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["order.content", "order.matters"]);
        let body = serde_json::to_value(p.body()).expect("serializes");
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][1]["field"], "order.matters");
    }

    #[test]
    fn rule_refusal_names_rule_state_and_allowed_actions() {
        let p = Problem::new(ErrorKind::FailedPrecondition, "return refused: the window closed")
            .with_rule("return.window")
            .with_state("acknowledged", vec!["land".into(), "reply".into()]);
        let status = tonic::Status::from(p.clone());
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().expect("error info");
        assert_eq!(info.reason, "return.window");
        assert_eq!(info.metadata.get("allowed").map(String::as_str), Some("land,reply"));
        let body = serde_json::to_value(p.body()).expect("serializes");
        assert_eq!(body["rule"], "return.window");
        assert_eq!(body["allowed"][0], "land");
    }
}
