//! `caseflow`: the whole system in one process (`caseflow run`), and its tools.

use std::path::PathBuf;
use std::sync::Arc;

use caseflow::{Configs, Service, System};
use caseflow_runtime::clock::SystemClock;
use caseflow_runtime::deployment::{Deployment, ServiceContext};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "caseflow", about = "Case handling for the 12345 hotline and the petition office")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run all four services in this process (the default).
    Run {
        /// The deployment file.
        #[arg(long, default_value = "deploy/caseflow.toml")]
        config: PathBuf,
        /// On a first start (no intake database yet), load a small generated half-year
        /// through the importer with this key, so the reports have something to show.
        #[arg(long)]
        demo_data_key: Option<String>,
    },
    /// Print the SHA-256 digest of an API key, as `auth.keys[].sha256` expects it.
    HashKey {
        /// The key (a long random token).
        key: String,
    },
    /// Replay an import file (JSON Lines, docs/import-format.md) through the services' gRPC
    /// APIs as the importer. Resumable; running it twice changes nothing.
    Import {
        file: PathBuf,
        /// The deployment file, for the services' addresses.
        #[arg(long, default_value = "deploy/caseflow.toml")]
        config: PathBuf,
        /// The importer's API key (role `importer`); else CASEFLOW_IMPORTER_KEY.
        #[arg(long, env = "CASEFLOW_IMPORTER_KEY", hide_env_values = true)]
        key: String,
        /// How many groups of lines (a case's, a person's, a reception's) go at once; each
        /// group keeps its own order.
        #[arg(long, default_value_t = caseflow::history::import::DEFAULT_LANES as u16,
              value_parser = clap::value_parser!(u16).range(1..=1024))]
        lanes: u16,
    },
    /// Write the four services' OpenAPI documents (the ones each serves at /openapi.json) into
    /// a folder, for client generators and the contract check (`make contracts`).
    Openapi {
        #[arg(long, default_value = "target/openapi")]
        out: PathBuf,
    },
    /// Write the authorization table (every route and method × role) as Markdown, the
    /// documentation `docs/access.md` is.
    AccessTable {
        /// Where to write; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Copy the four SQLite databases into a folder while the services run (one consistent
    /// snapshot each). PostgreSQL deployments use pg_dump (deploy/README.md).
    Backup {
        /// The deployment file, for the databases' paths.
        #[arg(long, default_value = "deploy/caseflow.toml")]
        config: PathBuf,
        /// An empty or new folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-encrypt every stored citizen record under a new citizen-data key while intake runs.
    /// First restart intake with the new key as `intake.citizen_data_key` and the old one as
    /// `intake.citizen_data_key_previous`; run this (it resumes where it stopped); when it says
    /// finished, remove the old key and restart intake again (deploy/README.md).
    RotateCitizenKey {
        /// The deployment file (its `[intake]` section and the same overrides intake runs with).
        #[arg(long, default_value = "deploy/caseflow.toml")]
        config: PathBuf,
        /// Cases per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Ask a service's health endpoint and exit 0 on 200, 1 otherwise: the container image's
    /// health check, which has no curl.
    Probe {
        /// The URL, `http://host:port/path` (plain HTTP, as the probes are served).
        #[arg(env = "CASEFLOW_PROBE_URL", default_value = "http://127.0.0.1:8080/health/readyz")]
        url: String,
    },
    /// Write a seeded, realistic half-year (and the one a year before) in the import format.
    DemoData {
        #[arg(long, default_value_t = 2020)]
        seed: u64,
        /// 1.0 is the bulletin's volume (2577 hotline cases, 602 petitions a half-year).
        #[arg(long, default_value_t = 0.1)]
        scale: f64,
        /// First day of the half-year (district time).
        #[arg(long, default_value = "2020-01-01")]
        start: chrono::NaiveDate,
        /// Where to write; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run { config: "deploy/caseflow.toml".into(), demo_data_key: None }) {
        Command::Backup { config, out } => {
            let deployment = Deployment::load(Some(&config))?;
            for file in caseflow::backup_sqlite(&Configs::from_deployment(&deployment)?, &out)? {
                println!("{}", file.display());
            }
            Ok(())
        }
        Command::RotateCitizenKey { config, batch } => tokio::runtime::Runtime::new()?.block_on(async move {
            let deployment = Deployment::load(Some(&config))?;
            let intake: caseflow_intake::IntakeConfig = deployment.section("intake")?;
            let done = caseflow::rotate_citizen_key(&intake, batch, |p| {
                eprintln!("examined {} cases, rewrote {}, last {}", p.examined, p.rewritten, p.last_case);
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
            eprintln!(
                "finished: every citizen record is under the new key; remove intake.citizen_data_key_previous and restart intake"
            );
            Ok(())
        }),
        Command::Probe { url } => {
            let authority = caseflow::probe::authority(&url).to_owned();
            let path = url.strip_prefix("http://").unwrap_or(&url).strip_prefix(authority.as_str()).unwrap_or("/");
            let path = if path.is_empty() { "/" } else { path };
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(caseflow::probe::status(&authority, path, std::time::Duration::from_secs(3)))?;
            println!("{code}");
            anyhow::ensure!(code == 200, "{url} answered {code}");
            Ok(())
        }
        Command::HashKey { key } => {
            println!("{}", caseflow_runtime::auth::digest_key_hex(&key));
            Ok(())
        }
        Command::Run { config, demo_data_key } => {
            caseflow_runtime::server::runtime(4)?.block_on(run(config, demo_data_key))
        }
        Command::Import { file, config, key, lanes } => {
            tokio::runtime::Runtime::new()?.block_on(import(file, config, key, usize::from(lanes)))
        }
        Command::Openapi { out } => {
            use utoipa::OpenApi as _;
            std::fs::create_dir_all(&out)?;
            // Intake's as the built-in district's policy completes it, as a server serves it.
            let policy = caseflow_intake::taxonomy::Policy::load(None, None)?;
            for (name, doc) in [
                ("intake", caseflow_intake::rest::document(&policy)),
                ("routing", serde_json::to_value(caseflow_routing::rest::ApiDoc::openapi())?),
                ("evaluation", serde_json::to_value(caseflow_evaluation::rest::ApiDoc::openapi())?),
                ("reporting", serde_json::to_value(caseflow_reporting::rest::ApiDoc::openapi())?),
            ] {
                let path = out.join(format!("{name}.json"));
                std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
        Command::AccessTable { out } => {
            let table = caseflow_runtime::access::markdown();
            match out {
                Some(path) => std::fs::write(&path, table)?,
                None => print!("{table}"),
            }
            Ok(())
        }
        Command::DemoData { seed, scale, start, out } => {
            if !(scale > 0.0 && scale <= 10.0) {
                anyhow::bail!("--scale must be above 0 and at most 10 (1.0 is the bulletin's volume)");
            }
            let spec = caseflow::history::demo::Spec { seed, scale, start, ..Default::default() };
            let lines = caseflow::history::demo::generate(&spec);
            match out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    caseflow::history::demo::write(&lines, &mut file)?;
                    eprintln!("wrote {} lines to {}", lines.len(), path.display());
                }
                None => caseflow::history::demo::write(&lines, &mut std::io::stdout().lock())?,
            }
            Ok(())
        }
    }
}

async fn import(file: PathBuf, config: PathBuf, key: String, lanes: usize) -> anyhow::Result<()> {
    let deployment = Deployment::load(Some(&config))?;
    let configs = Configs::from_deployment(&deployment)?;
    let mut opts = import_options(&configs, file, key, true);
    opts.lanes = lanes;
    // Lines by outcome go to the collector with the services' metrics, when one is configured.
    if let Some(push) = deployment.telemetry.metrics_push() {
        opts.metrics = Some(caseflow_runtime::metrics::Metrics::new("importer", Some(&push))?);
    }
    let summary = caseflow::history::import::run(&opts).await;
    if let Some(metrics) = opts.metrics.take() {
        tokio::task::spawn_blocking(move || metrics.shutdown()).await?;
    }
    print!("{}", summary?.render());
    Ok(())
}

/// Importing into the services the deployment file describes.
fn import_options(configs: &Configs, file: PathBuf, key: String, progress: bool) -> caseflow::history::import::Options {
    let url = |addr: std::net::SocketAddr| format!("http://{addr}");
    caseflow::history::import::Options {
        file,
        intake: url(configs.intake.listen),
        routing: url(configs.routing.listen),
        evaluation: url(configs.evaluation.listen),
        key: caseflow_runtime::config::Secret::new(key),
        progress,
        outage_patience: caseflow::history::import::DEFAULT_OUTAGE_PATIENCE,
        lanes: caseflow::history::import::DEFAULT_LANES,
        metrics: None,
    }
}

/// Where the first start's demo half-year is written; its journal makes a restart resume it.
const DEMO_FILE: &str = "data/demo/history.jsonl";

async fn run(path: PathBuf, demo_data_key: Option<String>) -> anyhow::Result<()> {
    let deployment = Deployment::load(Some(&path))?;
    let configs = Configs::from_deployment(&deployment)?;
    let first_start =
        configs.intake.database.url.strip_prefix("sqlite://").is_some_and(|file| !std::path::Path::new(file).exists());
    let demo = demo_data_key.filter(|_| first_start || std::path::Path::new(DEMO_FILE).exists());
    let keys = deployment.key_store()?;
    let telemetry = caseflow_runtime::telemetry::init(&deployment.telemetry)?;
    let ctx = ServiceContext {
        clock: Arc::new(SystemClock),
        keys,
        service_key: deployment.auth.service_key.clone(),
        records: deployment.records,
        metrics_push: deployment.telemetry.metrics_push(),
    };
    let mut system = System::start(ctx, configs.clone()).await?;
    print_banner(&system);
    if let Some(key) = demo {
        tokio::spawn(load_demo(configs, key));
    }

    let outcome = tokio::select! {
        () = caseflow_runtime::server::termination_signal() => {
            tracing::info!("termination signal received; shutting down");
            Ok(())
        }
        (service, result) = system.any_stopped() => {
            tracing::error!(service = service.name(), "service stopped unexpectedly; shutting down the rest");
            result.and(Err(anyhow::anyhow!("{} stopped unexpectedly", service.name())))
        }
    };
    let stopped = system.shutdown().await;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    outcome.and(stopped)
}

/// Generates the demo half-year once and imports it (resuming an interrupted import).
async fn load_demo(configs: Configs, key: String) {
    let file = PathBuf::from(DEMO_FILE);
    if !file.exists() {
        let lines =
            caseflow::history::demo::generate(&caseflow::history::demo::Spec { scale: 0.05, ..Default::default() });
        let written = file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
            caseflow::history::demo::write(&lines, &mut out)?;
            std::io::Write::flush(&mut out)
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "demo data not written");
            return;
        }
    }
    println!("Loading a generated half-year (2020年上半年, and the year before) from {DEMO_FILE} ...");
    let opts = import_options(&configs, file, key, false);
    match caseflow::history::import::run(&opts).await {
        Ok(summary) => println!(
            "Demo data loaded: {} lines ({} not applied). Try the bulletin:\n  curl -s 'http://{}/v1/reports/bulletin?from=2020-01-01T00:00:00%2B08:00&to=2020-07-01T00:00:00%2B08:00' -H 'Authorization: Bearer dev-office-key'",
            summary.applied + summary.already_done,
            summary.bad.len(),
            configs.reporting.listen
        ),
        Err(e) => tracing::error!(error = %e, "demo data not loaded; `make run` again resumes it"),
    }
}

fn print_banner(system: &System) {
    println!("Caseflow is running (SQLite under ./data). Ctrl-C stops it.");
    for service in Service::ALL {
        println!("  {:<10} http://{}  (REST + gRPC)", service.name(), system.addr(service));
    }
    let intake = system.addr(Service::Intake);
    let reporting = system.addr(Service::Reporting);
    println!();
    println!("Take in a work order:");
    println!(
        "  curl -s -X POST http://{intake}/v1/hotline/orders -H 'Authorization: Bearer dev-integrator-key' \\\n    -H 'Content-Type: application/json' -d @deploy/examples/hotline-order.json"
    );
    println!("Count it for its unit:");
    println!(
        "  curl -s 'http://{reporting}/v1/reports/unit-counts?from=2020-01-01T00:00:00%2B08:00&to=2030-01-01T00:00:00%2B08:00' -H 'Authorization: Bearer dev-office-key'"
    );
}
