//! The write path end to end, against a reference measured in the same run on the same machine
//! (`../shared/bench/README.md`): the intake3 transaction (a case, a dispatch, an event) by
//! pgbench on the same PostgreSQL when `TEST_DATABASE_URL` is set (`make bench` sets it from
//! `BENCH_DATABASE_URL`), else by one SQLite writer
//! with the pragmas the services use. Both sides share the machine, as the issue asks.
//!
//! The product side is the release `caseflow run` as a child process (all four services), and
//! a load generator here: `BENCH_ORDERS` work orders (default 5,000) from 16 clients, each with
//! a unique order number and phone, timed from the first POST until reporting has counted every
//! one with its dispatch; then the same count from one frequent caller (every order the same
//! phone). It prints, with the ratio to the reference where there is one:
//! - cases counted by reporting per second, and the order POST's p50 and p99;
//! - the POST's p99 at half that rate (or `BENCH_PACE` orders/s), sent at a steady pace for 10 s;
//! - the frequent caller's rate against the unique-phone rate;
//! - idle: the process's CPU over 10 s with no traffic, and the database's commits (PostgreSQL)
//!   or bytes written to the data files (SQLite) in that time;
//! - peak RSS of the process;
//! - import lines per second of a generated half-year (`BENCH_IMPORT_SCALE`, default 0.2);
//! - the CPU each case (and each import line) cost Caseflow's process and, when PostgreSQL runs
//!   on this machine, the server, beside pgbench's server CPU per transaction: steadier than a
//!   rate on a shared machine, where a run's rates swing by a fifth;
//! - the write transactions each case (and each import line) cost the four services, and on
//!   SQLite the commits they shared, from the services' `/metrics`: counts, which that noise
//!   does not move at all.
//!
//! Targets (issue 15): end to end at least 0.5 of pgbench on PostgreSQL at 16 clients, at
//! least 2,500 cases/s on SQLite; a frequent caller at least 0.8 of unique phones; idle under
//! 1 % of a core and no commits; import at least 5,000 lines/s; peak RSS at most 150 MB.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use caseflow::history::{demo, import};
use serde_json::Value;
use support::{Deployment, INTEGRATOR, OFFICE};

const CLIENTS: usize = 16;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(bench())
}

/// What the reference transaction did in the same run.
struct Reference {
    what: String,
    tx_per_s: f64,
    /// The local PostgreSQL server's CPU per transaction, in milliseconds (pgbench only).
    server_cpu_ms: Option<f64>,
}

