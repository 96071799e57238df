//! The harness: the real provider binary run as garm runs it, a Docker engine client, and cleanup.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use garm_provider_protocol::ProviderInstance;
use serde_json::{json, Value};

/// The test image, built by `images/build-test-image.sh`.
pub const IMAGE: &str = "garm-rs/runner-test:latest";
/// Every container a test makes outside the provider carries this label (value: the test's controller id).
const TEST_OWNER_LABEL: &str = "garm-rs.test-owner";

/// A client of the machine's Docker engine, shared by all tests.
pub struct Engine {
    runtime: tokio::runtime::Runtime,
    docker: Docker,
    socket: String,
}

/// The engine socket: `DOCKER_HOST` when it names a Unix socket, else the default one.
fn socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned())
}

/// The engine, checked to answer, with the test image built; panics with the reason otherwise.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let socket = socket();
        let no_engine = |reason: String| -> ! {
            panic!(
                "no Docker engine answers on {socket}: {reason}\n\
                 The garm-provider-docker tests need a running Docker engine (CI has one): \
                 start dockerd, or point DOCKER_HOST at its unix:// socket."
            )
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let docker = Docker::connect_with_unix(&socket, 60, API_DEFAULT_VERSION)
            .unwrap_or_else(|err| no_engine(err.to_string()));
        let docker = runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), docker.negotiate_version()).await })
            .unwrap_or_else(|_| no_engine("timed out".to_owned()))
            .unwrap_or_else(|err| no_engine(err.to_string()));
        build_test_image();
        Engine {
            runtime,
            docker,
            socket,
        }
    })
}

