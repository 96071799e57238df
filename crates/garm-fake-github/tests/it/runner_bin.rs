//! `garm-fake-runner` end to end: the archive's `config.sh`/`run.sh`, JIT, conflicts, removal.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use garm_fake_github::{FakeHandle, JobStatus, PatSpec};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::support::{self, Api, ALL_SCOPES};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("garm-fake-runner-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn setup() -> (FakeHandle, Api) {
    let fake = support::start().await;
    fake.state().add_pat(PatSpec::new("ghp_all", ALL_SCOPES));
    let api = Api::new(&fake, Some("ghp_all"));
    (fake, api)
}

/// Downloads the runner archive as garm's install script does, checks it, and unpacks it.
async fn install(api: &Api, dir: &Path) {
    let downloads = api.get("/repos/acme/app/actions/runners/downloads").await;
    let linux = downloads
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["os"] == "linux" && d["architecture"] == "x64")
        .unwrap()
        .clone();
    let bytes = reqwest::get(linux["download_url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    assert_eq!(linux["sha256_checksum"].as_str(), Some(digest.as_str()));
    tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
        .unpack(dir)
        .unwrap();
    for script in ["config.sh", "run.sh", "bin/installdependencies.sh"] {
        assert!(dir.join(script).exists(), "{script} in the archive");
    }
}

fn script(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(dir.join(name))
        .args(args)
        .current_dir(dir)
        .env("GARM_FAKE_RUNNER_POLL_SECS", "1")
        .env("GARM_FAKE_RUNNER_RETRY_SECS", "0.2")
        .env("GARM_FAKE_RUNNER_CONFLICT_WINDOW_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn finish(child: Child) -> (i32, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the runner exits")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

async fn wait_online(fake: &FakeHandle, name: &str) -> u64 {
    fake.state()
        .wait_for(Duration::from_secs(10), |s| {
            s.runner_by_name(name).filter(|r| r.status == "online").map(|r| r.id)
        })
        .await
        .unwrap_or_else(|| panic!("{name} never came online"))
}

#[tokio::test]
async fn config_sh_then_run_sh_registers_takes_one_job_and_exits() {
    let (fake, api) = setup().await;
    let dir = Scratch::new();
    install(&api, &dir.0).await;
    let token = api
        .post("/repos/acme/app/actions/runners/registration-token", json!({}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/acme/app", fake.url());
    let mut configure = script(
        &dir.0,
        "config.sh",
        &[
            "--url",
            &url,
            "--token",
            &token,
            "--labels",
            "gpu,big",
            "--name",
            "e2e-1",
            "--ephemeral",
            "--unattended",
        ],
    );
    let (code, output) = finish(configure.spawn().unwrap()).await;
    assert_eq!(code, 0, "{output}");
    let settings: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.0.join(".runner")).unwrap()).unwrap();
    let listed = api.get("/repos/acme/app/actions/runners?name=e2e-1").await;
    let runner = &listed.body["runners"][0];
    assert_eq!(settings["agentId"], runner["id"]);
    assert_eq!(
        (runner["status"].as_str(), runner["busy"].as_bool()),
        (Some("offline"), Some(false))
    );
    let labels: Vec<&str> = runner["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(labels, vec!["self-hosted", "Linux", "X64", "gpu", "big"]);
    assert!(!output.contains(&token), "the token is never printed");

    let run = script(&dir.0, "run.sh", &[]).spawn().unwrap();
    let id = wait_online(&fake, "e2e-1").await;
    let job = fake
        .state()
        .enqueue_job("acme", "app", &["GPU"], Duration::from_millis(300), "success")
        .unwrap();
    let (code, output) = finish(run).await;
    assert_eq!(code, 0, "{output}");
    let done = fake.state().job(job.id).unwrap();
    assert_eq!(
        (done.status, done.conclusion.as_deref(), done.runner_id),
        (JobStatus::Completed, Some("success"), Some(id))
    );
    assert!(fake.state().runner(id).is_none(), "the ephemeral runner is removed");
    assert!(!dir.0.join(".runner").exists(), "its local files are deleted");
}

#[tokio::test]
async fn run_sh_with_a_jit_config_takes_one_job() {
    let (fake, api) = setup().await;
    let dir = Scratch::new();
    install(&api, &dir.0).await;
    let created = api
        .post(
            "/orgs/acme/actions/runners/generate-jitconfig",
            json!({"name": "jit-e2e", "runner_group_id": 1, "labels": ["arm"]}),
        )
        .await;
    let blob = created.body["encoded_jit_config"].as_str().unwrap().to_owned();
    let log = dir.0.join("runner.log");
    let run = script(&dir.0, "run.sh", &["--jitconfig", &blob])
        .env("GARM_FAKE_RUNNER_LOG", &log)
        .spawn()
        .unwrap();
    let id = wait_online(&fake, "jit-e2e").await;
    assert_eq!(
        fake.state().runner(id).unwrap().version.as_deref(),
        Some(garm_fake_github::RUNNER_VERSION)
    );
    let job = fake
        .state()
        .enqueue_job("acme", "lib", &["arm"], Duration::from_millis(100), "cancelled")
        .unwrap();
    let (code, output) = finish(run).await;
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains(&blob), "the JIT blob is never printed");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&format!("Job {} completed with result: cancelled", job.id)),
        "{logged}"
    );
    assert!(!logged.contains(&blob));
    assert_eq!(
        fake.state().job(job.id).unwrap().conclusion.as_deref(),
        Some("cancelled")
    );
    assert!(fake.state().runner(id).is_none());
}

