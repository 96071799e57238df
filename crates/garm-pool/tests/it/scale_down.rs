//! Scale-down removes runners only through the forge, which refuses a busy one.

use crate::support::World;
use garm_model::{InstanceStatus, RunnerStatus};
use garm_pool::plan::{self, PoolView, Step};
use garm_pool::{act, Settings};
use std::collections::HashSet;
use std::time::Duration;

async fn view(w: &World) -> PoolView {
    PoolView {
        pool: w.pool.clone(),
        instances: w.ctx.store.pool_instances(&w.pool.id).await.unwrap(),
        queued_matching: 0,
        queued_ids: HashSet::new(),
        inflight: HashSet::new(),
        backing_off: HashSet::new(),
        scale_set_target: None,
        now: chrono::Utc::now() + chrono::Duration::seconds(1),
    }
}

fn scale_downs(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::ScaleDown { name } => Some(name.to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_busy_runner_that_looks_idle_is_kept_and_an_idle_one_is_removed() {
    let settings = Settings {
        scale_down_grace: Duration::ZERO,
        ..Settings::default()
    };
    let w = World::new(settings.clone()).await;
    // garm thinks both are idle: the `in_progress` webhook of the busy one was lost.
    w.instance("garm-busy", 11, RunnerStatus::Idle, true).await;
    w.instance("garm-idle", 12, RunnerStatus::Idle, false).await;

    let proposed = scale_downs(&plan::pool(&view(&w).await, &settings));
    assert_eq!(proposed.len(), 1, "half the surplus per pass: {proposed:?}");

    for name in ["garm-busy", "garm-idle"] {
        act::scale_down(&w.ctx, &name.into()).await.unwrap();
    }
    let busy = w.ctx.store.instance("garm-busy").await.unwrap();
    assert_eq!(
        busy.status,
        InstanceStatus::Running,
        "the busy runner's instance is not deleted"
    );
    assert_eq!(
        busy.runner_status,
        RunnerStatus::Active,
        "and it is known to be busy now"
    );
    let idle = w.ctx.store.instance("garm-idle").await.unwrap();
    assert_eq!(idle.status, InstanceStatus::PendingDelete);
    {
        let forge = w.forge.state();
        assert_eq!(forge.removed, vec![12], "only the idle runner was removed on the forge");
        assert!(forge.runners.contains_key(&11), "the busy runner is still registered");
    }
    assert!(
        w.provider.instances().is_empty(),
        "scale-down never called the provider for the busy instance"
    );

    // The next pass does not try again: a busy runner is not surplus.
    let again = scale_downs(&plan::pool(&view(&w).await, &settings));
    assert!(!again.contains(&"garm-busy".to_string()), "{again:?}");
}

#[tokio::test]
async fn a_young_idle_runner_is_within_the_grace_period() {
    let settings = Settings::default();
    let w = World::new(settings.clone()).await;
    w.instance("garm-fresh", 21, RunnerStatus::Idle, false).await;
    let proposed = scale_downs(&plan::pool(&view(&w).await, &settings));
    assert!(proposed.is_empty(), "{proposed:?}");
}
