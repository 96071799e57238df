//! The `garm` process under test: its config, start, stop, and a small JSON client for its API.

use anyhow::{bail, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const JWT_SECRET: &str = "bQ7nX2kLp9Rt4Vw8Yz1Cd6Fg3Hj5Km0NsPqUeAiOoTyBench";
pub const PASSPHRASE: &str = "Zr4Kx8Lm2Np6Qs0Tv3Wy7Bd1Fh5Jk9Mc";
pub const PASSWORD: &str = "Bench-Mark_at-Dawn!73q";
pub const PROVIDER: &str = "bench";

/// The database a `garm` runs on.
#[derive(Clone, Debug)]
pub enum Db {
    /// A fresh SQLite file in the garm's directory.
    Sqlite,
    /// A PostgreSQL database (URL), which several replicas may share.
    Postgres(String),
}

/// A running `garm` in `dir` (config, log, provider state), on SQLite there or on PostgreSQL.
pub struct Garm {
    child: Option<Child>,
    pub dir: PathBuf,
    pub port: u16,
    binary: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Garm {
    /// Writes the config (database `db`, the fast provider) and starts garm; returns once HTTP
    /// answers. Replicas on one PostgreSQL database get the same configuration but for the
    /// port and the log file.
    pub async fn start_on(binary: &Path, provider: &Path, dir: &Path, db: &Db) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let provider_dir = dir.join("provider");
        std::fs::create_dir_all(&provider_dir)?;
        std::fs::write(
            provider_dir.join("config.toml"),
            "# garm-bench-provider keeps its state here.\n",
        )?;
        let config = format!(
            r#"[logging]
log_format = "text"
log_level = "info"
log_file = "{log}"
[metrics]
enable = true
disable_auth = true
[jwt_auth]
secret = "{JWT_SECRET}"
time_to_live = "8760h"
[apiserver]
bind = "127.0.0.1"
port = {port}
[database]
passphrase = "{PASSPHRASE}"
{database}
[[provider]]
name = "{PROVIDER}"
provider_type = "external"
description = "garm-bench fast provider"
[provider.external]
provider_executable = "{exe}"
config_file = "{pconf}"
interface_version = "v0.1.1"
"#,
            log = dir.join("garm.log").display(),
            database = match db {
                Db::Sqlite => format!(
                    "backend = \"sqlite3\"\n[database.sqlite3]\ndb_file = \"{}\"",
                    dir.join("garm.db").display()
                ),
                Db::Postgres(url) => format!("backend = \"postgresql\"\n[database.postgresql]\nurl = \"{url}\""),
            },
            exe = provider.display(),
            pconf = provider_dir.join("config.toml").display(),
        );
        std::fs::write(dir.join("config.toml"), config)?;
        let mut garm = Self {
            child: None,
            dir: dir.to_path_buf(),
            port,
            binary: binary.to_path_buf(),
        };
        garm.spawn()?;
        garm.wait_http(Duration::from_secs(60)).await?;
        Ok(garm)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The provider's `calls.log`.
    pub fn calls_path(&self) -> PathBuf {
        self.dir.join("provider/calls.log")
    }

    /// Starts the process on the existing config and database.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("garm.stderr"))?;
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until anything answers on the port.
    pub async fn wait_http(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if client
                .get(format!("{}/api/v1/first-run", self.url()))
                .send()
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!(
                        "garm exited with {status}; see {}",
                        self.dir.join("garm.stderr").display()
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("garm did not answer within {timeout:?}")
    }

    /// SIGTERM, then waits up to `timeout` (SIGKILL after that); returns how long it took to exit.
    pub fn stop(&mut self, timeout: Duration) -> Duration {
        let start = Instant::now();
        let Some(mut child) = self.child.take() else {
            return Duration::ZERO;
        };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        start.elapsed()
    }
}

impl Drop for Garm {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// A JSON client for garm's API.
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
                .timeout(Duration::from_secs(120))
                .build()
                .expect("a plain HTTP client builds"),
            base: base.to_owned(),
            token: String::new(),
        }
    }

    /// Sends a request; a non-2xx answer is an error carrying status and body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method.parse()?, format!("{}{path}", self.base));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        })
    }

    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?)
    }
}
