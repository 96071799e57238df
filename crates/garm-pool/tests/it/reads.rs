//! One entity pass reads the entity's credentials and endpoint once, however many pools it
//! creates instances in.

use crate::support::{pool_spec, World};
use garm_pool::scheduler::{reconcile_entity, Decision, NotHeld};
use garm_pool::Settings;
use garm_store::JobRecord;

fn queued(id: i64, entity: &str, labels: &[&str]) -> JobRecord {
    JobRecord {
        workflow_job_id: id,
        scaleset_job_id: None,
        action: "queued".into(),
        status: "queued".into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        repo_id: Some(entity.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_entity_pass_creating_in_two_pools_reads_credentials_and_endpoint_once() {
    let w = World::new(Settings::default()).await;
    let gpu = w
        .ctx
        .store
        .create_pool(&pool_spec(&w.entity.id, "gpu", &["self-hosted", "gpu"]))
        .await
        .unwrap();
    for (id, labels) in [
        (1, ["self-hosted", "linux"]),
        (2, ["self-hosted", "gpu"]),
        (3, ["self-hosted", "linux"]),
    ] {
        w.ctx.store.put_job(&queued(id, &w.entity.id, &labels)).await.unwrap();
    }
    let before = w.ctx.forges.store_reads();
    let decision = reconcile_entity(&w.ctx, &w.entity.id, NotHeld::Skip).await;
    assert!(matches!(decision, Decision::Done), "{decision:?}");
    w.ctx.tasks.close();
    w.ctx.tasks.wait().await;
    let instances = w.ctx.store.entity_instances(&w.entity.id).await.unwrap();
    assert_eq!(instances.len(), 3, "one instance per job");
    assert_eq!(instances.iter().filter(|i| i.pool_id == gpu.id).count(), 1);
    assert_eq!(instances.iter().filter(|i| i.pool_id == w.pool.id).count(), 2);
    assert_eq!(
        w.ctx.forges.store_reads() - before,
        1,
        "the pass and the provisioning it started read credentials and endpoint once"
    );
}
