//! Job intake: turning a verified `workflow_job` webhook into a job row and a nudge.
//!
//! # Guarantees
//! A redelivery or a repeated action changes nothing; an action older than the stored
//! one (`queued` after `completed`) is ignored. Nothing here creates or deletes an
//! instance: it records facts (the job, a runner's state) and nudges reconcilers.

use crate::Ctx;
use garm_forge::webhook::WorkflowJobEvent;
use garm_model::{job_matches_pool, InstanceStatus, RunnerStatus};
use garm_store::{EntityKind, EntityRecord, JobRecord, StoreError, Transition};
use std::sync::Arc;

/// Who the webhook is for.
pub enum Owner {
    Ours(EntityRecord),
    /// No managed entity matches; the text says what the payload named.
    Unknown(String),
}

/// What intake did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Recorded { reason: String },
    Unchanged,
    Stale,
}

fn rank(action: &str) -> u8 {
    match action {
        "queued" => 1,
        "in_progress" => 2,
        "completed" => 3,
        _ => 0,
    }
}

/// Records a `workflow_job` event.
pub async fn record(ctx: &Arc<Ctx>, owner: Owner, event: &WorkflowJobEvent) -> Result<Outcome, StoreError> {
    let job = &event.job;
    let action = event.action.as_str().to_string();
    let existing = ctx.store.job(job.id).await?;
    if let Some(ex) = &existing {
        if rank(&action) < rank(&ex.action) {
            tracing::info!(job_id = job.id, action = %action, stored = %ex.action, "ignoring an action older than the stored one");
            return Ok(Outcome::Stale);
        }
    }
    let mut rec = existing.clone().unwrap_or_default();
    rec.workflow_job_id = job.id;
    if rec.run_id == 0 {
        rec.run_id = job.run_id;
    }
    rec.action = action.clone();
    rec.status = if job.status.is_empty() {
        action.clone()
    } else {
        job.status.clone()
    };
    if action == "queued" {
        rec.status = "queued".into();
    }
    rec.conclusion = job.conclusion.clone().unwrap_or_default();
    rec.name = job.name.clone();
    rec.started_at = job.started_at.or(rec.started_at);
    rec.completed_at = job.completed_at.or(rec.completed_at);
    rec.runner_id = job.runner_id.unwrap_or(rec.runner_id);
    if let Some(name) = job.runner_name.clone().filter(|n| !n.is_empty()) {
        rec.runner_name = name;
    }
    rec.runner_group_id = job.runner_group_id.unwrap_or(rec.runner_group_id);
    if let Some(g) = job.runner_group_name.clone() {
        rec.runner_group_name = g;
    }
    rec.repository_name = event.repository.name.clone();
    rec.repository_owner = event.repository.owner_login.clone();
    rec.workflow_run_url = format!(
        "{}/actions/runs/{}",
        event.repository.html_url.trim_end_matches('/'),
        job.run_id
    );
    rec.labels = job.labels.clone();

    let mut nudge_entity = None;
    rec.reason = match &owner {
        Owner::Unknown(what) => format!("not managed here: {what}"),
        Owner::Ours(entity) => {
            match entity.kind {
                EntityKind::Repository => rec.repo_id = Some(entity.id.clone()),
                EntityKind::Organization => rec.org_id = Some(entity.id.clone()),
                EntityKind::Enterprise => rec.enterprise_id = Some(entity.id.clone()),
            }
            nudge_entity = Some(entity.id.clone());
            if action == "queued" {
                queued_reason(ctx, entity, &rec).await?
            } else {
                String::new()
            }
        }
    };

    // A redelivered or repeated event: store nothing new.
    if let Some(ex) = &existing {
        let mut same = rec.clone();
        same.updated_at = ex.updated_at;
        same.created_at = ex.created_at;
        same.id = ex.id;
        if &same == ex {
            return Ok(Outcome::Unchanged);
        }
    }

    let mut touched_pool = None;
    if matches!(action.as_str(), "in_progress" | "completed") && !rec.runner_name.is_empty() {
        if let Ok(instance) = ctx.store.instance(&rec.runner_name).await {
            rec.instance_name = Some(instance.name.clone());
            touched_pool = Some(instance.pool_id.clone());
            let job_id = job.id;
            if action == "in_progress" {
                ctx.store
                    .modify_instance(&instance.name, Transition::Forced, |i| {
                        if !i.runner_status.is_terminal() {
                            i.runner_status = RunnerStatus::Active;
                        }
                        i.extra_labels.retain(|l| !l.starts_with("in_response_to_job="));
                        i.extra_labels.push(crate::job_label(job_id));
                    })
                    .await?;
                if let Some(at) = rec.created_at {
                    ctx.metrics
                        .observe_queued_to_in_progress((chrono::Utc::now() - at).to_std().unwrap_or_default());
                }
                tracing::info!(job_id, instance = %instance.name, "job started on our runner");
            } else {
                ctx.store
                    .modify_instance(&instance.name, Transition::Forced, |i| {
                        i.runner_status = RunnerStatus::Terminated;
                        if matches!(
                            i.status,
                            InstanceStatus::Running
                                | InstanceStatus::Stopped
                                | InstanceStatus::Error
                                | InstanceStatus::Unknown
                        ) {
                            i.status = InstanceStatus::PendingDelete;
                        }
                    })
                    .await?;
                tracing::info!(job_id, instance = %instance.name, conclusion = %rec.conclusion, "job finished on our runner; instance will be deleted");
            }
        }
    }
    let stored = ctx.store.put_job(&rec).await?;
    if let Some(pool) = touched_pool {
        ctx.nudge.pool(&pool);
    }
    if let Some(entity) = nudge_entity {
        ctx.nudge.entity(&entity);
    }
    Ok(Outcome::Recorded { reason: stored.reason })
}

/// Why a queued job of `entity` cannot be served, or empty if a pool matches.
async fn queued_reason(ctx: &Ctx, entity: &EntityRecord, job: &JobRecord) -> Result<String, StoreError> {
    if job.labels.is_empty() {
        return Ok("the job has no labels".into());
    }
    let pools = ctx.store.pools(Some(&entity.id)).await?;
    let matches = pools.iter().any(|p| {
        p.enabled && job_matches_pool(&job.labels, &p.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>())
    });
    Ok(if matches {
        String::new()
    } else {
        format!(
            "no enabled pool of {} matches labels [{}]",
            entity.display_name(),
            job.labels.join(", ")
        )
    })
}
