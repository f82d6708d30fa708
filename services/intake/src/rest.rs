//! The REST edge the 12345 platform calls, with its OpenAPI document at `/openapi.json`.

use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::{ApiJson, Authenticated};
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::IntakeError;
use crate::order::{CitizenInput, Coordinates, LocationInput, MatterInput, OrderInput};
use crate::service::Intake;
use crate::taxonomy::{Category, DistrictFile, SubDistrict, Subcategory, TaxonomyFile};
use crate::view::{CaseView, CitizenView, LocationView, MatterView};

/// Largest accepted order body. An order holds at most 4,000 characters of content and ten
/// matters of 500; 64 KiB leaves room for JSON escapes and is refused before parsing beyond it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct RestState {
    pub intake: Intake,
    pub keys: KeyStore,
}

impl FromRef<RestState> for KeyStore {
    fn from_ref(state: &RestState) -> Self {
        state.keys.clone()
    }
}

pub fn router(state: RestState) -> Router {
    Router::new()
        .route(
            "/v1/hotline/orders",
            post(submit_order).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/v1/cases/{case_id}", get(get_case))
        .route("/v1/taxonomy", get(taxonomy))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// Take in a 12345 work order. The order number is the idempotency key: the same order again
/// returns the existing case (200); a changed order under the same number is a 409 naming the
/// fields that differ.
#[utoipa::path(
    post,
    path = "/v1/hotline/orders",
    request_body = OrderInput,
    responses(
        (status = 201, description = "case created", body = CaseView),
        (status = 200, description = "the same order was already taken in", body = CaseView),
        (status = 400, description = "body is not UTF-8 JSON"),
        (status = 401, description = "missing or unknown API key"),
        (status = 403, description = "role may not submit orders"),
        (status = 409, description = "order number reused with different content"),
        (status = 413, description = "body too large"),
        (status = 422, description = "fields break rules; `errors` lists each field and rule"),
    ),
    security(("api_key" = []))
)]
async fn submit_order(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiJson(order): ApiJson<OrderInput>,
) -> Result<impl IntoResponse, IntakeError> {
    let (case, created) = state.intake.submit_hotline_order(&principal, order).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(case)))
}

/// A case, with citizen data masked.
#[utoipa::path(
    get,
    path = "/v1/cases/{case_id}",
    params(("case_id" = String, Path, description = "case id")),
    responses(
        (status = 200, body = CaseView),
        (status = 401), (status = 403), (status = 404),
    ),
    security(("api_key" = []))
)]
async fn get_case(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(case_id): Path<String>,
) -> Result<Json<CaseView>, IntakeError> {
    Ok(Json(state.intake.get_case(&principal, &case_id).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct TaxonomyView {
    taxonomy: TaxonomyFile,
    district: DistrictFile,
}

/// The case taxonomy and the district's sub-districts that orders must use.
#[utoipa::path(get, path = "/v1/taxonomy", responses((status = 200, body = TaxonomyView), (status = 401)), security(("api_key" = [])))]
async fn taxonomy(State(state): State<RestState>, _caller: Authenticated) -> Json<TaxonomyView> {
    let policy = state.intake.policy();
    Json(TaxonomyView {
        taxonomy: policy.taxonomy.clone(),
        district: policy.district.clone(),
    })
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Caseflow intake", description = "Takes in 12345 hotline work orders and petitions."),
    paths(submit_order, get_case, taxonomy),
    components(schemas(
        OrderInput, LocationInput, Coordinates, CitizenInput, MatterInput,
        CaseView, CitizenView, LocationView, MatterView,
        TaxonomyView, TaxonomyFile, Category, Subcategory, DistrictFile, SubDistrict
    )),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;