async fn bench() -> anyhow::Result<()> {
    let orders: usize = std::env::var("BENCH_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    // The deployment makes a schema per service there (`make bench` passes BENCH_DATABASE_URL).
    let postgres = caseflow_runtime::testing::postgres_url();
    println!("write path: {orders} orders from {CLIENTS} clients, {}", postgres.as_deref().unwrap_or("SQLite"));

    let reference = match &postgres {
        Some(url) => pgbench(url)?,
        None => sqlite_reference()?,
    };
    println!(
        "reference: {} {:.0} tx/s{}",
        reference.what,
        reference.tx_per_s,
        reference.server_cpu_ms.map(|ms| format!(", PostgreSQL {ms:.2} ms of CPU per transaction")).unwrap_or_default()
    );

    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let mut d = Deployment::new();
    d.start(&http).await;
    let pid = d.child.as_ref().map(std::process::Child::id).unwrap_or_default();
    let meter = Meter { pid, postgres: postgres.is_some() };
    let since = chrono::Utc::now() - chrono::Duration::hours(1);

    // Warm-up: connections, prepared statements, caches.
    load(&d, &http, meter, 0, 200, Phone::Unique, since).await?;

    let unique = load(&d, &http, meter, 1_000_000, orders, Phone::Unique, since).await?;
    println!(
        "end to end, unique phones: {:.0} cases/s counted by reporting ({:.2} of the reference), POST p50 {:.1} ms p99 {:.1} ms, reporting {:.2} s behind when the load stopped",
        unique.rate,
        unique.rate / reference.tx_per_s,
        unique.p50_ms,
        unique.p99_ms,
        unique.behind_s
    );
    println!("  {}; {}", unique.cpu, unique.writes);
    // Two binaries compared at the same pace: `BENCH_PACE` orders/s instead of half this run's rate.
    let half = std::env::var("BENCH_PACE").ok().and_then(|v| v.parse().ok()).unwrap_or(unique.rate / 2.0);
    let before = counted(&d, &http, since).await?;
    let (paced_p99, sent) = paced(&d, &http, 3_000_000, half).await?;
    println!("at half that load ({half:.0} orders/s for 10 s): POST p99 {paced_p99:.1} ms (target at most 25 ms)");
    // Reporting counts the paced orders before the next load starts its count.
    while counted(&d, &http, since).await? < before + sent as i64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frequent = load(&d, &http, meter, 2_000_000, orders / 2, Phone::Same, since).await?;
    println!(
        "end to end, one frequent caller: {:.0} cases/s ({:.2} of unique phones), POST p99 {:.1} ms",
        frequent.rate,
        frequent.rate / unique.rate,
        frequent.p99_ms
    );
    println!("  {}; {}", frequent.cpu, frequent.writes);

    // Every consumer has caught up (evaluation may still be applying routing's last events
    // when reporting has counted them all).
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (cpu, writes) = idle(pid, &d, postgres.as_deref()).await?;
    println!("idle for 10 s: {:.2} % of a core, {writes}", cpu * 100.0);
    println!("peak RSS under load: {:.0} MB", peak_rss_mb(pid));

    let scale: f64 = std::env::var("BENCH_IMPORT_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(0.2);
    let lines = demo::generate(&demo::Spec { seed: 7, scale, ..demo::Spec::default() });
    let file = d.dir.path().join("history.jsonl");
    let mut text = Vec::new();
    demo::write(&lines, &mut text)?;
    std::fs::write(&file, &text)?;
    let (started, cpu, wrote) = (Instant::now(), meter.read(), write_counts(&d, &http).await?);
    let summary = import::run(&d.import_options(file)).await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = meter.read().per(cpu, summary.lines, "line");
    let wrote = write_counts(&d, &http).await?.per(wrote, summary.lines, "line");
    anyhow::ensure!(summary.bad.is_empty(), "the import refused {} lines: {:?}", summary.bad.len(), summary.bad);
    println!("import: {} lines in {secs:.1} s, {:.0} lines/s", summary.lines, summary.lines as f64 / secs);
    println!("  {cpu} (the importer's own CPU not counted); {wrote}");
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Phone {
    Unique,
    Same,
}

struct Load {
    /// Cases counted by reporting per second, from the first POST.
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// How long after the last POST's answer reporting had counted them all.
    behind_s: f64,
    /// CPU per case, in words ([`Cpu::per`]).
    cpu: String,
    /// Write transactions and commits per case, in words ([`Writes::per`]).
    writes: String,
}

/// Order `n`, from its own phone or the frequent caller's.
fn order(n: usize, phone: Phone) -> Value {
    let phone = match phone {
        Phone::Unique => format!("139{:08}", n % 100_000_000),
        Phone::Same => "13912345678".to_owned(),
    };
    support::order("GDBENCH", n, &phone)
}

/// Cases reporting has counted since `since`, with their dispatches.
async fn counted(d: &Deployment, http: &reqwest::Client, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<i64> {
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    let path = format!(
        "/v1/reports/unit-counts?from={}&to={}",
        since.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let v = d.get(http, "reporting", &path, OFFICE).await;
    let dispatches: i64 = v["units"].as_array().into_iter().flatten().filter_map(|u| u["received"].as_i64()).sum();
    Ok(dispatches.min(v["cases"].as_i64().unwrap_or(0)))
}

/// Sends `count` orders numbered from `first` from 16 clients and waits until reporting has
/// counted them all.
async fn load(
    d: &Deployment,
    http: &reqwest::Client,
    meter: Meter,
    first: usize,
    count: usize,
    phone: Phone,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Load> {
    let before = counted(d, http, since).await?;
    let cpu = meter.read();
    let wrote = write_counts(d, http).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let url = d.url("intake", "/v1/hotline/orders");
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, next) = (http.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let body = order(first + i, phone);
                    let t = Instant::now();
                    let r = http.post(&url).bearer_auth(INTEGRATOR).json(&body).send().await?;
                    anyhow::ensure!(r.status().is_success(), "order {} refused: {}", first + i, r.status());
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for c in clients {
        latencies.extend(c.await??);
    }
    let posted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while counted(d, http, since).await? < before + count as i64 {
        anyhow::ensure!(Instant::now() < deadline, "reporting did not count {count} orders in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = started.elapsed();
    let cpu = meter.read().per(cpu, count, "case");
    let writes = write_counts(d, http).await?.per(wrote, count, "case");
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    Ok(Load {
        rate: count as f64 / done.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        behind_s: (done - posted).as_secs_f64(),
        cpu,
        writes,
    })
}

/// Orders sent at `rate` per second for 10 s from 16 clients, each on its own clock (an open
/// load: a slow answer does not slow the next order); the POST's p99 in milliseconds, and how
/// many were sent.
async fn paced(d: &Deployment, http: &reqwest::Client, first: usize, rate: f64) -> anyhow::Result<(f64, usize)> {
    let per_client = Duration::from_secs_f64(CLIENTS as f64 / rate.max(1.0));
    let count = ((rate * 10.0) as usize / CLIENTS).max(1);
    let url = d.url("intake", "/v1/hotline/orders");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                // The clients' ticks are spread over the interval, so that orders arrive at a
                // steady pace and not sixteen at once.
                let offset = per_client.mul_f64(c as f64 / CLIENTS as f64);
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, per_client);
                let mut sent = Vec::with_capacity(count);
                for i in 0..count {
                    ticks.tick().await;
                    let (http, url, body) = (http.clone(), url.clone(), order(first + c * count + i, Phone::Unique));
                    sent.push(tokio::spawn(async move {
                        let t = Instant::now();
                        let r = http.post(&url).bearer_auth(INTEGRATOR).json(&body).send().await?;
                        anyhow::ensure!(r.status().is_success(), "refused: {}", r.status());
                        Ok::<_, anyhow::Error>(t.elapsed())
                    }));
                }
                let mut latencies = Vec::with_capacity(count);
                for s in sent {
                    latencies.push(s.await??);
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await??);
    }
    latencies.sort();
    let at = ((latencies.len() as f64 * 0.99) as usize).min(latencies.len().saturating_sub(1));
    Ok((latencies.get(at).map_or(0.0, |l| l.as_secs_f64() * 1e3), latencies.len()))
}

/// The process's CPU share of one core over 10 s at rest, and what the database wrote then.
async fn idle(pid: u32, d: &Deployment, postgres: Option<&str>) -> anyhow::Result<(f64, String)> {
    let ticks = || cpu_ticks(&[pid]);
    // Transactions committed (reads in autocommit count too) and rows written, database-wide.
    let commits = |url: &str| -> (u64, u64) {
        let out = Command::new("psql")
            .args([
                url,
                "-AtF",
                " ",
                "-c",
                "select xact_commit, tup_inserted + tup_updated + tup_deleted from pg_stat_database \
                 where datname = current_database()",
            ])
            .output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        let mut f = text.split_whitespace().map(|v| v.parse().unwrap_or(0));
        (f.next().unwrap_or(0), f.next().unwrap_or(0))
    };
    let written = |dir: &Path| -> u64 { data_bytes(&dir.join("data")) };
    // Reading pg_stat_database is itself counted there (psql's session, flushed when it ends):
    // two readings with nothing between them say how much one reading adds.
    let own = match (postgres.map(commits), postgres.map(commits)) {
        (Some((a, _)), Some((b, _))) => b.saturating_sub(a),
        _ => 0,
    };
    let (t0, c0, w0) = (ticks(), postgres.map(commits), written(d.dir.path()));
    // The window, to match against the database's statement log when something shows.
    println!("idle window from {} UTC", chrono::Utc::now().format("%H:%M:%S%.3f"));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (t1, c1, w1) = (ticks(), postgres.map(commits), written(d.dir.path()));
    let cpu = (t1 - t0) as f64 / TICKS_PER_S / 10.0;
    let writes = match (c0, c1) {
        (Some((a, ra)), Some((b, rb))) => format!(
            "{:.1} transactions/s and {} rows written on PostgreSQL (one reading of the counters adds {own})",
            b.saturating_sub(a).saturating_sub(own) as f64 / 10.0,
            rb.saturating_sub(ra)
        ),
        _ => format!("{} bytes written to the SQLite files", w1.abs_diff(w0)),
    };
    Ok((cpu, writes))
}

/// The size of every file under `dir` (the SQLite databases and their write-ahead logs).
fn data_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Linux's clock ticks per second, the unit of a process's CPU times in `/proc`.
const TICKS_PER_S: f64 = 100.0;

/// The CPU time `pids` have used so far, user and system, in clock ticks, with that of their
/// children that ended (PostgreSQL's backends for connections that closed count in the
/// postmaster's); a process that is gone counts nothing.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the command's closing parenthesis: utime, stime, cutime and cstime
            // are the 12th to the 15th (proc(5)).
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            rest.split_whitespace().skip(11).take(4).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>()
        })
        .sum()
}

/// The local PostgreSQL server's processes (its backends come and go with connections, so ask
/// again around each measurement). Empty when the server runs elsewhere: its CPU is then not
/// measured.
fn postgres_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .collect()
}

/// CPU used per unit of work, in milliseconds, by Caseflow's process and by the local PostgreSQL
/// server: steadier than a rate on a shared machine, where the other side of the load and
/// whatever else runs take their share of the two cores.
#[derive(Clone, Copy)]
struct Cpu {
    caseflow: u64,
    postgres: u64,
}

/// Where [`Cpu`] is read: Caseflow's process, and whether the database is PostgreSQL.
#[derive(Clone, Copy)]
struct Meter {
    pid: u32,
    postgres: bool,
}

impl Meter {
    fn read(self) -> Cpu {
        Cpu { caseflow: cpu_ticks(&[self.pid]), postgres: if self.postgres { cpu_ticks(&postgres_pids()) } else { 0 } }
    }
}

impl Cpu {
    /// What was used since `start`, per one of `units`, said in words.
    fn per(self, start: Cpu, units: usize, unit: &str) -> String {
        let ms = |ticks: u64| ticks as f64 / TICKS_PER_S * 1e3 / units.max(1) as f64;
        let mut text = format!("caseflow {:.2} ms of CPU per {unit}", ms(self.caseflow.saturating_sub(start.caseflow)));
        if self.postgres > 0 {
            text.push_str(&format!(", PostgreSQL {:.2} ms", ms(self.postgres.saturating_sub(start.postgres))));
        }
        text
    }
}

/// Write transactions the four services committed and, on SQLite, the commits they shared (the
/// writer's groups: writes queued together commit together), from their `/metrics`. Counts, which
/// the noise of a shared machine does not move as it moves a rate: a change that saves a few
/// percent shows here when the rates cannot show it.
#[derive(Debug, Clone, Copy, Default)]
struct Writes {
    transactions: f64,
    commits: f64,
}

async fn write_counts(d: &Deployment, http: &reqwest::Client) -> anyhow::Result<Writes> {
    let mut w = Writes::default();
    for service in ["intake", "routing", "evaluation", "reporting"] {
        let text = http.get(d.url(service, "/metrics")).send().await?.text().await?;
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if series.starts_with("caseflow_db_transactions_total") && series.contains(r#"outcome="committed""#) {
                w.transactions += value;
            } else if series.starts_with("caseflow_db_write_groups_total") {
                w.commits += value;
            }
        }
    }
    Ok(w)
}

impl Writes {
    /// What was written since `start`, per one of `units`, said in words.
    fn per(self, start: Writes, units: usize, unit: &str) -> String {
        let n = units.max(1) as f64;
        let transactions = (self.transactions - start.transactions) / n;
        let commits = (self.commits - start.commits) / n;
        if commits > 0.0 {
            format!("{transactions:.1} write transactions per {unit} in {commits:.1} SQLite commits")
        } else {
            format!("{transactions:.1} write transactions per {unit}")
        }
    }
}

fn reference_dir() -> PathBuf {
    std::env::var("BENCH_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench"))
}

