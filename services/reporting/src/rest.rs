//! Reporting's REST edge for the efficiency office, with `/openapi.json`.

use std::collections::HashMap;

use axum::extract::{FromRef, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::ApiContract;
use caseflow_runtime::rest::Authenticated;
use caseflow_runtime::{ErrorKind, FieldViolation, Problem};
use chrono::{DateTime, Utc};
use utoipa::OpenApi;

use crate::attachments::{Attachment1, Attachment2, Attachment3, HotlineRow, PetitionRow, RankRow};
use crate::bounce::{BounceReport, BounceRow};
use crate::cells::{CellQuery, CellRow, CellRows};
use crate::projector::{ReadModelStatus, StreamPosition};
use crate::reconcile::{CellFinding, Reconciliation};
use crate::reports::{Reports, UnitCount, UnitCounts};
use crate::summary::{
    BelowTargets, CollectiveVisits, Count, Evaluated, EvaluationFigures, Growth, HotTopics, LateUnit, Receptions,
    RepeatPetitioner, Share, SingleVisit, Summary,
};
use crate::upload::{self, Bounds, UploadRefused};

#[derive(Clone)]
pub struct RestState {
    pub reports: Reports,
    pub projector: crate::projector::Projector,
    pub keys: KeyStore,
    pub clock: caseflow_runtime::SharedClock,
    /// The console's sessions and single sign-on.
    pub console: crate::console::sso::ConsoleConfig,
}

impl FromRef<RestState> for KeyStore {
    fn from_ref(state: &RestState) -> Self {
        state.keys.clone()
    }
}

pub fn router(state: RestState) -> Router {
    let console = crate::console::router(state.clone());
    Router::new()
        .route("/v1/reports/unit-counts", get(unit_counts))
        .route("/v1/reports/attachment-1", get(attachment_1))
        .route("/v1/reports/attachment-2", get(attachment_2))
        .route("/v1/reports/attachment-3", get(attachment_3))
        .route("/v1/reports/attachments.xlsx", get(workbook))
        .route("/v1/reports/bounce", get(bounce))
        .route("/v1/reports/cells", get(cells))
        .route("/v1/reports/summary", get(summary))
        .route("/v1/reports/bulletin", get(bulletin))
        .route("/v1/reports/reconciliation", axum::routing::post(reconcile))
        .route("/v1/read-model", get(read_model))
        .route("/v1/read-model/rebuild", axum::routing::post(rebuild))
        .route("/openapi.json", get(openapi))
        .with_state(state)
        .merge(console)
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
        ("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"),
        ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"),
        ("source" = Option<String>, Query, pattern = "^(hotline|petition)$", description = "hotline (default) or petition"),
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

fn optional_time(
    params: &HashMap<String, String>,
    name: &str,
    errors: &mut Vec<FieldViolation>,
) -> Option<DateTime<Utc>> {
    params.get(name)?;
    timestamp(params, name, errors)
}

pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
}

/// The period and moment a report is asked for (`from`, `to`, `as_of` defaulting to now).
pub fn period(params: &HashMap<String, String>, now: DateTime<Utc>) -> Result<Period, Problem> {
    let mut errors = Vec::new();
    let from = timestamp(params, "from", &mut errors);
    let to = timestamp(params, "to", &mut errors);
    let as_of = optional_time(params, "as_of", &mut errors).unwrap_or(now);
    match (from, to) {
        (Some(from), Some(to)) if errors.is_empty() => Ok(Period { from, to, as_of }),
        _ => Err(Problem::invalid(errors)),
    }
}

/// Renders `kind` as the query asks (format, group, source), for any edge that serves documents.
pub(crate) async fn rendered(
    state: &RestState,
    p: &caseflow_runtime::Principal,
    params: &HashMap<String, String>,
    kind: &str,
) -> Result<Response, Problem> {
    let get = |k: &str| params.get(k).map(String::as_str);
    let parsed = crate::document::parse(kind, get("format"), get("group"), get("source"));
    let q = period(params, state.clock.now());
    let masthead = crate::document::MastheadParams::parse(get("issuer"), get("number"), get("date"));
    // Every bad parameter is named at once.
    let mut violations = Vec::new();
    if let Err(e) = &parsed {
        violations.extend(e.violations.iter().cloned());
    }
    if let Err(e) = &q {
        violations.extend(e.violations.iter().cloned());
    }
    if let Err(v) = &masthead {
        violations.extend(v.iter().cloned());
    }
    let ((kind, format, group, source), q, masthead) = match (parsed, q, masthead) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) if violations.is_empty() => return Err(e),
        _ => return Err(Problem::invalid(violations)),
    };
    let reveal_reason = params.get("reveal_reason").cloned();
    let query = crate::document::Query {
        kind,
        format,
        from: q.from,
        to: q.to,
        as_of: q.as_of,
        source,
        group,
        reveal_reason,
        masthead,
    };
    let doc = state.reports.document(p, &query).await?;
    let disposition = if doc.content_type.starts_with("application/json") {
        "inline".to_owned()
    } else {
        format!("attachment; filename=\"{}\"", doc.filename)
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, doc.content_type.to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        doc.body,
    )
        .into_response())
}

