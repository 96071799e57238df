//! Webhook intake: signed `queued` deliveries with unique job ids, as fast as N connections go.

use super::{RssSampler, Sizes, TAGS};
use crate::stats::{self, Proc};
use crate::webhook::{self, Hooks};
use crate::world::{Options, World};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Labels no pool has: the job is recorded (with the reason) and nothing is created.
const UNMATCHED: &[&str] = &["self-hosted", "linux", "no-such-pool"];

/// One run per label set and connection count, each on a fresh garm.
pub async fn run(opts: &Options, sizes: &Sizes) -> anyhow::Result<Value> {
    let mut runs = Vec::new();
    let only = std::env::var("GARM_BENCH_INTAKE_LABELS").unwrap_or_default();
    for (kind, labels) in [("unmatched", UNMATCHED), ("matched", TAGS)] {
        if !only.is_empty() && only != kind {
            continue;
        }
        for &connections in &sizes.intake_connections {
            super::wait_quiet(sizes.wait_quiet).await;
            let mut world = World::start(opts, "intake", 1).await?;
            world.add_pool(0, TAGS, 0, sizes.intake_pool_max).await?;
            tokio::time::sleep(sizes.settle).await;
            let hooks = world.hooks(0, labels)?;
            eprintln!("garm-bench: intake, {kind} labels, {connections} connections");
            let mut result = match std::env::var("GARM_BENCH_INTAKE_WRK") {
                Ok(wrk) if !wrk.is_empty() => super::wrk::load(&mut world, &hooks, &wrk, connections, sizes).await?,
                _ => load(&mut world, &hooks, connections, sizes).await?,
            };
            // Whatever garm still does after the last answer (reconciles of the backlog).
            tokio::time::sleep(Duration::from_secs(1)).await;
            result["labels"] = json!(kind);
            eprintln!("garm-bench:   {result}");
            runs.push(result);
        }
    }
    Ok(Value::Array(runs))
}

struct Worker {
    latencies_us: Vec<f64>,
    /// Answers per second since the start.
    per_second: Vec<u64>,
    ok: u64,
    errors: u64,
}

/// Sends `queued` deliveries over `connections` workers for `sizes.intake_duration`; with
/// several replicas, request number i goes to replica i mod n (each worker keeps one keep-alive
/// connection per replica, `connections` requests are in flight). CPU is summed over replicas.
pub async fn load(world: &mut World, hooks: &Hooks, connections: usize, sizes: &Sizes) -> anyhow::Result<Value> {
    let ids = Arc::new(AtomicU64::new(world.job_ids(sizes.intake_max_requests).start));
    let sent = Arc::new(AtomicU64::new(0));
    let max = sizes.intake_max_requests;
    world.calls.poll();
    let mark = world.calls.calls.len();
    let samplers: Vec<RssSampler> = world.pids().into_iter().map(RssSampler::start).collect();
    let urls = Arc::new(world.webhook_urls());
    let before = world.procs();
    let bench_before = Proc::read(std::process::id()).unwrap_or_default();
    let busy_before = stats::machine_busy_ticks();
    let start = Instant::now();
    let deadline = start + sizes.intake_duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (ids, sent, hooks, urls) = (ids.clone(), sent.clone(), hooks.clone(), urls.clone());
        workers.spawn(async move {
            let client = webhook::client();
            let mut w = Worker {
                latencies_us: Vec::new(),
                per_second: Vec::new(),
                ok: 0,
                errors: 0,
            };
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if Instant::now() >= deadline || n >= max {
                    break;
                }
                let url = &urls[n as usize % urls.len()];
                let delivery = hooks.queued(ids.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let status = webhook::send(&client, url, delivery).await;
                w.latencies_us.push(sent.elapsed().as_micros() as f64);
                let second = start.elapsed().as_secs() as usize;
                if w.per_second.len() <= second {
                    w.per_second.resize(second + 1, 0);
                }
                w.per_second[second] += 1;
                match status {
                    Ok(200) => w.ok += 1,
                    _ => w.errors += 1,
                }
            }
            w
        });
    }
    let mut latencies = Vec::new();
    let mut per_second: Vec<u64> = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    while let Some(w) = workers.join_next().await {
        let w = w?;
        latencies.extend(w.latencies_us.iter().map(|us| us / 1000.0));
        if per_second.len() < w.per_second.len() {
            per_second.resize(w.per_second.len(), 0);
        }
        for (total, n) in per_second.iter_mut().zip(&w.per_second) {
            *total += n;
        }
        ok += w.ok;
        errors += w.errors;
    }
    let elapsed = start.elapsed();
    let after = world.procs();
    let bench_after = Proc::read(std::process::id()).unwrap_or_default();
    let others = stats::others_cores(
        (busy_before, stats::machine_busy_ticks()),
        (&before, &after),
        (&bench_before, &bench_after),
        elapsed,
    );
    let mut peak: f64 = 0.0;
    for sampler in samplers {
        peak = peak.max(sampler.finish().await);
    }
    world.calls.poll();
    let creates = world.calls.since(mark, "CreateInstance").count();
    let (cpu, cpu_with_children) = stats::cores(&before, &after, elapsed);
    let (bench_cpu, _) = stats::cores(&bench_before, &bench_after, elapsed);
    Ok(json!({
        "connections": connections,
        "duration_s": stats::round2(elapsed.as_secs_f64()),
        "requests": ok + errors,
        "errors": errors,
        "requests_per_s": stats::round2(ok as f64 / elapsed.as_secs_f64()),
        "latency_ms": stats::summary(&latencies),
        "server_cpu_cores": cpu,
        "server_cpu_cores_with_providers": cpu_with_children,
        "server_rss_peak_mb": peak,
        "server_rss_end_mb": after.rss_mb(),
        "load_generator_and_fake_cpu_cores": bench_cpu,
        "other_processes_cpu_cores": others,
        "requests_per_second_timeline": per_second,
        "instances_created": creates,
    }))
}
