//! Request bodies. Every field tolerates `null` (Go's unset pointer) and absence.

use crate::codec::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct NewUserParams {
    #[serde(default, deserialize_with = "null_default")]
    pub email: String,
    #[serde(default, deserialize_with = "null_default")]
    pub username: String,
    #[serde(default, deserialize_with = "null_default")]
    pub full_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct PasswordLoginParams {
    #[serde(default, deserialize_with = "null_default")]
    pub username: String,
    #[serde(default, deserialize_with = "null_default")]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct UpdateControllerParams {
    #[serde(default)]
    pub metadata_url: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub agent_url: Option<String>,
    #[serde(default)]
    pub garm_agent_releases_url: Option<String>,
    #[serde(default)]
    pub enable_agent_tools_sync: Option<bool>,
    #[serde(default)]
    pub garm_agent_version: Option<String>,
    #[serde(default)]
    pub allow_insecure_garm_agent: Option<bool>,
    #[serde(default)]
    pub minimum_job_age_backoff: Option<u32>,
    #[serde(default, deserialize_with = "b64_opt_de")]
    pub ca_cert_bundle: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "null_default")]
    pub clear_ca_cert_bundle: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CreateGithubEndpointParams {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_default")]
    pub api_base_url: String,
    #[serde(default, deserialize_with = "null_default")]
    pub upload_base_url: String,
    #[serde(default, deserialize_with = "null_default")]
    pub base_url: String,
    #[serde(default, deserialize_with = "b64_de")]
    pub ca_cert_bundle: Vec<u8>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct UpdateGithubEndpointParams {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    #[serde(default)]
    pub upload_base_url: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default, deserialize_with = "b64_opt_de")]
    pub ca_cert_bundle: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PatParams {
    #[serde(default, deserialize_with = "null_default")]
    pub oauth2_token: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct AppParams {
    #[serde(default, deserialize_with = "null_default")]
    pub app_id: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub installation_id: i64,
    #[serde(default, deserialize_with = "b64_de")]
    pub private_key_bytes: Vec<u8>,
}

impl PatParams {
    fn is_empty(&self) -> bool {
        self.oauth2_token.is_empty()
    }
}

impl AppParams {
    fn is_empty(&self) -> bool {
        self.app_id == 0 && self.installation_id == 0 && self.private_key_bytes.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct CreateGithubCredentialsParams {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_default")]
    pub endpoint: String,
    #[serde(default, deserialize_with = "null_default")]
    pub auth_type: String,
    #[serde(default)]
    pub pat: Option<PatParams>,
    #[serde(default)]
    pub app: Option<AppParams>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct UpdateGithubCredentialsParams {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub pat: Option<PatParams>,
    #[serde(default)]
    pub app: Option<AppParams>,
}

impl CreateGithubCredentialsParams {
    /// The PAT section, ignoring an all-empty object (Go sends zero structs).
    pub fn pat(&self) -> Option<&PatParams> {
        self.pat.as_ref().filter(|p| !p.is_empty())
    }
    pub fn app(&self) -> Option<&AppParams> {
        self.app.as_ref().filter(|a| !a.is_empty())
    }
}

impl UpdateGithubCredentialsParams {
    pub fn pat(&self) -> Option<&PatParams> {
        self.pat.as_ref().filter(|p| !p.is_empty())
    }
    pub fn app(&self) -> Option<&AppParams> {
        self.app.as_ref().filter(|a| !a.is_empty())
    }
}

/// Create body for repositories (`owner` set), organizations and enterprises.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct CreateEntityParams {
    #[serde(default, deserialize_with = "null_default")]
    pub owner: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub credentials_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub webhook_secret: String,
    #[serde(default, deserialize_with = "null_default")]
    pub pool_balancer_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub forge_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub agent_mode: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct UpdateEntityParams {
    #[serde(default, deserialize_with = "null_default")]
    pub credentials_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub webhook_secret: String,
    #[serde(default, deserialize_with = "null_default")]
    pub pool_balancer_type: String,
    #[serde(default)]
    pub agent_mode: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
pub struct CreatePoolParams {
    #[serde(default, deserialize_with = "null_default")]
    pub runner_prefix: String,
    #[serde(default, deserialize_with = "null_default")]
    pub provider_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub max_runners: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub min_idle_runners: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub image: String,
    #[serde(default, deserialize_with = "null_default")]
    pub flavor: String,
    #[serde(default, deserialize_with = "null_default")]
    pub os_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub os_arch: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub runner_bootstrap_timeout: u32,
    #[serde(default)]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "null_default")]
    pub enable_shell: bool,
    #[serde(rename = "github-runner-group", default, deserialize_with = "null_default")]
    pub github_runner_group: String,
    #[serde(default, deserialize_with = "null_default")]
    pub priority: u32,
    #[serde(default)]
    pub template_id: Option<u64>,
    #[serde(default)]
    pub proxy_id: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
pub struct UpdatePoolParams {
    #[serde(default)]
    pub runner_prefix: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub max_runners: Option<u32>,
    #[serde(default)]
    pub min_idle_runners: Option<u32>,
    #[serde(default)]
    pub runner_bootstrap_timeout: Option<u32>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(default)]
    pub os_type: Option<String>,
    #[serde(default)]
    pub os_arch: Option<String>,
    #[serde(default)]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(default)]
    pub enable_shell: Option<bool>,
    #[serde(rename = "github-runner-group", default)]
    pub github_runner_group: Option<String>,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub template_id: Option<u64>,
    #[serde(default)]
    pub proxy_id: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct InstallWebhookParams {
    #[serde(default, deserialize_with = "null_default")]
    pub webhook_endpoint_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub insecure_ssl: bool,
}

/// Body of `POST /api/v1/callbacks/status`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct InstanceStatusUpdate {
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
    #[serde(default)]
    pub agent_id: Option<i64>,
}

/// Body of `POST /api/v1/callbacks/system-info`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct SystemInfoUpdate {
    #[serde(default, deserialize_with = "null_default")]
    pub os_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub os_version: String,
    #[serde(default)]
    pub agent_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_nulls_decode_as_absent() {
        let body = r#"{"enable_shell": null, "max_runners": 4, "tags": null, "extra_specs": {"confidential": true}}"#;
        let params: UpdatePoolParams = serde_json::from_str(body).unwrap();
        assert_eq!(params.enable_shell, None);
        assert_eq!(params.max_runners, Some(4));
        assert!(params.tags.is_none());
        assert_eq!(params.extra_specs.unwrap().get(), r#"{"confidential": true}"#);
    }

    #[test]
    fn credentials_ignore_zero_sections() {
        let body = r#"{"name":"garm","endpoint":"github.com","auth_type":"pat","pat":{"oauth2_token":"x"},"app":{"app_id":0,"installation_id":0,"private_key_bytes":null}}"#;
        let params: CreateGithubCredentialsParams = serde_json::from_str(body).unwrap();
        assert!(params.pat().is_some());
        assert!(params.app().is_none());
    }

    #[test]
    fn base64_fields_decode() {
        let params: CreateGithubEndpointParams =
            serde_json::from_str(r#"{"name":"ghes","ca_cert_bundle":"aGVsbG8="}"#).unwrap();
        assert_eq!(params.ca_cert_bundle, b"hello");
        assert!(serde_json::from_str::<CreateGithubEndpointParams>(r#"{"ca_cert_bundle":"!!"}"#).is_err());
    }
}

/// `POST /api/v1/templates`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct CreateTemplateParams {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default, deserialize_with = "b64_de", serialize_with = "b64_ser")]
    pub data: Vec<u8>,
    #[serde(default, deserialize_with = "null_default")]
    pub os_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub forge_type: String,
}

/// `PUT /api/v1/templates/{id}`: absent or `null` leaves a field as it is.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct UpdateTemplateParams {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "b64_opt_de", skip_serializing)]
    pub data: Option<Vec<u8>>,
}

/// `POST /api/v1/templates/restore`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct RestoreTemplateRequest {
    #[serde(default, deserialize_with = "null_default")]
    pub forge: String,
    #[serde(default, deserialize_with = "null_default")]
    pub os_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub restore_all: bool,
}

/// `POST /api/v1/proxies` and `PUT /api/v1/proxies/{id}` (on update every field is optional).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct ProxyParams {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub http_proxy: Option<String>,
    #[serde(default)]
    pub https_proxy: Option<String>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /{repositories,organizations,enterprises}/{id}/scalesets`.
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct CreateScaleSetParams {
    #[serde(default, deserialize_with = "null_default")]
    pub runner_prefix: String,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub disable_update: bool,
    /// Accepted and ignored: the service assigns it.
    #[serde(default, deserialize_with = "null_default")]
    pub scale_set_id: i64,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub provider_name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub max_runners: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub min_idle_runners: u32,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub flavor: String,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub os_type: String,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub os_arch: String,
    #[serde(default, deserialize_with = "null_default")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub runner_bootstrap_timeout: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "null_default")]
    pub enable_shell: bool,
    #[serde(
        rename = "github-runner-group",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub github_runner_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<u64>,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_id: Option<u64>,
}

/// `PUT /scalesets/{id}`: every member optional; note `runner_group` (not `github-runner-group`).
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct UpdateScaleSetParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runners: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_idle_runners: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_bootstrap_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_specs: Option<Box<RawValue>>,
    #[serde(default)]
    pub enable_shell: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_id: Option<u64>,
}
