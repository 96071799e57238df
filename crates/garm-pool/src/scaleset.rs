//! Runner scale sets: one listener per enabled scale set holds a message session with the
//! Actions service, long-polls its queue, records the jobs it reports and the desired runner
//! count, and marks runners busy or finished; the pool pass of the scale set's pool
//! (`plan::pool` with a `scale_set_target`) creates and removes instances through the same
//! providers and lifecycle as webhook pools.
//!
//! A message is handled in this order: acquire its `JobAvailable` requests, apply runner
//! facts (`JobStarted`, `JobCompleted`), write its jobs with the cursor and desired count in
//! one transaction, then acknowledge it. A crash before the acknowledgement replays the
//! message, which changes nothing: the cursor refuses ids it has passed and every write is
//! idempotent.

mod listener;

use crate::step::StepError;
use crate::{Ctx, Forge};
use garm_forge::actions::{ActionsClient, JobMessage, Label, RunnerSetting, ScaleSet};
use garm_model::{InstanceName, InstanceStatus, PoolId, RunnerStatus, Secret};
use garm_store::{EntityKind, EntityRecord, JobRecord, PoolRecord, ScaleSetRecord, Transition};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub use listener::run;

/// The listeners running, and when each scale set last asked for more runners.
#[derive(Default)]
pub struct Listeners {
    running: Mutex<HashMap<i64, Running>>,
    /// When a message raised a scale set's desired count and no instance was created since.
    asked: Mutex<HashMap<i64, Instant>>,
}

struct Running {
    /// What the listener was started with; a change restarts it.
    fingerprint: String,
    cancel: CancellationToken,
    last_consolidation: Option<Instant>,
}

/// The Actions service of `entity`, or why there is none.
pub async fn actions_for(ctx: &Ctx, entity: &EntityRecord) -> Result<Arc<ActionsClient>, StepError> {
    let forge = ctx.forges.for_entity(&ctx.store, entity).await?;
    forge
        .actions()
        .ok_or_else(|| StepError::ScaleSet("scale sets are only supported for github entities".into()))
}

/// The labels a scale set registers: its name first, then its extra labels (no repeats).
pub fn service_labels(name: &str, extra: &[String]) -> Vec<Label> {
    let mut out = vec![Label::system(name)];
    for l in extra {
        if !out.iter().any(|o| o.name == *l) {
            out.push(Label::system(l));
        }
    }
    out
}

/// Resolves a runner group name to the service's id (`Default` and empty are 1).
pub async fn runner_group_id(actions: &ActionsClient, name: &str) -> Result<i64, StepError> {
    if name.is_empty() || name.eq_ignore_ascii_case("default") {
        return Ok(1);
    }
    match actions.runner_group(name).await? {
        Some(g) => Ok(g.id),
        None => Err(StepError::ScaleSet(format!("runner group {name:?} does not exist"))),
    }
}

/// What the service should hold for a scale set called `name`.
pub fn service_spec(name: &str, group_id: i64, labels: &[String], disable_update: bool, enabled: bool) -> ScaleSet {
    ScaleSet {
        name: name.into(),
        runner_group_id: group_id,
        labels: service_labels(name, labels),
        runner_setting: RunnerSetting {
            ephemeral: true,
            disable_update,
            ..Default::default()
        },
        enabled: Some(enabled),
        ..Default::default()
    }
}

/// Makes sure the service has the scale set garm knows: by its stored id, else by name in
/// its runner group (only if nobody else owns one of that name), else created anew (which
/// starts the queue cursor over). Answers the service's id.
pub async fn ensure_in_service(ctx: &Ctx, set: &ScaleSetRecord, actions: &ActionsClient) -> Result<i64, StepError> {
    if set.service_id != 0 && actions.scale_set(set.service_id).await?.is_some() {
        return Ok(set.service_id);
    }
    let group = runner_group_id(actions, &set.pool.runner_group).await?;
    if let Some(found) = actions.scale_set_by_name(group, &set.name).await? {
        if set.service_id != 0 && found.id != set.service_id {
            return Err(StepError::ScaleSet(format!(
                "a scale set named {} with another id ({}) exists in the service; it belongs to someone else",
                set.name, found.id
            )));
        }
        ctx.store.set_scale_set_service_id(set.id, found.id, group).await?;
        return Ok(found.id);
    }
    let labels: Vec<String> = set.pool.tags.iter().map(|t| t.name.clone()).collect();
    let spec = service_spec(&set.name, group, &labels, set.disable_update, set.pool.enabled);
    let created = actions.create_scale_set(&spec).await?;
    if set.service_id != 0 {
        tracing::warn!(
            scale_set = set.id,
            old = set.service_id,
            new = created.id,
            "the scale set was gone from the Actions service; created it again"
        );
    }
    ctx.store.set_scale_set_service_id(set.id, created.id, group).await?;
    Ok(created.id)
}

