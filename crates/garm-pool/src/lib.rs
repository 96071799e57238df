//! The pool manager: job intake, pool reconciliation (observe → plan → act) and the
//! instance lifecycle, for every entity and pool garm-rs manages.
//!
//! It reaches the store directly and forges and providers only through the [`Forge`]
//! and [`garm_provider::Provider`] traits. It never speaks HTTP itself and never decides
//! anything in a webhook handler: handlers record facts and nudge a reconciler.

pub mod act;
pub mod bootstrap;
pub mod forge;
pub mod intake;
pub mod leases;
pub mod metrics;
pub mod missed;
pub mod plan;
pub mod scaleset;
pub mod scheduler;
pub mod step;
pub mod wake;

use garm_model::{EntityId, InstanceName, PoolId};
use garm_provider::Provider;
use garm_store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use forge::{
    Forge, ForgeConnector, ForgeDelivery, ForgeDeliveryPage, ForgeHook, ForgeRateLimit, Forges, GithubConnector,
};
pub use metrics::Metrics;

/// What a reconciler should look at again; also the scheduler's key. Entities order before
/// pools (matching jobs creates instances the pool passes then drive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// Match the entity's queued jobs to its pools.
    Entity(EntityId),
    /// Size the pool, start and finish instance transitions.
    Pool(PoolId),
}

impl Key {
    /// The entity's or pool's id as text (for spreading periodic work by id).
    pub fn id(&self) -> &str {
        match self {
            Key::Entity(id) => id.as_str(),
            Key::Pool(id) => id.as_str(),
        }
    }
}

/// Sends reconcile triggers; a trigger nobody listens to is dropped.
#[derive(Clone)]
pub struct Nudge {
    tx: tokio::sync::mpsc::UnboundedSender<Key>,
}

impl Nudge {
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Key>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
    pub fn entity(&self, id: &EntityId) {
        let _ = self.tx.send(Key::Entity(id.clone()));
    }
    pub fn pool(&self, id: &PoolId) {
        let _ = self.tx.send(Key::Pool(id.clone()));
    }
}

/// Mints the per-instance JWT handed to providers (the server owns the signing key).
pub trait TokenMinter: Send + Sync {
    /// A token for `instance` of `pool` owned by `entity`, valid for `ttl`.
    fn mint(
        &self,
        instance: &garm_store::InstanceRecord,
        pool: &garm_store::PoolRecord,
        entity: &garm_store::EntityRecord,
        ttl: Duration,
    ) -> String;
}

/// Timings of the pool manager; tests shorten them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tick of the scheduler: pools with pending work (steps, in-flight or backing-off
    /// instances) are looked at again this often.
    pub resync: Duration,
    /// A pool or entity with nothing pending and no deadline sooner is reconciled at least this
    /// often anyway (spread over the period), as a safety net for a lost nudge.
    pub idle_resync: Duration,
    /// An idle runner younger than this is never scaled down.
    pub scale_down_grace: Duration,
    /// How often each entity's runners are listed on the forge to find orphans on both sides
    /// (spread over the period, one entity at a time).
    pub orphan_scan: Duration,
    /// Each pool's provider instances are listed at least this often (spread); sooner after a
    /// restart, after a failed provider call in the pool, or when the forge reports one of its
    /// runners offline.
    pub provider_scan: Duration,
    /// Failed creates are retried this many times in total.
    pub max_create_attempts: i64,
    /// First delay of the create/delete retry backoff (then ×2, capped at `backoff_max`).
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Runner downloads are refetched after this long.
    pub tools_ttl: Duration,
    /// Provider calls (process execs) running at once, across all pools.
    pub provider_concurrency: usize,
    /// Share (0..=1) of each credentials' hourly rate limit that missed-webhook reconciliation
    /// may spend; 0 turns it off.
    pub forge_poll_share: f64,
    /// How often each entity's webhook delivery log is read for missed deliveries while it has
    /// webhook activity; an entity without any backs off (doubling) to `missed_webhook_scan_max`.
    pub missed_webhook_scan: Duration,
    pub missed_webhook_scan_max: Duration,
    /// A job queued this long is looked up on the forge (at most once per this period).
    pub queued_job_check_after: Duration,
    /// With replicas (a fenced store): how long a lease outlives its last renewal; the keeper
    /// renews every third of it ([`leases`]).
    pub lease_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(5),
            idle_resync: Duration::from_secs(300),
            scale_down_grace: Duration::from_secs(300),
            orphan_scan: Duration::from_secs(300),
            provider_scan: Duration::from_secs(1800),
            max_create_attempts: 5,
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            tools_ttl: Duration::from_secs(40 * 60),
            provider_concurrency: 32,
            forge_poll_share: 0.1,
            missed_webhook_scan: Duration::from_secs(30),
            missed_webhook_scan_max: Duration::from_secs(300),
            queued_job_check_after: Duration::from_secs(600),
            lease_ttl: Duration::from_secs(15),
        }
    }
}

