//! The scale set service's observable state: scale sets with their queues, sessions, routed
//! jobs, the log of Actions calls, and the fault knobs.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Scope;

/// How jobs reach a scale set (`scalesets.md` §6.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignMode {
    /// github.com today: the service assigns and sends `JobAssigned`.
    #[default]
    Direct,
    /// GHES: `JobAvailable` first; `JobAssigned` only after `POST …/acquirejobs`.
    Acquire,
}

/// Start-up settings of the scale set service ([`crate::FakeConfig::scale_sets`]).
#[derive(Debug, Clone)]
pub struct ScaleSetConfig {
    /// Lifetime of admin tokens (the `exp` of the JWT from `runner-registration`).
    pub admin_token_lifetime: Duration,
    /// Lifetime of queue tokens (`messageQueueAccessToken`).
    pub queue_token_lifetime: Duration,
    /// How long a queue token replaced by a refresh stays valid.
    pub queue_token_grace: Duration,
    /// Longest hold of a message-queue poll (the real service: about 50 s).
    pub long_poll: Duration,
    /// A session nobody polls for this long expires (it blocks new sessions until then).
    pub session_idle_timeout: Duration,
    /// An assigned job no runner takes within this time is withdrawn (`JobCompleted`
    /// `canceled`) and requeued; `None` never withdraws.
    pub reassign_after: Option<Duration>,
    /// Assignment rounds per job; the last assignment is never withdrawn.
    pub max_rounds: u32,
    /// Job messages per queue message (the real service: 50).
    pub batch_size: usize,
    /// The assignment mode the fake starts in.
    pub mode: AssignMode,
}

impl Default for ScaleSetConfig {
    fn default() -> Self {
        ScaleSetConfig {
            admin_token_lifetime: Duration::from_secs(3600),
            queue_token_lifetime: Duration::from_secs(3600),
            queue_token_grace: Duration::from_secs(30),
            long_poll: Duration::from_secs(50),
            session_idle_timeout: Duration::from_secs(180),
            reassign_after: None,
            max_rounds: 3,
            batch_size: 50,
            mode: AssignMode::Direct,
        }
    }
}

/// One message in a scale set's queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedMessage {
    pub id: u64,
    pub message_type: String,
    /// The JSON text of the job message array (`""` for a statistics-only message).
    pub body: String,
    pub statistics: Value,
    pub acknowledged: bool,
    /// How many times a poll returned it.
    pub deliveries: u32,
    pub created_at: DateTime<Utc>,
}

/// A runner scale set and its message queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleSet {
    pub id: u64,
    pub scope: Scope,
    pub name: String,
    pub runner_group_id: u64,
    pub runner_group_name: String,
    /// Label names, the scale set's name first.
    pub labels: Vec<String>,
    pub ephemeral: bool,
    pub is_elastic: bool,
    pub disable_update: bool,
    /// As sent by the client (garm sends it, ARC does not).
    pub enabled: Option<bool>,
    pub created_on: DateTime<Utc>,
    /// The last `X-ScaleSetMaxCapacity` received; no more jobs are assigned than this.
    pub last_capacity: Option<u64>,
    /// The id of the newest message (ids increase per scale set, across sessions).
    pub last_message_id: u64,
    /// Job messages produced but not yet put into a queue message (that happens on a poll).
    pub pending_events: Vec<Value>,
    pub messages: Vec<QueuedMessage>,
    /// Runner request ids acquired through `acquirejobs`, in order.
    pub acquired: Vec<u64>,
}

impl ScaleSet {
    /// Ids of messages not yet acknowledged.
    pub fn pending_message_ids(&self) -> Vec<u64> {
        self.messages.iter().filter(|m| !m.acknowledged).map(|m| m.id).collect()
    }

    /// Ids of acknowledged (deleted) messages.
    pub fn acknowledged_message_ids(&self) -> Vec<u64> {
        self.messages.iter().filter(|m| m.acknowledged).map(|m| m.id).collect()
    }

    /// GitHub's rule: every job label among the scale set's labels, case-insensitively.
    pub fn covers(&self, job_labels: &[String]) -> bool {
        !job_labels.is_empty()
            && job_labels
                .iter()
                .all(|wanted| self.labels.iter().any(|l| l.eq_ignore_ascii_case(wanted)))
    }
}

/// A message session of a scale set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleSetSession {
    pub id: String,
    pub scale_set_id: u64,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub last_poll: Option<DateTime<Utc>>,
    /// Polls currently held open.
    pub open_polls: u32,
    pub refreshes: u32,
    /// The path segment that identifies the session's queue URL.
    pub queue_key: String,
    /// The absolute `messageQueueUrl`.
    pub queue_url: String,
    /// Valid queue tokens and their expiry (the newest last).
    #[serde(skip)]
    pub(crate) tokens: Vec<(String, DateTime<Utc>)>,
}

