//! Evaluation's REST edge: ratings by the platform and the petition desk, the citizen's one-time
//! link, follow-ups, and `/openapi.json`.

use axum::extract::{FromRef, Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::rest::ApiContract;
use caseflow_runtime::rest::{ApiJson, ApiQuery, Authenticated};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::service::{
    Evaluation, EvaluationError, EvaluationView, FollowUpInput, PartView, RateInput, RatingLink, RatingRecord,
    SubjectView,
};
use crate::summary::{RateSummary, UnitRates};

#[derive(Clone)]
pub struct RestState {
    pub evaluation: Evaluation,
    pub keys: KeyStore,
}

impl FromRef<RestState> for KeyStore {
    fn from_ref(state: &RestState) -> Self {
        state.keys.clone()
    }
}

type S = State<RestState>;
type Res<T> = Result<Json<T>, EvaluationError>;

pub fn router(state: RestState) -> Router {
    Router::new()
        .route("/v1/evaluations/{case_id}", get(get_evaluation))
        .route("/v1/evaluations/{case_id}/ratings", post(rate))
        .route("/v1/evaluations/{case_id}/link", post(issue_link))
        .route("/v1/evaluations/{case_id}/follow-ups", post(follow_up))
        .route("/v1/evaluations/expiry/run", post(run_expiry))
        .route("/v1/ratings", post(rate_with_token))
        .route("/rate", get(rating_page).post(rating_form))
        .route("/rate/wqy-microhei.woff2", get(rating_font))
        .route("/v1/rates", get(rates))
        .route("/openapi.json", get(openapi))
        .with_state(state)
}

/// A case's evaluation: status, window, final ratings and the full history.
#[utoipa::path(get, path = "/v1/evaluations/{case_id}", params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = EvaluationView), (status = 401), (status = 403), (status = 404)), security(("api_key" = [])))]
async fn get_evaluation(
    State(s): S,
    Authenticated(p): Authenticated,
    Path(case_id): Path<String>,
) -> Res<EvaluationView> {
    Ok(Json(s.evaluation.get(&p, &case_id).await?))
}

/// Record a rating: the 12345 platform's callback (hotline) or the petition desk (petition).
#[utoipa::path(post, path = "/v1/evaluations/{case_id}/ratings", request_body = RateInput, params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = EvaluationView), (status = 401), (status = 403), (status = 404), (status = 409, description = "window closed, or already rated"), (status = 422)),
    security(("api_key" = [])))]
async fn rate(
    State(s): S,
    Authenticated(p): Authenticated,
    Path(case_id): Path<String>,
    ApiJson(b): ApiJson<RateInput>,
) -> Res<EvaluationView> {
    Ok(Json(s.evaluation.rate(&p, &case_id, b).await?))
}

/// Issue the citizen's one-time rating link (replaces any earlier one).
#[utoipa::path(post, path = "/v1/evaluations/{case_id}/link", params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = RatingLink), (status = 401), (status = 403), (status = 404), (status = 409)), security(("api_key" = [])))]
async fn issue_link(State(s): S, Authenticated(p): Authenticated, Path(case_id): Path<String>) -> Res<RatingLink> {
    Ok(Json(s.evaluation.issue_link(&p, &case_id).await?))
}

/// Record a follow-up (回访) of an unsatisfied rating.
#[utoipa::path(post, path = "/v1/evaluations/{case_id}/follow-ups", request_body = FollowUpInput, params(("case_id" = String, Path, description = "case id")),
    responses((status = 200, body = EvaluationView), (status = 401), (status = 403), (status = 409), (status = 422)), security(("api_key" = [])))]
