//! The end-to-end sandbox: all four services started in this process the way the `caseflow`
//! binary starts them (each on its own port, each with its own database, talking gRPC), a
//! manual clock, and clients that reach them only through their public APIs.
//!
//! The databases are temporary SQLite files, or fresh PostgreSQL schemas when
//! `TEST_DATABASE_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use caseflow::{Configs, Service, System};
use caseflow_evaluation::EvaluationConfig;
use caseflow_intake::IntakeConfig;
use caseflow_reporting::ReportingConfig;
use caseflow_routing::RoutingConfig;
use caseflow_runtime::auth::{ApiKeyConfig, KeyStore, Role, digest_key_hex};
use caseflow_runtime::clock::ManualClock;
use caseflow_runtime::config::Secret;
use caseflow_runtime::deployment::ServiceContext;
use caseflow_runtime::testing::TestDatabase;
use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{Value, json};

/// The keys every sandbox accepts, one per role.
pub mod keys {
    pub const INTEGRATOR: &str = "test-integrator-key";
    pub const DISPATCHER: &str = "test-dispatcher-key";
    /// The handler of 区城管局 (also `unit("chengguan")`).
    pub const CHENGGUAN: &str = "test-unit-chengguan";
    pub const EVALUATOR: &str = "test-evaluator-key";
    pub const OFFICE: &str = "test-office-key";
    pub const ADMIN: &str = "test-admin-key";
    pub const SERVICE: &str = "test-service-key";
    pub const IMPORTER: &str = "test-importer-key";
    /// The secret the sandbox's single sign-on proxy presents (`[reporting.console.sso]`).
    pub const SSO_PROXY: &str = "test-sso-proxy-key";

    /// The key of a handler of `unit` (every unit of the example district has one).
    pub fn unit(unit: &str) -> String {
        format!("test-unit-{unit}")
    }
}

/// Where the manual clock starts: 2020-06-30 12:00 in the district (UTC+8).
pub fn default_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 6, 30, 4, 0, 0).single().expect("valid instant")
}

fn key(name: &str, role: Role, unit: Option<&str>, key: &str) -> ApiKeyConfig {
    ApiKeyConfig { name: name.into(), role, unit: unit.map(str::to_owned), sha256: digest_key_hex(key) }
}

pub struct Sandbox {
    pub system: System,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    /// Each service's database, in `Service::ALL` order.
    pub databases: Vec<TestDatabase>,
}

impl Sandbox {
    pub async fn start() -> Self {
        Self::start_pushing_metrics(None).await
    }

