//! One system under test: a fake GitHub behind the counting proxy, and garm on a fresh SQLite
//! database with the fast provider, initialised with an endpoint, credentials and repositories.

use crate::calls::CallLog;
use crate::garm::{Api, Db, Garm, PASSWORD, PROVIDER};
use crate::proxy::Proxy;
use crate::stats::Proc;
use crate::webhook::Hooks;
use anyhow::Context;
use garm_fake_github::{FakeConfig, FakeGithub, FakeHandle, PatSpec, Scope};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub const PAT: &str = "ghp_benchTokenForTheFake00000000000000";
pub const OWNER: &str = "bench";

/// Where the binaries are and what to keep.
#[derive(Clone)]
pub struct Options {
    pub garm: PathBuf,
    pub provider: PathBuf,
    /// Keep each world's directory (config, database, logs, provider state) after the run.
    pub keep: bool,
}

/// A repository registered in garm (and on the fake, with a hook pointing at garm).
pub struct Repo {
    pub id: String,
    pub name: String,
    pub secret: String,
}

pub struct World {
    pub dir: PathBuf,
    keep: bool,
    /// Held for its lifetime: dropping the handle stops the fake.
    pub fake: FakeHandle,
    pub proxy: Proxy,
    /// The endpoint's web root (the proxy), which payloads' `html_url`s must use.
    pub base: String,
    pub garm: Garm,
    /// Further `garm` processes on the same PostgreSQL database (`add_replica`).
    pub replicas: Vec<Garm>,
    db: Db,
    binaries: Options,
    pub api: Api,
    pub repos: Vec<Repo>,
    pub calls: CallLog,
    next_job: u64,
}

impl World {
    /// Starts everything and registers `n_repos` repositories (`bench/app0`, ...).
    pub async fn start(opts: &Options, tag: &str, n_repos: usize) -> anyhow::Result<Self> {
        Self::start_on(opts, tag, n_repos, Db::Sqlite).await
    }

