//! The scheduler: one loop that coalesces nudges and timer ticks into reconciles of
//! entities (match queued jobs to pools) and pools (size them, drive transitions).
//!
//! Reconciles run one at a time, so two passes never plan against the same state;
//! their slow steps (provider and forge calls) run as tracked background tasks.

use crate::act;
use crate::plan::{self, EntityView, JobStep, PoolView, Step};
use crate::{Ctx, Key};
use garm_model::InstanceStatus;
use garm_store::{EntityRecord, JobRecord, StoreError, Transition};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs until `ctx.shutdown` is cancelled, then waits for in-flight steps.
///
/// Nudges are reconciled at once. Every `resync` tick reconciles only what is due (see
/// [`crate::wake`]): pools with pending work, pools and entities whose deadline or safety-net
/// period has come, entities with queued jobs or a failing forge; and starts the orphan scans
/// and delivery-log reads that are due. The first tick after a start reconciles everything.
pub async fn run(ctx: Arc<Ctx>, mut rx: UnboundedReceiver<Key>) {
    let mut dirty: BTreeSet<(u8, String)> = BTreeSet::new();
    let mut tick = tokio::time::interval(ctx.settings.resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let scanning = Arc::new(AtomicBool::new(false));
    let missed_running = Arc::new(AtomicBool::new(false));
    let mut last_listing: Option<Instant> = None;
    // Nudges made here (webhooks, the API): if another replica holds the work, it is told.
    let mut nudged: HashSet<(u8, String)> = HashSet::new();
    // Nudges other replicas made for work this one may hold (see `Store::subscribe_peers`).
    let mut peers = ctx.store.subscribe_peers();
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            key = rx.recv() => match key {
                Some(key) => {
                    nudged.insert(slot(&key));
                    insert(&ctx, &mut dirty, key)
                }
                None => break,
            },
            Some(topic) = from_peer(&mut peers) => {
                if let Some(key) = peer_key(&topic) {
                    insert(&ctx, &mut dirty, key);
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if last_listing.is_none_or(|at| now.duration_since(at) >= ctx.settings.idle_resync) {
                    match everything(&ctx, &mut dirty, last_listing.is_none()).await {
                        Ok(()) => last_listing = Some(now),
                        Err(err) => tracing::warn!(error = %err, "listing entities and pools failed"),
                    }
                }
                let now = Instant::now();
                dirty.extend(ctx.schedule.due(now));
                if let Err(err) = waiting_entities(&ctx, &mut dirty).await {
                    tracing::warn!(error = %err, "listing queued jobs failed");
                }
                if !scanning.load(Ordering::SeqCst) {
                    let due = ctx.schedule.orphans_due(now, &ctx.settings);
                    if !due.is_empty() {
                        scanning.store(true, Ordering::SeqCst);
                        let ctx2 = ctx.clone();
                        let flag = scanning.clone();
                        ctx.tasks.spawn(async move {
                            crate::scheduler::orphans(&ctx2, &due).await;
                            flag.store(false, Ordering::SeqCst);
                        });
                    }
                }
                if !missed_running.load(Ordering::SeqCst) {
                    let due = ctx.schedule.missed_due(now);
                    if !due.is_empty() {
                        missed_running.store(true, Ordering::SeqCst);
                        let ctx2 = ctx.clone();
                        let flag = missed_running.clone();
                        ctx.tasks.spawn(async move {
                            crate::missed::scan_entities(&ctx2, Some(&due)).await;
                            flag.store(false, Ordering::SeqCst);
                        });
                    }
                }
            }
        }
        while let Ok(key) = rx.try_recv() {
            nudged.insert(slot(&key));
            insert(&ctx, &mut dirty, key);
        }
        // Entities first: matching jobs creates instances the pool passes then drive.
        while let Some((kind, id)) = dirty.pop_first() {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            let forward = nudged.remove(&(kind, id.clone()));
            let result = if kind == 0 {
                let result = reconcile_entity(&ctx, &id, forward).await;
                ctx.schedule.entity_checked(&id, &ctx.settings);
                result
            } else {
                let result = reconcile_pool(&ctx, &id, forward).await;
                if result.is_err() {
                    ctx.schedule.pool_failed(&id, &ctx.settings);
                }
                result
            };
            if let Err(err) = result {
                if err.is_lease_lost() {
                    // Taken over mid-pass: the new holder does this work; nothing was written.
                    tracing::info!(key = %id, error = %err, "reconcile dropped");
                } else if err.is_not_found() {
                    if kind == 0 {
                        ctx.schedule.forget_entity(&id);
                    } else {
                        ctx.schedule.forget_pool(&id);
                    }
                } else {
                    tracing::warn!(key = %id, error = %err, "reconcile failed");
                }
            }
        }
    }
    ctx.tasks.close();
    ctx.tasks.wait().await;
}

