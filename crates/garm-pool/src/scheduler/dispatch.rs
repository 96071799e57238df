//! Dispatching: run the reconciles of the dirty keys and apply the decision each returns to
//! the schedule. Reconciles never touch their own wake-up; this file is the only writer of
//! the reconcile deadlines in [`crate::wake::Schedule`].

use super::{entity, pool};
use crate::wake::{after, spread, ProviderState, Schedule};
use crate::{Ctx, Key, Settings};
use garm_store::StoreError;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a reconcile asks of the scheduler (in the spirit of a kube-rs controller's `Action`).
#[derive(Debug)]
pub enum Decision {
    /// Look again after this long (never sooner than `resync`, never later than the idle
    /// resync).
    RequeueAfter(Duration),
    /// Nothing is due: look again at the idle resync (a safety net for a lost nudge).
    Done,
    /// The reconcile failed; `policy` says what the scheduler does about it.
    Error { err: StoreError, policy: ErrorPolicy },
}

/// What a failed reconcile's key gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Try again after `resync`, doubling with each failure in a row up to the idle resync.
    Backoff,
    /// Another replica took the entity's lease mid-pass (nothing was written): it does the
    /// work, so this one looks again only at the idle resync.
    Abandon,
    /// The entity or pool is gone: forget everything booked for it.
    Forget,
}

impl Decision {
    /// The decision for a reconcile that failed with `err`.
    pub fn failed(err: StoreError) -> Self {
        let policy = if err.is_lease_lost() {
            ErrorPolicy::Abandon
        } else if err.is_not_found() {
            ErrorPolicy::Forget
        } else {
            ErrorPolicy::Backoff
        };
        Decision::Error { err, policy }
    }
}

/// A reconcile's decision, and (pools only) whether the pool's provider may hold something the
/// store does not know, so its entity's next orphan scan lists it.
#[derive(Debug)]
pub struct Reconciled {
    pub decision: Decision,
    pub provider: ProviderState,
}

impl From<Decision> for Reconciled {
    fn from(decision: Decision) -> Self {
        Reconciled {
            decision,
            provider: ProviderState::Known,
        }
    }
}

/// What a reconcile does with a key whose entity another replica holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHeld {
    /// The key was nudged on this replica: tell the holder.
    Forward,
    /// A tick, a listing or a peer's nudge: the holder knows already, or its timers find it.
    Skip,
}

/// Where a decision leaves a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    At(Instant),
    Forget,
}

/// Pure: when `key` is due again after `decision`, taken at `now`, with `failures` failed
/// reconciles of the key in a row before this one.
pub fn next(key: &Key, decision: &Decision, failures: u32, now: Instant, settings: &Settings) -> Next {
    let idle = spread(key.id(), settings.idle_resync).max(settings.resync);
    let delay = match decision {
        Decision::RequeueAfter(d) => (*d).min(idle).max(settings.resync),
        Decision::Done => idle,
        Decision::Error { policy, .. } => match policy {
            ErrorPolicy::Backoff => {
                let doubling = 2u32.saturating_pow(failures.min(31));
                settings.resync.saturating_mul(doubling).min(idle)
            }
            ErrorPolicy::Abandon => idle,
            ErrorPolicy::Forget => return Next::Forget,
        },
    };
    Next::At(after(now, delay))
}

/// The dispatcher's memory across passes: failures in a row per key (for the backoff).
#[derive(Default)]
pub struct Dispatch {
    failures: HashMap<Key, u32>,
}

impl Dispatch {
    /// Applies `outcome` of `key`'s reconcile to the schedule.
    pub fn apply(&mut self, schedule: &Schedule, settings: &Settings, key: &Key, outcome: Reconciled, now: Instant) {
        let failures = self.failures.get(key).copied().unwrap_or(0);
        let decision = outcome.decision;
        match &decision {
            Decision::Error {
                err,
                policy: ErrorPolicy::Backoff,
            } => {
                tracing::warn!(key = ?key, error = %err, failures = failures + 1, "reconcile failed");
                self.failures.insert(key.clone(), failures + 1);
            }
            Decision::Error {
                err,
                policy: ErrorPolicy::Abandon,
            } => {
                // Taken over mid-pass: the new holder does this work; nothing was written.
                tracing::info!(key = ?key, error = %err, "reconcile dropped");
                self.failures.remove(key);
            }
            _ => {
                self.failures.remove(key);
            }
        }
        match next(key, &decision, failures, now, settings) {
            Next::At(at) => schedule.set_due(key, at),
            Next::Forget => schedule.forget(key),
        }
        if outcome.provider == ProviderState::Suspect {
            if let Key::Pool(id) = key {
                schedule.suspect(id);
            }
        }
    }

