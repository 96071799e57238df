//! The end-to-end harness: builds and starts the real `garm`, a fake GitHub (in
//! process, on loopback), and provider processes, and drives them over HTTP.
//!
//! No production code lives here. Tests wait on conditions, never on fixed sleeps.

pub mod balancer;
pub mod browser;

use anyhow::{bail, Context};
use garm_fake_github::{FakeConfig, FakeGithub, FakeHandle, PatSpec};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const JWT_SECRET: &str = "pK8w2Vb7Qz1Lm4Xr9Ts6Yh3Nd5Fg0Jc2Ua8Ee7Ri1Oo";
pub const PASSPHRASE: &str = "tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0";
pub const PASSWORD: &str = "Gr3en-Tea_at-Noon!42x";
pub const PAT: &str = "ghp_e2eTokenForTheFake0000000000000000";

/// The folder holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary has a path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--bins",
                "-p",
                "garm-server",
                "-p",
                "garm-cli",
                "-p",
                "garm-test-provider",
                "-p",
                "garm-provider-docker",
                "-p",
                "garm-provider-azure",
                "-p",
                "garm-fake-github",
                "-p",
                "garm-attest",
            ])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the binaries for the end-to-end tests failed"
        );
        dir
    })
}

pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("garm-e2e-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `probe` until it returns `Some` or `timeout` passes.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The runner image the Docker provider uses in tests (built offline by `images/build-test-image.sh`).
pub const DOCKER_IMAGE: &str = "garm-rs/runner-test:latest";

/// The label value marking every container of one test's garm.
pub fn docker_label(dir: &TempDir) -> String {
    dir.0
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Builds the runner test image once (a no-op when it is current).
pub fn docker_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../images/build-test-image.sh");
        let status = Command::new("bash").arg(script).status().expect("bash runs");
        assert!(
            status.success(),
            "building the runner test image failed (is a Docker engine running?)"
        );
    });
}

