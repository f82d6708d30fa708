//! One deployment of the all-in-one `caseflow run` process as a child, on its own folder, ports
//! and databases (SQLite, or a PostgreSQL schema per service when `TEST_DATABASE_URL` is set):
//! shared by the crash test and the write-path benchmark, which include it by path.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caseflow::history::import;
use caseflow_runtime::testing::TestDatabase;
use serde_json::{Value, json};

pub const SERVICES: [&str; 4] = ["intake", "routing", "evaluation", "reporting"];
pub const INTEGRATOR: &str = "dev-integrator-key";
pub const DISPATCHER: &str = "dev-dispatcher-key";
pub const OFFICE: &str = "dev-office-key";
pub const ADMIN: &str = "dev-admin-key";
pub const IMPORTER: &str = "dev-importer-key";

/// One deployment of the all-in-one process: its folder, ports and databases.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub ports: BTreeMap<&'static str, u16>,
    /// Kept so that the PostgreSQL schemas are dropped at the end.
    _databases: Vec<TestDatabase>,
    pub child: Option<Child>,
    pub starts: usize,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Deployment {
    /// The repository's `deploy/caseflow.toml` with this deployment's ports and databases.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let template =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/caseflow.toml"))
                .expect("deploy/caseflow.toml");
        let mut config = template.replace("log_format = \"pretty\"", "log_format = \"json\"");
        let mut ports = BTreeMap::new();
        let mut databases = Vec::new();
        for (i, service) in SERVICES.iter().enumerate() {
            let port = free_port();
            ports.insert(*service, port);
            config = config.replace(&format!("127.0.0.1:808{}", i + 1), &format!("127.0.0.1:{port}"));
            let db = TestDatabase::new(service);
            if let Some(schema) = &db.config.schema {
                config = config.replace(
                    &format!("{{ url = \"sqlite://data/{service}.db\" }}"),
                    &format!("{{ url = \"{}\", schema = \"{schema}\" }}", db.config.url),
                );
            }
            databases.push(db);
        }
        std::fs::write(dir.path().join("caseflow.toml"), config).expect("config");
        Self { dir, ports, _databases: databases, child: None, starts: 0 }
    }

    pub fn url(&self, service: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[service])
    }

    /// Starts `caseflow run` on this deployment's data and waits until every service is ready.
    pub async fn start(&mut self, http: &reqwest::Client) {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.path().join(format!("run-{}.log", self.starts))).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_caseflow"))
            .args(["run", "--config", "caseflow.toml"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("caseflow starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        for service in SERVICES {
            loop {
                let ok =
                    http.get(self.url(service, "/health/readyz")).send().await.is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    panic!("caseflow exited ({status}) while starting; see {}", self.log_tail());
                }
                assert!(Instant::now() < deadline, "{service} not ready in 60 s; {}", self.log_tail());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join(format!("run-{}.log", self.starts))).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn import_options(&self, file: PathBuf) -> import::Options {
        import::Options {
            file,
            intake: self.url("intake", ""),
            routing: self.url("routing", ""),
            evaluation: self.url("evaluation", ""),
            key: caseflow_runtime::config::Secret::new(IMPORTER),
            progress: false,
            outage_patience: Duration::from_secs(120),
            lanes: std::env::var("BENCH_IMPORT_LANES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(caseflow::history::import::DEFAULT_LANES),
            metrics: None,
        }
    }

    pub async fn get(&self, http: &reqwest::Client, service: &str, path: &str, key: &str) -> Value {
        let r = http.get(self.url(service, path)).bearer_auth(key).send().await.expect("answers");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// Waits until reporting's read model stands still.
    pub async fn settled(&self, http: &reqwest::Client) {
        let (mut last, mut still) = (Value::Null, 0);
        for _ in 0..600 {
            let now = self.get(http, "reporting", "/v1/read-model", ADMIN).await;
            still = if now == last { still + 1 } else { 0 };
            if still >= 5 {
                return;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("reporting never settled: {last}");
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A live work order received a minute ago, numbered `{prefix}{n}`, from `phone`, for 区城管局.
pub fn order(prefix: &str, n: usize, phone: &str) -> Value {
    let received =
        chrono::Utc::now().with_timezone(&caseflow_runtime::clock::district_offset()) - chrono::Duration::minutes(1);
    json!({
        "order_number": format!("{prefix}{n:08}"),
        "received_at": received.to_rfc3339(),
        "channel": "phone",
        "kind": "complaint",
        "category": "urban_management.cooking_fume",
        "content": format!("中山路餐饮店油烟直排，影响住户休息（{n}）。"),
        "location": {"sub_district": "kaiyuan", "address": "中山路100号"},
        "citizen": {"name": "陈建红", "phone": phone, "anonymous": false, "hide_identity": false},
        "matters": [{"category": "urban_management.cooking_fume", "summary": format!("油烟扰民 {n}"), "target_unit": "chengguan"}],
    })
}
