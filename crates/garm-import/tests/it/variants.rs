//! A garm database with what the fixture lacks: legacy and ChaCha20 sealed values, Gitea
//! objects, a scale set instance and job, jobs, a proxy, a second user, an older schema.

use crate::*;
use garm_import::unseal::testing::{seal, Sealing};
use garm_store::{CredentialSecret, EntityKind, ImportMode};
use sqlx::Connection;

const REPO: &str = "2509a607-75aa-43cb-a973-8451ba71b6bd";
const INSTANCE: &str = "8e52d9d4-d1d0-40ff-816a-6f0abcd328ec";
const T: &str = "2026-12-07 00:09:00.123456789+00:00";

async fn enrich(db: &Path) {
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let legacy = seal(GARM_PASSPHRASE, b"legacy-webhook-secret", Sealing::Legacy, [0; 32]);
    let chacha = seal(
        GARM_PASSPHRASE,
        br#"{"oauth2_token":"ghp_sealedWithChaCha"}"#,
        Sealing::Dare20 { chacha: true },
        [5; 32],
    );
    sqlx::query("UPDATE repositories SET webhook_secret = $1 WHERE id = $2")
        .bind(legacy)
        .bind(REPO)
        .execute(&mut conn)
        .await
        .unwrap();
    // A proxy with credentials, sealed as garm seals them (JSON, then the envelope), used by
    // the repository's pool.
    let proxy_creds = seal(
        GARM_PASSPHRASE,
        br#"{"username":"svc","password":"garm-proxy-pw"}"#,
        Sealing::Dare20 { chacha: false },
        [7; 32],
    );
    sqlx::query(&format!("INSERT INTO proxies (created_at, updated_at, name, https_proxy, no_proxy, credentials) VALUES ('{T}', '{T}', 'sealed-proxy', 'http://proxy:3129', 'localhost', $1)"))
        .bind(proxy_creds)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE pools SET proxy_id = (SELECT id FROM proxies WHERE name = 'sealed-proxy') WHERE repo_id = $1")
        .bind(REPO)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE github_credentials SET payload = $1 WHERE name = 'garm'")
        .bind(chacha)
        .execute(&mut conn)
        .await
        .unwrap();
    let statements = [
        format!("INSERT INTO users (id, created_at, updated_at, username, full_name, email, password, generation, is_admin, enabled) VALUES ('0b5d1c3e-0000-4000-8000-000000000001', '{T}', '{T}', 'ops', 'Ops', 'ops@example.com', '$2a$10$abcdefghijklmnopqrstuu', 1, 0, 1)"),
        format!("INSERT INTO github_endpoints (name, created_at, updated_at, endpoint_type, description, api_base_url, base_url) VALUES ('gitea.example', '{T}', '{T}', 'gitea', 'Gitea', 'https://gitea.example/api/v1', 'https://gitea.example')"),
        format!("INSERT INTO gitea_credentials (created_at, updated_at, name, auth_type, endpoint_name) VALUES ('{T}', '{T}', 'gitea-creds', 'pat', 'gitea.example')"),
        format!("INSERT INTO organizations (id, created_at, updated_at, gitea_credentials_id, name, pool_balancer_type, endpoint_name) VALUES ('0b5d1c3e-0000-4000-8000-000000000002', '{T}', '{T}', 1, 'gitea-org', 'roundrobin', 'gitea.example')"),
        format!("INSERT INTO pools (id, created_at, updated_at, provider_name, runner_prefix, max_runners, min_idle_runners, runner_bootstrap_timeout, image, flavor, os_type, os_arch, enabled, org_id) VALUES ('0b5d1c3e-0000-4000-8000-000000000003', '{T}', '{T}', 'azure_external', 'garm', 1, 0, 20, 'img', 'small', 'linux', 'amd64', 1, '0b5d1c3e-0000-4000-8000-000000000002')"),
        format!("INSERT INTO instances (id, created_at, updated_at, provider_id, name, status, runner_status, pool_id) VALUES ('0b5d1c3e-0000-4000-8000-000000000004', '{T}', '{T}', 'vm-gitea', 'garm-gitea0001', 'running', 'idle', '0b5d1c3e-0000-4000-8000-000000000003')"),
        format!("INSERT INTO instances (id, created_at, updated_at, provider_id, name, status, runner_status, scale_set_fk_id) VALUES ('0b5d1c3e-0000-4000-8000-000000000005', '{T}', '{T}', 'vm-scaleset', 'garm-scaleset01', 'running', 'idle', 1)"),
        format!("INSERT INTO workflow_jobs (workflow_job_id, run_id, action, status, name, github_runner_id, instance_id, repository_name, repository_owner, labels, repo_id, created_at, updated_at) VALUES (987654321, 55, 'in_progress', 'in_progress', 'build', 4104, '{INSTANCE}', 'garm-playground', 'mkulke', '[\"self-hosted\",\"linux\"]', '{REPO}', '{T}', '{T}')"),
        format!("INSERT INTO workflow_jobs (scale_set_job_id, status, name, created_at, updated_at) VALUES ('ss-job-1', 'queued', 'scale set job', '{T}', '{T}')"),
        format!("INSERT INTO proxies (created_at, updated_at, name, http_proxy) VALUES ('{T}', '{T}', 'corp-proxy', 'http://proxy:3128')"),
        format!("INSERT INTO instance_status_updates (id, created_at, updated_at, event_type, event_level, message, instance_id) VALUES ('0b5d1c3e-0000-4000-8000-000000000006', '{T}', '{T}', 'status', 'info', 'booting', '{INSTANCE}')"),
        // An older garm: no pool priority yet.
        "DROP INDEX idx_pool_priority".to_string(),
        "ALTER TABLE pools DROP COLUMN priority".to_string(),
    ];
    for sql in statements {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn every_kind_of_object_is_carried_or_reported() {
    let dir = temp_dir();
    let db = copy_fixture(&dir.0);
    sqlx::any::install_default_drivers();
    enrich(&db).await;
    let plan = garm_import::read(&spec(&db)).await.unwrap();
    let store = target(&dir.0).await;
    garm_import::write(&plan, &store, ImportMode::IntoEmpty).await.unwrap();

    let repo = store.entity(EntityKind::Repository, &REPO.into()).await.unwrap();
    assert_eq!(
        repo.webhook_secret.expose(),
        "legacy-webhook-secret",
        "legacy format opened"
    );
    match store.credentials(1).await.unwrap().secret {
        CredentialSecret::Pat { token } => assert_eq!(token.expose(), "ghp_sealedWithChaCha"),
        other => panic!("expected a PAT, got {}", other.auth_type()),
    }
    let formats: Vec<&str> = plan.report.sealed.keys().map(|f| f.as_str()).collect();
    assert!(formats.contains(&"legacy AES-GCM"), "{formats:?}");

    let users: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(users, ["admin", "ops"]);
    let job = store.job(987654321).await.unwrap().expect("the job is carried");
    assert_eq!(job.instance_name.as_deref(), Some("garm-uywommqldscp"));
    assert_eq!(job.repo_id.as_deref(), Some(REPO));
    assert_eq!(job.labels, ["self-hosted", "linux"]);
    let created = job
        .created_at
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(created, "2026-12-07T00:09:00.123456Z", "the job keeps garm's time");
    assert_eq!(store.jobs().await.unwrap().len(), 1);
    let names: Vec<String> = store
        .instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name.into_string())
        .collect();
    assert_eq!(names, ["garm-uywommqldscp"]);
    assert!(
        store.pools(None).await.unwrap().iter().all(|p| p.priority == 0),
        "a missing column reads as unset"
    );
    assert!(store.endpoint("gitea.example").await.is_err());
    // Proxies are carried with their ids and unsealed credentials, and pools keep theirs.
    let proxies = store.proxies().await.unwrap();
    let sealed = proxies
        .iter()
        .find(|p| p.name == "sealed-proxy")
        .expect("sealed-proxy carried");
    assert_eq!(
        (sealed.username.as_str(), sealed.https_proxy.as_str()),
        ("svc", "http://proxy:3129")
    );
    assert_eq!(sealed.password.as_ref().unwrap().expose(), "garm-proxy-pw");
    assert!(proxies.iter().any(|p| p.name == "corp-proxy" && p.password.is_none()));
    let repo_pools = store.pools(Some(&REPO.into())).await.unwrap();
    assert!(!repo_pools.is_empty() && repo_pools.iter().all(|p| p.proxy_id == Some(sealed.id)));

    let skipped: Vec<(&str, &str)> = plan
        .report
        .not_carried
        .iter()
        .map(|n| (n.kind, n.name.as_str()))
        .collect();
    for expected in [
        ("endpoint", "gitea.example"),
        ("credentials", "gitea-creds"),
        ("organization", "gitea-org"),
        ("pool", "0b5d1c3e-0000-4000-8000-000000000003"),
        ("instance", "garm-gitea0001"),
        ("instance", "garm-scaleset01"),
        ("job", "ss-job-1"),
        ("instance status messages", "1"),
        ("scale set", "garm-playground-scaleset"),
    ] {
        assert!(skipped.contains(&expected), "{expected:?} missing from {skipped:?}");
    }
}
