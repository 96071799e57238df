//! Behaviour every backend must show.

use crate::{conformance, Fresh, PASSPHRASE};
use chrono::Utc;
use garm_model::{BalancerType, InstanceStatus, JobAction, RunnerStatus, Secret};
use garm_store::*;

conformance!(
    controller_is_created_once_and_survives_reopening,
    only_one_admin_can_be_created,
    github_com_is_seeded_and_endpoints_in_use_cannot_be_deleted,
    credentials_round_trip_sealed,
    entities_are_unique_case_insensitively_and_keep_pools,
    pools_keep_tags_and_extra_specs_verbatim,
    concurrent_creates_never_exceed_max_runners,
    batched_creates_insert_what_fits_and_brief_lists_skip_secrets,
    dashboard_reads_list_tags_states_and_statuses,
    a_job_finished_before_the_insert_never_gets_an_instance,
    templates_are_seeded_once_and_a_used_one_cannot_be_deleted,
    proxies_keep_their_password_sealed_and_a_used_one_cannot_be_deleted,
    illegal_instance_transitions_are_refused,
    attestation_verdicts_are_kept_per_instance_and_go_with_it,
    only_the_newest_thirty_events_are_kept,
    a_newer_schema_is_refused_and_left_alone,
    jobs_are_upserted_by_workflow_job_id,
    queued_jobs_are_read_per_entity_and_a_reason_never_reopens_a_finished_job,
    deliveries_are_recorded_once_and_can_be_looked_up_and_pruned,
);

