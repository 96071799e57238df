//! Leases and the fence: what replicas sharing one database rely on, on both backends.

use crate::conformance::{new_instance, new_pool, setup_entity};
use crate::{conformance, Fresh, PASSPHRASE};
use garm_model::InstanceStatus;
use garm_store::*;
use std::time::Duration;

conformance!(
    a_lease_has_one_holder_until_it_expires_and_a_takeover_raises_the_token,
    a_replica_that_lost_its_lease_writes_nothing,
    a_released_lease_is_taken_at_once,
    a_delivery_claimed_by_two_batches_at_once_is_recorded_once,
    one_renewal_statement_renews_what_is_held_and_leaves_out_what_was_taken,
    a_batch_checks_each_pool_once_and_still_refuses_a_lost_entity,
    a_scale_set_write_is_fenced_by_its_entity,
);

const TTL: Duration = Duration::from_millis(400);

async fn a_lease_has_one_holder_until_it_expires_and_a_takeover_raises_the_token(f: Fresh) {
    // Two handles on one database, as two replicas have.
    let other = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    let a = f.store.acquire_lease("entity:e1", "replica-a", TTL).await.unwrap();
    assert_eq!(a, Some(1));
    assert_eq!(other.acquire_lease("entity:e1", "replica-b", TTL).await.unwrap(), None);
    // The holder itself cannot "acquire" again (that would raise the token): it renews.
    assert_eq!(
        f.store.acquire_lease("entity:e1", "replica-a", TTL).await.unwrap(),
        None
    );
    for _ in 0..3 {
        tokio::time::sleep(TTL / 2).await;
        assert!(f.store.renew_lease("entity:e1", "replica-a", 1, TTL).await.unwrap());
        assert_eq!(other.acquire_lease("entity:e1", "replica-b", TTL).await.unwrap(), None);
    }
    let seen = other.leases().await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].holder.as_str(), seen[0].token, seen[0].expired),
        ("replica-a", 1, false)
    );
    // No renewal: the lease expires and the other replica takes it with a higher token.
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    assert!(other.leases().await.unwrap()[0].expired);
    assert_eq!(
        other.acquire_lease("entity:e1", "replica-b", TTL).await.unwrap(),
        Some(2)
    );
    // The old holder's renewal fails: its token is stale.
    assert!(!f.store.renew_lease("entity:e1", "replica-a", 1, TTL).await.unwrap());
    let seen = f.store.leases().await.unwrap();
    assert_eq!(
        (seen[0].holder.as_str(), seen[0].token, seen[0].expired),
        ("replica-b", 2, false)
    );
}

async fn a_replica_that_lost_its_lease_writes_nothing(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 10)).await.unwrap();
    let lease = entity_lease(&entity.id);
    let fence_a = Fence::new("replica-a");
    let fence_b = Fence::new("replica-b");
    let a = f.store.fenced(fence_a.clone());
    let b = Store::connect(&f.url, Sealer::new(PASSPHRASE))
        .await
        .unwrap()
        .fenced(fence_b.clone());
    // Holding nothing, a fenced handle refuses to act.
    let err = a
        .create_instance(&new_instance(&pool.id, "garm-0"), 10)
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    assert!(f.store.pool_instances(&pool.id).await.unwrap().is_empty());

    let token = a.acquire_lease(&lease, "replica-a", TTL).await.unwrap().unwrap();
    fence_a.hold(&lease, token);
    assert!(a.holds_entity(&entity.id) && !b.holds_entity(&entity.id));
    a.create_instance(&new_instance(&pool.id, "garm-1"), 10).await.unwrap();
    a.modify_instance(&"garm-1".into(), Transition::Checked, |i| {
        i.status = InstanceStatus::Creating
    })
    .await
    .unwrap();

    // A pauses past its lease; B takes over.
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let token_b = b.acquire_lease(&lease, "replica-b", TTL).await.unwrap().unwrap();
    assert!(token_b > token);
    fence_b.hold(&lease, token_b);

    // A resumes still believing it holds the lease: every lease-acting write is refused.
    let err = a
        .create_instance(&new_instance(&pool.id, "garm-2"), 10)
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    let err = a
        .modify_instance(&"garm-1".into(), Transition::Checked, |i| {
            i.status = InstanceStatus::Running
        })
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    let err = a.delete_instance_row(&"garm-1".into()).await.unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    let mut batch = a.batch().await.unwrap();
    let err = batch
        .modify_instance(&"garm-1".into(), Transition::Checked, |i| {
            i.status = InstanceStatus::Running
        })
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    batch.commit().await.unwrap();
    let names: Vec<String> = f
        .store
        .pool_instances(&pool.id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name.into_string())
        .collect();
    assert_eq!(names, ["garm-1"]);
    assert_eq!(
        f.store.instance("garm-1").await.unwrap().status,
        InstanceStatus::Creating
    );

    // The new holder acts; facts (webhooks, callbacks) need no lease at all.
    b.modify_instance(&"garm-1".into(), Transition::Checked, |i| {
        i.status = InstanceStatus::Running
    })
    .await
    .unwrap();
    a.unfenced()
        .modify_instance(&"garm-1".into(), Transition::Forced, |i| i.os_name = "ubuntu".into())
        .await
        .unwrap();
    let i = f.store.instance("garm-1").await.unwrap();
    assert_eq!((i.status, i.os_name.as_str()), (InstanceStatus::Running, "ubuntu"));
}

