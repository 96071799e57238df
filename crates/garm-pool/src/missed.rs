//! Missed webhooks: GitHub delivers a webhook at best once, so a timer looks for what was lost.
//!
//! # Flow
//! Every `missed_webhook_scan` while the entity sees activity (backing off by doubling to
//! `missed_webhook_scan_max` while it sees none; see [`crate::wake`]), for each repository and
//! organization whose pool manager runs:
//! 1. find our hook on the forge (the one whose URL is this controller's webhook URL; cached);
//! 2. read the newest page of its *failed* deliveries, and one older page resuming where the
//!    previous pass stopped, back to [`HORIZON`];
//! 3. ask the forge to redeliver each failed `workflow_job` delivery whose key we never
//!    recorded (the webhook handler records `<hook id>:<guid>` after a successful intake),
//!    oldest first. The redelivery arrives as an ordinary webhook.
//!
//! Then, for every entity (enterprises too), each queued job row older than
//! `queued_job_check_after` is looked up with `GET .../actions/jobs/{id}` at most once per
//! that period: a job the forge reports started or finished is recorded as if its webhook had
//! arrived, and one the forge no longer has is forgotten.
//!
//! # Guarantees
//! Reconciliation spends at most `forge_poll_share` of each credentials' hourly rate limit
//! (a token bucket per credentials), sends nothing while the client is rate limited, and
//! stops while less than a tenth of the hourly limit remains, which provisioning keeps.
//!
//! # Caveats
//! It cannot find deliveries the forge never attempted (no hook, an inactive hook, a hook
//! whose URL is not ours, GitHub App webhooks), deliveries older than [`HORIZON`], or jobs
//! queued while no delivery of theirs failed and that we never recorded. A delivery that
//! keeps failing is asked for [`MAX_ASKS`] times, then left alone.

use crate::forge::{Forge, ForgeDelivery, ForgeRateLimit};
use crate::intake::{self, Owner};
use crate::Ctx;
use chrono::{DateTime, Utc};
use garm_forge::webhook::{JobAction, Repository, WorkflowJobEvent};
use garm_forge::ForgeError;
use garm_model::EntityId;
use garm_store::{EntityKind, EntityRecord, JobRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Deliveries older than this are not looked at (a job queued for a day has failed anyway).
pub const HORIZON: Duration = Duration::from_secs(24 * 3600);
/// A delivery is asked for again at most this many times.
pub const MAX_ASKS: u32 = 5;
/// Our hook's id is looked up again after this long.
const HOOK_TTL: Duration = Duration::from_secs(600);
/// Recorded delivery keys are kept this long (GitHub redelivers for three days).
const DELIVERY_KEY_TTL: chrono::TimeDelta = chrono::TimeDelta::days(4);
/// The rate limit assumed until the forge reports one.
const DEFAULT_LIMIT: u64 = 5000;

/// A token bucket: `share` of the hourly `limit`, refilled continuously, holding at most five
/// minutes' worth (at least three requests).
#[derive(Debug, Clone)]
pub struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: f64::NAN,
            at: now,
        }
    }

    fn per_hour(share: f64, limit: u64) -> f64 {
        share.clamp(0.0, 1.0) * limit as f64
    }

    fn capacity(per_hour: f64) -> f64 {
        (per_hour / 12.0).max(3.0_f64.min(per_hour))
    }

    /// Takes one request from the budget if the forge's rate limit and the share allow it.
    pub fn take(&mut self, now: Instant, share: f64, rate: ForgeRateLimit) -> bool {
        if rate.blocked_until.is_some() {
            return false;
        }
        let limit = rate.limit.unwrap_or(DEFAULT_LIMIT);
        let per_hour = Self::per_hour(share, limit);
        if per_hour <= 0.0 {
            return false;
        }
        // Invariant: the last tenth of the hourly limit is kept for provisioning.
        if rate.remaining.is_some_and(|left| left < limit / 10) {
            return false;
        }
        let capacity = Self::capacity(per_hour);
        if self.tokens.is_nan() {
            self.tokens = capacity;
        } else {
            let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * per_hour / 3600.0).min(capacity);
        }
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How often a delivery was asked for, and when last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub times: u32,
    pub last: DateTime<Utc>,
}

