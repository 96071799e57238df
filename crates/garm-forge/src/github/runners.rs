//! Runner operations: list, remove, registration tokens, JIT configs, downloads, groups, jobs, limits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use http::Method;
use serde::{Deserialize, Deserializer};

use super::{GithubClient, Removed, Scope};
use crate::webhook::WorkflowJob;
use crate::{ForgeError, Secret};

/// A self-hosted runner as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Runner {
    pub id: i64,
    pub name: String,
    /// `linux`, `macos`, `windows` or `unknown`.
    #[serde(default)]
    pub os: String,
    pub status: RunnerStatus,
    #[serde(default)]
    pub busy: bool,
    #[serde(default)]
    pub ephemeral: bool,
    #[serde(default)]
    pub runner_group_id: Option<i64>,
    /// Runner software version; `None` until it has connected.
    #[serde(default)]
    pub version: Option<String>,
    /// Label names, read-only (`self-hosted`, OS, architecture) and custom alike.
    #[serde(deserialize_with = "label_names", default)]
    pub labels: Vec<String>,
}

/// Whether the runner's listener is connected to GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerStatus {
    Online,
    /// `offline`, and any status this code does not know.
    Offline,
}

impl<'de> Deserialize<'de> for RunnerStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let status = Option::<String>::deserialize(deserializer)?;
        Ok(match status.as_deref() {
            Some(status) if status.eq_ignore_ascii_case("online") => Self::Online,
            _ => Self::Offline,
        })
    }
}

fn label_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Label {
        name: String,
    }
    let labels = Option::<Vec<Label>>::deserialize(deserializer)?;
    Ok(labels.into_iter().flatten().map(|label| label.name).collect())
}

/// A registration token for `config.sh --token`; valid for an hour, for any number of runners.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistrationToken {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}

/// A just-in-time runner configuration: the runner exists on GitHub from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitConfig {
    pub runner_id: i64,
    pub runner_name: String,
    /// The blob for `run.sh --jitconfig`; it holds the runner's private key.
    pub encoded_jit_config: Secret,
}

/// One runner application package (`os` is `linux`, `osx` or `win` here).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunnerDownload {
    pub os: String,
    pub architecture: String,
    pub download_url: String,
    pub filename: String,
    /// Bearer token to send when downloading `download_url`, when GitHub gives one.
    #[serde(default)]
    pub temp_download_token: Option<Secret>,
    #[serde(default)]
    pub sha256_checksum: Option<String>,
}

/// A runner group of an organization or enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunnerGroup {
    pub id: i64,
    pub name: String,
    /// `all`, `selected` or `private`.
    #[serde(default)]
    pub visibility: String,
    /// The group new runners land in.
    #[serde(default)]
    pub default: bool,
    /// Comes from the enterprise.
    #[serde(default)]
    pub inherited: bool,
}

/// `GET /rate_limit`: every bucket by name (`core`, `search`, `actions_runner_registration`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RateLimits {
    pub resources: BTreeMap<String, RateBucket>,
}

impl RateLimits {
    /// The bucket REST calls are charged to.
    pub fn core(&self) -> Option<&RateBucket> {
        self.resources.get("core")
    }
}

/// One rate-limit bucket: its size, use, and when it refills.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RateBucket {
    pub limit: u64,
    #[serde(default)]
    pub used: u64,
    pub remaining: u64,
    #[serde(rename = "reset", with = "chrono::serde::ts_seconds")]
    pub reset_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RunnerPage {
    runners: Vec<Runner>,
}

#[derive(Deserialize)]
struct RunnerGroupPage {
    runner_groups: Vec<RunnerGroup>,
}

#[derive(Deserialize)]
struct WireJitConfig {
    runner: WireJitRunner,
    encoded_jit_config: Secret,
}

#[derive(Deserialize)]
struct WireJitRunner {
    id: i64,
    name: String,
}

impl GithubClient {
    /// Every runner of the scope (`GET {scope}/actions/runners`, all pages).
    pub async fn list_runners(&self, scope: &Scope) -> Result<Vec<Runner>, ForgeError> {
        let url = self.scope_url(scope, &["actions", "runners"]);
        self.get_all(url, "runner scope", |page: RunnerPage| page.runners).await
    }

