//! The REST edge the 12345 platform and the petition bureau call, with its OpenAPI document at
//! `/openapi.json`.

use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use caseflow_runtime::Problem;
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::ApiContract;
use caseflow_runtime::rest::{ApiJson, ApiQuery, Authenticated};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::error::IntakeError;
use crate::input::{
    CitizenInput, Coordinates, JointLetterInput, LocationInput, MatterInput, OrderInput, PetitionInput, VisitInput,
};
use crate::ledger::{RepeatPetitioner, ThreatFlag, WatchItem, WatchUpdate};
use crate::receptions::{
    OutcomeUpdate, ReceptionInput, ReceptionMatterInput, ReceptionMatterView, ReceptionSummary, ReceptionView,
};
use crate::service::{CaseFilter, CasePage, Intake, RevealRecord, RevealedCitizen};
use crate::taxonomy::{Category, DistrictFile, Policy, SubDistrict, Subcategory, TaxonomyFile};
use crate::view::{CaseView, CitizenView, LocationView, MatterView, PetitionView};

/// Largest accepted body. A case holds at most 4,000 characters of content and ten matters of
/// 500; 64 KiB leaves room for JSON escapes, and anything larger is refused before parsing.
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
        .route("/v1/hotline/orders", post(submit_order))
        .route("/v1/petitions", post(submit_petition))
        .route("/v1/petitions/{case_id}/decision", post(decide_petition))
        .route("/v1/petitions/{case_id}/reviews", post(request_review).get(reviews))
        .route("/v1/petitions/{case_id}/reviews/{level}/decision", post(decide_review))
        .route("/v1/cases", get(list_cases))
        .route("/v1/cases/{case_id}", get(get_case))
        .route("/v1/cases/{case_id}/reveal", post(reveal))
        .route("/v1/cases/{case_id}/reveals", get(reveal_log))
        .route("/v1/cases/{case_id}/threat", post(flag_threat))
        .route("/v1/watch", get(watch))
        .route("/v1/watch/{watch_id}", patch(update_watch))
        .route("/v1/repeat-petitioners", get(repeat_petitioners))
        .route("/v1/leader-receptions", post(record_reception).get(receptions))
        .route("/v1/leader-receptions/{reception_id}/matters/{ordinal}", patch(update_outcome))
        .route("/v1/taxonomy", get(taxonomy))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn created(view: CaseView, created: bool) -> impl IntoResponse {
    (if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view))
}

/// Take in a 12345 work order. The order number is the idempotency key: the same order again
/// returns the existing case (200); a changed order under the same number is a 409 naming the
/// fields that differ.
#[utoipa::path(
    post, path = "/v1/hotline/orders", request_body = OrderInput,
    responses(
        (status = 201, description = "case created", body = CaseView),
        (status = 200, description = "the same order was already taken in", body = CaseView),
        (status = 400, description = "body is not UTF-8 JSON"),
        (status = 401, description = "missing or unknown API key"),
        (status = 403, description = "role may not submit orders"),
        (status = 409, description = "order number reused with different content; `errors` names the fields"),
        (status = 413, description = "body larger than 64 KiB"),
        (status = 422, description = "fields break rules; `errors` lists each field and rule"),
    ),
    security(("api_key" = []))
)]
async fn submit_order(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiJson(order): ApiJson<OrderInput>,
) -> Result<impl IntoResponse, IntakeError> {
    let (case, is_new) = state.intake.submit_hotline_order(&principal, order).await?;
    Ok(created(case, is_new))
}

/// The petition office decides on a petition registered pending its decision (信访工作条例
/// 第二十二条: within 15 natural days of registration), with the written notice to the
/// petitioner. Accepted, its matters go to their units now; otherwise no unit gets it.
#[utoipa::path(
    post, path = "/v1/petitions/{case_id}/decision", request_body = crate::input::DecisionInput,
    params(("case_id" = String, Path, description = "the petition's case id")),
    responses(
        (status = 200, body = CaseView), (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "not a petition, or already decided"), (status = 413), (status = 422),
    ),
    security(("api_key" = []))
)]
async fn decide_petition(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    axum::extract::Path(case_id): axum::extract::Path<String>,
    ApiJson(input): ApiJson<crate::input::DecisionInput>,
) -> Result<Json<CaseView>, IntakeError> {
    Ok(Json(state.intake.decide_petition(&principal, &case_id, input).await?))
}

