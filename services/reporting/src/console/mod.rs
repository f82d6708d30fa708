//! The efficiency office's console (`/console`): every report as pages in Chinese, each count a
//! link to the facts behind it, served by reporting from its read model alone.
//!
//! - Signing in takes a key (the API's own key table) and gives a session cookie
//!   (`session.rs`); every form that changes something carries the session's CSRF token, and a
//!   cross-site POST is refused before it is read.
//! - Each role sees what its API role sees, decided by the same service-layer checks: the office
//!   and administrators every page, a unit handler its own unit's page and the facts behind its
//!   own figures, a dispatcher the units' pages.
//! - No script: sorting is a link, charts are SVG drawn on the server (`charts.rs`), the
//!   content policy forbids scripts outright. Pages are askama templates (`templates/console`),
//!   which escape every value.

pub mod charts;
mod pages;
pub mod session;
pub mod sso;

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use caseflow_runtime::{Principal, Problem, Role};
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Utc};

use crate::rest::RestState;
use session::Sessions;

/// The roles that may sign in to the console.
const CONSOLE_ROLES: &[Role] = &[Role::EfficiencyOffice, Role::Admin, Role::Dispatcher, Role::UnitHandler];

/// Scripts none; styles, fonts and images only from here; forms only to here; never in a frame.
const CSP: &str = "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../../templates/console/console.css");

/// The Chinese font the pages are set in, served by the binary itself (`services/runtime/assets/README.md`: what
/// it is, its licence and how it was cut to GB 2312).
const FONT: &[u8] = caseflow_runtime::assets::CJK_FONT;

#[derive(Clone)]
pub struct ConsoleState {
    pub rest: RestState,
    pub sessions: Sessions,
}

pub fn router(rest: RestState) -> Router {
    let ttl = std::time::Duration::from_secs(rest.console.session_hours * 3600);
    let state = ConsoleState { rest, sessions: Sessions::new(ttl) };
    Router::new()
        .route("/console", get(pages::overview))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/attachments/{n}", get(pages::attachment))
        .route("/console/cells", get(pages::cells))
        .route("/console/units", get(pages::units))
        .route("/console/units/{code}", get(pages::unit))
        .route("/console/bounces", get(pages::bounces))
        .route("/console/bulletin", get(pages::bulletin))
        .route("/console/reconciliation", get(pages::reconciliation_form).post(pages::reconcile))
        .route("/console/download/{kind}", get(pages::download))
        .route("/console/console.css", get(style))
        .route("/console/wqy-microhei.woff2", get(font))
        .layer(axum::middleware::from_fn(headers))
        .with_state(state)
}

/// Every console answer: the content policy, no caching of pages that hold figures, no framing,
/// no sniffing; a cross-site POST is refused before its body is read.
async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::POST && cross_site(req.headers()) {
        return page_error(StatusCode::FORBIDDEN, "跨站提交已拒绝", "这个表单不是从本系统的页面提交的。");
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// A POST the browser says came from another site (Fetch metadata), or whose Origin is not
/// this host.
fn cross_site(h: &HeaderMap) -> bool {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return true;
    }
    match (text("origin"), text("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").is_none_or(|(_, rest)| rest != host),
        _ => false,
    }
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLE)
        .into_response()
}

async fn font() -> Response {
    ([(header::CONTENT_TYPE, "font/woff2"), (header::CACHE_CONTROL, "max-age=86400")], FONT).into_response()
}

/// The signed-in user of a console page; without a session, a page redirects to sign-in.
pub struct User {
    pub principal: Principal,
    pub csrf: String,
    session_id: String,
}

impl FromRequestParts<ConsoleState> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let found = session::cookie_id(&parts.headers).and_then(|id| state.sessions.get(&id).map(|s| (id, s)));
        if let Some((session_id, s)) = found {
            return Ok(Self { principal: s.principal, csrf: s.csrf, session_id });
        }
        let here = parts.uri.path_and_query().map_or("/console", |p| p.as_str()).to_owned();
        match state.rest.console.sso(&parts.headers, &state.rest.keys) {
            // The proxy vouched for the user: a session, and the same page again with it.
            sso::Sso::SignedIn(principal) => Err(signed_in(state, principal, &parts.headers, &here)),
            sso::Sso::Refused(why) => Err(page_error(StatusCode::FORBIDDEN, "未能登录", why)),
            sso::Sso::NotAsked => Err(Redirect::to(&format!("/console/login?next={}", encode(&here))).into_response()),
        }
    }
}

impl User {
    /// Whether a form carries this session's CSRF token.
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|t| session::same_token(t, &self.csrf))
    }

    pub fn reads_reports(&self) -> bool {
        matches!(self.principal.role, Role::EfficiencyOffice | Role::Admin)
    }

    pub fn role_label(&self) -> &'static str {
        match self.principal.role {
            Role::EfficiencyOffice => "效能办",
            Role::Admin => "管理员",
            Role::Dispatcher => "派单员",
            Role::UnitHandler => "承办单位",
            _ => "",
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link to `path` with `params` as its query.
pub fn link(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> =
        params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    if q.is_empty() { path.to_owned() } else { format!("{path}?{}", q.join("&")) }
}

#[derive(askama::Template)]
#[template(path = "console/message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
    details: Vec<String>,
}

