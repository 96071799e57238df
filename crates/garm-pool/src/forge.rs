//! The forge as the pool manager sees it, and a per-entity cache of forge clients and
//! runner downloads.

use async_trait::async_trait;
use garm_forge::github::{Auth, GithubClient, GithubEndpoint, Removed, Scope};
use garm_forge::ForgeError;
use garm_model::Secret;
use garm_store::{CredentialSecret, CredentialsRecord, EndpointRecord, EntityKind, EntityRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A runner as the forge lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgeRunner {
    pub id: i64,
    pub name: String,
    pub online: bool,
    pub busy: bool,
    pub labels: Vec<String>,
}

/// A runner application download (the runner archive for one OS and architecture).
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub os: String,
    pub architecture: String,
    pub download_url: String,
    pub filename: String,
    pub temp_download_token: Option<String>,
    pub sha256_checksum: Option<String>,
}

/// A webhook on the forge (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct ForgeHook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub insecure_ssl: bool,
}

/// What the pool manager needs from the forge for one entity.
#[async_trait]
pub trait Forge: Send + Sync {
    async fn hooks(&self) -> Result<Vec<ForgeHook>, ForgeError>;
    /// Creates an active `workflow_job` hook with a JSON body, then pings it.
    async fn create_hook(&self, url: &str, secret: &Secret, insecure_ssl: bool) -> Result<ForgeHook, ForgeError>;
    async fn delete_hook(&self, id: i64) -> Result<(), ForgeError>;
    /// Registers a just-in-time runner; returns its forge id and the encoded config.
    async fn jit_config(&self, name: &str, labels: &[String], runner_group: &str) -> Result<(i64, Secret), ForgeError>;
    async fn registration_token(&self) -> Result<Secret, ForgeError>;
    /// Removes a runner; one that is already gone counts as removed.
    async fn remove_runner(&self, runner_id: i64) -> Result<(), ForgeError>;
    async fn runners(&self) -> Result<Vec<ForgeRunner>, ForgeError>;
    async fn tools(&self) -> Result<Vec<Tool>, ForgeError>;
}

/// Builds a [`Forge`] for an entity from its endpoint and credentials.
pub trait ForgeConnector: Send + Sync {
    fn connect(
        &self,
        entity: &EntityRecord,
        endpoint: &EndpointRecord,
        creds: &CredentialsRecord,
    ) -> Result<Arc<dyn Forge>, ForgeError>;
}

/// GitHub (github.com or Enterprise Server) through `garm_forge::github`.
pub struct GithubConnector;

struct GithubForge {
    client: GithubClient,
    scope: Scope,
    /// Runner group ids by name (organizations and enterprises), cached.
    groups: Mutex<HashMap<String, i64>>,
}

impl ForgeConnector for GithubConnector {
    fn connect(
        &self,
        entity: &EntityRecord,
        endpoint: &EndpointRecord,
        creds: &CredentialsRecord,
    ) -> Result<Arc<dyn Forge>, ForgeError> {
        let parse = |text: &str, what: &'static str| {
            url::Url::parse(text).map_err(|err| ForgeError::InvalidConfig {
                what,
                source: Some(Box::new(err)),
            })
        };
        let github_endpoint = GithubEndpoint {
            api_base_url: parse(&endpoint.api_base_url, "api base URL")?,
            base_url: parse(&endpoint.base_url, "base URL")?,
            ca_cert_bundle: (!endpoint.ca_cert_bundle.is_empty()).then(|| endpoint.ca_cert_bundle.clone()),
        };
        let auth = match &creds.secret {
            CredentialSecret::Pat { token } => Auth::Pat {
                token: token.expose().into(),
            },
            CredentialSecret::App {
                app_id,
                installation_id,
                private_key_pem,
            } => Auth::App {
                app_id: *app_id as u64,
                installation_id: *installation_id as u64,
                private_key_pem: private_key_pem.expose().into(),
            },
        };
        let scope = match entity.kind {
            EntityKind::Repository => Scope::Repository {
                owner: entity.owner.clone(),
                name: entity.name.clone(),
            },
            EntityKind::Organization => Scope::Organization(entity.name.clone()),
            EntityKind::Enterprise => Scope::Enterprise(entity.name.clone()),
        };
        Ok(Arc::new(GithubForge {
            client: GithubClient::new(github_endpoint, auth)?,
            scope,
            groups: Mutex::new(HashMap::new()),
        }))
    }
}

impl GithubForge {
    async fn group_id(&self, name: &str) -> Result<i64, ForgeError> {
        if name.is_empty() || name.eq_ignore_ascii_case("default") || matches!(self.scope, Scope::Repository { .. }) {
            return Ok(1);
        }
        if let Some(id) = self.groups.lock().expect("group cache lock").get(name) {
            return Ok(*id);
        }
        let groups = self.client.list_runner_groups(&self.scope).await?;
        let found = groups.iter().find(|g| g.name.eq_ignore_ascii_case(name)).map(|g| g.id);
        let id = found.ok_or(ForgeError::NotFound { what: "runner group" })?;
        self.groups
            .lock()
            .expect("group cache lock")
            .insert(name.to_string(), id);
        Ok(id)
    }
}

fn hook_of(h: garm_forge::github::Hook) -> ForgeHook {
    ForgeHook {
        id: h.id,
        url: h.url.unwrap_or_default(),
        events: h.events,
        active: h.active,
        insecure_ssl: h.insecure_ssl,
    }
}

#[async_trait]
impl Forge for GithubForge {
    async fn hooks(&self) -> Result<Vec<ForgeHook>, ForgeError> {
        Ok(self
            .client
            .list_hooks(&self.scope)
            .await?
            .into_iter()
            .map(hook_of)
            .collect())
    }

