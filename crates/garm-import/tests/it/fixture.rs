//! Every object and every secret of the fixture, as garm-rs's store holds them after the import.

use crate::*;
use garm_model::{BalancerType, InstanceStatus, RunnerStatus};
use garm_store::{CredentialSecret, EntityKind, ImportMode};

const CONTROLLER_ID: &str = "452697e6-368b-4e2b-b797-7afc1937d32f";

async fn imported() -> (TempDir, Store, garm_import::Report) {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    let plan = garm_import::read(&spec(&db)).await.unwrap();
    let store = target(&dir.0).await;
    garm_import::write(&plan, &store, ImportMode::IntoEmpty).await.unwrap();
    (dir, store, plan.report)
}

/// Times compare at garm-rs's precision: garm's nanoseconds cut to microseconds.
fn micros(t: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn ours(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test]
async fn the_controller_and_the_admin_are_carried_with_their_id_and_password() {
    let (_dir, store, report) = imported().await;
    let c = store.controller().await.unwrap();
    assert_eq!(c.controller_id, CONTROLLER_ID);
    assert_eq!(report.controller_id.as_deref(), Some(CONTROLLER_ID));
    let snap = &snapshot()["controller show"];
    assert_eq!(c.metadata_url, snap["metadata_url"].as_str().unwrap());
    assert_eq!(c.callback_url, snap["callback_url"].as_str().unwrap());
    assert_eq!(c.webhook_url, snap["webhook_url"].as_str().unwrap());
    assert_eq!(c.agent_url, snap["agent_url"].as_str().unwrap());
    assert_eq!(
        c.garm_agent_releases_url,
        snap["garm_agent_releases_url"].as_str().unwrap()
    );
    assert_eq!(c.minimum_job_age_backoff, 30);
    assert!(!c.enable_agent_tools_sync && !c.allow_insecure_garm_agent);
    assert!(c.ca_cert_bundle.is_empty());

    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    let admin = &users[0];
    let spec_admin = &manifest()["spec_inputs"]["admin"];
    assert_eq!(admin.username, "admin");
    assert_eq!(admin.email, spec_admin["email"].as_str().unwrap());
    assert_eq!(admin.full_name, spec_admin["full_name"].as_str().unwrap());
    assert!(admin.is_admin && admin.enabled);
    assert!(
        admin.password_hash.starts_with("$2a$10$"),
        "bcrypt hash carried as it is"
    );
    assert!(bcrypt::verify(spec_admin["password"].as_str().unwrap(), &admin.password_hash).unwrap());
}

#[tokio::test]
async fn endpoints_and_credentials_are_carried_with_their_secrets() {
    let (_dir, store, _) = imported().await;
    let endpoints = store.endpoints("github").await.unwrap();
    let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["github.com", "ghes-example"]);
    let ghes = &endpoints[1];
    assert_eq!(ghes.description, "Example GitHub Enterprise Server");
    assert_eq!(ghes.base_url, "https://ghes.example.com");
    assert_eq!(ghes.api_base_url, "https://ghes.example.com/api/v3/");
    assert_eq!(ghes.upload_base_url, "https://ghes.example.com/api/uploads/");
    let ca = std::fs::read(fixture_dir().join("inputs/test-ca.pem")).unwrap();
    assert_eq!(ghes.ca_cert_bundle, ca);
    assert!(endpoints[0].ca_cert_bundle.is_empty());
    let snap = &snapshot()["github endpoint list"];
    assert_eq!(ours(&ghes.created_at), micros(snap[1]["created_at"].as_str().unwrap()));

    let creds = store.list_credentials("github").await.unwrap();
    assert_eq!(creds.len(), 2);
    let pat = store.credentials(1).await.unwrap();
    assert_eq!((pat.name.as_str(), pat.endpoint_name.as_str()), ("garm", "github.com"));
    assert_eq!(pat.description, "PAT for github.com");
    match &pat.secret {
        CredentialSecret::Pat { token } => assert_eq!(token.expose(), "ghp_ols7QMFSMd9qMIgt4kJsvSNNyf3bqUp2I5f7"),
        other => panic!("expected a PAT, got {}", other.auth_type()),
    }
    let app = store.credentials(2).await.unwrap();
    assert_eq!(
        (app.name.as_str(), app.endpoint_name.as_str()),
        ("ghes-app", "ghes-example")
    );
    let key = std::fs::read_to_string(fixture_dir().join("inputs/ghes-app.private-key.pem")).unwrap();
    match &app.secret {
        CredentialSecret::App {
            app_id,
            installation_id,
            private_key_pem,
        } => {
            assert_eq!((*app_id, *installation_id), (424242, 31337001));
            assert_eq!(private_key_pem.expose(), key);
        }
        other => panic!("expected an App, got {}", other.auth_type()),
    }
}

