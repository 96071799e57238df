//! A `Ctx` on a fresh SQLite file with one repository and pool, a stateful in-memory forge and
//! the in-memory provider.

use async_trait::async_trait;
use chrono::Utc;
use garm_forge::webhook::WorkflowJob;
use garm_forge::ForgeError;
use garm_model::{BalancerType, InstanceStatus, RunnerStatus, Secret};
use garm_pool::forge::{ForgeRunner, Tool};
use garm_pool::{
    Ctx, Forge, ForgeConnector, ForgeDelivery, ForgeDeliveryPage, ForgeHook, ForgeRateLimit, Forges, Metrics, Nudge,
    Settings, TokenMinter, Wiring,
};
use garm_provider::FakeProvider;
use garm_store::{
    CredentialSecret, CredentialsRecord, EndpointRecord, EntityKind, EntityRecord, InstanceRecord, NewPool, PoolRecord,
    Sealer, Store,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the in-memory forge holds and was asked to do.
#[derive(Default)]
pub struct ForgeState {
    /// Runner id → busy.
    pub runners: BTreeMap<i64, bool>,
    /// Runner id → name, for runners registered through `jit_config`.
    pub names: BTreeMap<i64, String>,
    pub removed: Vec<i64>,
    pub hooks: Vec<ForgeHook>,
    /// Failed deliveries, newest first.
    pub failed: Vec<ForgeDelivery>,
    pub redelivered: Vec<i64>,
    /// Jobs as the forge reports them now.
    pub jobs: HashMap<i64, WorkflowJob>,
    /// Every call, by name.
    pub calls: Vec<&'static str>,
    pub rate: ForgeRateLimit,
    /// Page size of the delivery log.
    pub page: usize,
}

#[derive(Clone, Default)]
pub struct FakeForge(pub Arc<Mutex<ForgeState>>);

impl FakeForge {
    pub fn state(&self) -> std::sync::MutexGuard<'_, ForgeState> {
        self.0.lock().unwrap()
    }

    fn call(&self, name: &'static str) {
        self.state().calls.push(name);
    }
}

#[async_trait]
impl Forge for FakeForge {
    async fn hooks(&self) -> Result<Vec<ForgeHook>, ForgeError> {
        self.call("hooks");
        Ok(self.state().hooks.clone())
    }
    async fn create_hook(&self, _url: &str, _secret: &Secret, _insecure: bool) -> Result<ForgeHook, ForgeError> {
        unimplemented!("not used here")
    }
    async fn delete_hook(&self, _id: i64) -> Result<(), ForgeError> {
        unimplemented!("not used here")
    }
    async fn jit_config(&self, name: &str, _labels: &[String], _group: &str) -> Result<(i64, Secret), ForgeError> {
        self.call("jit_config");
        let mut state = self.state();
        if state.names.values().any(|n| n == name) {
            return Err(ForgeError::Conflict {
                message: "Already exists - A runner with the same name already exists.".into(),
            });
        }
        let id = state.names.keys().max().copied().unwrap_or(100) + 1;
        state.names.insert(id, name.to_string());
        state.runners.insert(id, false);
        Ok((id, Secret::new("e30=")))
    }
    async fn registration_token(&self) -> Result<Secret, ForgeError> {
        unimplemented!("not used here")
    }
    async fn remove_runner(&self, runner_id: i64) -> Result<(), ForgeError> {
        self.call("remove_runner");
        let mut state = self.state();
        match state.runners.get(&runner_id).copied() {
            // GitHub answers 422 for a runner that is running a job.
            Some(true) => Err(ForgeError::RunnerBusy),
            Some(false) => {
                state.runners.remove(&runner_id);
                state.names.remove(&runner_id);
                state.removed.push(runner_id);
                Ok(())
            }
            None => Ok(()),
        }
    }
    async fn runners(&self) -> Result<Vec<ForgeRunner>, ForgeError> {
        self.call("runners");
        let state = self.state();
        Ok(state
            .runners
            .iter()
            .map(|(id, busy)| ForgeRunner {
                id: *id,
                name: state.names.get(id).cloned().unwrap_or_default(),
                online: false,
                busy: *busy,
                labels: Vec::new(),
            })
            .collect())
    }
    async fn tools(&self) -> Result<Vec<Tool>, ForgeError> {
        Ok(Vec::new())
    }
    async fn failed_deliveries(&self, _hook_id: i64, cursor: Option<&str>) -> Result<ForgeDeliveryPage, ForgeError> {
        self.call("failed_deliveries");
        let state = self.state();
        let start: usize = cursor.map(|c| c.parse().unwrap()).unwrap_or(0);
        let page = state.page.max(1);
        let end = (start + page).min(state.failed.len());
        Ok(ForgeDeliveryPage {
            deliveries: state.failed[start.min(end)..end].to_vec(),
            next_cursor: (end < state.failed.len()).then(|| end.to_string()),
        })
    }
    async fn redeliver(&self, _hook_id: i64, delivery_id: i64) -> Result<(), ForgeError> {
        self.call("redeliver");
        self.state().redelivered.push(delivery_id);
        Ok(())
    }
    async fn workflow_job(&self, _owner: &str, _repo: &str, job_id: i64) -> Result<WorkflowJob, ForgeError> {
        self.call("workflow_job");
        self.state()
            .jobs
            .get(&job_id)
            .cloned()
            .ok_or(ForgeError::NotFound { what: "workflow job" })
    }
    fn rate_limit(&self) -> ForgeRateLimit {
        self.state().rate
    }
}

struct Connector(FakeForge);