    /// The same with garm on database `db`.
    pub async fn start_on(opts: &Options, tag: &str, n_repos: usize, db: Db) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("garm-bench-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let fake = FakeGithub::start(FakeConfig {
            public_url: Some(url::Url::parse(&base)?),
            pats: vec![PatSpec::new(PAT, &["repo", "admin:org"])],
            // Thousands of JIT configurations must not run into GitHub's 5,000 calls per hour.
            rate_limit: u32::MAX,
            long_poll: Duration::from_secs(1),
            ..FakeConfig::default()
        })
        .await
        .context("starting the fake GitHub")?;
        let proxy = Proxy::serve(listener, fake.addr())?;
        fake.state().add_org(OWNER);
        let garm = Garm::start_on(&opts.garm, &opts.provider, &dir, &db).await?;
        let mut api = Api::new(&garm.url());
        let url = garm.url();
        api.call(
            "POST",
            "/api/v1/first-run",
            Some(json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD})),
        )
        .await?;
        let login = api
            .call(
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": "admin", "password": PASSWORD})),
            )
            .await?;
        api.token = login["token"].as_str().context("login token")?.to_owned();
        api.call(
            "PUT",
            "/api/v1/controller",
            Some(json!({
                "metadata_url": format!("{url}/api/v1/metadata"),
                "callback_url": format!("{url}/api/v1/callbacks"),
                "webhook_url": format!("{url}/webhooks"),
                "minimum_job_age_backoff": 0
            })),
        )
        .await?;
        api.call(
            "POST",
            "/api/v1/github/endpoints",
            Some(json!({"name": "fake", "description": "fake GitHub behind the counting proxy",
                "base_url": base, "api_base_url": format!("{base}/api/v3"), "upload_base_url": format!("{base}/api/v3")})),
        )
        .await?;
        api.call(
            "POST",
            "/api/v1/github/credentials",
            Some(json!({"name": "fake-pat", "endpoint": "fake", "auth_type": "pat", "pat": {"oauth2_token": PAT}})),
        )
        .await?;
        let hook_url = format!("{url}/webhooks");
        let mut repos = Vec::new();
        for i in 0..n_repos {
            let name = format!("app{i}");
            let secret = format!("whsec-bench-{i}-{}", uuid::Uuid::new_v4().simple());
            fake.state().add_repo(OWNER, &name);
            let repo = api
                .call(
                    "POST",
                    "/api/v1/repositories",
                    Some(
                        json!({"owner": OWNER, "name": name, "credentials_name": "fake-pat", "webhook_secret": secret}),
                    ),
                )
                .await?;
            let scope = Scope::Repo {
                owner: OWNER.into(),
                repo: name.clone(),
            };
            fake.state().add_hook(&scope, &hook_url, Some(&secret), "json");
            repos.push(Repo {
                id: repo["id"].as_str().context("repository id")?.to_owned(),
                name,
                secret,
            });
        }
        let calls = CallLog::new(garm.calls_path());
        Ok(Self {
            dir,
            keep: opts.keep,
            fake,
            proxy,
            base,
            garm,
            replicas: Vec::new(),
            db,
            binaries: opts.clone(),
            api,
            repos,
            calls,
            next_job: 1_000_000,
        })
    }

    /// Adds a pool of the fast provider to repository `repo`; returns its id.
    pub async fn add_pool(
        &self,
        repo: usize,
        tags: &[&str],
        min_idle: u32,
        max_runners: u32,
    ) -> anyhow::Result<String> {
        let body = json!({
            "provider_name": PROVIDER, "image": "bench", "flavor": "bench", "tags": tags,
            "os_type": "linux", "os_arch": "amd64", "enabled": true,
            "min_idle_runners": min_idle, "max_runners": max_runners,
            // Instances never run a runner here; they must not be reaped while we measure.
            "runner_bootstrap_timeout": 1440
        });
        let pool = self
            .api
            .call(
                "POST",
                &format!("/api/v1/repositories/{}/pools", self.repos[repo].id),
                Some(body),
            )
            .await?;
        Ok(pool["id"].as_str().context("pool id")?.to_owned())
    }

    /// Payload templates for jobs of repository `repo` asking for `labels`.
    pub fn hooks(&self, repo: usize, labels: &[&str]) -> anyhow::Result<Hooks> {
        let r = &self.repos[repo];
        Hooks::new(&self.base, OWNER, &r.name, labels, &r.secret)
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks", self.garm.url())
    }

    /// Starts one more `garm` with the same configuration on the same PostgreSQL database (its
    /// own port, log and directory); returns once it answers HTTP.
    pub async fn add_replica(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(matches!(self.db, Db::Postgres(_)), "replicas need PostgreSQL");
        let dir = self.dir.join(format!("replica{}", self.replicas.len() + 1));
        let garm = Garm::start_on(&self.binaries.garm, &self.binaries.provider, &dir, &self.db).await?;
        self.replicas.push(garm);
        Ok(())
    }

    /// Every replica's webhook URL, the first garm's first.
    pub fn webhook_urls(&self) -> Vec<String> {
        std::iter::once(&self.garm)
            .chain(&self.replicas)
            .map(|g| format!("{}/webhooks", g.url()))
            .collect()
    }

    /// Every replica's process id, the first garm's first.
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(&self.garm)
            .chain(&self.replicas)
            .map(Garm::pid)
            .collect()
    }

    /// `/proc` figures of every replica, summed (memory figures are the largest replica's).
    pub fn procs(&self) -> Proc {
        Proc::sum(self.pids().into_iter().filter_map(Proc::read))
    }

    /// `/proc` figures of the garm process.
    pub fn proc(&self) -> Proc {
        Proc::read(self.garm.pid()).unwrap_or_default()
    }

    /// `n` fresh job ids.
    pub fn job_ids(&mut self, n: u64) -> std::ops::Range<u64> {
        let start = self.next_job;
        self.next_job += n;
        start..self.next_job
    }

    pub async fn set_min_job_age(&self, seconds: u32) -> anyhow::Result<()> {
        self.api
            .call(
                "PUT",
                "/api/v1/controller",
                Some(json!({"minimum_job_age_backoff": seconds})),
            )
            .await
            .map(drop)
    }

    /// Instances garm reports, as `(name, status)`.
    pub async fn instances(&self) -> anyhow::Result<Vec<(String, String)>> {
        let list = self.api.call("GET", "/api/v1/instances", None).await?;
        Ok(list
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|i: &Value| {
                (
                    i["name"].as_str().unwrap_or_default().to_owned(),
                    i["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// Which job each instance was created for, from garm's log line `instance being created
    /// instance=NAME ... job=Some(ID)` (the API does not say).
    /// The runners named ran their one job: as GitHub does for an ephemeral runner, the fake
    /// forgets them. No runner process runs here, so without this the fake would keep listing
    /// every JIT registration and garm's orphan scan would remove them (GitHub calls that a
    /// real deployment does not make).
    pub fn runners_finished<'a>(&self, names: impl IntoIterator<Item = &'a String>) {
        let state = self.fake.state();
        for name in names {
            if let Some(runner) = state.runner_by_name(name) {
                state.remove_runner(runner.id);
            }
        }
    }

    pub fn instance_jobs(&self) -> std::collections::HashMap<String, u64> {
        let log = std::fs::read_to_string(self.dir.join("garm.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("instance being created"))
            .filter_map(|l| {
                let name = l.split_once(" instance=")?.1.split_whitespace().next()?;
                let job = l.split_once(" job=Some(")?.1.split_once(')')?.0.parse().ok()?;
                Some((name.to_owned(), job))
            })
            .collect()
    }

    /// Waits until instance `name` is `running` in garm.
    pub async fn wait_one_running(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        loop {
            let status = self.api.call("GET", &format!("/api/v1/instances/{name}"), None).await?;
            if status["status"] == "running" {
                return Ok(());
            }
            if start.elapsed() > timeout {
                anyhow::bail!(
                    "instance {name} not running after {timeout:?} (status {})",
                    status["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until every instance named is `running` in garm.
    pub async fn wait_running(&self, names: &[String], timeout: Duration) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        loop {
            let running: std::collections::HashSet<String> = self
                .instances()
                .await?
                .into_iter()
                .filter(|(_, s)| s == "running")
                .map(|(n, _)| n)
                .collect();
            let missing = names.iter().filter(|n| !running.contains(*n)).count();
            if missing == 0 {
                return Ok(());
            }
            if start.elapsed() > timeout {
                anyhow::bail!("{missing} of {} instances not running after {timeout:?}", names.len());
            }
            tokio::time::sleep(Duration::from_millis(if names.len() > 100 { 500 } else { 5 })).await;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            replica.stop(Duration::from_secs(30));
        }
        self.garm.stop(Duration::from_secs(30));
        if self.keep {
            eprintln!("garm-bench: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