pub(crate) async fn setup_entity(store: &Store) -> (CredentialsRecord, EntityRecord) {
    store.seed_github_com().await.unwrap();
    let creds = store
        .create_credentials(
            "garm",
            "PAT",
            "github",
            "github.com",
            &CredentialSecret::Pat {
                token: Secret::new("ghp_sekrit_token_value"),
            },
        )
        .await
        .unwrap();
    let entity = store
        .create_entity(&EntityRecord {
            id: String::new().into(),
            kind: EntityKind::Repository,
            owner: "mkulke".into(),
            name: "garm-playground".into(),
            endpoint_name: "github.com".into(),
            credentials_id: creds.id,
            webhook_secret: Secret::new("whsec_very_secret"),
            balancer: BalancerType::Roundrobin,
            agent_mode: false,
            pool_manager_running: false,
            failure_reason: String::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    (creds, entity)
}

pub(crate) fn new_pool(entity_id: &str, max: u32) -> NewPool {
    NewPool {
        entity_id: entity_id.into(),
        provider_name: "azure_external".into(),
        runner_prefix: "garm".into(),
        max_runners: max,
        min_idle_runners: 0,
        bootstrap_timeout: 20,
        image: "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest".into(),
        flavor: "Standard_DC2as_v5".into(),
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        enabled: true,
        extra_specs: Some(r#"{"confidential":   true}"#.into()),
        runner_group: String::new(),
        enable_shell: false,
        priority: 0,
        template_id: None,
        proxy_id: None,
        tags: vec!["self-hosted".into(), "azure-cvm".into()],
    }
}

pub(crate) fn new_instance(pool_id: &str, name: &str) -> InstanceRecord {
    let now = Utc::now();
    InstanceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        pool_id: pool_id.into(),
        provider_id: None,
        agent_id: 0,
        os_type: "linux".into(),
        os_arch: "amd64".into(),
        os_name: String::new(),
        os_version: String::new(),
        addresses: vec![],
        status: InstanceStatus::PendingCreate,
        runner_status: RunnerStatus::Pending,
        provider_fault: String::new(),
        create_attempt: 1,
        token_fetched: false,
        jit_config: Some(Secret::new(r#"{".runner":"e30="}"#)),
        runner_group: String::new(),
        extra_labels: vec![],
        generation: 0,
        callback_url: String::new(),
        metadata_url: String::new(),
        heartbeat: now,
        created_at: now,
        updated_at: now,
    }
}

async fn controller_is_created_once_and_survives_reopening(f: Fresh) {
    let first = f.store.ensure_controller().await.unwrap();
    assert_eq!(first.controller_id.len(), 36);
    assert_eq!(first.minimum_job_age_backoff, 30);
    let mut changed = first.clone();
    changed.metadata_url = "http://127.0.0.1:9997/api/v1/metadata".into();
    f.store.update_controller(&changed).await.unwrap();
    drop(f.store);
    let reopened = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    let again = reopened.ensure_controller().await.unwrap();
    assert_eq!(again, changed);
}

async fn only_one_admin_can_be_created(f: Fresh) {
    assert!(!f.store.has_admin().await.unwrap());
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        username: "admin".into(),
        email: "admin@example.com".into(),
        full_name: "Admin".into(),
        password_hash: "$2b$hash".into(),
        generation: 0,
        is_admin: true,
        enabled: true,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    f.store.create_admin(&user).await.unwrap();
    assert!(f.store.has_admin().await.unwrap());
    let mut second = user.clone();
    second.id = "other".into();
    second.username = "other".into();
    assert!(f.store.create_admin(&second).await.unwrap_err().is_conflict());
    f.store.reset_password("admin", "$2b$new").await.unwrap();
    let stored = f.store.user_by_name("admin").await.unwrap().unwrap();
    assert_eq!((stored.generation, stored.password_hash.as_str()), (1, "$2b$new"));
}

async fn github_com_is_seeded_and_endpoints_in_use_cannot_be_deleted(f: Fresh) {
    f.store.seed_github_com().await.unwrap();
    f.store.seed_github_com().await.unwrap();
    let gh = f.store.endpoint("github.com").await.unwrap();
    assert_eq!(gh.api_base_url, "https://api.github.com/");
    let mut ghes = gh.clone();
    ghes.name = "ghes".into();
    ghes.ca_cert_bundle = b"-----BEGIN CERTIFICATE-----".to_vec();
    f.store.create_endpoint(&ghes).await.unwrap();
    let mut dup = ghes.clone();
    dup.name = "GHES".into();
    assert!(f.store.create_endpoint(&dup).await.unwrap_err().is_conflict());
    assert_eq!(f.store.endpoints("github").await.unwrap().len(), 2);
    setup_entity(&f.store).await;
    assert!(matches!(
        f.store.delete_endpoint("github.com").await,
        Err(StoreError::InUse { .. })
    ));
    f.store.delete_endpoint("ghes").await.unwrap();
    f.store.delete_endpoint("does-not-exist").await.unwrap();
    assert!(f.store.endpoint("ghes").await.unwrap_err().is_not_found());
}

async fn credentials_round_trip_sealed(f: Fresh) {
    let (creds, entity) = setup_entity(&f.store).await;
    let loaded = f.store.credentials_by_name("GARM").await.unwrap();
    assert_eq!(loaded.id, creds.id);
    assert_eq!(
        loaded.secret,
        CredentialSecret::Pat {
            token: Secret::new("ghp_sekrit_token_value")
        }
    );
    assert_eq!(
        f.store.entity_any(&entity.id).await.unwrap().webhook_secret.expose(),
        "whsec_very_secret"
    );
    let dup = f
        .store
        .create_credentials("Garm", "", "github", "github.com", &creds.secret)
        .await;
    assert!(dup.unwrap_err().is_conflict());
    assert!(matches!(
        f.store.delete_credentials(creds.id).await,
        Err(StoreError::InUse { .. })
    ));
    // A store opened with another passphrase cannot read the secrets.
    let other = Store::connect(&f.url, Sealer::new("another-passphrase-of-32-chars!!"))
        .await
        .unwrap();
    assert!(matches!(other.credentials(creds.id).await, Err(StoreError::Seal(_))));
}

async fn entities_are_unique_case_insensitively_and_keep_pools(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let mut dup = entity.clone();
    dup.owner = "MKulke".into();
    dup.name = "GARM-playground".into();
    assert!(f.store.create_entity(&dup).await.unwrap_err().is_conflict());
    let found = f
        .store
        .find_entity(EntityKind::Repository, "MKULKE", "Garm-Playground", "github.com")
        .await
        .unwrap();
    assert_eq!(found.unwrap().id, entity.id);
    assert!(f
        .store
        .entity(EntityKind::Organization, &entity.id)
        .await
        .unwrap_err()
        .is_not_found());
    let filter = EntityFilter {
        owner: "mkulke".into(),
        ..Default::default()
    };
    assert_eq!(
        f.store
            .list_entities(EntityKind::Repository, &filter)
            .await
            .unwrap()
            .len(),
        1
    );
    let filter = EntityFilter {
        owner: "nobody".into(),
        ..Default::default()
    };
    assert!(f
        .store
        .list_entities(EntityKind::Repository, &filter)
        .await
        .unwrap()
        .is_empty());
    let pool = f.store.create_pool(&new_pool(&entity.id, 2)).await.unwrap();
    let err = f
        .store
        .delete_entity(EntityKind::Repository, &entity.id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(pool.id.as_str()), "{err}");
    f.store.delete_pool(&pool.id).await.unwrap();
    f.store.delete_entity(EntityKind::Repository, &entity.id).await.unwrap();
}

async fn pools_keep_tags_and_extra_specs_verbatim(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 4)).await.unwrap();
    assert_eq!(pool.extra_specs.as_deref(), Some(r#"{"confidential":   true}"#));
    let names: Vec<&str> = pool.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["self-hosted", "azure-cvm"]);
    let second = f.store.create_pool(&new_pool(&entity.id, 1)).await.unwrap();
    assert_eq!(second.tags[0].id, pool.tags[0].id, "tags are shared by name");
    let mut changed = pool.clone();
    changed.min_idle_runners = 1;
    let updated = f.store.update_pool(&changed, Some(&["GPU".to_string()])).await.unwrap();
    assert_eq!(updated.min_idle_runners, 1);
    assert_eq!(updated.tags.len(), 1);
    assert_eq!(updated.tags[0].name, "GPU");
    assert_eq!(f.store.pools(Some(&entity.id)).await.unwrap().len(), 2);
    assert_eq!(f.store.pools(None).await.unwrap().len(), 2);
}

async fn concurrent_creates_never_exceed_max_runners(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 4)).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..24 {
        let store = f.store.clone();
        let pool_id = pool.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_instance(&new_instance(&pool_id, &format!("garm-{n}")), 4)
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(err) => assert!(err.is_conflict(), "{err}"),
        }
    }
    assert_eq!(created, 4);
    assert_eq!(f.store.pool_instances(&pool.id).await.unwrap().len(), 4);
    let one = f
        .store
        .instance("garm-0")
        .await
        .or(f.store.pool_instances(&pool.id).await.map(|v| v[0].clone()))
        .unwrap();
    assert_eq!(one.jit_config.unwrap().expose(), r#"{".runner":"e30="}"#);
    assert!(matches!(
        f.store.delete_pool(&pool.id).await,
        Err(StoreError::InUse { .. })
    ));
}

async fn illegal_instance_transitions_are_refused(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 4)).await.unwrap();
    f.store
        .create_instance(&new_instance(&pool.id, "garm-abc"), 4)
        .await
        .unwrap();
    let err = f
        .store
        .set_instance_status(&"garm-abc".into(), InstanceStatus::Running)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err}");
    assert_eq!(
        f.store.instance("garm-abc").await.unwrap().status,
        InstanceStatus::PendingCreate
    );
    f.store
        .set_instance_status(&"garm-abc".into(), InstanceStatus::Creating)
        .await
        .unwrap();
    let running = f
        .store
        .set_instance_status(&"garm-abc".into(), InstanceStatus::Running)
        .await
        .unwrap();
    assert_eq!(running.status, InstanceStatus::Running);
}

