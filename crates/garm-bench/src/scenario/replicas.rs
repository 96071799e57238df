//! Webhook intake against 1, 2 and 3 `garm` replicas on one PostgreSQL database (a fresh
//! database per replica count), the load spread round robin over them, and the same load
//! against one garm on SQLite for comparison.

use super::{intake, Sizes, TAGS};
use crate::garm::Db;
use crate::pg;
use crate::stats;
use crate::world::{Options, World};
use serde_json::{json, Value};
use std::time::Instant;

/// Labels no pool has, as in the intake measurement: every delivery is verified, recorded with
/// its reason and nudges the entity; nothing is created, so this is intake alone.
const UNMATCHED: &[&str] = &["self-hosted", "linux", "no-such-pool"];

pub async fn run(opts: &Options, sizes: &Sizes) -> anyhow::Result<Value> {
    let admin = pg::server()?;
    let mut sizes = sizes.clone();
    sizes.intake_duration = sizes.replica_duration;
    let mut runs = Vec::new();
    let connections = sizes.replica_connections;
    // SQLite, one process: the same load under the same conditions, for comparison.
    super::wait_quiet(sizes.wait_quiet).await;
    {
        let mut world = World::start(opts, "replicas-sqlite", 1).await?;
        world.add_pool(0, TAGS, 0, sizes.intake_pool_max).await?;
        tokio::time::sleep(sizes.settle).await;
        let hooks = world.hooks(0, UNMATCHED)?;
        eprintln!("garm-bench: replicas, SQLite, 1 process, {connections} connections");
        let mut result = intake::load(&mut world, &hooks, connections, &sizes).await?;
        result["database"] = json!("sqlite");
        result["replicas"] = json!(1);
        eprintln!("garm-bench:   {result}");
        runs.push(result);
    }
    for &n in &sizes.replica_counts {
        super::wait_quiet(sizes.wait_quiet).await;
        let db = pg::Database::create(&admin, opts.keep)?;
        let mut world = World::start_on(opts, "replicas", 1, Db::Postgres(db.url.clone())).await?;
        world.add_pool(0, TAGS, 0, sizes.intake_pool_max).await?;
        for _ in 1..n {
            world.add_replica().await?;
        }
        // Let the replicas take their leases and settle before the load.
        tokio::time::sleep(sizes.settle).await;
        let hooks = world.hooks(0, UNMATCHED)?;
        eprintln!("garm-bench: replicas, PostgreSQL, {n} replicas, {connections} connections");
        let backends = stats::postgres_backend_ticks(&db.name);
        let start = Instant::now();
        let mut result = intake::load(&mut world, &hooks, connections, &sizes).await?;
        let pg_cores = stats::postgres_cores(&backends, &stats::postgres_backend_ticks(&db.name), start.elapsed());
        result["database"] = json!("postgresql");
        result["replicas"] = json!(n);
        result["postgres_backends_cpu_cores"] = json!(pg_cores);
        // PostgreSQL's backends are not garm's: keep them out of "other processes".
        let others = result["other_processes_cpu_cores"].as_f64().unwrap_or(0.0);
        result["other_processes_cpu_cores"] = json!(stats::round3((others - pg_cores).max(0.0)));
        let jobs: u64 = pg::query(&db.url, "SELECT count(*) FROM jobs")?.parse()?;
        result["jobs_recorded"] = json!(jobs);
        eprintln!("garm-bench:   {result}");
        anyhow::ensure!(
            jobs == result["requests"].as_u64().unwrap_or(0) - result["errors"].as_u64().unwrap_or(0),
            "{jobs} jobs recorded for {} accepted webhooks",
            result["requests"]
        );
        runs.push(result);
        drop(world);
        drop(db);
    }
    Ok(Value::Array(runs))
}