#[tokio::test]
async fn entities_keep_their_ids_credentials_and_webhook_secrets() {
    let (_dir, store, _) = imported().await;
    let cases = [
        (
            EntityKind::Repository,
            "2509a607-75aa-43cb-a973-8451ba71b6bd",
            "mkulke/garm-playground",
            "github.com",
            1,
            "9M6lBckoEbSBGD3fdCtK2EZqmg08yUS6w2cOw5Fq",
            "repository list",
        ),
        (
            EntityKind::Organization,
            "b57eb388-1690-4024-a423-e5bb0226ee34",
            "garm-fixture-org",
            "ghes-example",
            2,
            "d05vBBMyD48Gn7JNHzxhZYmAulsIJqKCTIxGW0Gf",
            "organization list",
        ),
        (
            EntityKind::Enterprise,
            "9a664c33-b366-4571-b268-09c29642779f",
            "garm-fixture-enterprise",
            "github.com",
            1,
            "p0Hi9hrcS8uWZCVO18Smm9R9nBzLNkP26oqDf9QK",
            "enterprise list",
        ),
    ];
    for (kind, id, name, endpoint, creds, secret, listed) in cases {
        let e = store.entity(kind, &id.into()).await.unwrap();
        assert_eq!(e.display_name(), name);
        assert_eq!(e.endpoint_name, endpoint);
        assert_eq!(e.credentials_id, creds);
        assert_eq!(e.webhook_secret.expose(), secret, "{name}");
        assert_eq!(e.balancer, BalancerType::Roundrobin);
        assert!(!e.agent_mode);
        let snap = &snapshot()[listed][0];
        assert_eq!(snap["id"].as_str().unwrap(), id);
        assert_eq!(ours(&e.created_at), micros(snap["created_at"].as_str().unwrap()));
        assert_eq!(
            store.entity_events(&id.into()).await.unwrap().len(),
            2,
            "garm's events of {name}"
        );
    }
}

