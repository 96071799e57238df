//! Runner scale sets against the fake Actions service: jobs reach garm through the message
//! queue only (the fake has no webhook for garm), run on scale-set runners of the real test
//! provider, and the runners are deleted afterwards.

use garm_e2e::{metric, wait_for, ProviderSpec, World};
use garm_fake_github::{ActionsFaultsPatch, ScaleSetConfig};
use serde_json::{json, Value};
use std::time::Duration;

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};
const NAME: &str = "e2e-scaleset";

/// A world whose fake holds polls 1 s and drops abandoned sessions after `idle`.
async fn world(idle: Duration) -> World {
    World::start_custom(&[SANDBOX], "", false, |c| {
        c.scale_sets = ScaleSetConfig {
            long_poll: Duration::from_secs(1),
            session_idle_timeout: idle,
            ..ScaleSetConfig::default()
        };
    })
    .await
    .unwrap()
}

async fn add_scale_set(world: &World, max_runners: u32) -> Value {
    world
        .garm
        .api
        .call(
            "POST",
            &format!("/api/v1/repositories/{}/scalesets", world.repo_id),
            Some(json!({
                "name": NAME, "provider_name": "sandbox", "image": "local", "flavor": "small",
                "os_type": "linux", "os_arch": "amd64", "max_runners": max_runners, "min_idle_runners": 0,
                "enabled": true, "runner_bootstrap_timeout": 20
            })),
        )
        .await
        .unwrap()
}

fn queue(world: &World, run_for: Duration) -> u64 {
    world
        .fake
        .state()
        .enqueue_job("acme", "widgets", &[NAME], run_for, "success")
        .expect("enqueue")
        .id
}

