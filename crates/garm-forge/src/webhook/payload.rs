//! Typed, lenient view of the `workflow_job` payload (also the REST job object).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A `workflow_job` delivery: what happened to which job, in which repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowJobEvent {
    pub action: JobAction,
    pub job: WorkflowJob,
    pub repository: Repository,
    /// `organization.login` (Gitea: `organization.name`); absent for user-owned repositories and in some App deliveries.
    pub organization_login: Option<String>,
    /// `enterprise.slug`, when the hook sits on an enterprise or on an organization that belongs to one.
    pub enterprise_slug: Option<String>,
    /// `installation.id`, when the delivery goes to a GitHub App.
    pub installation_id: Option<i64>,
}

impl WorkflowJobEvent {
    /// `scheme://host[:port]` of the job's `html_url`: the forge endpoint the delivery came from.
    pub fn endpoint_base_url(&self) -> Option<String> {
        self.job.endpoint_base_url()
    }
}

/// The `action` of a `workflow_job` delivery: garm-model's [`JobAction`], which keeps unknown
/// actions rather than rejecting them.
pub use garm_model::JobAction;

/// One workflow job, as in the webhook's `workflow_job` object and in `GET .../actions/jobs/{id}`.
///
/// Only `id` is required. Strings that are missing or `null` become empty, and the
/// runner fields are `None` when GitHub says `null`, `0` or `""` (no runner).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowJob {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub run_id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub run_attempt: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(default, deserialize_with = "non_empty_string")]
    pub conclusion: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "timestamp")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "non_empty_string")]
    pub workflow_name: Option<String>,
    #[serde(default, deserialize_with = "non_empty_string")]
    pub head_branch: Option<String>,
    /// The job's `runs-on` labels, case and order preserved.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<String>,
    #[serde(default, deserialize_with = "non_zero")]
    pub runner_id: Option<i64>,
    #[serde(default, deserialize_with = "non_empty_string")]
    pub runner_name: Option<String>,
    #[serde(default, deserialize_with = "non_zero")]
    pub runner_group_id: Option<i64>,
    #[serde(default, deserialize_with = "non_empty_string")]
    pub runner_group_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub html_url: String,
}

impl WorkflowJob {
    /// `scheme://host[:port]` of `html_url` (default ports omitted), or `None` if it is not an absolute URL with a host.
    pub fn endpoint_base_url(&self) -> Option<String> {
        let url = url::Url::parse(&self.html_url).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        })
    }
}

/// The repository the job runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    /// `repository.owner.login`; falls back to the first half of `full_name`.
    pub owner_login: String,
    pub full_name: String,
    pub html_url: String,
}

/// Wire shape of a `workflow_job` delivery; converted into [`WorkflowJobEvent`].
#[derive(Deserialize)]
pub(super) struct WirePayload {
    action: String,
    workflow_job: WorkflowJob,
    repository: WireRepository,
    #[serde(default)]
    organization: Option<WireOrganization>,
    #[serde(default)]
    enterprise: Option<WireEnterprise>,
    #[serde(default)]
    installation: Option<WireInstallation>,
}

#[derive(Deserialize)]
struct WireRepository {
    #[serde(default, deserialize_with = "null_as_default")]
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    full_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    html_url: String,
    #[serde(default)]
    owner: Option<WireAccount>,
}

#[derive(Deserialize)]
struct WireAccount {
    #[serde(default, deserialize_with = "non_empty_string")]
    login: Option<String>,
}

#[derive(Deserialize)]
struct WireOrganization {
    #[serde(default, deserialize_with = "non_empty_string")]
    login: Option<String>,
    // Gitea names organizations by `name` and has no `login`.
    #[serde(default, deserialize_with = "non_empty_string")]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WireEnterprise {
    #[serde(default, deserialize_with = "non_empty_string")]
    slug: Option<String>,
}

#[derive(Deserialize)]
struct WireInstallation {
    #[serde(default, deserialize_with = "non_zero")]
    id: Option<i64>,
}

impl From<WirePayload> for WorkflowJobEvent {
    fn from(wire: WirePayload) -> Self {
        let repo = wire.repository;
        let owner_login = repo
            .owner
            .and_then(|owner| owner.login)
            .or_else(|| {
                let (owner, _) = repo.full_name.split_once('/')?;
                Some(owner.to_owned())
            })
            .unwrap_or_default();
        WorkflowJobEvent {
            action: JobAction::from(wire.action),
            job: wire.workflow_job,
            repository: Repository {
                name: repo.name,
                owner_login,
                full_name: repo.full_name,
                html_url: repo.html_url,
            },
            organization_login: wire.organization.and_then(|org| org.login.or(org.name)),
            enterprise_slug: wire.enterprise.and_then(|enterprise| enterprise.slug),
            installation_id: wire.installation.and_then(|installation| installation.id),
        }
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn non_empty_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|value| !value.is_empty()))
}

fn non_zero<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<i64>::deserialize(deserializer)?.filter(|value| *value != 0))
}

/// Accepts RFC 3339 strings, Unix seconds, `null` and garbage (as `None`); Gitea's zero time is `None` too.
fn timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let parsed = match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|time| time.with_timezone(&Utc)),
        Some(serde_json::Value::Number(seconds)) => seconds
            .as_i64()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        _ => None,
    };
    Ok(parsed.filter(|time| time.timestamp() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(html_url: &str) -> WorkflowJob {
        serde_json::from_value(serde_json::json!({ "id": 1, "html_url": html_url })).unwrap()
    }

    #[test]
    fn endpoint_base_url_keeps_scheme_host_and_explicit_port() {
        assert_eq!(
            job("https://github.com/o/r/runs/1").endpoint_base_url().as_deref(),
            Some("https://github.com")
        );
        assert_eq!(
            job("http://127.0.0.1:8080/o/r/actions/runs/1")
                .endpoint_base_url()
                .as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(job("").endpoint_base_url(), None);
        assert_eq!(job("not a url").endpoint_base_url(), None);
    }

    #[test]
    fn runner_fields_treat_null_zero_and_empty_as_no_runner() {
        let job: WorkflowJob = serde_json::from_value(serde_json::json!({
            "id": 7, "runner_id": 0, "runner_name": "", "runner_group_id": null,
            "labels": null, "name": null, "started_at": 1_700_000_000,
            "completed_at": "0001-01-01T00:00:00Z", "created_at": "garbage",
        }))
        .unwrap();
        assert_eq!(job.runner_id, None);
        assert_eq!(job.runner_name, None);
        assert_eq!(job.runner_group_id, None);
        assert!(job.labels.is_empty());
        assert_eq!(job.name, "");
        assert_eq!(job.started_at, DateTime::from_timestamp(1_700_000_000, 0));
        assert_eq!(job.completed_at, None);
        assert_eq!(job.created_at, None);
    }

    #[test]
    fn unknown_actions_are_kept() {
        assert_eq!(JobAction::from("queued".to_owned()), JobAction::Queued);
        let other = JobAction::from("requested".to_owned());
        assert_eq!(other.as_str(), "requested");
    }
}
