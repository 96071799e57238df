//! When timer-driven work is due, per pool and per entity, instead of polling everything.
//!
//! The scheduler ticks every `resync` and reconciles only what is due:
//! - a pool whose last reconcile left work pending (steps, in-flight or backing-off instances,
//!   instances in a transitional state) is due again after `resync`; otherwise at its next
//!   deadline ([`pool_delay`]: a booting runner's bootstrap timeout, a failed create's reap time,
//!   an idle surplus's scale-down grace), and at the latest after `idle_resync` (a safety net
//!   for a lost nudge, spread over the second half of the period by the pool's id);
//! - an entity is due after `idle_resync` likewise; one with queued jobs or a failing forge is
//!   looked at every tick by the scheduler;
//! - each entity's orphan scan is due every `orphan_scan` (spread the same way), and lists a
//!   pool's provider instances only when something could have changed there
//!   ([`Schedule::should_list`]);
//! - each entity's webhook delivery log is read every `missed_webhook_scan` while it sees
//!   activity (any nudge for the entity, a delivery found to redeliver), backing off by doubling
//!   to `missed_webhook_scan_max` while it sees none.
//!
//! Everything here is in memory: a restart reconciles every pool and entity, and lists every
//! pool's provider instances, at once.

use crate::plan::PoolView;
use crate::{Key, Settings};
use chrono::{DateTime, Utc};
use garm_model::{EntityId, InstanceStatus, PoolId, RunnerStatus};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fixed fraction in `[0, 1)` per id (FNV-1a), so periodic work spreads over its period.
pub fn phase(id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// `now + d`, or a year from now when that does not fit.
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// `period` shortened by up to a half, by id: between `period / 2` and `period`.
pub fn spread(id: &str, period: Duration) -> Duration {
    part(period, 0.5 + 0.5 * phase(id))
}

/// `period × f` for `f` in `[0, 1]`, never more than `period` (and never panicking).
fn part(period: Duration, f: f64) -> Duration {
    Duration::try_from_secs_f64(period.as_secs_f64() * f)
        .unwrap_or(period)
        .min(period)
}

/// Whether a pool reconcile planned any steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    Steps,
    Nothing,
}

/// Whether the store knows everything a pool's provider may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderState {
    Known,
    /// A create or delete failed there: a machine may have been left behind, so the entity's
    /// next orphan scan lists the pool.
    Suspect,
}

/// How long until this pool needs a reconcile again, given what its last one saw and whether it
/// `planned` any steps. Never below `settings.resync`; `Duration::MAX` when nothing is due
/// at all (the caller caps it with the safety net).
pub fn pool_delay(view: &PoolView, planned: Planned, settings: &Settings) -> Duration {
    if planned == Planned::Steps || !view.inflight.is_empty() || !view.backing_off.is_empty() {
        return settings.resync;
    }
    let pool = &view.pool;
    let timeout = chrono::Duration::minutes(i64::from(pool.bootstrap_timeout));
    let mut next: Option<DateTime<Utc>> = None;
    let mut at = |t: DateTime<Utc>| next = Some(next.map_or(t, |n: DateTime<Utc>| n.min(t)));
    for i in &view.instances {
        match i.status {
            InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Unknown => match i.runner_status {
                RunnerStatus::Pending | RunnerStatus::Installing | RunnerStatus::Failed => at(i.updated_at + timeout),
                RunnerStatus::Terminated => return settings.resync,
                _ => {}
            },
            InstanceStatus::Error
                if i.create_attempt >= settings.max_create_attempts && i.runner_status != RunnerStatus::Terminated =>
            {
                at(i.updated_at + timeout)
            }
            InstanceStatus::Deleted => {}
            // pending_create, creating, error to retry, pending/forced delete, deleting.
            _ => return settings.resync,
        }
    }
    if pool.enabled {
        let idle: Vec<_> = view
            .instances
            .iter()
            .filter(|i| i.status == InstanceStatus::Running && i.runner_status == RunnerStatus::Idle)
            .collect();
        if idle.len() as u32 > pool.min_idle_runners + view.queued_matching {
            let grace = chrono::Duration::from_std(settings.scale_down_grace).unwrap_or(chrono::Duration::MAX);
            for i in idle {
                at(i.updated_at + grace);
            }
        }
    }
    match next {
        None => Duration::MAX,
        Some(t) => (t - view.now).to_std().unwrap_or_default().max(settings.resync),
    }
}

