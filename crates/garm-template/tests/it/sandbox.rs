//! Runs the rendered Linux install script and wrapper against a fake garm, starting the
//! runner directly (no systemd), with a stub runner package.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use garm_template::{system_template, wrapper_template};
use serde_json::{json, Value};

use crate::fake_garm::FakeGarm;
use crate::support::{context, have, render, ScratchDir};

const CONFIG_STUB: &str = r#"#!/bin/bash
if [ "$1" = remove ]; then exit 0; fi
printf '%s\n' "$@" > config.args
printf '\357\273\277{\n  "agentId": 7,\n  "agentName": "stub"\n}\n' > .runner
"#;

const RUN_STUB: &str = r#"#!/bin/bash
ls -a > run.marker.tmp
mv run.marker.tmp run.marker
"#;

/// True when the tools the scripts need are present; prints why a test is skipped otherwise.
fn sandbox_available(test: &str) -> bool {
    for tool in ["bash", "curl", "tar"] {
        if !have(tool) {
            println!("skipping {test}: {tool} is not installed");
            return false;
        }
    }
    true
}

fn write_executable(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A gzipped tarball holding stub `config.sh` and `run.sh`.
fn runner_tarball(scratch: &Path) -> Vec<u8> {
    let package = scratch.join("package");
    std::fs::create_dir_all(package.join("bin")).unwrap();
    write_executable(&package.join("config.sh"), CONFIG_STUB);
    write_executable(&package.join("run.sh"), RUN_STUB);
    let archive = scratch.join("runner.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&package)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(archive).unwrap()
}

struct Outcome {
    status: ExitStatus,
    stderr: String,
}

/// Runs `script` with bash in `scratch`, with proxies cleared and fast retries.
fn run_script(scratch: &Path, name: &str, script: &str) -> Outcome {
    let path = scratch.join(name);
    std::fs::write(&path, script).unwrap();
    let stdout = std::fs::File::create(scratch.join(format!("{name}.out"))).unwrap();
    let stderr_path = scratch.join(format!("{name}.err"));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut command = Command::new("bash");
    command
        .arg(&path)
        .current_dir(scratch)
        .env("HOME", scratch)
        .env("GARM_RETRY_DELAY", "0")
        .env("TMPDIR", scratch)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "GARM_RUNNER_DIR",
        "GARM_RUNNER_START_MODE",
    ] {
        command.env_remove(var);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Outcome {
        status,
        stderr: std::fs::read_to_string(stderr_path).unwrap_or_default(),
    }
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(content) = std::fs::read_to_string(path) {
            return content;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

fn route(method: &str, path: &str, status: u16, body: impl Into<Vec<u8>>) -> (String, (u16, Vec<u8>)) {
    (format!("{method} {path}"), (status, body.into()))
}

fn callback_routes() -> Vec<(String, (u16, Vec<u8>))> {
    vec![
        route("POST", "/callbacks/status", 200, ""),
        route("POST", "/callbacks/system-info/", 200, ""),
    ]
}

/// The sample context pointed at the fake garm, installing into `runner_dir`.
fn sandbox_context(garm: &FakeGarm, jit: bool, runner_dir: &Path) -> Value {
    let mut data = context(jit);
    data["MetadataURL"] = json!(format!("{}/metadata", garm.base));
    data["CallbackURL"] = json!(format!("{}/callbacks", garm.base));
    data["CallbackToken"] = json!("instance-token");
    data["DownloadURL"] = json!(format!("{}/runner.tar.gz", garm.base));
    data["FileName"] = json!("actions-runner-linux-x64-2.320.0.tar.gz");
    data["ExtraContext"] = json!({
        "RunnerDir": runner_dir.to_str().unwrap(),
        "RunnerStartMode": "direct",
    });
    data
}

fn linux_script(data: &Value) -> String {
    render(system_template("github", "linux").unwrap(), data)
}

fn statuses(garm: &FakeGarm) -> Vec<Value> {
    garm.posted("/callbacks/status")
}

#[test]
fn token_registered_runner_is_installed_configured_and_started() {
    if !sandbox_available("token_registered_runner_is_installed_configured_and_started") {
        return;
    }
    let scratch = ScratchDir::new("token");
    let tarball = runner_tarball(scratch.path());
    let mut routes: HashMap<_, _> = callback_routes().into_iter().collect();
    routes.extend([
        route("GET", "/runner.tar.gz", 200, tarball),
        route("GET", "/metadata/runner-registration-token", 200, "reg-token-123"),
    ]);
    let garm = FakeGarm::start(routes);
    let runner_dir = scratch.path().join("runners/actions-runner");
    let labels = r#"ubuntu,x64,$(touch pwned),`touch pwned2`,it's "quoted""#;
    let mut data = sandbox_context(&garm, false, &runner_dir);
    data["TempDownloadToken"] = json!("download-token");
    data["RunnerLabels"] = json!(labels);
    data["GitHubRunnerGroup"] = json!("team runners");

    let outcome = run_script(scratch.path(), "install.sh", &linux_script(&data));
    assert!(outcome.status.success(), "script failed: {}", outcome.stderr);

    let config_args = std::fs::read_to_string(runner_dir.join("config.args")).unwrap();
    let repo = "https://github.com/example/repo";
    let expected = [
        "--unattended",
        "--url",
        repo,
        "--token",
        "reg-token-123",
        "--name",
        "garm-ny9heeqyw2rl",
        "--labels",
        labels,
        "--no-default-labels",
        "--ephemeral",
        "--runnergroup",
        "team runners",
    ];
    assert_eq!(config_args.lines().collect::<Vec<_>>(), expected);
    assert!(!runner_dir.join("pwned").exists() && !scratch.path().join("pwned").exists());

    let listing = wait_for(&runner_dir.join("run.marker"));
    assert!(listing.lines().any(|l| l == ".runner"), "{listing}");

    let requests = garm.requests();
    let download = requests.iter().find(|r| r.path == "/runner.tar.gz").unwrap();
    assert_eq!(download.header("Authorization"), Some("Bearer download-token"));
    let token = requests
        .iter()
        .find(|r| r.path == "/metadata/runner-registration-token")
        .unwrap();
    assert_eq!(token.header("Authorization"), Some("Bearer instance-token"));
    assert!(requests
        .iter()
        .filter(|r| r.method == "POST")
        .all(|r| r.header("Authorization") == Some("Bearer instance-token")));

    let statuses = statuses(&garm);
    assert_eq!(statuses[0]["status"], "installing");
    assert!(statuses.iter().all(|s| s["status"] != "failed"), "{statuses:?}");
    assert_eq!(
        statuses.last().unwrap(),
        &json!({"status": "idle", "message": "runner successfully installed", "agent_id": 7})
    );
    let system_info = garm.posted("/callbacks/system-info/");
    assert_eq!(system_info.len(), 1);
    assert_eq!(system_info[0]["agent_id"], 7);
    assert!(system_info[0]["os_name"].is_string());
    assert!(system_info[0]["os_version"].is_string());
}

#[test]
fn jit_runner_gets_its_credential_files_and_is_started() {
    if !sandbox_available("jit_runner_gets_its_credential_files_and_is_started") {
        return;
    }
    let scratch = ScratchDir::new("jit");
    let tarball = runner_tarball(scratch.path());
    let mut routes: HashMap<_, _> = callback_routes().into_iter().collect();
    routes.extend([
        route("GET", "/runner.tar.gz", 200, tarball),
        route(
            "GET",
            "/metadata/credentials/runner",
            200,
            r#"{"agentId": 42, "poolId": 1}"#,
        ),
        route(
            "GET",
            "/metadata/credentials/credentials",
            200,
            r#"{"scheme": "OAuth"}"#,
        ),
        route(
            "GET",
            "/metadata/credentials/credentials_rsaparams",
            200,
            r#"{"d": "secret"}"#,
        ),
        route(
            "GET",
            "/metadata/system/service-name",
            200,
            "actions.runner.example.repo",
        ),
        route(
            "GET",
            "/metadata/systemd/unit-file?runAsUser=runner",
            200,
            "[Service]\nExecStart=/home/runner/actions-runner/runsvc.sh\n",
        ),
    ]);
    let garm = FakeGarm::start(routes);
    let runner_dir = scratch.path().join("actions-runner");
    let data = sandbox_context(&garm, true, &runner_dir);

    let outcome = run_script(scratch.path(), "install.sh", &linux_script(&data));
    assert!(outcome.status.success(), "script failed: {}", outcome.stderr);

    assert_eq!(
        std::fs::read_to_string(runner_dir.join(".runner")).unwrap(),
        r#"{"agentId": 42, "poolId": 1}"#
    );
    assert_eq!(
        std::fs::read_to_string(runner_dir.join(".credentials_rsaparams")).unwrap(),
        r#"{"d": "secret"}"#
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(runner_dir.join(".credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(runner_dir.join(".garm-runner.service").exists());
    assert!(
        !runner_dir.join("config.args").exists(),
        "config.sh must not run in JIT mode"
    );

    let listing = wait_for(&runner_dir.join("run.marker"));
    for file in [".runner", ".credentials", ".credentials_rsaparams"] {
        assert!(listing.lines().any(|l| l == file), "{file} missing when run.sh started");
    }

    let requests = garm.requests();
    assert!(requests.iter().all(|r| r.path != "/metadata/runner-registration-token"));
    assert_eq!(
        statuses(&garm).last().unwrap(),
        &json!({"status": "idle", "message": "runner successfully installed", "agent_id": 42})
    );
    assert_eq!(garm.posted("/callbacks/system-info/")[0]["agent_id"], 42);
}

#[test]
fn failed_download_is_reported_as_failed() {
    if !sandbox_available("failed_download_is_reported_as_failed") {
        return;
    }
    let scratch = ScratchDir::new("download");
    let garm = FakeGarm::start(callback_routes().into_iter().collect());
    let runner_dir = scratch.path().join("actions-runner");
    let data = sandbox_context(&garm, false, &runner_dir);

    let outcome = run_script(scratch.path(), "install.sh", &linux_script(&data));
    assert!(!outcome.status.success());
    let statuses = statuses(&garm);
    let last = statuses.last().unwrap();
    assert_eq!(last["status"], "failed");
    let message = last["message"].as_str().unwrap();
    assert!(message.starts_with("failed to download the runner from "), "{message}");
    assert_eq!(statuses.iter().filter(|s| s["status"] == "failed").count(), 1);
    assert!(
        !runner_dir.exists(),
        "a failed download must not leave a runner directory"
    );
}

#[test]
fn existing_runner_directory_is_reused_and_status_suffix_is_not_doubled() {
    if !sandbox_available("existing_runner_directory_is_reused_and_status_suffix_is_not_doubled") {
        return;
    }
    let scratch = ScratchDir::new("prebaked");
    let runner_dir = scratch.path().join("actions-runner");
    std::fs::create_dir_all(&runner_dir).unwrap();
    write_executable(&runner_dir.join("config.sh"), CONFIG_STUB);
    write_executable(&runner_dir.join("run.sh"), RUN_STUB);
    let mut routes: HashMap<_, _> = callback_routes().into_iter().collect();
    routes.extend([route("GET", "/metadata/runner-registration-token", 200, "tok")]);
    let garm = FakeGarm::start(routes);
    let mut data = sandbox_context(&garm, false, &runner_dir);
    data["CallbackURL"] = json!(format!("{}/callbacks/status/", garm.base));

    let outcome = run_script(scratch.path(), "install.sh", &linux_script(&data));
    assert!(outcome.status.success(), "script failed: {}", outcome.stderr);
    let requests = garm.requests();
    assert!(requests.iter().all(|r| r.path != "/runner.tar.gz"));
    assert!(requests.iter().all(|r| !r.path.contains("/status/status")));
    assert_eq!(statuses(&garm).last().unwrap()["status"], "idle");
    assert_eq!(garm.posted("/callbacks/system-info/").len(), 1);
    wait_for(&runner_dir.join("run.marker"));
}

fn wrapper_context(garm: &FakeGarm) -> Value {
    json!({
        "MetadataURL": format!("{}/metadata", garm.base),
        "CallbackURL": format!("{}/callbacks", garm.base),
        "CallbackToken": "wrapper-token",
        "HTTPProxy": "",
        "HTTPSProxy": "",
        "NoProxy": "",
    })
}

#[test]
fn wrapper_reports_why_the_install_script_is_unavailable() {
    if !sandbox_available("wrapper_reports_why_the_install_script_is_unavailable") {
        return;
    }
    let scratch = ScratchDir::new("wrapper-409");
    let mut routes: HashMap<_, _> = callback_routes().into_iter().collect();
    routes.extend([route(
        "GET",
        "/metadata/install-script/",
        409,
        r#"{"error":"Conflict","details":"pool has no \"install\" template"}"#,
    )]);
    let garm = FakeGarm::start(routes);
    let wrapper = render(wrapper_template("linux"), &wrapper_context(&garm));

    let outcome = run_script(scratch.path(), "wrapper.sh", &wrapper);
    assert_eq!(outcome.status.code(), Some(1), "{}", outcome.stderr);
    let fetch = garm
        .requests()
        .into_iter()
        .find(|r| r.path == "/metadata/install-script/")
        .unwrap();
    assert_eq!(fetch.header("Authorization"), Some("Bearer wrapper-token"));
    assert_eq!(
        statuses(&garm),
        vec![json!({
            "status": "failed",
            "message": "failed to fetch install script (HTTP 409): pool has no \"install\" template",
        })]
    );
}

#[test]
fn wrapper_runs_the_fetched_install_script() {
    if !sandbox_available("wrapper_runs_the_fetched_install_script") {
        return;
    }
    let scratch = ScratchDir::new("wrapper-ok");
    let marker: PathBuf = scratch.path().join("install-ran");
    let script = format!("#!/bin/bash\necho ran > '{}'\nexit 3\n", marker.display());
    let mut routes: HashMap<_, _> = callback_routes().into_iter().collect();
    routes.extend([route("GET", "/metadata/install-script/", 200, script)]);
    let garm = FakeGarm::start(routes);
    let wrapper = render(wrapper_template("linux"), &wrapper_context(&garm));

    let outcome = run_script(scratch.path(), "wrapper.sh", &wrapper);
    assert_eq!(outcome.status.code(), Some(3), "{}", outcome.stderr);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    assert!(statuses(&garm).is_empty());
}

#[test]
fn wrapper_rides_out_a_garm_restart() {
    if !sandbox_available("wrapper_rides_out_a_garm_restart") {
        return;
    }
    // garm is down (its port refuses connections) when the machine boots, and back 2 s later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scratch = ScratchDir::new("wrapper-restart");
    let marker: PathBuf = scratch.path().join("install-ran");
    let script = format!("#!/bin/bash\necho ran > '{}'\nexit 3\n", marker.display());
    let mut routes: HashMap<_, _> = callback_routes().into_iter().collect();
    routes.extend([route("GET", "/metadata/install-script/", 200, script)]);
    let base = format!("http://127.0.0.1:{port}");
    let context = json!({
        "MetadataURL": format!("{base}/metadata"),
        "CallbackURL": format!("{base}/callbacks"),
        "CallbackToken": "wrapper-token",
        "HTTPProxy": "",
        "HTTPSProxy": "",
        "NoProxy": "",
    });
    let wrapper = render(wrapper_template("linux"), &context);
    let restart = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
        FakeGarm::start_on(listener, routes)
    });

    let outcome = run_script(scratch.path(), "wrapper.sh", &wrapper);
    let garm = restart.join().unwrap();
    assert_eq!(outcome.status.code(), Some(3), "{}", outcome.stderr);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    assert!(statuses(&garm).is_empty(), "no failure was reported");
}