/// Containers (any state) carrying this garm's label.
pub fn containers(garm: &Garm) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=garm-rs.e2e={}", docker_label(&garm.dir)),
        ])
        .output()
        .expect("docker runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A test provider entry for garm's config.
pub struct ProviderSpec {
    pub name: &'static str,
    /// Extra lines of the test provider's TOML config.
    pub extra: &'static str,
    pub run_userdata: bool,
}

/// A running `garm` process with its directory and an authenticated API client.
pub struct Garm {
    pub child: Option<Child>,
    pub dir: TempDir,
    pub port: u16,
    pub api: Api,
}

impl Garm {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.0.join("config.toml")
    }

    /// Writes the config (SQLite, the given test providers) and starts garm.
    pub async fn start(providers: &[ProviderSpec]) -> anyhow::Result<Self> {
        Self::start_with(providers, "").await
    }

    /// [`Garm::start`] with more TOML sections appended to garm's config.
    pub async fn start_with(providers: &[ProviderSpec], extra_config: &str) -> anyhow::Result<Self> {
        let mut garm = Self::configure_with(providers, extra_config)?;
        garm.spawn().await?;
        Ok(garm)
    }

    /// Writes the config (SQLite, the given test providers) without starting garm, so a test
    /// can prepare its database first (`garm admin …`) and then [`Garm::spawn`] it.
    pub fn configure(providers: &[ProviderSpec]) -> anyhow::Result<Self> {
        Self::configure_with(providers, "")
    }

    /// [`Garm::configure`] with more TOML sections appended to garm's config.
    pub fn configure_with(providers: &[ProviderSpec], extra_config: &str) -> anyhow::Result<Self> {
        let dir = TempDir::new("garm");
        let port = free_port();
        let mut config = format!(
            r#"
[logging]
log_format = "text"
log_level = "debug"
log_file = "{log}"
[default]
enable_webhook_management = true
[metrics]
enable = true
disable_auth = true
[pool_manager]
scale_down_grace = "3s"
orphan_scan_interval = "5s"
[jwt_auth]
secret = "{JWT_SECRET}"
time_to_live = "8760h"
[apiserver]
bind = "127.0.0.1"
port = {port}
[database]
backend = "sqlite3"
passphrase = "{PASSPHRASE}"
[database.sqlite3]
db_file = "{db}"
"#,
            log = dir.0.join("garm.log").display(),
            db = dir.0.join("garm.db").display()
        );
        for p in providers {
            let pdir = dir.0.join(format!("provider-{}", p.name));
            std::fs::create_dir_all(&pdir)?;
            let pconf = pdir.join("config.toml");
            // The name `docker` selects the Docker provider, an `extra` starting with `[azure]`
            // the Azure provider (the rest is its config); anything else the test provider.
            let exe = if let Some(azure) = p.extra.strip_prefix("[azure]\n") {
                std::fs::write(&pconf, azure)?;
                bin("garm-provider-azure")
            } else if p.name == "docker" {
                std::fs::write(
                    &pconf,
                    format!(
                        "network_mode = \"host\"\ndefault_image = \"{DOCKER_IMAGE}\"\nstop_timeout_seconds = 1\n[labels]\n\"garm-rs.e2e\" = \"{}\"\n[flavors.small]\ncpus = 1\nmemory_mb = 512\n{}\n",
                        docker_label(&dir),
                        p.extra
                    ),
                )?;
                bin("garm-provider-docker")
            } else {
                std::fs::write(
                    &pconf,
                    format!(
                        "state_dir = \"state\"\nsandbox_dir = \"sandboxes\"\nrun_userdata = {}\n{}\n",
                        p.run_userdata, p.extra
                    ),
                )?;
                bin("garm-test-provider")
            };
            config.push_str(&format!(
                "[[provider]]\nname = \"{}\"\nprovider_type = \"external\"\ndescription = \"local sandboxes\"\ndisable_jit_config = {}\n[provider.external]\nprovider_executable = \"{}\"\nconfig_file = \"{}\"\n",
                p.name,
                p.name.ends_with("-nojit"),
                exe.display(),
                pconf.display()
            ));
        }
        config.push_str(extra_config);
        std::fs::write(dir.0.join("config.toml"), config)?;
        Ok(Self {
            child: None,
            port,
            api: Api::new(&format!("http://127.0.0.1:{port}")),
            dir,
        })
    }

    /// Starts (or restarts) the process on the same directory and waits for HTTP.
    pub async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(bin("garm"))
            .arg("--config")
            .arg(self.config_path())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.0.join("garm.stderr"))?,
            )
            .spawn()
            .context("starting garm")?;
        self.child = Some(child);
        let api = self.api.clone();
        let ok = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if api
                    .http
                    .get(format!("{}/api/v1/first-run", api.base))
                    .send()
                    .await
                    .is_ok()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if ok.is_err() {
            bail!("garm did not answer; log:\n{}", self.log());
        }
        Ok(())
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        let mut out = std::fs::read_to_string(self.dir.0.join("garm.log")).unwrap_or_default();
        out.push_str(&std::fs::read_to_string(self.dir.0.join("garm.stderr")).unwrap_or_default());
        out
    }

    /// Directory of a test provider's sandboxes (one per live instance).
    pub fn sandboxes(&self, provider: &str) -> Vec<String> {
        let dir = self.dir.0.join(format!("provider-{provider}/sandboxes"));
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Initialises garm as `garm-cli init` does.
    pub async fn init(&mut self) -> anyhow::Result<()> {
        let url = self.url();
        self.api
            .call(
                "POST",
                "/api/v1/first-run",
                Some(json!({"username": "admin", "email": "admin@example.com", "password": PASSWORD})),
            )
            .await?;
        let token = self
            .api
            .call(
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": "admin", "password": PASSWORD})),
            )
            .await?;
        self.api.token = token["token"].as_str().context("token")?.to_string();
        self.api
            .call(
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
        Ok(())
    }
}

impl Drop for Garm {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Graceful first, so in-flight provider calls end; then make sure.
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Remove containers the Docker provider may have left (only this test's label).
        let label = format!("label=garm-rs.e2e={}", docker_label(&self.dir));
        if let Ok(out) = Command::new("docker").args(["ps", "-aq", "--filter", &label]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker").arg("rm").arg("-f").args(&ids).output();
            }
        }
        // Kill whatever sandboxed runners are left (their environment names the sandbox).
        let marker = self.dir.0.to_string_lossy().to_string();
        let _ = Command::new("pkill").arg("-9").arg("-f").arg(&marker).status();
        if std::env::var_os("GARM_E2E_KEEP").is_some() {
            eprintln!("keeping {}", self.dir.0.display());
            std::mem::forget(std::mem::replace(&mut self.dir, TempDir(PathBuf::new())));
        }
    }
}

/// A small JSON client for garm's API.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: base.into(),
            token: String::new(),
        }
    }

    /// Sends a request; a non-2xx answer is an error carrying status and body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, value) = self.raw(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {value}");
        }
        Ok(value)
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method.parse()?, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    pub async fn instances(&self) -> Vec<Value> {
        self.call("GET", "/api/v1/instances", None)
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    pub async fn jobs(&self) -> Vec<Value> {
        self.call("GET", "/api/v1/jobs", None)
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    pub async fn metrics(&self) -> String {
        let resp = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("garm answers /metrics");
        resp.text().await.unwrap_or_default()
    }
}

/// Reads one counter's value from Prometheus text (0 if absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// garm, a fake GitHub with `acme/widgets`, and the repository registered in garm with
/// a hook on the fake pointing at garm.
pub struct World {
    pub fake: FakeHandle,
    pub garm: Garm,
    pub repo_id: String,
    pub secret: String,
    /// Held for the world's life: a story that needs the machine alone waits for it.
    _turn: tokio::sync::OwnedRwLockReadGuard<()>,
}

/// Stories share the machine (two at a time, as the test harness runs them), except one that
/// loads it so heavily that a neighbour's timeouts would measure the load rather than garm (the
/// replicas' 500-job burst runs three garms): it takes [`alone`], which waits for every
/// [`World`] to end and keeps new ones from starting until it is dropped.
static TURNS: std::sync::LazyLock<std::sync::Arc<tokio::sync::RwLock<()>>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::RwLock::new(())));

