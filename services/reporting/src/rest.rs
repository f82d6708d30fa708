//! Reporting's REST edge for the efficiency office, with `/openapi.json`.

use std::collections::HashMap;

use axum::extract::{FromRef, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::Authenticated;
use caseflow_runtime::{FieldViolation, Problem};
use chrono::{DateTime, Utc};
use utoipa::OpenApi;

use crate::reports::{Reports, UnitCount, UnitCounts};

#[derive(Clone)]
pub struct RestState {
    pub reports: Reports,
    pub keys: KeyStore,
}

impl FromRef<RestState> for KeyStore {
    fn from_ref(state: &RestState) -> Self {
        state.keys.clone()
    }
}

pub fn router(state: RestState) -> Router {
    Router::new()
        .route("/v1/reports/unit-counts", get(unit_counts))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

fn timestamp(params: &HashMap<String, String>, name: &str, errors: &mut Vec<FieldViolation>) -> Option<DateTime<Utc>> {
    match params.get(name).map(String::as_str) {
        None | Some("") => {
            errors.push(FieldViolation::new(name, "is required (RFC 3339, e.g. 2020-01-01T00:00:00+08:00)"));
            None
        }
        Some(raw) => match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.push(FieldViolation::new(name, "must be RFC 3339 with offset, e.g. 2020-01-01T00:00:00+08:00"));
                None
            }
        },
    }
}

/// Dispatches received per unit for cases received in [from, to) (统计口径: 批转件数).
#[utoipa::path(
    get, path = "/v1/reports/unit-counts",
    params(
        ("from" = String, Query, description = "period start, RFC 3339, inclusive"),
        ("to" = String, Query, description = "period end, RFC 3339, exclusive"),
        ("source" = Option<String>, Query, description = "hotline (default) or petition"),
    ),
    responses((status = 200, body = UnitCounts), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn unit_counts(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<UnitCounts>, Problem> {
    let mut errors = Vec::new();
    let from = timestamp(&params, "from", &mut errors);
    let to = timestamp(&params, "to", &mut errors);
    let (Some(from), Some(to)) = (from, to) else {
        return Err(Problem::invalid(errors));
    };
    let source = params.get("source").cloned().unwrap_or_else(|| "hotline".into());
    Ok(Json(state.reports.unit_counts(&principal, from, to, source).await?))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Caseflow reporting", description = "The efficiency office's tables, from events alone."),
    paths(unit_counts),
    components(schemas(UnitCounts, UnitCount))
)]
pub struct ApiDoc;
