//! The way out of the lifecycle: removing a runner from the forge, reaping a stuck instance,
//! scaling down an idle one, and deleting an instance (provider first, then the row).

use super::{owner, StepError};
use crate::metrics::scope;
use crate::Ctx;
use garm_forge::ForgeError;
use garm_model::{InstanceName, InstanceStatus, JobAction, PoolId, RunnerStatus};
use garm_provider::PoolRef;
use garm_store::{InstanceRecord, Transition};
use std::sync::Arc;

/// Removes the instance's runner from the forge. A busy runner is refused
/// ([`StepError::RunnerBusy`]); one the forge no longer knows counts as removed. An instance
/// whose runner was removed already (scale-down, reaping) has `agent_id` 0 and costs no call.
pub async fn remove_forge_runner(ctx: &Ctx, instance: &InstanceRecord) -> Result<(), StepError> {
    if instance.agent_id == 0 {
        return Ok(());
    }
    let pool = ctx.store.pool(&instance.pool_id).await?;
    let entity = owner(ctx, &pool).await?;
    let forge = ctx.forges.for_entity(&ctx.store, &entity).await?;
    if pool.scale_set_id.is_some() {
        return crate::scaleset::remove_runner(ctx, forge.as_ref(), &entity, instance.agent_id).await;
    }
    let started = std::time::Instant::now();
    let result = forge.remove_runner(instance.agent_id).await;
    ctx.metrics.forge_call(
        "RemoveEntityRunner",
        scope(entity.kind),
        result.is_ok(),
        started.elapsed(),
    );
    match result {
        Ok(()) => Ok(()),
        Err(ForgeError::RunnerBusy) => Err(StepError::RunnerBusy),
        Err(err) => Err(err.into()),
    }
}

/// Whether the forge has removed the instance's runner by itself: garm's runners are ephemeral
/// (JIT or `--ephemeral`), and one a `completed` webhook named ran its one job and de-registered.
/// Otherwise (a reaped, scaled-down, lost or manually deleted instance) the runner may still be
/// registered. Should GitHub still list it, the orphan scan removes it once no instance backs it.
async fn ran_its_job(ctx: &Ctx, instance: &InstanceRecord) -> bool {
    if instance.runner_status != RunnerStatus::Terminated || instance.agent_id == 0 {
        return false;
    }
    let Some(job) = crate::job_of(&instance.extra_labels) else {
        return false;
    };
    matches!(
        ctx.store.job(job).await,
        Ok(Some(j)) if j.action == JobAction::Completed && j.runner_name == instance.name
    )
}

/// Gives up on an instance: removes its forge runner and marks it for deletion.
pub async fn reap(ctx: &Arc<Ctx>, name: &InstanceName, reason: &str) -> Result<(), StepError> {
    let Some(_guard) = ctx.claim(name) else { return Ok(()) };
    let instance = ctx.store.instance(name).await?;
    let removed = match remove_forge_runner(ctx, &instance).await {
        Ok(()) => true,
        Err(StepError::RunnerBusy) if instance.runner_status == RunnerStatus::Terminated => false,
        Err(StepError::RunnerBusy) => {
            // The forge says it is running a job after all: it is not stuck (the forge's fact).
            ctx.store
                .modify_instance(name, Transition::Forced, |i| i.runner_status = RunnerStatus::Active)
                .await?;
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    ctx.store
        .modify_instance(name, Transition::Checked, |i| {
            i.status = InstanceStatus::PendingDelete;
            if removed {
                // The forge runner is gone: the delete must not remove it a second time.
                i.agent_id = 0;
            }
        })
        .await?;
    crate::logged(
        "recording why the instance is reaped",
        "the event is informational; the reason is logged below",
        ctx.store
            .add_instance_event(
                &instance.id,
                "status",
                "warning",
                &format!("removing instance: {reason}"),
            )
            .await,
    );
    tracing::info!(instance = %name, reason, "instance reaped");
    ctx.nudge.pool(&instance.pool_id);
    Ok(())
}

/// Removes a surplus idle runner; a runner the forge reports busy is kept.
pub async fn scale_down(ctx: &Arc<Ctx>, name: &InstanceName) -> Result<(), StepError> {
    let Some(_guard) = ctx.claim(name) else { return Ok(()) };
    let instance = ctx.store.instance(name).await?;
    match remove_forge_runner(ctx, &instance).await {
        Ok(()) => {}
        Err(StepError::RunnerBusy) => {
            tracing::info!(instance = %name, "not scaling down: the runner is busy");
            // The forge's fact: its runner took a job.
            ctx.store
                .modify_instance(name, Transition::Forced, |i| i.runner_status = RunnerStatus::Active)
                .await?;
            return Ok(());
        }
        Err(err) => return Err(err),
    }
    ctx.store
        .modify_instance(name, Transition::Checked, |i| {
            i.status = InstanceStatus::PendingDelete;
            // The forge runner is gone: the delete must not remove it a second time.
            i.agent_id = 0;
        })
        .await?;
    tracing::info!(instance = %name, "idle runner scaled down");
    ctx.nudge.pool(&instance.pool_id);
    Ok(())
}

/// Deletes an instance in the background: provider first, then the row.
pub fn spawn_delete(ctx: &Arc<Ctx>, name: &InstanceName) {
    let Some(guard) = ctx.claim(name) else { return };
    let ctx2 = ctx.clone();
    let name = name.clone();
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
                crate::logged(
                    "putting back the status of a failed delete",
                    "an instance left in deleting is deleted again by the next pool pass",
                    ctx2.store
                        .modify_instance(&name, Transition::Checked, |i| {
                            i.status = previous;
                            i.provider_fault = fault.clone();
                        })
                        .await,
                );
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

type DeleteFailure = (StepError, InstanceStatus, Option<PoolId>);

async fn delete(ctx: &Arc<Ctx>, name: &InstanceName) -> Result<Option<PoolId>, DeleteFailure> {
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
    // No jitter (garm waits 0–2 s): `provider_slots` already bounds a burst of deletes.
    ctx.store
        .modify_instance(name, Transition::Checked, |i| i.status = InstanceStatus::Deleting)
        .await
        .map_err(|e| fail(e.into()))?;
    let pool = ctx.store.pool(&instance.pool_id).await.map_err(|e| fail(e.into()))?;
    let provider = ctx
        .provider(&pool.provider_name)
        .ok_or_else(|| fail(StepError::UnknownProvider(pool.provider_name.clone())))?;
    let id = instance
        .provider_id
        .clone()
        .unwrap_or_else(|| instance.name.to_string());
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
    if ran_its_job(ctx, &instance).await {
        tracing::debug!(instance = %name, "the forge removed this ephemeral runner after its job");
    } else if let Err(err) = remove_forge_runner(ctx, &instance).await {
        if !force {
            tracing::warn!(instance = %name, error = %err.chain(), "could not remove the forge runner; the orphan scan will retry");
        }
    }
    ctx.store.delete_instance_row(name).await.map_err(|e| fail(e.into()))?;
    tracing::info!(instance = %name, pool = %pool.id, "instance deleted");
    Ok(Some(pool.id))
}
