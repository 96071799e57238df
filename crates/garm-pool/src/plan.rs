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

/// The steps that bring one pool to its desired state: new instances up to its target, one
/// step at most per instance that no step is running for, then the surplus idle runners.
pub fn pool(view: &PoolView, settings: &Settings) -> Vec<Step> {
    let mut steps: Vec<Step> = scale_up(view).into_iter().collect();
    steps.extend(
        view.instances
            .iter()
            .filter(|i| !view.inflight.contains(&i.name))
            .filter_map(|i| instance_step(view, settings, i)),
    );
    match view.scale_set_target {
        Some(target) => steps.extend(scale_set_down(view, target)),
        None if view.pool.enabled => steps.extend(pool_down(view, settings)),
        None => {}
    }
    steps
}

/// How many instances an enabled pool lacks: a scale set up to its target (every instance
/// counts, those being deleted included, so the machines stay within max_runners while old
/// ones are torn down); a pool up to `min_idle_runners` available, within `max_runners`.
fn scale_up(view: &PoolView) -> Option<Step> {
    let pool = &view.pool;
    let total = view.instances.len() as u32;
    if !pool.enabled {
        return None;
    }
    let count = match view.scale_set_target {
        Some(target) => target.saturating_sub(total),
        None => {
            let n_available = view.instances.iter().filter(|i| available(i)).count() as u32;
            pool.min_idle_runners
                .saturating_sub(n_available)
                .min(pool.max_runners.saturating_sub(total))
        }
    };
    (count > 0).then_some(Step::Create { count })
}

/// What one instance's state asks for, if anything.
fn instance_step(view: &PoolView, settings: &Settings, i: &InstanceRecord) -> Option<Step> {
    let pool = &view.pool;
    let timeout = Duration::from_secs(u64::from(pool.bootstrap_timeout) * 60);
    let ready = !view.backing_off.contains(&i.name);
    let name = i.name.clone();
    let reap = |reason: String| {
        Some(Step::Reap {
            name: i.name.clone(),
            reason,
        })
    };
    match i.status {
        InstanceStatus::PendingCreate => Some(Step::Provision { name }),
        InstanceStatus::Creating => Some(Step::Interrupted { name }),
        // Its runner already ran a job (the create failed late, e.g. timed out after the
        // machine was up): creating it again would give a runner with nothing to do.
        InstanceStatus::Error if i.runner_status == RunnerStatus::Terminated => reap("runner terminated".into()),
        InstanceStatus::Error if i.create_attempt < settings.max_create_attempts => {
            ready.then_some(Step::Retry { name })
        }
        InstanceStatus::Error if age(view.now, i.updated_at) >= timeout => {
            reap(format!("create failed {} times", i.create_attempt))
        }
        InstanceStatus::Error => None,
        InstanceStatus::PendingDelete | InstanceStatus::PendingForceDelete | InstanceStatus::Deleting => {
            ready.then_some(Step::Delete { name })
        }
        InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Unknown => {
            let booting = matches!(
                i.runner_status,
                RunnerStatus::Pending | RunnerStatus::Installing | RunnerStatus::Failed
            );
            if booting && age(view.now, i.updated_at) >= timeout {
                reap(format!(
                    "runner did not come up within {} minutes (runner status {})",
                    pool.bootstrap_timeout, i.runner_status
                ))
            } else if i.runner_status == RunnerStatus::Terminated {
                reap("runner terminated".into())
            } else {
                None
            }
        }
        InstanceStatus::Deleted => None,
    }
}

/// An enabled pool keeps `min_idle_runners` idle runners plus one per queued job it matches;
/// of the surplus past the grace period it removes half (rounded up) per pass, oldest first.
/// A runner made for a job still queued is spoken for.
fn pool_down(view: &PoolView, settings: &Settings) -> Vec<Step> {
    let idle: Vec<&InstanceRecord> = view
        .instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && i.runner_status == RunnerStatus::Idle)
        .filter(|i| !job_of(&i.extra_labels).is_some_and(|j| view.queued_ids.contains(&j)))
        .filter(|i| !view.inflight.contains(&i.name))
        .collect();
    let keep = view.pool.min_idle_runners + view.queued_matching;
    let surplus = (idle.len() as u32).saturating_sub(keep);
    if surplus == 0 {
        return Vec::new();
    }
    let mut old: Vec<&InstanceRecord> = idle
        .into_iter()
        .filter(|i| age(view.now, i.updated_at) >= settings.scale_down_grace)
        .collect();
    old.sort_by_key(|i| i.updated_at);
    old.into_iter()
        .take(surplus.div_ceil(2) as usize)
        .map(|i| Step::ScaleDown { name: i.name.clone() })
        .collect()
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
    let mut tally = Tally::of(view);
    let mut turn = view.turn;
    let verdicts = view
        .queued
        .iter()
        .map(|job| (job.workflow_job_id, tally.verdict(view, job, &mut turn)))
        .collect();
    JobPlan { verdicts, turn }
}

