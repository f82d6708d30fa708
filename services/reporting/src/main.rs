//! `caseflow-reporting`: the reporting service on its own. Reads the `[reporting]` section of the
//! deployment file given as first argument (default `deploy/caseflow.toml`).

fn main() -> anyhow::Result<()> {
    caseflow_runtime::server::runtime(1)?
        .block_on(caseflow_runtime::standalone::main("reporting", caseflow_reporting::run))
}
