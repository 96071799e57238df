//! The orphan scans: the store compared with the forge's runners and the providers'
//! instances of each held entity, and both sides cleaned up.

use crate::Ctx;
use garm_model::{EntityId, InstanceStatus};
use garm_store::{EntityRecord, Transition};
use std::sync::Arc;

/// Cleans up both sides for each of `entity_ids`: provider instances of this controller the
/// store does not know, forge runners of this controller no instance backs, and instances whose
/// runner the forge no longer knows (a `completed` webhook was lost).
///
/// One forge call per entity; a provider list per pool only when [`crate::wake::Schedule::should_list`]
/// says so (after a start, after a failed provider call, when the forge reports a runner of the
/// pool offline, and every `provider_scan`).
pub async fn orphans(ctx: &Arc<Ctx>, entity_ids: &[EntityId]) {
    for id in entity_ids {
        if ctx.shutdown.is_cancelled() {
            return;
        }
        // Only the lease holder compares the forge and the providers with the store.
        if !ctx.store.holds_entity(id) {
            continue;
        }
        let Ok(entity) = ctx.store.entity_any(id).await else {
            continue;
        };
        orphans_of(ctx, &entity).await;
    }
    ctx.schedule.orphans_finished();
}

async fn orphans_of(ctx: &Arc<Ctx>, entity: &EntityRecord) {
    let Ok(instances) = ctx.store.entity_instances(&entity.id).await else {
        return;
    };
    let forge = ctx.forges.for_entity(&ctx.store, entity).await.ok();
    let runners = match &forge {
        Some(forge) => match forge.runners().await {
            Ok(runners) => Some(runners),
            Err(err) => {
                ctx.forges.note_error(&entity.id, &err);
                None
            }
        },
        None => None,
    };
    provider_scans(ctx, entity, &instances, runners.as_deref()).await;
    let (Some(forge), Some(runners)) = (forge, runners) else {
        return;
    };
    unbacked_runners(ctx, entity, forge.as_ref(), &runners, &instances).await;
    forgotten_instances(ctx, &runners, &instances).await;
}

/// Lists each pool's machines when due (or when the forge hints one went away): machines the
/// store does not know are deleted, instances whose machine is gone are marked so.
async fn provider_scans(
    ctx: &Arc<Ctx>,
    entity: &EntityRecord,
    instances: &[garm_store::InstanceRecord],
    runners: Option<&[crate::forge::ForgeRunner]>,
) {
    if let Ok(pools) = ctx.store.pools_and_scale_sets(Some(&entity.id)).await {
        let settle = chrono::Duration::seconds(30);
        for pool in &pools {
            let Some(provider) = ctx.provider(&pool.provider_name) else {
                continue;
            };
            let known: Vec<garm_store::InstanceRecord> =
                instances.iter().filter(|i| i.pool_id == pool.id).cloned().collect();
            // A runner that came up is offline on the forge: its machine may be gone.
            let hint = runners.as_ref().is_some_and(|runners| {
                known.iter().any(|i| {
                    i.status == InstanceStatus::Running
                        && matches!(
                            i.runner_status,
                            garm_model::RunnerStatus::Idle | garm_model::RunnerStatus::Active
                        )
                        && chrono::Utc::now() - i.updated_at > settle
                        && runners
                            .iter()
                            .any(|r| !r.online && (r.name == i.name || (i.agent_id != 0 && r.id == i.agent_id)))
                })
            });
            if !ctx.schedule.should_list(&pool.id, hint, &ctx.settings) {
                continue;
            }
            match provider
                .list(garm_provider::PoolRef::new(&pool.id, pool.extra_specs.as_deref()))
                .await
            {
                Ok(listed) => {
                    ctx.schedule.listed(&pool.id);
                    lost_instances(ctx, &known, &listed).await;
                    for orphan in listed.iter().filter(|p| {
                        !known
                            .iter()
                            .any(|k| k.name == p.name || k.provider_id.as_deref() == Some(p.provider_id.as_str()))
                    }) {
                        // Re-read: the instance may have been created since the list.
                        if ctx.store.instance(&orphan.name).await.is_ok() {
                            continue;
                        }
                        tracing::warn!(pool = %pool.id, provider_instance = %orphan.name, "deleting a provider instance the store does not know");
                        crate::logged(
                            "deleting a provider instance the store does not know",
                            "the next provider scan tries again",
                            provider
                                .delete(
                                    &orphan.provider_id,
                                    garm_provider::PoolRef::new(&pool.id, pool.extra_specs.as_deref()),
                                )
                                .await,
                        );
                    }
                }
                Err(err) => tracing::debug!(pool = %pool.id, error = %err, "listing provider instances failed"),
            }
        }
    }
}

