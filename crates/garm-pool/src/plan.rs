//! Planning: pure functions from what was observed to the steps to take. No IO, no
//! async, time passed in; most of the pool manager's logic and tests live here.

use crate::{job_of, Settings};
use chrono::{DateTime, Utc};
use garm_model::{
    job_matches_pool, order_candidates, BalancerType, InstanceName, InstanceStatus, PoolId, RunnerStatus,
};
use garm_store::{InstanceRecord, JobRecord, PoolRecord};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// One step of a pool reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create this many new instances (minimum idle runners).
    Create { count: u32 },
    /// Ask the provider to create an instance recorded as `pending_create`.
    Provision { name: InstanceName },
    /// A create failed: clean up in the provider and try again.
    Retry { name: InstanceName },
    /// An instance left in `creating` by a crash: mark it failed so it is retried.
    Interrupted { name: InstanceName },
    /// Delete an instance marked `pending_delete` / `pending_force_delete`.
    Delete { name: InstanceName },
    /// Give up on an instance that did not bootstrap in time.
    Reap { name: InstanceName, reason: String },
    /// Remove a surplus idle runner (the forge refuses if it is busy).
    ScaleDown { name: InstanceName },
}

/// What a pool reconcile saw.
#[derive(Debug, Clone)]
pub struct PoolView {
    pub pool: PoolRecord,
    pub instances: Vec<InstanceRecord>,
    /// Queued jobs of the pool's entity whose labels this pool satisfies.
    pub queued_matching: u32,
    /// Ids of jobs still queued (an instance created for one of them is spoken for).
    pub queued_ids: HashSet<i64>,
    pub inflight: HashSet<InstanceName>,
    /// Instances whose retry backoff has not elapsed.
    pub backing_off: HashSet<InstanceName>,
    /// For the pool behind a scale set: how many instances it should have, in any state
    /// (`min(min_idle_runners + desired_runner_count, max_runners)`, garm's rule).
    pub scale_set_target: Option<u32>,
    pub now: DateTime<Utc>,
}

/// garm's scale set rule: the assigned jobs plus the idle headroom, within the maximum.
pub fn scale_set_target(min_idle: u32, desired: i64, max: u32) -> u32 {
    let desired = u32::try_from(desired.max(0)).unwrap_or(u32::MAX);
    min_idle.saturating_add(desired).min(max)
}

fn live(i: &InstanceRecord) -> bool {
    matches!(
        i.status,
        InstanceStatus::PendingCreate | InstanceStatus::Creating | InstanceStatus::Running
    )
}

/// Could still take a job: alive and its runner not busy or finished.
pub fn available(i: &InstanceRecord) -> bool {
    live(i)
        && matches!(
            i.runner_status,
            RunnerStatus::Pending | RunnerStatus::Installing | RunnerStatus::Idle
        )
}