/// Mints the JIT configuration of instance `name` of the scale set behind `pool`. A name
/// already taken by a runner of this scale set (a crash between minting and recording) is
/// removed and minted again; one of another scale set is refused.
pub async fn jit_config(
    ctx: &Ctx,
    pool: &PoolRecord,
    forge: &dyn Forge,
    name: &str,
) -> Result<(i64, Secret), StepError> {
    let id = pool
        .scale_set_id
        .ok_or_else(|| StepError::ScaleSet("not a scale set pool".into()))?;
    let set = ctx.store.scale_set(id).await?;
    let actions = forge
        .actions()
        .ok_or_else(|| StepError::ScaleSet("scale sets are only supported for github entities".into()))?;
    let minted = match actions.generate_jit_config(set.service_id, name).await {
        Err(e) if e.is_agent_exists() => {
            let stale = actions.agent_by_name(name).await?;
            match stale {
                Some(a) if a.runner_scale_set_id == set.service_id => {
                    tracing::info!(instance = %name, runner_id = a.id, "removing a runner registration a crash left unrecorded");
                    actions.remove_agent(a.id).await?;
                    actions.generate_jit_config(set.service_id, name).await?
                }
                _ => return Err(e.into()),
            }
        }
        other => other?,
    };
    Ok((minted.runner.id, Secret::new(minted.encoded_jit_config.expose())))
}

/// Removes a scale set runner through the agents API; a busy one is refused
/// ([`StepError::RunnerBusy`]), a gone one counts as removed.
pub async fn remove_runner(
    ctx: &Ctx,
    forge: &dyn Forge,
    entity: &garm_store::EntityRecord,
    agent_id: i64,
) -> Result<(), StepError> {
    let actions = forge
        .actions()
        .ok_or_else(|| StepError::ScaleSet("scale sets are only supported for github entities".into()))?;
    let started = Instant::now();
    let result = actions.remove_agent(agent_id).await;
    ctx.metrics.forge_call(
        "RemoveRunner",
        crate::metrics::scope(entity.kind),
        result.is_ok(),
        started.elapsed(),
    );
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.is_job_still_running() => Err(StepError::RunnerBusy),
        Err(e) => Err(e.into()),
    }
}

/// The pool pass is creating instances for scale set `id`: the time since the message that
/// asked for them goes to the histogram.
pub fn creating(ctx: &Ctx, id: i64) {
    let asked = ctx.scale_sets.asked.lock().expect("scale set lock").remove(&id);
    if let Some(at) = asked {
        ctx.metrics
            .observe("garm_scaleset_message_to_create_seconds", at.elapsed());
    }
}

/// A stable id for a scale set job in the `workflow_job_id` column: negative, so it never
/// meets a GitHub job id (FNV-1a of the service's job id).
pub fn synthetic_job_id(job_id: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job_id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    -((hash >> 1) as i64) - 1
}

/// The job row a job message stands for.
pub fn job_record(set: &ScaleSetRecord, entity: &EntityRecord, base_url: &str, m: &JobMessage) -> JobRecord {
    let (status, conclusion) = match m.message_type.as_str() {
        "JobStarted" => ("in_progress", String::new()),
        "JobCompleted" => ("completed", m.result.clone()),
        _ => ("queued", String::new()),
    };
    let group = if set.pool.runner_group.is_empty() {
        "Default".to_string()
    } else {
        set.pool.runner_group.clone()
    };
    let id = Some(entity.id.to_string());
    JobRecord {
        id: 0,
        workflow_job_id: synthetic_job_id(&m.job_id),
        scaleset_job_id: Some(m.job_id.clone()),
        run_id: m.workflow_run_id,
        action: m.event_name.clone().into(),
        status: status.into(),
        conclusion,
        name: m.job_display_name.clone(),
        started_at: m.runner_assign_time,
        completed_at: m.finish_time,
        runner_id: m.runner_id,
        runner_name: m.runner_name.clone(),
        runner_group_id: set.runner_group_id,
        runner_group_name: group,
        repository_name: m.repository_name.clone(),
        repository_owner: m.owner_name.clone(),
        workflow_run_url: format!(
            "{}/{}/{}/actions/runs/{}",
            base_url.trim_end_matches('/'),
            m.owner_name,
            m.repository_name,
            m.workflow_run_id
        ),
        labels: m.request_labels.clone(),
        repo_id: if entity.kind == EntityKind::Repository {
            id.clone()
        } else {
            None
        },
        org_id: if entity.kind == EntityKind::Organization {
            id.clone()
        } else {
            None
        },
        enterprise_id: if entity.kind == EntityKind::Enterprise {
            id
        } else {
            None
        },
        locked_by: None,
        instance_name: None,
        reason: String::new(),
        created_at: None,
        updated_at: None,
    }
}

