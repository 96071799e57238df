//! Response bodies (garm's `params` structs as Go encodes them).

use crate::codec::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub type Time = DateTime<Utc>;

/// garm's error body; both keys are always present.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiErrorResponse {
    pub error: String,
    pub details: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ControllerInfo {
    pub controller_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub callback_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub webhook_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub controller_webhook_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_url: String,
    pub garm_agent_releases_url: String,
    pub enable_agent_tools_sync: bool,
    pub garm_agent_version: String,
    pub allow_insecure_garm_agent: bool,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub minimum_job_age_backoff: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, with = "b64_field", skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_bundle: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub created_at: Time,
    pub updated_at: Time,
    pub email: String,
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub full_name: String,
    pub enabled: bool,
    pub is_admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtResponse {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ForgeEndpoint {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_base_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub upload_base_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    #[serde(default, with = "b64_field", skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_bundle: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tools_metadata_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_internal_tools_metadata: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimit {
    pub limit: i64,
    pub used: i64,
    pub remaining: i64,
    pub reset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ForgeCredentials {
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_base_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub upload_base_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    #[serde(default, with = "b64_field", skip_serializing_if = "Vec::is_empty")]
    pub ca_bundle: Vec<u8>,
    #[serde(rename = "auth-type", default, skip_serializing_if = "String::is_empty")]
    pub auth_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forge_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Entity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Entity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enterprises: Vec<Entity>,
    pub endpoint: ForgeEndpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PoolManagerStatus {
    pub running: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityEvent {
    pub id: u64,
    pub created_at: Time,
    pub event_type: String,
    pub event_level: String,
    pub message: String,
}

/// A repository, organization or enterprise (`owner` only for repositories).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Entity {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pool: Vec<Pool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials_name: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub credentials_id: u64,
    pub credentials: ForgeCredentials,
    pub agent_mode: bool,
    pub pool_manager_status: PoolManagerStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pool_balancing_type: String,
    pub endpoint: ForgeEndpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EntityEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tag {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Pool {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner_prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_name: String,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub max_runners: u32,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub min_idle_runners: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flavor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_arch: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<Instance>,
    pub enable_shell: bool,
    pub generation: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enterprise_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enterprise_name: String,
    pub endpoint: ForgeEndpoint,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub runner_bootstrap_timeout: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(rename = "github-runner-group", default, skip_serializing_if = "String::is_empty")]
    pub github_runner_group: String,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub priority: u32,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub template_id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template_name: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub proxy_id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Address {
    pub address: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusMessage {
    pub created_at: Time,
    pub message: String,
    pub event_type: String,
    pub event_level: String,
}

/// garm's `ScaleSet` (key order and omissions as garm encodes it; the queue cursor is never sent).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ScaleSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub id: u64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub scale_set_id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub disable_update: bool,
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extended_state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_name: String,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub max_runners: u32,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub min_idle_runners: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flavor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_arch: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<Instance>,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub desired_runner_count: i64,
    #[serde(default)]
    pub enable_shell: bool,
    #[serde(default)]
    pub generation: u64,
    #[serde(default)]
    pub endpoint: ForgeEndpoint,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub runner_bootstrap_timeout: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(rename = "github-runner-group", default, skip_serializing_if = "String::is_empty")]
    pub github_runner_group: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub status_messages: Vec<StatusMessage>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enterprise_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub enterprise_name: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub template_id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template_name: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub proxy_id: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Capabilities {
    pub has_shell: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Instance {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_id: String,
    pub provider_name: String,
    pub agent_id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_arch: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner_status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pool_id: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub scale_set_id: u64,
    #[serde(default, with = "b64_field", skip_serializing_if = "Vec::is_empty")]
    pub provider_fault: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_messages: Vec<StatusMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(rename = "github-runner-group", default, skip_serializing_if = "String::is_empty")]
    pub github_runner_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Box<Job>>,
    pub heartbeat: Time,
    pub capabilities: Capabilities,
    pub generation: u64,
    /// Ours: the attestation verdict recorded on the instance (see docs/attestation.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Job {
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub id: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub workflow_job_id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scaleset_job_id: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub run_id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub conclusion: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub runner_id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner_name: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub runner_group_id: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner_group_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository_owner: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workflow_run_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default)]
    pub repo_id: Option<String>,
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    #[serde(default)]
    pub forge_instance_id: Option<String>,
    pub locked_by: String,
    /// Ours, not garm's: why the job is not being served (no matching pool, unknown owner).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provider {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HookInfo {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub insecure_ssl: bool,
}

/// `with = "b64_field"` for `Vec<u8>` response fields.
pub mod b64_field {
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(bytes: &[u8], ser: S) -> Result<S::Ok, S::Error> {
        crate::codec::b64_ser(bytes, ser)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<u8>, D::Error> {
        crate::codec::b64_de(de)
    }
}

/// A runner install template. Lists leave `data` out (`null`, as garm); a single GET has it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Template {
    #[serde(default)]
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub os_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub forge_type: String,
    /// Base64 of the template text, or `null` in listings.
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub owner_id: String,
}

/// A named proxy; the password is never returned.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Proxy {
    #[serde(default)]
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http_proxy: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub https_proxy: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub no_proxy: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
}