/// The dirty-set entry of `key`.
fn slot(key: &Key) -> (u8, String) {
    match key {
        Key::Entity(id) => (0, id.clone()),
        Key::Pool(id) => (1, id.clone()),
    }
}

/// The next nudge from another replica; never ends without peers (SQLite).
async fn from_peer(peers: &mut Option<tokio::sync::broadcast::Receiver<String>>) -> Option<String> {
    let Some(rx) = peers else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(topic) => return Some(topic),
            // Missed some: the timers catch up.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

fn peer_key(topic: &str) -> Option<Key> {
    match topic.split_once(':')? {
        ("entity", id) => Some(Key::Entity(id.to_string())),
        ("pool", id) => Some(Key::Pool(id.to_string())),
        _ => None,
    }
}

fn insert(ctx: &Ctx, dirty: &mut BTreeSet<(u8, String)>, key: Key) {
    match key {
        Key::Entity(id) => {
            // Activity on an entity: its webhook delivery log is read at the base cadence again.
            ctx.schedule.register_entity(&id, &ctx.settings);
            ctx.schedule.entity_active(&id, &ctx.settings);
            dirty.insert((0, id))
        }
        Key::Pool(id) => dirty.insert((1, id)),
    };
}

/// Lists every entity and pool: the first time (`all`) they are all reconciled; afterwards only
/// those the scheduler has not seen (a nudge was lost), and those that are gone are forgotten.
async fn everything(ctx: &Ctx, dirty: &mut BTreeSet<(u8, String)>, all: bool) -> Result<(), StoreError> {
    let entities = ctx.store.all_entities().await?;
    let pools = ctx.store.pools_and_scale_sets(None).await?;
    for e in &entities {
        ctx.schedule.register_entity(&e.id, &ctx.settings);
        if all || !ctx.schedule.knows(false, &e.id) {
            dirty.insert((0, e.id.clone()));
        }
    }
    for p in &pools {
        if all || !ctx.schedule.knows(true, &p.id) {
            dirty.insert((1, p.id.clone()));
        }
    }
    ctx.schedule.retain(
        &pools.iter().map(|p| p.id.clone()).collect(),
        &entities.iter().map(|e| e.id.clone()).collect(),
    );
    Ok(())
}

/// Entities with queued jobs (matching them is time-bound: the minimum job age) or a failing
/// forge (retried with their own backoff) are looked at every tick.
async fn waiting_entities(ctx: &Ctx, dirty: &mut BTreeSet<(u8, String)>) -> Result<(), StoreError> {
    for id in ctx.store.entities_with_queued_jobs().await? {
        dirty.insert((0, id));
    }
    let failing: Vec<String> = ctx
        .backoff
        .lock()
        .expect("backoff lock is never poisoned")
        .keys()
        .filter_map(|k| k.strip_prefix("entity:").map(str::to_string))
        .collect();
    for id in failing {
        dirty.insert((0, id));
    }
    Ok(())
}

/// Keeps the entity's pool manager status current: running once runner downloads are
/// known, failing (with the forge's reason) when credentials or the forge fail.
async fn ensure_forge(ctx: &Arc<Ctx>, entity: &EntityRecord) -> bool {
    // A failing entity is retried with backoff (5 s doubling, at most a minute), not every pass.
    let key = format!("entity:{}", entity.id);
    if !entity.pool_manager_running && !entity.failure_reason.is_empty() && !ctx.may_retry(&key) {
        return false;
    }
    match ctx.forges.tools(&ctx.store, entity, ctx.settings.tools_ttl).await {
        Ok(_) => {
            ctx.clear_backoff(&key);
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
            true
        }
        Err(err) => {
            ctx.record_failure_capped(&key, std::time::Duration::from_secs(60));
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
            false
        }
    }
}

/// Most queued jobs one entity pass reads. A larger backlog is read in turns (each pass
/// starts after the last job the previous one read, and wraps around), so memory and the
/// cost of a pass stay bounded however many jobs wait, and every job is looked at within
/// backlog / window passes.
pub const QUEUE_WINDOW: usize = 2000;

/// The next window of the entity's queued jobs; advances the entity's cursor.
async fn queued_window(ctx: &Ctx, entity_id: &str) -> Result<Vec<JobRecord>, StoreError> {
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
        .insert(entity_id.to_string(), next);
    Ok(jobs)
}

/// `forward`: the key was nudged here; if another replica holds the work, it is told.
async fn reconcile_entity(ctx: &Arc<Ctx>, id: &str, forward: bool) -> Result<(), StoreError> {
    // Another replica holds this entity's work (see [`crate::leases`]).
    if !ctx.store.holds_entity(id) {
        if forward {
            ctx.store.notify_peers(&format!("entity:{id}"));
        }
        return Ok(());
    }
    let entity = ctx.store.entity_any(id).await?;
    let queued: Vec<JobRecord> = queued_window(ctx, &entity.id).await?;
    let healthy = ensure_forge(ctx, &entity).await;
    if queued.is_empty() || !healthy {
        return Ok(());
    }
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
        queued: queued.clone(),
        min_job_age: Duration::from_secs(u64::from(controller.minimum_job_age_backoff)),
        now: chrono::Utc::now(),
        turn,
        max_create_attempts: ctx.settings.max_create_attempts,
    };
    let (steps, turn) = plan::jobs(&view);
    ctx.turns.lock().expect("turns lock").insert(id.to_string(), turn);
    let by_id: QueuedJobs = queued.iter().map(|j| (j.workflow_job_id, j)).collect();
    // Jobs served from the same pool are created together (one transaction) from what
    // provisioning needs, read once per pool.
    let mut by_pool: Vec<(String, Vec<&JobRecord>)> = Vec::new();
    for step in steps {
        match step {
            JobStep::CreateFor {
                workflow_job_id,
                pool_id,
            } => {
                let Some(job) = by_id.get(&workflow_job_id).copied() else {
                    continue;
                };
                match by_pool.iter_mut().find(|(p, _)| *p == pool_id) {
                    Some((_, jobs)) => jobs.push(job),
                    None => by_pool.push((pool_id, vec![job])),
                }
            }
            JobStep::Reason {
                workflow_job_id,
                reason,
            } => set_reason(ctx, &by_id, workflow_job_id, &reason).await?,
        }
    }
    for (pool_id, jobs) in by_pool {
        let Some((pool, _)) = view.pools.iter().find(|(p, _)| p.id == pool_id) else {
            continue;
        };
        let created = match act::prepare(ctx, pool, &entity, &controller).await {
            Ok(prep) => act::create_for_jobs(ctx, &prep, &jobs).await,
            Err(err) => Err(err),
        };
        let placed = match created {
            Ok(placed) => placed,
            Err(act::StepError::Store(err)) if err.is_conflict() => vec![act::JobPlacement::PoolFull; jobs.len()],
            Err(err) => {
                tracing::warn!(pool = %pool_id, jobs = jobs.len(), error = %err.chain(), "could not create instances for jobs");
                continue;
            }
        };
        for (job, placement) in jobs.iter().zip(placed) {
            let id = job.workflow_job_id;
            match placement {
                act::JobPlacement::Created(name) => {
                    tracing::info!(job_id = id, pool = %pool_id, instance = %name, "pool chosen for job");
                    set_reason(ctx, &by_id, id, "").await?;
                }
                act::JobPlacement::PoolFull => {
                    set_reason(
                        ctx,
                        &by_id,
                        id,
                        "every matching pool is at max_runners; waiting for room",
                    )
                    .await?
                }
                // Its reason column is written only while queued: nothing to record.
                act::JobPlacement::JobNotQueued => {}
            }
        }
    }
    Ok(())
}

