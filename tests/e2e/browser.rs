//! The console and the citizen's rating page in a real browser: a generated half-year is
//! imported, one more case is left open past its deadline and one resolved for the citizen to
//! rate, and `tests/browser/console.mjs` drives Debian's headless Chromium through the pages
//! (playwright-core from the npm registry, pinned in `tests/browser/package-lock.json`, installed
//! by `make browser-deps`). Screenshots of every page are kept under
//! `target/browser-artifacts/<backend>/`.

use std::path::PathBuf;
use std::time::Duration;

use caseflow::Service;
use caseflow::history::demo::{self, Spec};
use caseflow::history::import;
use caseflow_tests::{Sandbox, keys, order};
use chrono::DateTime;
use serde_json::json;

use crate::evaluation::{dispatches, evaluation, resolve_all_landed};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_unit_handlers_and_citizens_use_the_pages_in_a_browser() {
    let root = workspace();
    let script = root.join("tests/browser/console.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `make browser-deps` (npm ci in tests/browser)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: apt-get install --no-install-recommends chromium (or set CHROMIUM)"
    );

    let sandbox = Sandbox::start().await;
    let read_at = DateTime::parse_from_rfc3339("2020-07-23T12:00:00+08:00").expect("valid");
    sandbox.clock.set(read_at.with_timezone(&chrono::Utc));
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.jsonl");
    let mut out = Vec::new();
    demo::write(&demo::generate(&Spec { seed: 13, scale: 0.02, ..Spec::default() }), &mut out).expect("written");
    std::fs::write(&path, out).expect("file");
    let summary = import::run(&sandbox.import_options(&path)).await.expect("import runs");
    assert!(summary.bad.is_empty(), "{}", summary.render());

    // One order left open at 城管局 (overdue on the unit page as of September), one resolved
    // for the citizen's link.
    let (status, open) = sandbox.post_order(Some(keys::INTEGRATOR), &order(900_001, &["chengguan"])).await;
    assert_eq!(status, 201, "{open}");
    let open_case = open["case_id"].as_str().expect("id").to_owned();
    dispatches(&sandbox, &open_case, 1).await;
    let (status, rated) = sandbox.post_order(Some(keys::INTEGRATOR), &order(900_002, &["zhujian"])).await;
    assert_eq!(status, 201, "{rated}");
    let rated_case = rated["case_id"].as_str().expect("id").to_owned();
    dispatches(&sandbox, &rated_case, 1).await;
    sandbox.clock.set(read_at.with_timezone(&chrono::Utc) + chrono::Duration::hours(1));
    resolve_all_landed(&sandbox, &rated_case, 1, "2020-07-23T12:30:00+08:00").await;
    evaluation(&sandbox, &rated_case, "due").await;
    let (status, link) = sandbox
        .post_json(Service::Evaluation, &format!("/v1/evaluations/{rated_case}/link"), keys::INTEGRATOR, &json!({}))
        .await;
    assert_eq!(status, 200, "{link}");
    sandbox.settled().await;

    let backend = if std::env::var("TEST_DATABASE_URL").is_ok() { "postgres" } else { "sqlite" };
    let artifacts = root.join("target/browser-artifacts").join(backend);
    let base = |s: Service| sandbox.url(s, "");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .env("REPORTING_URL", base(Service::Reporting).trim_end_matches('/'))
        .env("EVALUATION_URL", base(Service::Evaluation).trim_end_matches('/'))
        .env("OFFICE_KEY", keys::OFFICE)
        .env("UNIT_KEY", keys::CHENGGUAN)
        .env("UNIT", "chengguan")
        .env("OTHER_UNIT", "zhujian")
        .env("OPEN_CASE", &open_case)
        .env("RATE_PATH", link["path"].as_str().expect("path"))
        .env("RATED_CASE", &rated_case)
        .env("EVALUATOR_KEY", keys::EVALUATOR)
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install Node.js 20 or later)");
    let status = tokio::time::timeout(Duration::from_secs(240), child.wait())
        .await
        .expect("the browser tests finish within 4 minutes")
        .expect("node exits");
    assert!(
        status.success(),
        "the browser tests failed (their output is above; screenshots in {})",
        artifacts.display()
    );
    sandbox.shutdown().await;
}
