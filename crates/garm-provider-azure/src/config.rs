//! The provider's TOML config: cloudbase/garm-provider-azure's keys plus `[endpoints]` and `[timeouts]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::AzureError;
use crate::net::{Cidr, SubnetId};
use garm_base::Secret;

/// The public cloud's ARM endpoint.
pub const PUBLIC_RESOURCE_MANAGER: &str = "https://management.azure.com";
/// The public cloud's ARM token audience.
pub const PUBLIC_ARM_AUDIENCE: &str = "https://management.azure.com/";
/// The public cloud's Entra ID authority.
pub const PUBLIC_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The link-local instance metadata service.
pub const DEFAULT_IMDS: &str = "http://169.254.169.254";
/// Default address space of the per-instance virtual network.
pub const DEFAULT_CIDR: &str = "10.10.0.0/16";

/// A loaded and checked provider config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Region of every resource created.
    pub location: String,
    pub use_ephemeral_storage: bool,
    pub virtual_network_cidr: Cidr,
    pub use_accelerated_networking: bool,
    pub vnet_subnet_id: Option<SubnetId>,
    pub disable_isolated_networks: bool,
    pub credentials: Credentials,
    pub endpoints: Endpoints,
    pub timeouts: Timeouts,
    /// Keys that were present but are not understood (logged, not fatal).
    pub ignored_keys: Vec<String>,
}

/// How the provider authenticates, tried in this order: service principal, workload identity,
/// managed identity.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub subscription_id: String,
    pub service_principal: Option<ServicePrincipal>,
    pub workload_identity: Option<WorkloadIdentity>,
    pub managed_identity: ManagedIdentity,
}

#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Debug, Clone)]
pub struct WorkloadIdentity {
    pub tenant_id: String,
    pub client_id: String,
    /// Re-read for every token request (the platform rotates it).
    pub federated_token_file: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct ManagedIdentity {
    /// A user-assigned identity; `None` means the system-assigned one.
    pub client_id: Option<String>,
}

/// Where the provider sends its requests.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// ARM base URL, without a trailing slash.
    pub resource_manager: Url,
    /// Entra ID authority, without a trailing slash.
    pub authority_host: Url,
    /// Instance metadata service base URL (plain http by design).
    pub imds: Url,
    /// Token audience; the OAuth2 scope is this plus `.default`, IMDS takes it as `resource`.
    pub token_audience: String,
    /// Extra PEM roots for TLS to ARM and the authority.
    pub ca_bundle: Option<PathBuf>,
}

impl Endpoints {
    /// The OAuth2 scope for ARM.
    pub fn scope(&self) -> String {
        let audience = self.token_audience.trim_end_matches('/');
        format!("{audience}/.default")
    }
}

/// Time limits; all configurable in `[timeouts]` (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Bound on one whole command.
    pub command: Duration,
    /// Bound on the cleanup after a failed create (a fresh deadline).
    pub cleanup: Duration,
    /// How long `CreateInstance` waits for the VM operation before reporting `running`.
    pub vm_create_wait: Duration,
    /// Longest `Retry-After` obeyed; longer ones fail the request.
    pub max_retry_after: Duration,
    /// Poll interval when Azure sends no `Retry-After`.
    pub poll_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            command: Duration::from_secs(900),
            cleanup: Duration::from_secs(600),
            vm_create_wait: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    location: String,
    #[serde(default)]
    use_ephemeral_storage: bool,
    virtual_network_cidr: Option<String>,
    #[serde(default)]
    use_accelerated_networking: bool,
    vnet_subnet_id: Option<String>,
    #[serde(default)]
    disable_isolated_networks: bool,
    #[serde(default)]
    credentials: RawCredentials,
    #[serde(default)]
    endpoints: RawEndpoints,
    #[serde(default)]
    timeouts: RawTimeouts,
}

#[derive(Deserialize, Default)]
struct RawCredentials {
    #[serde(default)]
    subscription_id: String,
    #[serde(default)]
    service_principal: RawServicePrincipal,
    #[serde(default)]
    workload_identity: RawWorkloadIdentity,
    #[serde(default)]
    managed_identity: RawManagedIdentity,
    #[serde(default)]
    client_options: toml::Table,
}