/// What reconciliation remembers between passes (in memory; a restart starts afresh).
#[derive(Default)]
pub struct State {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    budgets: HashMap<i64, Budget>,
    /// Entity id → (looked up at, our hook's id).
    hooks: HashMap<EntityId, (Instant, Option<i64>)>,
    /// Entity id → where the next older page of failed deliveries starts.
    cursors: HashMap<EntityId, String>,
    /// `<entity id>/<guid>` → redelivery requests so far.
    asked: HashMap<String, Asked>,
    /// Job id → when the forge was last asked about it.
    checked_jobs: HashMap<i64, Instant>,
    last_prune: Option<Instant>,
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("missed-webhook state lock is never poisoned")
    }

    /// Takes one request from the budget of `credentials_id`.
    fn spend(&self, credentials_id: i64, share: f64, rate: ForgeRateLimit) -> bool {
        let now = Instant::now();
        self.lock()
            .budgets
            .entry(credentials_id)
            .or_insert_with(|| Budget::new(now))
            .take(now, share, rate)
    }
}

/// Whether a delivery failed in a way a redelivery can repair: the receiver could not be
/// reached or timed out (`0`), or it failed itself (5xx). A 4xx was our deliberate refusal
/// (a bad signature, a malformed body), which a redelivery would only repeat.
fn repairable(delivery: &ForgeDelivery) -> bool {
    !delivery.succeeded && matches!(delivery.status_code, 0 | 500..=599)
}

/// The deliveries to ask for again, oldest first: failed `workflow_job` deliveries within
/// [`HORIZON`] whose key (`<hook id>:<guid>`, or the GUID alone) was never recorded, not asked
/// for [`MAX_ASKS`] times yet, and not asked for within `retry_after`.
pub fn to_redeliver(
    deliveries: &[ForgeDelivery],
    hook_id: i64,
    seen: &HashSet<String>,
    asked: &HashMap<String, Asked>,
    now: DateTime<Utc>,
    retry_after: Duration,
) -> Vec<ForgeDelivery> {
    let horizon = chrono::TimeDelta::from_std(HORIZON).expect("the horizon fits");
    let retry_after = chrono::TimeDelta::from_std(retry_after).unwrap_or(chrono::TimeDelta::MAX);
    let mut by_guid: HashMap<&str, &ForgeDelivery> = HashMap::new();
    for d in deliveries {
        let fresh = d.delivered_at.is_none_or(|at| now - at <= horizon);
        if d.event != "workflow_job" || d.guid.is_empty() || !fresh || !repairable(d) {
            continue;
        }
        by_guid
            .entry(d.guid.as_str())
            .and_modify(|kept| {
                if d.id < kept.id {
                    *kept = d;
                }
            })
            .or_insert(d);
    }
    let mut out: Vec<ForgeDelivery> = by_guid
        .into_values()
        .filter(|d| !seen.contains(&format!("{hook_id}:{}", d.guid)) && !seen.contains(&d.guid))
        .filter(|d| {
            asked
                .get(&d.guid)
                .is_none_or(|a| a.times < MAX_ASKS && now - a.last >= retry_after)
        })
        .cloned()
        .collect();
    out.sort_by_key(|d| d.id);
    out
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    !a.trim().is_empty() && norm(a) == norm(b)
}

/// Runs one pass over every entity; errors are logged, never returned.
pub async fn scan(ctx: &Arc<Ctx>) {
    scan_entities(ctx, None).await;
}

