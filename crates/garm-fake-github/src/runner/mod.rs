//! The client side of the runner protocol, as `garm-fake-runner` (and in-process tests) use it.
//!
//! Configuration follows `config.sh`'s runner-admin flow against the REST host
//! (`RemoteAuth` registration token); listening follows `run.sh` against the fake's
//! Actions service: token exchange, listener session, message long-poll, job completion.

mod configure;
mod listener;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub use configure::{configure, default_labels, remove, ConfigureArgs};
pub use listener::{JobRequest, Listener};

use crate::files::{self, JitError};

const USER_AGENT: &str = concat!("GitHubActionsRunner-fake/", env!("CARGO_PKG_NAME"));

/// Why a runner operation failed; [`RunnerError::exit_code`] maps it to the runner's codes.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("request to {url} failed")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} answered {status}: {body}")]
    Rejected { what: String, status: u16, body: String },
    #[error("another listener is connected as this runner")]
    Conflict,
    #[error("the runner registration has been deleted from the server")]
    Deleted,
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JIT configuration")]
    Jit(#[from] JitError),
}

impl RunnerError {
    /// 1 terminated by error, 2 retryable, 5 listener conflict (as the real runner).
    pub fn exit_code(&self) -> i32 {
        match self {
            RunnerError::Http { .. } => 2,
            RunnerError::Conflict => 5,
            _ => 1,
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap_or_default()
}

async fn send(what: &str, request: reqwest::RequestBuilder) -> Result<(u16, Value), RunnerError> {
    let response = request.send().await.map_err(|source| RunnerError::Http {
        url: what.to_owned(),
        source,
    })?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

fn rejected(what: &str, status: u16, body: &Value) -> RunnerError {
    RunnerError::Rejected {
        what: what.to_owned(),
        status,
        body: body.to_string(),
    }
}

/// The REST root for a `--url`: `api.` for github.com, `/api/v3` for any other host (GHES).
pub fn api_base(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    if host == "github.com" || host == "www.github.com" {
        return "https://api.github.com".to_owned();
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}/api/v3", url.scheme())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RunnerError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|source| RunnerError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, RunnerError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| RunnerError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Removes `.runner`, `.credentials` and `.credentials_rsaparams` from `dir`.
pub fn delete_files(dir: &Path) {
    for name in files::JIT_FILES {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Writes the files of a JIT blob into `dir` (as `run.sh --jitconfig` does).
pub fn write_jit(blob: &str, dir: &Path) -> Result<(), RunnerError> {
    for (name, bytes) in files::decode_jit(blob)? {
        if name.contains('/') || name.contains("..") {
            return Err(RunnerError::Jit(JitError::NotAMap));
        }
        write(dir, &name, &bytes)?;
    }
    Ok(())
}

/// The machine name, used as the default runner name and the session owner.
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "runner".to_owned())
}