async fn a_released_lease_is_taken_at_once(f: Fresh) {
    let token = f
        .store
        .acquire_lease("entity:e2", "replica-a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        f.store.acquire_lease("entity:e2", "replica-b", TTL).await.unwrap(),
        None
    );
    // A stale token releases nothing.
    f.store
        .release_lease("entity:e2", "replica-a", token + 1)
        .await
        .unwrap();
    assert_eq!(
        f.store.acquire_lease("entity:e2", "replica-b", TTL).await.unwrap(),
        None
    );
    f.store.release_lease("entity:e2", "replica-a", token).await.unwrap();
    assert_eq!(
        f.store.acquire_lease("entity:e2", "replica-b", TTL).await.unwrap(),
        Some(token + 1)
    );
}

async fn one_renewal_statement_renews_what_is_held_and_leaves_out_what_was_taken(f: Fresh) {
    let other = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    let long = Duration::from_secs(60);
    // r1 and r3 are held for long; r2 is left to expire and is taken by another replica.
    for (name, ttl) in [("entity:r1", long), ("entity:r2", TTL), ("entity:r3", long)] {
        assert_eq!(f.store.acquire_lease(name, "replica-a", ttl).await.unwrap(), Some(1));
    }
    let held = |names: &[&str]| -> Vec<(String, i64)> { names.iter().map(|n| (n.to_string(), 1)).collect() };
    let mut renewed = f
        .store
        .renew_leases("replica-a", &held(&["entity:r1", "entity:r3"]), long)
        .await
        .unwrap();
    renewed.sort();
    assert_eq!(renewed, held(&["entity:r1", "entity:r3"]));
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    assert_eq!(
        other.acquire_lease("entity:r2", "replica-b", long).await.unwrap(),
        Some(2)
    );
    assert_eq!(other.acquire_lease("entity:r1", "replica-b", long).await.unwrap(), None);
    // A renewal naming all three, one that never existed and r1 with a wrong token renews
    // only what A still holds with the token it names.
    let mut all = held(&["entity:r1", "entity:r2", "entity:r3", "entity:never"]);
    all.push(("entity:r1".into(), 7));
    let mut renewed = f.store.renew_leases("replica-a", &all, TTL).await.unwrap();
    renewed.sort();
    assert_eq!(renewed, held(&["entity:r1", "entity:r3"]));
    let seen = f.store.leases().await.unwrap();
    let r2 = seen.iter().find(|l| l.name == "entity:r2").unwrap();
    assert_eq!((r2.holder.as_str(), r2.token, r2.expired), ("replica-b", 2, false));
    // The renewal set r1 and r3 to expire after TTL: they lapse, so it did write them.
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let seen = f.store.leases().await.unwrap();
    assert!(seen.iter().filter(|l| l.holder == "replica-a").all(|l| l.expired));
    assert!(f.store.renew_leases("replica-a", &[], TTL).await.unwrap().is_empty());
}