/// Where a job stands with the scale sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleSetJobStatus {
    /// Matches a scale set but is not offered or assigned yet (no room, or requeued).
    Queued,
    /// Offered with `JobAvailable` (acquire mode), waiting for `acquirejobs`.
    Available,
    /// Assigned to `scale_set_id`, waiting for one of its runners.
    Assigned,
    /// A runner of the scale set runs it.
    Running,
    Completed,
}

/// A job routed to the scale sets (jobs no scale set matches are not listed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleSetJob {
    pub job_id: u64,
    /// The `jobId` string the messages carry.
    pub message_job_id: String,
    /// The `runnerRequestId` of the current round.
    pub request_id: u64,
    pub status: ScaleSetJobStatus,
    pub scale_set_id: Option<u64>,
    /// Scale sets a `JobAvailable` went to (acquire mode).
    pub offered_to: Vec<u64>,
    pub acquired: bool,
    /// Assignment round, from 1.
    pub round: u32,
    pub assigned_at: Option<DateTime<Utc>>,
    pub runner_id: Option<u64>,
    pub runner_name: Option<String>,
    pub runner_assigned_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Option<String>,
}

/// One call to the Actions service (token exchange, `{svc}` and the message queue).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionsCall {
    pub at: DateTime<Utc>,
    pub method: String,
    /// The path as requested, without the query.
    pub path: String,
    /// A stable name of the operation, e.g. `message.get` (see [`ENDPOINTS`]).
    pub endpoint: String,
    /// `Bearer`, `RemoteAuth`, ... or `None` without `Authorization`.
    pub auth_scheme: Option<String>,
    pub status: u16,
}

/// The endpoint names used in [`ActionsCall::endpoint`], the counts and the fault knobs.
pub const ENDPOINTS: &[&str] = &[
    "runner-registration",
    "runnergroups.get",
    "scalesets.list",
    "scalesets.create",
    "scaleset.get",
    "scaleset.update",
    "scaleset.delete",
    "session.create",
    "session.refresh",
    "session.delete",
    "message.get",
    "message.delete",
    "acquirejobs",
    "acquirablejobs",
    "generatejitconfig",
    "agents.list",
    "agent.get",
    "agent.delete",
];

/// Fault-injection knobs of the Actions service, settable through the library and
/// `/_fake/actions-faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionsFaults {
    /// The next N calls to one of `fail_endpoints` (all Actions calls when empty) answer
    /// `fail_status`.
    pub fail_next: u32,
    pub fail_endpoints: Vec<String>,
    /// 503 when unset.
    pub fail_status: u16,
    /// Sent as `Retry-After` on 429 and 503 failures; 1 when unset.
    pub fail_retry_after_secs: u64,
    /// The next N queue polls answer 401.
    pub queue_unauthorized_next: u32,
    /// Every queue poll waits this long before it looks at the queue.
    pub poll_delay_ms: u64,
    /// The next N batches of job messages are queued twice (two messages, same content).
    pub duplicate_next: u32,
    /// The next N batches are split into one message per job message, in reverse order.
    pub reorder_next: u32,
    /// Prefix every non-empty Actions answer with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Keep only the name label of new scale sets (GHES without custom labels).
    pub drop_extra_labels: bool,
}

/// A partial update of [`ActionsFaults`]; absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionsFaultsPatch {
    pub fail_next: Option<u32>,
    pub fail_endpoints: Option<Vec<String>>,
    pub fail_status: Option<u16>,
    pub fail_retry_after_secs: Option<u64>,
    pub queue_unauthorized_next: Option<u32>,
    pub poll_delay_ms: Option<u64>,
    pub duplicate_next: Option<u32>,
    pub reorder_next: Option<u32>,
    pub bom: Option<bool>,
    pub drop_extra_labels: Option<bool>,
}

impl ActionsFaults {
    pub fn apply(&mut self, patch: &ActionsFaultsPatch) {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = &patch.$field {
                    self.$field = value.clone();
                }
            )*};
        }
        set!(
            fail_next,
            fail_endpoints,
            fail_status,
            fail_retry_after_secs,
            queue_unauthorized_next,
            poll_delay_ms,
            duplicate_next,
            reorder_next,
            bom,
            drop_extra_labels
        );
    }
}

/// Call counts by endpoint, for "calls per job" figures.
pub type CallCounts = BTreeMap<String, u64>;