async fn attestation_verdicts_are_kept_per_instance_and_go_with_it(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 4)).await.unwrap();
    f.store
        .create_instance(&new_instance(&pool.id, "garm-att"), 4)
        .await
        .unwrap();
    let instance = f.store.instance("garm-att").await.unwrap();
    assert_eq!(f.store.attestation(&instance.id).await.unwrap(), None);
    f.store
        .record_attestation(&instance.id, false, r#"{"reason":"nonce_mismatch"}"#)
        .await
        .unwrap();
    f.store
        .record_attestation(&instance.id, true, r#"{"reason":"accepted"}"#)
        .await
        .unwrap();
    let recorded = f.store.attestation(&instance.id).await.unwrap().unwrap();
    assert!(recorded.accepted);
    assert_eq!(recorded.verdict, r#"{"reason":"accepted"}"#);
    assert_eq!(f.store.attestations().await.unwrap().len(), 1);
    f.store.delete_instance_row(&"garm-att".into()).await.unwrap();
    assert_eq!(f.store.attestation(&instance.id).await.unwrap(), None);
    assert!(f.store.attestations().await.unwrap().is_empty());
}

async fn only_the_newest_thirty_events_are_kept(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    for n in 0..35 {
        f.store
            .add_entity_event(&entity.id, "status", "info", &format!("event {n}"))
            .await
            .unwrap();
    }
    let events = f.store.entity_events(&entity.id).await.unwrap();
    assert_eq!(events.len(), 30);
    assert_eq!(events[0].message, "event 5");
    assert_eq!(events[29].message, "event 34");
}

async fn a_newer_schema_is_refused_and_left_alone(f: Fresh) {
    let (creds, _) = setup_entity(&f.store).await;
    let version = f.store.schema_version().await.unwrap();
    let raw = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    drop(raw);
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&f.url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, "INSERT INTO garm_schema_version (version) VALUES (9999)")
        .await
        .unwrap();
    drop(conn);
    drop(f.store);
    let err = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 9999, .. }), "{err}");
    // Nothing was touched: removing the marker makes the data readable again.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&f.url)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, "DELETE FROM garm_schema_version WHERE version = 9999")
        .await
        .unwrap();
    drop(conn);
    let store = Store::connect(&f.url, Sealer::new(PASSPHRASE)).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), version);
    assert_eq!(store.credentials(creds.id).await.unwrap().name, "garm");
}

