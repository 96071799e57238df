//! Job intake: turning a verified `workflow_job` webhook into a job row and a nudge.
//!
//! # Guarantees
//! A redelivery or a repeated action changes nothing; an action older than the stored
//! one (`queued` after `completed`) is ignored. Nothing here creates or deletes an
//! instance: it records facts (the job, a runner's state) and nudges reconcilers.

pub mod resolve;

use crate::Ctx;
use garm_forge::webhook::WorkflowJobEvent;
use garm_model::{EntityId, InstanceName, InstanceStatus, JobAction, PoolId, RunnerStatus};
use garm_store::{
    Batch, EntityKind, EntityRecord, InstanceRecord, JobRecord, PoolRecord, Store, StoreError, Transition, WebhookView,
};
use std::collections::{BTreeSet, HashMap};
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

/// What [`merge`] decided.
enum Merge {
    /// Nothing to store (older action, or the same facts again).
    Skip(Outcome),
    /// Store this row; nudge this entity.
    Write(Box<JobRecord>, Option<EntityId>),
}

/// The job row after `event`, given the stored one and the owner's pools.
fn merge(existing: Option<&JobRecord>, owner: &Owner, event: &WorkflowJobEvent, pools: &[PoolRecord]) -> Merge {
    let job = &event.job;
    let action = event.action.as_str();
    if let Some(ex) = existing {
        if rank(action) < rank(ex.action.as_str()) {
            tracing::info!(job_id = job.id, action = %action, stored = %ex.action, "ignoring an action older than the stored one");
            return Merge::Skip(Outcome::Stale);
        }
    }
    let mut rec = existing.cloned().unwrap_or_default();
    rec.workflow_job_id = job.id;
    if rec.run_id == 0 {
        rec.run_id = job.run_id;
    }
    rec.action = event.action.clone();
    rec.status = if job.status.is_empty() {
        action.to_string()
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
    rec.reason = match owner {
        Owner::Unknown(what) => format!("not managed here: {what}"),
        Owner::Ours(entity) => {
            match entity.kind {
                EntityKind::Repository => rec.repo_id = Some(entity.id.to_string()),
                EntityKind::Organization => rec.org_id = Some(entity.id.to_string()),
                EntityKind::Enterprise => rec.enterprise_id = Some(entity.id.to_string()),
            }
            let reason = if action == "queued" {
                crate::plan::unserved_reason(&entity.display_name(), pools, &rec.labels).unwrap_or_default()
            } else {
                String::new()
            };
            // A queued job no pool of the entity can serve gives its reconcile nothing
            // to do (the timer pass still looks at it, e.g. after a pool is added).
            if reason.is_empty() {
                nudge_entity = Some(entity.id.clone());
            }
            reason
        }
    };

    // A redelivered or repeated event: store nothing new.
    if let Some(ex) = existing {
        let mut same = rec.clone();
        same.updated_at = ex.updated_at;
        same.created_at = ex.created_at;
        same.id = ex.id;
        if &same == ex {
            return Merge::Skip(Outcome::Unchanged);
        }
    }
    Merge::Write(Box::new(rec), nudge_entity)
}

/// Where runner states are written: the store directly, or a batch transaction.
enum On<'a, 'b> {
    Store(&'a Store),
    Batch(&'a mut Batch<'b>),
}

impl On<'_, '_> {
    async fn instance(&mut self, name: &InstanceName) -> Result<InstanceRecord, StoreError> {
        match self {
            On::Store(store) => store.instance(name).await,
            On::Batch(batch) => batch.instance(name).await,
        }
    }

    async fn modify_instance(
        &mut self,
        name: &InstanceName,
        change: impl FnOnce(&mut InstanceRecord),
    ) -> Result<InstanceRecord, StoreError> {
        match self {
            On::Store(store) => store.modify_instance(name, Transition::Forced, change).await,
            On::Batch(batch) => batch.modify_instance(name, Transition::Forced, change).await,
        }
    }
}

/// For `in_progress` and `completed` jobs that ran on one of our runners: records the
/// runner's state and returns the instance's pool (to nudge).
async fn runner_state(ctx: &Ctx, on: &mut On<'_, '_>, rec: &mut JobRecord) -> Result<Option<PoolId>, StoreError> {
    let started = match rec.action {
        JobAction::InProgress => true,
        JobAction::Completed => false,
        _ => return Ok(None),
    };
    if rec.runner_name.is_empty() {
        return Ok(None);
    }
    let Ok(instance) = on.instance(&InstanceName::from(rec.runner_name.as_str())).await else {
        return Ok(None);
    };
    rec.instance_name = Some(instance.name.to_string());
    let job_id = rec.workflow_job_id;
    if started {
        on.modify_instance(&instance.name, |i| {
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
        on.modify_instance(&instance.name, |i| {
            i.runner_status = RunnerStatus::Terminated;
            if matches!(
                i.status,
                InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Error | InstanceStatus::Unknown
            ) {
                i.status = InstanceStatus::PendingDelete;
            }
        })
        .await?;
        tracing::info!(job_id, instance = %instance.name, conclusion = %rec.conclusion, "job finished on our runner; instance will be deleted");
    }
    Ok(Some(instance.pool_id))
}

/// Records a `workflow_job` event.
pub async fn record(ctx: &Arc<Ctx>, owner: Owner, event: &WorkflowJobEvent) -> Result<Outcome, StoreError> {
    let existing = ctx.store.job(event.job.id).await?;
    let pools = match &owner {
        Owner::Ours(entity) if event.action.as_str() == "queued" && !event.job.labels.is_empty() => {
            ctx.store.pools(Some(&entity.id)).await?
        }
        _ => Vec::new(),
    };
    let (mut rec, nudge_entity) = match merge(existing.as_ref(), &owner, event, &pools) {
        Merge::Skip(outcome) => return Ok(outcome),
        Merge::Write(rec, nudge) => (*rec, nudge),
    };
    // A webhook is a fact, recorded by whichever replica receives it: no lease needed.
    let facts = ctx.store.unfenced();
    let touched_pool = runner_state(ctx, &mut On::Store(&facts), &mut rec).await?;
    let stored = ctx.store.put_job(&rec).await?;
    if let Some(pool) = touched_pool {
        ctx.nudge.pool(&pool);
    }
    if let Some(entity) = nudge_entity {
        ctx.nudge.entity(&entity);
    }
    Ok(Outcome::Recorded { reason: stored.reason })
}

/// One verified delivery for [`record_batch`].
pub struct Item {
    pub owner: Owner,
    pub event: WorkflowJobEvent,
    /// The delivery's dedup key (`<hook id>:<guid>`), if it has one.
    pub key: Option<String>,
    /// Where the owner's pools are read from (otherwise the store).
    pub view: Option<Arc<WebhookView>>,
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Its key was recorded before: nothing changed.
    Redelivery,
    Recorded(Outcome),
}

/// Records one delivery: a batch of one, so its key is claimed and its job written in one
/// transaction, exactly as in [`record_batch`].
///
/// # Guarantees
/// The same delivery arriving at two replicas at once is recorded by one of them; the other
/// waits for that commit and answers [`Done::Redelivery`]. A crash before the commit leaves
/// neither key nor job, so GitHub's redelivery is recorded.
pub async fn record_one(ctx: &Arc<Ctx>, item: Item) -> Result<Done, StoreError> {
    let (mut done, pools, entities) = try_batch(ctx, std::slice::from_ref(&item)).await?;
    nudge_all(ctx, pools, entities);
    Ok(done.pop().expect("a batch of one answers once"))
}

fn nudge_all(ctx: &Ctx, pools: BTreeSet<PoolId>, entities: BTreeSet<EntityId>) {
    for pool in pools {
        ctx.nudge.pool(&pool);
    }
    for entity in entities {
        ctx.nudge.entity(&entity);
    }
}

/// Records many deliveries in one transaction (one commit), in order, each as
/// [`record_one`] would; answers one result per item, after the commit.
///
/// # Guarantees
/// Every job and key of the batch is committed together, or nothing is; keys are claimed
/// first (in sorted order), so a delivery another replica is recording is a redelivery here. If the batch fails, each delivery is retried on its own, so one bad
/// delivery fails alone.
pub async fn record_batch(ctx: &Arc<Ctx>, items: Vec<Item>) -> Vec<Result<Done, StoreError>> {
    match try_batch(ctx, &items).await {
        Ok((done, pools, entities)) => {
            nudge_all(ctx, pools, entities);
            done.into_iter().map(Ok).collect()
        }
        Err(err) => {
            tracing::warn!(error = %err, deliveries = items.len(), "batch of webhooks failed; recording them one by one");
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(record_one(ctx, item).await);
            }
            out
        }
    }
}

type BatchDone = (Vec<Done>, BTreeSet<PoolId>, BTreeSet<EntityId>);

async fn try_batch(ctx: &Arc<Ctx>, items: &[Item]) -> Result<BatchDone, StoreError> {
    // Pools of owners without a view are read before the transaction takes the connection.
    let mut read_pools: HashMap<EntityId, Vec<PoolRecord>> = HashMap::new();
    for item in items {
        if let (Owner::Ours(entity), None) = (&item.owner, &item.view) {
            if item.event.action.as_str() == "queued" && !read_pools.contains_key(&entity.id) {
                read_pools.insert(entity.id.clone(), ctx.store.pools(Some(&entity.id)).await?);
            }
        }
    }
    // Facts need no lease (see [`record`]).
    let facts = ctx.store.unfenced();
    let mut batch = facts.batch().await?;
    // Keys first: a delivery another replica is recording right now waits for its commit and
    // is then a redelivery here (see `Batch::claim_and_read`); the job read comes after.
    let keys: Vec<String> = items.iter().filter_map(|i| i.key.clone()).collect();
    let ids: Vec<i64> = items.iter().map(|i| i.event.job.id).collect();
    let (mut claimed, mut jobs) = batch.claim_and_read(&keys, &ids).await?;
    let mut done = Vec::with_capacity(items.len());
    let (mut pools_touched, mut entities) = (BTreeSet::new(), BTreeSet::new());
    let mut written = BTreeSet::new();
    for item in items {
        // A key claimed by an earlier item of this batch, or recorded before: a redelivery.
        if let Some(key) = &item.key {
            if !claimed.remove(key) {
                done.push(Done::Redelivery);
                continue;
            }
        }
        let job_id = item.event.job.id;
        let pools: &[PoolRecord] = match (&item.owner, &item.view) {
            (Owner::Ours(entity), Some(view)) => view.pools(&entity.id),
            (Owner::Ours(entity), None) => read_pools.get(&entity.id).map(Vec::as_slice).unwrap_or_default(),
            _ => &[],
        };
        let outcome = match merge(jobs.get(&job_id), &item.owner, &item.event, pools) {
            Merge::Skip(outcome) => outcome,
            Merge::Write(rec, nudge) => {
                let mut rec = *rec;
                if let Some(pool) = runner_state(ctx, &mut On::Batch(&mut batch), &mut rec).await? {
                    pools_touched.insert(pool);
                }
                written.insert(job_id);
                entities.extend(nudge);
                let reason = rec.reason.clone();
                let now = chrono::Utc::now();
                rec.created_at = rec.created_at.or(Some(now));
                rec.updated_at = Some(now);
                jobs.insert(job_id, rec);
                Outcome::Recorded { reason }
            }
        };
        done.push(Done::Recorded(outcome));
    }
    // One row per job however often the batch named it, in id order (the lock order
    // concurrent batches of other replicas use too); their keys commit with them.
    let rows: Vec<&JobRecord> = written.iter().filter_map(|id| jobs.get(id)).collect();
    batch.commit_jobs(&rows).await?;
    Ok((done, pools_touched, entities))
}
