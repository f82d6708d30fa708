//! Routing's REST edge: the unit handler's inbox and actions, the dispatcher's decisions, the
//! registry and catalog, and each case's dispatches and routing log, with `/openapi.json`.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::ApiContract;
use caseflow_runtime::rest::{ApiJson, ApiQuery, Authenticated};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::actions::{ExtensionView, ReturnView};
use crate::catalog::{CatalogEntry, Overlap};
use crate::error::RoutingError;
use crate::inputs::{
    Decision, Designation, ExtensionInput, LandInput, LongText, ReturnInput, ReviewInput, ShortText, TextInput,
    UnitChoice, UnitSuccession,
};
use crate::lifecycle::ContactRecord;
use crate::registry::{UnitEntry, UnitKind};
use crate::scanner::ScanReport;
use crate::service::{Deadlines, DispatchView, LogEntry, MatterView, NextDue, Routing};
use crate::suggest::ModelView;
use crate::suggest::accuracy::{Figures, MethodAccuracy};
use crate::suggest::advice::{HistoryNote, Suggestion};
use crate::suggest::contradictions::{Contradiction, ContradictionReport, Resolver};
use crate::suggestions::{AccuracyReport, Suggestions};

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

type S = State<RestState>;
type A = Authenticated;
type Res<T> = Result<Json<T>, RoutingError>;

pub fn router(state: RestState) -> Router {
    Router::new()
        .route("/v1/units", get(units))
        .route("/v1/units/{code}/succession", post(succeed_unit))
        .route("/v1/catalog", get(catalog))
        .route("/v1/catalog/overlaps", get(overlaps))
        .route("/v1/catalog/contradictions", get(catalog_contradictions))
        .route("/v1/inbox", get(inbox))
        .route("/v1/cases/{case_id}/dispatches", get(case_dispatches))
        .route("/v1/cases/{case_id}/log", get(case_log))
        .route("/v1/dispatches/{id}", get(get_dispatch))
        .route("/v1/dispatches/{id}/acknowledge", post(acknowledge))
        .route("/v1/dispatches/{id}/land", post(land))
        .route("/v1/dispatches/{id}/reply", post(reply))
        .route("/v1/dispatches/{id}/case-analysis", post(case_analysis))
        .route("/v1/dispatches/{id}/returns", post(request_return))
        .route("/v1/dispatches/{id}/extensions", post(request_extension))
        .route("/v1/dispatches/{id}/review", post(review))
        .route("/v1/dispatches/{id}/resolve", post(resolve))
        .route("/v1/dispatches/{id}/transfer", post(transfer))
        .route("/v1/dispatches/{id}/supervision", post(supervise))
        .route("/v1/dispatches/{id}/rehandle", post(rehandle))
        .route("/v1/returns/{id}/decision", post(decide_return))
        .route("/v1/extensions/{id}/decision", post(decide_extension))
        .route("/v1/matters/{id}/designation", post(designate))
        .route("/v1/matters/{id}/assignment", post(assign))
        .route("/v1/matters/{id}/assists", post(add_assist))
        .route("/v1/matters/{id}", get(matter))
        .route("/v1/matters/{id}/returns", get(matter_returns))
        .route("/v1/matters/{id}/suggestions", get(matter_suggestions))
        .route("/v1/suggester", get(suggester_model))
        .route("/v1/suggester/training", post(train_suggester))
        .route("/v1/suggester/accuracy", get(suggester_accuracy))
        .route("/v1/scanner/run", post(run_scanner))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// The unit registry (承办单位), departments first, then sub-districts.
#[utoipa::path(get, path = "/v1/units", responses((status = 200, body = [UnitEntry]), (status = 401)), security(("api_key" = [])))]
async fn units(State(s): S, Authenticated(p): A) -> Json<Vec<UnitEntry>> {
    Json(s.routing.units(&p))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Moved {
    dispatches_moved: usize,
}

/// A unit merged or abolished: its open dispatches move to the successor, each logged.
#[utoipa::path(post, path = "/v1/units/{code}/succession", request_body = UnitSuccession, params(("code" = String, Path, description = "unit code")),
    responses((status = 200, body = Moved), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn succeed_unit(
    State(s): S,
    Authenticated(p): A,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<UnitSuccession>,
) -> Res<Moved> {
    Ok(Json(Moved { dispatches_moved: s.routing.succeed_unit(&p, &code, b).await? }))
}

/// The responsibility catalog (权责清单).
#[utoipa::path(get, path = "/v1/catalog", responses((status = 200, body = [CatalogEntry]), (status = 401)), security(("api_key" = [])))]
async fn catalog(State(s): S, _caller: A) -> Json<Vec<CatalogEntry>> {
    Json(s.routing.rules().catalog.entries().to_vec())
}

/// Catalog entries that can claim the same matter.
#[utoipa::path(get, path = "/v1/catalog/overlaps", responses((status = 200, body = [Overlap]), (status = 401)), security(("api_key" = [])))]
async fn overlaps(State(s): S, _caller: A) -> Json<Vec<Overlap>> {
    Json(s.routing.rules().catalog.overlaps())
}

/// The unit handler's open dispatches with their deadlines and what is due next.
#[utoipa::path(get, path = "/v1/inbox", responses((status = 200, body = [DispatchView]), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn inbox(State(s): S, Authenticated(p): A) -> Res<Vec<DispatchView>> {
    Ok(Json(s.routing.inbox(&p).await?))
}

/// Every dispatch of a case.
#[utoipa::path(get, path = "/v1/cases/{case_id}/dispatches", params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = [DispatchView]), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn case_dispatches(State(s): S, Authenticated(p): A, Path(case_id): Path<String>) -> Res<Vec<DispatchView>> {
    Ok(Json(s.routing.case_dispatches(&p, &case_id).await?))
}

/// The append-only routing log of a case: who, when, what, why, and the evidence.
#[utoipa::path(get, path = "/v1/cases/{case_id}/log", params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = [LogEntry]), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn case_log(State(s): S, Authenticated(p): A, Path(case_id): Path<String>) -> Res<Vec<LogEntry>> {
    Ok(Json(s.routing.case_log(&p, &case_id).await?))
}

