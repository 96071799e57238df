//! The fake's observable state: entities, runners, jobs, hooks, deliveries and test switches.

pub mod scalesets;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a runner, token or hook belongs: a repository, an organization or an enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Scope {
    /// `owner/repo`.
    Repo { owner: String, repo: String },
    /// An organization login.
    Org { org: String },
    /// An enterprise slug.
    Enterprise { enterprise: String },
}

impl Scope {
    pub fn repo(owner: &str, repo: &str) -> Self {
        Scope::Repo {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        }
    }

    pub fn org(org: &str) -> Self {
        Scope::Org { org: org.to_owned() }
    }

    pub fn enterprise(enterprise: &str) -> Self {
        Scope::Enterprise {
            enterprise: enterprise.to_owned(),
        }
    }

    /// The path below the web or API root: `owner/repo`, `org` or `enterprises/slug`.
    pub fn path(&self) -> String {
        match self {
            Scope::Repo { owner, repo } => format!("{owner}/{repo}"),
            Scope::Org { org } => org.clone(),
            Scope::Enterprise { enterprise } => format!("enterprises/{enterprise}"),
        }
    }

    /// The REST path prefix: `/repos/o/r`, `/orgs/o` or `/enterprises/e`.
    pub fn api_path(&self) -> String {
        match self {
            Scope::Repo { owner, repo } => format!("/repos/{owner}/{repo}"),
            Scope::Org { org } => format!("/orgs/{org}"),
            Scope::Enterprise { enterprise } => format!("/enterprises/{enterprise}"),
        }
    }