fn age(now: DateTime<Utc>, since: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

/// The steps that bring one pool to its desired state.
pub fn pool(view: &PoolView, settings: &Settings) -> Vec<Step> {
    let pool = &view.pool;
    let mut steps = Vec::new();
    let total = view.instances.len() as u32;
    let n_available = view.instances.iter().filter(|i| available(i)).count() as u32;
    if let Some(target) = view.scale_set_target {
        // Every instance counts, those being deleted included: the machines stay within
        // max_runners while old ones are torn down.
        if pool.enabled && total < target {
            steps.push(Step::Create { count: target - total });
        }
    } else if pool.enabled && n_available < pool.min_idle_runners && total < pool.max_runners {
        let count = (pool.min_idle_runners - n_available).min(pool.max_runners - total);
        steps.push(Step::Create { count });
    }
    let timeout = Duration::from_secs(u64::from(pool.bootstrap_timeout) * 60);
    for i in &view.instances {
        if view.inflight.contains(&i.name) {
            continue;
        }
        let ready = !view.backing_off.contains(&i.name);
        let name = i.name.clone();
        match i.status {
            InstanceStatus::PendingCreate => steps.push(Step::Provision { name }),
            InstanceStatus::Creating => steps.push(Step::Interrupted { name }),
            // Its runner already ran a job (the create failed late, e.g. timed out after the
            // machine was up): creating it again would give a runner with nothing to do.
            InstanceStatus::Error if i.runner_status == RunnerStatus::Terminated => steps.push(Step::Reap {
                name,
                reason: "runner terminated".into(),
            }),
            InstanceStatus::Error if i.create_attempt < settings.max_create_attempts => {
                if ready {
                    steps.push(Step::Retry { name });
                }
            }
            InstanceStatus::Error => {
                if age(view.now, i.updated_at) >= timeout {
                    steps.push(Step::Reap {
                        name,
                        reason: format!("create failed {} times", i.create_attempt),
                    });
                }
            }
            InstanceStatus::PendingDelete | InstanceStatus::PendingForceDelete | InstanceStatus::Deleting => {
                if ready {
                    steps.push(Step::Delete { name });
                }
            }
            InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Unknown => {
                let booting = matches!(
                    i.runner_status,
                    RunnerStatus::Pending | RunnerStatus::Installing | RunnerStatus::Failed
                );
                if booting && age(view.now, i.updated_at) >= timeout {
                    let reason = format!(
                        "runner did not come up within {} minutes (runner status {})",
                        pool.bootstrap_timeout, i.runner_status
                    );
                    steps.push(Step::Reap { name, reason });
                } else if i.runner_status == RunnerStatus::Terminated {
                    steps.push(Step::Reap {
                        name,
                        reason: "runner terminated".into(),
                    });
                }
            }
            InstanceStatus::Deleted => {}
        }
    }
    if let Some(target) = view.scale_set_target {
        steps.extend(scale_set_down(view, target));
    } else if pool.enabled {
        let idle: Vec<&InstanceRecord> = view
            .instances
            .iter()
            .filter(|i| i.status == InstanceStatus::Running && i.runner_status == RunnerStatus::Idle)
            .filter(|i| !job_of(&i.extra_labels).is_some_and(|j| view.queued_ids.contains(&j)))
            .filter(|i| !view.inflight.contains(&i.name))
            .collect();
        let keep = pool.min_idle_runners + view.queued_matching;
        let surplus = (idle.len() as u32).saturating_sub(keep);
        if surplus > 0 {
            let mut old: Vec<&&InstanceRecord> = idle
                .iter()
                .filter(|i| age(view.now, i.updated_at) >= settings.scale_down_grace)
                .collect();
            old.sort_by_key(|i| i.updated_at);
            for i in old.into_iter().take(surplus.div_ceil(2) as usize) {
                steps.push(Step::ScaleDown { name: i.name.clone() });
            }
        }
    }
    steps
}

/// A scale set above its target removes idle runners (enabled or not); instances already
/// being deleted count towards the surplus. Oldest first, no grace: the service assigns jobs
/// by its own count, and the forge refuses to remove a runner that took one meanwhile.
fn scale_set_down(view: &PoolView, target: u32) -> Vec<Step> {
    let total = view.instances.len() as u32;
    let leaving = view
        .instances
        .iter()
        .filter(|i| {
            matches!(
                i.status,
                InstanceStatus::PendingDelete | InstanceStatus::PendingForceDelete | InstanceStatus::Deleting
            )
        })
        .count() as u32;
    let surplus = total.saturating_sub(target).saturating_sub(leaving);
    let mut idle: Vec<&InstanceRecord> = view
        .instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && i.runner_status == RunnerStatus::Idle)
        .filter(|i| !view.inflight.contains(&i.name))
        .collect();
    idle.sort_by_key(|i| i.created_at);
    idle.into_iter()
        .take(surplus as usize)
        .map(|i| Step::ScaleDown { name: i.name.clone() })
        .collect()
}

/// How long an instance whose runner just finished still speaks for its job (see [`jobs`]).
pub const FINISHING: Duration = Duration::from_secs(30);

