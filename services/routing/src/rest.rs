//! Routing's REST edge: the registry and a case's dispatches, with `/openapi.json`.

use axum::extract::{FromRef, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use caseflow_runtime::Problem;
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::Authenticated;
use serde::Serialize;
use utoipa::OpenApi;

use crate::registry::{UnitEntry, UnitKind};
use crate::service::Routing;

#[derive(Clone)]
pub struct RestState {
    pub routing: Routing,
    pub keys: KeyStore,
}

impl FromRef<RestState> for KeyStore {
    fn from_ref(state: &RestState) -> Self {
        state.keys.clone()
    }
}

pub fn router(state: RestState) -> Router {
    Router::new()
        .route("/v1/units", get(units))
        .route("/v1/cases/{case_id}/dispatches", get(case_dispatches))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// The unit registry (承办单位), departments first, then sub-districts.
#[utoipa::path(get, path = "/v1/units", responses((status = 200, body = [UnitEntry]), (status = 401)), security(("api_key" = [])))]
async fn units(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
) -> Json<Vec<UnitEntry>> {
    Json(state.routing.units(&principal))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DispatchSummary {
    pub dispatch_id: String,
    pub matter_id: String,
    pub assignment: i32,
    /// Absent while the matter waits in the triage queue.
    pub unit: Option<String>,
    pub state: String,
    pub case_received_at: chrono::DateTime<chrono::Utc>,
    pub dispatched_at: chrono::DateTime<chrono::Utc>,
}

/// Every dispatch of a case, per matter in assignment order.
#[utoipa::path(
    get, path = "/v1/cases/{case_id}/dispatches",
    params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = [DispatchSummary]), (status = 401), (status = 403)),
    security(("api_key" = []))
)]
async fn case_dispatches(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(case_id): Path<String>,
) -> Result<Json<Vec<DispatchSummary>>, Problem> {
    let rows = state.routing.case_dispatches(&principal, &case_id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| DispatchSummary {
                dispatch_id: d.id,
                matter_id: d.matter_id,
                assignment: d.assignment,
                unit: d.unit,
                state: d.state,
                case_received_at: d.case_received_at.and_utc(),
                dispatched_at: d.dispatched_at.and_utc(),
            })
            .collect(),
    ))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Caseflow routing",
        description = "Dispatch, deadlines and the rules on return and transfer."
    ),
    paths(units, case_dispatches),
    components(schemas(UnitEntry, UnitKind, DispatchSummary))
)]
pub struct ApiDoc;
