//! Job latency: a queued webhook to the provider's `CreateInstance`, a `completed` webhook to its
//! `DeleteInstance`, for single jobs and bursts; the GitHub calls that cost; memory at idle and
//! after a burst.

use super::{idle, RssSampler, Sizes, TAGS};
use crate::calls::{ms_between, now_ns};
use crate::proxy;
use crate::stats::{self, round2};
use crate::webhook::{self, Hooks};
use crate::world::{Options, World};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Labels of the pool that keeps one idle runner (the minimum job age demonstration).
const IDLE_TAGS: &[&str] = &["self-hosted", "linux", "bench-idle"];

const HISTOGRAM: &str = "garm_job_queued_to_instance_created_seconds";

pub async fn run(opts: &Options, sizes: &Sizes) -> anyhow::Result<Value> {
    let mut out = Map::new();
    super::wait_quiet(sizes.wait_quiet).await;
    let mut world = World::start(opts, "latency", 1).await?;
    // Room for every burst at once: instances created twice (see `burst`) are never scaled down
    // here, since their runner never comes up idle.
    let room = sizes.bursts.iter().sum::<usize>() as u32 + 100;
    world.add_pool(0, TAGS, 0, room).await?;
    let idle_pool = world.add_pool(0, IDLE_TAGS, 0, 5).await?;
    tokio::time::sleep(sizes.settle).await;
    eprintln!("garm-bench: idle, 1 repository, 2 pools");
    out.insert("idle".into(), idle(&mut world, sizes.idle_window).await);
    let hooks = world.hooks(0, TAGS)?;
    let github_before = world.proxy.counts();
    let metrics_before = world.api.metrics().await?;
    let sampler = RssSampler::start(world.garm.pid());

    eprintln!("garm-bench: {} single jobs, minimum job age 0", sizes.single_jobs);
    out.insert(
        "single_min_job_age_0".into(),
        singles(&mut world, &hooks, sizes.single_jobs).await?,
    );
    world.set_min_job_age(30).await?;
    eprintln!(
        "garm-bench: {} single jobs, minimum job age 30 s (garm's default)",
        sizes.single_jobs_default_age
    );
    out.insert(
        "single_min_job_age_30".into(),
        singles(&mut world, &hooks, sizes.single_jobs_default_age).await?,
    );
    world.set_min_job_age(0).await?;
    let mut served = sizes.single_jobs + sizes.single_jobs_default_age;
    let mut bursts = Vec::new();
    for &n in &sizes.bursts {
        eprintln!("garm-bench: burst of {n} jobs");
        let mut result = burst(&mut world, &hooks, n).await?;
        if n == sizes.memory_burst {
            out.insert("rss_after_burst_mb".into(), result["rss_with_instances_mb"].clone());
        }
        served += n;
        result["jobs"] = json!(n);
        eprintln!("garm-bench:   {result}");
        bursts.push(result);
    }
    out.insert("bursts".into(), Value::Array(bursts));
    out.insert("rss_peak_mb".into(), json!(sampler.finish().await));
    // Let deletions finish their forge calls before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let github = proxy::delta(&github_before, &world.proxy.counts());
    let total: u64 = github.values().sum();
    let per_job: Map<String, Value> = github
        .iter()
        .map(|(route, n)| (route.clone(), json!(stats::round3(*n as f64 / served as f64))))
        .collect();
    let metrics_after = world.api.metrics().await?;
    let garm_counted = crate::prom::series(&metrics_after, "garm_github_operations_total");
    let garm_before = crate::prom::series(&metrics_before, "garm_github_operations_total");
    let garm_delta: Map<String, Value> = garm_counted
        .iter()
        .map(|(labels, n)| {
            (
                labels.clone(),
                json!(n - garm_before.get(labels).copied().unwrap_or(0.0)),
            )
        })
        .collect();
    out.insert(
        "github_calls".into(),
        json!({
            "jobs_served": served,
            "by_route": github,
            "per_job_by_route": per_job,
            "per_job": stats::round3(total as f64 / served as f64),
            "garm_github_operations_total": garm_delta,
        }),
    );
    let histogram = crate::prom::delta(
        &crate::prom::buckets(&metrics_before, HISTOGRAM),
        &crate::prom::buckets(&metrics_after, HISTOGRAM),
    );
    out.insert(
        "garm_histogram_queued_to_created_s".into(),
        json!({
            "count": histogram.last().map(|b| b.1).unwrap_or(0.0),
            "p50": crate::prom::quantile(&histogram, 0.5).map(stats::round3),
            "p99": crate::prom::quantile(&histogram, 0.99).map(stats::round3),
        }),
    );
    if sizes.idle_runner_demo {
        eprintln!("garm-bench: a job an idle runner could take, minimum job age 30 s");
        out.insert(
            "idle_runner_min_job_age_30".into(),
            idle_runner(&mut world, &idle_pool).await?,
        );
    }
    Ok(Value::Object(out))
}

