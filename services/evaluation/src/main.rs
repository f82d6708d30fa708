//! `caseflow-evaluation`: the evaluation service on its own. Reads the `[evaluation]` section of the
//! deployment file given as first argument (default `deploy/caseflow.toml`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    caseflow_runtime::standalone::main("evaluation", caseflow_evaluation::run).await
}