#[derive(Deserialize, Default)]
struct RawServicePrincipal {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

#[derive(Deserialize, Default)]
struct RawWorkloadIdentity {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    federated_token_file: String,
}

#[derive(Deserialize, Default)]
struct RawManagedIdentity {
    #[serde(default)]
    client_id: String,
}

#[derive(Deserialize, Default)]
struct RawEndpoints {
    #[serde(alias = "management")]
    resource_manager: Option<String>,
    #[serde(alias = "login")]
    authority_host: Option<String>,
    imds: Option<String>,
    #[serde(alias = "resource_manager_audience")]
    token_audience: Option<String>,
    #[serde(default)]
    allow_http: bool,
    ca_bundle: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTimeouts {
    command: Option<u64>,
    cleanup: Option<u64>,
    vm_create_wait: Option<u64>,
    max_retry_after: Option<u64>,
    poll_interval: Option<u64>,
}

/// Keys understood per table; anything else is reported in [`Config::ignored_keys`].
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "location",
            "use_ephemeral_storage",
            "virtual_network_cidr",
            "use_accelerated_networking",
            "vnet_subnet_id",
            "disable_isolated_networks",
            "credentials",
            "endpoints",
            "timeouts",
        ],
    ),
    (
        "credentials",
        &[
            "subscription_id",
            "service_principal",
            "workload_identity",
            "managed_identity",
            "client_options",
        ],
    ),
    (
        "credentials.service_principal",
        &["tenant_id", "client_id", "client_secret"],
    ),
    (
        "credentials.workload_identity",
        &["tenant_id", "client_id", "federated_token_file"],
    ),
    ("credentials.managed_identity", &["client_id"]),
    ("credentials.client_options", &["Cloud"]),
    (
        "credentials.client_options.Cloud",
        &["ActiveDirectoryAuthorityHost", "Services"],
    ),
    (
        "endpoints",
        &[
            "resource_manager",
            "management",
            "authority_host",
            "login",
            "imds",
            "token_audience",
            "resource_manager_audience",
            "allow_http",
            "ca_bundle",
        ],
    ),
    (
        "timeouts",
        &[
            "command",
            "cleanup",
            "vm_create_wait",
            "max_retry_after",
            "poll_interval",
        ],
    ),
];

fn collect_unknown(table: &toml::Table, path: &str, out: &mut Vec<String>) {
    let Some((_, known)) = KNOWN.iter().find(|(name, _)| *name == path) else {
        return;
    };
    for (key, value) in table {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if !known.contains(&key.as_str()) {
            out.push(full);
        } else if let toml::Value::Table(inner) = value {
            collect_unknown(inner, &full, out);
        }
    }
}

fn invalid(message: impl Into<String>) -> AzureError {
    AzureError::Config(message.into())
}

impl Config {
    /// Reads and checks the config at `path`; `env` supplies `AZURE_*` fallbacks for
    /// workload identity (Kubernetes injects them; garm passes them only when told to).
    ///
    /// Fails on a missing `location` or `subscription_id`, malformed CIDRs or subnet IDs,
    /// non-https ARM or authority URLs without `allow_http`, and a configured workload
    /// identity whose token file does not exist.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, AzureError> {
        let text =
            std::fs::read_to_string(path).map_err(|err| invalid(format!("cannot read {}: {err}", path.display())))?;
        Config::parse(&text, env)
    }

    /// Like [`Config::load`], from the file's text.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Config, AzureError> {
        let table: toml::Table = text.parse().map_err(|err| invalid(format!("not valid TOML: {err}")))?;
        let mut ignored_keys = Vec::new();
        collect_unknown(&table, "", &mut ignored_keys);
        let raw: Raw = toml::Value::Table(table)
            .try_into()
            .map_err(|err| invalid(format!("{err}")))?;

        if raw.location.trim().is_empty() {
            return Err(invalid("location is required"));
        }
        let virtual_network_cidr = Cidr::parse(raw.virtual_network_cidr.as_deref().unwrap_or(DEFAULT_CIDR))
            .map_err(|err| invalid(format!("virtual_network_cidr: {err}")))?;
        let vnet_subnet_id = match raw.vnet_subnet_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(id) => Some(SubnetId::parse(id).map_err(|err| invalid(format!("vnet_subnet_id: {err}")))?),
        };
        let credentials = credentials(&raw.credentials, &env)?;
        let endpoints = endpoints(&raw.endpoints, &raw.credentials.client_options)?;
        let timeouts = timeouts(&raw.timeouts)?;
        Ok(Config {
            location: raw.location.trim().to_owned(),
            use_ephemeral_storage: raw.use_ephemeral_storage,
            virtual_network_cidr,
            use_accelerated_networking: raw.use_accelerated_networking,
            vnet_subnet_id,
            disable_isolated_networks: raw.disable_isolated_networks,
            credentials,
            endpoints,
            timeouts,
            ignored_keys,
        })
    }
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn credentials(raw: &RawCredentials, env: &impl Fn(&str) -> Option<String>) -> Result<Credentials, AzureError> {
    let subscription_id =
        non_empty(&raw.subscription_id).ok_or_else(|| invalid("credentials.subscription_id is required"))?;
    let sp = &raw.service_principal;
    // Used only when complete, like the reference provider.
    let service_principal = match (
        non_empty(&sp.tenant_id),
        non_empty(&sp.client_id),
        non_empty(&sp.client_secret),
    ) {
        (Some(tenant_id), Some(client_id), Some(secret)) => Some(ServicePrincipal {
            tenant_id,
            client_id,
            client_secret: Secret::new(secret),
        }),
        _ => None,
    };
    let env_value = |name: &str| env(name).and_then(|value| non_empty(&value));
    let wi = &raw.workload_identity;
    // Configured by TOML, or by Kubernetes' injected variables when garm passes them through.
    let env_file = env_value("AZURE_FEDERATED_TOKEN_FILE");
    let client_id = non_empty(&wi.client_id).or_else(|| env_file.as_ref().and_then(|_| env_value("AZURE_CLIENT_ID")));
    let workload_identity = match client_id {
        None => None,
        Some(client_id) => {
            let tenant_id = non_empty(&wi.tenant_id)
                .or_else(|| env_value("AZURE_TENANT_ID"))
                .ok_or_else(|| invalid("credentials.workload_identity.tenant_id is required"))?;
            let file = non_empty(&wi.federated_token_file)
                .or(env_file)
                .ok_or_else(|| invalid("credentials.workload_identity.federated_token_file is required"))?;
            let federated_token_file = PathBuf::from(file);
            if !federated_token_file.is_file() {
                return Err(invalid(format!(
                    "credentials.workload_identity.federated_token_file {} does not exist",
                    federated_token_file.display()
                )));
            }
            Some(WorkloadIdentity {
                tenant_id,
                client_id,
                federated_token_file,
            })
        }
    };
    Ok(Credentials {
        subscription_id,
        service_principal,
        workload_identity,
        managed_identity: ManagedIdentity {
            client_id: non_empty(&raw.managed_identity.client_id),
        },
    })
}

