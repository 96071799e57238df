//! Rows as the rest of garm-rs sees them, secrets already opened.

use chrono::{DateTime, Utc};
use garm_model::{BalancerType, EntityId, InstanceName, InstanceStatus, JobAction, PoolId, RunnerStatus, Secret};

pub type Time = DateTime<Utc>;

#[derive(Debug, Clone, PartialEq)]
pub struct ControllerRecord {
    pub controller_id: String,
    pub metadata_url: String,
    pub callback_url: String,
    pub webhook_url: String,
    pub agent_url: String,
    pub minimum_job_age_backoff: u32,
    pub ca_cert_bundle: Vec<u8>,
    pub garm_agent_releases_url: String,
    pub enable_agent_tools_sync: bool,
    pub garm_agent_version: String,
    pub allow_insecure_garm_agent: bool,
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub email: String,
    pub full_name: String,
    pub password_hash: String,
    pub generation: i64,
    pub is_admin: bool,
    pub enabled: bool,
    pub created_at: Time,
    pub updated_at: Time,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRecord {
    pub name: String,
    pub endpoint_type: String,
    pub description: String,
    pub api_base_url: String,
    pub upload_base_url: String,
    pub base_url: String,
    pub ca_cert_bundle: Vec<u8>,
    pub created_at: Time,
    pub updated_at: Time,
}

/// How we authenticate to an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSecret {
    Pat {
        token: Secret,
    },
    App {
        app_id: i64,
        installation_id: i64,
        private_key_pem: Secret,
    },
}