/// What the entity's instances already account for, counted down as jobs are given verdicts.
struct Tally<'a> {
    /// Queued jobs an instance made for them is on its way to (or just finished).
    claimed: HashSet<i64>,
    /// Available runners per pool.
    free: HashMap<&'a PoolId, u32>,
    /// Available runners made for a job that no longer waits (it started on another runner
    /// of the pool, or was cancelled): the next queued job is theirs, not a new instance's.
    stale: HashMap<&'a PoolId, u32>,
    /// Instances per pool, in any state, against `max_runners`.
    count: HashMap<&'a PoolId, u32>,
}

impl<'a> Tally<'a> {
    fn of(view: &'a EntityView) -> Self {
        let queued_ids: HashSet<i64> = view.queued.iter().map(|j| j.workflow_job_id).collect();
        let mut tally = Tally {
            claimed: HashSet::new(),
            free: HashMap::new(),
            stale: HashMap::new(),
            count: HashMap::new(),
        };
        for (pool, instances) in &view.pools {
            tally.count.insert(&pool.id, instances.len() as u32);
            let mut n_free = 0;
            let mut n_stale = 0;
            for i in instances {
                // A failed create that will be retried is still on its way to its job.
                let retried = i.status == InstanceStatus::Error
                    && i.create_attempt < view.max_create_attempts
                    && i.runner_status != RunnerStatus::Terminated;
                // A runner that just finished: the `completed` webhook that names it is being
                // recorded, so its job may still read queued for a moment. Once the row is
                // deleted (which nudges the entity) or the moment has passed, a job that is
                // really still queued is served.
                let finishing = i.runner_status == RunnerStatus::Terminated && age(view.now, i.updated_at) < FINISHING;
                match job_of(&i.extra_labels).filter(|j| queued_ids.contains(j)) {
                    Some(job) if available(i) || retried || finishing => {
                        tally.claimed.insert(job);
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
            tally.free.insert(&pool.id, n_free);
            tally.stale.insert(&pool.id, n_stale);
        }
        tally
    }

    fn left(map: &HashMap<&PoolId, u32>, pool: &PoolRecord) -> u32 {
        map.get(&pool.id).copied().unwrap_or(0)
    }

    fn take(map: &mut HashMap<&PoolId, u32>, pool: &PoolRecord) -> u32 {
        let n = map.get_mut(&pool.id).expect("every pool is counted");
        *n -= 1;
        *n
    }

    /// One job's verdict, in order: claimed by its own instance; no pool serves it; a young
    /// job takes a free runner; a stale runner takes it; a pool with room gets an instance
    /// (balanced by `turn`); or it waits for room.
    fn verdict(&mut self, view: &EntityView, job: &JobRecord, turn: &mut usize) -> JobVerdict {
        if self.claimed.contains(&job.workflow_job_id) {
            return JobVerdict::Claimed;
        }
        let candidates: Vec<&PoolRecord> = view
            .pools
            .iter()
            .map(|(p, _)| p)
            .filter(|p| serves(p, &job.labels))
            .collect();
        if candidates.is_empty() {
            let pools = view.pools.iter().map(|(p, _)| p);
            let reason = unserved_reason(&view.display_name, pools, &job.labels).unwrap_or_default();
            return JobVerdict::Waits { reason };
        }
        let young = job.created_at.is_some_and(|t| age(view.now, t) < view.min_job_age);
        if young {
            if let Some(pool) = candidates.iter().find(|p| Self::left(&self.free, p) > 0) {
                let left = Self::take(&mut self.free, pool);
                if let Some(n) = self.stale.get_mut(&pool.id) {
                    *n = (*n).min(left);
                }
                return JobVerdict::Covered;
            }
        }
        if let Some(pool) = candidates.iter().find(|p| Self::left(&self.stale, p) > 0) {
            Self::take(&mut self.stale, pool);
            Self::take(&mut self.free, pool);
            return JobVerdict::Covered;
        }
        let with_room: Vec<(&PoolRecord, u32)> = candidates
            .into_iter()
            .filter(|p| Self::left(&self.count, p) < p.max_runners)
            .map(|p| (p, p.priority))
            .collect();
        match order_candidates(&with_room, view.balancer, *turn).into_iter().next() {
            Some(p) => {
                *self.count.get_mut(&p.id).expect("every pool is counted") += 1;
                *turn += 1;
                JobVerdict::Create { pool_id: p.id.clone() }
            }
            None => JobVerdict::Waits {
                reason: WAITING_FOR_ROOM.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
