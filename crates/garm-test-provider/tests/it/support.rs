//! A throwaway state and sandbox directory, and invocations of the binary the way garm does them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_provider_protocol::ProviderInstance;

pub const BINARY: &str = env!("CARGO_BIN_EXE_garm-test-provider");

pub struct World {
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl World {
    /// A world whose config has `state_dir`, `sandbox_dir` and then `extra` lines.
    pub fn new(extra: &str) -> World {
        let dir = std::env::temp_dir().join(format!("garm-test-provider-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("provider.toml");
        std::fs::write(
            &config,
            format!("state_dir = \"state\"\nsandbox_dir = \"sandboxes\"\n{extra}\n"),
        )
        .unwrap();
        World { dir, config }
    }

    pub fn sandbox(&self, name: &str) -> PathBuf {
        self.dir.join("sandboxes").join(name)
    }

    /// The binary with exactly garm's variables (v0.1.0) plus `vars`, and nothing else.
    pub fn command(&self, command: &str, vars: &[(&str, &str)]) -> Command {
        let mut process = Command::new(BINARY);
        process
            .env_clear()
            .env("GARM_COMMAND", command)
            .env("GARM_CONTROLLER_ID", "controller-1")
            .env("GARM_PROVIDER_CONFIG_FILE", &self.config)
            .env("GARM_INTERFACE_VERSION", "v0.1.0")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        process
    }

    pub fn run(&self, command: &str, vars: &[(&str, &str)]) -> Output {
        self.command(command, vars).output().unwrap()
    }

    /// `CreateInstance` of `name` in `pool` for `controller`, with `script` as the install template.
    pub fn create_as(&self, controller: &str, name: &str, pool: &str, script: Option<&str>) -> Output {
        let mut bootstrap = serde_json::json!({
            "name": name, "pool_id": pool, "os_type": "linux", "arch": "amd64", "tools": [],
        });
        if let Some(script) = script {
            bootstrap["extra_specs"] = serde_json::json!({ "runner_install_template": STANDARD.encode(script) });
        }
        let vars = [("GARM_POOL_ID", pool), ("GARM_CONTROLLER_ID", controller)];
        let mut child = self
            .command("CreateInstance", &vars)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(bootstrap.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn create(&self, name: &str, pool: &str, script: Option<&str>) -> Output {
        self.create_as("controller-1", name, pool, script)
    }

    pub fn instance(&self, verb: &str, name: &str) -> Output {
        self.run(verb, &[("GARM_INSTANCE_ID", name)])
    }

    pub fn list(&self, controller: &str, pool: &str) -> Vec<String> {
        let out = self.run(
            "ListInstances",
            &[("GARM_POOL_ID", pool), ("GARM_CONTROLLER_ID", controller)],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let instances: Vec<ProviderInstance> = serde_json::from_slice(&out.stdout).unwrap();
        instances.into_iter().map(|instance| instance.name).collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Whatever a failed test left running in a sandbox goes with it.
        if let Ok(entries) = std::fs::read_dir(self.dir.join("sandboxes")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let _ = self.instance("DeleteInstance", &name);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn instance(out: &Output) -> ProviderInstance {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `check` every 20 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, check: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
pub fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Kills a child that is expected to be still running, and says whether it was.
pub fn kill_if_running(child: &mut Child) -> bool {
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    running
}