/// One dispatch.
#[utoipa::path(get, path = "/v1/dispatches/{id}", params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 404)), security(("api_key" = [])))]
async fn get_dispatch(State(s): S, Authenticated(p): A, Path(id): Path<String>) -> Res<DispatchView> {
    Ok(Json(s.routing.dispatch(&p, &id).await?))
}

/// The unit saw the dispatch (签收).
#[utoipa::path(post, path = "/v1/dispatches/{id}/acknowledge", params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 404), (status = 409)), security(("api_key" = [])))]
async fn acknowledge(State(s): S, Authenticated(p): A, Path(id): Path<String>) -> Res<DispatchView> {
    Ok(Json(s.routing.acknowledge(&p, &id).await?))
}

/// The unit contacted the citizen or visited the site (落地).
#[utoipa::path(post, path = "/v1/dispatches/{id}/land", request_body = LandInput, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn land(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<LandInput>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.land(&p, &id, b).await?))
}

/// The unit's reply (答复); for an assisting unit, its input to the lead.
#[utoipa::path(post, path = "/v1/dispatches/{id}/reply", request_body = LongText, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn reply(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TextInput>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.reply(&p, &id, b).await?))
}

/// The case analysis (一事一分析) a single-visit matter needs before resolution.
#[utoipa::path(post, path = "/v1/dispatches/{id}/case-analysis", request_body = LongText, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn case_analysis(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TextInput>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.file_case_analysis(&p, &id, b).await?))
}

/// Ask to return a dispatch (退件), with the evidence the rules require.
#[utoipa::path(post, path = "/v1/dispatches/{id}/returns", request_body = ReturnInput, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 201, body = ReturnView), (status = 401), (status = 403), (status = 409, description = "refused by a rule: window, cap, designated"), (status = 422, description = "evidence missing")),
    security(("api_key" = [])))]
async fn request_return(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReturnInput>,
) -> Result<(StatusCode, Json<ReturnView>), RoutingError> {
    Ok((StatusCode::CREATED, Json(s.routing.request_return(&p, &id, b).await?)))
}

/// Ask for more time (延期), before the deadline, with the progress so far.
#[utoipa::path(post, path = "/v1/dispatches/{id}/extensions", request_body = ExtensionInput, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 201, body = ExtensionView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn request_extension(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ExtensionInput>,
) -> Result<(StatusCode, Json<ExtensionView>), RoutingError> {
    Ok((StatusCode::CREATED, Json(s.routing.request_extension(&p, &id, b).await?)))
}