/// A petitioner asks for 复查 (review) or 复核 (re-review) of a petition's written answer
/// (信访工作条例 第三十五条, 第三十六条): within 30 days of receiving it; decided within 30 days.
#[utoipa::path(
    post, path = "/v1/petitions/{case_id}/reviews", request_body = crate::reviews::ReviewRequestInput,
    params(("case_id" = String, Path, description = "the petition's case id")),
    responses(
        (status = 201, body = crate::reviews::ReviewView), (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "not an accepted petition, asked already, out of order, or past the 30 days"),
        (status = 413), (status = 422),
    ),
    security(("api_key" = []))
)]
async fn request_review(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    axum::extract::Path(case_id): axum::extract::Path<String>,
    ApiJson(input): ApiJson<crate::reviews::ReviewRequestInput>,
) -> Result<impl IntoResponse, IntakeError> {
    let review = state.intake.request_review(&principal, &case_id, input).await?;
    Ok((axum::http::StatusCode::CREATED, Json(review)))
}

/// A petition's reviews (复查, then 复核), each with its deadline and decision.
#[utoipa::path(
    get, path = "/v1/petitions/{case_id}/reviews",
    params(("case_id" = String, Path, description = "the petition's case id")),
    responses((status = 200, body = Vec<crate::reviews::ReviewView>), (status = 401), (status = 403), (status = 404)),
    security(("api_key" = []))
)]
async fn reviews(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    axum::extract::Path(case_id): axum::extract::Path<String>,
) -> Result<Json<Vec<crate::reviews::ReviewView>>, IntakeError> {
    Ok(Json(state.intake.reviews(&principal, &case_id).await?))
}

/// The reviewing body decides a 复查 or 复核: upheld, changed or revoked, with its written
/// opinion. After a decided 复核 the same facts are not accepted again.
#[utoipa::path(
    post, path = "/v1/petitions/{case_id}/reviews/{level}/decision", request_body = crate::reviews::ReviewDecisionInput,
    params(
        ("case_id" = String, Path, description = "the petition's case id"),
        ("level" = String, Path, pattern = "^(review|re_review)$", description = "review | re_review"),
    ),
    responses(
        (status = 200, body = crate::reviews::ReviewView), (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "already decided"), (status = 413), (status = 422),
    ),
    security(("api_key" = []))
)]
async fn decide_review(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    axum::extract::Path((case_id, level)): axum::extract::Path<(String, String)>,
    ApiJson(input): ApiJson<crate::reviews::ReviewDecisionInput>,
) -> Result<Json<crate::reviews::ReviewView>, IntakeError> {
    Ok(Json(state.intake.decide_review(&principal, &case_id, &level, input).await?))
}

/// Register a petition (letter, visit, online complaint, leader mailbox). The petition number
/// is the idempotency key.
#[utoipa::path(
    post, path = "/v1/petitions", request_body = PetitionInput,
    responses(
        (status = 201, body = CaseView), (status = 200, body = CaseView),
        (status = 400), (status = 401), (status = 403), (status = 409), (status = 413), (status = 422),
    ),
    security(("api_key" = []))
)]
async fn submit_petition(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiJson(petition): ApiJson<PetitionInput>,
) -> Result<impl IntoResponse, IntakeError> {
    let (case, is_new) = state.intake.submit_petition(&principal, petition).await?;
    Ok(created(case, is_new))
}

/// Cases by period, source, channel, category, kind, status and sub-district, oldest first,
/// with cursor pagination.
#[utoipa::path(
    get, path = "/v1/cases", params(CaseFilter),
    responses((status = 200, body = CasePage), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn list_cases(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiQuery(filter): ApiQuery<CaseFilter>,
) -> Result<Json<CasePage>, IntakeError> {
    Ok(Json(state.intake.list_cases(&principal, filter).await?))
}

/// A case, with citizen data masked; a unit handler sees only its unit's cases.
#[utoipa::path(
    get, path = "/v1/cases/{case_id}", params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseView), (status = 401), (status = 403), (status = 404)),
    security(("api_key" = []))
)]
async fn get_case(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(case_id): Path<String>,
) -> Result<Json<CaseView>, IntakeError> {
    Ok(Json(state.intake.get_case(&principal, &case_id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevealRequest {
    /// Why the clear data is needed (logged), 4 to 500 characters.
    #[schema(min_length = 4, max_length = 500, pattern = "^\\s*\\S[\\s\\S]{2,}\\S\\s*$")]
    reason: String,
}

/// The citizen's clear name, phone and ID number, for a role that may see them. Every reveal
/// is logged with who and why.
#[utoipa::path(
    post, path = "/v1/cases/{case_id}/reveal", request_body = RevealRequest,
    params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = RevealedCitizen), (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("api_key" = []))
)]
async fn reveal(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(case_id): Path<String>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> Result<Json<RevealedCitizen>, IntakeError> {
    Ok(Json(state.intake.reveal_citizen(&principal, &case_id, &body.reason).await?))
}

/// The reveal log of a case: who saw the citizen's clear data, when and why.
#[utoipa::path(
    get, path = "/v1/cases/{case_id}/reveals",
    params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = [RevealRecord]), (status = 401), (status = 403), (status = 404)),
    security(("api_key" = []))
)]
async fn reveal_log(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(case_id): Path<String>,
) -> Result<Json<Vec<RevealRecord>>, IntakeError> {
    Ok(Json(state.intake.reveal_log(&principal, &case_id).await?))
}