pub fn html(body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(b) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], b).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template");
            (StatusCode::INTERNAL_SERVER_ERROR, "page could not be rendered").into_response()
        }
    }
}

/// A form without this session's CSRF token.
pub fn csrf_refused() -> Response {
    page_error(StatusCode::FORBIDDEN, "表单已失效", "表单的校验码不对（页面可能已过期）。请返回重新打开页面后再提交。")
}

pub fn page_error(status: StatusCode, title: &str, message: &str) -> Response {
    use askama::Template as _;
    let mut res = html(Message { title, message, details: Vec::new() }.render());
    *res.status_mut() = status;
    res
}

/// A refusal or error from the service layer, as a page: the status, what was wrong, and each
/// field with its rule.
pub fn problem_page(p: &Problem) -> Response {
    use askama::Template as _;
    let status = p.kind.http_status();
    let title = match status.as_u16() {
        403 => "无权查看",
        404 => "没有找到",
        422 => "参数有误",
        _ => "出错了",
    };
    let details = p.violations.iter().map(|v| format!("{}：{}", v.field, v.description)).collect();
    let mut res = html(Message { title, message: &p.detail, details }.render());
    *res.status_mut() = status;
    res
}

#[derive(askama::Template)]
#[template(path = "console/login.html")]
struct Login<'a> {
    next: &'a str,
    error: Option<&'a str>,
}

/// Only a console path is a place to go back to after signing in (no open redirect).
fn safe_next(next: Option<&String>) -> &str {
    match next.map(String::as_str) {
        Some(n) if n.starts_with("/console") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/console",
    }
}

async fn login_page(Query(q): Query<HashMap<String, String>>) -> Response {
    use askama::Template as _;
    html(Login { next: safe_next(q.get("next")), error: None }.render())
}

async fn login(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    use askama::Template as _;
    let next = safe_next(form.get("next")).to_owned();
    let key = form.get("key").map(String::as_str);
    let refused = |msg: &str, status: StatusCode| {
        let mut res = html(Login { next: &next, error: Some(msg) }.render());
        *res.status_mut() = status;
        res
    };
    let principal = match state.rest.keys.authenticate(key) {
        Ok(p) => p,
        Err(_) => return refused("密钥不正确，请核对后重试。", StatusCode::UNAUTHORIZED),
    };
    signed_in(&state, principal, &headers, &next)
}

/// Opens a session for `principal` and sends the browser on to `next` with its cookie (a unit
/// handler's home is its unit's page, a dispatcher's the units').
fn signed_in(state: &ConsoleState, principal: Principal, headers: &HeaderMap, next: &str) -> Response {
    if !CONSOLE_ROLES.contains(&principal.role) {
        let why = format!("角色“{}”不能登录管理页面（效能办、派单员、承办单位和管理员可以）。", principal.role);
        return page_error(StatusCode::FORBIDDEN, "未能登录", &why);
    }
    tracing::info!(who = %principal.name, role = %principal.role, "console sign-in");
    let home = match (principal.role, principal.unit.clone()) {
        (Role::UnitHandler, Some(unit)) if next == "/console" => format!("/console/units/{}", encode(&unit)),
        (Role::Dispatcher, _) if next == "/console" => "/console/units".to_owned(),
        _ => next.to_owned(),
    };
    let id = state.sessions.open(principal);
    let cookie = session::set_cookie(Some(&id), session::over_tls(headers), state.sessions.ttl());
    ([(header::SET_COOKIE, cookie)], Redirect::to(&home)).into_response()
}

async fn logout(
    State(state): State<ConsoleState>,
    user: User,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !user.csrf_ok(form.get("csrf").map(String::as_str)) {
        return csrf_refused();
    }
    state.sessions.close(&user.session_id);
    let cookie = session::set_cookie(None, session::over_tls(&headers), state.sessions.ttl());
    ([(header::SET_COOKIE, cookie)], Redirect::to("/console/login")).into_response()
}

/// The period a page shows, as the picker holds it: district dates [from, to) and an optional
/// moment (district time, minutes).
#[derive(Debug, Clone)]
pub struct Period {
    pub from: String,
    pub to: String,
    pub as_of: String,
}

/// The UTC moment a district date starts (UTC+8).
fn day_start(d: NaiveDate) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(crate::rollup::day_start(d), Utc)
}

