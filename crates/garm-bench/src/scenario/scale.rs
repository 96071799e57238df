//! Many pools and instances: memory and idle CPU with 1,000 pools and 1,000 or 10,000 instances,
//! how long seeding them takes, and a restart with all of them.
//!
//! Seeding goes through the real path: each pool's `min_idle_runners` is raised through the API,
//! and garm creates the instances (a JIT configuration from the fake, one provider exec each).
//! The fast provider reports them `running` at once; no runner ever calls back, so they stay
//! `running`/`pending` (the bootstrap timeout is set to a day so none is reaped meanwhile).

use super::{idle, Sizes};
use crate::calls::{ms_between, now_ns};
use crate::stats::round2;
use crate::webhook;
use crate::world::{Options, World};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tags(repo: usize, pool: usize) -> Vec<String> {
    vec!["self-hosted".into(), "linux".into(), format!("r{repo}p{pool}")]
}

pub async fn run(opts: &Options, sizes: &Sizes) -> anyhow::Result<Value> {
    let mut out = Map::new();
    let n_pools = sizes.repos * sizes.pools_per_repo;
    eprintln!(
        "garm-bench: scale, {} repositories x {} pools",
        sizes.repos, sizes.pools_per_repo
    );
    super::wait_quiet(sizes.wait_quiet).await;
    let started = Instant::now();
    let mut world = World::start(opts, "scale", sizes.repos).await?;
    let max = sizes.instances_per_pool.iter().copied().max().unwrap_or(1) + 5;
    let mut pools = Vec::new();
    for repo in 0..sizes.repos {
        for pool in 0..sizes.pools_per_repo {
            let tags = tags(repo, pool);
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            pools.push(world.add_pool(repo, &tags, 0, max).await?);
        }
    }
    out.insert("pools".into(), json!(n_pools));
    out.insert("repositories".into(), json!(sizes.repos));
    out.insert("setup_s".into(), json!(round2(started.elapsed().as_secs_f64())));
    tokio::time::sleep(sizes.settle).await;
    eprintln!("garm-bench: idle with {n_pools} pools and no instances");
    out.insert("idle_no_instances".into(), idle(&mut world, sizes.idle_window).await);
    let mut sizes_out = Vec::new();
    let mut seeded = 0;
    for &per_pool in &sizes.instances_per_pool {
        let target = per_pool as usize * n_pools;
        eprintln!("garm-bench: seeding {target} instances ({per_pool} per pool)");
        let (seeding, running) = seed(&mut world, &pools, seeded, per_pool, target).await?;
        seeded = per_pool;
        tokio::time::sleep(sizes.settle).await;
        eprintln!("garm-bench: idle with {target} instances");
        let mut result = idle(&mut world, sizes.idle_window).await;
        result["instances"] = json!(target);
        result["instances_running"] = json!(running);
        result["seeding_s"] = json!(seeding);
        eprintln!("garm-bench:   {result}");
        sizes_out.push(result);
    }
    out.insert("with_instances".into(), Value::Array(sizes_out));
    let instances = sizes.instances_per_pool.last().copied().unwrap_or(0) as usize * n_pools;
    eprintln!("garm-bench: restart with {instances} instances");
    let mut restart = restart(&mut world, n_pools).await?;
    restart["instances"] = json!(instances);
    eprintln!("garm-bench:   {restart}");
    out.insert("restart".into(), restart);
    out.insert("rss_peak_mb".into(), json!(world.proc().hwm_mb()));
    Ok(Value::Object(out))
}

/// Raises every pool's `min_idle_runners` one step at a time up to `per_pool`, each step waiting
/// until garm has created the instances, then waits until garm reports `target` of them running.
/// Returns the time it took and how many instances garm ended up with.
///
/// One step asks for one instance per pool (1,000 creates at once with the full sizes): raising
/// all pools by 9 at once made garm start 9,000 provisioning tasks together, and some JIT
/// requests to the fake then failed to connect in time (see docs/benchmarks.md).
async fn seed(
    world: &mut World,
    pools: &[String],
    from: u32,
    per_pool: u32,
    target: usize,
) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let timeout = Duration::from_secs(600 + target as u64 / 5);
    for step in from + 1..=per_pool {
        let queue = Arc::new(std::sync::Mutex::new(pools.to_vec()));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (queue, api) = (queue.clone(), world.api.clone());
            workers.spawn(async move {
                loop {
                    let next = queue.lock().expect("queue lock").pop();
                    let Some(pool) = next else {
                        return Ok::<_, anyhow::Error>(());
                    };
                    api.call(
                        "PUT",
                        &format!("/api/v1/pools/{pool}"),
                        Some(json!({"min_idle_runners": step})),
                    )
                    .await?;
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done??;
        }
        let wanted = step as usize * pools.len();
        loop {
            world.calls.poll();
            if world.calls.live() >= wanted {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < timeout,
                "only {} of {wanted} instances created after {timeout:?}",
                world.calls.live()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        let running = world
            .instances()
            .await?
            .iter()
            .filter(|(_, status)| status == "running")
            .count();
        if running >= target {
            return Ok((round2(start.elapsed().as_secs_f64()), running));
        }
        anyhow::ensure!(
            start.elapsed() < timeout,
            "only {running} of {target} instances running after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// SIGTERM, start again, and time: the API answering, the first provider call (the orphan
/// scan that starts with the scheduler's first tick), every pool listed, and a job queued the
/// moment the API answers getting its instance.
async fn restart(world: &mut World, n_pools: usize) -> anyhow::Result<Value> {
    world.calls.poll();
    let before_stop = world.calls.calls.len();
    let stop = world.garm.stop(Duration::from_secs(60));
    world.calls.poll();
    let mark = world.calls.calls.len();
    let start = Instant::now();
    let start_ns = now_ns();
    world.garm.spawn()?;
    let api_answers = loop {
        if world.api.call("GET", "/api/v1/controller-info", None).await.is_ok() {
            break start.elapsed();
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(300),
            "garm did not answer after a restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let hooks = world.hooks(0, &["self-hosted", "linux", "r0p0"])?;
    let id = world.job_ids(1).start;
    let sent = now_ns();
    anyhow::ensure!(webhook::send(&webhook::client(), &world.webhook_url(), hooks.queued(id)).await? == 200);
    let created = world
        .calls
        .wait(mark, "CreateInstance", 1, Duration::from_secs(300))
        .await?
        .remove(0);
    // Every pool listed once by the orphan scan.
    let mut listed = std::collections::HashMap::new();
    while listed.len() < n_pools {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "only {} of {n_pools} pools listed after a restart",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        world.calls.poll();
        for call in world.calls.since(mark, "ListInstances") {
            listed.entry(call.pool.clone()).or_insert(call.at_ns);
        }
    }
    let first_call = world.calls.calls[mark..]
        .iter()
        .map(|c| c.at_ns)
        .min()
        .unwrap_or(start_ns);
    let scan_done = listed.values().copied().max().unwrap_or(start_ns);
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(json!({
        "stop_s": round2(stop.as_secs_f64()),
        "provider_calls_while_stopping": mark - before_stop,
        "api_answers_s": round2(api_answers.as_secs_f64()),
        "first_provider_call_s": round2(ms_between(start_ns, first_call) / 1000.0),
        "every_pool_listed_s": round2(ms_between(start_ns, scan_done) / 1000.0),
        "job_queued_at_api_answer_to_create_s": round2(ms_between(sent, created.at_ns) / 1000.0),
        "job_served_since_start_s": round2(ms_between(start_ns, created.at_ns) / 1000.0),
        "rss_after_mb": world.proc().rss_mb(),
    }))
}