impl ForgeConnector for Connector {
    fn connect(
        &self,
        _entity: &EntityRecord,
        _endpoint: &EndpointRecord,
        _creds: &CredentialsRecord,
    ) -> Result<Arc<dyn Forge>, ForgeError> {
        Ok(Arc::new(self.0.clone()))
    }
}

struct Minter;

impl TokenMinter for Minter {
    fn mint(&self, _i: &InstanceRecord, _p: &PoolRecord, _e: &EntityRecord, _ttl: Duration) -> String {
        "instance-token".into()
    }
}

pub struct World {
    pub ctx: Arc<Ctx>,
    pub forge: FakeForge,
    pub provider: Arc<FakeProvider>,
    pub entity: EntityRecord,
    pub pool: PoolRecord,
    dir: std::path::PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub const CONTROLLER_WEBHOOK: &str = "https://garm.example.com/webhooks";

impl World {
    pub async fn new(settings: Settings) -> Self {
        let dir = std::env::temp_dir().join(format!("garm-pool-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("garm.db").display());
        let store = Store::connect(&url, Sealer::new("tB7yQk2LmN9pX4vR8sW1zC6dF3gH5jK0"))
            .await
            .unwrap();
        store.seed_github_com().await.unwrap();
        let controller = store.ensure_controller().await.unwrap();
        let mut updated = controller.clone();
        updated.webhook_url = CONTROLLER_WEBHOOK.into();
        store.update_controller(&updated).await.unwrap();
        let creds = store
            .create_credentials(
                "garm",
                "PAT",
                "github",
                "github.com",
                &CredentialSecret::Pat {
                    token: Secret::new("ghp_test"),
                },
            )
            .await
            .unwrap();
        let entity = store
            .create_entity(&EntityRecord {
                id: String::new().into(),
                kind: EntityKind::Repository,
                owner: "acme".into(),
                name: "widgets".into(),
                endpoint_name: "github.com".into(),
                credentials_id: creds.id,
                webhook_secret: Secret::new("whsec"),
                balancer: BalancerType::Roundrobin,
                agent_mode: false,
                pool_manager_running: false,
                failure_reason: String::new(),
                created_at: Utc::now(),
                updated_at: Utc::now(),
            })
            .await
            .unwrap();
        store.set_pool_manager_status(&entity.id, true, "").await.unwrap();
        let entity = store.entity_any(&entity.id).await.unwrap();
        let pool = store
            .create_pool(&pool_spec(&entity.id, "garm", &["self-hosted", "linux"]))
            .await
            .unwrap();
        let forge = FakeForge::default();
        forge.state().page = 100;
        let provider = Arc::new(FakeProvider::new("fake"));
        let mut providers: HashMap<String, Arc<dyn garm_provider::Provider>> = HashMap::new();
        providers.insert("fake".into(), provider.clone());
        let (nudge, _rx) = Nudge::channel();
        let ctx = Ctx::new(Wiring {
            store,
            providers,
            forges: Forges::new(Box::new(Connector(forge.clone()))),
            tokens: Arc::new(Minter),
            controller_id: controller.controller_id,
            // Four provider calls at once, as the tests have always run.
            settings: Settings {
                provider_concurrency: 4,
                ..settings
            },
            nudge,
            metrics: Arc::new(Metrics::default()),
        });
        Self {
            ctx: Arc::new(ctx),
            forge,
            provider,
            entity,
            pool,
            dir,
        }
    }

    /// An instance recorded as `pending_create` (intent recorded, nothing created yet).
    pub async fn pending(&self, name: &str) -> InstanceRecord {
        let mut record = self.instance(name, 0, RunnerStatus::Pending, false).await;
        self.forge.state().runners.remove(&0);
        record = self
            .ctx
            .store
            .modify_instance(&record.name, garm_store::Transition::Forced, |i| {
                i.status = InstanceStatus::PendingCreate;
                i.provider_id = None;
            })
            .await
            .unwrap();
        record
    }

    /// A running instance whose runner reports `runner_status`, registered on the forge as
    /// `agent_id` (busy or not), last updated `minutes_ago`.
    pub async fn instance(&self, name: &str, agent_id: i64, runner_status: RunnerStatus, busy: bool) -> InstanceRecord {
        let now = Utc::now();
        let record = InstanceRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            pool_id: self.pool.id.clone(),
            provider_id: Some(name.into()),
            agent_id,
            os_type: "linux".into(),
            os_arch: "amd64".into(),
            os_name: String::new(),
            os_version: String::new(),
            addresses: vec![],
            status: InstanceStatus::Running,
            runner_status,
            provider_fault: String::new(),
            create_attempt: 1,
            token_fetched: false,
            jit_config: None,
            runner_group: String::new(),
            extra_labels: vec![],
            generation: 0,
            callback_url: String::new(),
            metadata_url: String::new(),
            heartbeat: now,
            created_at: now,
            updated_at: now,
        };
        self.ctx.store.create_instance(&record, 100).await.unwrap();
        self.forge.state().runners.insert(agent_id, busy);
        self.ctx.store.instance(name).await.unwrap()
    }
}

/// A pool of the fake provider for `entity` (max 10 runners, none idle) with `tags`.
pub fn pool_spec(entity: &garm_model::EntityId, prefix: &str, tags: &[&str]) -> NewPool {
    NewPool {
        entity_id: entity.clone(),
        provider_name: "fake".into(),
        runner_prefix: prefix.into(),
        max_runners: 10,
        min_idle_runners: 0,
        bootstrap_timeout: 20,
        image: "i".into(),
        flavor: "f".into(),
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        enabled: true,
        extra_specs: None,
        runner_group: String::new(),
        enable_shell: false,
        priority: 0,
        template_id: None,
        proxy_id: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}