    /// Removes a runner; one GitHub no longer has is [`Removed::Gone`], a busy one [`ForgeError::RunnerBusy`].
    pub async fn remove_runner(&self, scope: &Scope, runner_id: i64) -> Result<Removed, ForgeError> {
        let id = runner_id.to_string();
        let url = self.scope_url(scope, &["actions", "runners", &id]);
        match self.call(Method::DELETE, url, None, "runner").await {
            Ok(_) => Ok(Removed::Deleted),
            Err(ForgeError::NotFound { .. }) => Ok(Removed::Gone),
            Err(ForgeError::Validation { .. }) => Err(ForgeError::RunnerBusy),
            Err(err) => Err(err),
        }
    }

    /// `POST {scope}/actions/runners/registration-token`.
    pub async fn create_registration_token(&self, scope: &Scope) -> Result<RegistrationToken, ForgeError> {
        let what = "registration token";
        let url = self.scope_url(scope, &["actions", "runners", "registration-token"]);
        let answer = self.call(Method::POST, url, None, what).await?;
        super::decode(&answer.body, what)
    }

    /// `POST {scope}/actions/runners/generate-jitconfig`: creates the runner and returns its one-job configuration.
    ///
    /// `labels` are the custom labels (1 to 100; GitHub adds the defaults). A name already
    /// in use is [`ForgeError::Conflict`], bad labels [`ForgeError::Validation`], an unknown
    /// scope or group [`ForgeError::NotFound`]. Repository runners use group id 1 (Default).
    pub async fn generate_jit_config(
        &self,
        scope: &Scope,
        name: &str,
        runner_group_id: i64,
        labels: &[String],
        work_folder: &str,
    ) -> Result<JitConfig, ForgeError> {
        let what = "runner scope or runner group";
        let url = self.scope_url(scope, &["actions", "runners", "generate-jitconfig"]);
        let body = serde_json::json!({
            "name": name,
            "runner_group_id": runner_group_id,
            "labels": labels,
            "work_folder": work_folder,
        });
        let answer = self.call(Method::POST, url, Some(&body), what).await?;
        let wire: WireJitConfig = super::decode(&answer.body, what)?;
        Ok(JitConfig {
            runner_id: wire.runner.id,
            runner_name: wire.runner.name,
            encoded_jit_config: wire.encoded_jit_config,
        })
    }

    /// `GET {scope}/actions/runners/downloads`.
    pub async fn list_runner_downloads(&self, scope: &Scope) -> Result<Vec<RunnerDownload>, ForgeError> {
        let url = self.scope_url(scope, &["actions", "runners", "downloads"]);
        self.get_json(url, "runner downloads").await
    }

    /// Every runner group of an organization or enterprise (all pages).
    ///
    /// Repositories have no groups of their own (their runners go to the default group,
    /// id 1): for a repository scope this returns an empty list without asking GitHub.
    pub async fn list_runner_groups(&self, scope: &Scope) -> Result<Vec<RunnerGroup>, ForgeError> {
        if matches!(scope, Scope::Repository { .. }) {
            return Ok(Vec::new());
        }
        let url = self.scope_url(scope, &["actions", "runner-groups"]);
        self.get_all(url, "runner groups", |page: RunnerGroupPage| page.runner_groups)
            .await
    }

    /// `GET /repos/{owner}/{repo}/actions/jobs/{job_id}`: the job as GitHub sees it now.
    pub async fn get_workflow_job(&self, owner: &str, repo: &str, job_id: i64) -> Result<WorkflowJob, ForgeError> {
        let id = job_id.to_string();
        let url = self.url(&["repos", owner, repo, "actions", "jobs", &id]);
        self.get_json(url, "workflow job").await
    }

    /// `GET /rate_limit` (not charged against the limit; still not sent while the client is rate limited).
    pub async fn rate_limit(&self) -> Result<RateLimits, ForgeError> {
        let url = self.url(&["rate_limit"]);
        self.get_json(url, "rate limit").await
    }
}