/// Runs one pass over `only` (every entity when `None`) and books each entity's next pass with
/// the scheduler: soon if something was missed, later (backing off) if not.
pub async fn scan_entities(ctx: &Arc<Ctx>, only: Option<&[EntityId]>) {
    let Ok(entities) = ctx.store.all_entities().await else {
        return;
    };
    prune(ctx).await;
    // With replicas, only the holder of an entity's lease reads its delivery log (one budget).
    let wanted = |e: &&EntityRecord| only.is_none_or(|ids| ids.contains(&e.id)) && ctx.store.holds_entity(&e.id);
    for entity in entities.iter().filter(wanted) {
        if ctx.shutdown.is_cancelled() {
            return;
        }
        let mut active = false;
        if entity.pool_manager_running {
            if let Ok(forge) = ctx.forges.for_entity(&ctx.store, entity).await {
                if entity.kind != EntityKind::Enterprise {
                    match deliveries(ctx, entity, forge.as_ref()).await {
                        Ok(asked) => active |= asked > 0,
                        Err(err) => {
                            tracing::debug!(entity = %entity.display_name(), error = %err, "reading the webhook delivery log failed");
                            ctx.forges.note_error(&entity.id, &err);
                        }
                    }
                }
                if let Err(err) = queued_jobs(ctx, entity, forge.as_ref()).await {
                    tracing::debug!(entity = %entity.display_name(), error = %err, "checking queued jobs with the forge failed");
                    ctx.forges.note_error(&entity.id, &err);
                }
            }
        }
        ctx.schedule.missed_done(&entity.id, active, &ctx.settings);
    }
}

async fn prune(ctx: &Ctx) {
    let due = {
        let mut inner = ctx.missed.lock();
        let due = inner
            .last_prune
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(3600));
        if due {
            inner.last_prune = Some(Instant::now());
            let horizon = ctx.settings.queued_job_check_after.max(HORIZON);
            inner.checked_jobs.retain(|_, at| at.elapsed() < horizon);
            let now = Utc::now();
            inner
                .asked
                .retain(|_, a| now - a.last < chrono::TimeDelta::from_std(HORIZON).expect("fits"));
        }
        due
    };
    if due {
        if let Ok(n) = ctx.store.prune_deliveries(Utc::now() - DELIVERY_KEY_TTL).await {
            if n > 0 {
                tracing::debug!(pruned = n, "forgot old webhook delivery keys");
            }
        }
    }
}

/// Our hook on `entity`: the one whose URL is the controller's webhook URL (with or without
/// the controller id). `None` when there is none.
async fn our_hook(ctx: &Ctx, entity: &EntityRecord, forge: &dyn Forge) -> Result<Option<i64>, ForgeError> {
    if let Some((at, id)) = ctx.missed.lock().hooks.get(&entity.id) {
        if at.elapsed() < HOOK_TTL {
            return Ok(*id);
        }
    }
    if !ctx
        .missed
        .spend(entity.credentials_id, ctx.settings.forge_poll_share, forge.rate_limit())
    {
        return Err(ForgeError::RateLimited { reset_at: Utc::now() });
    }
    let controller = ctx.store.controller().await.map_err(|_| ForgeError::Unsupported {
        operation: "reading the controller",
    })?;
    let base = controller.webhook_url.trim_end_matches('/');
    let full = format!("{base}/{}", ctx.controller_id);
    let hooks = forge.hooks().await?;
    let found = hooks
        .iter()
        .find(|h| same_url(&h.url, &full) || same_url(&h.url, base))
        .map(|h| h.id);
    if found.is_none() {
        tracing::info!(entity = %entity.display_name(), "no webhook of this controller on the forge; missed deliveries cannot be looked for");
    }
    ctx.missed
        .lock()
        .hooks
        .insert(entity.id.clone(), (Instant::now(), found));
    Ok(found)
}