/// Flag a case as a threat (扬言); it goes on the watch ledger.
#[utoipa::path(
    post, path = "/v1/cases/{case_id}/threat", request_body = ThreatFlag,
    params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = WatchItem), (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("api_key" = []))
)]
async fn flag_threat(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(case_id): Path<String>,
    ApiJson(flag): ApiJson<ThreatFlag>,
) -> Result<Json<WatchItem>, IntakeError> {
    Ok(Json(state.intake.flag_threat(&principal, &case_id, flag).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct WatchQuery {
    /// open | in_progress | resolved
    #[param(pattern = "^(open|in_progress|resolved)$")]
    status: Option<String>,
    /// collective_visit | joint_letter | repeat_visit | threat
    #[param(pattern = "^(collective_visit|joint_letter|repeat_visit|threat)$")]
    reason: Option<String>,
}

/// The watch ledger (动态台账), newest first.
#[utoipa::path(
    get, path = "/v1/watch", params(WatchQuery),
    responses((status = 200, body = [WatchItem]), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn watch(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiQuery(q): ApiQuery<WatchQuery>,
) -> Result<Json<Vec<WatchItem>>, IntakeError> {
    Ok(Json(state.intake.watch_items(&principal, q.status, q.reason).await?))
}

/// Move a watch-ledger item on, with what was done.
#[utoipa::path(
    patch, path = "/v1/watch/{watch_id}", request_body = WatchUpdate,
    params(("watch_id" = String, Path, description = "watch item id")),
    responses((status = 200, body = WatchItem), (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("api_key" = []))
)]
async fn update_watch(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path(watch_id): Path<String>,
    ApiJson(update): ApiJson<WatchUpdate>,
) -> Result<Json<WatchItem>, IntakeError> {
    Ok(Json(state.intake.update_watch_item(&principal, &watch_id, update).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    /// Period start, RFC 3339, inclusive.
    #[param(required = true, format = DateTime)]
    from: Option<String>,
    /// Period end, RFC 3339, exclusive; after `from`.
    #[param(required = true, format = DateTime)]
    to: Option<String>,
    /// hotline | petition (petition when absent)
    #[param(pattern = "^(hotline|petition)$")]
    source: Option<String>,
}

fn period(q: &PeriodQuery) -> Result<(DateTime<Utc>, DateTime<Utc>), Problem> {
    caseflow_runtime::time::period(q.from.as_deref(), q.to.as_deref()).map_err(Problem::invalid)
}

/// Persons with two or more cases in the period, most first; names masked.
#[utoipa::path(
    get, path = "/v1/repeat-petitioners", params(PeriodQuery),
    responses((status = 200, body = [RepeatPetitioner]), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn repeat_petitioners(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<Vec<RepeatPetitioner>>, IntakeError> {
    let (from, to) = period(&q)?;
    let source = q.source.clone().unwrap_or_else(|| "petition".into());
    Ok(Json(state.intake.repeat_petitioners(&principal, from, to, source).await?))
}

/// Record a leader reception (领导接访), once per reception number.
#[utoipa::path(
    post, path = "/v1/leader-receptions", request_body = ReceptionInput,
    responses((status = 201, body = ReceptionView), (status = 200, body = ReceptionView), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("api_key" = []))
)]
async fn record_reception(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiJson(input): ApiJson<ReceptionInput>,
) -> Result<impl IntoResponse, IntakeError> {
    let (view, is_new) = state.intake.record_reception(&principal, input).await?;
    Ok((if is_new { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// Leader receptions held in the period, with the bulletin's totals.
#[utoipa::path(
    get, path = "/v1/leader-receptions", params(PeriodQuery),
    responses((status = 200, body = ReceptionSummary), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn receptions(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<ReceptionSummary>, IntakeError> {
    let (from, to) = period(&q)?;
    Ok(Json(state.intake.receptions(&principal, from, to).await?))
}

/// Change one reception matter's outcome.
#[utoipa::path(
    patch, path = "/v1/leader-receptions/{reception_id}/matters/{ordinal}", request_body = OutcomeUpdate,
    params(("reception_id" = String, Path, description = "reception id"), ("ordinal" = i32, Path, description = "matter number, from 1")),
    responses((status = 200, body = ReceptionView), (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("api_key" = []))
)]
async fn update_outcome(
    State(state): State<RestState>,
    Authenticated(principal): Authenticated,
    Path((reception_id, ordinal)): Path<(String, i32)>,
    ApiJson(update): ApiJson<OutcomeUpdate>,
) -> Result<Json<ReceptionView>, IntakeError> {
    Ok(Json(state.intake.update_reception_outcome(&principal, &reception_id, ordinal, update).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct TaxonomyView {
    taxonomy: TaxonomyFile,
    district: DistrictFile,
}

/// The case taxonomy and the district's sub-districts that cases must use.
#[utoipa::path(get, path = "/v1/taxonomy", responses((status = 200, body = TaxonomyView), (status = 401)), security(("api_key" = [])))]
async fn taxonomy(State(state): State<RestState>, _caller: Authenticated) -> Json<TaxonomyView> {
    let policy = state.intake.policy();
    Json(TaxonomyView { taxonomy: policy.taxonomy.clone(), district: policy.district.clone() })
}

async fn openapi(State(state): State<RestState>) -> Json<serde_json::Value> {
    Json(document(state.intake.policy()))
}

/// The OpenAPI document as this deployment runs it: the codes the district's policy allows
/// (level-2 categories, sub-districts) are the fields' enums, and its coordinate box their
/// bounds, so a client generated from it sends only what the server takes.
pub fn document(policy: &Policy) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    let leaves: Vec<&str> = policy.leaf_codes().collect();
    let sub_districts: Vec<&str> = policy.sub_district_codes().collect();
    let schemas = &mut doc["components"]["schemas"];
    for schema in ["OrderInput", "PetitionInput", "MatterInput"] {
        schemas[schema]["properties"]["category"]["enum"] = json!(leaves);
    }
    schemas["LocationInput"]["properties"]["sub_district"]["enum"] = json!(sub_districts);
    if let Some(b) = policy.district.bounds {
        let coordinates = &mut schemas["Coordinates"]["properties"];
        coordinates["lat"]["minimum"] = json!(b.south);
        coordinates["lat"]["maximum"] = json!(b.north);
        coordinates["lon"]["minimum"] = json!(b.west);
        coordinates["lon"]["maximum"] = json!(b.east);
    }
    let mut categories: Vec<&str> = leaves.clone();
    categories.extend(policy.level1_codes());
    categories.sort_unstable();
    if let Some(parameters) = doc["paths"]["/v1/cases"]["get"]["parameters"].as_array_mut() {
        for parameter in parameters {
            let values = match parameter["name"].as_str() {
                Some("category") => json!(categories),
                Some("sub_district") => json!(sub_districts),
                _ => continue,
            };
            parameter["schema"]["enum"] = values;
        }
    }
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Caseflow intake", description = "Takes in 12345 hotline work orders and petitions, exactly once, with the citizen's data protected."),
    paths(
        submit_order, submit_petition, decide_petition, request_review, reviews, decide_review, list_cases, get_case, reveal, reveal_log, flag_threat, watch, update_watch,
        repeat_petitioners, record_reception, receptions, update_outcome, taxonomy
    ),
    components(schemas(
        OrderInput, PetitionInput, crate::input::DecisionInput, crate::reviews::ReviewRequestInput,
        crate::reviews::ReviewDecisionInput, crate::reviews::ReviewView,
        crate::decisions::DecisionView, VisitInput, JointLetterInput, LocationInput, Coordinates, CitizenInput, MatterInput,
        CaseView, CitizenView, LocationView, MatterView, PetitionView, CasePage, RevealRequest, RevealedCitizen, RevealRecord,
        WatchItem, WatchUpdate, ThreatFlag, RepeatPetitioner,
        ReceptionInput, ReceptionMatterInput, OutcomeUpdate, ReceptionView, ReceptionMatterView, ReceptionSummary,
        TaxonomyView, TaxonomyFile, Category, Subcategory, DistrictFile, SubDistrict
    )),
    modifiers(&ApiContract)
)]
pub struct ApiDoc;