/// 附件1: petitions per unit (departments, then sub-districts): due, expired, participation,
/// satisfied, basic, unsatisfied, satisfaction. `format=csv` for CSV.
#[utoipa::path(get, path = "/v1/reports/attachment-1",
    params(("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "json (default) | csv"), ("group" = Option<String>, Query, pattern = "^(department|sub_district)$", description = "department | sub_district: one section")),
    responses((status = 200, description = "the attachment: JSON, or CSV with `format=csv`", content((Attachment1 = "application/json"), (String = "text/csv"))), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn attachment_1(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "attachment-1").await
}

/// 附件2: hotline dispatches per unit, as of `as_of` (default now). `format=csv` for CSV.
#[utoipa::path(get, path = "/v1/reports/attachment-2",
    params(("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("as_of" = Option<String>, Query, format = DateTime, description = "moment the figures are as of, RFC 3339; now when absent"), ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "json (default) | csv"), ("group" = Option<String>, Query, pattern = "^(department|sub_district)$", description = "department | sub_district: one section")),
    responses((status = 200, description = "the attachment: JSON, or CSV with `format=csv`", content((Attachment2 = "application/json"), (String = "text/csv"))), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn attachment_2(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "attachment-2").await
}

/// 附件3: the ranking by hotline satisfaction; ties go to the unit with more received.
#[utoipa::path(get, path = "/v1/reports/attachment-3",
    params(("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("as_of" = Option<String>, Query, format = DateTime, description = "moment the figures are as of, RFC 3339; now when absent"), ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "json (default) | csv"), ("group" = Option<String>, Query, pattern = "^(department|sub_district)$", description = "department | sub_district: one section")),
    responses((status = 200, description = "the attachment: JSON, or CSV with `format=csv`", content((Attachment3 = "application/json"), (String = "text/csv"))), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn attachment_3(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "attachment-3").await
}

/// The three attachments as one XLSX workbook laid out like the bulletin's (one sheet each,
/// Chinese headers, department and sub-district sections, percentages formatted as such).
#[utoipa::path(get, path = "/v1/reports/attachments.xlsx",
    params(("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("as_of" = Option<String>, Query, format = DateTime, description = "moment the figures are as of, RFC 3339; now when absent")),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = [])))]
async fn workbook(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "workbook").await
}

/// Bounce figures per unit: first-assignment share, returns asked/approved/rejected, wrongful
/// returns and the days they cost, re-handlings, days matters spent elsewhere.
#[utoipa::path(get, path = "/v1/reports/bounce",
    params(("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now")),
    responses((status = 200, body = BounceReport), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn bounce(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "bounce").await
}

/// Upload the office's own attachment tables (CSV, or an XLSX workbook, in the bulletin's
/// layout: attachments 1, 2 and 3 are told apart by their header rows) and get back, cell by
/// cell, what contradicts its own row (or the other tables of the upload) and what differs
/// from the event data for the same period. `kind`, when given, must be one of the tables found.
#[utoipa::path(post, path = "/v1/reports/reconciliation",
    request_body(content = String, content_type = "text/csv", description = "CSV, or an XLSX workbook (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)"),
    params(("kind" = Option<String>, Query, pattern = "^(attachment-1|attachment-2|attachment-3)$", description = "attachment-1 | attachment-2 | attachment-3"), ("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("as_of" = Option<String>, Query, format = DateTime, description = "moment the figures are as of, RFC 3339; now when absent")),
    responses((status = 200, body = Reconciliation), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn reconcile(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Reconciliation>, Problem> {
    // Who may upload is settled before a byte of the body is read.
    Reports::authorize_reader(&p)?;
    let q = period(&params, state.clock.now())?;
    let kind = params.get("kind").map(String::as_str);
    if let Some(k) = kind
        && !["attachment-1", "attachment-2", "attachment-3"].contains(&k)
    {
        return Err(Problem::field("kind", format!("'{k}' is not one of attachment-1, attachment-2, attachment-3")));
    }
    let bounds = Bounds::DEFAULT;
    let body = axum::body::to_bytes(body, bounds.body_bytes).await.map_err(|_| {
        Problem::new(
            ErrorKind::PayloadTooLarge,
            format!("the upload exceeds the bound body_bytes = {}", bounds.body_bytes),
        )
        .with_rule("upload.body_bytes")
    })?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let xlsx = content_type.contains("spreadsheetml") || body.starts_with(b"PK\x03\x04");
    let rows = if xlsx {
        upload::read_xlsx(&body, &bounds).map_err(refused)?
    } else {
        let text = std::str::from_utf8(&body)
            .map_err(|_| Problem::field("body", "CSV must be UTF-8 (an XLSX workbook is read as such)"))?;
        upload::read_csv(text, &bounds).map_err(refused)?
    };
    let result = state.reports.reconcile(&p, &rows, q.from, q.to, q.as_of).await?;
    if let Some(k) = kind
        && !result.tables.iter().any(|t| t == k)
    {
        return Err(Problem::field(
            "kind",
            format!("the upload holds no {k} table (found: {})", result.tables.join(", ")),
        ));
    }
    Ok(Json(result))
}

/// An upload past a bound is 422 naming the bound (`upload.rows`, `upload.member_bytes`, ...).
fn refused(e: UploadRefused) -> Problem {
    let rule = match &e {
        UploadRefused::Exceeds { bound, .. } => format!("upload.{bound}"),
        UploadRefused::Unreadable(_) => "upload.format".to_owned(),
    };
    Problem::field("body", e.to_string()).with_rule(rule)
}

/// The bulletin's narrative figures: total with year-on-year change, channels, categories and
/// kinds with shares, on-time completion and late completions by unit, single-visit figures.
#[utoipa::path(get, path = "/v1/reports/summary",
    params(("source" = String, Query, pattern = "^(hotline|petition)$", description = "hotline | petition"), ("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("reveal_reason" = Option<String>, Query, min_length = 4, max_length = 500, pattern = "^\\s*\\S[\\s\\S]{2,}\\S\\s*$", description = "administrators: reveal repeat petitioners' names (logged by intake with this reason, 4 to 500 characters)")),
    responses((status = 200, body = Summary), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn summary(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "summary").await
}

/// The facts behind one count of an attachment (drill-down): the dispatches (attachments 2
/// and 3), petition evaluations (attachment 1), cases received (`cases`) or the bounce figures'
/// resolutions and returns (`bounce`) the cell counts for the same period, moment,
/// unit and column, paged, citizens masked. `count` equals the figure.
#[utoipa::path(get, path = "/v1/reports/cells",
    params(("report" = String, Query, pattern = "^(attachment-[123]|cases|bounce|moves)$", description = "attachment-1 | attachment-2 | attachment-3 | cases (cases received: the overview's weekly counts and category shares) | bounce (the bounce figures' counts, both sources) | moves (the matters that went from `unit` straight to `next_unit`)"), ("column" = String, Query, description = "attachment-1: due, expired, satisfied, basic, unsatisfied; attachment-2: received, in_progress, completed, overdue_view, overdue_handling, unsatisfied; attachment-3: received, unsatisfied; cases: received; bounce: resolved, resolved_on_first_assignment, returns_asked, returns_approved, returns_rejected, wrongful_returns, history_warnings, history_warnings_handed_on; moves: moved"), ("unit" = Option<String>, Query, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$", description = "the unit's code (attachment 1 also `agency`); absent: every unit (not for unit handlers); not for cases"), ("next_unit" = Option<String>, Query, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$", description = "moves only, and required there (with `unit`): the unit the matters went to next; `triage` for the triage queue"), ("source" = Option<String>, Query, pattern = "^(hotline|petition)$", description = "cases only, and required there: hotline | petition"), ("category" = Option<String>, Query, max_length = 64, pattern = "^[A-Za-z0-9_.]+$", description = "cases only: a category code, or a sub-category `a.b`"), ("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("as_of" = Option<String>, Query, format = DateTime, description = "moment the figures are as of, RFC 3339; now when absent"), ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "page, from 1"), ("per_page" = Option<u32>, Query, minimum = 1, maximum = 200, description = "rows a page, 50 by default")),
    responses((status = 200, body = CellRows), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn cells(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<CellRows>, Problem> {
    let q = cell_query(&params, state.clock.now())?;
    Ok(Json(state.reports.cells(&p, q).await?))
}

/// A drill-down request from query parameters, every bad one named at once.
pub fn cell_query(params: &HashMap<String, String>, now: DateTime<Utc>) -> Result<CellQuery, Problem> {
    let get = |k: &str| params.get(k).map(String::as_str);
    let q = period(params, now);
    let mut violations = match &q {
        Err(e) => e.violations.clone(),
        Ok(_) => Vec::new(),
    };
    let (from, to, as_of) = q.as_ref().map_or((now, now, now), |q| (q.from, q.to, q.as_of));
    let asked = crate::cells::Asked {
        report: get("report"),
        column: get("column"),
        unit: get("unit"),
        next_unit: get("next_unit"),
        source: get("source"),
        category: get("category"),
        page: get("page"),
        per_page: get("per_page"),
    };
    let parsed = CellQuery::parse(asked, from, to, as_of);
    match parsed {
        Ok(c) if violations.is_empty() => Ok(c),
        Ok(_) => Err(Problem::invalid(violations)),
        Err(v) => {
            violations.extend(v);
            Err(Problem::invalid(violations))
        }
    }
}

/// How far the read model has read intake's, routing's and evaluation's streams.
#[utoipa::path(get, path = "/v1/read-model",
    responses((status = 200, body = ReadModelStatus), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn read_model(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
) -> Result<Json<ReadModelStatus>, Problem> {
    Ok(Json(state.projector.status(&p).await?))
}

/// Empties the read model and replays the three streams from their first event (admin). The
/// answer comes once the replay has started; `GET /v1/read-model` shows its progress.
#[utoipa::path(post, path = "/v1/read-model/rebuild",
    responses((status = 202, body = ReadModelStatus), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn rebuild(State(state): State<RestState>, Authenticated(p): Authenticated) -> Result<Response, Problem> {
    let status = state.projector.rebuild(&p).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(status)).into_response())
}

/// The half-year bulletin (信访动态) in the source document's structure, every figure filled
/// from the data: `format=markdown` (default) or `format=html`.
#[utoipa::path(get, path = "/v1/reports/bulletin",
    params(("from" = String, Query, format = DateTime, description = "period start, RFC 3339, inclusive; not before the district's first records"), ("to" = String, Query, format = DateTime, description = "period end, RFC 3339, exclusive; after `from`, at most the report horizon (366 days by default) after now"), ("as_of" = Option<String>, Query, format = DateTime, description = "moment the figures are as of, RFC 3339; now when absent"), ("format" = Option<String>, Query, pattern = "^(markdown|md|html|docx)$", description = "markdown (default, also md) | html | docx (GB/T 9704-2012 layout, to edit in Word)"), ("issuer" = Option<String>, Query, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", description = "docx: the issuing body (发文机关) instead of the configured one"), ("number" = Option<String>, Query, max_length = 40, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", description = "docx: the document number or issue (发文字号), e.g. （二十二）"), ("date" = Option<String>, Query, format = Date, description = "docx: the date (成文日期), YYYY-MM-DD; the as-of date when absent")),
    responses((status = 200, description = "the bulletin: Markdown, HTML with `format=html`, or DOCX with `format=docx`", content((String = "text/markdown"), (String = "text/html"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn bulletin(
    State(state): State<RestState>,
    Authenticated(p): Authenticated,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    rendered(&state, &p, &params, "bulletin").await
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Caseflow reporting", description = "The efficiency office's tables, from events alone."),
    paths(unit_counts, attachment_1, attachment_2, attachment_3, workbook, bounce, cells, reconcile, summary, bulletin, read_model, rebuild),
    components(schemas(
        BelowTargets,
        HotTopics,
        Growth,
        RepeatPetitioner,
        CollectiveVisits,
        EvaluationFigures,
        Evaluated,
        ReadModelStatus,
        StreamPosition,
        Receptions,
        Summary,
        Count,
        Share,
        LateUnit,
        SingleVisit,
        Reconciliation,
        CellFinding,
        BounceReport,
        BounceRow,
        CellRows,
        CellRow,
        UnitCounts,
        UnitCount,
        Attachment1,
        Attachment2,
        Attachment3,
        HotlineRow,
        PetitionRow,
        RankRow
    ))
,
    modifiers(&ApiContract)
)]
pub struct ApiDoc;
