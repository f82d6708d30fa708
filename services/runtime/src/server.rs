//! The shell every service runs in: one port serving the service's REST routes, its gRPC
//! services, tonic-health, gRPC reflection and `/health/{livez,readyz}`, with request spans that
//! continue the caller's trace, and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tower_http::trace::TraceLayer;

use crate::auth::KeyStore;
use crate::db::{Db, DbError};
use crate::error::{ErrorKind, Problem};
use crate::metrics::Metrics;
use crate::telemetry;

/// Authenticates gRPC calls at the edge and hands the [`crate::auth::Principal`] to the service
/// layer in the request's extensions. Authorization happens in the service layer.
#[derive(Clone, Debug)]
pub struct GrpcAuth {
    keys: KeyStore,
}

impl GrpcAuth {
    pub fn new(keys: KeyStore) -> Self {
        Self { keys }
    }
}

impl tonic::service::Interceptor for GrpcAuth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        // `Authorization: Bearer`, `x-api-key`, and the importer's headers, as REST reads them.
        let headers = std::mem::take(request.metadata_mut()).into_headers();
        let principal = self.keys.authenticate_headers(&headers);
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        request.extensions_mut().insert(principal?);
        Ok(request)
    }
}

/// The principal the edge attached to a gRPC request.
pub fn grpc_principal<T>(request: &tonic::Request<T>) -> Result<crate::auth::Principal, tonic::Status> {
    request
        .extensions()
        .get::<crate::auth::Principal>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated("missing API key"))
}

/// Whether the service should receive traffic, and how its background loops are doing.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    loops: crate::supervise::Loops,
}

impl Readiness {
    /// The service's supervised background loops, which `/health/readyz` reports.
    pub fn loops(&self) -> &crate::supervise::Loops {
        &self.loops
    }

    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    db: Db,
}

async fn livez() -> &'static str {
    "ok"
}