/// The machine to oneself until the guard is dropped (see [`TURNS`]).
pub async fn alone() -> tokio::sync::OwnedRwLockWriteGuard<()> {
    TURNS.clone().write_owned().await
}

impl World {
    pub async fn start(providers: &[ProviderSpec]) -> anyhow::Result<Self> {
        Self::start_with(providers, "").await
    }

    /// [`World::start`] with more TOML sections appended to garm's config.
    pub async fn start_with(providers: &[ProviderSpec], extra_config: &str) -> anyhow::Result<Self> {
        Self::start_custom(providers, extra_config, true, |_| {}).await
    }

    /// The world with the fake configured by `tweak`; without `hook` the fake sends garm no
    /// webhooks (jobs reach garm only through scale sets).
    pub async fn start_custom(
        providers: &[ProviderSpec],
        extra_config: &str,
        hook: bool,
        tweak: impl FnOnce(&mut FakeConfig),
    ) -> anyhow::Result<Self> {
        let turn = TURNS.clone().read_owned().await;
        let mut config = FakeConfig {
            runner_binary: bin("garm-fake-runner"),
            pats: vec![PatSpec::new(PAT, &["repo", "admin:org"])],
            long_poll: Duration::from_secs(5),
            ..FakeConfig::default()
        };
        tweak(&mut config);
        let fake = FakeGithub::start(config).await?;
        fake.state().add_org("acme");
        fake.state().add_repo("acme", "widgets");
        let mut garm = Garm::start_with(providers, extra_config).await?;
        garm.init().await?;
        let api = &garm.api;
        api.call(
            "POST",
            "/api/v1/github/endpoints",
            Some(json!({"name": "fake", "description": "fake GitHub", "base_url": fake.url(), "api_base_url": fake.api_url(), "upload_base_url": fake.api_url()})),
        )
        .await?;
        api.call(
            "POST",
            "/api/v1/github/credentials",
            Some(json!({"name": "fake-pat", "endpoint": "fake", "auth_type": "pat", "pat": {"oauth2_token": PAT}})),
        )
        .await?;
        let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
        let repo = api
            .call("POST", "/api/v1/repositories", Some(json!({"owner": "acme", "name": "widgets", "credentials_name": "fake-pat", "webhook_secret": secret})))
            .await?;
        let repo_id = repo["id"].as_str().context("repo id")?.to_string();
        let info = api.call("GET", "/api/v1/controller-info", None).await?;
        let hook_url = info["controller_webhook_url"]
            .as_str()
            .context("webhook url")?
            .to_string();
        if hook {
            fake.state().add_hook(
                &garm_fake_github::Scope::Repo {
                    owner: "acme".into(),
                    repo: "widgets".into(),
                },
                &hook_url,
                Some(&secret),
                "json",
            );
        }
        Ok(Self {
            fake,
            garm,
            repo_id,
            secret,
            _turn: turn,
        })
    }

    /// Adds a pool to the repository; `patch` overrides the defaults.
    pub async fn add_pool(&self, provider: &str, patch: Value) -> anyhow::Result<String> {
        let mut body = json!({
            "provider_name": provider, "image": "local", "flavor": "small", "tags": ["self-hosted", "linux", "e2e"],
            "os_type": "linux", "os_arch": "amd64", "enabled": true, "min_idle_runners": 0, "max_runners": 4,
            "runner_bootstrap_timeout": 20
        });
        for (k, v) in patch.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        let pool = self
            .garm
            .api
            .call(
                "POST",
                &format!("/api/v1/repositories/{}/pools", self.repo_id),
                Some(body),
            )
            .await?;
        Ok(pool["id"].as_str().context("pool id")?.to_string())
    }

    /// Queues a job on the fake (it sends the signed `queued` webhook to garm).
    pub fn queue(&self, labels: &[&str], run_for: Duration) -> u64 {
        self.fake
            .state()
            .enqueue_job("acme", "widgets", labels, run_for, "success")
            .expect("enqueue")
            .id
    }

    pub fn job_status(&self, id: u64) -> Option<String> {
        self.fake.state().job(id).map(|j| j.status.as_str().to_string())
    }
}
