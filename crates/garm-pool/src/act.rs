//! Acting: the side-effecting lifecycle steps. Each is idempotent and records its
//! intent in the store before it calls a provider or the forge.
//!
//! # Flow
//! create → `pending_create` row (max_runners checked in the insert) → provision task:
//! JIT config from the forge → `creating` → provider `CreateInstance` → `running` or
//! `error`. Deletion: forge runner removed → `pending_delete` → `deleting` → provider
//! `DeleteInstance` (already gone counts) → row deleted.
//!
//! # Guarantees
//! At most one step runs per instance (`Ctx::claim`); a crash between intent and side
//! effect is repaired by the next reconcile (`Interrupted`, `Provision`, `Delete`).

use crate::bootstrap::{self, BootstrapInput};
use crate::forge::{Forge, Tool};
use crate::metrics::scope;
use crate::{job_label, Ctx};
use garm_forge::ForgeError;
use garm_model::{InstanceName, InstanceStatus, RunnerStatus, Secret};
use garm_provider::{PoolRef, ProviderStatus};
use garm_store::{ControllerRecord, EndpointRecord, EntityRecord, InstanceRecord, PoolRecord, StoreError, Transition};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

mod remove;

pub use crate::step::StepError;
pub use remove::{reap, remove_forge_runner, scale_down, spawn_delete};

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What provisioning needs besides the instance, read once for every instance a reconcile
/// creates in one pool (the pool, its entity and endpoint, the controller, the forge client and
/// its runner downloads).
pub struct Prepared {
    pub pool: PoolRecord,
    pub entity: EntityRecord,
    pub endpoint: EndpointRecord,
    pub controller: ControllerRecord,
    pub forge: Arc<dyn Forge>,
    pub tools: Vec<Tool>,
    /// The pool's proxy as its runners get it (credentials in the URLs); empty without one.
    pub proxy: garm_provider_protocol::ProxyConfig,
    /// Instance writes of the steps that share this, committed together.
    writes: Writes,
}

/// What [`Prepared`] holds for `pool` of `entity`; `equipped` is the entity's forge side, read
/// once by the caller (an entity pass shares it between its pools).
pub async fn prepare(
    ctx: &Arc<Ctx>,
    pool: &PoolRecord,
    entity: &EntityRecord,
    controller: &ControllerRecord,
    equipped: &crate::forge::Equipped,
) -> Result<Arc<Prepared>, StepError> {
    let crate::forge::Equipped { forge, endpoint, tools } = equipped.clone();
    let proxy = match pool.proxy_id {
        Some(id) => Some(ctx.store.proxy(id).await?),
        None => None,
    };
    Ok(Arc::new(Prepared {
        pool: pool.clone(),
        entity: entity.clone(),
        endpoint,
        controller: controller.clone(),
        forge,
        tools,
        proxy: bootstrap::proxy_config(proxy.as_ref()),
        writes: Writes::default(),
    }))
}

/// An instance just recorded by this process, with what provisioning it needs: the step
/// starts without reading any of it again.
struct Ready {
    instance: InstanceRecord,
    prepared: Arc<Prepared>,
    /// When the job it was created for was queued (for the latency histogram).
    job_queued_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn new_record(pool: &PoolRecord, controller: &ControllerRecord, for_job: Option<i64>) -> InstanceRecord {
    let name = InstanceName::from(format!("{}-{}", pool.runner_prefix, random_suffix()).to_lowercase());
    let now = chrono::Utc::now();
    InstanceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        pool_id: pool.id.clone(),
        provider_id: None,
        agent_id: 0,
        os_type: pool.os_type.clone(),
        os_arch: pool.os_arch.clone(),
        os_name: String::new(),
        os_version: String::new(),
        addresses: vec![],
        status: InstanceStatus::PendingCreate,
        runner_status: RunnerStatus::Pending,
        provider_fault: String::new(),
        create_attempt: 1,
        token_fetched: false,
        jit_config: None,
        runner_group: pool.runner_group.clone(),
        extra_labels: for_job.map(job_label).into_iter().collect(),
        generation: pool.generation,
        callback_url: controller.callback_url.clone(),
        metadata_url: controller.metadata_url.clone(),
        heartbeat: now,
        created_at: now,
        updated_at: now,
    }
}

