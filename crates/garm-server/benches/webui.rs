//! How long the web UI takes to render its heaviest pages server-side, with 1,000 pools
//! (100 repositories × 10), 10,000 instances and 500 queued jobs in a SQLite store.
//! Run with `cargo bench -p garm-server --bench webui` (release build); the numbers are
//! reported in docs/benchmarks.md. The target is under 50 ms per page.

use garm_model::{BalancerType, InstanceStatus, RunnerStatus, Secret};
use garm_store::{CredentialSecret, EntityKind, EntityRecord, InstanceRecord, JobRecord, NewPool};
use std::time::{Duration, Instant};

const REPOS: usize = 100;
const POOLS_PER_REPO: usize = 10;
const INSTANCES_PER_POOL: usize = 10;
const QUEUED_JOBS: usize = 500;
const RUNS: usize = 30;

fn config(dir: &std::path::Path) -> garm_server::config::Config {
    garm_server::config::Config::parse(&format!(
        r#"
[jwt_auth]
secret = "pK8w2Vb7Qz1Lm4Xr9Ts6Yh3Nd5Fg0Jc2Ua8Ee7Ri1Oo"
time_to_live = "8760h"
[apiserver]
bind = "127.0.0.1"
port = 9997
[apiserver.webui]
enable = true
[database]
backend = "sqlite3"
passphrase = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0"
[database.sqlite3]
db_file = "{}"
"#,
        dir.join("garm.db").display()
    ))
    .expect("the bench config parses")
}

