//! Deleting an instance: the forge runner is removed unless GitHub already removed it.

use crate::support::World;
use garm_model::{InstanceStatus, RunnerStatus};
use garm_pool::{act, job_label, Settings};
use garm_store::{JobRecord, Transition};
use std::time::Duration;

async fn mark_finished(w: &World, name: &str, job: i64) {
    w.ctx
        .store
        .modify_instance(name, Transition::Forced, |i| {
            i.extra_labels = vec![job_label(job)];
            i.runner_status = RunnerStatus::Terminated;
            i.status = InstanceStatus::PendingDelete;
        })
        .await
        .unwrap();
}

async fn deleted(w: &World, name: &str) {
    act::spawn_delete(&w.ctx, name);
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