/// Runs the repo's image script (fast when the image is up to date).
fn build_test_image() {
    let script = repo_root().join("images/build-test-image.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Engine {
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The container `name`, if it exists.
    pub fn inspect(&self, name: &str) -> Option<ContainerInspectResponse> {
        match self.block_on(self.docker.inspect_container(name, None)) {
            Ok(container) => Some(container),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => None,
            Err(err) => panic!("cannot inspect {name}: {err}"),
        }
    }

    /// Creates and starts a container outside the provider, with `labels` (and the test owner label).
    pub fn run_foreign(&self, owner: &str, name: &str, labels: &[(&str, &str)]) {
        let mut labels: HashMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.insert(TEST_OWNER_LABEL.to_owned(), owner.to_owned());
        let body = ContainerCreateBody {
            image: Some(IMAGE.to_owned()),
            cmd: Some(vec!["sleep".into(), "600".into()]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                init: Some(true),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        self.block_on(async {
            self.docker.create_container(Some(options), body).await.unwrap();
            self.docker.start_container(name, None).await.unwrap();
        });
    }

    /// Force-removes every container carrying `label=value`.
    fn remove_labelled(&self, label: &str, value: &str) {
        let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        self.block_on(async {
            let Ok(containers) = self.docker.list_containers(Some(options)).await else {
                return;
            };
            for id in containers.into_iter().filter_map(|c| c.id) {
                let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
                let _ = self.docker.remove_container(&id, Some(options)).await;
            }
        });
    }
}

/// One test's controller: a unique controller id, a provider config, and a scratch directory.
///
/// Dropping it removes every container of that controller and every foreign container the
/// test made, pass or fail.
pub struct Controller {
    pub id: String,
    pub dir: PathBuf,
    config: PathBuf,
}

impl Controller {
    pub fn new() -> Controller {
        Controller::with_config("")
    }

    /// A controller whose provider config starts with the top-level keys `extra`.
    pub fn with_config(extra: &str) -> Controller {
        let engine = engine();
        let id = format!("test-{}", uuid::Uuid::new_v4());
        let dir = std::env::temp_dir().join(format!("garm-provider-docker-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("provider.toml");
        std::fs::write(
            &config,
            format!(
                r#"
{extra}
socket = "{socket}"
default_image = "{IMAGE}"
stop_timeout_seconds = 1

[labels]
"com.example.suite" = "garm-provider-docker"

[flavors.small]
cpus = 0.5
memory_mb = 256

[flavors.unlimited]
"#,
                socket = engine.socket
            ),
        )
        .unwrap();
        Controller { id, dir, config }
    }

    /// Runs the provider binary for `command` with garm's (v0.1.0) environment and nothing else.
    pub fn run(&self, command: &str, vars: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_garm-provider-docker"));
        cmd.env_clear()
            .env("GARM_COMMAND", command)
            .env("GARM_CONTROLLER_ID", &self.id)
            .env("GARM_PROVIDER_CONFIG_FILE", &self.config)
            .env("GARM_INTERFACE_VERSION", "v0.1.0")
            .envs(vars.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the provider binary starts");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// `CreateInstance` of `bootstrap` (see [`bootstrap`]) in `pool_id`.
    pub fn create(&self, pool_id: &str, bootstrap: &Value) -> Output {
        self.run(
            "CreateInstance",
            &[("GARM_POOL_ID", pool_id)],
            Some(&bootstrap.to_string()),
        )
    }

    /// `CreateInstance` that must succeed; returns the printed instance.
    pub fn create_ok(&self, pool_id: &str, bootstrap: &Value) -> ProviderInstance {
        let out = self.create(pool_id, bootstrap);
        instance(&out)
    }

    pub fn get(&self, instance_id: &str) -> Output {
        self.run("GetInstance", &[("GARM_INSTANCE_ID", instance_id)], None)
    }

    pub fn delete(&self, instance_id: &str) -> Output {
        self.run("DeleteInstance", &[("GARM_INSTANCE_ID", instance_id)], None)
    }

    /// `ListInstances` that must succeed; returns the names, sorted.
    pub fn list(&self, pool_id: &str) -> Vec<String> {
        let out = self.run("ListInstances", &[("GARM_POOL_ID", pool_id)], None);
        assert_success(&out);
        let instances: Vec<ProviderInstance> = serde_json::from_slice(&out.stdout).unwrap();
        let mut names: Vec<String> = instances
            .into_iter()
            .map(|instance| {
                assert_eq!(instance.validate(), Ok(()));
                instance.name
            })
            .collect();
        names.sort();
        names
    }

    pub fn remove_all(&self) -> Output {
        self.run("RemoveAllInstances", &[], None)
    }

    /// Creates a container outside the provider (cleaned up with this controller).
    pub fn run_foreign(&self, name: &str, labels: &[(&str, &str)]) {
        engine().run_foreign(&self.id, name, labels);
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let engine = engine();
        engine.remove_labelled("garm.controller-id", &self.id);
        engine.remove_labelled(TEST_OWNER_LABEL, &self.id);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A unique instance name.
pub fn instance_name() -> String {
    format!("garm-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Bootstrap params as garm sends them, with `extra_specs` (omitted when `None`).
pub fn bootstrap(name: &str, pool_id: &str, flavor: &str, extra_specs: Option<Value>) -> Value {
    let mut value = json!({
        "name": name,
        "tools": [],
        "repo_url": "https://github.com/example/repo",
        "callback-url": "http://127.0.0.1:1/api/v1/callbacks",
        "metadata-url": "http://127.0.0.1:1/api/v1/metadata",
        "instance-token": "instance-token-not-for-logs",
        "ssh-keys": null,
        "github-runner-group": "",
        "ca-cert-bundle": "",
        "arch": "amd64",
        "os_type": "linux",
        "flavor": flavor,
        "image": "",
        "labels": null,
        "pool_id": pool_id,
        "user_data_options": {"disable_updates_on_boot": false, "extra_packages": null, "enable_boot_debug": false},
        "jit_config_enabled": true,
        "proxy_config": {"http_proxy": "", "https_proxy": "", "no_proxy": ""}
    });
    if let Some(extra_specs) = extra_specs {
        value["extra_specs"] = extra_specs;
    }
    value
}

/// Base64 of a script, as garm puts it in `runner_install_template`.
pub fn template(script: &str) -> String {
    STANDARD.encode(script)
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "provider failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The instance a successful create or get printed.
pub fn instance(out: &Output) -> ProviderInstance {
    assert_success(out);
    let instance: ProviderInstance =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("stdout is not one instance ({err}): {out:?}"));
    assert_eq!(instance.validate(), Ok(()));
    instance
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits up to `limit` for `check` to return something.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A scratch directory every container user may write (for markers written by install scripts).
pub fn shared_dir(controller: &Controller, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = controller.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}