/// Per-instance retry bookkeeping (in memory; a restart retries at once).
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    pub failures: u32,
    pub not_before: Option<std::time::Instant>,
}

/// What a retry backoff is kept for: an instance's failed create or delete, or an entity whose
/// forge side fails.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackoffKey {
    Instance(InstanceName),
    Entity(EntityId),
}

impl From<&InstanceName> for BackoffKey {
    fn from(name: &InstanceName) -> Self {
        Self::Instance(name.clone())
    }
}

impl From<&EntityId> for BackoffKey {
    fn from(id: &EntityId) -> Self {
        Self::Entity(id.clone())
    }
}

/// Everything reconcilers and lifecycle steps need, passed explicitly: what the process wired
/// in (its [`Wiring`], whose fields read as the context's own through `Deref`, so
/// `ctx.store` is `ctx.wiring.store`) and the pool manager's own working state.
pub struct Ctx {
    pub wiring: Wiring,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Instance names with a lifecycle step running; no second step starts for them.
    pub inflight: Mutex<HashSet<InstanceName>>,
    pub backoff: Mutex<HashMap<BackoffKey, Backoff>>,
    /// Round-robin turn per entity.
    pub turns: Mutex<HashMap<EntityId, usize>>,
    /// Per entity, the job row after which its next pass reads queued jobs (see
    /// [`scheduler::QUEUE_WINDOW`]): a backlog larger than a window is served in turns.
    pub queue_cursor: Mutex<HashMap<EntityId, i64>>,
    /// Bounds concurrent provider calls (each is a process exec).
    pub provider_slots: tokio::sync::Semaphore,
    /// Missed-webhook reconciliation: budgets, our hooks, cursors (see [`missed`]).
    pub missed: missed::State,
    /// When each pool, entity, orphan scan and delivery-log read is next due (see [`wake`]).
    pub schedule: wake::Schedule,
    /// The scale set listeners (see [`scaleset`]).
    pub scale_sets: scaleset::Listeners,
}

/// What a process hands the pool manager to build its [`Ctx`]; the rest of the context is
/// the pool manager's own working state and starts empty.
pub struct Wiring {
    pub store: Store,
    pub providers: HashMap<String, Arc<dyn Provider>>,
    pub forges: Forges,
    pub tokens: Arc<dyn TokenMinter>,
    pub controller_id: String,
    pub settings: Settings,
    pub nudge: Nudge,
    pub metrics: Arc<Metrics>,
}

impl std::ops::Deref for Ctx {
    type Target = Wiring;

    fn deref(&self) -> &Wiring {
        &self.wiring
    }
}

impl Ctx {
    /// A context with nothing in flight, no backoff, no cursors or schedule yet, and
    /// `settings.provider_concurrency` provider calls allowed at once.
    pub fn new(wiring: Wiring) -> Self {
        Self {
            provider_slots: tokio::sync::Semaphore::new(wiring.settings.provider_concurrency.max(1)),
            wiring,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            inflight: Default::default(),
            backoff: Default::default(),
            turns: Default::default(),
            queue_cursor: Default::default(),
            missed: Default::default(),
            schedule: Default::default(),
            scale_sets: Default::default(),
        }
    }