/// Whether a pool's provider may hold something the store does not know: a create or delete
/// failed there (a machine may have been left behind).
pub fn pool_suspect(view: &PoolView) -> ProviderState {
    let failed = view
        .instances
        .iter()
        .any(|i| i.status == InstanceStatus::Error || !i.provider_fault.is_empty());
    if failed {
        ProviderState::Suspect
    } else {
        ProviderState::Known
    }
}

/// What is due when (see the module documentation).
#[derive(Default)]
pub struct Schedule {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pools: HashMap<PoolId, Instant>,
    entities: HashMap<EntityId, Instant>,
    /// Entity → next orphan scan.
    orphans: HashMap<EntityId, Instant>,
    /// Pool → when its provider instances were last listed (or it was first seen).
    listed: HashMap<PoolId, Instant>,
    /// Pools to list at their entity's next orphan scan.
    suspect: HashSet<PoolId>,
    /// Entity → (next delivery-log read, current interval).
    missed: HashMap<EntityId, (Instant, Duration)>,
    /// The orphan scan that follows a start has listed every pool.
    started: bool,
}

impl Schedule {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("schedule lock is never poisoned")
    }

    /// The reconcile of `key` is due again at `at` (the scheduler's dispatch decides when;
    /// see `scheduler::dispatch`).
    pub fn set_due(&self, key: &Key, at: Instant) {
        let mut inner = self.lock();
        match key {
            Key::Entity(id) => inner.entities.insert(id.clone(), at),
            Key::Pool(id) => inner.pools.insert(id.clone(), at),
        };
    }

    /// The pool's provider may hold something the store does not know (a create or delete
    /// failed there): its entity's next orphan scan lists it.
    pub fn suspect(&self, pool: &PoolId) {
        self.lock().suspect.insert(pool.clone());
    }

    /// `key` no longer exists: drop everything booked for it.
    pub fn forget(&self, key: &Key) {
        let mut inner = self.lock();
        match key {
            Key::Pool(id) => {
                inner.pools.remove(id);
                inner.listed.remove(id);
                inner.suspect.remove(id);
            }
            Key::Entity(id) => {
                inner.entities.remove(id);
                inner.orphans.remove(id);
                inner.missed.remove(id);
            }
        }
    }

    /// Whether `key` was reconciled since the start.
    pub fn knows(&self, key: &Key) -> bool {
        let inner = self.lock();
        match key {
            Key::Pool(id) => inner.pools.contains_key(id),
            Key::Entity(id) => inner.entities.contains_key(id),
        }
    }

    /// Pools and entities whose reconcile is due at `now`.
    pub fn due(&self, now: Instant) -> Vec<Key> {
        let inner = self.lock();
        let entities = inner
            .entities
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| Key::Entity(id.clone()));
        let pools = inner
            .pools
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| Key::Pool(id.clone()));
        entities.chain(pools).collect()
    }

    /// An entity exists (listed, or nudged): its orphan scans and delivery-log reads get a slot.
    /// Before the first orphan scan finished, it is due at once; afterwards within its period.
    pub fn register_entity(&self, id: &EntityId, settings: &Settings) {
        let now = Instant::now();
        let mut inner = self.lock();
        let first = if inner.started {
            after(now, part(settings.orphan_scan, phase(id)))
        } else {
            now
        };
        inner.orphans.entry(id.clone()).or_insert(first);
        inner
            .missed
            .entry(id.clone())
            .or_insert((now, settings.missed_webhook_scan));
    }

    /// Webhook or API activity on an entity: read its delivery log at the base cadence again.
    pub fn entity_active(&self, id: &EntityId, settings: &Settings) {
        let now = Instant::now();
        let base = settings.missed_webhook_scan;
        let mut inner = self.lock();
        let entry = inner.missed.entry(id.clone()).or_insert((now, base));
        entry.1 = base;
        entry.0 = entry.0.min(after(now, base));
    }

    /// Entities whose orphan scan is due at `now`; their next one is booked at once.
    pub fn orphans_due(&self, now: Instant, settings: &Settings) -> Vec<EntityId> {
        let mut inner = self.lock();
        if inner.orphans.is_empty() {
            // Nothing existed at the start: pools created from now on are new.
            inner.started = true;
        }
        let mut out = Vec::new();
        for (id, due) in inner.orphans.iter_mut() {
            if *due <= now {
                *due = after(now, spread(id, settings.orphan_scan));
                out.push(id.clone());
            }
        }
        out
    }

    /// An orphan scan finished; once one has run since the start, pools seen for the first time
    /// count as listed then (a new pool has no instances the store does not know).
    pub fn orphans_finished(&self) {
        self.lock().started = true;
    }

    /// Whether this pass should list the pool's provider instances: never listed since the
    /// start, suspect (a failed provider call), `hint` (the forge reports a runner of the pool
    /// offline), or not listed for `provider_scan` (spread).
    pub fn should_list(&self, pool: &PoolId, hint: bool, settings: &Settings) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.suspect.contains(pool) || hint {
            return true;
        }
        match inner.listed.get(pool) {
            Some(at) => now.saturating_duration_since(*at) >= spread(pool, settings.provider_scan),
            None if inner.started => {
                inner.listed.insert(pool.clone(), now);
                false
            }
            None => true,
        }
    }

    /// The pool's provider instances were listed (and compared with the store).
    pub fn listed(&self, pool: &PoolId) {
        let mut inner = self.lock();
        inner.listed.insert(pool.clone(), Instant::now());
        inner.suspect.remove(pool);
    }

    /// Entities whose delivery log is due at `now`; each is booked again a full interval ahead
    /// until [`Schedule::missed_done`] reports the pass.
    pub fn missed_due(&self, now: Instant) -> Vec<EntityId> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for (id, (due, interval)) in inner.missed.iter_mut() {
            if *due <= now {
                *due = after(now, *interval);
                out.push(id.clone());
            }
        }
        out
    }

    /// A delivery-log pass over the entity ended; `active`: it found something to ask for.
    pub fn missed_done(&self, id: &EntityId, active: bool, settings: &Settings) {
        let now = Instant::now();
        let base = settings.missed_webhook_scan;
        let max = settings.missed_webhook_scan_max.max(base);
        let mut inner = self.lock();
        if let Some((due, interval)) = inner.missed.get_mut(id) {
            *interval = if active {
                base
            } else {
                interval.saturating_mul(2).min(max)
            };
            *due = after(now, spread(id, *interval));
        }
    }

    /// Forgets pools and entities that no longer exist.
    pub fn retain(&self, pools: &HashSet<PoolId>, entities: &HashSet<EntityId>) {
        let mut inner = self.lock();
        inner.pools.retain(|id, _| pools.contains(id));
        inner.listed.retain(|id, _| pools.contains(id));
        inner.suspect.retain(|id| pools.contains(id));
        inner.entities.retain(|id, _| entities.contains(id));
        inner.orphans.retain(|id, _| entities.contains(id));
        inner.missed.retain(|id, _| entities.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(statuses: &[(InstanceStatus, RunnerStatus, i64)]) -> PoolView {
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let pool = garm_store::PoolRecord {
            id: "p1".into(),
            entity_id: "e".into(),
            provider_name: "p".into(),
            runner_prefix: "garm".into(),
            max_runners: 10,
            min_idle_runners: 0,
            bootstrap_timeout: 20,
            image: "i".into(),
            flavor: "f".into(),
            os_type: "linux".into(),
            os_arch: "amd64".into(),
            enabled: true,
            extra_specs: None,
            runner_group: String::new(),
            enable_shell: false,
            generation: 0,
            priority: 0,
            template_id: None,
            proxy_id: None,
            scale_set_id: None,
            tags: vec![],
            created_at: now,
            updated_at: now,
        };
        let instances = statuses
            .iter()
            .enumerate()
            .map(|(n, (status, runner, minutes_ago))| garm_store::InstanceRecord {
                id: format!("i{n}"),
                name: format!("i{n}").into(),
                pool_id: "p1".into(),
                provider_id: None,
                agent_id: 0,
                os_type: "linux".into(),
                os_arch: "amd64".into(),
                os_name: String::new(),
                os_version: String::new(),
                addresses: vec![],
                status: *status,
                runner_status: *runner,
                provider_fault: String::new(),
                create_attempt: 1,
                token_fetched: false,
                jit_config: None,
                runner_group: String::new(),
                extra_labels: vec![],
                generation: 0,
                callback_url: String::new(),
                metadata_url: String::new(),
                heartbeat: now,
                created_at: now - chrono::Duration::minutes(*minutes_ago),
                updated_at: now - chrono::Duration::minutes(*minutes_ago),
            })
            .collect();
        PoolView {
            pool,
            instances,
            queued_matching: 0,
            queued_ids: HashSet::new(),
            inflight: HashSet::new(),
            backing_off: HashSet::new(),
            scale_set_target: None,
            now,
        }
    }

    #[test]
    fn a_pool_is_due_at_its_next_deadline_or_soon_when_work_is_pending() {
        let settings = Settings::default();
        let min = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(
            pool_delay(&view(&[]), Planned::Nothing, &settings),
            Duration::MAX,
            "nothing to wait for"
        );
        assert_eq!(
            pool_delay(&view(&[]), Planned::Steps, &settings),
            settings.resync,
            "steps were planned"
        );
        // A booting runner is reaped at its bootstrap timeout (20 minutes after its last change).
        let booting = view(&[(InstanceStatus::Running, RunnerStatus::Pending, 5)]);
        assert_eq!(pool_delay(&booting, Planned::Nothing, &settings), min(15));
        // An idle runner with nothing to scale down waits for nothing; a surplus one for its grace.
        let idle = view(&[(InstanceStatus::Running, RunnerStatus::Idle, 1)]);
        assert_eq!(pool_delay(&idle, Planned::Nothing, &settings), min(4));
        let mut kept = view(&[(InstanceStatus::Running, RunnerStatus::Idle, 1)]);
        kept.pool.min_idle_runners = 1;
        assert_eq!(pool_delay(&kept, Planned::Nothing, &settings), Duration::MAX);
        for transitional in [
            InstanceStatus::PendingCreate,
            InstanceStatus::Creating,
            InstanceStatus::Error,
            InstanceStatus::PendingDelete,
            InstanceStatus::Deleting,
        ] {
            let v = view(&[(transitional, RunnerStatus::Pending, 60)]);
            assert_eq!(
                pool_delay(&v, Planned::Nothing, &settings),
                settings.resync,
                "{transitional:?}"
            );
        }
        let mut inflight = view(&[(InstanceStatus::Running, RunnerStatus::Active, 1)]);
        inflight.inflight.insert("i0".into());
        assert_eq!(pool_delay(&inflight, Planned::Nothing, &settings), settings.resync);
    }

    #[test]
    fn spread_stays_within_the_second_half_of_the_period() {
        let period = Duration::from_secs(100);
        for id in ["a", "b", "pool-1", "0f8fad5b-d9cb-469f-a165-70867728950e"] {
            let d = spread(id, period);
            assert!(d >= period / 2 && d <= period, "{id}: {d:?}");
        }
        assert_ne!(phase("a"), phase("b"));
    }

    #[test]
    fn an_idle_entity_backs_off_and_activity_resets_it() {
        let settings = Settings {
            missed_webhook_scan: Duration::from_secs(10),
            missed_webhook_scan_max: Duration::from_secs(80),
            ..Settings::default()
        };
        let s = Schedule::default();
        s.register_entity(&"e".into(), &settings);
        assert_eq!(s.missed_due(Instant::now()), vec![EntityId::from("e")]);
        for _ in 0..6 {
            s.missed_done(&"e".into(), false, &settings);
        }
        assert_eq!(s.lock().missed[&EntityId::from("e")].1, Duration::from_secs(80));
        s.entity_active(&"e".into(), &settings);
        assert_eq!(s.lock().missed[&EntityId::from("e")].1, Duration::from_secs(10));
        s.missed_done(&"e".into(), true, &settings);
        assert_eq!(s.lock().missed[&EntityId::from("e")].1, Duration::from_secs(10));
    }

    #[test]
    fn pools_are_listed_after_a_start_when_suspect_or_hinted_and_otherwise_rarely() {
        let settings = Settings::default();
        let s = Schedule::default();
        assert!(
            s.should_list(&"p1".into(), false, &settings),
            "never listed since the start"
        );
        s.listed(&"p1".into());
        assert!(!s.should_list(&"p1".into(), false, &settings));
        assert!(
            s.should_list(&"p1".into(), true, &settings),
            "the forge reports a runner offline"
        );
        s.orphans_finished();
        assert!(
            !s.should_list(&"p2".into(), false, &settings),
            "a pool created after the start"
        );
        s.suspect(&"p2".into());
        assert!(s.should_list(&"p2".into(), false, &settings), "a failed provider call");
        s.listed(&"p2".into());
        assert!(!s.should_list(&"p2".into(), false, &settings));
    }
}
