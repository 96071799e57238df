//! Several `garm` replicas on one PostgreSQL behind a load balancer: the work is split by
//! entity lease, a killed or paused replica's work is taken over, and nothing is done twice.
//! Needs `GARM_TEST_POSTGRES_URL` (skipped without it).

use garm_e2e::balancer::Balancer;
use garm_e2e::{wait_for, Garm, ProviderSpec, PAT};
use garm_fake_github::{FakeConfig, FakeGithub, FakeHandle, PatSpec, Scope};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};
const REPOS: [&str; 3] = ["widgets", "gadgets", "gizmos"];
const LABELS: &[&str] = &["self-hosted", "linux", "e2e"];
const MAX_RUNNERS: usize = 4;
const LEASE_TTL: Duration = Duration::from_secs(3);

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-tAc", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Three replicas, the fake GitHub with three repositories (one pool each) whose hooks point
/// at the balancer, and the balancer as garm's metadata, callback and webhook address.
struct Cluster {
    fake: FakeHandle,
    replicas: Vec<Garm>,
    /// Kept running for as long as the cluster.
    _balancer: Balancer,
    /// The machine to this story alone (`garm_e2e::alone`): three garms and a burst of 500 jobs
    /// would turn a neighbouring story's timeouts into measurements of the load.
    _alone: tokio::sync::OwnedRwLockWriteGuard<()>,
    db_url: String,
    pools: HashMap<String, String>,
}