async fn seed(store: &garm_store::Store) -> anyhow::Result<()> {
    let creds = store
        .create_credentials(
            "bench",
            "",
            "github",
            "github.com",
            &CredentialSecret::Pat {
                token: Secret::new("ghp_bench"),
            },
        )
        .await?;
    let now = chrono::Utc::now();
    let statuses = [
        (InstanceStatus::Running, RunnerStatus::Idle),
        (InstanceStatus::Running, RunnerStatus::Active),
        (InstanceStatus::Creating, RunnerStatus::Pending),
        (InstanceStatus::Running, RunnerStatus::Installing),
        (InstanceStatus::Error, RunnerStatus::Failed),
    ];
    for r in 0..REPOS {
        let repo = store
            .create_entity(&EntityRecord {
                id: String::new().into(),
                kind: EntityKind::Repository,
                owner: "acme".into(),
                name: format!("repo-{r}"),
                endpoint_name: "github.com".into(),
                credentials_id: creds.id,
                webhook_secret: Secret::new("s"),
                balancer: BalancerType::parse("roundrobin").map_err(anyhow::Error::msg)?,
                agent_mode: false,
                pool_manager_running: true,
                failure_reason: String::new(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        for p in 0..POOLS_PER_REPO {
            let pool = store
                .create_pool(&NewPool {
                    entity_id: repo.id.clone(),
                    provider_name: "azure".into(),
                    runner_prefix: "garm".into(),
                    max_runners: 12,
                    min_idle_runners: 1,
                    bootstrap_timeout: 20,
                    image: "ubuntu-24.04".into(),
                    flavor: "Standard_DC2as_v5".into(),
                    os_type: "linux".into(),
                    os_arch: "amd64".into(),
                    enabled: p % 7 != 0,
                    extra_specs: Some("{\"confidential\":true}".into()),
                    runner_group: String::new(),
                    enable_shell: false,
                    priority: p as u32,
                    template_id: None,
                    proxy_id: None,
                    tags: vec!["self-hosted".into(), "linux".into(), format!("size-{p}")],
                })
                .await?;
            let instances: Vec<InstanceRecord> = (0..INSTANCES_PER_POOL)
                .map(|i| {
                    let (status, runner_status) = statuses[(r + p + i) % statuses.len()];
                    let name = format!("garm-{r}-{p}-{i}");
                    InstanceRecord {
                        id: uuid::Uuid::new_v4().to_string(),
                        name: name.clone().into(),
                        pool_id: pool.id.clone(),
                        provider_id: Some(name),
                        agent_id: 0,
                        os_type: "linux".into(),
                        os_arch: "amd64".into(),
                        os_name: "ubuntu".into(),
                        os_version: "24.04".into(),
                        addresses: Vec::new(),
                        status,
                        runner_status,
                        provider_fault: if status == InstanceStatus::Error {
                            "quota exceeded".into()
                        } else {
                            String::new()
                        },
                        create_attempt: 1,
                        token_fetched: false,
                        jit_config: None,
                        runner_group: String::new(),
                        extra_labels: Vec::new(),
                        generation: 0,
                        callback_url: String::new(),
                        metadata_url: String::new(),
                        heartbeat: now,
                        created_at: now,
                        updated_at: now,
                    }
                })
                .collect();
            store.create_instances(&instances, 12).await?;
        }
        for j in 0..QUEUED_JOBS / REPOS {
            let id = (r * 1000 + j) as i64 + 1;
            let labels = if j % 2 == 0 {
                vec!["self-hosted".to_string(), "linux".into(), format!("size-{j}")]
            } else {
                vec!["self-hosted".to_string(), "gpu-xl".into()]
            };
            store
                .put_job(&JobRecord {
                    workflow_job_id: id,
                    run_id: id,
                    action: "queued".into(),
                    status: "queued".into(),
                    name: format!("job-{id}"),
                    repository_name: format!("repo-{r}"),
                    repository_owner: "acme".into(),
                    labels,
                    repo_id: Some(repo.id.to_string()),
                    reason: "every matching pool is at max_runners; waiting for room".into(),
                    created_at: Some(now),
                    updated_at: Some(now),
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(())
}

fn report(name: &str, mut times: Vec<Duration>, bytes: usize) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<28} p50 {:>7.2} ms   p90 {:>7.2} ms   max {:>7.2} ms   ({} runs, {} KiB of HTML)",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(*times.last().expect("at least one run")),
        times.len(),
        bytes / 1024
    );
}

async fn time<F, Fut>(mut f: F) -> anyhow::Result<(Vec<Duration>, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, garm_server::error::ApiError>>,
{
    let mut bytes = 0;
    for _ in 0..3 {
        bytes = f().await?.len();
    }
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let html = f().await?;
        times.push(start.elapsed());
        std::hint::black_box(html);
    }
    Ok((times, bytes))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("garm-webui-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let (app, _rx) = garm_server::build(config(&dir)).await?;
    let start = Instant::now();
    seed(&app.store).await?;
    println!(
        "seeded {} pools, {} instances, {} queued jobs in {:.1} s",
        REPOS * POOLS_PER_REPO,
        REPOS * POOLS_PER_REPO * INSTANCES_PER_POOL,
        QUEUED_JOBS,
        start.elapsed().as_secs_f64()
    );
    let (t, b) = time(|| garm_server::ui::render_dashboard(&app, 1)).await?;
    report("dashboard (/ui/)", t, b);
    let (t, b) = time(|| garm_server::ui::render_pools(&app, "", 1, "csrf")).await?;
    report("pools (/ui/pools)", t, b);
    let (t, b) = time(|| garm_server::ui::render_pools(&app, "size-3", 2, "csrf")).await?;
    report("pools filtered, page 2", t, b);
    // Where the time goes: the store reads the pages make.
    let s = &app.store;
    let (t, _) = time(|| async { Ok(format!("{}", s.pools(None).await?.len())) }).await?;
    report("  store: pools(None)", t, 0);
    let (t, _) = time(|| async { Ok(format!("{}", s.instance_counts().await?.total)) }).await?;
    report("  store: instance_counts()", t, 0);
    let (t, _) = time(|| async { Ok(format!("{}", s.jobs_with_status("queued").await?.len())) }).await?;
    report("  store: queued jobs", t, 0);
    let (t, _) = time(|| async { Ok(format!("{}", s.all_entities().await?.len())) }).await?;
    report("  store: all_entities()", t, 0);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