/// `/health/readyz`: 503 while starting, stopping or without its database; otherwise 200 with
/// `status` "ready", or "degraded" while a background loop waits to restart after a panic (the
/// service still answers requests, so it stays in rotation, and the operator sees which loop).
async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let loops = state.readiness.loops.health();
    let answer = |code: StatusCode, status: &str| {
        (code, axum::Json(serde_json::json!({ "status": status, "loops": loops }))).into_response()
    };
    if !state.readiness.is_ready() {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "not ready");
    }
    let db = state.db.read(|c| {
        use diesel::connection::SimpleConnection as _;
        c.batch_execute("SELECT 1").map_err(DbError::from)
    });
    match db.await {
        Ok(()) if state.readiness.loops.degraded() => answer(StatusCode::OK, "degraded"),
        Ok(()) => answer(StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            answer(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Every refusal is problem+json, including the ones the framework makes before a handler runs
/// (a path segment that is not UTF-8 or does not fit its type, a query that does not parse, a
/// body over the limit, a wrong method): such an answer is rewritten with its status kept and
/// the framework's text as the detail. gRPC answers, problem+json and the pages a handler
/// renders on purpose (text/html: the citizen's rating page) pass through untouched.
async fn problem_shape(req: Request<axum::body::Body>, next: axum::middleware::Next) -> axum::response::Response {
    let response = next.run(req).await;
    let status = response.status();
    let content_type =
        response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/problem+json")
        || content_type.starts_with("application/grpc")
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
    {
        return response;
    }
    let (kind, rule) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorKind::PayloadTooLarge, "body.size"),
        StatusCode::NOT_FOUND => (ErrorKind::NotFound, "request.route"),
        StatusCode::METHOD_NOT_ALLOWED => (ErrorKind::MethodNotAllowed, "request.method"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorKind::UnsupportedMediaType, "body.content_type"),
        StatusCode::SERVICE_UNAVAILABLE => (ErrorKind::Unavailable, "service.unavailable"),
        s if s.is_server_error() => (ErrorKind::Internal, "service.internal"),
        _ => (ErrorKind::Malformed, "request.malformed"),
    };
    // The framework's own texts are short; anything longer is cut, never echoed whole.
    let text = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().chars().take(300).collect::<String>();
    let detail = if detail.is_empty() { status.canonical_reason().unwrap_or("refused").to_owned() } else { detail };
    Problem::new(kind, detail).with_rule(rule).into_response()
}

/// A handler that panics fails its own request (500 problem+json, or gRPC `Internal`) and
/// nothing else: the panic is logged with the route and the process goes on serving.
async fn catch_panic(req: Request<axum::body::Body>, next: axum::middleware::Next) -> axum::response::Response {
    use futures::FutureExt as _;
    let grpc = is_grpc(&req);
    let route = format!("{} {}", req.method(), req.uri().path());
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(payload) => {
            let panic = crate::supervise::panic_message(payload);
            tracing::error!(%route, %panic, "request handler panicked");
            let problem = Problem::internal(&"the request handler failed");
            if grpc { tonic::Status::from(problem).into_http::<axum::body::Body>() } else { problem.into_response() }
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::new(ErrorKind::NotFound, format!("no route for {}", uri.path()))
}

/// What a service hands to [`serve`].
pub struct Endpoints {
    /// `caseflow.service` on every span, and the name in logs.
    pub service: &'static str,
    /// REST routes, state already applied.
    pub rest: Router,
    /// The service's gRPC services (auth already applied), e.g. from
    /// `tonic::service::Routes::from(Router::new()).add_service(..)`.
    pub grpc: tonic::service::Routes,
    /// gRPC service names reported by tonic-health.
    pub grpc_names: Vec<&'static str>,
    /// The keys, to check who may say when an event happened.
    pub keys: crate::auth::KeyStore,
    /// The clock and the bounds an importer's event time is checked against.
    pub clock: crate::clock::SharedClock,
    pub records: crate::time::RecordBounds,
    /// The service's instruments, served at `/metrics`; requests are recorded on them.
    pub metrics: Metrics,
}

/// `GET /metrics`: every instrument in the Prometheus text format. Open like the health checks
/// (the labels hold no personal data); the network policy decides who reaches it.
async fn metrics_text(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], metrics.render().await)
}

#[derive(Clone)]
struct RequestMetrics {
    service: &'static str,
    metrics: Metrics,
}

/// gRPC methods of the health and reflection services every port serves.
const SHELL_GRPC_METHODS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Records every request's route (the route template, or the gRPC method when the access table
/// or the shell knows it; anything else is "unmatched", so no caller can invent series), method,
/// status (HTTP, or the gRPC status code) and time to the response's head.
async fn record_request(
    State(RequestMetrics { service, metrics }): State<RequestMetrics>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let grpc = is_grpc(&req);
    let path = req.uri().path();
    let (method, route) = if grpc {
        let known = SHELL_GRPC_METHODS.contains(&path) || crate::access::find(service, "gRPC", path).is_some();
        ("gRPC".to_owned(), if known { path.to_owned() } else { "unmatched".to_owned() })
    } else {
        let route = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned());
        (req.method().as_str().to_owned(), route.unwrap_or_else(|| "unmatched".to_owned()))
    };
    let response = next.run(req).await;
    let status = if grpc {
        // An error is "trailers-only" (its status in the head); a success's status comes in
        // the trailers, after the head this layer sees.
        match response.headers().get("grpc-status").and_then(|v| v.to_str().ok()) {
            Some(code) => code.to_owned(),
            None if response.status().is_success() => "0".to_owned(),
            None => response.status().as_str().to_owned(),
        }
    } else {
        response.status().as_str().to_owned()
    };
    metrics.record_request(&route, &method, &status, started.elapsed().as_secs_f64());
    response
}

#[derive(Clone)]
struct ImporterGate {
    keys: crate::auth::KeyStore,
    clock: crate::clock::SharedClock,
    records: crate::time::RecordBounds,
}

