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
use crate::{job_label, Ctx};
use garm_forge::ForgeError;
use garm_model::{InstanceStatus, RunnerStatus, Secret};
use garm_provider::{PoolRef, ProviderError, ProviderStatus};
use garm_store::{EntityRecord, InstanceRecord, PoolRecord, StoreError, Transition};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// Why a lifecycle step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("store")]
    Store(#[from] StoreError),
    #[error("forge")]
    Forge(#[from] ForgeError),
    #[error("provider")]
    Provider(#[from] ProviderError),
    #[error("no provider named {0} is configured")]
    UnknownProvider(String),
    #[error("rendering the install wrapper")]
    Template(#[from] garm_template::TemplateError),
    #[error("the runner is busy running a job")]
    RunnerBusy,
    #[error("the provider reported an error: {fault}")]
    ProviderReported { fault: String },
}

impl StepError {
    /// The error and its causes on one line (with a provider's stderr), for logs and
    /// status messages.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        if let Self::Provider(err) = self {
            if let Some(stderr) = err.stderr().map(str::trim).filter(|s| !s.is_empty()) {
                let tail: String = stderr
                    .chars()
                    .rev()
                    .take(500)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                out.push_str(": ");
                out.push_str(&tail);
            }
        }
        out
    }
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Records a new instance of `pool` (`pending_create`) and starts provisioning it.
/// Refused with a conflict when the pool already has `max_runners` instances.
pub async fn create_instance(ctx: &Arc<Ctx>, pool: &PoolRecord, for_job: Option<i64>) -> Result<String, StepError> {
    let controller = ctx.store.controller().await?;
    let name = format!("{}-{}", pool.runner_prefix, random_suffix()).to_lowercase();
    let now = chrono::Utc::now();
    let record = InstanceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.clone(),
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
    };
    ctx.store.create_instance(&record, pool.max_runners).await?;
    tracing::info!(instance = %name, pool = %pool.id, job = ?for_job, "instance being created");
    spawn_provision(ctx, &name);
    Ok(name)
}

/// Starts provisioning `name` in the background unless a step already runs for it.
pub fn spawn_provision(ctx: &Arc<Ctx>, name: &str) {
    let Some(guard) = ctx.claim(name) else { return };
    let ctx2 = ctx.clone();
    let name = name.to_string();
    ctx.tasks.spawn(async move {
        let _guard = guard;
        if let Err(err) = provision(&ctx2, &name).await {
            tracing::warn!(instance = %name, error = %err.chain(), "provisioning failed");
            note_forge_error(&ctx2, &name, &err).await;
            ctx2.record_failure(&name);
            let fault = err.chain();
            let _ = ctx2
                .store
                .modify_instance(&name, Transition::Forced, |i| {
                    i.status = InstanceStatus::Error;
                    i.provider_fault = fault.clone();
                })
                .await;
            if let Ok(i) = ctx2.store.instance(&name).await {
                let _ = ctx2
                    .store
                    .add_instance_event(&i.id, "status", "error", &format!("create failed: {fault}"))
                    .await;
            }
        } else {
            ctx2.clear_backoff(&name);
        }
        if let Ok(i) = ctx2.store.instance(&name).await {
            ctx2.nudge.pool(&i.pool_id);
        }
    });
}

/// Rejected credentials seen by a step mark the instance's entity for a fresh check.
async fn note_forge_error(ctx: &Ctx, name: &str, err: &StepError) {
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

async fn provision(ctx: &Arc<Ctx>, name: &str) -> Result<(), StepError> {
    let instance = ctx.store.instance(name).await?;
    if instance.status != InstanceStatus::PendingCreate {
        return Ok(());
    }
    let pool = ctx.store.pool(&instance.pool_id).await?;
    let entity = owner(ctx, &pool).await?;
    let provider = ctx
        .provider(&pool.provider_name)
        .ok_or_else(|| StepError::UnknownProvider(pool.provider_name.clone()))?;
    let forge = ctx.forges.for_entity(&ctx.store, &entity).await?;
    let tools = ctx.forges.tools(&ctx.store, &entity, ctx.settings.tools_ttl).await?;
    if instance.jit_config.is_none() && !provider.disable_jit_config() {
        let labels = bootstrap::runner_labels(&pool, &ctx.controller_id);
        let started = std::time::Instant::now();
        let (runner_id, jit) = match forge.jit_config(name, &labels, &pool.runner_group).await {
            // A crash after the forge registered the runner but before we recorded it leaves the
            // name taken: remove that registration (it never ran anything) and register again.
            Err(ForgeError::Conflict { .. }) => {
                let stale = forge.runners().await?.into_iter().find(|r| r.name == name);
                if let Some(stale) = stale {
                    tracing::info!(instance = %name, runner_id = stale.id, "removing a runner registration a crash left unrecorded");
                    forge.remove_runner(stale.id).await?;
                }
                forge.jit_config(name, &labels, &pool.runner_group).await?
            }
            other => other?,
        };
        ctx.metrics.forge_call("GetEntityJITConfig", true, started.elapsed());
        let decoded = decode_jit(&jit);
        ctx.store
            .modify_instance(name, Transition::Forced, |i| {
                i.agent_id = runner_id;
                i.jit_config = Some(Secret::new(decoded.clone()));
            })
            .await?;
        tracing::info!(instance = %name, runner_id, "runner registered with the forge (JIT)");
    }
    let instance = ctx
        .store
        .modify_instance(name, Transition::Checked, |i| i.status = InstanceStatus::Creating)
        .await?;
    let endpoint = ctx.store.endpoint(&entity.endpoint_name).await?;
    let controller = ctx.store.controller().await?;
    let ttl = Duration::from_secs(u64::from(pool.bootstrap_timeout) * 60 + 300);
    let token = ctx.tokens.mint(&instance, &pool, &entity, ttl);
    let mut ca_bundle = endpoint.ca_cert_bundle.clone();
    if !controller.ca_cert_bundle.is_empty() && controller.ca_cert_bundle != ca_bundle {
        ca_bundle.extend_from_slice(&controller.ca_cert_bundle);
    }
    let params = bootstrap::params(BootstrapInput {
        instance: &instance,
        pool: &pool,
        repo_url: bootstrap::repo_url(&endpoint, &entity),
        tools: &tools,
        token,
        ca_bundle,
        controller_id: &ctx.controller_id,
    })?;
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
            let fault = String::from_utf8_lossy(&created.provider_fault).into_owned();
            let status = match created.status {
                ProviderStatus::Running => InstanceStatus::Running,
                _ => InstanceStatus::Error,
            };
            ctx.store
                .modify_instance(name, Transition::Checked, |i| {
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
                    i.provider_fault = fault.clone();
                })
                .await?;
            tracing::info!(instance = %name, provider_id = %created.provider_id, status = %status, elapsed_ms = started.elapsed().as_millis() as u64, "provider created the instance");
            if let Some(job) = crate::job_of(&instance.extra_labels) {
                if let Ok(Some(j)) = ctx.store.job(job).await {
                    if let Some(at) = j.created_at {
                        ctx.metrics
                            .observe_queued_to_created((chrono::Utc::now() - at).to_std().unwrap_or_default());
                    }
                }
            }
            Ok(())
        }
        Ok(created) => {
            let fault = String::from_utf8_lossy(&created.provider_fault).into_owned();
            let _ = provider
                .delete(name, PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
                .await;
            Err(StepError::ProviderReported { fault })
        }
        Err(err) => {
            if let Some(stderr) = err.stderr() {
                let _ = ctx
                    .store
                    .add_instance_event(
                        &instance.id,
                        "status",
                        "error",
                        &format!("provider stderr: {}", stderr.trim()),
                    )
                    .await;
            }
            let _ = provider
                .delete(name, PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
                .await;
            Err(err.into())
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
pub async fn interrupted(ctx: &Arc<Ctx>, name: &str) -> Result<(), StepError> {
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
pub fn spawn_retry(ctx: &Arc<Ctx>, name: &str) {
    let Some(guard) = ctx.claim(name) else { return };
    let ctx2 = ctx.clone();
    let name = name.to_string();
    ctx.tasks.spawn(async move {
        let result = async {
            let instance = ctx2.store.instance(&name).await?;
            let pool = ctx2.store.pool(&instance.pool_id).await?;
            let provider = ctx2
                .provider(&pool.provider_name)
                .ok_or_else(|| StepError::UnknownProvider(pool.provider_name.clone()))?;
            let id = instance.provider_id.clone().unwrap_or_else(|| instance.name.clone());
            provider
                .delete(&id, PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
                .await?;
            ctx2.store
                .modify_instance(&name, Transition::Forced, |i| {
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

/// Removes the instance's runner from the forge. A busy runner is refused
/// ([`StepError::RunnerBusy`]); one the forge no longer knows counts as removed.
pub async fn remove_forge_runner(ctx: &Ctx, instance: &InstanceRecord) -> Result<(), StepError> {
    if instance.agent_id == 0 {
        return Ok(());
    }
    let pool = ctx.store.pool(&instance.pool_id).await?;
    let entity = owner(ctx, &pool).await?;
    let forge = ctx.forges.for_entity(&ctx.store, &entity).await?;
    let started = std::time::Instant::now();
    let result = forge.remove_runner(instance.agent_id).await;
    ctx.metrics
        .forge_call("RemoveEntityRunner", result.is_ok(), started.elapsed());
    match result {
        Ok(()) => Ok(()),
        Err(ForgeError::RunnerBusy) => Err(StepError::RunnerBusy),
        Err(err) => Err(err.into()),
    }
}

/// Gives up on an instance: removes its forge runner and marks it for deletion.
pub async fn reap(ctx: &Arc<Ctx>, name: &str, reason: &str) -> Result<(), StepError> {
    let Some(_guard) = ctx.claim(name) else { return Ok(()) };
    let instance = ctx.store.instance(name).await?;
    match remove_forge_runner(ctx, &instance).await {
        Ok(()) | Err(StepError::RunnerBusy) if instance.runner_status == RunnerStatus::Terminated => {}
        Ok(()) => {}
        Err(StepError::RunnerBusy) => {
            // The forge says it is running a job after all: it is not stuck.
            ctx.store
                .modify_instance(name, Transition::Forced, |i| i.runner_status = RunnerStatus::Active)
                .await?;
            return Ok(());
        }
        Err(err) => return Err(err),
    }
    ctx.store
        .modify_instance(name, Transition::Forced, |i| i.status = InstanceStatus::PendingDelete)
        .await?;
    let _ = ctx
        .store
        .add_instance_event(
            &instance.id,
            "status",
            "warning",
            &format!("removing instance: {reason}"),
        )
        .await;
    tracing::info!(instance = %name, reason, "instance reaped");
    ctx.nudge.pool(&instance.pool_id);
    Ok(())
}

/// Removes a surplus idle runner; a runner the forge reports busy is kept.
pub async fn scale_down(ctx: &Arc<Ctx>, name: &str) -> Result<(), StepError> {
    let Some(_guard) = ctx.claim(name) else { return Ok(()) };
    let instance = ctx.store.instance(name).await?;
    match remove_forge_runner(ctx, &instance).await {
        Ok(()) => {}
        Err(StepError::RunnerBusy) => {
            tracing::info!(instance = %name, "not scaling down: the runner is busy");
            ctx.store
                .modify_instance(name, Transition::Forced, |i| i.runner_status = RunnerStatus::Active)
                .await?;
            return Ok(());
        }
        Err(err) => return Err(err),
    }
    ctx.store
        .modify_instance(name, Transition::Checked, |i| i.status = InstanceStatus::PendingDelete)
        .await?;
    tracing::info!(instance = %name, "idle runner scaled down");
    ctx.nudge.pool(&instance.pool_id);
    Ok(())
}

/// Deletes an instance in the background: provider first, then the row.
pub fn spawn_delete(ctx: &Arc<Ctx>, name: &str) {
    let Some(guard) = ctx.claim(name) else { return };
    let ctx2 = ctx.clone();
    let name = name.to_string();
    ctx.tasks.spawn(async move {
        let _guard = guard;
        let pool_id = match delete(&ctx2, &name).await {
            Ok(pool_id) => {
                ctx2.clear_backoff(&name);
                pool_id
            }
            Err((err, previous, pool_id)) => {
                tracing::warn!(instance = %name, error = %err.chain(), "delete failed; will retry");
                ctx2.record_failure(&name);
                let fault = err.chain();
                let _ = ctx2
                    .store
                    .modify_instance(&name, Transition::Forced, |i| {
                        i.status = previous;
                        i.provider_fault = fault.clone();
                    })
                    .await;
                pool_id
            }
        };
        if let Some(pool_id) = pool_id {
            ctx2.nudge.pool(&pool_id);
            // Room in the pool: queued jobs of its entity may now get an instance.
            if let Ok(pool) = ctx2.store.pool(&pool_id).await {
                ctx2.nudge.entity(&pool.entity_id);
            }
        }
    });
}

type DeleteFailure = (StepError, InstanceStatus, Option<String>);

async fn delete(ctx: &Arc<Ctx>, name: &str) -> Result<Option<String>, DeleteFailure> {
    let instance = match ctx.store.instance(name).await {
        Ok(i) => i,
        Err(err) if err.is_not_found() => return Ok(None),
        Err(err) => return Err((err.into(), InstanceStatus::PendingDelete, None)),
    };
    let previous = match instance.status {
        InstanceStatus::Deleting => InstanceStatus::PendingDelete,
        other => other,
    };
    let force = previous == InstanceStatus::PendingForceDelete;
    let fail = |err: StepError| (err, previous, Some(instance.pool_id.clone()));
    // Jitter spreads a burst of deletes over the provider.
    let jitter = rand::thread_rng().gen_range(0..200);
    tokio::time::sleep(Duration::from_millis(jitter)).await;
    ctx.store
        .modify_instance(name, Transition::Forced, |i| i.status = InstanceStatus::Deleting)
        .await
        .map_err(|e| fail(e.into()))?;
    let pool = ctx.store.pool(&instance.pool_id).await.map_err(|e| fail(e.into()))?;
    let provider = ctx
        .provider(&pool.provider_name)
        .ok_or_else(|| fail(StepError::UnknownProvider(pool.provider_name.clone())))?;
    let id = instance.provider_id.clone().unwrap_or_else(|| instance.name.clone());
    let slot = ctx
        .provider_slots
        .acquire()
        .await
        .expect("the provider semaphore is never closed");
    let deleted = provider
        .delete(&id, PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
        .await;
    drop(slot);
    match deleted {
        Ok(_) => {}
        Err(err) if force => {
            tracing::warn!(instance = %name, error = %err, "provider delete failed; force-removing the record anyway")
        }
        Err(err) => return Err(fail(err.into())),
    }
    if let Err(err) = remove_forge_runner(ctx, &instance).await {
        if !force {
            tracing::warn!(instance = %name, error = %err.chain(), "could not remove the forge runner; the orphan scan will retry");
        }
    }
    ctx.store.delete_instance_row(name).await.map_err(|e| fail(e.into()))?;
    tracing::info!(instance = %name, pool = %pool.id, "instance deleted");
    Ok(Some(pool.id))
}