impl Period {
    /// The half-year holding the district's today.
    pub fn default_at(now: DateTime<Utc>) -> Self {
        let today = crate::rollup::district_day(now.naive_utc());
        let first = if today.month() <= 6 { 1 } else { 7 };
        let from = NaiveDate::from_ymd_opt(today.year(), first, 1).unwrap_or(today);
        let to = if first == 1 {
            NaiveDate::from_ymd_opt(today.year(), 7, 1)
        } else {
            NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
        }
        .unwrap_or(today);
        Self { from: from.to_string(), to: to.to_string(), as_of: String::new() }
    }

    /// From the page's query; what is absent comes from the default half-year.
    pub fn from_query(q: &HashMap<String, String>, now: DateTime<Utc>) -> Self {
        let d = Self::default_at(now);
        let pick =
            |k: &str, dflt: String| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).unwrap_or(dflt);
        Self { from: pick("from", d.from), to: pick("to", d.to), as_of: pick("as_of", String::new()) }
    }

    /// The query parameters the API reads (RFC 3339), every bad one named.
    pub fn api_params(&self) -> Result<HashMap<String, String>, Problem> {
        let mut errors = Vec::new();
        let mut params = HashMap::new();
        for (name, value) in [("from", &self.from), ("to", &self.to)] {
            match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(d) => {
                    params.insert(name.to_owned(), day_start(d).to_rfc3339());
                }
                Err(_) => errors.push(caseflow_runtime::FieldViolation::new(name, "must be a date, YYYY-MM-DD")),
            }
        }
        if !self.as_of.is_empty() {
            match NaiveDateTime::parse_from_str(&self.as_of, "%Y-%m-%dT%H:%M") {
                Ok(t) => {
                    let utc = DateTime::<Utc>::from_naive_utc_and_offset(t - chrono::Duration::hours(8), Utc);
                    params.insert("as_of".to_owned(), utc.to_rfc3339());
                }
                Err(_) => errors.push(caseflow_runtime::FieldViolation::new(
                    "as_of",
                    "must be a district time, YYYY-MM-DDTHH:MM (or empty for now)",
                )),
            }
        }
        if errors.is_empty() { Ok(params) } else { Err(Problem::invalid(errors)) }
    }

    /// The period's own query parameters, for links that keep it.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![("from", self.from.clone()), ("to", self.to.clone()), ("as_of", self.as_of.clone())]
    }

    /// A console link that keeps the period and adds `extra`.
    pub fn link(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut all: Vec<(&str, &str)> = vec![("from", &self.from), ("to", &self.to), ("as_of", &self.as_of)];
        all.extend_from_slice(extra);
        link(path, &all)
    }

    /// The period in words: 2020-01-01 至 2020-06-30.
    pub fn words(&self) -> String {
        let last = NaiveDate::parse_from_str(&self.to, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.pred_opt())
            .map_or_else(|| self.to.clone(), |d| d.to_string());
        let at = if self.as_of.is_empty() {
            "截至当前".to_owned()
        } else {
            format!("截至 {}", self.as_of.replace('T', " "))
        };
        format!("{} 至 {}（{}）", self.from, last, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_period_is_the_half_year_of_the_district_day() {
        // 2020-06-30 16:30 UTC is already 1 July in the district.
        let now = DateTime::parse_from_rfc3339("2020-06-30T16:30:00Z").expect("t").with_timezone(&Utc);
        let p = Period::default_at(now);
        assert_eq!((p.from.as_str(), p.to.as_str()), ("2020-07-01", "2021-01-01"));
    }

    #[test]
    fn the_period_becomes_the_api_moments_in_district_time() {
        let p = Period { from: "2020-01-01".into(), to: "2020-07-01".into(), as_of: "2020-06-20T12:00".into() };
        let q = p.api_params().expect("valid");
        assert_eq!(q["from"], "2019-12-31T16:00:00+00:00");
        assert_eq!(q["as_of"], "2020-06-20T04:00:00+00:00");
        let bad = Period { from: "2020-13-01".into(), to: "x".into(), as_of: "yesterday".into() };
        let e = bad.api_params().expect_err("refused");
        let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["from", "to", "as_of"]);
    }

    #[test]
    fn only_console_paths_are_returned_to_after_sign_in() {
        for (asked, went) in [
            ("/console/units/x?a=1", "/console/units/x?a=1"),
            ("https://evil.example/console", "/console"),
            ("//evil.example", "/console"),
            ("/console//evil.example", "/console"),
        ] {
            assert_eq!(safe_next(Some(&asked.to_owned())), went);
        }
    }

    #[test]
    fn a_post_from_another_site_is_refused() {
        let mut h = HeaderMap::new();
        h.insert("host", "caseflow.local:8084".parse().expect("h"));
        h.insert("origin", "http://caseflow.local:8084".parse().expect("h"));
        assert!(!cross_site(&h));
        h.insert("origin", "http://evil.example".parse().expect("h"));
        assert!(cross_site(&h));
        h.remove("origin");
        h.insert("sec-fetch-site", "cross-site".parse().expect("h"));
        assert!(cross_site(&h));
    }
}