/// The importer's key reaches only the calls the import format lists (those of the access
/// table with an `import_as`), and an importer's request runs with its event time as every
/// clock's now. Anyone else sending the event-time header is refused before the request reaches
/// a handler (including unauthenticated ones).
async fn importer_gate(
    axum::extract::State(ImporterGate { keys, clock, records }): axum::extract::State<ImporterGate>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let grpc = is_grpc(&req);
    let refuse = |problem: Problem| {
        if grpc { tonic::Status::from(problem).into_http::<axum::body::Body>() } else { problem.into_response() }
    };
    let importer = keys
        .authenticate(crate::auth::presented_key(req.headers()))
        .is_ok_and(|p| p.role == crate::auth::Role::Importer);
    if importer && !crate::access::importable(req.uri().path()) {
        return refuse(
            Problem::new(
                ErrorKind::PermissionDenied,
                format!("the importer may make only the calls the import format lists, not {}", req.uri().path()),
            )
            .with_rule("import.scope"),
        );
    }
    let Some(raw) = req.headers().get(crate::auth::EVENT_TIME_HEADER) else {
        return next.run(req).await;
    };
    // A replayed event happened between the district's first records and now.
    let checked = keys.authenticate_headers(req.headers()).and_then(|_| {
        let at = crate::auth::event_time_of(raw.to_str().unwrap_or_default())?;
        records
            .check(crate::auth::EVENT_TIME_HEADER, at, clock.now())
            .map_err(|v| Problem::invalid(vec![v]).with_rule("records.bounds"))?;
        Ok(at)
    });
    match checked {
        Ok(at) => crate::clock::EVENT_TIME.scope(at, next.run(req)).await,
        Err(problem) => refuse(problem),
    }
}

#[derive(Clone)]
struct AccessGate {
    service: &'static str,
    keys: KeyStore,
}

/// Enforces the authorization table ([`crate::access`]) before any handler runs: a role the
/// call is not for is refused with 403 `auth.role`, whatever the record and the body; the
/// importer only as a role the call lists for it. Calls not in the table (health, OpenAPI,
/// reflection, an unknown route) pass to their own handling.
async fn access_gate(
    axum::extract::State(AccessGate { service, keys }): axum::extract::State<AccessGate>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let grpc = is_grpc(&req);
    let (method, path) = if grpc {
        ("gRPC".to_owned(), req.uri().path().to_owned())
    } else {
        match req.extensions().get::<axum::extract::MatchedPath>() {
            Some(matched) => (req.method().as_str().to_owned(), matched.as_str().to_owned()),
            None => return next.run(req).await,
        }
    };
    let Some(call) = crate::access::find(service, &method, &path).filter(|c| !c.public) else {
        return next.run(req).await;
    };
    let refuse = |problem: Problem| {
        if grpc { tonic::Status::from(problem).into_http::<axum::body::Body>() } else { problem.into_response() }
    };
    let principal = match keys.authenticate_headers(req.headers()) {
        Ok(p) => p,
        Err(problem) => return refuse(problem),
    };
    let importer = keys
        .authenticate(crate::auth::presented_key(req.headers()))
        .is_ok_and(|p| p.role == crate::auth::Role::Importer);
    let allowed: Vec<crate::auth::Role> =
        if importer { call.import_as.to_vec() } else { call.grants.iter().map(|(r, _)| *r).collect() };
    if allowed.contains(&principal.role) {
        return next.run(req).await;
    }
    let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    refuse(
        Problem::new(
            ErrorKind::PermissionDenied,
            format!(
                "role '{}' may not {} ({method} {path}); allowed roles: {}",
                principal.role,
                call.action,
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            ),
        )
        .with_rule("auth.role"),
    )
}