/// The dispatcher's review of a reply: accept, or send back for re-handling (重办).
#[utoipa::path(post, path = "/v1/dispatches/{id}/review", request_body = ReviewInput, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn review(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReviewInput>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.review(&p, &id, b).await?))
}

/// Resolve the matter (办结) with its reviewed reply.
#[utoipa::path(post, path = "/v1/dispatches/{id}/resolve", params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409)), security(("api_key" = [])))]
async fn resolve(State(s): S, Authenticated(p): A, Path(id): Path<String>) -> Res<DispatchView> {
    Ok(Json(s.routing.resolve(&p, &id).await?))
}

/// A dispatcher moves the matter to another unit (转办).
#[utoipa::path(post, path = "/v1/dispatches/{id}/transfer", request_body = UnitChoice, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn transfer(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UnitChoice>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.transfer(&p, &id, b).await?))
}

/// Open a supervision item (督办).
#[utoipa::path(post, path = "/v1/dispatches/{id}/supervision", request_body = ShortText, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn supervise(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TextInput>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.supervise(&p, &id, b).await?))
}

/// Re-open a resolved dispatch for re-handling after an unsatisfied rating.
#[utoipa::path(post, path = "/v1/dispatches/{id}/rehandle", request_body = ShortText, params(("id" = String, Path, description = "dispatch id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409)), security(("api_key" = [])))]
async fn rehandle(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TextInput>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.rehandle(&p, &id, b).await?))
}

/// Approve (to the proposed unit or the dispatcher's choice) or reject a return.
#[utoipa::path(post, path = "/v1/returns/{id}/decision", request_body = Decision, params(("id" = String, Path, description = "return request id")),
    responses((status = 200, body = ReturnView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn decide_return(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Decision>,
) -> Res<ReturnView> {
    Ok(Json(s.routing.decide_return(&p, &id, b).await?))
}

/// Approve or refuse an extension.
#[utoipa::path(post, path = "/v1/extensions/{id}/decision", request_body = Decision, params(("id" = String, Path, description = "extension request id")),
    responses((status = 200, body = ExtensionView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn decide_extension(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Decision>,
) -> Res<ExtensionView> {
    Ok(Json(s.routing.decide_extension(&p, &id, b).await?))
}

/// Arbitration: designate the unit (指定), with reason and basis.
#[utoipa::path(post, path = "/v1/matters/{id}/designation", request_body = Designation, params(("id" = String, Path, description = "matter id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn designate(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UnitChoice>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.designate(&p, &id, b).await?))
}

/// Dispatch a matter waiting in triage.
#[utoipa::path(post, path = "/v1/matters/{id}/assignment", request_body = UnitChoice, params(("id" = String, Path, description = "matter id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn assign(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UnitChoice>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.assign(&p, &id, b).await?))
}

/// Add an assisting unit (协办); the lead gives one combined reply.
#[utoipa::path(post, path = "/v1/matters/{id}/assists", request_body = UnitChoice, params(("id" = String, Path, description = "matter id")),
    responses((status = 200, body = DispatchView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn add_assist(
    State(s): S,
    Authenticated(p): A,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UnitChoice>,
) -> Res<DispatchView> {
    Ok(Json(s.routing.add_assist(&p, &id, b).await?))
}

/// A matter's clock (deadlines from the case's receipt), state and return count.
#[utoipa::path(get, path = "/v1/matters/{id}", params(("id" = String, Path, description = "matter id")),
    responses((status = 200, body = MatterView), (status = 401), (status = 403), (status = 404)), security(("api_key" = [])))]
async fn matter(State(s): S, Authenticated(p): A, Path(id): Path<String>) -> Res<MatterView> {
    Ok(Json(s.routing.matter(&p, &id).await?))
}

/// A matter's return requests with their outcome, wrongful returns and the days they cost.
#[utoipa::path(get, path = "/v1/matters/{id}/returns", params(("id" = String, Path, description = "matter id")),
    responses((status = 200, body = [ReturnView]), (status = 401), (status = 403), (status = 404)), security(("api_key" = [])))]
async fn matter_returns(State(s): S, Authenticated(p): A, Path(id): Path<String>) -> Res<Vec<ReturnView>> {
    Ok(Json(s.routing.matter_returns(&p, &id).await?))
}

