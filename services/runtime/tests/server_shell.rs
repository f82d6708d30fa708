//! The server shell every service runs in, with a router of its own: a handler that panics
//! fails its own request and nothing else.

use axum::Router;
use axum::routing::get;
use caseflow_runtime::auth::KeyStore;
use caseflow_runtime::db::Db;
use caseflow_runtime::event_log::MIGRATIONS;
use caseflow_runtime::server::{self, Endpoints, Readiness};
use caseflow_runtime::testing::TestDatabase;
use tokio_util::sync::CancellationToken;

async fn boom() -> &'static str {
    let cells: Vec<u32> = Vec::new();
    if cells.is_empty() {
        panic!("a handler bug");
    }
    "unreachable"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_problem_json_and_the_server_goes_on() {
    let test_db = TestDatabase::new("shell");
    let db = Db::connect(&test_db.config, vec![&MIGRATIONS]).await.expect("database opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let keys = KeyStore::from_config(&[]).expect("no keys");
    let endpoints = Endpoints {
        service: "shell",
        rest: Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" })),
        grpc: tonic::service::Routes::from(Router::new()),
        grpc_names: vec![],
        keys,
        clock: std::sync::Arc::new(caseflow_runtime::clock::SystemClock),
        records: Default::default(),
        metrics: caseflow_runtime::metrics::Metrics::new("shell", None).expect("metrics"),
    };
    let server = tokio::spawn(server::serve(listener, endpoints, db, Readiness::default(), shutdown.clone()));
    let http = reqwest_like::Client::new(addr);

    let (status, content_type, body) = http.get("/boom").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(content_type, "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&body).expect("problem+json");
    assert_eq!(problem["status"], 500, "{problem}");
    assert!(!body.contains("a handler bug"), "no internals in the answer: {body}");

    for _ in 0..3 {
        assert_eq!(http.get("/boom").await.0, 500, "each panic fails only its own request");
    }
    assert_eq!(http.get("/fine").await, (200, "text/plain; charset=utf-8".into(), "fine".into()));
    let (status, _, ready) = http.get("/health/readyz").await;
    assert_eq!(status, 200, "{ready}");
    shutdown.cancel();
    server.await.expect("join").expect("serves until shutdown");
}

/// A minimal HTTP/1.1 client over a TcpStream: the runtime crate has no HTTP client, and one
/// request per connection is all this needs.
mod reqwest_like {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    pub struct Client(std::net::SocketAddr);

    impl Client {
        pub fn new(addr: std::net::SocketAddr) -> Self {
            Self(addr)
        }

        pub async fn get(&self, path: &str) -> (u16, String, String) {
            let mut tcp = tokio::net::TcpStream::connect(self.0).await.expect("connects");
            let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
            tcp.write_all(request.as_bytes()).await.expect("sends");
            let mut raw = Vec::new();
            tcp.read_to_end(&mut raw).await.expect("reads");
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let content_type =
                head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or_default().to_owned();
            (status, content_type, body.to_owned())
        }
    }
}