async fn a_batch_checks_each_pool_once_and_still_refuses_a_lost_entity(f: Fresh) {
    let (_, held_entity) = setup_entity(&f.store).await;
    let mut other = held_entity.clone();
    other.id = String::new().into();
    other.name = "another-repository".into();
    let lost_entity = f.store.create_entity(&other).await.unwrap();
    let held_pool = f.store.create_pool(&new_pool(&held_entity.id, 10)).await.unwrap();
    let lost_pool = f.store.create_pool(&new_pool(&lost_entity.id, 10)).await.unwrap();
    for (pool, name) in [(&held_pool, "held-1"), (&held_pool, "held-2"), (&lost_pool, "lost-1")] {
        f.store
            .create_instance(&new_instance(&pool.id, name), 10)
            .await
            .unwrap();
    }
    let fence = Fence::new("replica-a");
    let a = f.store.fenced(fence.clone());
    let lease = entity_lease(&held_entity.id);
    fence.hold(
        &lease,
        a.acquire_lease(&lease, "replica-a", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap(),
    );
    let mut batch = a.batch().await.unwrap();
    for name in ["held-1", "held-2"] {
        batch
            .modify_instance(&name.into(), Transition::Checked, |i| {
                i.status = InstanceStatus::Creating
            })
            .await
            .unwrap();
    }
    let err = batch
        .modify_instance(&"lost-1".into(), Transition::Checked, |i| {
            i.status = InstanceStatus::Creating
        })
        .await
        .unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    batch.commit().await.unwrap();
    for (name, status) in [
        ("held-1", InstanceStatus::Creating),
        ("held-2", InstanceStatus::Creating),
        ("lost-1", InstanceStatus::PendingCreate),
    ] {
        assert_eq!(f.store.instance(name).await.unwrap().status, status, "{name}");
    }
}

async fn a_scale_set_write_is_fenced_by_its_entity(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let set = f
        .store
        .create_scale_set(
            &new_pool(&entity.id, 4),
            &NewScaleSet {
                name: "fenced".into(),
                service_id: 9,
                runner_group_id: 1,
                disable_update: false,
                state: "created".into(),
            },
        )
        .await
        .unwrap();
    let fence = Fence::new("replica-a");
    let a = f.store.fenced(fence.clone());
    let progress = |n| ScaleSetProgress {
        last_message_id: n,
        desired_runner_count: n,
        jobs: Vec::new(),
    };
    let err = a.record_scale_set_progress(set.id, &progress(1)).await.unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    let lease = entity_lease(&entity.id);
    fence.hold(
        &lease,
        a.acquire_lease(&lease, "replica-a", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap(),
    );
    assert!(a.record_scale_set_progress(set.id, &progress(2)).await.unwrap());
    assert_eq!(f.store.scale_set(set.id).await.unwrap().last_message_id, 2);
}

/// Two replicas' intake batches record the same GitHub delivery at the same time: one owns
/// it, the other waits for its commit and is told it is a redelivery.
async fn a_delivery_claimed_by_two_batches_at_once_is_recorded_once(f: Fresh) {
    let other = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    let keys: Vec<String> = vec!["7:guid-b".into(), "7:guid-a".into(), "7:guid-a".into()];
    let mut first = f.store.batch().await.unwrap();
    let (mine, _) = first.claim_and_read(&keys, &[]).await.unwrap();
    assert_eq!(mine.len(), 2);
    let contender = tokio::spawn(async move {
        let mut second = other.batch().await.unwrap();
        let (got, _) = second
            .claim_and_read(&["7:guid-c".into(), "7:guid-a".into()], &[])
            .await
            .unwrap();
        second.commit().await.unwrap();
        got
    });
    // The contender cannot finish while the first batch is open (PostgreSQL waits on the key;
    // SQLite's single writer waits on the whole transaction).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!contender.is_finished());
    first.commit().await.unwrap();
    let got = contender.await.unwrap();
    assert_eq!(got.into_iter().collect::<Vec<_>>(), ["7:guid-c"]);
    let all: Vec<String> = vec!["7:guid-a".into(), "7:guid-b".into(), "7:guid-c".into()];
    assert_eq!(f.store.deliveries_seen(&all).await.unwrap().len(), 3);
}

/// LISTEN/NOTIFY between two store handles (two replicas): a configuration write on one
/// invalidates the other's webhook view at once, and a nudge reaches the other's subscribers.
#[tokio::test]
async fn postgres_replicas_hear_each_others_writes_within_a_second() {
    let Some(f) = crate::fresh("postgres").await else {
        eprintln!("GARM_TEST_POSTGRES_URL unset: skipping");
        return;
    };
    let other = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    let mut nudges = other.subscribe_peers().expect("PostgreSQL has peers");
    assert!(f.store.subscribe_peers().is_some() && f.store.peer_origin() != other.peer_origin());
    f.store.seed_github_com().await.unwrap();
    let before = other.webhook_view().await.unwrap();
    assert!(before
        .entity(EntityKind::Repository, "mkulke", "garm-playground", "github.com")
        .is_none());
    let started = std::time::Instant::now();
    let (_, entity) = setup_entity(&f.store).await;
    // Well under SHARED_VIEW_TTL (2 s): only the notification can explain a fresh view.
    let seen = loop {
        let view = other.webhook_view().await.unwrap();
        if let Some(e) = view.entity(EntityKind::Repository, "mkulke", "garm-playground", "github.com") {
            break e.id.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the other replica's view stayed stale"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen, entity.id);
    // A nudge for work the sender does not hold reaches the other replica; its own does not
    // come back to it.
    let mut own = f.store.subscribe_peers().unwrap();
    f.store.notify_peers(&format!("entity:{}", entity.id));
    let got = tokio::time::timeout(Duration::from_secs(1), nudges.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, format!("entity:{}", entity.id));
    assert!(tokio::time::timeout(Duration::from_millis(300), own.recv())
        .await
        .is_err());
}