/// The `client_options.Cloud` values of the reference's Go SDK options.
fn cloud_option<'a>(options: &'a toml::Table, path: &[&str]) -> Option<&'a str> {
    let mut value = options.get("Cloud")?;
    for key in path {
        value = value.get(key)?;
    }
    value.as_str().filter(|text| !text.trim().is_empty())
}

fn base_url(key: &str, text: &str, allow_http: bool, https_required: bool) -> Result<Url, AzureError> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|err| invalid(format!("{key}: {trimmed:?} is not a URL: {err}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || !https_required => {}
        "http" => {
            return Err(invalid(format!(
                "{key}: {trimmed} is not https; bearer tokens are never sent in clear text (set endpoints.allow_http = true for a local fake)"
            )))
        }
        other => return Err(invalid(format!("{key}: unsupported scheme {other:?}"))),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{key}: {trimmed} must not carry a query or fragment")));
    }
    Ok(url)
}

fn endpoints(raw: &RawEndpoints, options: &toml::Table) -> Result<Endpoints, AzureError> {
    // `[endpoints]` wins over `client_options.Cloud`, which wins over the public cloud.
    let arm_text = raw
        .resource_manager
        .as_deref()
        .or_else(|| cloud_option(options, &["Services", "resourceManager", "Endpoint"]));
    let resource_manager = base_url(
        "endpoints.resource_manager",
        arm_text.unwrap_or(PUBLIC_RESOURCE_MANAGER),
        raw.allow_http,
        true,
    )?;
    let authority_host = base_url(
        "endpoints.authority_host",
        raw.authority_host
            .as_deref()
            .or_else(|| cloud_option(options, &["ActiveDirectoryAuthorityHost"]))
            .unwrap_or(PUBLIC_AUTHORITY_HOST),
        raw.allow_http,
        true,
    )?;
    let imds = base_url(
        "endpoints.imds",
        raw.imds.as_deref().unwrap_or(DEFAULT_IMDS),
        true,
        false,
    )?;
    // The audience belongs to the cloud, not to the URL ARM is reached at: an overridden
    // `resource_manager` (a proxy, a private endpoint, a test fake) keeps the cloud's audience.
    // `token_audience` wins, then the cloud named in `client_options` (its audience, else its
    // ARM endpoint), then the public cloud.
    let token_audience = raw
        .token_audience
        .as_deref()
        .or_else(|| cloud_option(options, &["Services", "resourceManager", "Audience"]))
        .or_else(|| cloud_option(options, &["Services", "resourceManager", "Endpoint"]))
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| PUBLIC_ARM_AUDIENCE.to_owned());
    let ca_bundle = match raw.ca_bundle.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(invalid(format!(
                    "endpoints.ca_bundle {} does not exist",
                    path.display()
                )));
            }
            Some(path)
        }
    };
    Ok(Endpoints {
        resource_manager,
        authority_host,
        imds,
        token_audience,
        ca_bundle,
    })
}

fn timeouts(raw: &RawTimeouts) -> Result<Timeouts, AzureError> {
    let defaults = Timeouts::default();
    let pick = |key: &str, value: Option<u64>, default: Duration, min: u64| match value {
        None => Ok(default),
        Some(seconds) if seconds >= min => Ok(Duration::from_secs(seconds)),
        Some(_) => Err(invalid(format!("timeouts.{key} must be at least {min}"))),
    };
    Ok(Timeouts {
        command: pick("command", raw.command, defaults.command, 1)?,
        cleanup: pick("cleanup", raw.cleanup, defaults.cleanup, 1)?,
        vm_create_wait: pick("vm_create_wait", raw.vm_create_wait, defaults.vm_create_wait, 0)?,
        max_retry_after: pick("max_retry_after", raw.max_retry_after, defaults.max_retry_after, 0)?,
        poll_interval: pick("poll_interval", raw.poll_interval, defaults.poll_interval, 0)?,
    })
}

#[cfg(test)]
mod tests;