/// pgbench's intake3 at 16 clients for 10 s, in a schema of its own.
fn pgbench(url: &str) -> anyhow::Result<Reference> {
    let dir = reference_dir();
    let env = [("PGOPTIONS", "-c search_path=bench_reference")];
    let psql = |args: &[&str]| Command::new("psql").envs(env).arg(url).args(args).output();
    psql(&["-qc", "create schema if not exists bench_reference"])?;
    let schema = dir.join("pg_ceiling_schema.sql");
    psql(&["-q", "-f", &schema.to_string_lossy()])?;
    let run = format!("run={}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos());
    let server = cpu_ticks(&postgres_pids());
    let out = Command::new("pgbench")
        .envs(env)
        .args(["-n", "-d", url, "-M", "prepared", "-f"])
        .arg(dir.join("pg_ceiling_intake3.sql"))
        .args(["-D", "n=0", "-D", &run, "-c", "16", "-j", "2", "-T", "10"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("pgbench printed no tps: {text} {}", String::from_utf8_lossy(&out.stderr)))?;
    // pgbench has ended and its backends with it: their CPU is the postmaster's children's.
    let server = cpu_ticks(&postgres_pids()).saturating_sub(server);
    let transactions = text
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    let server_cpu_ms = transactions.filter(|&n| n > 0.0 && server > 0).map(|n| server as f64 / TICKS_PER_S * 1e3 / n);
    psql(&["-qc", "drop schema bench_reference cascade"])?;
    Ok(Reference { what: "pgbench intake3, 16 clients".into(), tx_per_s: tps, server_cpu_ms })
}

/// The same transaction by one SQLite writer, WAL, synchronous=NORMAL.
fn sqlite_reference() -> anyhow::Result<Reference> {
    let out = Command::new("python3").arg(reference_dir().join("sqlite_ceiling_intake3.py")).arg("20000").output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tx_per_s="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the SQLite reference printed no rate: {text}"))?;
    Ok(Reference { what: "SQLite intake3, one writer".into(), tx_per_s: tps, server_cpu_ms: None })
}