    /// The system with every service also pushing its metrics to an OTLP collector.
    pub async fn start_pushing_metrics(push: Option<caseflow_runtime::metrics::OtlpPush>) -> Self {
        let databases: Vec<TestDatabase> = Service::ALL.iter().map(|s| TestDatabase::new(s.name())).collect();
        let registry = caseflow_routing::registry::Registry::load(None).expect("built-in registry");
        let mut configured: Vec<ApiKeyConfig> = registry
            .units()
            .filter(|u| u.code != "chengguan")
            .map(|u| key(&format!("{}-clerk", u.code), Role::UnitHandler, Some(&u.code), &keys::unit(&u.code)))
            .collect();
        configured.extend([
            key("platform", Role::Integrator, None, keys::INTEGRATOR),
            key("dispatcher", Role::Dispatcher, None, keys::DISPATCHER),
            key("chengguan-clerk", Role::UnitHandler, Some("chengguan"), keys::CHENGGUAN),
            key("petition-desk", Role::Evaluator, None, keys::EVALUATOR),
            key("office", Role::EfficiencyOffice, None, keys::OFFICE),
            key("operator", Role::Admin, None, keys::ADMIN),
            key("services", Role::Service, None, keys::SERVICE),
            key("importer", Role::Importer, None, keys::IMPORTER),
        ]);
        let keys = KeyStore::from_config(&configured).expect("test keys are valid");
        let local = "127.0.0.1:0".parse().expect("address");
        let configs = Configs {
            intake: IntakeConfig {
                listen: local,
                database: databases[0].config.clone(),
                citizen_data_key: Secret::new("AhwwEKh0CdlTW13N2hUw2knI8eox6ZgO6AScY3ypmmE="),
                citizen_data_key_previous: None,
                taxonomy_file: None,
                district_file: None,
                repeat_window_days: 180,
                routing_url: String::new(),
            },
            routing: RoutingConfig {
                listen: local,
                database: databases[1].config.clone(),
                intake_url: String::new(),
                evaluation_url: String::new(),
                units_file: None,
                catalog_file: None,
                calendar_file: None,
                policy_file: None,
                scan_interval_seconds: 3600,
                suggester_retrain_hours: 24,
            },
            evaluation: EvaluationConfig {
                listen: local,
                database: databases[2].config.clone(),
                routing_url: String::new(),
                intake_url: String::new(),
                policy_file: None,
                expiry_interval_seconds: 3600,
            },
            reporting: ReportingConfig {
                listen: local,
                database: databases[3].config.clone(),
                intake_url: String::new(),
                routing_url: String::new(),
                evaluation_url: String::new(),
                units_file: None,
                targets: Default::default(),
                bulletin: Default::default(),
                // Single sign-on through a trusted proxy: `sso.office` takes the office's key.
                console: caseflow_reporting::console::sso::ConsoleConfig {
                    session_hours: 9,
                    sso: Some(caseflow_reporting::console::sso::SsoConfig {
                        user_header: "x-remote-user".into(),
                        proxy_key_header: "x-caseflow-proxy-key".into(),
                        proxy_key_sha256: digest_key_hex(keys::SSO_PROXY),
                        users: vec![caseflow_reporting::console::sso::SsoUser {
                            user: "sso.office".into(),
                            key: "office".into(),
                        }],
                    }),
                },
            },
        };
        let clock = ManualClock::new(default_now());
        let ctx = ServiceContext {
            clock: Arc::new(clock.clone()),
            keys,
            service_key: Secret::new(keys::SERVICE),
            records: Default::default(),
            metrics_push: push,
        };
        let system = System::start(ctx, configs).await.expect("system starts");
        let sandbox = Self { system, clock, http: reqwest::Client::new(), databases };
        for service in Service::ALL {
            sandbox.wait_ready(service).await;
        }
        sandbox
    }

    pub fn url(&self, service: Service, path: &str) -> String {
        format!("http://{}{path}", self.system.addr(service))
    }