/// Returns how many redeliveries it asked for.
async fn deliveries(ctx: &Ctx, entity: &EntityRecord, forge: &dyn Forge) -> Result<usize, ForgeError> {
    let share = ctx.settings.forge_poll_share;
    if share <= 0.0 {
        return Ok(0);
    }
    let Some(hook_id) = our_hook(ctx, entity, forge).await? else {
        return Ok(0);
    };
    let Some(failed) = failed_deliveries(ctx, entity, forge, hook_id).await? else {
        return Ok(0);
    };
    let mut keys: Vec<String> = Vec::new();
    for d in &failed {
        keys.push(format!("{hook_id}:{}", d.guid));
        keys.push(d.guid.clone());
    }
    let seen = ctx
        .store
        .deliveries_seen(&keys)
        .await
        .map_err(|_| ForgeError::Unsupported {
            operation: "reading recorded deliveries",
        })?;
    let asked: HashMap<String, Asked> = {
        let inner = ctx.missed.lock();
        let prefix = format!("{}/", entity.id);
        inner
            .asked
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|guid| (guid.to_string(), *v)))
            .collect()
    };
    let retry_after = (ctx.settings.missed_webhook_scan * 2).max(Duration::from_secs(10));
    let mut asked_now = 0;
    for d in to_redeliver(&failed, hook_id, &seen, &asked, Utc::now(), retry_after) {
        if !ctx.missed.spend(entity.credentials_id, share, forge.rate_limit()) {
            tracing::debug!(entity = %entity.display_name(), "missed-webhook budget spent for now");
            break;
        }
        forge
            .redeliver(hook_id, d.id)
            .await
            .inspect_err(|err| forget_hook(ctx, entity, err))?;
        asked_now += 1;
        ctx.metrics.inc("garm_webhook_redeliveries_requested_total", &[]);
        let times = note_asked(ctx, entity, &d.guid);
        tracing::info!(entity = %entity.display_name(), delivery = %d.guid, action = d.action.as_deref().unwrap_or(""), attempt = times, "asked the forge to redeliver a missed webhook");
        if times == MAX_ASKS {
            tracing::warn!(entity = %entity.display_name(), delivery = %d.guid, "a webhook delivery keeps failing; not asking for it again");
        }
    }
    Ok(asked_now)
}

/// Our hook is gone from the forge: look for it again next time.
fn forget_hook(ctx: &Ctx, entity: &EntityRecord, err: &ForgeError) {
    if err.is_not_found() {
        ctx.missed.lock().hooks.remove(&entity.id);
    }
}

/// The hook's failed deliveries: the newest page, and one older page per pass, walked back to
/// [`HORIZON`] with a cursor kept per entity. `None` when the budget allows no read now.
async fn failed_deliveries(
    ctx: &Ctx,
    entity: &EntityRecord,
    forge: &dyn Forge,
    hook_id: i64,
) -> Result<Option<Vec<ForgeDelivery>>, ForgeError> {
    let share = ctx.settings.forge_poll_share;
    if !ctx.missed.spend(entity.credentials_id, share, forge.rate_limit()) {
        return Ok(None);
    }
    let newest = forge
        .failed_deliveries(hook_id, None)
        .await
        .inspect_err(|err| forget_hook(ctx, entity, err))?;
    let horizon = chrono::TimeDelta::from_std(HORIZON).expect("fits");
    let within = |page: &[ForgeDelivery]| {
        page.last()
            .and_then(|d| d.delivered_at)
            .is_none_or(|at| Utc::now() - at <= horizon)
    };
    let saved = ctx.missed.lock().cursors.get(&entity.id).cloned();
    let deeper = saved.or_else(|| newest.next_cursor.clone().filter(|_| within(&newest.deliveries)));
    let mut failed = newest.deliveries;
    let Some(cursor) = deeper else {
        return Ok(Some(failed));
    };
    if !ctx.missed.spend(entity.credentials_id, share, forge.rate_limit()) {
        return Ok(Some(failed));
    }
    // An older page that cannot be read (an expired cursor) restarts the walk next pass.
    let next = match forge.failed_deliveries(hook_id, Some(&cursor)).await {
        Ok(older) => {
            let next = older.next_cursor.clone().filter(|_| within(&older.deliveries));
            failed.extend(older.deliveries);
            next
        }
        Err(err) => {
            tracing::debug!(entity = %entity.display_name(), error = %err, "reading an older page of webhook deliveries failed");
            forget_hook(ctx, entity, &err);
            None
        }
    };
    let mut inner = ctx.missed.lock();
    match next {
        Some(next) => inner.cursors.insert(entity.id.clone(), next),
        None => inner.cursors.remove(&entity.id),
    };
    Ok(Some(failed))
}