/// Jobs one at a time: queued → create, then (once running) completed → delete.
async fn singles(world: &mut World, hooks: &Hooks, n: usize) -> anyhow::Result<Value> {
    let client = webhook::client();
    let url = world.webhook_url();
    let (mut to_create, mut to_delete) = (Vec::new(), Vec::new());
    for id in world.job_ids(n as u64) {
        world.calls.poll();
        let mark = world.calls.calls.len();
        let sent = now_ns();
        anyhow::ensure!(webhook::send(&client, &url, hooks.queued(id)).await? == 200);
        let created = world
            .calls
            .wait(mark, "CreateInstance", 1, Duration::from_secs(120))
            .await?
            .remove(0);
        to_create.push(ms_between(sent, created.at_ns));
        world
            .wait_one_running(&created.instance, Duration::from_secs(60))
            .await?;
        world.calls.poll();
        let mark = world.calls.calls.len();
        world.runners_finished([&created.instance]);
        let sent = now_ns();
        anyhow::ensure!(webhook::send(&client, &url, hooks.completed(id, &created.instance)).await? == 200);
        let deleted = world
            .calls
            .wait(mark, "DeleteInstance", 1, Duration::from_secs(120))
            .await?
            .remove(0);
        anyhow::ensure!(
            deleted.instance == created.instance,
            "garm deleted {} instead of {}",
            deleted.instance,
            created.instance
        );
        to_delete.push(ms_between(sent, deleted.at_ns));
    }
    Ok(json!({
        "queued_to_create_ms": stats::summary(&to_create),
        "completed_to_delete_ms": stats::summary(&to_delete),
    }))
}