/// Serves `endpoints` on `listener` until `shutdown`, then reports not-serving, stops accepting
/// and drains in-flight requests (event streams end on `shutdown` too).
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    db: Db,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let Endpoints { service, rest, grpc, grpc_names, keys, clock, records, metrics } = endpoints;
    metrics.observe_db(&db);
    {
        let readiness = readiness.clone();
        metrics.gauge(
            "caseflow_ready",
            "1 while /health/readyz says ready (0 starting, stopping, or a loop restarting)",
            move || {
                let ready = readiness.is_ready() && !readiness.loops().degraded();
                vec![(vec![], if ready { 1.0 } else { 0.0 })]
            },
        );
    }
    let pushing = tokio::spawn(metrics.clone().push_until(shutdown.clone()));
    let (reporter, health_service) = tonic_health::server::health_reporter();
    for name in &grpc_names {
        reporter.set_service_status(*name, ServingStatus::Serving).await;
    }
    reporter.set_service_status("", ServingStatus::Serving).await;
    // Reflection in both versions (grpcurl asks v1, the stock Python client v1alpha), listing
    // the services of this port only.
    let reflection = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(caseflow_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for name in &grpc_names {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    let reflection_v1 = reflection().build_v1().map_err(std::io::Error::other)?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(std::io::Error::other)?;
    let grpc = grpc.add_service(health_service).add_service(reflection_v1).add_service(reflection_v1alpha);

    let health = Router::new()
        .route("/health/livez", get(livez))
        .route("/health/readyz", get(readyz))
        .with_state(HealthState { readiness: readiness.clone(), db })
        .route("/metrics", get(metrics_text).with_state(metrics.clone()));

    let app = rest
        .merge(grpc.prepare().into_axum_router())
        .merge(health)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(AccessGate { service, keys: keys.clone() }, access_gate))
        .layer(axum::middleware::from_fn_with_state(ImporterGate { keys, clock, records }, importer_gate))
        .layer(axum::middleware::from_fn(problem_shape))
        .layer(axum::middleware::from_fn(catch_panic))
        .layer(TraceLayer::new_for_http().make_span_with(move |req: &Request<_>| {
            let span = tracing::info_span!(
                "request",
                caseflow.service = service,
                otel.name = %format!("{} {} {}", service, req.method(), req.uri().path()),
                http.method = %req.method(),
                http.path = %req.uri().path(),
            );
            telemetry::set_parent_from_headers(&span, req.headers());
            span
        }))
        .layer(axum::middleware::from_fn_with_state(RequestMetrics { service, metrics }, record_request));

    readiness.set(true);
    let local = listener.local_addr()?;
    tracing::info!(service, %local, "serving REST and gRPC");
    let signal = {
        let shutdown = shutdown.clone();
        let readiness = readiness.clone();
        async move {
            shutdown.cancelled().await;
            readiness.set(false);
            for name in grpc_names {
                reporter.set_service_status(name, ServingStatus::NotServing).await;
            }
            reporter.set_service_status("", ServingStatus::NotServing).await;
        }
    };
    // Small gRPC frames must not wait for Nagle's algorithm and the peer's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(signal).await?;
    let _ = pushing.await;
    tracing::info!(service, "stopped serving");
    Ok(())
}

/// Blocking threads for one service: every diesel call runs on one, and waits there for one
/// of the service's pooled connections (8 by default, plus SQLite's single writer). Threads past
/// the pool would only wait, each with its own stack, so the cap is the pool with room for the
/// `LISTEN` session and calls that do not touch the database (jieba, XLSX, key digests).
pub const BLOCKING_THREADS_PER_SERVICE: usize = 12;

/// The runtime a binary runs its services on: tokio's worker threads (one per core) and at most
/// `BLOCKING_THREADS_PER_SERVICE` blocking threads per service it runs. A burst of requests then
/// queues for the database instead of growing threads (148 were seen under load without a
/// cap); idle blocking threads end after 10 s.
pub fn runtime(services: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS_PER_SERVICE * services.max(1))
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .build()
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
