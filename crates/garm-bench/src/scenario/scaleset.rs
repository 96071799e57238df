//! Runner scale sets: a queue message announcing N assigned jobs → N `CreateInstance` calls
//! (N = 1 and 1,000 with the full sizes), and the GitHub and Actions service calls spent per job.
//!
//! The fake Actions service assigns the jobs and delivers them to garm's listener in messages of
//! up to 50 jobs; garm raises the scale set's desired count, its pool pass records the instances
//! and the fast provider creates them. No runner ever runs, so every instance stays.

use crate::stats::round2;
use crate::world::{Options, World, OWNER};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

pub async fn run(opts: &Options, sizes: &super::Sizes) -> anyhow::Result<Value> {
    let mut out = Vec::new();
    for &n in &sizes.scale_set_jobs {
        eprintln!("garm-bench: scale set, {n} jobs");
        super::wait_quiet(sizes.wait_quiet).await;
        out.push(one(opts, n).await?);
    }
    Ok(Value::Array(out))
}

async fn one(opts: &Options, n: usize) -> anyhow::Result<Value> {
    let mut world = World::start(opts, "scaleset", 1).await?;
    let name = format!("bench-ss-{n}");
    world
        .api
        .call(
            "POST",
            &format!("/api/v1/repositories/{}/scalesets", world.repos[0].id),
            Some(json!({
                "name": name, "provider_name": crate::garm::PROVIDER, "image": "bench", "flavor": "bench",
                "os_type": "linux", "os_arch": "amd64", "enabled": true, "min_idle_runners": 0,
                "max_runners": n.max(1) * 2, "runner_bootstrap_timeout": 1440
            })),
        )
        .await?;
    let state = world.fake.state();
    let deadline = Instant::now() + Duration::from_secs(60);
    while state.scale_set_sessions().is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "no scale set session after 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the listener settle into its long poll, so the jobs arrive as one message.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.calls.poll();
    let mark = world.calls.calls.len();
    let rest_before = world.proxy.counts();
    let actions_before: u64 = state.actions_call_counts().values().sum();
    let repo = world.repos[0].name.clone();
    let queued = Instant::now();
    for _ in 0..n {
        state
            .enqueue_job(OWNER, &repo, &[name.as_str()], Duration::from_secs(3600), "success")
            .map_err(|e| anyhow::anyhow!("enqueue: {e:?}"))?;
    }
    let created = world
        .calls
        .wait(mark, "CreateInstance", n, Duration::from_secs(120 + n as u64 / 4))
        .await?;
    let last = created.iter().map(|c| c.at_ns).max().unwrap_or(0);
    let queued_to_last_s = queued.elapsed().as_secs_f64() - (crate::calls::now_ns().saturating_sub(last)) as f64 / 1e9;
    // The calls settle once every instance is running.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rest = crate::proxy::delta(&rest_before, &world.proxy.counts());
    let actions_after: u64 = state.actions_call_counts().values().sum();
    let metrics = world.api.metrics().await.unwrap_or_default();
    let histogram = |suffix: &str| {
        crate::prom::series(&metrics, &format!("garm_scaleset_message_to_create_seconds_{suffix}"))
            .get("")
            .copied()
    };
    let mut r = Map::new();
    r.insert("jobs".into(), json!(n));
    r.insert("creates".into(), json!(created.len()));
    r.insert("queued_to_last_create_s".into(), json!(round2(queued_to_last_s)));
    let count = histogram("count").unwrap_or(0.0);
    if count > 0.0 {
        r.insert(
            "message_to_create_mean_ms".into(),
            json!(round2(histogram("sum").unwrap_or(0.0) / count * 1000.0)),
        );
    }
    let rest_calls: u64 = rest.values().sum();
    // Actions calls include the listener's own polls and acknowledgements during the run.
    let actions_calls = actions_after.saturating_sub(actions_before);
    r.insert("github_rest_calls".into(), json!(rest_calls));
    r.insert("actions_calls".into(), json!(actions_calls));
    r.insert(
        "calls_per_job".into(),
        json!(round2((rest_calls + actions_calls) as f64 / n.max(1) as f64)),
    );
    r.insert("rest_calls_by_route".into(), json!(rest));
    r.insert("actions_calls_by_endpoint".into(), json!(state.actions_call_counts()));
    drop(world);
    Ok(Value::Object(r))
}
