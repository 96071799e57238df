//! The forge as the pool manager sees it, and a per-entity cache of forge clients and
//! runner downloads.

use async_trait::async_trait;
use garm_forge::actions::ActionsClient;
use garm_forge::github::{Auth, DeliveryFilter, GithubClient, GithubEndpoint, Removed, Scope};
use garm_forge::ForgeError;
use garm_model::{EntityId, Secret};
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

/// One logged attempt at delivering a webhook to a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgeDelivery {
    /// The id to ask for a redelivery with.
    pub id: i64,
    /// The delivery GUID (`X-GitHub-Delivery`); redeliveries repeat it.
    pub guid: String,
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub event: String,
    pub action: Option<String>,
    /// What the receiver answered; `0` when it could not be reached or timed out.
    pub status_code: i64,
    /// The receiver answered 2xx.
    pub succeeded: bool,
}

/// One page of a hook's failed deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForgeDeliveryPage {
    pub deliveries: Vec<ForgeDelivery>,
    /// Where the next (older) page starts.
    pub next_cursor: Option<String>,
}

/// The rate limit of the credentials behind a forge client, as last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForgeRateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window resets (`x-ratelimit-reset`).
    pub reset_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set while nothing may be sent.
    pub blocked_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// What the pool manager needs from the forge for one entity.
