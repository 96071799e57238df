//! The job loop: queued job → instance → runner → job → instance deleted.

use garm_e2e::{metric, wait_for, ProviderSpec, World};
use serde_json::json;
use std::time::Duration;

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};
const SILENT: ProviderSpec = ProviderSpec {
    name: "silent",
    extra: "",
    run_userdata: false,
};
const LABELS: &[&str] = &["self-hosted", "linux", "e2e"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_gets_one_runner_which_is_removed_after_the_job() {
    let world = World::start(&[SANDBOX]).await.unwrap();
    world.add_pool("sandbox", json!({})).await.unwrap();
    let job = world.queue(LABELS, Duration::from_millis(300));
    wait_for("the job to complete on the fake", Duration::from_secs(90), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let fake_job = world.fake.state().job(job).unwrap();
    let runner_name = fake_job.runner_name.clone().expect("a runner ran the job");
    assert!(
        runner_name.starts_with("garm-"),
        "one of our runners ran it: {runner_name}"
    );
    wait_for("the instance to be deleted", Duration::from_secs(60), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
    wait_for("the sandbox to be removed", Duration::from_secs(30), async || {
        world.garm.sandboxes("sandbox").is_empty().then_some(())
    })
    .await;
    let metrics = world.garm.api.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "garm_runner_operations_total{operation=\"CreateInstance\",provider=\"sandbox\"}"
        ),
        1.0,
        "exactly one instance was created"
    );
    let jobs = world.garm.api.jobs().await;
    let recorded = jobs
        .iter()
        .find(|j| j["workflow_job_id"] == json!(job))
        .expect("garm recorded the job");
    assert_eq!(recorded["status"], "completed");
    assert_eq!(recorded["runner_name"], runner_name.as_str());
    assert!(
        world.fake.state().runners().is_empty(),
        "the ephemeral runner is gone from GitHub too"
    );
    let log = world.garm.log();
    for step in [
        "hook received",
        "pool chosen for job",
        "instance being created",
        "provider created the instance",
        "runner status",
        "job started on our runner",
        "job finished on our runner",
        "instance deleted",
    ] {
        assert!(log.contains(step), "the log tells the job's story: missing {step:?}");
    }
    assert!(!log.contains(&world.secret), "the webhook secret never reaches the log");
    assert!(!log.contains(garm_e2e::PAT), "the PAT never reaches the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_idle_runners_are_restored_after_runners_are_consumed() {
    let world = World::start(&[SANDBOX]).await.unwrap();
    world
        .add_pool("sandbox", json!({"min_idle_runners": 2, "max_runners": 4}))
        .await
        .unwrap();
    let idle = async || {
        let list = world.garm.api.instances().await;
        let names: Vec<String> = list
            .iter()
            .filter(|i| i["runner_status"] == "idle")
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        (names.len() == 2 && list.len() == 2).then_some(names)
    };
    let first = wait_for("two idle runners", Duration::from_secs(90), idle).await;
    let jobs: Vec<u64> = (0..2)
        .map(|_| world.queue(LABELS, Duration::from_millis(200)))
        .collect();
    wait_for("both jobs to complete", Duration::from_secs(90), async || {
        jobs.iter()
            .all(|j| world.job_status(*j).as_deref() == Some("completed"))
            .then_some(())
    })
    .await;
    let second = wait_for("two fresh idle runners", Duration::from_secs(90), async || {
        let list = world.garm.api.instances().await;
        let names: Vec<String> = list
            .iter()
            .filter(|i| i["runner_status"] == "idle")
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        (names.len() == 2 && list.len() == 2 && names.iter().all(|n| !first.contains(n))).then_some(names)
    })
    .await;
    assert_eq!(second.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_jobs_never_exceeds_max_runners_and_all_are_served() {
    let world = World::start(&[SANDBOX]).await.unwrap();
    world.add_pool("sandbox", json!({"max_runners": 10})).await.unwrap();
    let n = std::env::var("GARM_E2E_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let jobs: Vec<u64> = (0..n).map(|_| world.queue(LABELS, Duration::from_millis(50))).collect();
    let mut peak = 0;
    wait_for("every job to complete", Duration::from_secs(600), async || {
        let live = world.garm.api.instances().await.len();
        let sandboxes = world.garm.sandboxes("sandbox").len();
        peak = peak.max(live).max(sandboxes);
        assert!(
            live <= 10 && sandboxes <= 10,
            "max_runners exceeded: {live} instances, {sandboxes} sandboxes"
        );
        jobs.iter()
            .all(|j| world.job_status(*j).as_deref() == Some("completed"))
            .then_some(())
    })
    .await;
    assert!(peak > 1, "the pool scaled out (peak {peak})");
    let served_by_us = world
        .fake
        .state()
        .jobs()
        .iter()
        .filter(|j| j.runner_name.as_deref().is_some_and(|r| r.starts_with("garm-")))
        .count();
    assert_eq!(served_by_us, n);
    wait_for("every instance to be deleted", Duration::from_secs(120), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
    let metrics = world.garm.api.metrics().await;
    let creates = metric(
        &metrics,
        "garm_runner_operations_total{operation=\"CreateInstance\",provider=\"sandbox\"}",
    );
    assert!(
        creates >= n as f64 && creates <= n as f64 + 10.0,
        "about one instance per job ({creates} for {n})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_calls_back_is_reaped_after_the_bootstrap_timeout() {
    let world = World::start(&[SILENT]).await.unwrap();
    world
        .add_pool(
            "silent",
            json!({"min_idle_runners": 1, "max_runners": 1, "runner_bootstrap_timeout": 1}),
        )
        .await
        .unwrap();
    let first = wait_for("an instance", Duration::from_secs(30), async || {
        world.garm.api.instances().await.first().map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
    })
    .await;
    wait_for(
        "the silent instance to be replaced",
        Duration::from_secs(150),
        async || {
            let list = world.garm.api.instances().await;
            (!list.iter().any(|i| i["name"] == first.0.as_str())).then_some(())
        },
    )
    .await;
    assert!(world.garm.log().contains("runner did not come up within 1 minutes"));
}