    /// Reconciles every dirty key, entities first (matching jobs creates instances the pool
    /// passes then drive), and applies each decision. `nudged`: keys nudged on this replica; if
    /// another replica holds the work, it is told.
    pub async fn run(&mut self, ctx: &Arc<Ctx>, dirty: &mut BTreeSet<Key>, nudged: &mut HashSet<Key>) {
        while let Some(key) = dirty.pop_first() {
            if ctx.shutdown.is_cancelled() {
                break;
            }
            let not_held = if nudged.remove(&key) {
                NotHeld::Forward
            } else {
                NotHeld::Skip
            };
            let outcome = match &key {
                Key::Entity(id) => entity::reconcile(ctx, id, not_held).await.into(),
                Key::Pool(id) => pool::reconcile(ctx, id, not_held).await,
            };
            self.apply(&ctx.schedule, &ctx.settings, &key, outcome, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            resync: Duration::from_secs(5),
            idle_resync: Duration::from_secs(600),
            ..Settings::default()
        }
    }

    fn at(n: Next, now: Instant) -> Duration {
        match n {
            Next::At(t) => t - now,
            Next::Forget => panic!("forgotten"),
        }
    }

    fn backoff() -> Decision {
        Decision::failed(StoreError::Corrupt { what: "a row".into() })
    }

    #[test]
    fn requeue_after_sets_that_deadline_within_resync_and_the_idle_resync() {
        let (s, now, key) = (settings(), Instant::now(), Key::Pool("p".into()));
        let d = |secs| Decision::RequeueAfter(Duration::from_secs(secs));
        assert_eq!(at(next(&key, &d(42), 0, now, &s), now), Duration::from_secs(42));
        assert_eq!(
            at(next(&key, &d(1), 0, now, &s), now),
            s.resync,
            "never sooner than resync"
        );
        let idle = spread("p", s.idle_resync);
        assert_eq!(
            at(next(&key, &d(86_400), 0, now, &s), now),
            idle,
            "capped by the safety net"
        );
    }

    #[test]
    fn done_falls_back_to_the_idle_resync() {
        let (s, now) = (settings(), Instant::now());
        for key in [Key::Entity("e".into()), Key::Pool("p".into())] {
            let id = key.id().to_string();
            let due = at(next(&key, &Decision::Done, 0, now, &s), now);
            assert_eq!(due, spread(&id, s.idle_resync));
            assert!(due >= s.idle_resync / 2 && due <= s.idle_resync, "{due:?}");
        }
    }

    #[test]
    fn an_error_backs_off_doubling_up_to_the_idle_resync() {
        let (s, now, key) = (settings(), Instant::now(), Key::Entity("e".into()));
        let delays: Vec<Duration> = (0..12).map(|n| at(next(&key, &backoff(), n, now, &s), now)).collect();
        assert_eq!(delays[0], s.resync);
        assert_eq!(delays[1], s.resync * 2);
        assert_eq!(delays[3], s.resync * 8);
        assert_eq!(*delays.last().unwrap(), spread("e", s.idle_resync), "capped");
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    }

    #[test]
    fn a_lost_lease_waits_for_the_idle_resync_and_a_vanished_key_is_forgotten() {
        let (s, now, key) = (settings(), Instant::now(), Key::Pool("p".into()));
        let lost = Decision::failed(StoreError::LeaseLost { lease: "e".into() });
        assert!(matches!(
            lost,
            Decision::Error {
                policy: ErrorPolicy::Abandon,
                ..
            }
        ));
        assert_eq!(at(next(&key, &lost, 3, now, &s), now), spread("p", s.idle_resync));
        let gone = Decision::failed(StoreError::not_found("pool p"));
        assert_eq!(next(&key, &gone, 0, now, &s), Next::Forget);
    }

    #[test]
    fn the_schedule_gets_what_the_decision_says_and_a_success_resets_the_backoff() {
        let (schedule, settings) = (Schedule::default(), settings());
        let mut dispatch = Dispatch::default();
        let key = Key::Pool("p".into());
        let now = Instant::now();
        let s = &settings;
        dispatch.apply(&schedule, s, &key, backoff().into(), now);
        dispatch.apply(&schedule, s, &key, backoff().into(), now);
        assert_eq!(dispatch.failures[&key], 2);
        assert!(schedule.knows(&key));
        assert_eq!(
            schedule.due(now + s.resync * 2),
            vec![key.clone()],
            "second failure: 2 × resync"
        );
        assert!(schedule.due(now + s.resync * 2 - Duration::from_millis(1)).is_empty());
        dispatch.apply(
            &schedule,
            s,
            &key,
            Reconciled {
                decision: Decision::RequeueAfter(s.resync * 3),
                provider: ProviderState::Suspect,
            },
            now,
        );
        assert!(!dispatch.failures.contains_key(&key), "a success resets the backoff");
        assert!(schedule.due(now + s.resync * 3 - Duration::from_millis(1)).is_empty());
        assert_eq!(schedule.due(now + s.resync * 3), vec![key.clone()]);
        assert!(
            schedule.should_list(&"p".into(), false, s),
            "suspect reaches the orphan scan"
        );
        dispatch.apply(
            &schedule,
            s,
            &key,
            Decision::failed(StoreError::not_found("p")).into(),
            now,
        );
        assert!(!schedule.knows(&key), "a vanished pool is forgotten");
    }
}
