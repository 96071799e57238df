//! Deleting an instance: the forge runner is removed unless GitHub already removed it.

use crate::support::World;
use garm_model::{InstanceStatus, RunnerStatus};
use garm_pool::{act, job_label, Settings};
use garm_store::{JobRecord, Transition};
use std::time::Duration;

async fn mark_finished(w: &World, name: &str, job: i64) {
    w.ctx
        .store
        .modify_instance(&name.into(), Transition::Forced, |i| {
            i.extra_labels = vec![job_label(job)];
            i.runner_status = RunnerStatus::Terminated;
            i.status = InstanceStatus::PendingDelete;
        })
        .await
        .unwrap();
}

async fn deleted(w: &World, name: &str) {
    act::spawn_delete(&w.ctx, &name.into());
    for _ in 0..200 {
        if w.ctx.store.instance(name).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} was not deleted");
}

#[tokio::test]
async fn a_runner_that_ran_its_job_is_not_removed_again_and_any_other_is() {
    let w = World::new(Settings::default()).await;
    // A `completed` webhook named this runner: GitHub removed the ephemeral runner itself.
    w.instance("garm-done", 21, RunnerStatus::Active, false).await;
    w.ctx
        .store
        .put_job(&JobRecord {
            workflow_job_id: 5,
            scaleset_job_id: None,
            action: "completed".into(),
            status: "completed".into(),
            runner_name: "garm-done".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    mark_finished(&w, "garm-done", 5).await;
    // Terminated without a completed job naming it (e.g. the provider lost the machine).
    w.instance("garm-lost", 22, RunnerStatus::Idle, false).await;
    mark_finished(&w, "garm-lost", 6).await;

    deleted(&w, "garm-done").await;
    deleted(&w, "garm-lost").await;
    let removed = w.forge.state().removed.clone();
    assert_eq!(removed, vec![22], "only the runner GitHub may still list is removed");
}

#[tokio::test]
async fn a_runner_removed_by_scale_down_or_reaping_is_not_removed_again_by_the_delete() {
    let settings = Settings {
        scale_down_grace: Duration::ZERO,
        ..Settings::default()
    };
    let w = World::new(settings).await;
    w.instance("garm-surplus", 31, RunnerStatus::Idle, false).await;
    w.instance("garm-stuck", 32, RunnerStatus::Idle, false).await;
    act::scale_down(&w.ctx, &"garm-surplus".into()).await.unwrap();
    act::reap(&w.ctx, &"garm-stuck".into(), "bootstrap timed out")
        .await
        .unwrap();
    assert_eq!(w.forge.state().removed, vec![31, 32], "each step removed its runner");

    deleted(&w, "garm-surplus").await;
    deleted(&w, "garm-stuck").await;
    let state = w.forge.state();
    assert_eq!(state.removed, vec![31, 32]);
    let removals = state.calls.iter().filter(|c| **c == "remove_runner").count();
    assert_eq!(
        removals, 2,
        "one GitHub call per runner: the deletes did not remove them again"
    );
}