/// What an entity reconcile saw.
#[derive(Debug, Clone)]
pub struct EntityView {
    pub display_name: String,
    pub balancer: BalancerType,
    /// Every pool of the entity with its instances.
    pub pools: Vec<(PoolRecord, Vec<InstanceRecord>)>,
    /// Queued jobs of the entity, oldest first.
    pub queued: Vec<JobRecord>,
    pub min_job_age: Duration,
    pub now: DateTime<Utc>,
    /// Round-robin turn at the start of this pass.
    pub turn: usize,
    /// A failed create is retried while its attempts are below this.
    pub max_create_attempts: i64,
}

/// What the plan says about one queued job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobVerdict {
    /// Create an instance for the job in this pool.
    Create { pool_id: PoolId },
    /// An available runner of a matching pool will take it: it does not wait on us (its
    /// reason is cleared).
    Covered,
    /// An instance made for it is on its way, being retried, or just finished it: nothing to
    /// do and nothing to record.
    Claimed,
    /// It waits; `reason` says why (shown in the UI, the API and the logs).
    Waits { reason: String },
}

impl JobVerdict {
    /// The reason column this verdict asks for: empty when the job does not wait on us,
    /// `None` when the column is left as it is.
    pub fn reason(&self) -> Option<&str> {
        match self {
            JobVerdict::Create { .. } | JobVerdict::Covered => Some(""),
            JobVerdict::Claimed => None,
            JobVerdict::Waits { reason } => Some(reason),
        }
    }
}

/// The entity plan: a verdict per queued job, keyed by workflow job id, and the round-robin
/// turn to start the next pass with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan {
    pub verdicts: BTreeMap<i64, JobVerdict>,
    pub turn: usize,
}

/// Why a job waits when every pool that matches it is full.
pub const WAITING_FOR_ROOM: &str = "every matching pool is at max_runners; waiting for room";

/// Whether `pool`'s tags satisfy every one of `labels` (enabled or not).
pub fn labels_match(pool: &PoolRecord, labels: &[String]) -> bool {
    job_matches_pool(labels, &pool.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>())
}

/// Whether `pool` can serve a job with `labels`: enabled, and its tags satisfy the labels.
pub fn serves(pool: &PoolRecord, labels: &[String]) -> bool {
    pool.enabled && labels_match(pool, labels)
}

/// How many of `queued` the pool's tags satisfy (the pool pass keeps that many idle runners
/// from being scaled down).
pub fn queued_matching(pool: &PoolRecord, queued: &[JobRecord]) -> u32 {
    queued.iter().filter(|j| labels_match(pool, &j.labels)).count() as u32
}

/// Why a job with `labels` can be served by none of `pools` of the entity `display_name`, or
/// `None` when one can. Intake records it when the job arrives; the entity plan when it passes.
pub fn unserved_reason<'a>(
    display_name: &str,
    pools: impl IntoIterator<Item = &'a PoolRecord>,
    labels: &[String],
) -> Option<String> {
    if labels.is_empty() {
        return Some("the job has no labels".into());
    }
    if pools.into_iter().any(|p| serves(p, labels)) {
        return None;
    }
    Some(format!(
        "no enabled pool of {display_name} matches labels [{}]",
        labels.join(", ")
    ))
}