/// `JobStarted`: the named runner of this scale set is busy (an outside fact). Unknown
/// runners and finished ones are left alone.
async fn runner_started(ctx: &Ctx, pool_id: &PoolId, name: &InstanceName) -> Result<(), StepError> {
    let Ok(instance) = ctx.store.instance(name).await else {
        return Ok(());
    };
    if instance.pool_id != *pool_id || matches!(instance.runner_status, RunnerStatus::Terminated | RunnerStatus::Active)
    {
        return Ok(());
    }
    ctx.store
        .modify_instance(name, Transition::Forced, |i| {
            if i.runner_status != RunnerStatus::Terminated {
                i.runner_status = RunnerStatus::Active;
            }
        })
        .await?;
    Ok(())
}

/// `JobCompleted` naming a runner: it ran its one job; its instance goes (an outside fact).
/// One still being created is left to the pool pass, one already leaving stays as it is.
async fn runner_finished(ctx: &Ctx, pool_id: &PoolId, name: &InstanceName) -> Result<(), StepError> {
    let Ok(instance) = ctx.store.instance(name).await else {
        return Ok(());
    };
    let leaving = matches!(
        instance.status,
        InstanceStatus::PendingDelete
            | InstanceStatus::PendingForceDelete
            | InstanceStatus::Deleting
            | InstanceStatus::Deleted
            | InstanceStatus::Creating
            | InstanceStatus::PendingCreate
    );
    if instance.pool_id != *pool_id || leaving {
        return Ok(());
    }
    ctx.store
        .modify_instance(name, Transition::Forced, |i| {
            i.runner_status = RunnerStatus::Terminated;
            i.status = InstanceStatus::PendingDelete;
        })
        .await?;
    tracing::info!(instance = %name, "scale set runner finished its job");
    Ok(())
}

/// Applies the runner facts of a batch, in order.
async fn apply_runner_facts(ctx: &Ctx, pool_id: &PoolId, jobs: &[JobMessage]) -> Result<(), StepError> {
    for m in jobs {
        if m.runner_name.is_empty() {
            continue;
        }
        match m.message_type.as_str() {
            "JobStarted" => runner_started(ctx, pool_id, &m.runner_name.as_str().into()).await?,
            "JobCompleted" => runner_finished(ctx, pool_id, &m.runner_name.as_str().into()).await?,
            _ => {}
        }
    }
    Ok(())
}

/// Compares the service's runners of scale set `set` with its instances: runners no instance
/// backs and that are not online are removed; running instances whose runner the service no
/// longer has are marked for deletion (a JIT runner exists in the service before its machine).
pub async fn consolidate(ctx: &Ctx, set: &ScaleSetRecord, actions: &ActionsClient) -> Result<(), StepError> {
    let agents: Vec<_> = actions
        .agents()
        .await?
        .into_iter()
        .filter(|a| a.runner_scale_set_id == set.service_id)
        .collect();
    let instances = ctx.store.pool_instances_brief(&set.pool.id).await?;
    for a in &agents {
        let backed = instances.iter().any(|i| i.name == a.name || i.agent_id == a.id);
        if !backed && !a.online() && ctx.store.instance(&a.name).await.is_err() {
            tracing::warn!(scale_set = set.id, runner = %a.name, "removing a scale set runner no instance backs");
            if let Err(err) = actions.remove_agent(a.id).await {
                tracing::debug!(runner = %a.name, error = %err, "removing an orphan runner failed");
            }
        }
    }
    let grace = chrono::Duration::seconds(60);
    for i in instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && i.agent_id != 0 && chrono::Utc::now() - i.updated_at > grace)
    {
        if ctx.is_inflight(&i.name) || agents.iter().any(|a| a.id == i.agent_id || a.name == i.name) {
            continue;
        }
        tracing::warn!(instance = %i.name, "the Actions service no longer knows this runner; deleting the instance");
        ctx.store
            .modify_instance(&i.name, Transition::Forced, |r| {
                r.runner_status = RunnerStatus::Terminated;
                r.status = InstanceStatus::PendingDelete;
            })
            .await?;
        ctx.nudge.pool(&set.pool.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_ids_are_negative_and_stable() {
        let a = synthetic_job_id("b9a1c3d4-0000-4000-8000-000000000001");
        assert!(a < 0);
        assert_eq!(a, synthetic_job_id("b9a1c3d4-0000-4000-8000-000000000001"));
        assert_ne!(a, synthetic_job_id("b9a1c3d4-0000-4000-8000-000000000002"));
        assert!(synthetic_job_id("") < 0);
    }

    #[test]
    fn the_name_is_the_first_label_and_labels_do_not_repeat() {
        let labels = service_labels("linux", &["gpu".into(), "linux".into(), "gpu".into()]);
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["linux", "gpu"]);
        assert!(labels.iter().all(|l| l.kind == "System"));
    }
}