#[tokio::test]
async fn a_second_listener_as_the_same_runner_exits_with_5_and_bad_blobs_with_1() {
    let (fake, api) = setup().await;
    let (first, second) = (Scratch::new(), Scratch::new());
    install(&api, &first.0).await;
    install(&api, &second.0).await;
    let created = api
        .post(
            "/repos/acme/app/actions/runners/generate-jitconfig",
            json!({"name": "twin", "runner_group_id": 1, "labels": ["x"]}),
        )
        .await;
    let blob = created.body["encoded_jit_config"].as_str().unwrap().to_owned();
    let mut running = script(&first.0, "run.sh", &["--jitconfig", &blob]).spawn().unwrap();
    wait_online(&fake, "twin").await;
    let (code, output) = finish(script(&second.0, "run.sh", &["--jitconfig", &blob]).spawn().unwrap()).await;
    assert_eq!(code, 5, "{output}");
    running.kill().await.unwrap();
    for bad in ["not base64!", "bm90IGpzb24=", "e30="] {
        let (code, output) = finish(script(&second.0, "run.sh", &["--jitconfig", bad]).spawn().unwrap()).await;
        assert_eq!(code, 1, "{bad}: {output}");
    }
}

#[tokio::test]
async fn a_persistent_runner_keeps_taking_jobs_until_it_is_deleted() {
    let (fake, api) = setup().await;
    let dir = Scratch::new();
    install(&api, &dir.0).await;
    let token = api
        .post("/orgs/acme/actions/runners/registration-token", json!({}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/acme", fake.url());
    let mut configure = script(
        &dir.0,
        "config.sh",
        &[
            "--url",
            &url,
            "--token",
            &token,
            "--labels",
            "db",
            "--no-default-labels",
            "--name",
            "keeper",
        ],
    );
    let (code, output) = finish(configure.spawn().unwrap()).await;
    assert_eq!(code, 0, "{output}");
    let mut again = script(
        &dir.0,
        "config.sh",
        &["--url", &url, "--token", &token, "--labels", "db", "--name", "keeper"],
    );
    let (code, _) = finish(again.spawn().unwrap()).await;
    assert_eq!(code, 1, "the name is taken without --replace");
    let run = script(&dir.0, "run.sh", &[]).spawn().unwrap();
    let id = wait_online(&fake, "keeper").await;
    assert_eq!(
        fake.state().runner(id).unwrap().labels.len(),
        1,
        "only the custom label"
    );
    for _ in 0..2 {
        let job = fake
            .state()
            .enqueue_job("acme", "app", &["db"], Duration::from_millis(50), "success")
            .unwrap();
        fake.state()
            .wait_for(Duration::from_secs(10), |s| {
                (s.job(job.id)?.status == JobStatus::Completed).then_some(())
            })
            .await
            .expect("the job completes");
    }
    assert!(fake.state().runner(id).is_some(), "a persistent runner stays");
    let deleted = api.delete(&format!("/orgs/acme/actions/runners/{id}")).await;
    assert_eq!(deleted.status, 204);
    let (code, output) = finish(run).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("deleted"), "{output}");
}

#[tokio::test]
async fn config_sh_remove_unregisters_with_a_remove_token() {
    let (fake, api) = setup().await;
    let dir = Scratch::new();
    install(&api, &dir.0).await;
    let token = api
        .post("/repos/acme/app/actions/runners/registration-token", json!({}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/acme/app", fake.url());
    let (code, output) = finish(
        script(
            &dir.0,
            "config.sh",
            &["--url", &url, "--token", &token, "--name", "leaver"],
        )
        .spawn()
        .unwrap(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert!(fake.state().runner_by_name("leaver").is_some());
    let remove = api
        .post("/repos/acme/app/actions/runners/remove-token", json!({}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, output) = finish(
        script(&dir.0, "config.sh", &["remove", "--token", &remove])
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert!(fake.state().runner_by_name("leaver").is_none());
    assert!(!dir.0.join(".credentials").exists());
}

#[tokio::test]
async fn run_sh_with_scale_set_jit_files_takes_only_its_scale_sets_job() {
    let (fake, api) = setup().await;
    let dir = Scratch::new();
    install(&api, &dir.0).await;
    let svc = crate::scaleset_client::Svc::connect(&fake, &garm_fake_github::Scope::org("acme")).await;
    let sid = svc.create_set("ss-e2e", &[]).await;
    svc.create_set("other-set", &[]).await;
    let made = svc
        .call(
            "POST",
            &format!("_apis/runtime/runnerscalesets/{sid}/generatejitconfig"),
            Some(json!({"name": "ss-runner", "workFolder": "_work"})),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    // As garm does: decode both levels, serve each file, and the install script writes them.
    let blob = made.body["encodedJITConfig"].as_str().unwrap();
    for (name, bytes) in garm_fake_github::files::decode_jit(blob).unwrap() {
        std::fs::write(dir.0.join(name), bytes).unwrap();
    }
    let run = script(&dir.0, "run.sh", &[]).spawn().unwrap();
    let id = wait_online(&fake, "ss-runner").await;
    let state = fake.state();
    let foreign = state
        .enqueue_job("acme", "app", &["other-set"], Duration::ZERO, "success")
        .unwrap();
    let plain = state
        .enqueue_job("acme", "app", &["self-hosted"], Duration::ZERO, "success")
        .unwrap();
    let job = state
        .enqueue_job("acme", "app", &["ss-e2e"], Duration::from_millis(100), "success")
        .unwrap();
    let (code, output) = finish(run).await;
    assert_eq!(code, 0, "{output}");
    let done = state.job(job.id).unwrap();
    assert_eq!((done.status, done.runner_id), (JobStatus::Completed, Some(id)));
    for other in [foreign.id, plain.id] {
        assert_eq!(state.job(other).unwrap().status, JobStatus::Queued, "not its job");
    }
    assert!(state.runner(id).is_none(), "ephemeral: removed after its job");
}