    async fn create_hook(&self, url: &str, secret: &Secret, insecure_ssl: bool) -> Result<ForgeHook, ForgeError> {
        let hook = self
            .client
            .create_hook(
                &self.scope,
                url,
                &garm_forge::Secret::from(secret.expose()),
                insecure_ssl,
            )
            .await?;
        if let Err(err) = self.client.ping_hook(&self.scope, hook.id).await {
            tracing::warn!(hook = hook.id, error = %err, "pinging the new webhook failed");
        }
        Ok(hook_of(hook))
    }

    async fn delete_hook(&self, id: i64) -> Result<(), ForgeError> {
        self.client.delete_hook(&self.scope, id).await.map(|_| ())
    }

    async fn jit_config(&self, name: &str, labels: &[String], runner_group: &str) -> Result<(i64, Secret), ForgeError> {
        let group = self.group_id(runner_group).await?;
        let jit = self
            .client
            .generate_jit_config(&self.scope, name, group, labels, "_work")
            .await?;
        Ok((jit.runner_id, Secret::new(jit.encoded_jit_config.expose())))
    }

    async fn registration_token(&self) -> Result<Secret, ForgeError> {
        let token = self.client.create_registration_token(&self.scope).await?;
        Ok(Secret::new(token.token.expose()))
    }

    async fn remove_runner(&self, runner_id: i64) -> Result<(), ForgeError> {
        match self.client.remove_runner(&self.scope, runner_id).await? {
            Removed::Deleted | Removed::Gone => Ok(()),
        }
    }

    async fn runners(&self) -> Result<Vec<ForgeRunner>, ForgeError> {
        Ok(self
            .client
            .list_runners(&self.scope)
            .await?
            .into_iter()
            .map(|r| ForgeRunner {
                id: r.id,
                name: r.name,
                online: r.status == garm_forge::github::RunnerStatus::Online,
                busy: r.busy,
                labels: r.labels,
            })
            .collect())
    }

    async fn tools(&self) -> Result<Vec<Tool>, ForgeError> {
        Ok(self
            .client
            .list_runner_downloads(&self.scope)
            .await?
            .into_iter()
            .map(|d| Tool {
                os: d.os,
                architecture: d.architecture,
                download_url: d.download_url,
                filename: d.filename,
                temp_download_token: d.temp_download_token.map(|t| t.expose().to_string()),
                sha256_checksum: d.sha256_checksum,
            })
            .collect())
    }
}

struct Cached {
    /// Credentials id and update time, endpoint update time: a change rebuilds the client.
    fingerprint: String,
    forge: Arc<dyn Forge>,
    tools: Option<(Instant, Vec<Tool>)>,
}

/// Forge clients and runner downloads per entity.
pub struct Forges {
    connector: Box<dyn ForgeConnector>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Forges {
    pub fn new(connector: Box<dyn ForgeConnector>) -> Self {
        Self {
            connector,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The forge client of `entity`, built once per credentials version.
    pub async fn for_entity(
        &self,
        store: &garm_store::Store,
        entity: &EntityRecord,
    ) -> Result<Arc<dyn Forge>, crate::act::StepError> {
        let creds = store.credentials(entity.credentials_id).await?;
        let endpoint = store.endpoint(&creds.endpoint_name).await?;
        let fingerprint = format!(
            "{}:{}:{}",
            creds.id,
            creds.updated_at.timestamp_micros(),
            endpoint.updated_at.timestamp_micros()
        );
        let mut cache = self.cache.lock().expect("forge cache lock");
        if let Some(c) = cache.get(&entity.id) {
            if c.fingerprint == fingerprint {
                return Ok(c.forge.clone());
            }
        }
        let forge = self.connector.connect(entity, &endpoint, &creds)?;
        cache.insert(
            entity.id.clone(),
            Cached {
                fingerprint,
                forge: forge.clone(),
                tools: None,
            },
        );
        Ok(forge)
    }

    /// Runner downloads of `entity`, fetched at most once per `ttl`.
    pub async fn tools(
        &self,
        store: &garm_store::Store,
        entity: &EntityRecord,
        ttl: Duration,
    ) -> Result<Vec<Tool>, crate::act::StepError> {
        let forge = self.for_entity(store, entity).await?;
        if let Some(c) = self.cache.lock().expect("forge cache lock").get(&entity.id) {
            if let Some((at, tools)) = &c.tools {
                if at.elapsed() < ttl {
                    return Ok(tools.clone());
                }
            }
        }
        let tools = forge.tools().await?;
        if let Some(c) = self.cache.lock().expect("forge cache lock").get_mut(&entity.id) {
            c.tools = Some((Instant::now(), tools.clone()));
        }
        Ok(tools)
    }

    /// Whether runner downloads are cached for `entity` (the pool manager is "running").
    pub fn has_tools(&self, entity_id: &str) -> bool {
        self.cache
            .lock()
            .expect("forge cache lock")
            .get(entity_id)
            .is_some_and(|c| c.tools.is_some())
    }

    pub fn forget(&self, entity_id: &str) {
        self.cache.lock().expect("forge cache lock").remove(entity_id);
    }
}

/// garm's mapping from pool OS/arch to the forge's download names.
pub fn pick_tool<'a>(tools: &'a [Tool], os_type: &str, os_arch: &str) -> Option<&'a Tool> {
    let os = match os_type {
        "windows" => "win",
        other => other,
    };
    let arch = match os_arch {
        "amd64" => "x64",
        other => other,
    };
    tools.iter().find(|t| t.os == os && t.architecture == arch)
}
