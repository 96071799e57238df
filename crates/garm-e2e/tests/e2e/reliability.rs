//! Reliability: crashes, lost webhooks, failing providers and a failing GitHub, busy runners.
//! Each story ends by checking that every job ran on exactly one of our runners, that nothing
//! leaked (no instance, no sandbox, no registered runner) and that no secret reached the log.

use garm_e2e::{ProviderSpec, World, JWT_SECRET, PASSPHRASE, PASSWORD, PAT};
use garm_fake_github::{PatSpec, Scope, SwitchesPatch};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// [`garm_e2e::wait_for`], printing how long each wait took (shown with `--nocapture`).
async fn wait_for<T>(what: &str, timeout: Duration, probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    let value = garm_e2e::wait_for(what, timeout, probe).await;
    eprintln!("  waited {:>5.1}s for {what}", started.elapsed().as_secs_f64());
    value
}

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};
const LABELS: &[&str] = &["self-hosted", "linux", "e2e"];
/// Missed-webhook reconciliation as the stories run it: often, with half the rate limit.
const RECONCILE: &str =
    "forge_poll_share = 0.5\nmissed_webhook_scan_interval = \"2s\"\nqueued_job_check_after = \"30s\"\n";

/// Restarts garm with extra `[pool_manager]` keys and extra `[provider.external]` keys.
async fn tune(world: &mut World, pool_manager: &str, provider_external: &str) {
    let path = world.garm.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replacen("[pool_manager]\n", &format!("[pool_manager]\n{pool_manager}"), 1)
        .replace(
            "[provider.external]\n",
            &format!("[provider.external]\n{provider_external}"),
        );
    std::fs::write(&path, text).unwrap();
    world.garm.kill();
    world.garm.spawn().await.unwrap();
}

/// Rewrites the test provider's config (it is read on every call).
fn provider_config(world: &World, provider: &str, extra: &str) {
    let path = world.garm.dir.0.join(format!("provider-{provider}/config.toml"));
    std::fs::write(
        path,
        format!("state_dir = \"state\"\nsandbox_dir = \"sandboxes\"\nrun_userdata = true\n{extra}\n"),
    )
    .unwrap();
}

/// Every job completed on the fake, run by one of our runners, and no runner ran two.
fn assert_each_job_ran_once_on_its_own_runner(world: &World, jobs: &[u64]) {
    let mut runners = HashSet::new();
    for id in jobs {
        let job = world.fake.state().job(*id).expect("the fake knows the job");
        assert_eq!(job.status.as_str(), "completed", "job {id}");
        assert_eq!(job.conclusion.as_deref(), Some("success"), "job {id} was not cancelled");
        let runner = job.runner_name.clone().unwrap_or_default();
        assert!(runner.starts_with("garm-"), "job {id} ran on {runner:?}");
        assert!(runners.insert(runner.clone()), "runner {runner} ran two jobs");
    }
}

