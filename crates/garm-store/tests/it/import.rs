//! `Store::import`: a whole database taken over with its ids, on every backend.

use crate::{conformance, Fresh};
use chrono::{TimeZone, Utc};
use garm_model::{BalancerType, InstanceStatus, RunnerStatus, Secret};
use garm_store::*;

conformance!(
    an_import_keeps_ids_times_and_secrets,
    an_import_into_a_used_store_is_refused_unless_it_replaces,
);

fn set() -> ImportSet {
    let t = Utc.with_ymd_and_hms(2026, 12, 7, 0, 7, 37).unwrap();
    let endpoint = |name: &str| EndpointRecord {
        name: name.into(),
        endpoint_type: "github".into(),
        description: format!("{name} endpoint"),
        api_base_url: format!("https://{name}/api/v3/"),
        upload_base_url: format!("https://{name}/api/uploads/"),
        base_url: format!("https://{name}"),
        ca_cert_bundle: b"-----BEGIN CERTIFICATE-----".to_vec(),
        created_at: t,
        updated_at: t,
    };
    let tag = |id: &str, name: &str| TagRecord {
        id: id.into(),
        name: name.into(),
    };
    ImportSet {
        controller: Some(ControllerRecord {
            controller_id: "452697e6-368b-4e2b-b797-7afc1937d32f".into(),
            metadata_url: "https://garm.example/api/v1/metadata".into(),
            callback_url: "https://garm.example/api/v1/callbacks".into(),
            webhook_url: "https://garm.example/webhooks".into(),
            agent_url: String::new(),
            minimum_job_age_backoff: 30,
            ca_cert_bundle: Vec::new(),
            garm_agent_releases_url: String::new(),
            enable_agent_tools_sync: false,
            garm_agent_version: String::new(),
            allow_insecure_garm_agent: false,
        }),
        users: vec![UserRecord {
            id: "f19231c7-177d-420c-9737-cd100737b875".into(),
            username: "admin".into(),
            email: "admin@example.com".into(),
            full_name: "Admin".into(),
            password_hash: "$2a$10$abcdefghijklmnopqrstuv".into(),
            generation: 3,
            is_admin: true,
            enabled: true,
            created_at: t,
            updated_at: t,
        }],
        endpoints: vec![endpoint("github.com"), endpoint("ghes.example.com")],
        credentials: vec![CredentialsRecord {
            id: 7,
            name: "garm".into(),
            description: "PAT".into(),
            forge_type: "github".into(),
            endpoint_name: "ghes.example.com".into(),
            secret: CredentialSecret::Pat {
                token: Secret::new("ghp_imported"),
            },
            created_at: t,
            updated_at: t,
        }],
        entities: vec![EntityRecord {
            id: "2509a607-75aa-43cb-a973-8451ba71b6bd".into(),
            kind: EntityKind::Repository,
            owner: "mkulke".into(),
            name: "garm-playground".into(),
            endpoint_name: "ghes.example.com".into(),
            credentials_id: 7,
            webhook_secret: Secret::new("whsec_imported"),
            balancer: BalancerType::Pack,
            agent_mode: false,
            pool_manager_running: true,
            failure_reason: String::new(),
            created_at: t,
            updated_at: t,
        }],
        entity_events: vec![(
            "2509a607-75aa-43cb-a973-8451ba71b6bd".into(),
            EventRecord {
                id: 0,
                created_at: t,
                event_type: "status".into(),
                event_level: "info".into(),
                message: "worker started".into(),
            },
        )],
        proxies: Vec::new(),
        templates: vec![TemplateRecord {
            id: 5,
            name: "custom-linux".into(),
            description: "operator's".into(),
            os_type: "linux".into(),
            forge_type: "github".into(),
            owner_id: "f19231c7-177d-420c-9737-cd100737b875".into(),
            data: "#!/bin/bash\necho {{ .RunnerName }}\n".into(),
            created_at: t,
            updated_at: t,
        }],
        pools: [
            "1b84e870-3be7-4a9c-9a40-6bef84af42dd",
            "34a4e988-01e3-4e9c-8322-9cc13d2f450f",
        ]
        .iter()
        .map(|id| PoolRecord {
            id: (*id).into(),
            entity_id: "2509a607-75aa-43cb-a973-8451ba71b6bd".into(),
            provider_name: "azure_external".into(),
            runner_prefix: "garm".into(),
            max_runners: 1,
            min_idle_runners: 1,
            bootstrap_timeout: 20,
            image: "image".into(),
            flavor: "flavor".into(),
            os_type: "linux".into(),
            os_arch: "amd64".into(),
            enabled: true,
            extra_specs: Some(r#"{"confidential":true}"#.into()),
            runner_group: String::new(),
            enable_shell: false,
            generation: 2,
            priority: 5,
            template_id: Some(2),
            proxy_id: None,
            scale_set_id: None,
            tags: vec![
                tag("d53cda70-42dd-42a6-95d0-c39173d73bd1", "self-hosted"),
                tag("3d24582d-c8c6-4bf1-9d60-951a4259ee28", "linux"),
            ],
            created_at: t,
            updated_at: t,
        })
        .collect(),
        instances: (0..2)
            .map(|n| InstanceRecord {
                id: format!("8e52d9d4-d1d0-40ff-816a-6f0abcd328e{n}"),
                name: format!("garm-imported{n}").into(),
                pool_id: "34a4e988-01e3-4e9c-8322-9cc13d2f450f".into(),
                provider_id: Some(format!("vm-{n}")),
                agent_id: 4104 + n,
                os_type: "linux".into(),
                os_arch: "amd64".into(),
                os_name: "ubuntu".into(),
                os_version: "22.04".into(),
                addresses: vec![AddressRecord {
                    address: "10.10.0.10".into(),
                    kind: "private".into(),
                }],
                status: InstanceStatus::Running,
                runner_status: RunnerStatus::Idle,
                provider_fault: String::new(),
                create_attempt: 1,
                token_fetched: true,
                jit_config: Some(Secret::new(r#"{".runner":"e30="}"#)),
                runner_group: String::new(),
                extra_labels: Vec::new(),
                generation: 0,
                callback_url: String::new(),
                metadata_url: String::new(),
                heartbeat: t,
                created_at: t,
                updated_at: t,
            })
            .collect(),
        jobs: vec![JobRecord {
            workflow_job_id: 42,
            scaleset_job_id: None,
            status: "completed".into(),
            repo_id: Some("2509a607-75aa-43cb-a973-8451ba71b6bd".into()),
            instance_name: Some("garm-imported0".into()),
            created_at: Some(t),
            updated_at: Some(t),
            ..JobRecord::default()
        }],
    }
}

async fn an_import_keeps_ids_times_and_secrets(f: Fresh) {
    let store = &f.store;
    let set = set();
    store.import(&set, ImportMode::IntoEmpty).await.unwrap();
    assert_eq!(store.controller().await.unwrap(), set.controller.clone().unwrap());
    let admin = store.user_by_name("admin").await.unwrap().unwrap();
    assert_eq!((admin.id.as_str(), admin.generation), (set.users[0].id.as_str(), 3));
    assert_eq!(admin.password_hash, set.users[0].password_hash);
    let mut endpoints = set.endpoints.clone();
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(store.endpoints("github").await.unwrap(), endpoints);
    let creds = store.credentials(7).await.unwrap();
    assert_eq!(creds.secret, set.credentials[0].secret);
    assert_eq!(creds.created_at, set.credentials[0].created_at);
    let entity = store.entity_any(&set.entities[0].id).await.unwrap();
    assert_eq!(entity.webhook_secret.expose(), "whsec_imported");
    assert_eq!(entity.balancer, BalancerType::Pack);
    assert_eq!(store.entity_events(&entity.id).await.unwrap().len(), 1);
    assert_eq!(
        store.pools(None).await.unwrap(),
        set.pools,
        "ids, tags (shared) and times kept"
    );
    let instances = store.instances().await.unwrap();
    assert_eq!(instances.len(), 2, "an import is not held to max_runners");
    assert_eq!(instances[0].jit_config, set.instances[0].jit_config);
    assert_eq!(instances[0].provider_id.as_deref(), Some("vm-0"));
    assert_eq!(store.template(5).await.unwrap(), set.templates[0]);
    let job = store.job(42).await.unwrap().unwrap();
    assert_eq!(job.instance_name.as_deref(), Some("garm-imported0"));
    assert_eq!(job.created_at, set.jobs[0].created_at, "the job keeps its times");
    // New credentials continue after the imported ids.
    let next = store
        .create_credentials(
            "more",
            "",
            "github",
            "github.com",
            &CredentialSecret::Pat {
                token: Secret::new("ghp_more"),
            },
        )
        .await
        .unwrap();
    assert!(next.id > 7, "{}", next.id);
    let mut another = set.templates[0].clone();
    another.name = "another".into();
    let another = store.create_template(&another).await.unwrap();
    assert!(another.id > 5, "templates continue after the imported ids");
}

async fn an_import_into_a_used_store_is_refused_unless_it_replaces(f: Fresh) {
    let store = &f.store;
    store.ensure_controller().await.unwrap();
    store.seed_github_com().await.unwrap();
    assert!(
        store.occupied().await.unwrap().is_empty(),
        "a store garm only started on counts as empty"
    );
    let set = set();
    store.import(&set, ImportMode::IntoEmpty).await.unwrap();
    assert!(!store.occupied().await.unwrap().is_empty());
    let err = store.import(&set, ImportMode::IntoEmpty).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        store.instances().await.unwrap().len(),
        2,
        "nothing written by the refused import"
    );
    store.import(&set, ImportMode::Replace).await.unwrap();
    assert_eq!(store.instances().await.unwrap().len(), 2);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    // An operator's template alone makes a store used; built-in ones do not.
    let only_template = ImportSet {
        templates: set.templates.clone(),
        ..ImportSet::default()
    };
    store.import(&only_template, ImportMode::Replace).await.unwrap();
    assert_eq!(store.occupied().await.unwrap(), ["templates: 1"]);
}