impl Cluster {
    async fn start(copies: usize) -> Option<Self> {
        let admin = std::env::var("GARM_TEST_POSTGRES_URL").ok()?;
        let alone = garm_e2e::alone().await;
        let name = format!("garm_e2e_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let db_url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let fake = FakeGithub::start(FakeConfig {
            runner_binary: garm_e2e::bin("garm-fake-runner"),
            pats: vec![PatSpec::new(PAT, &["repo", "admin:org"])],
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        fake.state().add_org("acme");
        for r in REPOS {
            fake.state().add_repo("acme", r);
        }
        // One configuration for all: the same database and the same provider directory (the
        // "cloud" all replicas share); only the port and the log differ.
        let first = Garm::configure(&[SANDBOX]).unwrap();
        let shared = std::fs::read_to_string(first.config_path())
            .unwrap()
            .replace("backend = \"sqlite3\"", "backend = \"postgresql\"")
            .replace(
                "[database.sqlite3]",
                &format!("[database.postgresql]\nurl = \"{db_url}\"\n[database.sqlite3]"),
            )
            .replace(
                "[default]\n",
                &format!("[default]\nlease_ttl = \"{}s\"\n", LEASE_TTL.as_secs()),
            );
        let mut replicas = vec![first];
        for _ in 1..3 {
            replicas.push(Garm::configure(&[]).unwrap());
        }
        let base_port = replicas[0].port;
        let base_log = replicas[0].dir.0.join("garm.log");
        for g in &mut replicas {
            let text = shared
                .replace(&format!("port = {base_port}"), &format!("port = {}", g.port))
                .replace(
                    &base_log.display().to_string(),
                    &g.dir.0.join("garm.log").display().to_string(),
                );
            std::fs::write(g.config_path(), text).unwrap();
        }
        // The first migrates and is initialised; the others join.
        replicas[0].spawn().await.unwrap();
        replicas[0].init().await.unwrap();
        for g in &mut replicas[1..] {
            g.spawn().await.unwrap();
        }
        let token = replicas[0].api.token.clone();
        for g in &mut replicas[1..] {
            g.api.token = token.clone();
        }
        let balancer = Balancer::start(replicas.iter().map(Garm::url).collect(), copies).await;
        let api = &replicas[0].api;
        api.call(
            "PUT",
            "/api/v1/controller",
            Some(json!({
                "metadata_url": format!("{}/api/v1/metadata", balancer.url),
                "callback_url": format!("{}/api/v1/callbacks", balancer.url),
                "webhook_url": format!("{}/webhooks", balancer.url),
            })),
        )
        .await
        .unwrap();
        api.call("POST", "/api/v1/github/endpoints", Some(json!({"name": "fake", "description": "fake GitHub", "base_url": fake.url(), "api_base_url": fake.api_url(), "upload_base_url": fake.api_url()})))
            .await
            .unwrap();
        api.call(
            "POST",
            "/api/v1/github/credentials",
            Some(json!({"name": "fake-pat", "endpoint": "fake", "auth_type": "pat", "pat": {"oauth2_token": PAT}})),
        )
        .await
        .unwrap();
        let info = api.call("GET", "/api/v1/controller-info", None).await.unwrap();
        let hook_url = info["controller_webhook_url"].as_str().unwrap().to_string();
        let mut pools = HashMap::new();
        for r in REPOS {
            let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
            let repo = api
                .call(
                    "POST",
                    "/api/v1/repositories",
                    Some(json!({"owner": "acme", "name": r, "credentials_name": "fake-pat", "webhook_secret": secret})),
                )
                .await
                .unwrap();
            let repo_id = repo["id"].as_str().unwrap().to_string();
            let pool = api
                .call(
                    "POST",
                    &format!("/api/v1/repositories/{repo_id}/pools"),
                    Some(json!({
                        "provider_name": "sandbox", "image": "local", "flavor": "small", "tags": LABELS,
                        "os_type": "linux", "os_arch": "amd64", "enabled": true, "min_idle_runners": 0,
                        "max_runners": MAX_RUNNERS, "runner_bootstrap_timeout": 20
                    })),
                )
                .await
                .unwrap();
            pools.insert(pool["id"].as_str().unwrap().to_string(), r.to_string());
            let scope = Scope::Repo {
                owner: "acme".into(),
                repo: r.into(),
            };
            fake.state().add_hook(&scope, &hook_url, Some(&secret), "json");
        }
        Some(Self {
            fake,
            replicas,
            _balancer: balancer,
            _alone: alone,
            db_url,
            pools,
        })
    }

    /// The entity leases as a live replica reports them: entity lease name → (holder, expired).
    async fn leases(&self, via: usize) -> HashMap<String, (String, bool)> {
        let Ok(list) = self.replicas[via].api.call("GET", "/api/v1/leases", None).await else {
            return HashMap::new();
        };
        list.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"].as_str().unwrap().starts_with("entity:"))
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_string(),
                    (
                        l["holder"].as_str().unwrap().to_string(),
                        l["expired"].as_bool().unwrap(),
                    ),
                )
            })
            .collect()
    }

    /// The replica ids, by asking each replica which leases it holds.
    async fn holder_of(&self, index: usize) -> Option<String> {
        let list = self.replicas[index]
            .api
            .call("GET", "/api/v1/leases", None)
            .await
            .ok()?;
        list.as_array()?
            .iter()
            .find(|l| l["held_here"] == true && l["name"].as_str().is_some_and(|n| n.starts_with("replica:")))
            .map(|l| l["holder"].as_str().unwrap().to_string())
    }

    /// Live instances per pool, as the database holds them (read through a live replica).
    async fn per_pool(&self, via: usize) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for i in self.replicas[via].api.instances().await {
            *out.entry(i["pool_id"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        out
    }

    fn queue(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|k| {
                self.fake
                    .state()
                    .enqueue_job(
                        "acme",
                        REPOS[k % REPOS.len()],
                        LABELS,
                        Duration::from_millis(50),
                        "success",
                    )
                    .expect("enqueue")
                    .id
            })
            .collect()
    }

    fn completed(&self, jobs: &[u64]) -> usize {
        jobs.iter()
            .filter(|j| {
                self.fake
                    .state()
                    .job(**j)
                    .is_some_and(|j| j.status.as_str() == "completed")
            })
            .count()
    }

    /// Every job served by exactly one of our runners, each runner serving one job; no
    /// instance or sandbox left; each delivery recorded once.
    async fn assert_served_once(&self, jobs: &[u64], via: usize) {
        let all = self.fake.state().jobs();
        let runners: Vec<String> = jobs
            .iter()
            .map(|id| {
                let j = all.iter().find(|j| j.id == *id).unwrap();
                j.runner_name.clone().expect("a runner took the job")
            })
            .collect();
        assert!(runners.iter().all(|r| r.starts_with("garm-")), "{runners:?}");
        let distinct: HashSet<&String> = runners.iter().collect();
        assert_eq!(distinct.len(), jobs.len(), "a runner served two jobs");
        wait_for(
            "every instance and sandbox to be gone",
            Duration::from_secs(180),
            async || {
                (self.replicas[via].api.instances().await.is_empty()
                    && self.replicas[0].sandboxes("sandbox").is_empty())
                .then_some(())
            },
        )
        .await;
        // About one runner registered per job: a create interrupted by a kill or a takeover is
        // retried (one more JIT configuration), but no job got a second runner (above).
        let registered = self
            .fake
            .state()
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/actions/runners/generate-jitconfig"))
            .count();
        eprintln!("replicas: {registered} JIT configurations for {} jobs", jobs.len());
        assert!(
            registered >= jobs.len() && registered <= jobs.len() + MAX_RUNNERS * REPOS.len(),
            "{registered} JIT configurations for {} jobs",
            jobs.len()
        );
        let sent: HashSet<String> = self
            .fake
            .state()
            .deliveries()
            .iter()
            .filter(|d| d.status_code == 200)
            .map(|d| format!("{}:{}", d.hook_id, d.guid))
            .collect();
        let recorded: usize = psql(&self.db_url, "SELECT COUNT(*) FROM webhook_deliveries")
            .parse()
            .unwrap();
        assert_eq!(recorded, sent.len(), "each delivery recorded once");
        let jobs_rows: usize = psql(&self.db_url, "SELECT COUNT(*) FROM jobs").parse().unwrap();
        assert_eq!(jobs_rows, jobs.len(), "one job row per job");
    }
}

