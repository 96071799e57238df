//! The listeners: a supervisor that starts, restarts and stops one per enabled scale set, and
//! the listener itself (session, long poll, message handling, acknowledgement).

use super::{apply_runner_facts, consolidate, ensure_in_service, job_record, Running};
use crate::step::StepError;
use crate::Ctx;
use garm_forge::actions::{ActionsClient, Message, Session};
use garm_store::{ScaleSetProgress, ScaleSetRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the supervisor compares the running listeners with the stored scale sets.
const SUPERVISE_EVERY: Duration = Duration::from_secs(2);
/// A queue token this close to its expiry is refreshed before the next poll.
const REFRESH_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
const BACKOFF_FIRST: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Runs until shutdown: keeps one listener per enabled scale set of an entity whose forge
/// works, restarts a listener whose scale set changed (name, capacity, enabled) and stops the
/// listeners of deleted or disabled ones.
pub async fn run(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(SUPERVISE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        match ctx.store.scale_sets(None).await {
            Ok(sets) => supervise(&ctx, &sets),
            Err(err) => tracing::warn!(error = %err, "listing scale sets failed"),
        }
    }
    let running: Vec<CancellationToken> = ctx
        .scale_sets
        .running
        .lock()
        .expect("scale set lock")
        .drain()
        .map(|(_, r)| r.cancel)
        .collect();
    for cancel in running {
        cancel.cancel();
    }
}

fn fingerprint(s: &ScaleSetRecord) -> String {
    format!(
        "{}:{}:{}:{}",
        s.name, s.pool.max_runners, s.pool.entity_id, s.pool.runner_group
    )
}

fn supervise(ctx: &Arc<Ctx>, sets: &[ScaleSetRecord]) {
    let mut running = ctx.scale_sets.running.lock().expect("scale set lock");
    running.retain(|id, r| {
        // A listener runs only on the replica holding its entity's lease (one message session).
        let keep = sets.iter().any(|s| {
            s.id == *id
                && s.pool.enabled
                && fingerprint(s) == r.fingerprint
                && ctx.store.holds_entity(&s.pool.entity_id)
        });
        if !keep || r.cancel.is_cancelled() {
            r.cancel.cancel();
            return false;
        }
        true
    });
    for s in sets
        .iter()
        .filter(|s| s.pool.enabled && ctx.store.holds_entity(&s.pool.entity_id))
    {
        if let Some(r) = running.get_mut(&s.id) {
            let due = r
                .last_consolidation
                .is_none_or(|at| at.elapsed() >= ctx.settings.orphan_scan);
            if due {
                r.last_consolidation = Some(Instant::now());
                let (ctx2, set) = (ctx.clone(), s.clone());
                ctx.tasks.spawn(async move {
                    let Ok(entity) = ctx2.store.entity_any(&set.pool.entity_id).await else {
                        return;
                    };
                    match super::actions_for(&ctx2, &entity).await {
                        Ok(actions) => {
                            if let Err(err) = consolidate(&ctx2, &set, &actions).await {
                                tracing::debug!(scale_set = set.id, error = %err.chain(), "scale set consolidation failed");
                            }
                        }
                        Err(err) => tracing::debug!(scale_set = set.id, error = %err.chain(), "no Actions service"),
                    }
                });
            }
            continue;
        }
        let cancel = ctx.shutdown.child_token();
        running.insert(
            s.id,
            Running {
                fingerprint: fingerprint(s),
                cancel: cancel.clone(),
                last_consolidation: Some(Instant::now()),
            },
        );
        let ctx2 = ctx.clone();
        let id = s.id;
        ctx.tasks.spawn(async move { keep_alive(ctx2, id, cancel).await });
    }
}

/// Restarts the listener of scale set `id` after failures, with a growing delay.
async fn keep_alive(ctx: Arc<Ctx>, id: i64, cancel: CancellationToken) {
    let mut delay = BACKOFF_FIRST;
    while !cancel.is_cancelled() {
        let started = Instant::now();
        match listen(&ctx, id, &cancel).await {
            Ok(()) => break,
            Err(err) => {
                let message = err.chain();
                tracing::warn!(scale_set = id, error = %message, "scale set listener stopped; restarting");
                crate::logged(
                    "recording the listener's error on the scale set",
                    "the state is what the API shows; the listener restarts either way",
                    ctx.store.set_scale_set_state(id, "error", &message).await,
                );
                if let StepError::Store(e) = &err {
                    if e.is_not_found() {
                        break;
                    }
                }
            }
        }
        // A listener that ran for a while starts the backoff over.
        if started.elapsed() > BACKOFF_MAX {
            delay = BACKOFF_FIRST;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay.mul_f32(1.5)).min(BACKOFF_MAX);
    }
    cancel.cancel();
}

/// One listener run: make sure the service has the scale set, open a session, poll until
/// cancelled or an error. The session is closed on the way out, whatever happened.
async fn listen(ctx: &Arc<Ctx>, id: i64, cancel: &CancellationToken) -> Result<(), StepError> {
    let set = ctx.store.scale_set(id).await?;
    let entity = ctx.store.entity_any(&set.pool.entity_id).await?;
    let actions = super::actions_for(ctx, &entity).await?;
    let service_id = ensure_in_service(ctx, &set, &actions).await?;
    let owner = format!("garm-{}", ctx.controller_id);
    let mut session = match actions.create_session(service_id, &owner).await {
        Err(e) if e.is_scale_set_gone() => {
            // Gone between the check and the session: create it again on the next run.
            ctx.store.set_scale_set_service_id(id, 0, set.runner_group_id).await?;
            return Err(e.into());
        }
        other => other?,
    };
    let set = ctx.store.scale_set(id).await?;
    ctx.store.set_scale_set_state(id, "created", "").await?;
    tracing::info!(scale_set = id, name = %set.name, service_id, session = %session.id, "scale set listener started");
    let endpoint = ctx.store.endpoint(&entity.endpoint_name).await?;
    let result = poll(ctx, &set, &entity, &endpoint.base_url, &actions, &mut session, cancel).await;
    if let Err(err) = actions.delete_session(&session).await {
        tracing::debug!(scale_set = id, error = %err, "closing the message session failed");
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn poll(
    ctx: &Arc<Ctx>,
    set: &ScaleSetRecord,
    entity: &garm_store::EntityRecord,
    base_url: &str,
    actions: &ActionsClient,
    session: &mut Session,
    cancel: &CancellationToken,
) -> Result<(), StepError> {
    let mut last_id = set.last_message_id;
    let mut desired = set.desired_runner_count;
    let capacity = set.pool.max_runners;
    loop {
        let expiring = session
            .queue_token_expires_at
            .is_some_and(|at| at - REFRESH_MARGIN < chrono::Utc::now());
        if expiring {
            actions.refresh_session(session).await?;
        }
        let message = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            m = actions.get_message(session, last_id, capacity) => m?,
        };
        let Some(message) = message else { continue };
        let received = Instant::now();
        handle(
            ctx,
            set,
            entity,
            base_url,
            actions,
            session,
            &message,
            (&mut last_id, &mut desired),
            received,
        )
        .await?;
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    ctx: &Arc<Ctx>,
    set: &ScaleSetRecord,
    entity: &garm_store::EntityRecord,
    base_url: &str,
    actions: &ActionsClient,
    session: &mut Session,
    message: &Message,
    (last_id, desired): (&mut i64, &mut i64),
    received: Instant,
) -> Result<(), StepError> {
    if message.id <= *last_id {
        // Already handled (a redelivery, or one overtaken by a newer message): acknowledge only.
        ack(actions, session, message.id).await;
        return Ok(());
    }
    let mut progress = ScaleSetProgress {
        last_message_id: message.id,
        desired_runner_count: message.statistics.total_assigned_jobs,
        jobs: Vec::new(),
    };
    if message.kind != "RunnerScaleSetJobMessages" {
        tracing::warn!(scale_set = set.id, kind = %message.kind, "skipping a message of an unknown type");
    } else {
        let available: Vec<i64> = message
            .jobs
            .iter()
            .filter(|j| j.message_type == "JobAvailable")
            .map(|j| j.runner_request_id)
            .collect();
        let acquired = if available.is_empty() {
            Vec::new()
        } else {
            let started = Instant::now();
            let got = actions.acquire_jobs(session, &available).await;
            let scope = crate::metrics::scope(entity.kind);
            ctx.metrics
                .forge_call("AcquireJobs", scope, got.is_ok(), started.elapsed());
            got?
        };
        apply_runner_facts(ctx, &set.pool.id, &message.jobs).await?;
        progress.jobs = message
            .jobs
            .iter()
            .filter(|j| !j.job_id.is_empty())
            .filter(|j| j.message_type != "JobAvailable" || acquired.contains(&j.runner_request_id))
            .map(|j| job_record(set, entity, base_url, j))
            .collect();
    }
    // The count this listener last wrote: no read of the row per message.
    let before = *desired;
    ctx.store.record_scale_set_progress(set.id, &progress).await?;
    *last_id = message.id;
    *desired = progress.desired_runner_count;
    if progress.desired_runner_count > before {
        ctx.scale_sets
            .asked
            .lock()
            .expect("scale set lock")
            .entry(set.id)
            .or_insert(received);
    }
    tracing::debug!(
        scale_set = set.id,
        message = message.id,
        jobs = message.jobs.len(),
        desired = progress.desired_runner_count,
        "scale set message handled"
    );
    ctx.nudge.pool(&set.pool.id);
    ack(actions, session, message.id).await;
    Ok(())
}

/// Acknowledges a handled message; a failure only means it is delivered again, and the
/// cursor makes that a no-op.
async fn ack(actions: &ActionsClient, session: &mut Session, id: i64) {
    if let Err(err) = actions.delete_message(session, id).await {
        tracing::debug!(message = id, error = %err, "acknowledging a message failed");
    }
}
