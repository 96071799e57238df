//! Scale sets on every backend: the pool behind them, the queue cursor, job upserts.

use crate::conformance::{new_instance, new_pool, setup_entity};
use crate::{conformance, Fresh};
use garm_store::*;

conformance!(
    a_scale_set_keeps_its_pool_out_of_the_pool_lists,
    the_cursor_only_moves_forward_and_carries_its_jobs,
    a_scale_set_with_runners_is_not_deleted,
);

fn new_set(name: &str) -> NewScaleSet {
    NewScaleSet {
        name: name.into(),
        service_id: 7,
        runner_group_id: 1,
        disable_update: false,
        state: "created".into(),
    }
}

async fn a_scale_set_keeps_its_pool_out_of_the_pool_lists(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let plain = f.store.create_pool(&new_pool(&entity.id, 2)).await.unwrap();
    let mut shape = new_pool(&entity.id, 4);
    shape.tags = vec!["gpu".into()];
    shape.runner_group = "Default".into();
    let set = f.store.create_scale_set(&shape, &new_set("linux-x64")).await.unwrap();
    assert_eq!(set.pool.scale_set_id, Some(set.id));
    assert_eq!(
        set.pool.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["gpu"]
    );
    assert_eq!(set.service_id, 7);
    let pools = f.store.pools(Some(&entity.id)).await.unwrap();
    assert_eq!(
        pools.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [plain.id.as_str()]
    );
    assert_eq!(f.store.pools_and_scale_sets(None).await.unwrap().len(), 2);
    assert_eq!(f.store.scale_sets(Some(&entity.id)).await.unwrap().len(), 1);
    assert_eq!(
        f.store.scale_set_ids_by_pool().await.unwrap().get(&set.pool.id),
        Some(&set.id)
    );
    let clash = f.store.create_scale_set(&shape, &new_set("linux-x64")).await;
    assert!(matches!(clash, Err(StoreError::Conflict { .. })), "{clash:?}");
    let mut renamed = set.clone();
    renamed.name = "linux-x64-v2".into();
    renamed.disable_update = true;
    let renamed = f.store.update_scale_set(&renamed).await.unwrap();
    assert_eq!(renamed.name, "linux-x64-v2");
    assert!(renamed.disable_update);
}

fn job(id: &str, status: &str) -> JobRecord {
    JobRecord {
        workflow_job_id: -(id.len() as i64) - 100,
        scaleset_job_id: Some(id.into()),
        status: status.into(),
        action: "push".into(),
        labels: vec!["linux-x64".into()],
        ..Default::default()
    }
}

async fn the_cursor_only_moves_forward_and_carries_its_jobs(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let set = f
        .store
        .create_scale_set(&new_pool(&entity.id, 4), &new_set("s"))
        .await
        .unwrap();
    let first = ScaleSetProgress {
        last_message_id: 3,
        desired_runner_count: 2,
        jobs: vec![job("job-a", "queued"), job("job-bb", "queued")],
    };
    assert!(f.store.record_scale_set_progress(set.id, &first).await.unwrap());
    let again = f.store.scale_set(set.id).await.unwrap();
    assert_eq!((again.last_message_id, again.desired_runner_count), (3, 2));
    assert_eq!(f.store.scale_set_desired(set.id).await.unwrap(), 2);
    // A replayed or older message changes nothing, its jobs included.
    let stale = ScaleSetProgress {
        last_message_id: 3,
        desired_runner_count: 9,
        jobs: vec![job("job-ccc", "queued")],
    };
    assert!(!f.store.record_scale_set_progress(set.id, &stale).await.unwrap());
    assert_eq!(f.store.scale_set(set.id).await.unwrap().desired_runner_count, 2);
    assert!(f.store.scale_set_job("job-ccc").await.unwrap().is_none());
    // Completed stays completed, whatever arrives later in the same round.
    let done = ScaleSetProgress {
        last_message_id: 4,
        desired_runner_count: 1,
        jobs: vec![job("job-a", "completed")],
    };
    assert!(f.store.record_scale_set_progress(set.id, &done).await.unwrap());
    let late = ScaleSetProgress {
        last_message_id: 5,
        desired_runner_count: 1,
        jobs: vec![job("job-a", "in_progress")],
    };
    assert!(f.store.record_scale_set_progress(set.id, &late).await.unwrap());
    assert_eq!(
        f.store.scale_set_job("job-a").await.unwrap().unwrap().status,
        "completed"
    );
    // Scale set jobs are not webhook work: the entity pass never sees them.
    assert!(f.store.queued_jobs_of(&entity.id, 0, 100).await.unwrap().is_empty());
    assert!(f.store.entities_with_queued_jobs().await.unwrap().is_empty());
    assert_eq!(f.store.jobs().await.unwrap().len(), 2);
    // Re-created in the service: the cursor starts over.
    f.store.set_scale_set_service_id(set.id, 8, 1).await.unwrap();
    let reset = f.store.scale_set(set.id).await.unwrap();
    assert_eq!((reset.service_id, reset.last_message_id), (8, 0));
}

async fn a_scale_set_with_runners_is_not_deleted(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let set = f
        .store
        .create_scale_set(&new_pool(&entity.id, 4), &new_set("s"))
        .await
        .unwrap();
    f.store
        .create_instance(&new_instance(&set.pool.id, "garm-ss1"), 4)
        .await
        .unwrap();
    let refused = f.store.delete_scale_set(set.id).await;
    assert!(matches!(refused, Err(StoreError::InUse { .. })), "{refused:?}");
    f.store.delete_instance_row(&"garm-ss1".into()).await.unwrap();
    f.store.delete_scale_set(set.id).await.unwrap();
    assert!(f.store.scale_set(set.id).await.unwrap_err().is_not_found());
    assert!(
        f.store.pool(&set.pool.id).await.unwrap_err().is_not_found(),
        "its pool went with it"
    );
    f.store.delete_scale_set(set.id).await.unwrap();
}
