//! `caseflow-intake`: the intake service on its own. Reads the `[intake]` section of the
//! deployment file given as first argument (default `deploy/caseflow.toml`).

fn main() -> anyhow::Result<()> {
    caseflow_runtime::server::runtime(1)?.block_on(caseflow_runtime::standalone::main("intake", caseflow_intake::run))
}