/// Counts one more redelivery asked for `guid`; returns how many have been asked.
fn note_asked(ctx: &Ctx, entity: &EntityRecord, guid: &str) -> u32 {
    let mut inner = ctx.missed.lock();
    let entry = inner.asked.entry(format!("{}/{guid}", entity.id)).or_insert(Asked {
        times: 0,
        last: Utc::now(),
    });
    entry.times += 1;
    entry.last = Utc::now();
    entry.times
}

fn owns(entity: &EntityRecord, job: &JobRecord) -> bool {
    [&job.repo_id, &job.org_id, &job.enterprise_id]
        .iter()
        .any(|id| id.as_deref() == Some(entity.id.as_str()))
}

/// The webhook that was missed for `job`, made from what the forge says of it now.
fn missed_event(job: &JobRecord, action: JobAction, current: garm_forge::webhook::WorkflowJob) -> WorkflowJobEvent {
    let repo_url = job
        .workflow_run_url
        .split("/actions/runs/")
        .next()
        .unwrap_or_default()
        .to_string();
    WorkflowJobEvent {
        action,
        job: current,
        repository: Repository {
            name: job.repository_name.clone(),
            owner_login: job.repository_owner.clone(),
            full_name: format!("{}/{}", job.repository_owner, job.repository_name),
            html_url: repo_url,
        },
        organization_login: None,
        enterprise_slug: None,
        installation_id: None,
    }
}

/// Asks the forge about queued jobs we have waited on for a while.
async fn queued_jobs(ctx: &Arc<Ctx>, entity: &EntityRecord, forge: &dyn Forge) -> Result<(), ForgeError> {
    let share = ctx.settings.forge_poll_share;
    let after = ctx.settings.queued_job_check_after;
    if share <= 0.0 || after.is_zero() {
        return Ok(());
    }
    let Ok(queued) = ctx.store.jobs_with_status("queued").await else {
        return Ok(());
    };
    let now = Utc::now();
    let waited = chrono::TimeDelta::from_std(after).unwrap_or(chrono::TimeDelta::MAX);
    // Scale set jobs are the message queue's business; GitHub has no REST id for them here.
    for job in queued.iter().filter(|j| owns(entity, j) && j.scaleset_job_id.is_none()) {
        let since = job.created_at.or(job.updated_at).unwrap_or(now);
        if now - since < waited || job.repository_owner.is_empty() || job.repository_name.is_empty() {
            continue;
        }
        let recently = ctx
            .missed
            .lock()
            .checked_jobs
            .get(&job.workflow_job_id)
            .is_some_and(|at| at.elapsed() < after);
        if recently {
            continue;
        }
        if !ctx.missed.spend(entity.credentials_id, share, forge.rate_limit()) {
            break;
        }
        ctx.missed
            .lock()
            .checked_jobs
            .insert(job.workflow_job_id, Instant::now());
        ctx.metrics.inc("garm_queued_job_checks_total", &[]);
        match forge
            .workflow_job(&job.repository_owner, &job.repository_name, job.workflow_job_id)
            .await
        {
            Ok(current) => {
                let action = match current.status.as_str() {
                    "in_progress" => JobAction::InProgress,
                    "completed" => JobAction::Completed,
                    _ => continue,
                };
                tracing::info!(job_id = job.workflow_job_id, status = %current.status, "the forge reports a job we thought queued has moved on (its webhook was missed)");
                let event = missed_event(job, action, current);
                if let Err(err) = intake::record(ctx, Owner::Ours(entity.clone()), &event).await {
                    tracing::warn!(job_id = job.workflow_job_id, error = %err, "recording a job's state from the forge failed");
                }
            }
            Err(err) if err.is_not_found() => {
                tracing::info!(
                    job_id = job.workflow_job_id,
                    "the forge no longer has a job we thought queued; forgetting it"
                );
                crate::logged(
                    "forgetting a job the forge no longer has",
                    "the next scan asks the forge again and forgets it then",
                    ctx.store.delete_job(job.workflow_job_id).await,
                );
                ctx.nudge.entity(&entity.id);
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