/// Matches queued jobs to pools: a job that no available runner can take gets an
/// instance at once; one that an available runner could take waits for it until the
/// minimum job age has passed. `max_runners` is respected across the whole plan. Every
/// queued job gets exactly one verdict.
pub fn jobs(view: &EntityView) -> JobPlan {
    let mut verdicts = BTreeMap::new();
    let queued_ids: HashSet<i64> = view.queued.iter().map(|j| j.workflow_job_id).collect();
    let mut claimed: HashSet<i64> = HashSet::new();
    let mut free: HashMap<&PoolId, u32> = HashMap::new();
    // Available runners made for a job that no longer waits (it started on another runner
    // of the pool, or was cancelled): the next queued job is theirs, not a new instance's.
    let mut stale: HashMap<&PoolId, u32> = HashMap::new();
    let mut count: HashMap<&PoolId, u32> = HashMap::new();
    for (pool, instances) in &view.pools {
        count.insert(&pool.id, instances.len() as u32);
        let mut n_free = 0;
        let mut n_stale = 0;
        for i in instances {
            // A failed create that will be retried is still on its way to its job.
            let retried = i.status == InstanceStatus::Error
                && i.create_attempt < view.max_create_attempts
                && i.runner_status != RunnerStatus::Terminated;
            // A runner that just finished: the `completed` webhook that names it is being recorded,
            // so its job may still read queued for a moment. Once the row is deleted (which nudges
            // the entity) or the moment has passed, a job that is really still queued is served.
            let finishing = i.runner_status == RunnerStatus::Terminated && age(view.now, i.updated_at) < FINISHING;
            match job_of(&i.extra_labels).filter(|j| queued_ids.contains(j)) {
                Some(job) if available(i) || retried || finishing => {
                    claimed.insert(job);
                }
                _ if available(i) => {
                    n_free += 1;
                    if job_of(&i.extra_labels).is_some() {
                        n_stale += 1;
                    }
                }
                _ => {}
            }
        }
        free.insert(&pool.id, n_free);
        stale.insert(&pool.id, n_stale);
    }
    let mut turn = view.turn;
    for job in &view.queued {
        let id = job.workflow_job_id;
        if claimed.contains(&id) {
            verdicts.insert(id, JobVerdict::Claimed);
            continue;
        }
        let candidates: Vec<(&PoolRecord, u32)> = view
            .pools
            .iter()
            .map(|(p, _)| p)
            .filter(|p| serves(p, &job.labels))
            .map(|p| (p, p.priority))
            .collect();
        if candidates.is_empty() {
            let pools = view.pools.iter().map(|(p, _)| p);
            let reason = unserved_reason(&view.display_name, pools, &job.labels).unwrap_or_default();
            verdicts.insert(id, JobVerdict::Waits { reason });
            continue;
        }
        let young = job.created_at.is_some_and(|t| age(view.now, t) < view.min_job_age);
        if young {
            if let Some((pool, _)) = candidates
                .iter()
                .find(|(p, _)| free.get(&p.id).copied().unwrap_or(0) > 0)
            {
                let left = free.get_mut(&pool.id).expect("every pool has a free count");
                *left -= 1;
                let left = *left;
                if let Some(n) = stale.get_mut(&pool.id) {
                    *n = (*n).min(left);
                }
                verdicts.insert(id, JobVerdict::Covered);
                continue;
            }
        }
        if let Some((pool, _)) = candidates
            .iter()
            .find(|(p, _)| stale.get(&p.id).copied().unwrap_or(0) > 0)
        {
            *stale.get_mut(&pool.id).expect("every pool has a stale count") -= 1;
            *free.get_mut(&pool.id).expect("every pool has a free count") -= 1;
            verdicts.insert(id, JobVerdict::Covered);
            continue;
        }
        let with_room: Vec<(&PoolRecord, u32)> = candidates
            .into_iter()
            .filter(|(p, _)| count.get(&p.id).copied().unwrap_or(0) < p.max_runners)
            .collect();
        let chosen = order_candidates(&with_room, view.balancer, turn).into_iter().next();
        match chosen {
            Some(p) => {
                *count.get_mut(&p.id).expect("every pool has a count") += 1;
                turn += 1;
                verdicts.insert(id, JobVerdict::Create { pool_id: p.id.clone() });
            }
            None => {
                verdicts.insert(
                    id,
                    JobVerdict::Waits {
                        reason: WAITING_FOR_ROOM.into(),
                    },
                );
            }
        }
    }
    JobPlan { verdicts, turn }
}

#[cfg(test)]
mod tests;
