//! `garm bootstrap`: the real binary run twice on a fresh database, the result read back through the API.

use crate::{config_text, Harness, PASSPHRASE, PASSWORD};
use garm_server::bootstrap::{self, Args, Restore};
use garm_server::config::Config;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const GITHUB_TOKEN: &str = "ghp_bootstrapTokenZ9q8w7e6r5t4y3u2i1o0";
const WEBHOOK_SECRET: &str = "whsec-Kx7Qm2Vn9Lp4Rt8Zb3Yc6Hd1Fg5Js0";

fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("garm-bootstrap-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), config_text(&dir)).unwrap();
    dir
}

/// Everything the deployment passes to the init container.
fn full_env() -> HashMap<&'static str, String> {
    HashMap::from([
        ("GARM_ADMIN_USERNAME", "admin".to_string()),
        ("GARM_ADMIN_PASSWORD", PASSWORD.to_string()),
        ("GARM_ADMIN_EMAIL", "admin@example.com".to_string()),
        (
            "GARM_BASE_URL",
            "https://garm.westeurope.azurecontainer.io/".to_string(),
        ),
        ("GARM_GITHUB_TOKEN", GITHUB_TOKEN.to_string()),
        ("GARM_CREDENTIALS_NAME", "garm".to_string()),
        ("GARM_REPO_OWNER", "mkulke".to_string()),
        ("GARM_REPO_NAME", "garm-playground".to_string()),
        ("GARM_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
        ("GARM_POOL_PROVIDER", "azure_external".to_string()),
        (
            "GARM_POOL_IMAGE",
            "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest".to_string(),
        ),
        ("GARM_POOL_FLAVOR", "Standard_DC2as_v5".to_string()),
        ("GARM_POOL_TAGS", "self-hosted, azure-cvm,ubuntu-2204".to_string()),
        ("GARM_POOL_MIN_IDLE_RUNNERS", "0".to_string()),
        ("GARM_POOL_MAX_RUNNERS", "4".to_string()),
        ("GARM_POOL_EXTRA_SPECS", r#"{"confidential": true}"#.to_string()),
        ("GARM_POOL_ENABLED", "true".to_string()),
    ])
}

/// Runs the `garm` binary with only `env` in its environment; returns (success, stdout + stderr).
fn garm(dir: &Path, args: &[&str], env: &HashMap<&'static str, String>) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_garm"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the garm binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn assert_no_secret(output: &str) {
    for secret in [PASSWORD, GITHUB_TOKEN, WEBHOOK_SECRET, crate::JWT_SECRET, PASSPHRASE] {
        assert!(!output.contains(secret), "a secret leaked into the output:\n{output}");
    }
}

async fn run_in_process(dir: &Path, env: &HashMap<&'static str, String>) -> (anyhow::Result<()>, String) {
    let config = Config::parse(&config_text(dir)).unwrap();
    let lookup = |var: &str| env.get(var).cloned();
    let mut out = Vec::new();
    let result = bootstrap::run(config, &Args::default(), &lookup, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

/// The state bootstrap is responsible for, as the API shows it (timestamps included).
async fn state(h: &Harness) -> Value {
    let repos = h.get("/api/v1/repositories").await;
    let repo_id = repos[0]["id"].as_str().unwrap().to_string();
    let pools = h.get(&format!("/api/v1/repositories/{repo_id}/pools")).await;
    let pool_id = pools[0]["id"].as_str().unwrap().to_string();
    json!({
        "controller": h.get("/api/v1/controller-info").await,
        "credentials": h.get("/api/v1/github/credentials").await,
        "repositories": repos,
        "repository": h.get(&format!("/api/v1/repositories/{repo_id}")).await,
        "pools": h.get("/api/v1/pools").await,
        "pool": h.get(&format!("/api/v1/pools/{pool_id}")).await,
    })
}

async fn store(dir: &Path) -> garm_store::Store {
    let url = format!("sqlite://{}", dir.join("garm.db").display());
    garm_store::Store::connect(&url, garm_store::Sealer::new(PASSPHRASE))
        .await
        .unwrap()
}

#[tokio::test]
async fn bootstrap_twice_creates_everything_once_and_the_second_run_changes_nothing() {
    let dir = fresh_dir();
    let env = full_env();
    let (ok, first) = garm(&dir, &["bootstrap"], &env);
    assert!(ok, "{first}");
    for line in [
        "admin user admin: created",
        "controller URLs https://garm.westeurope.azurecontainer.io: set",
        "github credentials garm: created",
        "repository mkulke/garm-playground: created",
        "pool azure_external [self-hosted,azure-cvm,ubuntu-2204]: created",
    ] {
        assert!(first.contains(line), "missing {line:?} in:\n{first}");
    }
    assert_no_secret(&first);

    let mut h = Harness::open(dir.clone()).await;
    h.login().await;
    let before = state(&h).await;
    let users_before = store(&dir).await.list_users().await.unwrap();

    let (ok, second) = garm(&dir, &["bootstrap"], &env);
    assert!(ok, "{second}");
    assert!(
        !second.contains("created"),
        "the second run created something:\n{second}"
    );
    assert!(!second.contains("differ"), "{second}");
    for line in [
        "admin user admin: exists",
        "controller URLs https://garm.westeurope.azurecontainer.io: exist",
        "github credentials garm: exist",
        "repository mkulke/garm-playground: exists",
        "pool azure_external [self-hosted,azure-cvm,ubuntu-2204]: exists",
    ] {
        assert!(second.contains(line), "missing {line:?} in:\n{second}");
    }
    assert_no_secret(&second);
    assert_eq!(state(&h).await, before, "the second run changed the state");
    let users_after = store(&dir).await.list_users().await.unwrap();
    assert_eq!(users_after.len(), 1);
    assert_eq!(users_after[0].updated_at, users_before[0].updated_at);
    assert_eq!(users_after[0].generation, users_before[0].generation);

    // What the first run wrote, read back.
    let c = &before["controller"];
    assert_eq!(
        c["metadata_url"],
        "https://garm.westeurope.azurecontainer.io/api/v1/metadata"
    );
    assert_eq!(
        c["callback_url"],
        "https://garm.westeurope.azurecontainer.io/api/v1/callbacks"
    );
    assert_eq!(c["webhook_url"], "https://garm.westeurope.azurecontainer.io/webhooks");
    assert_eq!(c["agent_url"], "https://garm.westeurope.azurecontainer.io/agent");
    assert_eq!(before["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(before["credentials"][0]["name"], "garm");
    assert_eq!(before["credentials"][0]["auth-type"], "pat");
    assert_eq!(before["repositories"].as_array().unwrap().len(), 1);
    assert_eq!(before["repository"]["owner"], "mkulke");
    assert_eq!(before["repository"]["name"], "garm-playground");
    assert_eq!(before["repository"]["credentials_name"], "garm");
    assert_eq!(before["pools"].as_array().unwrap().len(), 1);
    let pool = &before["pool"];
    assert_eq!(pool["provider_name"], "azure_external");
    assert_eq!(pool["flavor"], "Standard_DC2as_v5");
    assert_eq!(
        pool["image"],
        "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest"
    );
    assert_eq!(pool["max_runners"], 4);
    assert!(pool.get("min_idle_runners").is_none(), "zero is omitted");
    assert_eq!(pool["enabled"], true);
    assert_eq!(pool["extra_specs"], json!({"confidential": true}));
    assert_eq!(pool["os_type"], "linux");
    assert_eq!(pool["os_arch"], "amd64");
    let tags: Vec<&str> = pool["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["self-hosted", "azure-cvm", "ubuntu-2204"]);

    // The secrets were stored as given (and sealed), not merely accepted.
    let s = store(&dir).await;
    let creds = s.credentials_by_name("garm").await.unwrap();
    assert_eq!(
        creds.secret,
        garm_store::CredentialSecret::Pat {
            token: garm_model::Secret::new(GITHUB_TOKEN)
        }
    );
    let repo = s
        .find_entity(
            garm_store::EntityKind::Repository,
            "mkulke",
            "garm-playground",
            "github.com",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repo.webhook_secret.expose(), WEBHOOK_SECRET);
}

#[tokio::test]
async fn an_invalid_pool_setting_fails_before_anything_is_written() {
    for (var, value, needle) in [
        (
            "GARM_POOL_MAX_RUNNERS",
            "2",
            "GARM_POOL_MIN_IDLE_RUNNERS: min_idle_runners (3) cannot be larger",
        ),
        (
            "GARM_POOL_EXTRA_SPECS",
            "{confidential",
            "GARM_POOL_EXTRA_SPECS: extra_specs is not valid JSON",
        ),
        (
            "GARM_POOL_EXTRA_SPECS",
            r#"{"confidential": true, "attestation": {"required": true, "max_vmpl": 9}}"#,
            "GARM_POOL_EXTRA_SPECS: extra_specs.attestation.max_vmpl",
        ),
        (
            "GARM_POOL_PROVIDER",
            "docker",
            "GARM_POOL_PROVIDER: no provider named \"docker\" is configured",
        ),
        ("GARM_POOL_TAGS", " , ", "GARM_POOL_TAGS: tags cannot be empty"),
        ("GARM_POOL_OS_TYPE", "plan9", "GARM_POOL_OS_TYPE: invalid os type"),
        (
            "GARM_POOL_ENABLED",
            "maybe",
            "GARM_POOL_ENABLED: \"maybe\" is not true or false",
        ),
    ] {
        let dir = fresh_dir();
        let mut env = full_env();
        env.insert("GARM_POOL_MIN_IDLE_RUNNERS", "3".into());
        env.insert(var, value.into());
        let (result, out) = run_in_process(&dir, &env).await;
        let err = result.expect_err(var).to_string();
        assert!(err.contains(needle), "{var}: {err}");
        assert!(out.is_empty(), "{var}: printed {out}");
        assert!(
            !store(&dir).await.has_admin().await.unwrap(),
            "{var}: the admin was written"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[tokio::test]
async fn a_weak_admin_password_is_refused_without_echoing_it() {
    let dir = fresh_dir();
    let mut env = full_env();
    env.insert("GARM_ADMIN_PASSWORD", "password123".into());
    let (ok, out) = garm(&dir, &["bootstrap"], &env);
    assert!(!ok);
    assert!(out.contains("GARM_ADMIN_PASSWORD: the password is too weak"), "{out}");
    assert!(!out.contains("password123"), "{out}");
    assert_no_secret(&out);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_partly_described_step_names_the_missing_variable() {
    let dir = fresh_dir();
    let mut env = full_env();
    env.remove("GARM_REPO_NAME");
    let (result, _) = run_in_process(&dir, &env).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "GARM_REPO_NAME is required to create the repository"
    );

    let mut env = full_env();
    env.remove("GARM_GITHUB_TOKEN");
    let (result, _) = run_in_process(&dir, &env).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "GARM_GITHUB_TOKEN is required to create the repository's credentials"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn only_the_admin_and_urls_are_created_when_nothing_else_is_set() {
    let dir = fresh_dir();
    let env: HashMap<_, _> = full_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("GARM_ADMIN_") || *k == "GARM_BASE_URL")
        .collect();
    let (result, out) = run_in_process(&dir, &env).await;
    result.unwrap();
    assert!(out.contains("admin user admin: created"), "{out}");
    assert!(
        out.contains("github credentials: skipped (no GARM_GITHUB_TOKEN set)"),
        "{out}"
    );
    assert!(out.contains("repository: skipped"), "{out}");
    assert!(out.contains("pool: skipped"), "{out}");

    // Credentials added later (as `garm-cli` would) let a later run add the repository alone.
    let mut env = full_env();
    env.remove("GARM_GITHUB_TOKEN");
    env.retain(|k, _| !k.starts_with("GARM_POOL_"));
    let mut h = Harness::open(dir.clone()).await;
    h.login().await;
    h.add_pat("garm", "ghp_other").await;
    let (result, out) = run_in_process(&dir, &env).await;
    result.unwrap();
    assert!(out.contains("repository mkulke/garm-playground: created"), "{out}");
    assert_eq!(h.get("/api/v1/repositories").await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn changed_pool_settings_are_reported_and_left_as_they_are() {
    let dir = fresh_dir();
    let (result, _) = run_in_process(&dir, &full_env()).await;
    result.unwrap();
    let mut env = full_env();
    env.insert("GARM_POOL_MAX_RUNNERS", "8".into());
    env.insert("GARM_POOL_FLAVOR", "Standard_DC4as_v5".into());
    env.insert("GARM_POOL_TAGS", "UBUNTU-2204,azure-cvm,self-hosted".into());
    env.insert("GARM_BASE_URL", "https://elsewhere.example.com".into());
    env.insert("GARM_ADMIN_USERNAME", "root2".into());
    let (result, out) = run_in_process(&dir, &env).await;
    result.unwrap();
    assert!(!out.contains("created"), "{out}");
    assert!(
        out.contains("its flavor, max_runners differ from the environment, left as they are"),
        "{out}"
    );
    assert!(out.contains("GARM_BASE_URL differs, left as they are"), "{out}");
    assert!(
        out.contains("admin user admin: exists; GARM_ADMIN_USERNAME is \"root2\""),
        "{out}"
    );

    let mut h = Harness::open(dir.clone()).await;
    h.login().await;
    let pools = h.get("/api/v1/pools").await;
    assert_eq!(pools.as_array().unwrap().len(), 1);
    assert_eq!(pools[0]["max_runners"], 4);
    assert_eq!(pools[0]["flavor"], "Standard_DC2as_v5");
    let controller = h.get("/api/v1/controller-info").await;
    assert_eq!(
        controller["webhook_url"],
        "https://garm.westeurope.azurecontainer.io/webhooks"
    );
}

/// The first bytes of every SQLite database, then filler.
fn sqlite_bytes(marker: &str) -> Vec<u8> {
    format!("SQLite format 3\0{marker}").into_bytes()
}

#[test]
fn restore_copies_the_snapshot_only_when_the_database_is_missing() {
    let dir = fresh_dir();
    let db = dir.join("garm.db");
    let snapshot = dir.join("snapshot.db");
    assert_eq!(bootstrap::restore(&db, &snapshot).unwrap(), Restore::NoSnapshot);
    assert!(!db.exists());

    std::fs::write(&snapshot, sqlite_bytes("newest")).unwrap();
    std::fs::write(dir.join("garm.db-wal"), b"a WAL without its database").unwrap();
    assert_eq!(
        bootstrap::restore(&db, &snapshot).unwrap(),
        Restore::FromSnapshot(snapshot.clone())
    );
    assert_eq!(std::fs::read(&db).unwrap(), sqlite_bytes("newest"));
    assert!(
        !dir.join("garm.db-wal").exists(),
        "a stale WAL would be replayed into the snapshot"
    );
    assert!(!dir.join("garm.db.restoring").exists());

    std::fs::write(&snapshot, sqlite_bytes("older")).unwrap();
    assert_eq!(bootstrap::restore(&db, &snapshot).unwrap(), Restore::KeptExisting);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        sqlite_bytes("newest"),
        "a live database is never overwritten"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_damaged_snapshot_falls_back_to_the_previous_one_and_never_to_a_new_database() {
    let dir = fresh_dir();
    let db = dir.join("garm.db");
    let snapshot = dir.join("snapshot.db");
    let previous = dir.join("snapshot.db.1");
    std::fs::write(&snapshot, b"").unwrap();
    std::fs::write(&previous, sqlite_bytes("previous")).unwrap();
    assert_eq!(
        bootstrap::restore(&db, &snapshot).unwrap(),
        Restore::FromSnapshot(previous.clone())
    );
    assert_eq!(std::fs::read(&db).unwrap(), sqlite_bytes("previous"));

    std::fs::remove_file(&db).unwrap();
    std::fs::write(&previous, b"SQLite for").unwrap();
    let err = bootstrap::restore(&db, &snapshot).unwrap_err();
    assert!(err.to_string().contains("is not an SQLite database"), "{err}");
    assert!(
        !db.exists(),
        "garm would start with a new database and forget everything"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn restore_only_needs_no_bootstrap_variables_and_opens_no_database() {
    let dir = fresh_dir();
    let snapshot = dir.join("snapshot.db");
    std::fs::write(&snapshot, sqlite_bytes("snapshot")).unwrap();
    let from = snapshot.to_str().unwrap();
    let (ok, out) = garm(
        &dir,
        &["bootstrap", "--restore-from", from, "--restore-only"],
        &HashMap::new(),
    );
    assert!(ok, "{out}");
    assert!(out.contains(&format!("restored from {from}")), "{out}");
    assert_eq!(std::fs::read(dir.join("garm.db")).unwrap(), sqlite_bytes("snapshot"));

    let (ok, out) = garm(&dir, &["bootstrap", "--restore-only"], &HashMap::new());
    assert!(!ok, "--restore-only without --restore-from is refused: {out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `GARM_…` names in a text (identifier characters after the prefix).
fn garm_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("GARM_")
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_deployment_passes_only_names_bootstrap_reads_and_the_guide_documents_them_all() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"));
    // Read by the image's scripts (entry point, snapshot sidecar), not by `garm bootstrap`.
    let scripts = [
        "GARM_RESTORE_FROM",
        "GARM_JWT_SECRET",
        "GARM_DB_PASSPHRASE",
        "GARM_DB_FILE",
        "GARM_SNAPSHOT",
        "GARM_SNAPSHOT_INTERVAL",
    ];
    let terraform = read("deploy/azure/container_group.tf");
    let names = garm_names(&terraform);
    assert!(names.len() > 10, "{names:?}");
    for name in &names {
        assert!(
            bootstrap::vars::ALL.contains(&name.as_str()) || scripts.contains(&name.as_str()),
            "{name} is read by nobody"
        );
    }
    let guide = read("docs/deploy-azure.md");
    for name in bootstrap::vars::ALL.iter().chain(&scripts) {
        assert!(guide.contains(name), "docs/deploy-azure.md does not mention {name}");
    }
}

#[test]
fn garm_version_prints_the_version_without_a_configuration() {
    let output = Command::new(env!("CARGO_BIN_EXE_garm"))
        .args(["--config", "/nonexistent/config.toml", "version"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), garm_server::VERSION);
}