impl CredentialSecret {
    pub fn auth_type(&self) -> &'static str {
        match self {
            Self::Pat { .. } => "pat",
            Self::App { .. } => "app",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CredentialsRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub forge_type: String,
    pub endpoint_name: String,
    pub secret: CredentialSecret,
    pub created_at: Time,
    pub updated_at: Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Repository,
    Organization,
    Enterprise,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repository => "repository",
            Self::Organization => "organization",
            Self::Enterprise => "enterprise",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "repository" => Some(Self::Repository),
            "organization" => Some(Self::Organization),
            "enterprise" => Some(Self::Enterprise),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EntityRecord {
    pub id: EntityId,
    pub kind: EntityKind,
    /// Empty except for repositories.
    pub owner: String,
    pub name: String,
    pub endpoint_name: String,
    pub credentials_id: i64,
    pub webhook_secret: Secret,
    pub balancer: BalancerType,
    pub agent_mode: bool,
    pub pool_manager_running: bool,
    pub failure_reason: String,
    pub created_at: Time,
    pub updated_at: Time,
}

impl EntityRecord {
    /// `owner/name` for repositories, the name otherwise.
    pub fn display_name(&self) -> String {
        match self.kind {
            EntityKind::Repository => format!("{}/{}", self.owner, self.name),
            _ => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: i64,
    pub created_at: Time,
    pub event_type: String,
    pub event_level: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TagRecord {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolRecord {
    pub id: PoolId,
    pub entity_id: EntityId,
    pub provider_name: String,
    pub runner_prefix: String,
    pub max_runners: u32,
    pub min_idle_runners: u32,
    pub bootstrap_timeout: u32,
    pub image: String,
    pub flavor: String,
    pub os_type: String,
    pub os_arch: String,
    pub enabled: bool,
    /// Raw JSON, byte for byte as the operator sent it.
    pub extra_specs: Option<String>,
    pub runner_group: String,
    pub enable_shell: bool,
    pub generation: u64,
    pub priority: u32,
    pub template_id: Option<i64>,
    /// The named proxy its runners use.
    pub proxy_id: Option<i64>,
    /// Set when this pool carries the provider settings of a scale set (its id): such a pool
    /// takes no webhook jobs and is sized by the scale set's desired runner count.
    pub scale_set_id: Option<i64>,
    pub tags: Vec<TagRecord>,
    pub created_at: Time,
    pub updated_at: Time,
}

/// Fields of a new pool; the store assigns id, tags ids and times.
#[derive(Debug, Clone)]
pub struct NewPool {
    pub entity_id: EntityId,
    pub provider_name: String,
    pub runner_prefix: String,
    pub max_runners: u32,
    pub min_idle_runners: u32,
    pub bootstrap_timeout: u32,
    pub image: String,
    pub flavor: String,
    pub os_type: String,
    pub os_arch: String,
    pub enabled: bool,
    pub extra_specs: Option<String>,
    pub runner_group: String,
    pub enable_shell: bool,
    pub priority: u32,
    pub template_id: Option<i64>,
    pub proxy_id: Option<i64>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AddressRecord {
    pub address: String,
    pub kind: String,
}

/// How many instances there are, per pool and per state ([`crate::Store::instance_counts`]).
#[derive(Debug, Clone, Default)]
pub struct InstanceCounts {
    pub total: u32,
    pub per_pool: std::collections::HashMap<PoolId, u32>,
    pub by_status: Vec<(InstanceStatus, u32)>,
    pub by_runner_status: Vec<(RunnerStatus, u32)>,
}

#[derive(Debug, Clone)]
pub struct InstanceRecord {
    pub id: String,
    pub name: InstanceName,
    pub pool_id: PoolId,
    pub provider_id: Option<String>,
    pub agent_id: i64,
    pub os_type: String,
    pub os_arch: String,
    pub os_name: String,
    pub os_version: String,
    pub addresses: Vec<AddressRecord>,
    pub status: InstanceStatus,
    pub runner_status: RunnerStatus,
    pub provider_fault: String,
    pub create_attempt: i64,
    pub token_fetched: bool,
    /// Opened JIT configuration (file name → base64 content), if any.
    pub jit_config: Option<Secret>,
    pub runner_group: String,
    pub extra_labels: Vec<String>,
    pub generation: u64,
    pub callback_url: String,
    pub metadata_url: String,
    pub heartbeat: Time,
    pub created_at: Time,
    pub updated_at: Time,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRecord {
    pub id: i64,
    /// GitHub's job id; for a scale set job (keyed by `scaleset_job_id`) a synthetic negative number.
    pub workflow_job_id: i64,
    /// The Actions service's job id of a scale set job.
    pub scaleset_job_id: Option<String>,
    pub run_id: i64,
    /// Stored as its spelling; an unknown one is kept as read (`JobAction::Other`).
    pub action: JobAction,
    pub status: String,
    pub conclusion: String,
    pub name: String,
    pub started_at: Option<Time>,
    pub completed_at: Option<Time>,
    pub runner_id: i64,
    pub runner_name: String,
    pub runner_group_id: i64,
    pub runner_group_name: String,
    pub repository_name: String,
    pub repository_owner: String,
    pub workflow_run_url: String,
    pub labels: Vec<String>,
    pub repo_id: Option<String>,
    pub org_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub locked_by: Option<String>,
    pub instance_name: Option<String>,
    pub reason: String,
    pub created_at: Option<Time>,
    pub updated_at: Option<Time>,
}

/// Filters of the entity list endpoints; empty strings mean "no filter".
#[derive(Debug, Clone, Default)]
pub struct EntityFilter {
    pub owner: String,
    pub name: String,
    pub endpoint: String,
}

/// Everything a takeover of another garm database writes, with the source's ids kept
/// (see [`crate::Store::import`]).
#[derive(Debug, Clone, Default)]
pub struct ImportSet {
    pub controller: Option<ControllerRecord>,
    pub users: Vec<UserRecord>,
    pub endpoints: Vec<EndpointRecord>,
    /// Ids are kept, so entities keep pointing at the same credentials.
    pub credentials: Vec<CredentialsRecord>,
    pub entities: Vec<EntityRecord>,
    /// Entity id and event; event ids are assigned by the store.
    pub entity_events: Vec<(EntityId, EventRecord)>,
    /// Runner install templates, ids kept (pools refer to them by id).
    pub templates: Vec<TemplateRecord>,
    /// Named proxies, ids kept (pools refer to them by id).
    pub proxies: Vec<ProxyRecord>,
    /// Pools with their tags (tag ids kept).
    pub pools: Vec<PoolRecord>,
    pub instances: Vec<InstanceRecord>,
    /// Job row ids are assigned by the store.
    pub jobs: Vec<JobRecord>,
}

/// What [`crate::Store::import`] does with rows already in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Refuse unless the store holds nothing an operator made (a controller row and the
    /// seeded `github.com` endpoint are replaced).
    IntoEmpty,
    /// Delete everything in the store first, in the same transaction.
    Replace,
}

/// A runner install template (garm's `Template`): a Go `text/template` for one OS and forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub os_type: String,
    pub forge_type: String,
    /// `system` for the built-in templates, else the id of the user who made it.
    pub owner_id: String,
    pub data: String,
    pub created_at: Time,
    pub updated_at: Time,
}

impl TemplateRecord {
    /// The owner of the built-in templates.
    pub const SYSTEM: &'static str = "system";

    pub fn is_system(&self) -> bool {
        self.owner_id == Self::SYSTEM
    }
}

/// Filters of a template listing (garm's `partialName`, `osType`, `forgeType`).
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    pub partial_name: Option<String>,
    pub os_type: Option<String>,
    pub forge_type: Option<String>,
}

/// A named proxy (garm's `Proxy`) that pools hand to their runners.
#[derive(Debug, Clone)]
pub struct ProxyRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub username: String,
    /// Sealed at rest; never in a response.
    pub password: Option<Secret>,
    pub created_at: Time,
    pub updated_at: Time,
}

impl ProxyRecord {
    /// `url` with the proxy's credentials in it (`http://user:pass@host:port`), as runners get it.
    pub fn with_credentials(&self, url: &str) -> String {
        if url.is_empty() || self.username.is_empty() {
            return url.to_owned();
        }
        match url::Url::parse(url) {
            Ok(mut parsed) => {
                let password = self.password.as_ref().map(|p| userinfo_escape(p.expose()));
                let username = userinfo_escape(&self.username);
                if parsed.set_username(&username).is_err() || parsed.set_password(password.as_deref()).is_err() {
                    return url.to_owned();
                }
                parsed.to_string().trim_end_matches('/').to_owned()
            }
            Err(_) => url.to_owned(),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a `%`, `@` or `:` in a
/// proxy's username or password cannot change the URL it is put in.
fn userinfo_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A runner scale set: its pool (provider settings, sizing, labels as tags, runner group
/// name) and what only the Actions service needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSetRecord {
    /// garm's own numeric id.
    pub id: i64,
    pub name: String,
    pub pool: PoolRecord,
    /// The service's id (0 until the scale set exists there).
    pub service_id: i64,
    pub runner_group_id: i64,
    pub disable_update: bool,
    /// `pending_create`, `created`, `error`, `pending_delete`, `pending_force_delete`.
    pub state: String,
    pub extended_state: String,
    /// The service's last `totalAssignedJobs`.
    pub desired_runner_count: i64,
    /// The queue cursor: the last message handled (never shown in the API).
    pub last_message_id: i64,
    pub created_at: Time,
    pub updated_at: Time,
}

/// What a handled queue message changes, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct ScaleSetProgress {
    pub last_message_id: i64,
    pub desired_runner_count: i64,
    /// Jobs to insert or update, keyed by `scaleset_job_id`.
    pub jobs: Vec<JobRecord>,
}