async fn jobs_are_upserted_by_workflow_job_id(f: Fresh) {
    let mut job = JobRecord {
        workflow_job_id: 2832853555,
        scaleset_job_id: None,
        action: "queued".into(),
        status: "queued".into(),
        labels: vec!["self-hosted".into(), "gpu".into()],
        reason: "no pool matches labels [self-hosted, gpu]".into(),
        ..Default::default()
    };
    let first = f.store.put_job(&job).await.unwrap();
    job.action = "completed".into();
    job.status = "completed".into();
    let second = f.store.put_job(&job).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(first.action, JobAction::Queued);
    assert_eq!(second.action, JobAction::Completed);
    assert_eq!(second.status, "completed");
    assert_eq!(f.store.jobs().await.unwrap().len(), 1);
    assert_eq!(second.labels, job.labels);

    // An action garm-rs has no variant for is stored and read back with its spelling.
    job.action = "requested".into();
    f.store.put_job(&job).await.unwrap();
    let read = f.store.jobs().await.unwrap().remove(0);
    assert_eq!(read.action, JobAction::Other("requested".into()));
    assert_eq!(read.action.as_str(), "requested");
}

async fn queued_jobs_are_read_per_entity_and_a_reason_never_reopens_a_finished_job(f: Fresh) {
    let job = |id: i64, status: &str, repo: Option<&str>, org: Option<&str>| JobRecord {
        workflow_job_id: id,
        scaleset_job_id: None,
        action: status.into(),
        status: status.into(),
        repo_id: repo.map(str::to_string),
        org_id: org.map(str::to_string),
        ..Default::default()
    };
    for j in [
        job(1, "queued", Some("repo-a"), None),
        job(2, "queued", None, Some("org-b")),
        job(3, "completed", Some("repo-a"), None),
        job(4, "queued", Some("repo-a"), None),
        job(5, "queued", None, None),
    ] {
        f.store.put_job(&j).await.unwrap();
    }
    let of_a = f.store.queued_jobs_of(&"repo-a".into(), 0, 100).await.unwrap();
    let ids: Vec<i64> = of_a.iter().map(|j| j.workflow_job_id).collect();
    assert_eq!(ids, vec![1, 4]);
    let first = f.store.queued_jobs_of(&"repo-a".into(), 0, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let rest = f.store.queued_jobs_of(&"repo-a".into(), first[0].id, 1).await.unwrap();
    assert_eq!(rest.iter().map(|j| j.workflow_job_id).collect::<Vec<_>>(), vec![4]);
    assert!(f
        .store
        .queued_jobs_of(&"repo-a".into(), rest[0].id, 1)
        .await
        .unwrap()
        .is_empty());
    let among = f.store.queued_among(&[1, 2, 3, 4, 5, 6]).await.unwrap();
    assert_eq!(among, [1, 2, 4, 5].into_iter().collect());
    assert_eq!(
        f.store.entities_with_queued_jobs().await.unwrap(),
        vec!["org-b".to_string(), "repo-a".to_string()]
    );
    assert!(f.store.set_queued_job_reason(1, "waiting for room").await.unwrap());
    assert!(
        !f.store.set_queued_job_reason(1, "waiting for room").await.unwrap(),
        "the same reason again changes nothing"
    );
    assert_eq!(f.store.job(1).await.unwrap().unwrap().reason, "waiting for room");
    // A reason set from a stale view of job 3 must not make it queued again.
    assert!(!f.store.set_queued_job_reason(3, "waiting for room").await.unwrap());
    let three = f.store.job(3).await.unwrap().unwrap();
    assert_eq!((three.status.as_str(), three.reason.as_str()), ("completed", ""));
}

async fn deliveries_are_recorded_once_and_can_be_looked_up_and_pruned(f: Fresh) {
    assert!(f.store.record_delivery("guid-a@7").await.unwrap());
    assert!(
        !f.store.record_delivery("guid-a@7").await.unwrap(),
        "a second time is a duplicate"
    );
    assert!(f.store.record_delivery("guid-b@7").await.unwrap());
    let mut asked: Vec<String> = (0..150).map(|n| format!("other-{n}")).collect();
    asked.push("guid-a@7".into());
    asked.push("guid-b@7".into());
    let seen = f.store.deliveries_seen(&asked).await.unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.contains("guid-a@7") && seen.contains("guid-b@7"));
    assert!(f.store.deliveries_seen(&[]).await.unwrap().is_empty());
    f.store.forget_delivery("guid-a@7").await.unwrap();
    assert_eq!(f.store.deliveries_seen(&asked).await.unwrap().len(), 1);
    let pruned = f
        .store
        .prune_deliveries(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(f.store.deliveries_seen(&asked).await.unwrap().is_empty());
}

async fn batched_creates_insert_what_fits_and_brief_lists_skip_secrets(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 5)).await.unwrap();
    f.store
        .create_instance(&new_instance(&pool.id, "garm-first"), 5)
        .await
        .unwrap();
    let batch: Vec<InstanceRecord> = (0..6).map(|n| new_instance(&pool.id, &format!("garm-b{n}"))).collect();
    // Concurrent batches and single creates together never exceed max_runners.
    let (a, b) = tokio::join!(
        f.store.create_instances(&batch[..3], 5),
        f.store.create_instances(&batch[3..], 5)
    );
    let inserted = a.unwrap_or(0) + b.unwrap_or(0);
    assert_eq!(inserted, 4, "the first ones that fit");
    let full = f
        .store
        .create_instances(&[new_instance(&pool.id, "garm-late")], 5)
        .await;
    assert!(full.unwrap_err().is_conflict());
    let brief = f.store.pool_instances_brief(&pool.id).await.unwrap();
    let full = f.store.pool_instances(&pool.id).await.unwrap();
    assert_eq!(brief.len(), 5);
    assert!(brief.iter().all(|i| i.jit_config.is_none()));
    assert!(full.iter().all(|i| i.jit_config.is_some()));
    let names = |v: &[InstanceRecord]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&brief), names(&full));
}