    async fn wait_ready(&self, service: Service) {
        let url = self.url(service, "/health/readyz");
        for _ in 0..200 {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{} did not become ready", service.name());
    }

    /// A gRPC channel to `service`, calling with `key` (none when `None`).
    pub async fn channel(&self, service: Service) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url(service, ""))
            .expect("endpoint")
            .connect()
            .await
            .expect("gRPC connects")
    }

    pub async fn post_order(&self, key: Option<&str>, order: &Value) -> (reqwest::StatusCode, Value) {
        let mut req = self.http.post(self.url(Service::Intake, "/v1/hotline/orders")).json(order);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("intake answers");
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Sends `body` as JSON with `method` to `path` on `service`.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        service: Service,
        path: &str,
        key: &str,
        body: &Value,
    ) -> (reqwest::StatusCode, Value) {
        let resp = self
            .http
            .request(method, self.url(service, path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(
        &self,
        service: Service,
        path: &str,
        key: &str,
        body: &Value,
    ) -> (reqwest::StatusCode, Value) {
        self.send_json(reqwest::Method::POST, service, path, key, body).await
    }

    pub async fn get_json(&self, service: Service, path: &str, key: &str) -> (reqwest::StatusCode, Value) {
        let resp = self.http.get(self.url(service, path)).bearer_auth(key).send().await.expect("answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Reporting's per-unit hotline counts over all of 2020.
    pub async fn unit_counts(&self) -> Value {
        let (status, body) = self
            .get_json(
                Service::Reporting,
                "/v1/reports/unit-counts?from=2020-01-01T00:00:00%2B08:00&to=2021-01-01T00:00:00%2B08:00",
                keys::OFFICE,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Total dispatches reporting has counted (units and triage).
    pub async fn counted_dispatches(&self) -> i64 {
        let counts = self.unit_counts().await;
        let units: i64 =
            counts["units"].as_array().map_or(0, |u| u.iter().filter_map(|x| x["received"].as_i64()).sum());
        units + counts["in_triage"].as_i64().unwrap_or(0)
    }

    /// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if start.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A GET whose answer is not JSON (CSV, XLSX, Markdown, HTML): status, content type, body.
    pub async fn get_raw(&self, service: Service, path: &str, key: &str) -> (reqwest::StatusCode, String, Vec<u8>) {
        let resp = self.http.get(self.url(service, path)).bearer_auth(key).send().await.expect("answers");
        let status = resp.status();
        let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (status, kind, resp.bytes().await.expect("body").to_vec())
    }

    /// A POST of a body that is not JSON (an uploaded table), with its content type; the answer
    /// as JSON.
    pub async fn post_raw(
        &self,
        service: Service,
        path: &str,
        key: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (reqwest::StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(service, path))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// What `caseflow import` needs to replay `file` into this sandbox.
    pub fn import_options(&self, file: &std::path::Path) -> caseflow::history::import::Options {
        let url = |s: Service| format!("http://{}", self.system.addr(s));
        caseflow::history::import::Options {
            file: file.to_owned(),
            intake: url(Service::Intake),
            routing: url(Service::Routing),
            evaluation: url(Service::Evaluation),
            key: caseflow_runtime::config::Secret::new(keys::IMPORTER),
            progress: false,
            outage_patience: std::time::Duration::from_secs(30),
            lanes: caseflow::history::import::DEFAULT_LANES,
            metrics: None,
        }
    }

    /// Waits until reporting has read everything the other services published: its three
    /// stream positions stop moving.
    pub async fn settled(&self) {
        let mut last = Value::Null;
        let mut still = 0;
        for _ in 0..600 {
            let (_, now) = self.get_json(Service::Reporting, "/v1/read-model", keys::ADMIN).await;
            if now == last {
                still += 1;
                if still >= 5 {
                    return;
                }
            } else {
                still = 0;
                last = now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("reporting never settled: {last}");
    }

    pub async fn shutdown(self) {
        self.system.shutdown().await.expect("clean shutdown");
    }
}

/// A valid petition; `n` makes the petition number unique.
pub fn petition(n: usize, channel: &str) -> Value {
    let mut p = json!({
        "petition_number": format!("XF2020{n:08}"),
        "received_at": "2020-03-03T10:00:00+08:00",
        "channel": channel,
        "purpose": "request_decision",
        "category": "construction.renovation",
        "content": format!("楼上住户违规装修，拆除承重墙（{n}）。"),
        "location": {"sub_district": "lizhong", "address": "新华北路8号"},
        "citizen": {"name": "庄雅滨", "phone": "13959001234", "id_number": "11010519491231002X"},
        "matters": [{"category": "construction.renovation", "summary": "违规装修", "target_unit": "zhujian"}],
    });
    if channel == "visit" {
        p["visit"] = json!({"batches": 1, "persons": 1});
    }
    p
}

/// Every table of a service's database, as bytes: the SQLite file and its WAL, or every
/// PostgreSQL row as text.
/// Runs `sql` directly on a service's database: for tests that damage what a service keeps.
pub fn execute_sql(db: &TestDatabase, sql: &str) {
    use diesel::Connection as _;
    use diesel::connection::SimpleConnection as _;
    if let Some(path) = db.config.url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open the SQLite file");
        conn.batch_execute(sql).expect("statement runs");
        return;
    }
    let schema = db.config.schema.clone().expect("PostgreSQL test databases have a schema");
    let mut conn = diesel::PgConnection::establish(&db.config.url).expect("connect");
    conn.batch_execute(&format!("SET search_path TO \"{schema}\"; {sql}")).expect("statement runs");
}

pub fn dump_database(db: &TestDatabase) -> Vec<u8> {
    use diesel::Connection as _;
    use diesel::RunQueryDsl as _;
    if let Some(path) = db.config.url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).unwrap_or_default();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        return bytes;
    }
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Dump {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dump: String,
    }
    let schema = db.config.schema.clone().expect("PostgreSQL test databases have a schema");
    let mut conn = diesel::PgConnection::establish(&db.config.url).expect("connect for dump");
    let tables: Vec<Name> = diesel::sql_query(format!(
        "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
    ))
    .load(&mut conn)
    .expect("list tables");
    let mut out = Vec::new();
    for t in tables {
        let rows: Vec<Dump> = diesel::sql_query(format!(
            "SELECT COALESCE(string_agg(t::text, '|'), '') AS dump FROM \"{schema}\".\"{}\" t",
            t.table_name
        ))
        .load(&mut conn)
        .expect("dump table");
        for r in rows {
            out.extend(r.dump.into_bytes());
        }
    }
    out
}

/// A valid work order; `n` makes the order number unique, `units` names one matter per unit.
pub fn order(n: usize, units: &[&str]) -> Value {
    let matters: Vec<Value> = units
        .iter()
        .map(|u| json!({"category": "urban_management.cooking_fume", "summary": format!("油烟扰民 {n}"), "target_unit": u}))
        .collect();
    json!({
        "order_number": format!("GD2020{n:08}"),
        "received_at": "2020-03-02T09:30:00+08:00",
        "channel": "phone",
        "kind": "complaint",
        "category": "urban_management.cooking_fume",
        "content": format!("中山路餐饮店油烟直排，影响住户休息（{n}）。"),
        "location": {"sub_district": "kaiyuan", "address": "中山路100号"},
        "citizen": {"name": "陈建红", "phone": "13812341234", "anonymous": false, "hide_identity": false},
        "matters": matters,
    })
}

/// Panics unless every piece stands in `text`, in this order (a document's sections).
/// A work order as the platform sends it over gRPC: a construction-noise complaint in 鲤中街道
/// for 鲤城生态环境局, received 2020-03-02 09:30 in the district.
pub fn grpc_order(number: &str) -> caseflow_proto::v1::HotlineOrder {
    use caseflow_proto::v1 as pb;
    pb::HotlineOrder {
        order_number: number.into(),
        received_at: Some(prost_types::Timestamp { seconds: 1_583_112_600, nanos: 0 }),
        channel: pb::HotlineChannel::Web as i32,
        kind: pb::CaseKind::Complaint as i32,
        category: "ecology.construction_noise".into(),
        content: "夜间工地施工噪音".into(),
        location: Some(pb::Location {
            sub_district: "lizhong".into(), address: "新华路".into(), lat: None, lon: None
        }),
        citizen: Some(pb::Citizen { name: "林碧英".into(), phone: "13900001111".into(), ..Default::default() }),
        matters: vec![pb::MatterInput {
            category: "ecology.construction_noise".into(),
            summary: "夜间施工".into(),
            target_unit: "shengtaihuanjing".into(),
        }],
        related_case_id: String::new(),
    }
}

pub fn assert_in_order(text: &str, pieces: &[&str]) {
    let mut at = 0;
    for piece in pieces {
        let found = text[at..].find(piece).unwrap_or_else(|| panic!("{piece} missing or out of order:\n{text}"));
        at += found + piece.len();
    }
}
