//! The pool reconcile: size the pool and drive its instances' transitions.

use super::dispatch::{Decision, NotHeld, Reconciled};
use super::QUEUE_WINDOW;
use crate::act;
use crate::plan::{self, PoolView, Step};
use crate::wake::Planned;
use crate::Ctx;
use garm_model::{InstanceName, PoolId};
use garm_store::{EntityRecord, JobRecord, PoolRecord, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Reconciles one pool; `not_held` says whether a replica holding its entity is told. The decision is the pool's next deadline ([`crate::wake::pool_delay`]).
pub(super) async fn reconcile(ctx: &Arc<Ctx>, id: &PoolId, not_held: NotHeld) -> Reconciled {
    match pass(ctx, id, not_held).await {
        Ok(reconciled) => reconciled,
        Err(err) => Decision::failed(err).into(),
    }
}

async fn pass(ctx: &Arc<Ctx>, id: &PoolId, not_held: NotHeld) -> Result<Reconciled, StoreError> {
    let pool = ctx.store.pool(id).await?;
    if !ctx.store.holds_entity(&pool.entity_id) {
        if not_held == NotHeld::Forward {
            ctx.store.notify_peers(&format!("pool:{id}"));
        }
        // Not ours: due again only at the idle resync (the keeper nudges it when it takes
        // the entity's lease), not at every tick.
        return Ok(Decision::Done.into());
    }
    let entity = ctx.store.entity_any(&pool.entity_id).await?;
    let view = observe(ctx, pool, &entity).await?;
    let steps = plan::pool(&view, &ctx.settings);
    let planned = if steps.is_empty() {
        Planned::Nothing
    } else {
        Planned::Steps
    };
    let delay = crate::wake::pool_delay(&view, planned, &ctx.settings);
    let reconciled = Reconciled {
        decision: if delay == Duration::MAX {
            Decision::Done
        } else {
            Decision::RequeueAfter(delay)
        },
        provider: crate::wake::pool_suspect(&view),
    };
    act_on(ctx, &view.pool, &entity, steps).await;
    Ok(reconciled)
}

/// What the pool's plan looks at: its instances, the queued jobs it could take (or, for a
/// scale set, the service's assigned count) and which instances are busy or backing off.
async fn observe(ctx: &Ctx, pool: PoolRecord, entity: &EntityRecord) -> Result<PoolView, StoreError> {
    let instances = ctx.store.pool_instances_brief(&pool.id).await?;
    // Queued jobs this pool could take (more than its max_runners changes nothing), and
    // which of the jobs its instances were created for still wait.
    // A scale set's pool takes no webhook jobs: it is sized by the service's assigned count.
    let (scale_set_target, queued_matching) = match pool.scale_set_id {
        Some(scale_set) => {
            let desired = ctx.store.scale_set_desired(scale_set).await?;
            let target = plan::scale_set_target(pool.min_idle_runners, desired, pool.max_runners);
            (Some(target), 0)
        }
        None => {
            let queued: Vec<JobRecord> = ctx.store.queued_jobs_of(&entity.id, 0, QUEUE_WINDOW).await?;
            (None, plan::queued_matching(&pool, &queued))
        }
    };
    let served: Vec<i64> = instances
        .iter()
        .filter_map(|i| crate::job_of(&i.extra_labels))
        .collect();
    let queued_ids = ctx.store.queued_among(&served).await?;
    let inflight: HashSet<InstanceName> = instances
        .iter()
        .filter(|i| ctx.is_inflight(&i.name))
        .map(|i| i.name.clone())
        .collect();
    let backing_off: HashSet<InstanceName> = instances
        .iter()
        .filter(|i| !ctx.may_retry(&i.name))
        .map(|i| i.name.clone())
        .collect();
    Ok(PoolView {
        pool,
        instances,
        queued_matching,
        queued_ids,
        inflight,
        backing_off,
        scale_set_target,
        now: chrono::Utc::now(),
    })
}

/// Carries out the plan's steps: creates inline, the lifecycle steps as tasks.
async fn act_on(ctx: &Arc<Ctx>, pool: &PoolRecord, entity: &EntityRecord, steps: Vec<Step>) {
    for step in steps {
        match step {
            Step::Create { count } => {
                if !entity.pool_manager_running {
                    continue;
                }
                if let Some(scale_set) = pool.scale_set_id {
                    crate::scaleset::creating(ctx, scale_set);
                }
                for _ in 0..count {
                    match act::create_instance(ctx, pool, None).await {
                        Ok(name) => tracing::info!(pool = %pool.id, instance = %name, "topping up idle runners"),
                        Err(err) => {
                            tracing::warn!(pool = %pool.id, error = %err.chain(), "could not top up idle runners");
                            break;
                        }
                    }
                }
            }
            Step::Provision { name } => act::spawn_provision(ctx, &name),
            Step::Retry { name } => act::spawn_retry(ctx, &name),
            Step::Interrupted { name } => {
                if let Err(err) = act::interrupted(ctx, &name).await {
                    tracing::warn!(instance = %name, error = %err.chain(), "recovering an interrupted create failed");
                }
            }
            Step::Delete { name } => act::spawn_delete(ctx, &name),
            Step::Reap { name, reason } => {
                let ctx2 = ctx.clone();
                ctx.tasks.spawn(async move {
                    if let Err(err) = act::reap(&ctx2, &name, &reason).await {
                        tracing::warn!(instance = %name, error = %err.chain(), "reaping failed");
                    }
                });
            }
            Step::ScaleDown { name } => {
                let ctx2 = ctx.clone();
                ctx.tasks.spawn(async move {
                    if let Err(err) = act::scale_down(&ctx2, &name).await {
                        tracing::warn!(instance = %name, error = %err.chain(), "scale down failed");
                    }
                });
            }
        }
    }
}