/// What the web UI's dashboard reads: all pools with their tags in order (one query),
/// instances counted, and instances in some statuses.
async fn dashboard_reads_list_tags_states_and_statuses(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let mut a = new_pool(&entity.id, 5);
    a.tags = vec!["zeta".into(), "alpha".into(), "mid".into()];
    let a = f.store.create_pool(&a).await.unwrap();
    let mut b = new_pool(&entity.id, 5);
    b.tags = vec!["only".into()];
    let b = f.store.create_pool(&b).await.unwrap();
    let all = f.store.pools(None).await.unwrap();
    let tags = |id: &str| {
        let p = all.iter().find(|p| p.id == id).unwrap();
        p.tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(tags(&a.id), ["zeta", "alpha", "mid"], "tags keep their order");
    assert_eq!(tags(&b.id), ["only"]);
    assert_eq!(f.store.pools(Some(&entity.id)).await.unwrap().len(), 2);
    f.store
        .create_instance(&new_instance(&a.id, "garm-one"), 5)
        .await
        .unwrap();
    let mut two = new_instance(&b.id, "garm-two");
    two.status = InstanceStatus::Error;
    f.store.create_instance(&two, 5).await.unwrap();
    let counts = f.store.instance_counts().await.unwrap();
    assert_eq!(counts.total, 2);
    assert_eq!((counts.per_pool[&a.id], counts.per_pool[&b.id]), (1, 1));
    let mut by_status = counts.by_status.clone();
    by_status.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        by_status,
        [(InstanceStatus::Error, 1), (InstanceStatus::PendingCreate, 1)]
    );
    let runners: u32 = counts.by_runner_status.iter().map(|(_, n)| n).sum();
    assert_eq!(runners, 2);
    let recent = f.store.recent_instances_in(InstanceStatus::Error, 10).await.unwrap();
    assert_eq!(recent.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["garm-two"]);
    assert!(recent[0].jit_config.is_none());
    let failed = f.store.instances_in(&[InstanceStatus::Error]).await.unwrap();
    assert_eq!(failed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["garm-two"]);
    assert!(f.store.instances_in(&[]).await.unwrap().is_empty());
}

