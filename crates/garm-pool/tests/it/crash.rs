//! Repairs after a crash: work a killed process left half done is finished, not repeated badly.

use crate::support::World;
use garm_model::InstanceStatus;
use garm_pool::{act, Settings};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_runner_registered_before_a_crash_but_never_recorded_is_replaced_not_a_dead_end() {
    let w = World::new(Settings::default()).await;
    let instance = w.pending("garm-halfway").await;
    // The previous process registered the runner, then died before recording its id.
    w.forge.state().names.insert(41, instance.name.to_string());
    w.forge.state().runners.insert(41, false);

    act::spawn_provision(&w.ctx, &instance.name);
    let started = Instant::now();
    let created = loop {
        let now = w.ctx.store.instance(&instance.name).await.unwrap();
        if now.status != InstanceStatus::PendingCreate && !w.ctx.is_inflight(&instance.name) {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "provisioning never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(created.status, InstanceStatus::Running, "{}", created.provider_fault);
    assert_ne!(created.agent_id, 41, "a fresh registration");
    let forge = w.forge.state();
    assert_eq!(forge.removed, vec![41], "the unrecorded registration was removed");
    assert_eq!(forge.names.get(&created.agent_id), Some(&instance.name.to_string()));
}