///
/// The methods with default bodies serve missed-webhook reconciliation; a forge without
/// them answers [`ForgeError::Unsupported`] and reconciliation skips it.
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

    /// Failed deliveries of webhook `hook_id`, newest first, starting at `cursor`.
    async fn failed_deliveries(&self, _hook_id: i64, _cursor: Option<&str>) -> Result<ForgeDeliveryPage, ForgeError> {
        Err(ForgeError::Unsupported {
            operation: "listing webhook deliveries",
        })
    }

    /// Asks the forge to send a logged delivery again.
    async fn redeliver(&self, _hook_id: i64, _delivery_id: i64) -> Result<(), ForgeError> {
        Err(ForgeError::Unsupported {
            operation: "redelivering webhooks",
        })
    }

    /// The job as the forge sees it now (`GET /repos/{owner}/{repo}/actions/jobs/{id}`).
    async fn workflow_job(
        &self,
        _owner: &str,
        _repo: &str,
        _job_id: i64,
    ) -> Result<garm_forge::webhook::WorkflowJob, ForgeError> {
        Err(ForgeError::Unsupported {
            operation: "reading workflow jobs",
        })
    }

    /// The credentials' rate limit as last reported (nothing is sent to learn it).
    fn rate_limit(&self) -> ForgeRateLimit {
        ForgeRateLimit::default()
    }

    /// The Actions service of this entity (runner scale sets); `None` where there is none.
    fn actions(&self) -> Option<Arc<ActionsClient>> {
        None
    }
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
    client: Arc<GithubClient>,
    /// Shares the REST client (the registration tokens that buy its admin connection).
    actions: Arc<ActionsClient>,
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
        let client = Arc::new(GithubClient::new(github_endpoint, auth)?);
        Ok(Arc::new(GithubForge {
            actions: Arc::new(ActionsClient::new(client.clone(), scope.clone())),
            client,
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

    async fn failed_deliveries(&self, hook_id: i64, cursor: Option<&str>) -> Result<ForgeDeliveryPage, ForgeError> {
        let page = self
            .client
            .list_hook_deliveries(&self.scope, hook_id, DeliveryFilter::Failed, cursor, 100)
            .await?;
        Ok(ForgeDeliveryPage {
            deliveries: page
                .deliveries
                .into_iter()
                .map(|d| ForgeDelivery {
                    succeeded: d.succeeded(),
                    status_code: d.status_code,
                    id: d.id,
                    guid: d.guid,
                    delivered_at: d.delivered_at,
                    event: d.event,
                    action: d.action,
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn redeliver(&self, hook_id: i64, delivery_id: i64) -> Result<(), ForgeError> {
        self.client
            .redeliver_hook_delivery(&self.scope, hook_id, delivery_id)
            .await
    }

    async fn workflow_job(
        &self,
        owner: &str,
        repo: &str,
        job_id: i64,
    ) -> Result<garm_forge::webhook::WorkflowJob, ForgeError> {
        self.client.get_workflow_job(owner, repo, job_id).await
    }

    fn actions(&self) -> Option<Arc<ActionsClient>> {
        Some(self.actions.clone())
    }

    fn rate_limit(&self) -> ForgeRateLimit {
        let state = self.client.rate_limit_state();
        ForgeRateLimit {
            limit: state.limit,
            remaining: state.remaining,
            reset_at: state.reset_at,
            blocked_until: state.blocked_until(chrono::Utc::now()),
        }
    }
}

/// An entity's forge client, the endpoint it was built for and its runner downloads.
#[derive(Clone)]
pub struct Equipped {
    pub forge: Arc<dyn Forge>,
    pub endpoint: EndpointRecord,
    pub tools: Vec<Tool>,
}

struct Cached {
    /// Credentials id and update time, endpoint update time: a change rebuilds the client.
    fingerprint: String,
    forge: Arc<dyn Forge>,
    tools: Option<(Instant, Vec<Tool>)>,
}

/// Why an entity's forge client, or its runner downloads, could not be had: its
/// credentials or endpoint could not be read, or the forge refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeAccessError {
    #[error("store")]
    Store(#[from] garm_store::StoreError),
    #[error("forge")]
    Forge(#[from] ForgeError),
}

impl ForgeAccessError {
    /// The error and its causes on one line, for logs and status messages.
    pub fn chain(&self) -> String {
        garm_base::chain(self)
    }
}

/// Forge clients and runner downloads per entity.
pub struct Forges {
    connector: Box<dyn ForgeConnector>,
    cache: Mutex<HashMap<EntityId, Cached>>,
    /// How many times [`Forges::client`] read credentials and their endpoint.
    reads: std::sync::atomic::AtomicU64,
}

impl Forges {
    pub fn new(connector: Box<dyn ForgeConnector>) -> Self {
        Self {
            connector,
            cache: Mutex::new(HashMap::new()),
            reads: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The forge client of `entity`, built once per credentials version.
    pub async fn for_entity(
        &self,
        store: &garm_store::Store,
        entity: &EntityRecord,
    ) -> Result<Arc<dyn Forge>, ForgeAccessError> {
        Ok(self.client(store, entity).await?.0)
    }

    /// The forge client of `entity` and the endpoint it speaks to: one read of the credentials
    /// and one of their endpoint.
    pub async fn client(
        &self,
        store: &garm_store::Store,
        entity: &EntityRecord,
    ) -> Result<(Arc<dyn Forge>, EndpointRecord), ForgeAccessError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
                return Ok((c.forge.clone(), endpoint));
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
        Ok((forge, endpoint))
    }

    /// Runner downloads of `entity`, fetched at most once per `ttl`.
    pub async fn tools(
        &self,
        store: &garm_store::Store,
        entity: &EntityRecord,
        ttl: Duration,
    ) -> Result<Vec<Tool>, ForgeAccessError> {
        Ok(self.equipped(store, entity, ttl).await?.tools)
    }

    /// What an entity pass or a provisioning step needs from the forge side, read once: the
    /// client, its endpoint and the runner downloads (fetched at most once per `ttl`).
    pub async fn equipped(
        &self,
        store: &garm_store::Store,
        entity: &EntityRecord,
        ttl: Duration,
    ) -> Result<Equipped, ForgeAccessError> {
        let (forge, endpoint) = self.client(store, entity).await?;
        let cached = self
            .cache
            .lock()
            .expect("forge cache lock")
            .get(&entity.id)
            .and_then(|c| {
                c.tools
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < ttl)
                    .map(|(_, t)| t.clone())
            });
        let tools = match cached {
            Some(tools) => tools,
            None => {
                let tools = forge.tools().await?;
                if let Some(c) = self.cache.lock().expect("forge cache lock").get_mut(&entity.id) {
                    c.tools = Some((Instant::now(), tools.clone()));
                }
                tools
            }
        };
        Ok(Equipped { forge, endpoint, tools })
    }

    /// How many times credentials and their endpoint were read from the store (one of each per
    /// [`Forges::client`]); tests check that a pass reads them once.
    pub fn store_reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether runner downloads are cached for `entity` (the pool manager is "running").
    pub fn has_tools(&self, entity_id: &EntityId) -> bool {
        self.cache
            .lock()
            .expect("forge cache lock")
            .get(entity_id)
            .is_some_and(|c| c.tools.is_some())
    }

    /// Takes note of a failed forge call for `entity_id`: rejected credentials drop the
    /// cached runner downloads, so the next entity pass asks the forge again and marks the
    /// entity failing (with the reason) until the credentials work again.
    pub fn note_error(&self, entity_id: &EntityId, err: &ForgeError) {
        if err.is_unauthorized() {
            if let Some(c) = self.cache.lock().expect("forge cache lock").get_mut(entity_id) {
                c.tools = None;
            }
        }
    }

    /// The newest rate limit any cached client of credentials `credentials_id` has seen in
    /// GitHub's answers (nothing is sent to learn it); `None` before the first answer or on a
    /// GHES without limits.
    pub fn rate_limit_of(&self, credentials_id: i64) -> Option<ForgeRateLimit> {
        let prefix = format!("{credentials_id}:");
        let cache = self.cache.lock().expect("forge cache lock");
        cache
            .values()
            .filter(|c| c.fingerprint.starts_with(&prefix))
            .map(|c| c.forge.rate_limit())
            .filter(|r| r.limit.is_some())
            // The latest window, and in it the lowest count left: the most recent answer.
            .max_by_key(|r| (r.reset_at, std::cmp::Reverse(r.remaining)))
    }

    pub fn forget(&self, entity_id: &EntityId) {
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
