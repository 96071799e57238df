//! `garm-bench`: measures the real `garm` binary on loopback, with a fake GitHub (in process,
//! behind a proxy that counts every API call by route) and `garm-bench-provider`, a provider
//! executable that answers at once and records when each call started.
//!
//! It measures webhook intake, queued webhook to `CreateInstance`, `completed` webhook to
//! `DeleteInstance`, GitHub calls per job, memory and idle CPU with many pools and instances,
//! a restart, and intake against several replicas on one PostgreSQL; it writes the results as JSON and prints a Markdown table next to garm's
//! published figures. It never talks to anything but 127.0.0.1, and every loop is bounded in
//! count and time. It does not judge the numbers: `--quick` only checks that it all still runs.

mod calls;
mod garm;
mod pg;
mod prom;
mod proxy;
mod report;
mod scenario;
mod stats;
mod webhook;
mod world;

use anyhow::Context;
use clap::Parser;
use scenario::Sizes;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "garm-bench",
    about = "Benchmarks garm-rs against a fake GitHub and a fast provider"
)]
struct Cli {
    /// Tiny sizes, a few seconds per measurement (CI runs this so the harness cannot rot).
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON results.
    #[arg(long, default_value = "garm-bench-results.json")]
    out: PathBuf,
    /// Also write the Markdown table here.
    #[arg(long)]
    table: Option<PathBuf>,
    /// The `garm` binary (default: next to this one).
    #[arg(long)]
    garm: Option<PathBuf>,
    /// The provider binary (default: `garm-bench-provider` next to this one).
    #[arg(long)]
    provider: Option<PathBuf>,
    /// Run only these measurements (comma-separated: intake, latency, scale, scaleset, replicas).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Keep each garm's directory (config, database, log, provider state).
    #[arg(long)]
    keep: bool,
    /// On a shared machine, wait up to this many seconds before each fresh garm until other
    /// processes are quiet (under a quarter of a core).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    wait_quiet: u64,
    /// Instances per pool for the scale measurement (default 1,10: 1,000 and 10,000 instances
    /// with the full sizes); a smaller list makes a faster iteration.
    #[arg(long, value_delimiter = ',', value_name = "N,N")]
    scale_instances: Vec<u32>,
    /// Idle window of the scale measurement in seconds (default 60; at least 30 for the figures).
    #[arg(long, value_name = "SECONDS")]
    idle_window: Option<u64>,
    /// Measure nothing: print the table of an existing results file.
    #[arg(long, value_name = "RESULTS_JSON")]
    report: Option<PathBuf>,
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().context("this binary has a directory")?.join(name))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(path) = &cli.report {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        print!("{}", report::table(&serde_json::from_str(&text)?));
        return Ok(());
    }
    let opts = world::Options {
        garm: cli.garm.clone().map_or_else(|| sibling("garm"), Ok)?,
        provider: cli
            .provider
            .clone()
            .map_or_else(|| sibling("garm-bench-provider"), Ok)?,
        keep: cli.keep,
    };
    let mut opts = opts;
    // garm wants an absolute provider path; relative ones are taken from the current directory.
    opts.garm = std::path::absolute(&opts.garm)?;
    opts.provider = std::path::absolute(&opts.provider)?;
    for bin in [&opts.garm, &opts.provider] {
        anyhow::ensure!(bin.exists(), "{} does not exist (build it first)", bin.display());
    }
    let mut sizes = if cli.quick { Sizes::quick() } else { Sizes::full() };
    sizes.wait_quiet = std::time::Duration::from_secs(cli.wait_quiet);
    // Shorter intake runs while iterating (the defaults are what results.json reports).
    if let Some(secs) = std::env::var("GARM_BENCH_INTAKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        sizes.intake_duration = std::time::Duration::from_secs(secs);
    }
    if let Ok(list) = std::env::var("GARM_BENCH_INTAKE_CONNECTIONS") {
        sizes.intake_connections = list.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    }
    if !cli.scale_instances.is_empty() {
        sizes.instances_per_pool = cli.scale_instances.clone();
    }
    if let Some(secs) = cli.idle_window {
        sizes.idle_window = std::time::Duration::from_secs(secs);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut results = Map::new();
    results.insert("quick".into(), json!(cli.quick));
    results.insert("machine".into(), report::machine());
    results.insert(
        "rerun".into(),
        json!(if cli.quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        }),
    );
    results.insert("sizes".into(), json!(format!("{sizes:?}")));
    let wanted = |name: &str| cli.only.is_empty() || cli.only.iter().any(|o| o == name);
    let mut failed = Vec::new();
    runtime.block_on(async {
        for name in ["intake", "latency", "scale", "scaleset", "replicas"] {
            if !wanted(name) {
                continue;
            }
            let result = match name {
                "intake" => scenario::intake::run(&opts, &sizes).await,
                "latency" => scenario::latency::run(&opts, &sizes).await,
                "scaleset" => scenario::scaleset::run(&opts, &sizes).await,
                "replicas" => scenario::replicas::run(&opts, &sizes).await,
                _ => scenario::scale::run(&opts, &sizes).await,
            };
            match result {
                Ok(value) => {
                    results.insert(name.into(), value);
                }
                Err(err) => {
                    eprintln!("garm-bench: {name} failed: {err:#}");
                    results.insert(name.into(), json!({"error": format!("{err:#}")}));
                    failed.push(name);
                }
            }
        }
    });
    results.insert("duration_s".into(), json!(started.elapsed().as_secs()));
    let results = Value::Object(results);
    std::fs::write(&cli.out, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", cli.out.display()))?;
    let table = report::table(&results);
    if let Some(path) = &cli.table {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{table}");
    eprintln!(
        "garm-bench: wrote {} in {} s",
        cli.out.display(),
        started.elapsed().as_secs()
    );
    anyhow::ensure!(failed.is_empty(), "failed: {}", failed.join(", "));
    Ok(())
}