/// Removes our runners (by controller label) that the forge lists and no instance backs.
async fn unbacked_runners(
    ctx: &Ctx,
    entity: &EntityRecord,
    forge: &dyn crate::forge::Forge,
    runners: &[crate::forge::ForgeRunner],
    instances: &[garm_store::InstanceRecord],
) {
    let ours = crate::controller_label(&ctx.controller_id);
    for runner in runners.iter().filter(|r| r.labels.iter().any(|l| l == &ours)) {
        let backed = instances
            .iter()
            .any(|i| i.name == runner.name || (i.agent_id != 0 && i.agent_id == runner.id));
        if !backed && !runner.busy && ctx.store.instance(&runner.name).await.is_err() {
            tracing::warn!(entity = %entity.display_name(), runner = %runner.name, "removing a forge runner no instance backs");
            crate::logged(
                "removing a forge runner no instance backs",
                "the next orphan scan tries again",
                forge.remove_runner(runner.id).await,
            );
        }
    }
}

/// Deletes running instances whose registered runner the forge no longer lists.
async fn forgotten_instances(
    ctx: &Arc<Ctx>,
    runners: &[crate::forge::ForgeRunner],
    instances: &[garm_store::InstanceRecord],
) {
    // Long enough that a runner registered after the list above was read is not taken for gone.
    let grace = chrono::Duration::from_std(ctx.settings.orphan_scan.saturating_mul(2))
        .unwrap_or(chrono::Duration::MAX)
        .clamp(chrono::Duration::seconds(30), chrono::Duration::seconds(120));
    for i in instances
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && chrono::Utc::now() - i.updated_at > grace)
    {
        let known = runners
            .iter()
            .any(|r| r.name == i.name || (i.agent_id != 0 && r.id == i.agent_id));
        let registered = i.agent_id != 0
            || !matches!(
                i.runner_status,
                garm_model::RunnerStatus::Pending | garm_model::RunnerStatus::Installing
            );
        if !known && registered && !ctx.is_inflight(&i.name) {
            tracing::warn!(instance = %i.name, "the forge no longer knows this runner; deleting the instance");
            mark_gone(ctx, i).await;
        }
    }
}

/// Instances the store thinks are running but the provider lists as gone, stopped or
/// failed (a VM deleted or a container killed from outside): their runner cannot take
/// a job any more, so they are deleted and the pool refills to its minimum.
async fn lost_instances(
    ctx: &Arc<Ctx>,
    known: &[garm_store::InstanceRecord],
    listed: &[garm_provider::ProviderInstance],
) {
    let settle = chrono::Duration::seconds(30);
    for i in known
        .iter()
        .filter(|i| i.status == InstanceStatus::Running && chrono::Utc::now() - i.updated_at > settle)
    {
        if ctx.is_inflight(&i.name) {
            continue;
        }
        let seen = listed
            .iter()
            .find(|p| p.name == i.name || i.provider_id.as_deref() == Some(p.provider_id.as_str()));
        let reason = match seen {
            None => "the provider no longer has this instance".to_string(),
            Some(p) if p.status == garm_provider::ProviderStatus::Running => continue,
            Some(p) => format!("the provider reports the instance {}", p.status.as_str()),
        };
        tracing::warn!(instance = %i.name, reason, "instance lost outside garm; replacing it");
        crate::logged(
            "recording why an instance is replaced",
            "the event is informational; the reason is logged above",
            ctx.store.add_instance_event(&i.id, "status", "warning", &reason).await,
        );
        mark_gone(ctx, i).await;
    }
}

/// Marks an instance whose runner or machine vanished outside garm for deletion and
/// nudges its pool (which deletes it and refills to the minimum).
async fn mark_gone(ctx: &Arc<Ctx>, i: &garm_store::InstanceRecord) {
    crate::logged(
        "marking a vanished instance for deletion",
        "the next orphan scan finds it gone again and retries",
        ctx.store
            .modify_instance(&i.name, Transition::Forced, |r| {
                r.runner_status = garm_model::RunnerStatus::Terminated;
                r.status = InstanceStatus::PendingDelete;
            })
            .await,
    );
    ctx.nudge.pool(&i.pool_id);
}
