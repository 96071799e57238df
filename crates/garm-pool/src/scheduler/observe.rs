//! Observing: what makes a key dirty (nudges from here and from peers, the timer's
//! listings) and the periodic scans each tick starts.

use crate::{BackoffKey, Ctx, Key};
use garm_model::EntityId;
use garm_store::StoreError;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The next nudge from another replica; never ends without peers (SQLite).
pub(super) async fn from_peer(peers: &mut Option<tokio::sync::broadcast::Receiver<String>>) -> Option<String> {
    let Some(rx) = peers else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(topic) => return Some(topic),
            // Missed some: the timers catch up.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

pub(super) fn peer_key(topic: &str) -> Option<Key> {
    match topic.split_once(':')? {
        ("entity", id) => Some(Key::Entity(id.into())),
        ("pool", id) => Some(Key::Pool(id.into())),
        _ => None,
    }
}

/// A nudged key becomes dirty.
pub(super) fn insert(ctx: &Ctx, dirty: &mut BTreeSet<Key>, key: Key) {
    match key {
        Key::Entity(id) => {
            // Activity on an entity: its webhook delivery log is read at the base cadence again.
            ctx.schedule.register_entity(&id, &ctx.settings);
            ctx.schedule.entity_active(&id, &ctx.settings);
            dirty.insert(Key::Entity(id))
        }
        key @ Key::Pool(_) => dirty.insert(key),
    };
}

/// Which listed keys [`everything`] makes dirty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// The first listing since the start: every entity and pool is reconciled.
    All,
    /// Later listings: only those the scheduler has not seen (a nudge was lost).
    Unseen,
}

/// Lists every entity and pool, makes those `mark` selects dirty and forgets those that are gone.
pub(super) async fn everything(ctx: &Ctx, dirty: &mut BTreeSet<Key>, mark: Mark) -> Result<(), StoreError> {
    let entities = ctx.store.all_entities().await?;
    let pools = ctx.store.pools_and_scale_sets(None).await?;
    for e in &entities {
        ctx.schedule.register_entity(&e.id, &ctx.settings);
        let key = Key::Entity(e.id.clone());
        if mark == Mark::All || !ctx.schedule.knows(&key) {
            dirty.insert(key);
        }
    }
    for p in &pools {
        let key = Key::Pool(p.id.clone());
        if mark == Mark::All || !ctx.schedule.knows(&key) {
            dirty.insert(key);
        }
    }
    ctx.schedule.retain(
        &pools.iter().map(|p| p.id.clone()).collect(),
        &entities.iter().map(|e| e.id.clone()).collect(),
    );
    Ok(())
}

/// Entities with queued jobs (matching them is time-bound: the minimum job age) or a failing
/// forge (retried with their own backoff) are looked at every tick.
pub(super) async fn waiting_entities(ctx: &Ctx, dirty: &mut BTreeSet<Key>) -> Result<(), StoreError> {
    for id in ctx.store.entities_with_queued_jobs().await? {
        dirty.insert(Key::Entity(id));
    }
    let failing: Vec<EntityId> = ctx
        .backoff
        .lock()
        .expect("backoff lock is never poisoned")
        .keys()
        .filter_map(|k| match k {
            BackoffKey::Entity(id) => Some(id.clone()),
            BackoffKey::Instance(_) => None,
        })
        .collect();
    dirty.extend(failing.into_iter().map(Key::Entity));
    Ok(())
}

/// The periodic scans a tick starts: the orphan scans and delivery-log reads that are due,
/// each kind as one background task at a time.
pub(super) struct Scans {
    orphans: Arc<AtomicBool>,
    missed: Arc<AtomicBool>,
}

impl Scans {
    pub(super) fn new() -> Self {
        Scans {
            orphans: Arc::new(AtomicBool::new(false)),
            missed: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(super) fn start_due(&self, ctx: &Arc<Ctx>, now: Instant) {
        if !self.orphans.load(Ordering::SeqCst) {
            let due = ctx.schedule.orphans_due(now, &ctx.settings);
            if !due.is_empty() {
                self.orphans.store(true, Ordering::SeqCst);
                let ctx2 = ctx.clone();
                let flag = self.orphans.clone();
                ctx.tasks.spawn(async move {
                    super::orphans(&ctx2, &due).await;
                    flag.store(false, Ordering::SeqCst);
                });
            }
        }
        if !self.missed.load(Ordering::SeqCst) {
            let due = ctx.schedule.missed_due(now);
            if !due.is_empty() {
                self.missed.store(true, Ordering::SeqCst);
                let ctx2 = ctx.clone();
                let flag = self.missed.clone();
                ctx.tasks.spawn(async move {
                    crate::missed::scan_entities(&ctx2, Some(&due)).await;
                    flag.store(false, Ordering::SeqCst);
                });
            }
        }
    }
}
