//! Taking over a garm: `garm admin import-garm` on the database the real garm made
//! (`shared/fixtures/garm-db`), then `garm` on the result, with the same provider name.

use garm_e2e::{bin, wait_for, Garm, ProviderSpec};
use garm_fake_github::{FakeConfig, FakeGithub, PatSpec, Scope};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CONTROLLER_ID: &str = "452697e6-368b-4e2b-b797-7afc1937d32f";
const GARM_PASSPHRASE: &str = "9LpkqtBpbSYD2oArCTKlhEl9PiUXVRtY";
const ADMIN_PASSWORD: &str = "Fixture-A-admin-Pw#7319!";
const PAT: &str = "ghp_ols7QMFSMd9qMIgt4kJsvSNNyf3bqUp2I5f7";
const REPO_SECRET: &str = "9M6lBckoEbSBGD3fdCtK2EZqmg08yUS6w2cOw5Fq";
const ORG_POOL: &str = "34a4e988-01e3-4e9c-8322-9cc13d2f450f";
const RUNNER: &str = "garm-uywommqldscp";
const RUNNER_ID: &str = "8e52d9d4-d1d0-40ff-816a-6f0abcd328ec";
/// garm's `[jwt_auth] secret`: the operator keeps it, so tokens garm gave its runners stay valid.
const GARM_JWT_SECRET: &str = "iZw3bqAygonr8LDjr2TlbWbfBU8cY01W8tUwtXrJa5nMnhPWZIwn41Wky9iKuaQ5";

/// The fixture's pools use this provider; here it is the test provider, running userdata.
const AZURE_EXTERNAL: ProviderSpec = ProviderSpec {
    name: "azure_external",
    extra: "",
    run_userdata: true,
};

fn fixture_db() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/garm-db/garm.db")
}

/// What the provider knows of the machine garm made: tagged with garm's controller id.
fn seed_provider_state(garm: &Garm) {
    let dir = garm.dir.0.join("provider-azure_external/state/instances");
    std::fs::create_dir_all(&dir).unwrap();
    let record = json!({
        "instance": {
            "provider_id": "fixture-vm-garm-uywommqldscp", "name": RUNNER, "os_type": "linux",
            "os_name": "ubuntu", "os_version": "22.04", "os_arch": "amd64", "status": "running",
            "pool_id": ORG_POOL, "addresses": [{"address": "10.10.0.10", "type": "private"}]
        },
        "controller_id": CONTROLLER_ID,
        "pool_id": ORG_POOL,
        "install_pgid": null
    });
    std::fs::write(dir.join(format!("{RUNNER}.json")), record.to_string()).unwrap();
}

fn provider_records(garm: &Garm) -> Vec<String> {
    let dir = garm.dir.0.join("provider-azure_external/state/instances");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The instance token garm gave the runner it started (HS256, garm's claims).
fn garms_instance_token() -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "id": RUNNER_ID, "name": RUNNER, "provider_id": ORG_POOL, "scope": "organization",
        "entity": "garm-fixture-org", "create_attempt": 0, "forge_type": "github", "is_agent": false,
        "iss": "garm", "exp": chrono::Utc::now().timestamp() + 3600
    });
    let body = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(GARM_JWT_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("{body}.{}", b64(&mac.finalize().into_bytes()))
}