async fn follow_up(
    State(s): S,
    Authenticated(p): Authenticated,
    Path(case_id): Path<String>,
    ApiJson(b): ApiJson<FollowUpInput>,
) -> Res<EvaluationView> {
    Ok(Json(s.evaluation.follow_up(&p, &case_id, b).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Expired {
    expired: usize,
}

/// Expire, now, every evaluation whose window closed unrated (the service also does it on a timer).
#[utoipa::path(post, path = "/v1/evaluations/expiry/run", responses((status = 200, body = Expired), (status = 401), (status = 403)), security(("api_key" = [])))]
async fn run_expiry(State(s): S, Authenticated(p): Authenticated) -> Res<Expired> {
    p.require("run the expiry scan", &[caseflow_runtime::Role::Admin, caseflow_runtime::Role::Service])?;
    Ok(Json(Expired { expired: s.evaluation.expire_due().await? }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRating {
    /// The token from the citizen's link; it is the credential, valid once until the window ends.
    token: String,
    level: String,
    #[serde(default)]
    unit_levels: std::collections::BTreeMap<String, String>,
    /// The citizen's own words, up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    comment: Option<String>,
}

/// The citizen rates with the one-time token from the link; no account, no API key.
#[utoipa::path(post, path = "/v1/ratings", request_body = TokenRating,
    responses((status = 200, body = EvaluationView), (status = 404, description = "not a valid link (or already used)"), (status = 409), (status = 422)))]
async fn rate_with_token(State(s): S, ApiJson(b): ApiJson<TokenRating>) -> Res<EvaluationView> {
    Ok(Json(
        s.evaluation
            .rate_with_token(&b.token, RateInput { level: b.level, unit_levels: b.unit_levels, comment: b.comment })
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RatesQuery {
    /// Cases received at or after, RFC 3339.
    #[param(format = DateTime)]
    from: String,
    /// Cases received before, RFC 3339.
    #[param(format = DateTime)]
    to: String,
    /// hotline | petition
    #[param(pattern = "^(hotline|petition)$")]
    source: String,
}

/// Per-unit rates as the bulletin defines them, with the units below each target.
#[utoipa::path(get, path = "/v1/rates", params(RatesQuery),
    responses((status = 200, body = RateSummary), (status = 401), (status = 403), (status = 422)), security(("api_key" = [])))]
async fn rates(State(s): S, Authenticated(p): Authenticated, ApiQuery(q): ApiQuery<RatesQuery>) -> Res<RateSummary> {
    let parse = |field: &str, v: &str| {
        chrono::DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&chrono::Utc)).map_err(|_| {
            caseflow_runtime::Problem::field(field, "must be RFC 3339 with offset, e.g. 2020-01-01T00:00:00+08:00")
        })
    };
    let (from, to) = (parse("from", &q.from)?, parse("to", &q.to)?);
    if from >= to {
        return Err(caseflow_runtime::Problem::field("to", "must be after from").into());
    }
    Ok(Json(s.evaluation.rates(&p, from, to, q.source).await?))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Caseflow evaluation", description = "Ratings, windows, follow-ups and the bulletin's rates."),
    paths(get_evaluation, rate, issue_link, follow_up, run_expiry, rate_with_token, rating_page, rating_form, rates),
    components(schemas(
        RateSummary,
        UnitRates,
        EvaluationView,
        SubjectView,
        PartView,
        RatingRecord,
        RateInput,
        FollowUpInput,
        RatingLink,
        Expired,
        TokenRating
    ))
,
    modifiers(&ApiContract)
)]
pub struct ApiDoc;

/// The page headers of the citizen's rating page: nothing cached (the link is a credential),
/// no referrer carrying it away, no script, no framing.
fn page(status: axum::http::StatusCode, body: Result<String, askama::Error>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let (status, body) = match body {
        Ok(b) => (status, b),
        Err(e) => {
            tracing::error!(error = %e, "the rating page did not render");
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "服务暂不可用，请稍后再试。".to_owned())
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// The Chinese font the rating page is set in, served here: a phone on the district's own
/// network may reach nothing else.
async fn rating_font() -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    (
        [(header::CONTENT_TYPE, "font/woff2"), (header::CACHE_CONTROL, "max-age=86400")],
        caseflow_runtime::assets::CJK_FONT,
    )
        .into_response()
}

fn link_state(state: crate::service::RatingLinkState) -> axum::response::Response {
    use crate::rating_page::{Closed, message};
    use axum::http::StatusCode;
    match state {
        crate::service::RatingLinkState::Closed(c @ Closed::NotValid) => page(StatusCode::NOT_FOUND, message(c)),
        crate::service::RatingLinkState::Closed(c @ Closed::Expired) => page(StatusCode::GONE, message(c)),
        crate::service::RatingLinkState::Failed(e) => {
            tracing::error!(error = ?e, "the rating link could not be read");
            page(StatusCode::SERVICE_UNAVAILABLE, Ok("服务暂不可用，请稍后再试。".to_owned()))
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RateLink {
    /// The token of the citizen's one-time link.
    #[param(max_length = 200)]
    t: Option<String>,
}

/// The page the citizen's link opens (`/rate?t=…`): a form in Chinese, no JavaScript needed.
#[utoipa::path(get, path = "/rate", params(RateLink),
    responses((status = 200, description = "the rating form", content_type = "text/html"), (status = 404, description = "the link is not valid or was used", content_type = "text/html"), (status = 410, description = "the rating window has closed", content_type = "text/html"), (status = 400, description = "a query that does not parse")))]
async fn rating_page(State(s): S, axum::extract::Query(q): axum::extract::Query<RateLink>) -> axum::response::Response {
    let token = q.t.unwrap_or_default();
    match s.evaluation.rating_form(&token).await {
        Ok(form) => page(axum::http::StatusCode::OK, form.page(&token, "", Vec::new())),
        Err(state) => link_state(state),
    }
}

/// The form the rating page posts: the token, `level`, `unit.<code>` per handling unit of a
/// petition, and an optional `comment`.
#[utoipa::path(post, path = "/rate",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "t, level, unit.<code>, comment"),
    responses((status = 200, description = "thanks", content_type = "text/html"), (status = 404, description = "the link is not valid or was used", content_type = "text/html"), (status = 410, description = "the rating window has closed", content_type = "text/html"), (status = 422, description = "the form again, with what is missing", content_type = "text/html"), (status = 400, description = "not a form body"), (status = 415, description = "not application/x-www-form-urlencoded")))]
async fn rating_form(
    State(s): S,
    axum::extract::Form(values): axum::extract::Form<std::collections::BTreeMap<String, String>>,
) -> axum::response::Response {
    use axum::http::StatusCode;
    let token = values.get("t").cloned().unwrap_or_default();
    let form = match s.evaluation.rating_form(&token).await {
        Ok(form) => form,
        Err(state) => return link_state(state),
    };
    let comment = values.get("comment").cloned().unwrap_or_default();
    let unit_levels =
        values.iter().filter_map(|(k, v)| k.strip_prefix("unit.").map(|unit| (unit.to_owned(), v.clone()))).collect();
    let input = RateInput {
        level: values.get("level").cloned().unwrap_or_default(),
        unit_levels,
        comment: Some(comment.clone()).filter(|c| !c.trim().is_empty()),
    };
    match s.evaluation.rate_with_token(&token, input).await {
        Ok(_) => page(StatusCode::OK, crate::rating_page::thanks()),
        Err(e) => {
            let problem = caseflow_runtime::Problem::from(e);
            match problem.kind {
                caseflow_runtime::ErrorKind::InvalidArgument => {
                    // Said in the citizen's words: which choice is missing.
                    let form = form.with_picked(&values);
                    let errors = problem
                        .violations
                        .iter()
                        .map(|v| crate::rating_page::explain(&v.field, &form))
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    page(StatusCode::UNPROCESSABLE_ENTITY, form.page(&token, &comment, errors))
                }
                // The window closed between the page and the post.
                _ if problem.rule.as_deref() == Some("evaluation.window") => {
                    link_state(crate::service::RatingLinkState::Closed(crate::rating_page::Closed::Expired))
                }
                // Rated meanwhile (another channel, another tab): the link is spent.
                caseflow_runtime::ErrorKind::NotFound | caseflow_runtime::ErrorKind::FailedPrecondition => {
                    link_state(crate::service::RatingLinkState::Closed(crate::rating_page::Closed::NotValid))
                }
                _ => link_state(crate::service::RatingLinkState::Failed(problem.into())),
            }
        }
    }
}