/// Records why a queued job waits (or that it no longer does). Only the reason column of
/// a still-queued row is written: a copy of the whole row read before a `completed`
/// webhook was recorded would otherwise make the job look queued again.
async fn set_reason(ctx: &Ctx, queued: &QueuedJobs<'_>, id: i64, reason: &str) -> Result<(), StoreError> {
    if let Some(job) = queued.get(&id) {
        if job.reason != reason && ctx.store.set_queued_job_reason(id, reason).await? && !reason.is_empty() {
            tracing::info!(job_id = id, reason, "job waiting");
        }
    }
    Ok(())
}

/// An entity pass's queued jobs by workflow job id.
type QueuedJobs<'a> = std::collections::HashMap<i64, &'a JobRecord>;

async fn reconcile_pool(ctx: &Arc<Ctx>, id: &str, forward: bool) -> Result<(), StoreError> {
    let pool = ctx.store.pool(id).await?;
    if !ctx.store.holds_entity(&pool.entity_id) {
        if forward {
            ctx.store.notify_peers(&format!("pool:{id}"));
        }
        // Not ours: due again only at the idle resync (the keeper nudges it when it takes
        // the entity's lease), not at every tick.
        ctx.schedule
            .pool_checked(id, ctx.settings.idle_resync, false, &ctx.settings);
        return Ok(());
    }
    let instances = ctx.store.pool_instances_brief(id).await?;
    let entity = ctx.store.entity_any(&pool.entity_id).await?;
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
            let tags: Vec<&str> = pool.tags.iter().map(|t| t.name.as_str()).collect();
            let matching = queued
                .iter()
                .filter(|j| garm_model::job_matches_pool(&j.labels, &tags))
                .count() as u32;
            (None, matching)
        }
    };
    let served: Vec<i64> = instances
        .iter()
        .filter_map(|i| crate::job_of(&i.extra_labels))
        .collect();
    let queued_ids = ctx.store.queued_among(&served).await?;
    let inflight: HashSet<String> = instances
        .iter()
        .filter(|i| ctx.is_inflight(&i.name))
        .map(|i| i.name.clone())
        .collect();
    let backing_off: HashSet<String> = instances
        .iter()
        .filter(|i| !ctx.may_retry(&i.name))
        .map(|i| i.name.clone())
        .collect();
    let view = PoolView {
        pool: pool.clone(),
        instances,
        queued_matching,
        queued_ids,
        inflight,
        backing_off,
        scale_set_target,
        now: chrono::Utc::now(),
    };
    let steps = plan::pool(&view, &ctx.settings);
    let delay = crate::wake::pool_delay(&view, !steps.is_empty(), &ctx.settings);
    ctx.schedule
        .pool_checked(&pool.id, delay, crate::wake::pool_suspect(&view), &ctx.settings);
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
                    match act::create_instance(ctx, &pool, None).await {
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
    Ok(())
}