fn import(garm: &Garm, source: &Path) -> std::process::Output {
    Command::new(bin("garm"))
        .arg("--config")
        .arg(garm.config_path())
        .args(["admin", "import-garm", "--db"])
        .arg(source)
        .env("GARM_IMPORT_PASSPHRASE", GARM_PASSPHRASE)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_garm_keeps_its_secrets_its_pat_and_its_runner() {
    let fake = FakeGithub::start(FakeConfig {
        runner_binary: bin("garm-fake-runner"),
        pats: vec![PatSpec::new(PAT, &["repo", "admin:org"])],
        long_poll: Duration::from_secs(5),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    fake.state().add_org("mkulke");
    fake.state().add_repo("mkulke", "garm-playground");

    let mut garm = Garm::configure(&[AZURE_EXTERNAL]).unwrap();
    let source = garm.dir.0.join("garm-source.db");
    std::fs::copy(fixture_db(), &source).unwrap();
    let dry = Command::new(bin("garm"))
        .args(["admin", "import-garm", "--dry-run", "--db"])
        .arg(&source)
        .env("GARM_IMPORT_PASSPHRASE", GARM_PASSPHRASE)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        printed.contains(RUNNER) && printed.contains("garm-playground-scaleset"),
        "{printed}"
    );
    assert!(!garm.dir.0.join("garm.db").exists(), "a dry run writes nothing");

    let out = import(&garm, &source);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let imported_at = Instant::now();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        !printed.contains(PAT) && !printed.contains(REPO_SECRET),
        "no secret in the report"
    );
    let again = import(&garm, &source);
    assert!(!again.status.success(), "a second import is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    seed_provider_state(&garm);
    let config = std::fs::read_to_string(garm.config_path()).unwrap();
    std::fs::write(
        garm.config_path(),
        config.replace(garm_e2e::JWT_SECRET, GARM_JWT_SECRET),
    )
    .unwrap();
    garm.spawn().await.unwrap();
    let login = garm
        .api
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await
        .expect("garm's admin password still works");
    garm.api.token = login["token"].as_str().unwrap().to_string();
    let info = garm.api.call("GET", "/api/v1/controller-info", None).await.unwrap();
    assert_eq!(info["controller_id"], CONTROLLER_ID);

    // The operator points the new host's URLs and (here) github.com at where they now are.
    let url = garm.url();
    garm.api
        .call(
            "PUT",
            "/api/v1/controller",
            Some(json!({
                "metadata_url": format!("{url}/api/v1/metadata"),
                "callback_url": format!("{url}/api/v1/callbacks"),
                "webhook_url": format!("{url}/webhooks"),
                "minimum_job_age_backoff": 0
            })),
        )
        .await
        .unwrap();
    garm.api
        .call(
            "PUT",
            "/api/v1/github/endpoints/github.com",
            Some(json!({"base_url": fake.url(), "api_base_url": fake.api_url(), "upload_base_url": fake.api_url()})),
        )
        .await
        .unwrap();
    // The runner garm started, still booting, goes on with the token garm gave it.
    let runner = garm_e2e::Api {
        token: garms_instance_token(),
        ..garm.api.clone()
    };
    let file = runner
        .call("GET", "/api/v1/metadata/credentials/runner", None)
        .await
        .expect("garm's runner reads its imported JIT configuration");
    assert!(file.to_string().contains("AgentId"), "{file}");
    runner
        .call(
            "POST",
            "/api/v1/callbacks/status",
            Some(json!({"status": "installing", "message": "carrying on under garm-rs"})),
        )
        .await
        .expect("garm's runner reports its progress");

    let scope = Scope::Repo {
        owner: "mkulke".into(),
        repo: "garm-playground".into(),
    };
    let hook_url = format!("{url}/webhooks/{CONTROLLER_ID}");
    let good = fake.state().add_hook(&scope, &hook_url, Some(REPO_SECRET), "json");
    let bad = fake
        .state()
        .add_hook(&scope, &hook_url, Some("not-the-imported-secret"), "json");

    let labels = ["self-hosted", "azure-cvm", "ubuntu-2204"];
    let job = fake
        .state()
        .enqueue_job(
            "mkulke",
            "garm-playground",
            &labels,
            Duration::from_millis(300),
            "success",
        )
        .unwrap()
        .id;
    wait_for(
        "the job to complete on the fake",
        Duration::from_secs(120),
        async || {
            (fake.state().job(job).map(|j| j.status.as_str().to_string()).as_deref() == Some("completed")).then_some(())
        },
    )
    .await;
    let ran_on = fake.state().job(job).unwrap().runner_name.unwrap_or_default();
    assert!(
        ran_on.starts_with("garm-") && ran_on != RUNNER,
        "a new runner of the seed pool ran it: {ran_on}"
    );

    let deliveries = fake.state().deliveries();
    let queued = |hook: u64| {
        deliveries
            .iter()
            .find(|d| d.hook_id == hook && d.action.as_deref() == Some("queued"))
            .map(|d| d.status_code)
    };
    assert_eq!(queued(good.id), Some(200), "signed with the imported secret: accepted");
    assert_eq!(queued(bad.id), Some(401), "signed with another secret: refused");
    let tail = &PAT[PAT.len() - 6..];
    let with_pat: Vec<String> = fake
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.credential_tail.as_deref() == Some(tail) && (200..300).contains(&r.status))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        with_pat.iter().any(|r| r.contains("generate-jitconfig")),
        "the imported PAT fetched the runner's configuration: {with_pat:?}"
    );

    // Adopted: after the provider was listed and past the 30 s a lost instance is given,
    // garm's machine is still there, still the org pool's only instance, and nothing replaced it.
    let settle = Duration::from_secs(40).saturating_sub(imported_at.elapsed());
    tokio::time::sleep(settle).await;
    wait_for(
        "the job's instance to be deleted",
        Duration::from_secs(60),
        async || (provider_records(&garm) == [format!("{RUNNER}.json")]).then_some(()),
    )
    .await;
    let instances = garm.api.instances().await;
    let in_org_pool: Vec<&str> = instances
        .iter()
        .filter(|i| i["pool_id"] == ORG_POOL)
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(in_org_pool, [RUNNER], "no duplicate for the adopted instance");
    let adopted = instances.iter().find(|i| i["name"] == RUNNER).unwrap();
    assert_eq!(adopted["status"], "running");
    assert_eq!(adopted["runner_status"], "installing");
    assert_eq!(adopted["provider_id"], "fixture-vm-garm-uywommqldscp");
    let log = garm.log();
    assert!(
        !log.lines()
            .any(|l| l.contains(RUNNER) && (l.contains("delet") || l.contains("reap"))),
        "the adopted instance was never deleted:\n{log}"
    );
}
