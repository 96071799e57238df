//! A job that finishes between the entity pass's read and its insert gets no instance.

use crate::support::World;
use garm_pool::{act, Settings};
use garm_store::JobRecord;

fn queued(id: i64, entity: &str) -> JobRecord {
    JobRecord {
        workflow_job_id: id,
        scaleset_job_id: None,
        action: "queued".into(),
        status: "queued".into(),
        labels: vec!["self-hosted".into()],
        repo_id: Some(entity.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_completed_webhook_landing_after_the_pass_read_its_job_stops_the_create() {
    let w = World::new(Settings::default()).await;
    let read_by_pass = [
        w.ctx.store.put_job(&queued(501, &w.entity.id)).await.unwrap(),
        w.ctx.store.put_job(&queued(502, &w.entity.id)).await.unwrap(),
    ];
    // The pass has read both jobs as queued; now job 501's `completed` webhook is recorded.
    let mut done = read_by_pass[0].clone();
    done.action = "completed".into();
    done.status = "completed".into();
    w.ctx.store.put_job(&done).await.unwrap();

    let controller = w.ctx.store.controller().await.unwrap();
    let equipped = w
        .ctx
        .forges
        .equipped(&w.ctx.store, &w.entity, w.ctx.settings.tools_ttl)
        .await
        .unwrap();
    let prepared = act::prepare(&w.ctx, &w.pool, &w.entity, &controller, &equipped)
        .await
        .unwrap();
    let jobs: Vec<&JobRecord> = read_by_pass.iter().collect();
    let placed = act::create_for_jobs(&w.ctx, &prepared, &jobs).await.unwrap();
    assert_eq!(placed[0], act::JobPlacement::JobNotQueued);
    let act::JobPlacement::Created(name) = &placed[1] else {
        panic!("the still-queued job gets its instance: {placed:?}")
    };
    let instances = w.ctx.store.pool_instances(&w.pool.id).await.unwrap();
    assert_eq!(
        instances.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        vec![name.as_str()],
        "exactly one instance, for the queued job"
    );
}