async fn all_completed(world: &World, jobs: &[u64], timeout: Duration) {
    let start = std::time::Instant::now();
    while !jobs
        .iter()
        .all(|j| world.job_status(*j).as_deref() == Some("completed"))
    {
        if start.elapsed() > timeout {
            // Say where it stuck: the fake's view of each job, garm's instances, garm's log.
            let statuses: Vec<_> = jobs.iter().map(|j| (*j, world.job_status(*j))).collect();
            let fake_jobs = world.fake.state().scale_set_jobs();
            let instances = world.garm.api.instances().await;
            let log = world.garm.log();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .take(120)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            panic!(
                "timed out after {timeout:?} waiting for every job to complete on the fake\n\
                 job statuses: {statuses:?}\nfake scale set jobs: {fake_jobs:?}\n\
                 garm instances: {instances:?}\ngarm log (tail):\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn no_instances_left(world: &World) {
    wait_for(
        "every scale set instance to be deleted",
        Duration::from_secs(60),
        async || world.garm.api.instances().await.is_empty().then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_on_a_scale_set_runner_without_any_webhook() {
    let world = world(Duration::from_secs(10)).await;
    let created = add_scale_set(&world, 4).await;
    let service_id = created["scale_set_id"].as_u64().expect("the service's id is shown");
    assert_eq!(created["name"], NAME);
    assert_eq!(created["state"], "created");
    let remote = world
        .fake
        .state()
        .scale_set(service_id)
        .expect("the fake has the scale set");
    assert_eq!(
        remote.labels.first().map(String::as_str),
        Some(NAME),
        "its name is its first label"
    );

    let job = queue(&world, Duration::from_millis(300));
    all_completed(&world, &[job], Duration::from_secs(90)).await;
    let fake_job = world.fake.state().job(job).unwrap();
    let runner = fake_job.runner_name.clone().expect("a runner ran the job");
    assert!(runner.starts_with("garm-"), "one of our runners ran it: {runner}");
    no_instances_left(&world).await;

    let metrics = world.garm.api.metrics().await;
    assert_eq!(
        metric(&metrics, "garm_webhook_received{valid=\"true\",reason=\"\"}"),
        0.0,
        "no webhook reached garm"
    );
    assert_eq!(
        metric(
            &metrics,
            "garm_runner_operations_total{operation=\"CreateInstance\",provider=\"sandbox\"}"
        ),
        1.0,
        "exactly one instance was created"
    );
    assert!(
        metrics.contains("garm_scaleset_message_to_create_seconds_count"),
        "the message → create histogram is exported"
    );
    let jobs = world.garm.api.jobs().await;
    let recorded = jobs
        .iter()
        .find(|j| j["runner_name"] == runner.as_str())
        .expect("garm recorded the job from the queue");
    assert_eq!(recorded["status"], "completed");
    assert!(!recorded["scaleset_job_id"].as_str().unwrap_or_default().is_empty());
    assert!(world.fake.state().runners().is_empty(), "the ephemeral runner is gone");
    let shown = world
        .garm
        .api
        .call("GET", &format!("/api/v1/scalesets/{}", created["id"]), None)
        .await
        .unwrap();
    assert!(
        shown.get("desired_runner_count").is_none(),
        "nothing assigned any more: {shown}"
    );
    assert!(shown.get("last_message_id").is_none(), "the cursor is never shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_jobs_never_exceed_max_runners_and_all_run() {
    let world = world(Duration::from_secs(10)).await;
    add_scale_set(&world, 10).await;
    let jobs: Vec<u64> = (0..200).map(|_| queue(&world, Duration::from_millis(20))).collect();
    let mut peak = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let live = world.garm.api.instances().await.len();
        peak = peak.max(live);
        assert!(live <= 10, "{live} instances at once; max_runners is 10");
        if jobs
            .iter()
            .all(|j| world.job_status(*j).as_deref() == Some("completed"))
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "200 jobs did not finish in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(peak > 1, "runners ran side by side (peak {peak})");
    let fake_jobs = world.fake.state().scale_set_jobs();
    assert_eq!(
        fake_jobs.iter().filter(|j| j.runner_name.is_some()).count(),
        200,
        "each job ran on one runner"
    );
    no_instances_left(&world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_garm_restarts_and_loses_and_repeats_nothing() {
    let mut world = world(Duration::from_secs(4)).await;
    add_scale_set(&world, 3).await;
    let first: Vec<u64> = (0..3).map(|_| queue(&world, Duration::from_millis(1500))).collect();
    wait_for("runners to take the first jobs", Duration::from_secs(60), async || {
        first
            .iter()
            .any(|j| world.job_status(*j).as_deref() == Some("in_progress"))
            .then_some(())
    })
    .await;
    world.garm.kill();
    let second: Vec<u64> = (0..3).map(|_| queue(&world, Duration::from_millis(200))).collect();
    world.garm.spawn().await.unwrap();
    let all: Vec<u64> = first.iter().chain(&second).copied().collect();
    // Generous: CI runs this beside the browser test and the 200-job story on 2 cores.
    all_completed(&world, &all, Duration::from_secs(400)).await;
    no_instances_left(&world).await;
    let fake_jobs = world.fake.state().scale_set_jobs();
    for j in &all {
        let ran = fake_jobs
            .iter()
            .filter(|f| f.job_id == *j && f.runner_name.is_some())
            .count();
        assert_eq!(ran, 1, "job {j} ran exactly once");
    }
    let recorded = world.garm.api.jobs().await;
    let completed = recorded.iter().filter(|j| j["status"] == "completed").count();
    assert_eq!(
        completed,
        all.len(),
        "garm recorded each job once, completed: {recorded:?}"
    );
    assert!(
        world.garm.log().contains("scale set listener started"),
        "the listener came back after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_a_refused_queue_token_and_a_deleted_scale_set_are_recovered() {
    let world = world(Duration::from_secs(10)).await;
    let created = add_scale_set(&world, 2).await;
    let old_service_id = created["scale_set_id"].as_u64().unwrap();
    let state = world.fake.state();
    wait_for("a session", Duration::from_secs(30), async || {
        (!state.scale_set_sessions().is_empty()).then_some(())
    })
    .await;

    // Another owner takes the session away: ours is evicted and a new one opened.
    let old = state.scale_set_sessions()[0].id.clone();
    assert!(state.evict_scale_set_session(&old));
    wait_for("a new session", Duration::from_secs(30), async || {
        state.scale_set_sessions().iter().any(|s| s.id != old).then_some(())
    })
    .await;
    let job = queue(&world, Duration::from_millis(200));
    all_completed(&world, &[job], Duration::from_secs(90)).await;

    // The queue refuses the token: the session is refreshed, not abandoned.
    state.update_actions_faults(&ActionsFaultsPatch {
        queue_unauthorized_next: Some(1),
        ..Default::default()
    });
    wait_for("a session refresh", Duration::from_secs(30), async || {
        state
            .actions_calls()
            .iter()
            .any(|c| c.endpoint == "session.refresh" && c.status == 200)
            .then_some(())
    })
    .await;
    let job = queue(&world, Duration::from_millis(200));
    all_completed(&world, &[job], Duration::from_secs(90)).await;

    // Deleted in the service: garm says so, creates it again and goes on.
    assert!(state.delete_scale_set(old_service_id));
    let recreated = wait_for(
        "the scale set to be created again",
        Duration::from_secs(60),
        async || {
            state
                .scale_set_by_name(NAME)
                .filter(|s| s.id != old_service_id)
                .map(|s| s.id)
        },
    )
    .await;
    let shown = wait_for("garm to record the new id", Duration::from_secs(30), async || {
        let s = world
            .garm
            .api
            .call("GET", &format!("/api/v1/scalesets/{}", created["id"]), None)
            .await
            .ok()?;
        (s["scale_set_id"].as_u64() == Some(recreated)).then_some(s)
    })
    .await;
    assert_eq!(shown["state"], "created");
    assert!(
        world.garm.log().contains("scale set listener stopped"),
        "the loss was reported in the log"
    );
    let job = queue(&world, Duration::from_millis(200));
    all_completed(&world, &[job], Duration::from_secs(90)).await;
    let creates = state
        .actions_calls()
        .iter()
        .filter(|c| c.endpoint == "scalesets.create")
        .count();
    assert_eq!(
        creates, 2,
        "created once by the API and once after the loss, not in a loop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_set_api_validates_before_calling_the_service() {
    let world = world(Duration::from_secs(10)).await;
    let api = &world.garm.api;
    let path = format!("/api/v1/repositories/{}/scalesets", world.repo_id);
    let (status, body) = api
        .raw(
            "POST",
            &path,
            Some(json!({"name": NAME, "provider_name": "sandbox", "image": "local", "flavor": "small", "max_runners": 0})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, _) = api
        .raw(
            "POST",
            &path,
            Some(json!({"name": NAME, "provider_name": "nope", "image": "local", "flavor": "small", "max_runners": 2})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(
        world.fake.state().scale_sets().is_empty(),
        "nothing reached the service for refused requests"
    );
    let created = add_scale_set(&world, 2).await;
    let id = created["id"].as_u64().unwrap();
    let (status, _) = api
        .raw("DELETE", &format!("/api/v1/scalesets/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 400, "an enabled scale set is not deleted");
    let updated = api
        .call(
            "PUT",
            &format!("/api/v1/scalesets/{id}"),
            Some(json!({"enabled": false, "max_runners": 5})),
        )
        .await
        .unwrap();
    assert_eq!(updated["max_runners"], 5);
    assert!(updated.get("enabled").is_none(), "false is omitted as garm does");
    let (status, _) = api
        .raw("DELETE", &format!("/api/v1/scalesets/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(world.fake.state().scale_sets().is_empty(), "deleted in the service too");
    let list = api.call("GET", "/api/v1/scalesets", None).await.unwrap();
    assert_eq!(list, json!([]));
    let (status, _) = api.raw("GET", "/api/v1/scalesets/abc", None).await.unwrap();
    assert_eq!(status, 400, "ids are numbers");
}

fn cli(home: &garm_e2e::TempDir, args: &[&str]) -> String {
    let out = std::process::Command::new(garm_e2e::bin("garm-cli"))
        .args(args)
        .env("HOME", &home.0)
        .output()
        .expect("garm-cli runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "garm-cli {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaleset_commands_work_against_a_live_garm() {
    let world = world(Duration::from_secs(10)).await;
    let home = garm_e2e::TempDir::new("cli-home");
    let url = world.garm.url();
    cli(
        &home,
        &[
            "profile",
            "add",
            "--name",
            "w",
            "--url",
            &url,
            "--username",
            "admin",
            "--password",
            garm_e2e::PASSWORD,
        ],
    );
    let added = cli(
        &home,
        &[
            "--format",
            "json",
            "scaleset",
            "add",
            "--repo",
            &world.repo_id,
            "--provider-name",
            "sandbox",
            "--name",
            NAME,
            "--image",
            "local",
            "--flavor",
            "small",
            "--max-runners",
            "3",
            "--min-idle-runners",
            "1",
            "--enabled",
            "--labels",
            "gpu,big",
        ],
    );
    let added: Value = serde_json::from_str(&added).unwrap();
    let id = added["id"].as_u64().expect("a numeric id").to_string();
    let labels: Vec<&str> = added["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["gpu", "big"]);
    let remote = world
        .fake
        .state()
        .scale_set_by_name(NAME)
        .expect("created in the service");
    assert_eq!(remote.labels, [NAME, "gpu", "big"], "the name first, then the labels");

    let listed = cli(&home, &["scaleset", "list", "--repo", &world.repo_id]);
    assert!(listed.contains("SCALE SET NAME") && listed.contains(NAME), "{listed}");
    let shown = cli(&home, &["scaleset", "show", &id]);
    for row in ["Scale Set ID", "Max Runners", "Labels", "gpu, big", "Template"] {
        assert!(shown.contains(row), "missing {row}: {shown}");
    }
    // min_idle_runners 1 keeps one idle runner up with nothing assigned.
    wait_for("an idle scale set runner", Duration::from_secs(90), async || {
        let all = world.garm.api.instances().await;
        all.iter()
            .any(|i| {
                i["runner_status"] == "idle"
                    && i["scale_set_id"].as_u64().is_some_and(|s| s.to_string() == id)
                    && i.get("pool_id").is_none()
            })
            .then_some(())
    })
    .await;
    let runners = cli(&home, &["--format", "json", "scaleset", "runner", "list", &id]);
    let runners: Value = serde_json::from_str(&runners).unwrap();
    assert_eq!(runners.as_array().map(Vec::len), Some(1), "{runners}");
    let rotated = cli(&home, &["scaleset", "runner", "rotate", &id, "--yes-i-really-mean-it"]);
    assert!(rotated.contains("Removed 1 runner(s)"), "{rotated}");

    let updated = cli(
        &home,
        &[
            "--format",
            "json",
            "scaleset",
            "update",
            &id,
            "--max-runners",
            "4",
            "--min-idle-runners",
            "0",
            "--enabled=false",
        ],
    );
    let updated: Value = serde_json::from_str(&updated).unwrap();
    assert_eq!(updated["max_runners"], 4);
    wait_for("the runners to go", Duration::from_secs(90), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
    cli(&home, &["scaleset", "delete", &id]);
    assert_eq!(cli(&home, &["--format", "json", "scaleset", "list"]).trim(), "[]");
    assert!(
        world.fake.state().scale_set_by_name(NAME).is_none(),
        "deleted in the service"
    );
}

/// The deployment without inbound webhooks: `garm bootstrap` with `GARM_POOL_KIND=scaleset`
/// creates the scale set (here next to a running garm on the same database, as an init
/// container would before it), and a job then runs on it through the queue alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_can_create_a_scale_set_instead_of_a_pool() {
    let world = world(Duration::from_secs(10)).await;
    let env = [
        ("GARM_ADMIN_USERNAME", "admin"),
        ("GARM_ADMIN_PASSWORD", garm_e2e::PASSWORD),
        ("GARM_ADMIN_EMAIL", "admin@example.com"),
        ("GARM_GITHUB_ENDPOINT", "fake"),
        ("GARM_GITHUB_TOKEN", garm_e2e::PAT),
        ("GARM_CREDENTIALS_NAME", "fake-pat"),
        ("GARM_REPO_OWNER", "acme"),
        ("GARM_REPO_NAME", "widgets"),
        ("GARM_WEBHOOK_SECRET", world.secret.as_str()),
        ("GARM_POOL_KIND", "scaleset"),
        ("GARM_SCALESET_NAME", NAME),
        ("GARM_POOL_PROVIDER", "sandbox"),
        ("GARM_POOL_IMAGE", "local"),
        ("GARM_POOL_FLAVOR", "small"),
        ("GARM_POOL_MAX_RUNNERS", "2"),
    ];
    let run = || {
        let out = std::process::Command::new(garm_e2e::bin("garm"))
            .arg("--config")
            .arg(world.garm.config_path())
            .arg("bootstrap")
            .env_clear()
            .envs(env)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    };
    let first = run();
    assert!(first.contains(&format!("scale set {NAME}: created")), "{first}");
    assert!(!first.contains("pool sandbox"), "no pool instead: {first}");
    assert!(
        run().contains(&format!("scale set {NAME}: exists")),
        "a second run creates nothing"
    );
    assert_eq!(world.fake.state().scale_sets().len(), 1);
    let job = queue(&world, Duration::from_millis(200));
    all_completed(&world, &[job], Duration::from_secs(90)).await;
    no_instances_left(&world).await;
}