/// Records a new instance of `pool` (`pending_create`) and starts provisioning it.
/// Refused with a conflict when the pool already has `max_runners` instances.
pub async fn create_instance(
    ctx: &Arc<Ctx>,
    pool: &PoolRecord,
    for_job: Option<i64>,
) -> Result<InstanceName, StepError> {
    let controller = ctx.store.controller().await?;
    let record = new_record(pool, &controller, for_job);
    let name = record.name.clone();
    ctx.store.create_instance(&record, pool.max_runners).await?;
    tracing::info!(instance = %name, pool = %pool.id, job = ?for_job, "instance being created");
    spawn_provision(ctx, &name);
    Ok(name)
}

/// Creates one instance per job in `prepared.pool`, in one transaction, as many as fit under
/// `max_runners` (in order) and only for jobs still queued when the transaction looks, and
/// starts provisioning each from its inserted record with what `prepared` holds (nothing is
/// read again). Returns what became of each job, in order.
pub async fn create_for_jobs(
    ctx: &Arc<Ctx>,
    prepared: &Arc<Prepared>,
    jobs: &[&garm_store::JobRecord],
) -> Result<Vec<JobPlacement>, StepError> {
    let pool = &prepared.pool;
    let records: Vec<InstanceRecord> = jobs
        .iter()
        .map(|j| new_record(pool, &prepared.controller, Some(j.workflow_job_id)))
        .collect();
    let ids: Vec<i64> = jobs.iter().map(|j| j.workflow_job_id).collect();
    let placed = ctx
        .store
        .create_instances_for_jobs(&records, &ids, pool.max_runners)
        .await?;
    let mut out = Vec::with_capacity(jobs.len());
    for ((record, job), placement) in records.into_iter().zip(jobs).zip(placed) {
        match placement {
            garm_store::Placement::Created => {}
            garm_store::Placement::PoolFull => {
                out.push(JobPlacement::PoolFull);
                continue;
            }
            garm_store::Placement::JobNotQueued => {
                tracing::debug!(job_id = job.workflow_job_id, pool = %pool.id, "job no longer queued; no instance made for it");
                out.push(JobPlacement::JobNotQueued);
                continue;
            }
        }
        let name = record.name.clone();
        tracing::info!(instance = %name, pool = %pool.id, job = ?Some(job.workflow_job_id), "instance being created");
        if let Some(guard) = ctx.claim(&name) {
            let ready = Ready {
                instance: record,
                prepared: prepared.clone(),
                job_queued_at: job.created_at,
            };
            start_provision(ctx, &name, guard, Some(ready));
        }
        out.push(JobPlacement::Created(name));
    }
    // One pool pass for the batch: it sees the steps in flight and looks again every `resync`
    // until they are done (the bootstrap deadlines of the new runners are then known).
    ctx.nudge.pool(&pool.id);
    Ok(out)
}

/// What became of one job handed to [`create_for_jobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPlacement {
    /// An instance named so was created for it.
    Created(InstanceName),
    /// The pool was full.
    PoolFull,
    /// The job had finished or started elsewhere by the time of the insert: nothing was made.
    JobNotQueued,
}

/// Instance writes queued by concurrent steps; whoever finds no flush running commits everything
/// queued so far in one transaction (group commit), then whatever queued meanwhile.
#[derive(Default)]
struct Writes {
    queue: std::sync::Mutex<Vec<Write>>,
    flushing: std::sync::atomic::AtomicBool,
}

type Change = Box<dyn FnOnce(&mut InstanceRecord) + Send>;

struct Write {
    name: InstanceName,
    change: Change,
    done: tokio::sync::oneshot::Sender<Result<InstanceRecord, StoreError>>,
}

impl Writes {
    /// As [`garm_store::Store::modify_instance`] with [`Transition::Checked`], committed with the
    /// writes other steps queue meanwhile.
    async fn modify(&self, ctx: &Ctx, name: &InstanceName, change: Change) -> Result<InstanceRecord, StoreError> {
        use std::sync::atomic::Ordering;
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue.lock().expect("write queue lock").push(Write {
            name: name.clone(),
            change,
            done,
        });
        while !self.flushing.swap(true, Ordering::SeqCst) {
            loop {
                let batch = std::mem::take(&mut *self.queue.lock().expect("write queue lock"));
                if batch.is_empty() {
                    break;
                }
                flush(ctx, batch).await;
            }
            self.flushing.store(false, Ordering::SeqCst);
            // A write queued after the last take and before the flag was cleared is ours to flush.
            if self.queue.lock().expect("write queue lock").is_empty() {
                break;
            }
        }
        result.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(Box::new(std::io::Error::other(
                "the step committing this write stopped",
            ))))
        })
    }
}