/// Cleans up both sides for each of `entity_ids`: provider instances of this controller the
/// store does not know, forge runners of this controller no instance backs, and instances whose
/// runner the forge no longer knows (a `completed` webhook was lost).
///
/// One forge call per entity; a provider list per pool only when [`crate::wake::Schedule::should_list`]
/// says so (after a start, after a failed provider call, when the forge reports a runner of the
/// pool offline, and every `provider_scan`).
pub async fn orphans(ctx: &Arc<Ctx>, entity_ids: &[String]) {
    for id in entity_ids {
        if ctx.shutdown.is_cancelled() {
            return;
        }
        // Only the lease holder compares the forge and the providers with the store.
        if !ctx.store.holds_entity(id) {
            continue;
        }
        let Ok(entity) = ctx.store.entity_any(id).await else {
            continue;
        };
        orphans_of(ctx, &entity).await;
    }
    ctx.schedule.orphans_finished();
}

async fn orphans_of(ctx: &Arc<Ctx>, entity: &EntityRecord) {
    let Ok(instances) = ctx.store.entity_instances(&entity.id).await else {
        return;
    };
    let forge = ctx.forges.for_entity(&ctx.store, entity).await.ok();
    let runners = match &forge {
        Some(forge) => match forge.runners().await {
            Ok(runners) => Some(runners),
            Err(err) => {
                ctx.forges.note_error(&entity.id, &err);
                None
            }
        },
        None => None,
    };
    if let Ok(pools) = ctx.store.pools_and_scale_sets(Some(&entity.id)).await {
        let settle = chrono::Duration::seconds(30);
        for pool in &pools {
            let Some(provider) = ctx.provider(&pool.provider_name) else {
                continue;
            };
            let known: Vec<garm_store::InstanceRecord> =
                instances.iter().filter(|i| i.pool_id == pool.id).cloned().collect();
            // A runner that came up is offline on the forge: its machine may be gone.
            let hint = runners.as_ref().is_some_and(|runners| {
                known.iter().any(|i| {
                    i.status == InstanceStatus::Running
                        && matches!(
                            i.runner_status,
                            garm_model::RunnerStatus::Idle | garm_model::RunnerStatus::Active
                        )
                        && chrono::Utc::now() - i.updated_at > settle
                        && runners
                            .iter()
                            .any(|r| !r.online && (r.name == i.name || (i.agent_id != 0 && r.id == i.agent_id)))
                })
            });
            if !ctx.schedule.should_list(&pool.id, hint, &ctx.settings) {
                continue;
            }
            match provider
                .list(garm_provider::PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
                .await
            {
                Ok(listed) => {
                    ctx.schedule.listed(&pool.id);
                    lost_instances(ctx, &known, &listed).await;
                    for orphan in listed.iter().filter(|p| {
                        !known
                            .iter()
                            .any(|k| k.name == p.name || k.provider_id.as_deref() == Some(p.provider_id.as_str()))
                    }) {
                        // Re-read: the instance may have been created since the list.
                        if ctx.store.instance(&orphan.name).await.is_ok() {
                            continue;
                        }
                        tracing::warn!(pool = %pool.id, provider_instance = %orphan.name, "deleting a provider instance the store does not know");
                        crate::logged(
                            "deleting a provider instance the store does not know",
                            "the next provider scan tries again",
                            provider
                                .delete(
                                    &orphan.provider_id,
                                    garm_provider::PoolRef::new(&pool.id, pool.extra_specs.as_deref()),
                                )
                                .await,
                        );
                    }
                }
                Err(err) => tracing::debug!(pool = %pool.id, error = %err, "listing provider instances failed"),
            }
        }
    }
    let (Some(forge), Some(runners)) = (forge, runners) else {
        return;
    };
    let ours = crate::controller_label(&ctx.controller_id);
    for runner in runners.iter().filter(|r| r.labels.iter().any(|l| l == &ours)) {
        let backed = instances
            .iter()
            .any(|i| i.name == runner.name || (i.agent_id != 0 && i.agent_id == runner.id));
        if !backed && !runner.busy && ctx.store.instance(&runner.name).await.is_err() {
            tracing::warn!(entity = %entity.display_name(), runner = %runner.name, "removing a forge runner no instance backs");
            crate::logged(
                "removing a forge runner no instance backs",
                "the next orphan scan tries again",
                forge.remove_runner(runner.id).await,
            );
        }
    }
    // Long enough that a runner registered after the list above was read is not taken for gone.
    let grace = chrono::Duration::from_std(ctx.settings.orphan_scan.saturating_mul(2))
        .unwrap_or(chrono::Duration::MAX)
        .clamp(chrono::Duration::seconds(30), chrono::Duration::seconds(120));
    for i in instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && chrono::Utc::now() - i.updated_at > grace)
    {
        let known = runners
            .iter()
            .any(|r| r.name == i.name || (i.agent_id != 0 && r.id == i.agent_id));
        let registered = i.agent_id != 0
            || !matches!(
                i.runner_status,
                garm_model::RunnerStatus::Pending | garm_model::RunnerStatus::Installing
            );
        if !known && registered && !ctx.is_inflight(&i.name) {
            tracing::warn!(instance = %i.name, "the forge no longer knows this runner; deleting the instance");
            mark_gone(ctx, i).await;
        }
    }
}