async fn a_job_finished_before_the_insert_never_gets_an_instance(f: Fresh) {
    let (_, entity) = setup_entity(&f.store).await;
    let pool = f.store.create_pool(&new_pool(&entity.id, 10)).await.unwrap();
    let job = |id: i64, status: &str| JobRecord {
        workflow_job_id: id,
        scaleset_job_id: None,
        action: status.into(),
        status: status.into(),
        labels: vec!["self-hosted".into()],
        repo_id: Some(entity.id.to_string()),
        ..Default::default()
    };
    // The pass read three queued jobs; before its insert, one completed and one started on
    // another runner (their webhooks were committed in between).
    for id in [11, 12, 13] {
        f.store.put_job(&job(id, "queued")).await.unwrap();
    }
    f.store.put_job(&job(12, "completed")).await.unwrap();
    f.store.put_job(&job(13, "in_progress")).await.unwrap();
    let batch: Vec<InstanceRecord> = (11..=13)
        .map(|n| new_instance(&pool.id, &format!("garm-j{n}")))
        .collect();
    let placed = f
        .store
        .create_instances_for_jobs(&batch, &[11, 12, 13], 10)
        .await
        .unwrap();
    assert_eq!(
        placed,
        vec![Placement::Created, Placement::JobNotQueued, Placement::JobNotQueued]
    );
    let names: Vec<String> = f
        .store
        .pool_instances(&pool.id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name.into_string())
        .collect();
    assert_eq!(names, vec!["garm-j11".to_string()]);
    // Room is counted against what was really inserted.
    let more: Vec<InstanceRecord> = (0..12).map(|n| new_instance(&pool.id, &format!("garm-m{n}"))).collect();
    let ids: Vec<i64> = (100..112).collect();
    for id in &ids {
        f.store.put_job(&job(*id, "queued")).await.unwrap();
    }
    let placed = f.store.create_instances_for_jobs(&more, &ids, 10).await.unwrap();
    let created = placed.iter().filter(|p| **p == Placement::Created).count();
    assert_eq!(created, 9, "{placed:?}");
    assert!(placed[9..].iter().all(|p| *p == Placement::PoolFull), "{placed:?}");
}