async fn flush(ctx: &Ctx, batch: Vec<Write>) {
    let shared = |err: &StoreError| StoreError::Backend(Box::new(std::io::Error::other(err.to_string())));
    let mut tx = match ctx.store.batch().await {
        Ok(tx) => tx,
        Err(err) => {
            for w in batch {
                let _ = w.done.send(Err(shared(&err)));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for w in batch {
        let result = tx.modify_instance(&w.name, Transition::Checked, w.change).await;
        results.push((w.done, result));
    }
    match tx.commit().await {
        Ok(()) => {
            for (done, result) in results {
                let _ = done.send(result);
            }
        }
        Err(err) => {
            for (done, _) in results {
                let _ = done.send(Err(shared(&err)));
            }
        }
    }
}

/// Starts provisioning `name` in the background unless a step already runs for it.
pub fn spawn_provision(ctx: &Arc<Ctx>, name: &InstanceName) {
    let Some(guard) = ctx.claim(name) else { return };
    start_provision(ctx, name, guard, None);
}

fn start_provision(ctx: &Arc<Ctx>, name: &InstanceName, guard: crate::InflightGuard, ready: Option<Ready>) {
    let ctx2 = ctx.clone();
    let name = name.clone();
    let known_pool = ready.as_ref().map(|r| r.prepared.pool.id.clone());
    ctx.tasks.spawn(async move {
        let _guard = guard;
        let batched = ready.is_some();
        let result = provision(&ctx2, &name, ready).await;
        let failed = result.is_err();
        if let Err(err) = result {
            tracing::warn!(instance = %name, error = %err.chain(), "provisioning failed");
            note_forge_error(&ctx2, &name, &err).await;
            ctx2.record_failure(&name);
            let fault = err.chain();
            // Checked: an instance a `completed` webhook sent on its way out meanwhile stays so.
            crate::logged(
                "marking the failed create",
                "the instance keeps its status: creating is treated as interrupted and retried by the next pool pass; one on its way out is deleted",
                ctx2.store
                    .modify_instance(&name, Transition::Checked, |i| {
                        i.status = InstanceStatus::Error;
                        i.provider_fault = fault.clone();
                    })
                    .await,
            );
            if let Ok(i) = ctx2.store.instance(&name).await {
                crate::logged(
                    "recording the create failure event",
                    "the event is informational; the fault is on the instance",
                    ctx2.store
                        .add_instance_event(&i.id, "status", "error", &format!("create failed: {fault}"))
                        .await,
                );
            }
        } else {
            ctx2.clear_backoff(&name);
        }
        // A batch's pool was nudged once by its entity pass (see `create_for_jobs`); a failure
        // needs the pool to plan the retry.
        if failed || !batched {
            let pool_id = match known_pool {
                Some(id) => Some(id),
                None => ctx2.store.instance(&name).await.ok().map(|i| i.pool_id),
            };
            if let Some(pool_id) = pool_id {
                ctx2.nudge.pool(&pool_id);
            }
        }
    });
}

/// Rejected credentials seen by a step mark the instance's entity for a fresh check.
async fn note_forge_error(ctx: &Ctx, name: &InstanceName, err: &StepError) {
    let StepError::Forge(forge_err) = err else { return };
    if !forge_err.is_unauthorized() {
        return;
    }
    if let Ok(instance) = ctx.store.instance(name).await {
        if let Ok(pool) = ctx.store.pool(&instance.pool_id).await {
            ctx.forges.note_error(&pool.entity_id, forge_err);
            ctx.nudge.entity(&pool.entity_id);
        }
    }
}

async fn owner(ctx: &Ctx, pool: &PoolRecord) -> Result<EntityRecord, StepError> {
    Ok(ctx.store.entity_any(&pool.entity_id).await?)
}

async fn provision(ctx: &Arc<Ctx>, name: &InstanceName, ready: Option<Ready>) -> Result<(), StepError> {
    let ready = match ready {
        Some(r) => r,
        None => match load(ctx, name).await? {
            Some(r) => r,
            None => return Ok(()),
        },
    };
    let Ready {
        instance,
        prepared,
        job_queued_at,
    } = ready;
    let pool = &prepared.pool;
    let provider = ctx
        .provider(&pool.provider_name)
        .ok_or_else(|| StepError::UnknownProvider(pool.provider_name.clone()))?;
    let instance = mark_creating(ctx, &prepared, &instance, name, provider.as_ref()).await?;
    if instance.status != InstanceStatus::Creating {
        // Deleted (or forced elsewhere) while the runner was registered: nothing to create.
        tracing::info!(instance = %name, status = %instance.status, "not creating: the instance changed meanwhile");
        return Ok(());
    }
    let params = bootstrap_params(ctx, &prepared, &instance)?;
    let deadline = Duration::from_secs(u64::from(pool.bootstrap_timeout) * 60);
    let slot = ctx
        .provider_slots
        .acquire()
        .await
        .expect("the provider semaphore is never closed");
    let started = std::time::Instant::now();
    let result = provider.create(&params, Some(deadline)).await;
    drop(slot);
    ctx.metrics.observe_create(started.elapsed());
    match result {
        Ok(created) if created.status != ProviderStatus::Error => {
            record_created(ctx, &prepared, name, created, started, job_queued_at).await
        }
        Ok(created) => {
            let fault = String::from_utf8_lossy(&created.provider_fault).into_owned();
            delete_failed_machine(provider.as_ref(), name, pool).await;
            Err(StepError::ProviderReported { fault })
        }
        Err(err) => {
            if let Some(stderr) = err.stderr() {
                crate::logged(
                    "recording the provider's stderr",
                    "the event is informational; the error is logged and on the instance",
                    ctx.store
                        .add_instance_event(
                            &instance.id,
                            "status",
                            "error",
                            &format!("provider stderr: {}", stderr.trim()),
                        )
                        .await,
                );
            }
            delete_failed_machine(provider.as_ref(), name, pool).await;
            Err(err.into())
        }
    }
}

/// Registers the runner with the forge (unless the instance has its JIT configuration from an
/// earlier attempt) and records the registration and `creating` in one write, before the
/// provider is called. Returns the instance as written: a status other than `creating` means
/// it was deleted or forced meanwhile.
async fn mark_creating(
    ctx: &Arc<Ctx>,
    prepared: &Prepared,
    instance: &InstanceRecord,
    name: &InstanceName,
    provider: &dyn garm_provider::Provider,
) -> Result<InstanceRecord, StepError> {
    let jit = if instance.jit_config.is_some() {
        None
    } else {
        register(ctx, prepared, name, provider).await?
    };
    let registered = jit.clone();
    let instance = prepared
        .writes
        .modify(
            ctx,
            name,
            Box::new(move |i| {
                // The registration is recorded whatever happened meanwhile, so a delete removes it.
                if let Some((runner_id, decoded)) = registered {
                    i.agent_id = runner_id;
                    i.jit_config = Some(Secret::new(decoded));
                }
                if i.status == InstanceStatus::PendingCreate {
                    i.status = InstanceStatus::Creating;
                }
            }),
        )
        .await?;
    if let Some((runner_id, _)) = &jit {
        tracing::info!(instance = %name, runner_id, "runner registered with the forge (JIT)");
    }
    Ok(instance)
}

/// A `pending_create` instance no entity pass handed over (a retry, a restart): its pool, entity
/// and forge side read again. `None` when it is no longer `pending_create`.
async fn load(ctx: &Arc<Ctx>, name: &InstanceName) -> Result<Option<Ready>, StepError> {
    let instance = ctx.store.instance(name).await?;
    if instance.status != InstanceStatus::PendingCreate {
        return Ok(None);
    }
    let pool = ctx.store.pool(&instance.pool_id).await?;
    let entity = owner(ctx, &pool).await?;
    let controller = ctx.store.controller().await?;
    let equipped = ctx.forges.equipped(&ctx.store, &entity, ctx.settings.tools_ttl).await?;
    let prepared = prepare(ctx, &pool, &entity, &controller, &equipped).await?;
    let queued_at = match crate::job_of(&instance.extra_labels) {
        Some(job) => ctx.store.job(job).await.ok().flatten().and_then(|j| j.created_at),
        None => None,
    };
    Ok(Some(Ready {
        instance,
        prepared,
        job_queued_at: queued_at,
    }))
}

/// Registers the instance's runner: scale set runners with the Actions service, other runners
/// with the forge's JIT endpoint unless the provider registers them itself. The runner id and
/// the decoded JIT configuration; `None` when nothing was registered.
async fn register(
    ctx: &Arc<Ctx>,
    prepared: &Prepared,
    name: &InstanceName,
    provider: &dyn garm_provider::Provider,
) -> Result<Option<(i64, String)>, StepError> {
    let Prepared {
        pool, entity, forge, ..
    } = prepared;
    if pool.scale_set_id.is_some() {
        // Scale set runners always get their JIT configuration from the Actions service.
        let started = std::time::Instant::now();
        let minted = crate::scaleset::jit_config(ctx, pool, forge.as_ref(), name).await;
        ctx.metrics.forge_call(
            "GenerateJitRunnerConfig",
            scope(entity.kind),
            minted.is_ok(),
            started.elapsed(),
        );
        let (runner_id, encoded) = minted?;
        return Ok(Some((runner_id, decode_jit(&encoded))));
    }
    if provider.disable_jit_config() {
        return Ok(None);
    }
    let labels = bootstrap::runner_labels(pool, &ctx.controller_id);
    let started = std::time::Instant::now();
    let (runner_id, encoded) = match forge.jit_config(name, &labels, &pool.runner_group).await {
        // A crash after the forge registered the runner but before we recorded it leaves the
        // name taken: remove that registration (it never ran anything) and register again.
        Err(ForgeError::Conflict { .. }) => {
            let stale = forge.runners().await?.into_iter().find(|r| r.name == name.as_str());
            if let Some(stale) = stale {
                tracing::info!(instance = %name, runner_id = stale.id, "removing a runner registration a crash left unrecorded");
                forge.remove_runner(stale.id).await?;
            }
            forge.jit_config(name, &labels, &pool.runner_group).await?
        }
        other => other?,
    };
    ctx.metrics
        .forge_call("GetEntityJITConfig", scope(entity.kind), true, started.elapsed());
    Ok(Some((runner_id, decode_jit(&encoded))))
}

/// What the provider gets for `instance`: its install parameters with a fresh instance token
/// and the endpoint's and controller's CA bundles.
fn bootstrap_params(
    ctx: &Ctx,
    prepared: &Prepared,
    instance: &InstanceRecord,
) -> Result<garm_provider_protocol::BootstrapInstance, StepError> {
    let Prepared {
        pool,
        entity,
        endpoint,
        controller,
        tools,
        proxy,
        ..
    } = prepared;
    let ttl = Duration::from_secs(u64::from(pool.bootstrap_timeout) * 60 + 300);
    let token = ctx.tokens.mint(instance, pool, entity, ttl);
    let mut ca_bundle = endpoint.ca_cert_bundle.clone();
    if !controller.ca_cert_bundle.is_empty() && controller.ca_cert_bundle != ca_bundle {
        ca_bundle.extend_from_slice(&controller.ca_cert_bundle);
    }
    bootstrap::params(BootstrapInput {
        instance,
        pool,
        repo_url: bootstrap::repo_url(endpoint, entity),
        tools,
        token,
        ca_bundle,
        controller_id: &ctx.controller_id,
        proxy: proxy.clone(),
    })
    .map_err(Into::into)
}

/// Records what the provider reported for a created instance (`running`, or `error` with its
/// fault) and the queued → created latency of its job.
async fn record_created(
    ctx: &Arc<Ctx>,
    prepared: &Prepared,
    name: &InstanceName,
    created: garm_provider_protocol::ProviderInstance,
    started: std::time::Instant,
    job_queued_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), StepError> {
    let fault = String::from_utf8_lossy(&created.provider_fault).into_owned();
    let status = match created.status {
        ProviderStatus::Running => InstanceStatus::Running,
        _ => InstanceStatus::Error,
    };
    let record = created.clone();
    let fault2 = fault.clone();
    prepared
        .writes
        .modify(
            ctx,
            name,
            Box::new(move |i| {
                let created = record;
                let fault = fault2;
                i.provider_id = Some(created.provider_id.clone());
                i.os_name = created.os_name.clone();
                i.os_version = created.os_version.clone();
                i.addresses = created
                    .addresses
                    .iter()
                    .map(|a| garm_store::AddressRecord {
                        address: a.address.clone(),
                        kind: a.kind.clone(),
                    })
                    .collect();
                i.status = status;
                i.provider_fault = fault;
            }),
        )
        .await?;
    tracing::info!(instance = %name, provider_id = %created.provider_id, status = %status, elapsed_ms = started.elapsed().as_millis() as u64, "provider created the instance");
    if let Some(at) = job_queued_at {
        ctx.metrics
            .observe_queued_to_created((chrono::Utc::now() - at).to_std().unwrap_or_default());
    }
    Ok(())
}

/// Deletes whatever a failed create left behind. A machine the provider does not have is the
/// usual case; any other failure is logged, and the provider scan deletes a machine no
/// instance backs.
async fn delete_failed_machine(provider: &dyn garm_provider::Provider, name: &InstanceName, pool: &PoolRecord) {
    match provider
        .delete(name, PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
        .await
    {
        Ok(_) | Err(garm_provider::ProviderError::NotFound) => {}
        Err(err) => {
            tracing::warn!(instance = %name, error = %garm_base::chain(&err), "deleting the machine of a failed create failed; the provider scan will delete it")
        }
    }
}

/// The JIT blob the forge returns is base64 of a JSON map of files; stored decoded.
fn decode_jit(encoded: &Secret) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(encoded.expose().trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| encoded.expose().to_string())
}

/// An instance found in `creating` with no step running: a crash interrupted the
/// provider call. It becomes `error`, so the retry path cleans up and creates again.
pub async fn interrupted(ctx: &Arc<Ctx>, name: &InstanceName) -> Result<(), StepError> {
    let Some(_guard) = ctx.claim(name) else { return Ok(()) };
    // The plan may have seen `creating` just before this process's own create finished.
    if ctx.store.instance(name).await?.status != InstanceStatus::Creating {
        return Ok(());
    }
    ctx.store
        .modify_instance(name, Transition::Checked, |i| {
            i.status = InstanceStatus::Error;
            i.provider_fault = "create interrupted (garm restarted during the provider call)".into();
        })
        .await?;
    tracing::warn!(instance = %name, "create was interrupted; will retry");
    Ok(())
}

/// Retries a failed create: delete whatever the provider has, then create again.
pub fn spawn_retry(ctx: &Arc<Ctx>, name: &InstanceName) {
    let Some(guard) = ctx.claim(name) else { return };
    let ctx2 = ctx.clone();
    let name = name.clone();
    ctx.tasks.spawn(async move {
        let result = async {
            let instance = ctx2.store.instance(&name).await?;
            let pool = ctx2.store.pool(&instance.pool_id).await?;
            let provider = ctx2
                .provider(&pool.provider_name)
                .ok_or_else(|| StepError::UnknownProvider(pool.provider_name.clone()))?;
            let id = instance
                .provider_id
                .clone()
                .unwrap_or_else(|| instance.name.to_string());
            provider
                .delete(&id, PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
                .await?;
            ctx2.store
                .modify_instance(&name, Transition::Recreate, |i| {
                    i.create_attempt += 1;
                    i.status = InstanceStatus::PendingCreate;
                    i.runner_status = RunnerStatus::Pending;
                    i.provider_id = None;
                    i.token_fetched = i.jit_config.is_some();
                })
                .await?;
            tracing::info!(instance = %name, attempt = instance.create_attempt + 1, "retrying create");
            Ok::<_, StepError>(())
        }
        .await;
        drop(guard);
        match result {
            Ok(()) => spawn_provision(&ctx2, &name),
            Err(err) => {
                tracing::warn!(instance = %name, error = %err.chain(), "cleanup before retry failed");
                ctx2.record_failure(&name);
            }
        }
    });
}
