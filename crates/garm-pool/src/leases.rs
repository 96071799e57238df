//! The lease keeper: how replicas on one PostgreSQL split the pool manager's work.
//!
//! Every third of the lease time to live it renews this replica's liveness lease and every
//! lease it holds in one statement (a lease the statement did not renew was taken over by
//! another replica: it is dropped from the fence at once, so the scheduler and the listeners
//! stop acting on it and any write still in flight is refused by the store), then takes unheld or expired entity leases up to
//! its fair share (entities ÷ live replicas, rounded up) and gives back one lease per round
//! while it holds more than that share, so work spreads out as replicas join. A newly
//! acquired entity is reconciled at once. At shutdown it releases what it holds, so the others
//! take over without waiting for the expiry.
//!
//! The fencing itself is in the store (`garm_store::Fence`, `Store::fenced`).

use crate::Ctx;
use garm_store::{entity_lease, replica_lease, Fence, LeaseRecord, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Renews and acquires until shutdown, then releases everything held. Does nothing for a
/// store without a fence (a single process on SQLite, which does all the work).
pub async fn keep(ctx: Arc<Ctx>) {
    let Some(fence) = ctx.store.fence().cloned() else {
        return;
    };
    let ttl = ctx.settings.lease_ttl;
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(err) = round(&ctx, &fence, ttl).await {
            tracing::warn!(error = %err, "lease round failed");
        }
    }
    release_all(&ctx, &fence).await;
}

/// One round: renew, then acquire or shed. Public for tests and for the first round at start.
pub async fn round(ctx: &Ctx, fence: &Fence, ttl: Duration) -> Result<(), StoreError> {
    let store = &ctx.store;
    let me = fence.holder().to_string();
    let mine = replica_lease(&me);
    // Renew what is held, in one statement; a lease it did not renew was taken over.
    let held = fence.held();
    if !held.is_empty() {
        let renewed: std::collections::HashSet<(String, i64)> =
            store.renew_leases(&me, &held, ttl).await?.into_iter().collect();
        for (name, token) in held {
            if !renewed.contains(&(name.clone(), token)) {
                fence.drop_lease(&name);
                ctx.metrics.inc("garm_leases_lost_total", &[]);
                tracing::warn!(lease = %name, token, "lease lost to another replica; its work stops here");
            }
        }
    }
    if fence.token(&mine).is_none() {
        if let Some(token) = store.acquire_lease(&mine, &me, ttl).await? {
            fence.hold(&mine, token);
        }
    }
    let leases: HashMap<String, LeaseRecord> = store.leases().await?.into_iter().map(|l| (l.name.clone(), l)).collect();
    let live = leases
        .values()
        .filter(|l| l.name.starts_with("replica:") && !l.expired)
        .count()
        .max(1);
    let entities = store.all_entities().await?;
    let share = entities.len().div_ceil(live);
    let held: Vec<String> = entities
        .iter()
        .map(|e| entity_lease(&e.id))
        .filter(|l| fence.token(l).is_some())
        .collect();
    if held.len() > share && live > 1 {
        // One per round: the others pick it up at their next round.
        if let Some(name) = held.last() {
            let token = fence.token(name).unwrap_or_default();
            fence.drop_lease(name);
            store.release_lease(name, &me, token).await?;
            tracing::info!(lease = %name, share, live, "lease handed back to spread the work");
        }
        return Ok(());
    }
    let mut room = share.saturating_sub(held.len());
    // Start at a different place on each replica so that replicas starting together do not
    // all race for the same rows.
    let offset = me.bytes().map(usize::from).sum::<usize>() % entities.len().max(1);
    for e in entities.iter().cycle().skip(offset).take(entities.len()) {
        if room == 0 {
            break;
        }
        let name = entity_lease(&e.id);
        if fence.token(&name).is_some() || leases.get(&name).is_some_and(|l| !l.expired) {
            continue;
        }
        if let Some(token) = store.acquire_lease(&name, &me, ttl).await? {
            fence.hold(&name, token);
            room -= 1;
            ctx.metrics.inc("garm_leases_acquired_total", &[]);
            tracing::info!(lease = %name, token, entity = %e.display_name(), "lease acquired; reconciling the entity");
            ctx.nudge.entity(&e.id);
            for p in store.pools_and_scale_sets(Some(&e.id)).await? {
                ctx.nudge.pool(&p.id);
            }
        }
    }
    Ok(())
}

async fn release_all(ctx: &Ctx, fence: &Fence) {
    for (name, token) in fence.held() {
        fence.drop_lease(&name);
        if let Err(err) = ctx.store.release_lease(&name, fence.holder(), token).await {
            tracing::warn!(lease = %name, error = %err, "releasing a lease at shutdown failed; it expires instead");
        }
    }
}