/// `n` queued webhooks at once over 16 connections; then, once all run, `n` completed ones.
async fn burst(world: &mut World, hooks: &Hooks, n: usize) -> anyhow::Result<Value> {
    let url = world.webhook_url();
    let ids: Vec<u64> = world.job_ids(n as u64).collect();
    let deliveries = ids.iter().map(|id| hooks.queued(*id)).collect();
    let timeout = Duration::from_secs(60 + n as u64 / 2);
    world.calls.poll();
    let mark = world.calls.calls.len();
    let first = now_ns();
    webhook::send_all(&url, deliveries, 16).await?;
    let sent = now_ns();
    let creates = world.calls.wait(mark, "CreateInstance", n, timeout).await?;
    let first_create = creates.iter().map(|c| c.at_ns).min().unwrap_or(first);
    let last_create = creates.iter().map(|c| c.at_ns).max().unwrap_or(first);
    // Per job, pairing the i-th webhook with the i-th create (jobs are served oldest first).
    let mut starts: Vec<u128> = creates.iter().map(|c| c.at_ns).collect();
    starts.sort_unstable();
    let spread = ms_between(first, sent) / n.max(1) as f64;
    let per_job: Vec<f64> = starts
        .iter()
        .enumerate()
        .map(|(i, at)| ms_between(first, *at) - spread * i as f64)
        .collect();
    let names: Vec<String> = creates.iter().map(|c| c.instance.clone()).collect();
    world.wait_running(&names, timeout).await?;
    let rss = world.proc().rss_mb();
    world.calls.poll();
    let mark = world.calls.calls.len();
    // Each job completes on the instance created for it, as far as garm's log tells; otherwise in
    // order (a job finishing on another job's instance leaves that job queued, and with a minimum
    // job age of 0 garm gives it a new instance, which would spoil the count).
    let created_for = world.instance_jobs();
    let paired = names
        .iter()
        .filter(|name| created_for.get(*name).is_some_and(|job| ids.contains(job)))
        .count();
    let deliveries = if paired == n {
        names
            .iter()
            .map(|name| hooks.completed(created_for[name], name))
            .collect()
    } else {
        ids.iter()
            .zip(&names)
            .map(|(id, name)| hooks.completed(*id, name))
            .collect()
    };
    world.runners_finished(&names);
    let first_completed = now_ns();
    webhook::send_all(&url, deliveries, 16).await?;
    let completed_sent = now_ns();
    let deletes = world.calls.wait(mark, "DeleteInstance", n, timeout).await?;
    let last_delete = deletes.iter().map(|c| c.at_ns).max().unwrap_or(first_completed);
    // Instances garm created while the jobs completed (a job seen queued while its own
    // instance was already being deleted gets another one; see docs/benchmarks.md).
    tokio::time::sleep(Duration::from_secs(1)).await;
    world.calls.poll();
    let extra = world.calls.since(mark, "CreateInstance").count();
    Ok(json!({
        "webhooks_sent_ms": round2(ms_between(first, sent)),
        "first_webhook_to_first_create_ms": round2(ms_between(first, first_create)),
        "first_webhook_to_last_create_ms": round2(ms_between(first, last_create)),
        "creates_per_s": round2(n as f64 / (ms_between(first, last_create) / 1000.0).max(1e-3)),
        "per_job_queued_to_create_ms_estimate": stats::summary(&per_job),
        "rss_with_instances_mb": rss,
        "completed_paired_by": if paired == n { "garm log" } else { "order" },
        "completed_webhooks_sent_ms": round2(ms_between(first_completed, completed_sent)),
        "first_completed_to_last_delete_ms": round2(ms_between(first_completed, last_delete)),
        "extra_creates_while_completing": extra,
    }))
}

/// garm's rule: a young job waits for an idle runner that could take it. With one idle runner
/// that never takes jobs and the default 30 s, the job gets its own instance once it is 30 s old.
async fn idle_runner(world: &mut World, pool: &str) -> anyhow::Result<Value> {
    world.calls.poll();
    let mark = world.calls.calls.len();
    world
        .api
        .call(
            "PUT",
            &format!("/api/v1/pools/{pool}"),
            Some(json!({"min_idle_runners": 1})),
        )
        .await?;
    let idle = world
        .calls
        .wait(mark, "CreateInstance", 1, Duration::from_secs(60))
        .await?
        .remove(0);
    world.wait_one_running(&idle.instance, Duration::from_secs(60)).await?;
    world.set_min_job_age(30).await?;
    let hooks = world.hooks(0, IDLE_TAGS)?;
    let id = world.job_ids(1).start;
    world.calls.poll();
    let mark = world.calls.calls.len();
    let sent = now_ns();
    anyhow::ensure!(webhook::send(&webhook::client(), &world.webhook_url(), hooks.queued(id)).await? == 200);
    let created = world
        .calls
        .wait(mark, "CreateInstance", 1, Duration::from_secs(120))
        .await?
        .remove(0);
    world.set_min_job_age(0).await?;
    Ok(json!({ "queued_to_create_s": stats::round2(ms_between(sent, created.at_ns) / 1000.0) }))
}