/// One sample of `max_runners`: no pool over it (instances in the database, sandboxes on the
/// shared provider); `peak` keeps the largest pool seen.
async fn sample(c: &Cluster, peak: &mut usize) {
    let per_pool = c.per_pool(0).await;
    for (pool, count) in &per_pool {
        assert!(*count <= MAX_RUNNERS, "pool {pool} has {count} instances");
    }
    let sandboxes = c.replicas[0].sandboxes("sandbox").len();
    assert!(sandboxes <= MAX_RUNNERS * REPOS.len(), "{sandboxes} sandboxes");
    *peak = (*peak).max(per_pool.values().copied().max().unwrap_or(0));
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The replicas first (SIGTERM, then kill), then their database.
        self.replicas.clear();
        if let Ok(admin) = std::env::var("GARM_TEST_POSTGRES_URL") {
            let name = self
                .db_url
                .rsplit_once('/')
                .map(|(_, n)| n.to_string())
                .unwrap_or_default();
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-tAc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

fn signal(g: &Garm, sig: &str) {
    let pid = g.child.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
}

fn burst() -> usize {
    std::env::var("GARM_E2E_REPLICA_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_survive_a_kill_and_a_pause_and_serve_every_job_once() {
    let Some(mut c) = Cluster::start(1).await else {
        eprintln!("GARM_TEST_POSTGRES_URL unset: skipping");
        return;
    };
    // The work spreads: each replica ends up holding one entity.
    wait_for("one entity lease per replica", Duration::from_secs(60), async || {
        let leases = c.leases(0).await;
        let holders: HashSet<&String> = leases.values().map(|(h, _)| h).collect();
        (leases.len() == 3 && holders.len() == 3).then_some(())
    })
    .await;
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for k in 0..3 {
            v.push(c.holder_of(k).await.unwrap());
        }
        v
    };
    let n = burst();
    let started = Instant::now();
    let jobs = c.queue(n);
    let mut peak = 0;
    wait_for(
        "a third of the jobs to complete",
        Duration::from_secs(600),
        async || {
            sample(&c, &mut peak).await;
            (c.completed(&jobs) >= n / 3).then_some(())
        },
    )
    .await;

    // SIGKILL replica 2: its entity is taken over once its lease expires.
    let killed = ids[2].clone();
    let lost: Vec<String> = c
        .leases(0)
        .await
        .into_iter()
        .filter(|(_, (h, _))| *h == killed)
        .map(|(l, _)| l)
        .collect();
    assert!(!lost.is_empty(), "replica 2 held an entity");
    c.replicas[2].kill();
    let t0 = Instant::now();
    wait_for(
        "the killed replica's entities to be taken over",
        Duration::from_secs(60),
        async || {
            sample(&c, &mut peak).await;
            let leases = c.leases(0).await;
            lost.iter()
                .all(|l| leases.get(l).is_some_and(|(h, expired)| *h != killed && !expired))
                .then_some(())
        },
    )
    .await;
    let kill_takeover = t0.elapsed();

    // SIGSTOP replica 1 past its lease, then SIGCONT: its work moves, and it acts on nothing
    // it lost.
    let paused = ids[1].clone();
    let moved: Vec<String> = c
        .leases(0)
        .await
        .into_iter()
        .filter(|(_, (h, _))| *h == paused)
        .map(|(l, _)| l)
        .collect();
    signal(&c.replicas[1], "-STOP");
    let t1 = Instant::now();
    wait_for(
        "the paused replica's entities to be taken over",
        Duration::from_secs(60),
        async || {
            sample(&c, &mut peak).await;
            let leases = c.leases(0).await;
            moved
                .iter()
                .all(|l| leases.get(l).is_some_and(|(h, expired)| *h != paused && !expired))
                .then_some(())
        },
    )
    .await;
    let pause_takeover = t1.elapsed();
    tokio::time::sleep(LEASE_TTL).await;
    signal(&c.replicas[1], "-CONT");

    wait_for("every job to complete", Duration::from_secs(900), async || {
        sample(&c, &mut peak).await;
        (c.completed(&jobs) == n).then_some(())
    })
    .await;
    let total = started.elapsed();
    assert!(peak > 1, "pools scaled out (peak {peak})");
    c.assert_served_once(&jobs, 0).await;
    // The paused replica noticed: its stale writes were refused or it saw the loss first.
    let log = c.replicas[1].log();
    assert!(
        log.contains("lease lost to another replica"),
        "the paused replica never noticed its loss"
    );
    eprintln!(
        "replicas: {n} jobs over 3 entities in {:.1}s; takeover after SIGKILL {:.1}s, after SIGSTOP {:.1}s (lease_ttl {}s)",
        total.as_secs_f64(),
        kill_takeover.as_secs_f64(),
        pause_takeover.as_secs_f64(),
        LEASE_TTL.as_secs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_sent_to_two_replicas_is_recorded_once() {
    let Some(c) = Cluster::start(2).await else {
        eprintln!("GARM_TEST_POSTGRES_URL unset: skipping");
        return;
    };
    let n = burst() / 3;
    let jobs = c.queue(n);
    wait_for("every job to complete", Duration::from_secs(600), async || {
        for (pool, count) in c.per_pool(0).await {
            assert!(count <= MAX_RUNNERS, "pool {pool} has {count} instances");
        }
        (c.completed(&jobs) == n).then_some(())
    })
    .await;
    c.assert_served_once(&jobs, 0).await;
    assert_eq!(c.pools.len(), REPOS.len());
}
