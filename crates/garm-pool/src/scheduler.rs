//! The scheduler: one loop that coalesces nudges and timer ticks into reconciles of
//! entities (match queued jobs to pools) and pools (size them, drive transitions).
//!
//! Each file has one job: [`observe`] turns nudges, peers' nudges and the timer's listings
//! into dirty keys and starts the periodic scans; [`dispatch`] runs the reconciles of the
//! dirty keys and applies the [`Decision`] each returns to the schedule (reconciles never
//! write their own wake-up); [`entity`] and [`pool`] are the two reconciles; [`orphans`]
//! compares the store with the forge and the providers.
//!
//! Reconciles run one at a time, so two passes never plan against the same state;
//! their slow steps (provider and forge calls) run as tracked background tasks.

mod dispatch;
mod entity;
mod observe;
mod orphans;
mod pool;

pub use dispatch::{next, Decision, ErrorPolicy, Next, NotHeld, Reconciled};
pub use entity::{reconcile as reconcile_entity, QUEUE_WINDOW};
pub use orphans::orphans;

use crate::{Ctx, Key};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs until `ctx.shutdown` is cancelled, then waits for in-flight steps.
///
/// Nudges are reconciled at once. Every `resync` tick reconciles only what is due (see
/// [`crate::wake`]): pools with pending work, pools and entities whose deadline or safety-net
/// period has come, entities with queued jobs or a failing forge; and starts the orphan scans
/// and delivery-log reads that are due. The first tick after a start reconciles everything.
pub async fn run(ctx: Arc<Ctx>, mut rx: UnboundedReceiver<Key>) {
    let mut dirty: BTreeSet<Key> = BTreeSet::new();
    let mut tick = tokio::time::interval(ctx.settings.resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let scans = observe::Scans::new();
    let mut dispatcher = dispatch::Dispatch::default();
    let mut last_listing: Option<Instant> = None;
    // Nudges made here (webhooks, the API): if another replica holds the work, it is told.
    let mut nudged: HashSet<Key> = HashSet::new();
    // Nudges other replicas made for work this one may hold (see `Store::subscribe_peers`).
    let mut peers = ctx.store.subscribe_peers();
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            key = rx.recv() => match key {
                Some(key) => {
                    nudged.insert(key.clone());
                    observe::insert(&ctx, &mut dirty, key)
                }
                None => break,
            },
            Some(topic) = observe::from_peer(&mut peers) => {
                if let Some(key) = observe::peer_key(&topic) {
                    observe::insert(&ctx, &mut dirty, key);
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if last_listing.is_none_or(|at| now.duration_since(at) >= ctx.settings.idle_resync) {
                    let mark = if last_listing.is_none() {
                        observe::Mark::All
                    } else {
                        observe::Mark::Unseen
                    };
                    match observe::everything(&ctx, &mut dirty, mark).await {
                        Ok(()) => last_listing = Some(now),
                        Err(err) => tracing::warn!(error = %err, "listing entities and pools failed"),
                    }
                }
                let now = Instant::now();
                dirty.extend(ctx.schedule.due(now));
                if let Err(err) = observe::waiting_entities(&ctx, &mut dirty).await {
                    tracing::warn!(error = %err, "listing queued jobs failed");
                }
                scans.start_due(&ctx, now);
            }
        }
        while let Ok(key) = rx.try_recv() {
            nudged.insert(key.clone());
            observe::insert(&ctx, &mut dirty, key);
        }
        dispatcher.run(&ctx, &mut dirty, &mut nudged).await;
    }
    ctx.tasks.close();
    ctx.tasks.wait().await;
}
