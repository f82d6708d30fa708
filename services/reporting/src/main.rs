//! `caseflow-reporting`: the reporting service on its own. Reads the `[reporting]` section of the
//! deployment file given as first argument (default `deploy/caseflow.toml`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    caseflow_runtime::standalone::main("reporting", caseflow_reporting::run).await
}