/// Run one scan now: reminders due, supervision of overdue dispatches, escalations.
#[utoipa::path(post, path = "/v1/scanner/run", responses((status = 200, body = ScanReport), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn run_scanner(State(s): S, Authenticated(p): A) -> Res<ScanReport> {
    Ok(Json(s.routing.scan(&p).await?))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The units history says finally resolve matters like this one, at most three, with the
/// evidence and the model they come from. The dispatcher decides; nothing is assigned.
#[utoipa::path(
    get, path = "/v1/matters/{id}/suggestions",
    responses((status = 200, body = Suggestions), (status = 401), (status = 403), (status = 404)),
    security(("api_key" = []))
)]
async fn matter_suggestions(State(s): S, Authenticated(p): A, Path(id): Path<String>) -> Res<Suggestions> {
    Ok(Json(s.routing.suggestions(&p, &id).await?))
}

/// The suggester's model in use.
#[utoipa::path(
    get, path = "/v1/suggester",
    responses((status = 200, body = ModelView), (status = 401), (status = 403)),
    security(("api_key" = []))
)]
async fn suggester_model(State(s): S, Authenticated(p): A) -> Res<ModelView> {
    Ok(Json(s.routing.suggester_model(&p).await?))
}

/// Retrains the suggester from the matters resolved in the last year, now.
#[utoipa::path(
    post, path = "/v1/suggester/training",
    responses((status = 200, body = ModelView), (status = 401), (status = 403)),
    security(("api_key" = []))
)]
async fn train_suggester(State(s): S, Authenticated(p): A) -> Res<ModelView> {
    Ok(Json(s.routing.train_suggester(&p).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    /// Matters received from, RFC 3339, inclusive.
    #[param(required = true, format = DateTime)]
    from: Option<String>,
    /// Until, RFC 3339, exclusive; after `from`, and at most 366 days after it.
    #[param(required = true, format = DateTime)]
    to: Option<String>,
}

/// Catalog entries that history contradicts: the entry's unit handed on (returned or
/// transferred) more than half of at least 5 matters received in the period that the entry
/// gave it. Beside each, who resolved them.
#[utoipa::path(
    get, path = "/v1/catalog/contradictions", params(PeriodQuery),
    responses((status = 200, body = ContradictionReport), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn catalog_contradictions(
    State(s): S,
    Authenticated(p): A,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Res<ContradictionReport> {
    let (from, to) =
        caseflow_runtime::time::period(q.from.as_deref(), q.to.as_deref()).map_err(RoutingError::Invalid)?;
    Ok(Json(s.routing.catalog_contradictions(&p, from, to).await?))
}

/// First-assignment accuracy for the matters received in a period: how often the platform's
/// choice, the catalog's, the first dispatch and the suggester (trained for each matter only on
/// matters resolved before it arrived) chose the unit that finally resolved it.
#[utoipa::path(
    get, path = "/v1/suggester/accuracy", params(PeriodQuery),
    responses((status = 200, body = AccuracyReport), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = []))
)]
async fn suggester_accuracy(
    State(s): S,
    Authenticated(p): A,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Res<AccuracyReport> {
    let (from, to) =
        caseflow_runtime::time::period(q.from.as_deref(), q.to.as_deref()).map_err(RoutingError::Invalid)?;
    Ok(Json(s.routing.suggester_accuracy(&p, from, to).await?))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Caseflow routing", description = "Dispatch, deadlines, and the rules on return and transfer that stop cases bouncing."),
    paths(
        units, succeed_unit, catalog, overlaps, inbox, case_dispatches, case_log, get_dispatch, acknowledge, land, reply,
        case_analysis, request_return, request_extension, review, resolve, transfer, supervise, rehandle, decide_return,
        decide_extension, designate, assign, add_assist, matter, matter_returns, run_scanner,
        matter_suggestions, suggester_model, train_suggester, suggester_accuracy, catalog_contradictions
    ),
    components(schemas(
        UnitEntry, UnitKind, UnitSuccession, Moved, MatterView, ScanReport, CatalogEntry, Overlap, DispatchView, Deadlines, NextDue, LogEntry,
        LandInput, LongText, ShortText, Designation, ReturnInput, ContactRecord, ExtensionInput, ReviewInput, Decision, UnitChoice, ReturnView, ExtensionView,
        Suggestions, Suggestion, HistoryNote, ModelView, AccuracyReport, Figures, MethodAccuracy,
        ContradictionReport, Contradiction, Resolver
    )),
    modifiers(&ApiContract)
)]
pub struct ApiDoc;
