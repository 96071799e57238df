//! How a fake is started: address, fixtures, credentials it accepts, timings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The runner version the fake serves and reports (`actions-runner-linux-x64-<version>.tar.gz`).
pub const RUNNER_VERSION: &str = "2.330.0";

/// Start-up configuration of a [`crate::FakeGithub`].
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Address to bind; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Base URL written into payloads, JIT configurations and download links.
    /// Defaults to `http://<bound address>`.
    pub public_url: Option<url::Url>,
    /// The API prefix used in URLs the fake writes (`/api/v3`, GHES form, or empty).
    /// The REST API is served under both `/` and `/api/v3` regardless.
    pub api_prefix: String,
    /// The folder holding `webhooks/` and `openapi/` (see [`default_fixtures_dir`]).
    pub fixtures_dir: PathBuf,
    /// The simulated runner the archive's `config.sh`/`run.sh` execute.
    pub runner_binary: PathBuf,
    /// Personal access tokens the fake accepts.
    pub pats: Vec<PatSpec>,
    /// GitHub Apps the fake knows.
    pub apps: Vec<AppSpec>,
    pub installation_token_lifetime: Duration,
    pub registration_token_lifetime: Duration,
    /// Primary rate limit per token (GitHub: 5000 per hour).
    pub rate_limit: u32,
    pub rate_limit_window: Duration,
    /// Longest time a runner's message poll is held open.
    pub long_poll: Duration,
    /// A runner with a session but no poll for this long is shown `offline`.
    pub runner_offline_after: Duration,
    /// Receivers slower than this are recorded as failed (GitHub: 10 s).
    pub delivery_timeout: Duration,
    /// JIT runners that never connect are removed after this long (GitHub does it after a
    /// while); scale set runners from `generatejitconfig` included.
    pub jit_unused_ttl: Option<Duration>,
    /// The runner scale set service: token lifetimes, queue hold, expiry, reassignment.
    pub scale_sets: crate::model::scalesets::ScaleSetConfig,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            api_prefix: "/api/v3".to_owned(),
            fixtures_dir: default_fixtures_dir(),
            runner_binary: default_runner_binary(),
            pats: Vec::new(),
            apps: Vec::new(),
            installation_token_lifetime: Duration::from_secs(3600),
            registration_token_lifetime: Duration::from_secs(3600),
            rate_limit: 5000,
            rate_limit_window: Duration::from_secs(3600),
            long_poll: Duration::from_secs(50),
            runner_offline_after: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(10),
            jit_unused_ttl: None,
            scale_sets: crate::model::scalesets::ScaleSetConfig::default(),
        }
    }
}

/// A classic personal access token and its scopes (`repo`, `admin:org`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatSpec {
    pub token: String,
    pub scopes: Vec<String>,
}

impl PatSpec {
    pub fn new(token: &str, scopes: &[&str]) -> Self {
        PatSpec {
            token: token.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Parses `TOKEN[:scope,scope...]` (the token itself never contains `:`).
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            Some((token, scopes)) => PatSpec {
                token: token.to_owned(),
                scopes: scopes
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            None => PatSpec {
                token: text.to_owned(),
                scopes: Vec::new(),
            },
        }
    }
}

/// A GitHub App: its id, client id, slug and RSA public key (PEM) used to check its JWTs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppSpec {
    pub id: u64,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    pub public_key_pem: String,
}

/// `<workspace>/../shared/fixtures/github`, unless `GARM_FIXTURES_DIR` names another folder.
pub fn default_fixtures_dir() -> PathBuf {
    match std::env::var_os("GARM_FIXTURES_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/github"),
    }
}

/// `garm-fake-runner` next to the running executable.
pub fn default_runner_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    // Test binaries live in target/<profile>/deps; the runner in target/<profile>.
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("garm-fake-runner")
}