    /// Case-insensitive equality, as GitHub compares logins and names. It allocates nothing:
    /// the fake asks it for every runner on every runner lookup.
    pub fn same_as(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Repo { owner, repo }, Scope::Repo { owner: o, repo: r }) => {
                same_name(owner, o) && same_name(repo, r)
            }
            (Scope::Org { org }, Scope::Org { org: o }) => same_name(org, o),
            (Scope::Enterprise { enterprise }, Scope::Enterprise { enterprise: e }) => same_name(enterprise, e),
            _ => false,
        }
    }

    /// Parses the path of a `config.sh --url` value (`/owner/repo`, `/org`, `/enterprises/slug`).
    pub fn from_web_path(path: &str) -> Option<Scope> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["enterprises", slug] if !slug.is_empty() => Some(Scope::enterprise(slug)),
            [owner, repo] if !owner.is_empty() && !repo.is_empty() => Some(Scope::repo(owner, repo)),
            [org] if !org.is_empty() => Some(Scope::org(org)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Org {
    pub id: u64,
    pub login: String,
    /// The enterprise this organization belongs to, if any.
    pub enterprise: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enterprise {
    pub id: u64,
    pub slug: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub owner_id: u64,
    /// True when the owner is an organization, false for a user.
    pub owner_is_org: bool,
    pub name: String,
    pub private: bool,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunnerGroup {
    /// Unique within its scope; every scope has `1`, `Default`.
    pub id: u64,
    pub scope: Scope,
    pub name: String,
    pub visibility: String,
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerLabel {
    pub id: u64,
    pub name: String,
    /// `read-only` (defaults such as `self-hosted`) or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runner {
    pub id: u64,
    pub name: String,
    pub scope: Scope,
    pub group_id: u64,
    pub group_name: String,
    pub os: String,
    pub labels: Vec<RunnerLabel>,
    pub ephemeral: bool,
    /// Created by generate-jitconfig (single use).
    pub jit: bool,
    /// Reported by the runner when it connects; `null` in the REST API until then.
    pub version: Option<String>,
    /// `online` or `offline`, as the REST API shows it.
    pub status: String,
    pub busy: bool,
    /// The job the runner is running, if any.
    pub job_id: Option<u64>,
    /// How many jobs this runner has finished.
    pub jobs_done: u32,
    pub created_at: DateTime<Utc>,
    /// The scale set a runner from `generatejitconfig` belongs to; it takes only that
    /// scale set's jobs.
    #[serde(default)]
    pub scale_set_id: Option<u64>,
}

impl Runner {
    /// GitHub's rule: every job label must be among the runner's labels, case-insensitively.
    pub fn covers(&self, job_labels: &[String]) -> bool {
        job_labels
            .iter()
            .all(|wanted| self.labels.iter().any(|label| label.name.eq_ignore_ascii_case(wanted)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    InProgress,
    Completed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub run_id: u64,
    pub owner: String,
    pub repo: String,
    pub labels: Vec<String>,
    pub name: String,
    pub workflow_name: String,
    pub status: JobStatus,
    /// The conclusion the job will end with (while running) or ended with.
    pub planned_conclusion: String,
    pub conclusion: Option<String>,
    /// How long an assigned runner takes to run it, in milliseconds.
    pub run_for_ms: u64,
    pub runner_id: Option<u64>,
    pub runner_name: Option<String>,
    pub runner_group_id: Option<u64>,
    pub runner_group_name: Option<String>,
    pub head_sha: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hook {
    pub id: u64,
    pub scope: Scope,
    pub active: bool,
    pub events: Vec<String>,
    pub url: String,
    /// `json` or `form`.
    pub content_type: String,
    pub secret: Option<String>,
    pub insecure_ssl: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_response_code: Option<u16>,
    pub last_response_status: String,
    pub last_response_message: Option<String>,
}

impl Hook {
    pub fn wants(&self, event: &str) -> bool {
        event == "ping" || self.events.iter().any(|e| e == event || e == "*")
    }
}

/// One attempt at sending a webhook, successful or not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub guid: String,
    pub hook_id: u64,
    pub event: String,
    pub action: Option<String>,
    pub repository_id: Option<u64>,
    pub redelivery: bool,
    /// Dropped on purpose by a switch: never sent.
    pub dropped: bool,
    pub delivered_at: DateTime<Utc>,
    pub duration_secs: f64,
    /// HTTP status answered by the receiver; `0` when it could not be reached (or was dropped).
    pub status_code: u16,
    /// `OK` or a failure text such as `Invalid HTTP Response: 503`.
    pub status: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// The exact bytes sent (a form body for `form` hooks).
    pub body: String,
    /// The JSON payload, decoded.
    pub payload: serde_json::Value,
}

/// One REST request the fake answered (the control API and the runner service are not logged).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    pub at: DateTime<Utc>,
    pub method: String,
    /// The path as requested, without the query.
    pub path: String,
    pub status: u16,
    /// The last six characters of the `Authorization` credential, to tell callers apart.
    pub credential_tail: Option<String>,
}

/// Test knobs, settable through the library and `/_fake/switches`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Switches {
    /// Share (0..1) of webhook deliveries silently dropped.
    pub drop_share: f64,
    /// The next N webhook deliveries are dropped.
    pub drop_next: u32,
    /// Share (0..1) of webhook deliveries sent twice (same GUID).
    pub duplicate_share: f64,
    /// The next N webhook deliveries are sent twice.
    pub duplicate_next: u32,
    /// Every delivery waits this long before being sent.
    pub delay_ms: u64,
    /// The next N deliveries are held back and then sent in reverse order.
    pub reorder_next: u32,
    /// The next N REST calls answer `fail_status` (5xx).
    pub fail_next: u32,
    /// The status used by `fail_next`; 503 when unset.
    pub fail_status: u16,
    /// The next N REST calls answer 403 with a `Retry-After` header (secondary rate limit).
    pub retry_after_next: u32,
    /// The `Retry-After` value in seconds; 60 when unset.
    pub retry_after_secs: u64,
    /// While set and in the future (Unix seconds), the primary rate limit is exhausted.
    pub rate_limit_exhausted_until: Option<i64>,
    /// The status of rate-limit answers (primary and secondary): 403 when unset, or 429;
    /// GitHub uses both.
    pub rate_limit_status: u16,
}

/// A partial update of [`Switches`]; absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchesPatch {
    pub drop_share: Option<f64>,
    pub drop_next: Option<u32>,
    pub duplicate_share: Option<f64>,
    pub duplicate_next: Option<u32>,
    pub delay_ms: Option<u64>,
    pub reorder_next: Option<u32>,
    pub fail_next: Option<u32>,
    pub fail_status: Option<u16>,
    pub retry_after_next: Option<u32>,
    pub retry_after_secs: Option<u64>,
    pub rate_limit_status: Option<u16>,
    /// Exhausts the primary rate limit for this many seconds (0 lifts it).
    pub exhaust_rate_limit_secs: Option<u64>,
}

impl Switches {
    pub fn apply(&mut self, patch: &SwitchesPatch, now: DateTime<Utc>) {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = patch.$field {
                    self.$field = value;
                }
            )*};
        }
        set!(
            drop_share,
            drop_next,
            duplicate_share,
            duplicate_next,
            delay_ms,
            reorder_next,
            fail_next,
            fail_status,
            retry_after_next,
            retry_after_secs,
            rate_limit_status
        );
        if let Some(secs) = patch.exhaust_rate_limit_secs {
            self.rate_limit_exhausted_until = (secs > 0).then(|| now.timestamp() + secs as i64);
        }
    }
}

/// A GitHub App installation on an organization, user or enterprise account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installation {
    pub id: u64,
    pub app_id: u64,
    pub account: String,
    /// `Organization`, `User` or `Enterprise`.
    pub target_type: String,
    /// `None` for all repositories of the account, else the selected `owner/name`s.
    pub repositories: Option<Vec<String>>,
    pub permissions: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

impl Installation {
    pub fn covers_repo(&self, owner: &str, repo: &str) -> bool {
        if !self.account.eq_ignore_ascii_case(owner) {
            return false;
        }
        match &self.repositories {
            None => true,
            Some(list) => list
                .iter()
                .any(|full| full.eq_ignore_ascii_case(&format!("{owner}/{repo}"))),
        }
    }
}

/// `a.to_lowercase() == b.to_lowercase()`, without building either string.
fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn scopes_compare_as_github_compares_names() {
        assert!(Scope::repo("Octo-Org", "Hello-World").same_as(&Scope::repo("octo-org", "hello-world")));
        assert!(!Scope::repo("octo-org", "hello").same_as(&Scope::repo("octo-org", "hello-world")));
        assert!(Scope::org("ÄBC").same_as(&Scope::org("äbc")));
        assert!(!Scope::org("äbc").same_as(&Scope::org("abc")));
        assert!(Scope::enterprise("Big").same_as(&Scope::enterprise("BIG")));
        // Same names, different kinds of owner.
        assert!(!Scope::org("octo").same_as(&Scope::enterprise("octo")));
        // The owner/name split counts: `a/b` + `c` is not `a` + `b/c`.
        assert!(!Scope::repo("a/b", "c").same_as(&Scope::repo("a", "b/c")));
    }
}