async fn templates_are_seeded_once_and_a_used_one_cannot_be_deleted(f: Fresh) {
    let t = |name: &str, os: &str, owner: &str| TemplateRecord {
        id: 0,
        name: name.into(),
        description: format!("{name} template"),
        os_type: os.into(),
        forge_type: "github".into(),
        owner_id: owner.into(),
        data: format!("#!/bin/sh\necho {name}\n"),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let builtins = [
        t("github_windows", "windows", "system"),
        t("github_linux", "linux", "system"),
    ];
    f.store.seed_system_templates(&builtins).await.unwrap();
    f.store.seed_system_templates(&builtins).await.unwrap();
    let all = f.store.templates(&TemplateFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|t| (t.id, t.name.as_str())).collect::<Vec<_>>(),
        vec![(1, "github_windows"), (2, "github_linux")]
    );
    let linux = f.store.system_template("linux", "github").await.unwrap().unwrap();
    assert_eq!(linux.id, 2);
    let mine = f.store.create_template(&t("mine", "linux", "user-1")).await.unwrap();
    assert_eq!(mine.id, 3);
    assert!(f
        .store
        .create_template(&t("mine", "linux", "user-1"))
        .await
        .unwrap_err()
        .is_conflict());
    let (_, entity) = setup_entity(&f.store).await;
    let mut pool = new_pool(&entity.id, 2);
    pool.template_id = Some(mine.id);
    let pool = f.store.create_pool(&pool).await.unwrap();
    assert!(matches!(
        f.store.delete_template(mine.id).await,
        Err(StoreError::InUse { .. })
    ));
    f.store.delete_pool(&pool.id).await.unwrap();
    f.store.delete_template(mine.id).await.unwrap();
    assert!(f.store.template(mine.id).await.unwrap_err().is_not_found());
    let mut changed = linux.clone();
    changed.data = "edited".into();
    f.store.update_template(&changed).await.unwrap();
    let restored = f.store.restore_system_template(&builtins[1]).await.unwrap();
    assert_eq!((restored.id, restored.data.as_str()), (2, builtins[1].data.as_str()));
}

async fn proxies_keep_their_password_sealed_and_a_used_one_cannot_be_deleted(f: Fresh) {
    let rec = ProxyRecord {
        id: 0,
        name: "Corp".into(),
        description: "office".into(),
        http_proxy: "http://proxy.example:3128".into(),
        https_proxy: String::new(),
        no_proxy: "localhost".into(),
        username: "svc".into(),
        password: Some(Secret::new("sealed-proxy-password")),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let created = f.store.create_proxy(&rec).await.unwrap();
    assert_eq!(created.password.as_ref().unwrap().expose(), "sealed-proxy-password");
    let mut same_name = rec.clone();
    same_name.name = "corp".into();
    assert!(
        f.store.create_proxy(&same_name).await.unwrap_err().is_conflict(),
        "names are case-insensitive"
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&f.url)
        .await
        .unwrap();
    let raw: String = sqlx::query_scalar("SELECT password FROM proxies WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(!raw.contains("sealed-proxy-password"), "sealed at rest");
    let (_, entity) = setup_entity(&f.store).await;
    let mut pool = new_pool(&entity.id, 2);
    pool.proxy_id = Some(created.id);
    let pool = f.store.create_pool(&pool).await.unwrap();
    assert_eq!(f.store.pool(&pool.id).await.unwrap().proxy_id, Some(created.id));
    assert!(matches!(
        f.store.delete_proxy(created.id).await,
        Err(StoreError::InUse { .. })
    ));
    let mut cleared = f.store.pool(&pool.id).await.unwrap();
    cleared.proxy_id = None;
    f.store.update_pool(&cleared, None).await.unwrap();
    let mut changed = created.clone();
    changed.password = None;
    changed.username = String::new();
    let changed = f.store.update_proxy(&changed).await.unwrap();
    assert!(changed.password.is_none());
    f.store.delete_proxy(created.id).await.unwrap();
    assert!(f.store.proxies().await.unwrap().is_empty());
}
