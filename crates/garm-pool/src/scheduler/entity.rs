//! The entity reconcile: match the entity's queued jobs to its pools and create the
//! instances the plan chose, recording why the others wait.

use super::dispatch::{Decision, NotHeld};
use crate::act;
use crate::forge::Equipped;
use crate::plan::{self, EntityView, JobVerdict};
use crate::Ctx;
use garm_model::EntityId;
use garm_store::{ControllerRecord, EntityRecord, JobRecord, PoolRecord, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Keeps the entity's pool manager status current: running once runner downloads are
/// known, failing (with the forge's reason) when credentials or the forge fail.
///
/// Returns the entity's forge side (client, endpoint, runner downloads), read once for the
/// whole pass, or `None` while it fails.
async fn ensure_forge(ctx: &Arc<Ctx>, entity: &EntityRecord) -> Option<Equipped> {
    // A failing entity is retried with backoff (5 s doubling, at most a minute), not every pass.
    let key = &entity.id;
    if !entity.pool_manager_running && !entity.failure_reason.is_empty() && !ctx.may_retry(key) {
        return None;
    }
    match ctx.forges.equipped(&ctx.store, entity, ctx.settings.tools_ttl).await {
        Ok(equipped) => {
            ctx.clear_backoff(key);
            if !entity.pool_manager_running {
                // Both only report: an unrecorded status is written again by the next pass,
                // which still finds it stale.
                crate::logged(
                    "recording the pool manager as running",
                    "the next entity pass writes it again",
                    ctx.store.set_pool_manager_status(&entity.id, true, "").await,
                );
                crate::logged(
                    "recording the pool manager's start event",
                    "the event is informational",
                    ctx.store
                        .add_entity_event(
                            &entity.id,
                            "status",
                            "info",
                            "pool manager running: runner downloads fetched",
                        )
                        .await,
                );
                tracing::info!(entity = %entity.display_name(), "pool manager running");
            }
            Some(equipped)
        }
        Err(err) => {
            ctx.record_failure_capped(key, std::time::Duration::from_secs(60));
            let reason = err.chain();
            if entity.pool_manager_running || entity.failure_reason != reason {
                crate::logged(
                    "recording the pool manager as failing",
                    "the next entity pass, after its backoff, writes it again",
                    ctx.store.set_pool_manager_status(&entity.id, false, &reason).await,
                );
                crate::logged(
                    "recording the pool manager's failure event",
                    "the event is informational; the reason is logged below",
                    ctx.store.add_entity_event(&entity.id, "status", "error", &reason).await,
                );
                tracing::warn!(entity = %entity.display_name(), error = %reason, "pool manager failing");
            }
            None
        }
    }
}

/// Most queued jobs one entity pass reads. A larger backlog is read in turns (each pass
/// starts after the last job the previous one read, and wraps around), so memory and the
/// cost of a pass stay bounded however many jobs wait, and every job is looked at within
/// backlog / window passes.
pub const QUEUE_WINDOW: usize = 2000;

/// The next window of the entity's queued jobs; advances the entity's cursor.
async fn queued_window(ctx: &Ctx, entity_id: &EntityId) -> Result<Vec<JobRecord>, StoreError> {
    let after = *ctx
        .queue_cursor
        .lock()
        .expect("cursor lock")
        .get(entity_id)
        .unwrap_or(&0);
    let mut jobs = ctx.store.queued_jobs_of(entity_id, after, QUEUE_WINDOW).await?;
    if jobs.is_empty() && after > 0 {
        jobs = ctx.store.queued_jobs_of(entity_id, 0, QUEUE_WINDOW).await?;
    }
    let next = if jobs.len() < QUEUE_WINDOW {
        0
    } else {
        jobs.last().map_or(0, |j| j.id)
    };
    ctx.queue_cursor
        .lock()
        .expect("cursor lock")
        .insert(entity_id.clone(), next);
    Ok(jobs)
}

/// Reconciles one entity; `not_held` says whether a replica holding it is told. An entity is looked at again at the idle resync ([`Decision::Done`]);
/// one with queued jobs or a failing forge is made dirty at every tick anyway.
pub async fn reconcile(ctx: &Arc<Ctx>, id: &EntityId, not_held: NotHeld) -> Decision {
    match pass(ctx, id, not_held).await {
        Ok(()) => Decision::Done,
        Err(err) => Decision::failed(err),
    }
}

async fn pass(ctx: &Arc<Ctx>, id: &EntityId, not_held: NotHeld) -> Result<(), StoreError> {
    // Another replica holds this entity's work (see [`crate::leases`]).
    if !ctx.store.holds_entity(id) {
        if not_held == NotHeld::Forward {
            ctx.store.notify_peers(&format!("entity:{id}"));
        }
        return Ok(());
    }
    let entity = ctx.store.entity_any(id).await?;
    let queued: Vec<JobRecord> = queued_window(ctx, &entity.id).await?;
    let equipped = ensure_forge(ctx, &entity).await;
    let Some(equipped) = equipped.filter(|_| !queued.is_empty()) else {
        return Ok(());
    };
    let mut pools = Vec::new();
    for p in ctx.store.pools(Some(id)).await? {
        let instances = ctx.store.pool_instances_brief(&p.id).await?;
        pools.push((p, instances));
    }
    let controller = ctx.store.controller().await?;
    let turn = *ctx.turns.lock().expect("turns lock").get(id).unwrap_or(&0);
    let view = EntityView {
        display_name: entity.display_name(),
        balancer: entity.balancer,
        pools,
        queued,
        min_job_age: Duration::from_secs(u64::from(controller.minimum_job_age_backoff)),
        now: chrono::Utc::now(),
        turn,
        max_create_attempts: ctx.settings.max_create_attempts,
    };
    let plan = plan::jobs(&view);
    ctx.turns.lock().expect("turns lock").insert(id.clone(), plan.turn);
    // Jobs served from the same pool are created together (one transaction) from what
    // provisioning needs, read once per pool; oldest job first.
    let mut by_pool: Vec<(&str, Vec<&JobRecord>)> = Vec::new();
    for job in &view.queued {
        match plan.verdicts.get(&job.workflow_job_id) {
            Some(JobVerdict::Create { pool_id }) => match by_pool.iter_mut().find(|(p, _)| p == pool_id) {
                Some((_, jobs)) => jobs.push(job),
                None => by_pool.push((pool_id, vec![job])),
            },
            Some(verdict) => {
                if let Some(reason) = verdict.reason() {
                    set_reason(ctx, job, reason).await?;
                }
            }
            None => {}
        }
    }
    for (pool_id, jobs) in by_pool {
        if let Some((pool, _)) = view.pools.iter().find(|(p, _)| p.id == *pool_id) {
            create_in_pool(ctx, pool, &entity, &controller, &equipped, &jobs).await?;
        }
    }
    Ok(())
}

/// Creates one instance per job in `pool`, in one transaction, and records each job's
/// outcome: its reason cleared, or "waiting for room" when the pool filled meanwhile. A
/// failure to create is logged and leaves the jobs for the next pass.
async fn create_in_pool(
    ctx: &Arc<Ctx>,
    pool: &PoolRecord,
    entity: &EntityRecord,
    controller: &ControllerRecord,
    equipped: &Equipped,
    jobs: &[&JobRecord],
) -> Result<(), StoreError> {
    let created = match act::prepare(ctx, pool, entity, controller, equipped).await {
        Ok(prep) => act::create_for_jobs(ctx, &prep, jobs).await,
        Err(err) => Err(err),
    };
    let placed = match created {
        Ok(placed) => placed,
        Err(act::StepError::Store(err)) if err.is_conflict() => vec![act::JobPlacement::PoolFull; jobs.len()],
        Err(err) => {
            tracing::warn!(pool = %pool.id, jobs = jobs.len(), error = %err.chain(), "could not create instances for jobs");
            return Ok(());
        }
    };
    for (job, placement) in jobs.iter().zip(placed) {
        let id = job.workflow_job_id;
        match placement {
            act::JobPlacement::Created(name) => {
                tracing::info!(job_id = id, pool = %pool.id, instance = %name, "pool chosen for job");
                set_reason(ctx, job, "").await?;
            }
            act::JobPlacement::PoolFull => set_reason(ctx, job, plan::WAITING_FOR_ROOM).await?,
            // Its reason column is written only while queued: nothing to record.
            act::JobPlacement::JobNotQueued => {}
        }
    }
    Ok(())
}

/// Records why a queued job waits (or that it no longer does). Only the reason column of
/// a still-queued row is written: a copy of the whole row read before a `completed`
/// webhook was recorded would otherwise make the job look queued again.
/// `job` is one this pass read as queued; the reason is the plan's.
async fn set_reason(ctx: &Ctx, job: &JobRecord, reason: &str) -> Result<(), StoreError> {
    let id = job.workflow_job_id;
    if job.reason != reason && ctx.store.set_queued_job_reason(id, reason).await? && !reason.is_empty() {
        tracing::info!(job_id = id, reason, "job waiting");
    }
    Ok(())
}
