//! The Actions service's JSON, as runner scale set clients read and write it.
//!
//! Keys are camelCase except the scale set's `RunnerSetting`, which clients send with a
//! capital R; the service is .NET and matches keys without regard to case, so the keys we
//! read accept both spellings where they have been seen to differ.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::Secret;

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A time the service may leave out, send as `null`, as Go's zero time or (wrongly) as `""`.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > 0))
}

/// A label of a scale set (`type` is `System` for everything clients send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    #[serde(rename = "type", alias = "Type", default)]
    pub kind: String,
    #[serde(alias = "Name", default)]
    pub name: String,
}

impl Label {
    pub fn system(name: &str) -> Self {
        Self {
            kind: "System".into(),
            name: name.into(),
        }
    }
}

/// The scale set's runner settings; `false` members are left out, so a PATCH cannot clear them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSetting {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_elastic: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_update: bool,
}

/// Counts the service keeps per scale set; `total_assigned_jobs` is the scaling signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    #[serde(default)]
    pub total_available_jobs: i64,
    #[serde(default)]
    pub total_acquired_jobs: i64,
    #[serde(default)]
    pub total_assigned_jobs: i64,
    #[serde(default)]
    pub total_running_jobs: i64,
    #[serde(default)]
    pub total_registered_runners: i64,
    #[serde(default)]
    pub total_busy_runners: i64,
    #[serde(default)]
    pub total_idle_runners: i64,
}

/// A runner scale set, as sent on create/update and as answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleSet {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub runner_group_id: i64,
    #[serde(default, skip_serializing)]
    pub runner_group_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    #[serde(rename = "RunnerSetting", alias = "runnerSetting", alias = "runnersetting", default)]
    pub runner_setting: RunnerSetting,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing)]
    pub statistics: Option<Statistics>,
}

/// `{count, value}`, the service's list envelope.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Listing<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

/// A runner group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerGroup {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_default_group: bool,
}

/// An open message session: the queue it reads and the token that reads it.
#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub scale_set_id: i64,
    pub owner: String,
    /// Absolute, opaque; may carry a query of its own.
    pub queue_url: url::Url,
    pub queue_token: Secret,
    /// The `exp` of the queue token, when it could be read.
    pub queue_token_expires_at: Option<DateTime<Utc>>,
    pub statistics: Statistics,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("scale_set_id", &self.scale_set_id)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireSession {
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub owner_name: String,
    #[serde(default)]
    pub runner_scale_set: Option<ScaleSet>,
    #[serde(default)]
    pub message_queue_url: String,
    #[serde(default)]
    pub message_queue_access_token: Option<Secret>,
    #[serde(default)]
    pub statistics: Option<Statistics>,
}

/// One message from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub statistics: Statistics,
    /// The job messages in `body` (empty for a statistics-only message).
    pub jobs: Vec<JobMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireMessage {
    pub message_id: i64,
    #[serde(default)]
    pub message_type: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub statistics: Option<Statistics>,
}

/// One job message: `JobAvailable`, `JobAssigned`, `JobStarted` or `JobCompleted`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobMessage {
    #[serde(default)]
    pub message_type: String,
    #[serde(default)]
    pub runner_request_id: i64,
    #[serde(default)]
    pub job_id: String,
    #[serde(default)]
    pub repository_name: String,
    #[serde(default)]
    pub owner_name: String,
    #[serde(default)]
    pub job_workflow_ref: String,
    #[serde(default)]
    pub job_display_name: String,
    #[serde(default)]
    pub workflow_run_id: i64,
    #[serde(default)]
    pub event_name: String,
    #[serde(default)]
    pub request_labels: Vec<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub queue_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub scale_set_assign_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub runner_assign_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub finish_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub acquire_job_url: String,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub runner_id: i64,
    #[serde(default)]
    pub runner_name: String,
}

/// A runner ("agent") of the scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub runner_scale_set_id: i64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub busy: bool,
    #[serde(default)]
    pub ephemeral: bool,
}

impl Agent {
    pub fn online(&self) -> bool {
        self.status.eq_ignore_ascii_case("online")
    }
}

/// A just-in-time runner minted for a scale set.
#[derive(Debug, Clone)]
pub struct ScaleSetJit {
    pub runner: Agent,
    /// Base64 of a JSON map of file name → base64 contents; holds the runner's key.
    pub encoded_jit_config: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireJit {
    pub runner: Agent,
    #[serde(rename = "encodedJITConfig", alias = "encodedJitConfig")]
    pub encoded_jit_config: Secret,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireAdminConnection {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub token: Option<Secret>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireAcquired {
    #[serde(default)]
    pub value: Vec<i64>,
}