/// Instances the store thinks are running but the provider lists as gone, stopped or
/// failed (a VM deleted or a container killed from outside): their runner cannot take
/// a job any more, so they are deleted and the pool refills to its minimum.
async fn lost_instances(
    ctx: &Arc<Ctx>,
    known: &[garm_store::InstanceRecord],
    listed: &[garm_provider::ProviderInstance],
) {
    let settle = chrono::Duration::seconds(30);
    for i in known
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && chrono::Utc::now() - i.updated_at > settle)
    {
        if ctx.is_inflight(&i.name) {
            continue;
        }
        let seen = listed
            .iter()
            .find(|p| p.name == i.name || i.provider_id.as_deref() == Some(p.provider_id.as_str()));
        let reason = match seen {
            None => "the provider no longer has this instance".to_string(),
            Some(p) if p.status == garm_provider::ProviderStatus::Running => continue,
            Some(p) => format!("the provider reports the instance {}", p.status.as_str()),
        };
        tracing::warn!(instance = %i.name, reason, "instance lost outside garm; replacing it");
        crate::logged(
            "recording why an instance is replaced",
            "the event is informational; the reason is logged above",
            ctx.store.add_instance_event(&i.id, "status", "warning", &reason).await,
        );
        mark_gone(ctx, i).await;
    }
}

/// Marks an instance whose runner or machine vanished outside garm for deletion and
/// nudges its pool (which deletes it and refills to the minimum).
async fn mark_gone(ctx: &Arc<Ctx>, i: &garm_store::InstanceRecord) {
    crate::logged(
        "marking a vanished instance for deletion",
        "the next orphan scan finds it gone again and retries",
        ctx.store
            .modify_instance(&i.name, Transition::Forced, |r| {
                r.runner_status = garm_model::RunnerStatus::Terminated;
                r.status = InstanceStatus::PendingDelete;
            })
            .await,
    );
    ctx.nudge.pool(&i.pool_id);
}