    /// Claims `name` for one lifecycle step; `None` if a step is already running for it.
    pub fn claim(self: &Arc<Self>, name: &InstanceName) -> Option<InflightGuard> {
        let mut set = self.inflight.lock().expect("inflight lock is never poisoned");
        set.insert(name.clone()).then(|| InflightGuard {
            ctx: self.clone(),
            name: name.clone(),
        })
    }

    pub fn is_inflight(&self, name: &InstanceName) -> bool {
        self.inflight
            .lock()
            .expect("inflight lock is never poisoned")
            .contains(name)
    }

    /// Whether the backoff of `key` allows another attempt now.
    pub fn may_retry(&self, key: impl Into<BackoffKey>) -> bool {
        let map = self.backoff.lock().expect("backoff lock is never poisoned");
        map.get(&key.into())
            .and_then(|b| b.not_before)
            .is_none_or(|t| std::time::Instant::now() >= t)
    }

    pub fn record_failure(&self, key: impl Into<BackoffKey>) {
        let mut map = self.backoff.lock().expect("backoff lock is never poisoned");
        let entry = map.entry(key.into()).or_default();
        entry.failures += 1;
        let factor = 2u32.saturating_pow(entry.failures.saturating_sub(1).min(16));
        let delay = self
            .settings
            .backoff_initial
            .saturating_mul(factor)
            .min(self.settings.backoff_max);
        entry.not_before = Some(std::time::Instant::now() + delay);
    }

    /// Like [`Ctx::record_failure`], with the delay capped at `cap` instead of `backoff_max`.
    pub fn record_failure_capped(&self, key: impl Into<BackoffKey>, cap: Duration) {
        let mut map = self.backoff.lock().expect("backoff lock is never poisoned");
        let entry = map.entry(key.into()).or_default();
        entry.failures += 1;
        let factor = 2u32.saturating_pow(entry.failures.saturating_sub(1).min(16));
        let delay = self.settings.backoff_initial.saturating_mul(factor).min(cap);
        entry.not_before = Some(std::time::Instant::now() + delay);
    }

    pub fn clear_backoff(&self, key: impl Into<BackoffKey>) {
        self.backoff
            .lock()
            .expect("backoff lock is never poisoned")
            .remove(&key.into());
    }

    pub fn provider(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.providers.get(name).cloned()
    }
}

/// Releases an in-flight claim when the step ends, however it ends.
pub struct InflightGuard {
    ctx: Arc<Ctx>,
    name: InstanceName,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.ctx.inflight.lock() {
            set.remove(&self.name);
        }
    }
}

/// A write (or call) whose failure cannot be acted on where it happens. The failure is logged
/// with `what` was lost and `why` going on is safe (what repairs it), instead of dropped
/// silently; the value is returned when there is one.
pub(crate) fn logged<T, E: std::error::Error>(what: &str, why: &str, result: Result<T, E>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(error = %garm_base::chain(&err), repaired_by = why, "{what} failed");
            None
        }
    }
}

/// The label garm adds to runners so they can be traced to this controller.
pub fn controller_label(controller_id: &str) -> String {
    format!("runner-controller-id={controller_id}")
}

/// The label garm adds to runners so they can be traced to their pool.
pub fn pool_label(pool_id: &PoolId) -> String {
    format!("runner-pool-id={pool_id}")
}

/// Internal instance label: the job this instance was created for.
pub fn job_label(workflow_job_id: i64) -> String {
    format!("in_response_to_job={workflow_job_id}")
}

/// The job id in an instance's `in_response_to_job` label, if any.
pub fn job_of(labels: &[String]) -> Option<i64> {
    labels
        .iter()
        .find_map(|l| l.strip_prefix("in_response_to_job=")?.parse().ok())
}