/// Once things settle: no instance, no sandbox, no runner left registered on GitHub.
async fn assert_nothing_leaked(world: &World, provider: &str) {
    wait_for("every instance to be deleted", Duration::from_secs(240), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
    wait_for("every sandbox to be removed", Duration::from_secs(60), async || {
        world.garm.sandboxes(provider).is_empty().then_some(())
    })
    .await;
    wait_for("no runner left on GitHub", Duration::from_secs(60), async || {
        world.fake.state().runners().is_empty().then_some(())
    })
    .await;
    // A late webhook may still be on its way back through redelivery or the job lookup.
    wait_for("no job left waiting", Duration::from_secs(90), async || {
        let jobs = world.garm.api.jobs().await;
        (!jobs.iter().any(|j| j["status"] == "queued")).then_some(())
    })
    .await;
}

/// The secrets the story used never reach garm's log (debug level).
fn assert_no_secrets_logged(world: &World, extra: &[&str]) {
    let log = world.garm.log();
    assert!(log.contains("hook received"), "the log was captured");
    let mut secrets = vec![JWT_SECRET, PASSPHRASE, PASSWORD, PAT, world.secret.as_str()];
    secrets.extend_from_slice(extra);
    for secret in secrets {
        assert!(!log.contains(secret), "a secret reached the log: {}…", &secret[..6]);
    }
    assert!(
        !log.contains(&world.garm.api.token),
        "the admin's token reached the log"
    );
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// A small deterministic generator; the seed is printed so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn from_env() -> Self {
        let seed = std::env::var("GARM_E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("random kill points from GARM_E2E_SEED={seed}");
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Samples instance rows (API) and sandboxes (provider) until stopped; remembers the peaks and
/// any sample above `max`.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak_rows: Arc<AtomicUsize>,
    peak_sandboxes: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    over: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(world: &World, provider: &str, max: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rows = Arc::new(AtomicUsize::new(0));
        let peak_sandboxes = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(AtomicUsize::new(0));
        let over = Arc::new(Mutex::new(Vec::new()));
        let api = world.garm.api.clone();
        let dir = world.garm.dir.0.join(format!("provider-{provider}/sandboxes"));
        let task = {
            let (stop, peak_rows, peak_sandboxes, samples, over) = (
                stop.clone(),
                peak_rows.clone(),
                peak_sandboxes.clone(),
                samples.clone(),
                over.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let sandboxes = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
                    // While garm is down the API does not answer; the sandboxes still count.
                    let rows = match api.raw("GET", "/api/v1/instances", None).await {
                        Ok((200, Value::Array(list))) => Some(list.len()),
                        _ => None,
                    };
                    peak_sandboxes.fetch_max(sandboxes, Ordering::SeqCst);
                    if let Some(rows) = rows {
                        peak_rows.fetch_max(rows, Ordering::SeqCst);
                    }
                    if sandboxes > max || rows.is_some_and(|r| r > max) {
                        over.lock()
                            .unwrap()
                            .push(format!("{rows:?} instances, {sandboxes} sandboxes"));
                    }
                    samples.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Self {
            stop,
            peak_rows,
            peak_sandboxes,
            samples,
            over,
            task,
        }
    }

    async fn finish(self) -> (usize, usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        (
            self.peak_rows.load(Ordering::SeqCst),
            self.peak_sandboxes.load(Ordering::SeqCst),
            self.samples.load(Ordering::SeqCst),
            self.over.lock().unwrap().clone(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garm_killed_at_random_points_during_a_burst_serves_every_job_once_and_leaks_nothing() {
    let n: usize = std::env::var("GARM_E2E_CRASH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let kills: usize = std::env::var("GARM_E2E_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let max = 12;
    let mut rng = Rng::from_env();
    let mut world = World::start(&[SANDBOX]).await.unwrap();
    tune(&mut world, RECONCILE, "").await;
    // A short bootstrap timeout: instances whose setup a crash interrupted are reaped soon.
    world
        .add_pool("sandbox", json!({"max_runners": max, "runner_bootstrap_timeout": 1}))
        .await
        .unwrap();
    let sampler = Sampler::start(&world, "sandbox", max);
    // The whole burst at once; webhooks that arrive while garm is down fail, as on GitHub.
    let jobs: Vec<u64> = (0..n).map(|_| world.queue(LABELS, Duration::from_millis(50))).collect();
    let burst = Instant::now();
    let mut kill_points = Vec::new();
    // Kill points spread over the whole burst: when random shares of the jobs are done, plus a
    // random moment so the kill lands in a random lifecycle step.
    let mut shares: Vec<u64> = (0..kills).map(|_| 1 + rng.below(90)).collect();
    shares.sort_unstable();
    for share in shares {
        let target = n * share as usize / 100;
        wait_for(
            &format!("{share}% of the jobs to be done"),
            Duration::from_secs(600),
            async || {
                let done = jobs
                    .iter()
                    .filter(|j| world.job_status(**j).as_deref() == Some("completed"))
                    .count();
                (done >= target).then_some(())
            },
        )
        .await;
        let extra = Duration::from_millis(rng.below(1500));
        let down = Duration::from_millis(rng.below(2500));
        // The scenario's timing: garm runs a random moment longer, dies, and stays down a while.
        tokio::time::sleep(extra).await;
        let done = jobs
            .iter()
            .filter(|j| world.job_status(**j).as_deref() == Some("completed"))
            .count();
        kill_points.push(format!("{:.1}s ({done}/{n} done)", burst.elapsed().as_secs_f64()));
        world.garm.kill();
        tokio::time::sleep(down).await;
        world.garm.spawn().await.unwrap();
    }
    wait_for(
        "every job to complete after the crashes",
        Duration::from_secs(600),
        async || {
            jobs.iter()
                .all(|j| world.job_status(*j).as_deref() == Some("completed"))
                .then_some(())
        },
    )
    .await;
    assert_nothing_leaked(&world, "sandbox").await;
    let (peak_rows, peak_sandboxes, samples, over) = sampler.finish().await;
    assert!(over.is_empty(), "max_runners ({max}) exceeded: {over:?}");
    assert_each_job_ran_once_on_its_own_runner(&world, &jobs);
    let log = world.garm.log();
    let creates = count(&log, "instance being created");
    let redeliveries = world
        .fake
        .state()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/attempts"))
        .count();
    eprintln!(
        "crash story: {n} jobs, {kills} kills at {kill_points:?}, peak {peak_rows} instances / {peak_sandboxes} sandboxes \
         (max_runners {max}, {samples} samples), {creates} instances created, {redeliveries} redeliveries asked, \
         burst settled in {:.0}s",
        burst.elapsed().as_secs_f64()
    );
    assert!(peak_rows > 1, "the pool scaled out");
    assert!(
        creates <= n + kills * max,
        "at most the instances a crash interrupted are created again ({creates} for {n} jobs)"
    );
    assert_no_secrets_logged(&world, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_third_of_webhooks_dropped_every_job_is_still_served_and_cleaned_up() {
    let started = Instant::now();
    let mut world = World::start(&[SANDBOX]).await.unwrap();
    tune(&mut world, RECONCILE, "").await;
    world.add_pool("sandbox", json!({"max_runners": 8})).await.unwrap();
    world.fake.state().update_switches(&SwitchesPatch {
        drop_share: Some(0.33),
        ..SwitchesPatch::default()
    });
    let jobs: Vec<u64> = (0..30)
        .map(|_| world.queue(LABELS, Duration::from_millis(100)))
        .collect();
    wait_for("every job to complete", Duration::from_secs(300), async || {
        jobs.iter()
            .all(|j| world.job_status(*j).as_deref() == Some("completed"))
            .then_some(())
    })
    .await;
    assert_nothing_leaked(&world, "sandbox").await;
    assert_each_job_ran_once_on_its_own_runner(&world, &jobs);
    let deliveries = world.fake.state().deliveries();
    let dropped: Vec<_> = deliveries.iter().filter(|d| d.dropped).collect();
    let dropped_actions: HashSet<&str> = dropped.iter().filter_map(|d| d.action.as_deref()).collect();
    assert!(
        dropped.len() >= 10,
        "a share of the deliveries was dropped ({})",
        dropped.len()
    );
    assert!(
        dropped_actions.contains("queued") && dropped_actions.contains("completed"),
        "queued and completed deliveries were lost: {dropped_actions:?}"
    );
    let requests = world.fake.state().requests();
    let reconcile: Vec<_> = requests
        .iter()
        .filter(|r| r.path.contains("/hooks") || r.path.contains("/actions/jobs/"))
        .collect();
    let asked = reconcile
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/attempts"))
        .count();
    assert!(asked > 0, "garm asked GitHub to redeliver what it missed");
    // Half of 5000 an hour, plus one burst of five minutes' worth.
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = 2500.0 / 12.0 + 2500.0 * elapsed / 3600.0;
    assert!(
        (reconcile.len() as f64) <= allowed,
        "{} reconciliation requests in {elapsed:.0}s exceed the budget {allowed:.0}",
        reconcile.len()
    );
    eprintln!(
        "dropped-webhooks story: 30 jobs, {} of {} deliveries dropped, {asked} redeliveries asked, {} reconciliation requests, {elapsed:.0}s",
        dropped.len(),
        deliveries.len(),
        reconcile.len()
    );
    assert_no_secrets_logged(&world, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_completed_webhook_is_lost_the_orphan_scan_still_deletes_the_instance() {
    let mut world = World::start(&[SANDBOX]).await.unwrap();
    // Reconciliation off: only the orphan scan can notice.
    tune(&mut world, "forge_poll_share = 0\n", "").await;
    world.add_pool("sandbox", json!({})).await.unwrap();
    let job = world.queue(LABELS, Duration::from_secs(3));
    wait_for("the job to start", Duration::from_secs(90), async || {
        let started = world.job_status(job).as_deref() == Some("in_progress");
        let delivered = world
            .fake
            .state()
            .deliveries()
            .iter()
            .any(|d| d.action.as_deref() == Some("in_progress"));
        (started && delivered).then_some(())
    })
    .await;
    world.fake.state().update_switches(&SwitchesPatch {
        drop_next: Some(1),
        ..SwitchesPatch::default()
    });
    wait_for("the job to complete", Duration::from_secs(60), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let lost = world
        .fake
        .state()
        .deliveries()
        .into_iter()
        .find(|d| d.action.as_deref() == Some("completed"))
        .expect("the completed delivery was attempted");
    assert!(lost.dropped, "the completed webhook never reached garm");
    assert_nothing_leaked(&world, "sandbox").await;
    assert!(world
        .garm
        .log()
        .contains("the forge no longer knows this runner; deleting the instance"));
    assert_each_job_ran_once_on_its_own_runner(&world, &[job]);
}

/// One test provider per fault, each with its own pool (labelled with the provider's name).
const FAULTY: [(ProviderSpec, &str); 9] = [
    (
        fault("fail-create", "fail_on = [\"CreateInstance\"]"),
        "configured to fail CreateInstance",
    ),
    (
        fault("crash-create", "crash_on = [\"CreateInstance\"]"),
        "told to crash on CreateInstance",
    ),
    (
        fault("fail-after", "after_create = \"fail\""),
        "configured to fail after creating",
    ),
    (
        fault("crash-after", "after_create = \"crash\""),
        "told to crash after creating",
    ),
    (
        fault("garbage-after", "after_create = \"garbage\""),
        "the provider's answer is invalid",
    ),
    (fault("hang-after", "after_create = \"hang\""), "did not finish in time"),
    (fault("fail-delete", "fail_on = [\"DeleteInstance\"]"), ""),
    (fault("crash-delete", "crash_on = [\"DeleteInstance\"]"), ""),
    (fault("hang-delete", "hang_on = [\"DeleteInstance\"]"), ""),
];

const fn fault(name: &'static str, extra: &'static str) -> ProviderSpec {
    ProviderSpec {
        name,
        extra,
        run_userdata: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_calls_that_fail_crash_print_garbage_or_hang_lose_no_job_and_leak_no_instance() {
    let specs: Vec<ProviderSpec> = FAULTY.iter().map(|(p, _)| fault(p.name, p.extra)).collect();
    let mut world = World::start(&specs).await.unwrap();
    // Provider calls time out after three seconds.
    tune(&mut world, "", "exec_timeout_seconds = 3\n").await;
    let mut pools = HashMap::new();
    let mut jobs = Vec::new();
    for (spec, _) in &FAULTY {
        let labels = json!(["self-hosted", "linux", spec.name]);
        let pool = world
            .add_pool(
                spec.name,
                json!({"tags": labels, "max_runners": 1, "runner_bootstrap_timeout": 1}),
            )
            .await
            .unwrap();
        pools.insert(spec.name, pool);
        jobs.push(world.queue(&["self-hosted", "linux", spec.name], Duration::from_millis(100)));
    }
    for (spec, sign) in FAULTY.iter().filter(|(_, sign)| !sign.is_empty()) {
        wait_for(
            &format!("garm to meet {}", spec.name),
            Duration::from_secs(90),
            async || world.garm.log().contains(sign).then_some(()),
        )
        .await;
    }
    for (spec, sign) in FAULTY.iter().filter(|(_, sign)| sign.is_empty()) {
        let pool = &pools[spec.name];
        wait_for(
            &format!("a delete to fail ({})", spec.name),
            Duration::from_secs(120),
            async || {
                let list = world
                    .garm
                    .api
                    .call("GET", &format!("/api/v1/pools/{pool}/instances"), None)
                    .await
                    .ok()?;
                list.as_array()?
                    .iter()
                    .any(|i| i["provider_fault"].as_str().is_some_and(|f| !f.is_empty()) && i["status"] != "running")
                    .then_some(sign)
            },
        )
        .await;
    }
    // The provider works again: every job is served, every instance goes.
    for (spec, _) in &FAULTY {
        provider_config(&world, spec.name, "");
    }
    wait_for("every job to be served", Duration::from_secs(180), async || {
        jobs.iter()
            .all(|j| world.job_status(*j).as_deref() == Some("completed"))
            .then_some(())
    })
    .await;
    for (spec, _) in &FAULTY {
        assert_nothing_leaked(&world, spec.name).await;
    }
    assert_each_job_ran_once_on_its_own_runner(&world, &jobs);
    assert_no_secrets_logged(&world, &[]);
}

/// A second repository with its own credentials, hook and pool.
async fn second_repository(world: &World, pat: &str) -> (String, String) {
    let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
    world.fake.state().add_repo("acme", "gadgets");
    world.fake.state().add_pat(PatSpec::new(pat, &["repo", "admin:org"]));
    let api = &world.garm.api;
    api.call(
        "POST",
        "/api/v1/github/credentials",
        Some(json!({"name": "fake-pat-2", "endpoint": "fake", "auth_type": "pat", "pat": {"oauth2_token": pat}})),
    )
    .await
    .unwrap();
    let repo = api
        .call(
            "POST",
            "/api/v1/repositories",
            Some(
                json!({"owner": "acme", "name": "gadgets", "credentials_name": "fake-pat-2", "webhook_secret": secret}),
            ),
        )
        .await
        .unwrap();
    let repo_id = repo["id"].as_str().unwrap().to_string();
    let info = api.call("GET", "/api/v1/controller-info", None).await.unwrap();
    world.fake.state().add_hook(
        &Scope::repo("acme", "gadgets"),
        info["controller_webhook_url"].as_str().unwrap(),
        Some(&secret),
        "json",
    );
    api.call(
        "POST",
        &format!("/api/v1/repositories/{repo_id}/pools"),
        Some(json!({
            "provider_name": "sandbox", "image": "local", "flavor": "small", "tags": LABELS,
            "os_type": "linux", "os_arch": "amd64", "enabled": true, "min_idle_runners": 0, "max_runners": 2,
            "runner_bootstrap_timeout": 20
        })),
    )
    .await
    .unwrap();
    (repo_id, secret)
}

async fn status_of(world: &World, repo_id: &str) -> Value {
    world
        .garm
        .api
        .call("GET", &format!("/api/v1/repositories/{repo_id}"), None)
        .await
        .unwrap()["pool_manager_status"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_errors_and_revoked_credentials_fail_one_entity_while_the_others_carry_on() {
    let pat2 = "ghp_e2eSecondTokenForTheFake000000000000";
    let mut world = World::start(&[SANDBOX]).await.unwrap();
    tune(&mut world, RECONCILE, "").await;
    world.add_pool("sandbox", json!({"max_runners": 2})).await.unwrap();
    let (gadgets, gadgets_secret) = second_repository(&world, pat2).await;

    // GitHub answers 503 a few times: the job is served anyway.
    world.fake.state().update_switches(&SwitchesPatch {
        fail_next: Some(4),
        fail_status: Some(503),
        ..SwitchesPatch::default()
    });
    let first = world.queue(LABELS, Duration::from_millis(100));
    wait_for("the job despite 503s", Duration::from_secs(120), async || {
        (world.job_status(first).as_deref() == Some("completed")).then_some(())
    })
    .await;
    assert_eq!(world.fake.state().switches().fail_next, 0, "the 503s were answered");

    // Credentials revoked on GitHub: widgets fails with the reason shown, gadgets carries on.
    assert!(world.fake.state().revoke_pat(PAT));
    let stuck = world.queue(LABELS, Duration::from_millis(100));
    let reason = wait_for("widgets to be marked failing", Duration::from_secs(60), async || {
        let status = status_of(&world, &world.repo_id).await;
        (status["running"] == false)
            .then(|| status["failure_reason"].as_str().map(str::to_string))
            .flatten()
    })
    .await;
    assert!(reason.contains("credentials"), "the reason is shown: {reason}");
    let other = world
        .fake
        .state()
        .enqueue_job("acme", "gadgets", LABELS, Duration::from_millis(100), "success")
        .unwrap()
        .id;
    wait_for("the other entity's job", Duration::from_secs(120), async || {
        (world.job_status(other).as_deref() == Some("completed")).then_some(())
    })
    .await;
    assert_eq!(status_of(&world, &gadgets).await["running"], true);
    assert_eq!(
        world.job_status(stuck).as_deref(),
        Some("queued"),
        "nothing can serve it yet"
    );

    // The token works again: widgets recovers by itself and its job is served.
    world.fake.state().add_pat(PatSpec::new(PAT, &["repo", "admin:org"]));
    wait_for("widgets to recover", Duration::from_secs(120), async || {
        (status_of(&world, &world.repo_id).await["running"] == true).then_some(())
    })
    .await;
    wait_for("the waiting job to be served", Duration::from_secs(180), async || {
        (world.job_status(stuck).as_deref() == Some("completed")).then_some(())
    })
    .await;
    assert_nothing_leaked(&world, "sandbox").await;
    assert_each_job_ran_once_on_its_own_runner(&world, &[first, stuck, other]);
    assert_no_secrets_logged(&world, &[pat2, &gadgets_secret]);
}

/// garm's requests (its PAT) after `from`, as the fake logged them.
fn garm_requests(world: &World) -> Vec<garm_fake_github::RequestRecord> {
    let tail = &PAT[PAT.len() - 6..];
    world
        .fake
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.credential_tail.as_deref() == Some(tail))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_garm_sends_nothing_before_the_reset_or_retry_after_and_serves_jobs_after() {
    let mut world = World::start(&[SANDBOX]).await.unwrap();
    tune(&mut world, RECONCILE, "").await;
    world.add_pool("sandbox", json!({"max_runners": 2})).await.unwrap();
    let warm = world.queue(LABELS, Duration::from_millis(100));
    wait_for("a first job", Duration::from_secs(90), async || {
        (world.job_status(warm).as_deref() == Some("completed")).then_some(())
    })
    .await;

    // The primary limit is spent for eight seconds: 403, remaining 0, reset in eight seconds.
    let switches = world.fake.state().update_switches(&SwitchesPatch {
        exhaust_rate_limit_secs: Some(8),
        ..SwitchesPatch::default()
    });
    let reset = switches.rate_limit_exhausted_until.unwrap();
    let limited = world.queue(LABELS, Duration::from_millis(100));
    wait_for("the job after the reset", Duration::from_secs(120), async || {
        (world.job_status(limited).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let requests = garm_requests(&world);
    let first_refusal = requests
        .iter()
        .find(|r| r.status == 403)
        .expect("garm met the exhausted limit")
        .at;
    let during: Vec<_> = requests
        .iter()
        .filter(|r| r.at > first_refusal + chrono::Duration::seconds(1) && r.at.timestamp() < reset)
        .collect();
    assert!(during.is_empty(), "garm sent requests before the reset: {during:?}");
    assert!(
        requests.iter().any(|r| r.at.timestamp() >= reset && r.status < 300),
        "and resumed after it"
    );

    // A secondary limit answered 429 with Retry-After: 6, with no runner left to take the next job.
    wait_for("no instance left", Duration::from_secs(120), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
    world.fake.state().update_switches(&SwitchesPatch {
        retry_after_next: Some(1),
        retry_after_secs: Some(6),
        rate_limit_status: Some(429),
        ..SwitchesPatch::default()
    });
    let before = requests.len();
    let secondary = world.queue(LABELS, Duration::from_millis(100));
    wait_for("the job after Retry-After", Duration::from_secs(120), async || {
        (world.job_status(secondary).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let requests = garm_requests(&world);
    let refusal = requests[before..]
        .iter()
        .find(|r| r.status == 429)
        .expect("garm met the secondary limit")
        .at;
    let early: Vec<_> = requests[before..]
        .iter()
        .filter(|r| r.at > refusal + chrono::Duration::seconds(1) && r.at < refusal + chrono::Duration::seconds(6))
        .collect();
    assert!(
        early.is_empty(),
        "garm sent requests before Retry-After passed: {early:?}"
    );
    assert_nothing_leaked(&world, "sandbox").await;
    assert_each_job_ran_once_on_its_own_runner(&world, &[warm, limited, secondary]);
    assert!(world.garm.log().contains("rate limited until"));
    assert_no_secrets_logged(&world, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_never_kills_a_busy_runner_that_looks_idle() {
    let mut world = World::start(&[SANDBOX]).await.unwrap();
    // Reconciliation off, so garm keeps believing the runner is idle.
    tune(&mut world, "forge_poll_share = 0\n", "").await;
    let pool = world
        .add_pool("sandbox", json!({"min_idle_runners": 1, "max_runners": 2}))
        .await
        .unwrap();
    let idle = wait_for("an idle runner", Duration::from_secs(90), async || {
        let list = world.garm.api.instances().await;
        list.iter()
            .find(|i| i["runner_status"] == "idle")
            .map(|i| i["name"].as_str().unwrap().to_string())
    })
    .await;
    // Its job's webhooks are lost: garm never learns the runner took it.
    world.fake.state().update_switches(&SwitchesPatch {
        drop_share: Some(1.0),
        ..SwitchesPatch::default()
    });
    let job = world.queue(LABELS, Duration::from_secs(15));
    wait_for("the idle runner to take the job", Duration::from_secs(60), async || {
        let j = world.fake.state().job(job)?;
        (j.status.as_str() == "in_progress").then_some(j.runner_name)?
    })
    .await;
    assert_eq!(
        world.fake.state().job(job).unwrap().runner_name.as_deref(),
        Some(idle.as_str())
    );
    // No idle runner is wanted any more: the "idle" one is surplus and old enough to go.
    world
        .garm
        .api
        .call(
            "PUT",
            &format!("/api/v1/pools/{pool}"),
            Some(json!({"min_idle_runners": 0})),
        )
        .await
        .unwrap();
    wait_for(
        "scale-down to try and be refused",
        Duration::from_secs(60),
        async || {
            world
                .garm
                .log()
                .contains("not scaling down: the runner is busy")
                .then_some(())
        },
    )
    .await;
    let instance = world
        .garm
        .api
        .call("GET", &format!("/api/v1/instances/{idle}"), None)
        .await
        .unwrap();
    assert_eq!(instance["status"], "running", "the busy runner's instance is alive");
    assert_eq!(instance["runner_status"], "active", "and known to be busy now");
    world.fake.state().update_switches(&SwitchesPatch {
        drop_share: Some(0.0),
        ..SwitchesPatch::default()
    });
    wait_for("the job to finish", Duration::from_secs(60), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    assert_each_job_ran_once_on_its_own_runner(&world, &[job]);
    assert_nothing_leaked(&world, "sandbox").await;
    let runs: HashMap<String, u32> = world
        .fake
        .state()
        .jobs()
        .into_iter()
        .filter_map(|j| j.runner_name)
        .fold(HashMap::new(), |mut m, r| {
            *m.entry(r).or_default() += 1;
            m
        });
    assert_eq!(runs.get(&idle), Some(&1));
}