#[tokio::test]
async fn pools_keep_every_setting_and_their_tags() {
    let (_dir, store, _) = imported().await;
    let snap = snapshot();
    let pools = store.pools(None).await.unwrap();
    assert_eq!(pools.len(), 3);
    for pool in &pools {
        let shown = &snap[format!("pool show {}", pool.id).as_str()];
        assert_eq!(pool.provider_name, "azure_external");
        assert_eq!(pool.image, shown["image"].as_str().unwrap());
        assert_eq!(pool.flavor, shown["flavor"].as_str().unwrap());
        assert_eq!(pool.os_type, "linux");
        assert_eq!(pool.os_arch, "amd64");
        assert_eq!(
            u64::from(pool.min_idle_runners),
            shown["min_idle_runners"].as_u64().unwrap_or(0)
        );
        assert_eq!(u64::from(pool.max_runners), shown["max_runners"].as_u64().unwrap_or(0));
        assert_eq!(pool.bootstrap_timeout, 20);
        assert!(pool.enabled && !pool.enable_shell);
        assert_eq!(pool.runner_prefix, "garm");
        assert_eq!(pool.runner_group, "");
        assert_eq!((pool.priority, pool.generation), (0, 0));
        assert_eq!(pool.template_id, shown["template_id"].as_i64());
        assert_eq!(ours(&pool.created_at), micros(shown["created_at"].as_str().unwrap()));
        let owner = ["repo_id", "org_id", "enterprise_id"]
            .iter()
            .find_map(|k| shown[*k].as_str())
            .unwrap();
        assert_eq!(pool.entity_id, owner);
        let mut ours: Vec<(String, String)> = pool.tags.iter().map(|t| (t.id.clone(), t.name.clone())).collect();
        let mut theirs: Vec<(String, String)> = shown["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "tags of {}", pool.id);
    }
    let seed = store
        .pool(&"1b84e870-3be7-4a9c-9a40-6bef84af42dd".into())
        .await
        .unwrap();
    assert_eq!(seed.extra_specs.as_deref(), Some(r#"{"confidential":true}"#));
    for pool in &pools {
        let names: Vec<&str> = pool.tags.iter().map(|t| t.name.as_str()).collect();
        let listed = snap["pool list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == pool.id.as_str())
            .unwrap();
        let theirs: Vec<&str> = listed["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, theirs, "garm's list order");
    }
}

#[tokio::test]
async fn the_instance_is_carried_with_its_provider_id_state_and_jit_configuration() {
    let (_dir, store, report) = imported().await;
    let instances = store.instances().await.unwrap();
    assert_eq!(instances.len(), 1);
    let i = &instances[0];
    let shown = &snapshot()["runner show garm-uywommqldscp"];
    assert_eq!(i.id, shown["id"].as_str().unwrap());
    assert_eq!(i.name, "garm-uywommqldscp");
    assert_eq!(i.pool_id, "34a4e988-01e3-4e9c-8322-9cc13d2f450f");
    assert_eq!(i.provider_id.as_deref(), Some("fixture-vm-garm-uywommqldscp"));
    assert_eq!(i.agent_id, 4104);
    assert_eq!(i.status, InstanceStatus::Running);
    assert_eq!(i.runner_status, RunnerStatus::Pending);
    assert_eq!(
        (
            i.os_type.as_str(),
            i.os_name.as_str(),
            i.os_version.as_str(),
            i.os_arch.as_str()
        ),
        ("linux", "ubuntu", "22.04", "amd64")
    );
    assert_eq!(i.addresses.len(), 1);
    assert_eq!(
        (i.addresses[0].address.as_str(), i.addresses[0].kind.as_str()),
        ("10.10.0.10", "private")
    );
    assert_eq!(i.callback_url, "https://garm-a.fixture.example/api/v1/callbacks");
    assert_eq!(i.metadata_url, "https://garm-a.fixture.example/api/v1/metadata");
    assert_eq!(ours(&i.created_at), micros(shown["created_at"].as_str().unwrap()));
    assert_eq!(ours(&i.heartbeat), "0001-01-01T00:00:00.000000Z");
    let jit = &manifest()["unseal"]["instance_jit_plaintext"]["garm-uywommqldscp"];
    assert_eq!(i.jit_config.as_ref().unwrap().expose(), jit.as_str().unwrap());
    // The bootstrap window restarts at the import, so the runner is not reaped at once.
    assert!(chrono::Utc::now() - i.updated_at < chrono::Duration::minutes(1));
    assert_eq!(report.count("instances"), 1);
}

#[tokio::test]
async fn what_garm_rs_cannot_hold_is_reported_not_written() {
    let (_dir, store, report) = imported().await;
    let skipped: Vec<(&str, &str)> = report.not_carried.iter().map(|n| (n.kind, n.name.as_str())).collect();
    assert!(
        skipped.contains(&("scale set", "garm-playground-scaleset")),
        "{skipped:?}"
    );
    assert!(skipped.contains(&("template", "gitea_linux")), "{skipped:?}");
    assert!(skipped.contains(&("template", "gitea_windows")), "{skipped:?}");
    assert!(
        !skipped.iter().any(|(kind, _)| *kind == "pool template"),
        "every pool's template is carried"
    );
    assert!(store.jobs().await.unwrap().is_empty(), "the fixture has no jobs");
    let printed = report.to_string();
    for secret in [
        "ghp_ols7QMFSMd9qMIgt4kJsvSNNyf3bqUp2I5f7",
        "9M6lBckoEbSBGD3fdCtK2EZqmg08yUS6w2cOw5Fq",
        GARM_PASSPHRASE,
    ] {
        assert!(!printed.contains(secret), "the report must not print secrets");
    }
    assert!(printed.contains("garm-playground-scaleset"), "{printed}");
}

#[tokio::test]
async fn github_templates_are_carried_with_their_ids_and_the_custom_text() {
    let (_dir, store, _) = imported().await;
    let templates = store.templates(&Default::default()).await.unwrap();
    let names: Vec<(i64, &str, bool)> = templates
        .iter()
        .map(|t| (t.id, t.name.as_str(), t.is_system()))
        .collect();
    assert_eq!(
        names,
        [
            (1, "github_windows", true),
            (2, "github_linux", true),
            (5, "fixture-a-linux", false)
        ]
    );
    let custom = store.template(5).await.unwrap();
    let body = std::fs::read_to_string(fixture_dir().join("inputs/template-fixture-a-linux.sh")).unwrap();
    assert_eq!(custom.data, body, "the operator's template, unsealed byte for byte");
    assert_eq!(custom.owner_id, store.list_users().await.unwrap()[0].id);
    assert_eq!(custom.description, "Custom Linux install template (fixture A)");
    assert_eq!(
        (custom.os_type.as_str(), custom.forge_type.as_str()),
        ("linux", "github")
    );
    let linux = store.template(2).await.unwrap();
    assert_eq!(
        Some(linux.data.as_str()),
        garm_template::system_template("github", "linux"),
        "garm-rs's own built-in text"
    );
    let enterprise_pool = store
        .pool(&"757fd295-732a-44ae-a4d6-737b825b26f2".into())
        .await
        .unwrap();
    assert_eq!(enterprise_pool.template_id, Some(5));
}
