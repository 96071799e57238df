//! A fake ARM, a provider config pointing at it, and invocations of the binary as garm makes them.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_fake_arm::{ClientSpec, Entry, FakeArm, FakeConfig, FakeHandle, ManagedIdentities, SettingsPatch};
use garm_provider_protocol::ProviderInstance;
use serde_json::{json, Value};

pub const BINARY: &str = env!("CARGO_BIN_EXE_garm-provider-azure");
pub const CONTROLLER: &str = "c0ffee00-0000-4000-8000-000000000001";
pub const POOL: &str = "9dcf590a-1192-4a9c-b3e4-e0902974c2c0";
pub const TENANT: &str = "72f988bf-0000-0000-0000-000000000000";
pub const APP: &str = "app-client-1";
pub const SECRET: &str = "app-secret-value";
pub const CVM_IMAGE: &str = "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest";
/// The install template the tests hand the provider (what garm's wrapper would be).
pub const SCRIPT: &str = "#!/bin/bash\necho '{{ .CallbackURL }}' > callback\necho booted > marker\nsleep 300\n";

/// The credential section of the provider config.
pub const SERVICE_PRINCIPAL: &str = "[credentials.service_principal]\ntenant_id = \"72f988bf-0000-0000-0000-000000000000\"\nclient_id = \"app-client-1\"\nclient_secret = \"app-secret-value\"\n";

pub struct World {
    pub fake: FakeHandle,
    pub dir: PathBuf,
    pub config: PathBuf,
}

/// A fake that knows the service principal, with fast operations (no `Retry-After` wait).
pub fn fake_config() -> FakeConfig {
    let mut config = FakeConfig::default();
    config.clients.push(ClientSpec {
        tenant_id: TENANT.to_owned(),
        client_id: APP.to_owned(),
        secret: Some(SECRET.to_owned()),
        federated_assertions: Vec::new(),
    });
    config.managed_identities = ManagedIdentities::default();
    config.settings.retry_after_secs = 0;
    config
}

impl World {
    /// A fake with [`fake_config`] and a provider config using the service principal.
    pub fn new() -> World {
        World::with(fake_config(), SERVICE_PRINCIPAL, "")
    }

    /// A fake from `fake`, and a provider config with `credentials` (TOML tables under
    /// `[credentials]`) and `extra` top-level keys.
    pub fn with(fake: FakeConfig, credentials: &str, extra: &str) -> World {
        let fake = FakeArm::spawn(fake).expect("the fake starts");
        let dir = std::env::temp_dir().join(format!("garm-azure-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("azure.toml");
        let world = World { fake, dir, config };
        world.write_config(credentials, extra);
        world
    }

    pub fn write_config(&self, credentials: &str, extra: &str) {
        let url = self.fake.url();
        let text = format!(
            "location = \"westeurope\"\n{extra}\n\
             [credentials]\nsubscription_id = \"{sub}\"\n{credentials}\n\
             [endpoints]\nresource_manager = \"{url}\"\nauthority_host = \"{url}\"\nimds = \"{url}\"\nallow_http = true\n\
             [timeouts]\ncommand = 120\ncleanup = 60\nvm_create_wait = 60\npoll_interval = 0\n",
            sub = self.fake.subscription_id()
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn settings(&self, patch: SettingsPatch) {
        self.fake.update_settings(patch);
    }

    /// The binary with exactly garm's variables for `version` plus `vars`, and nothing else.
    pub fn command(&self, command: &str, version: &str, vars: &[(&str, &str)]) -> Command {
        let mut process = Command::new(BINARY);
        process
            .env_clear()
            .env("GARM_COMMAND", command)
            .env("GARM_CONTROLLER_ID", CONTROLLER)
            .env("GARM_PROVIDER_CONFIG_FILE", &self.config)
            .env("GARM_INTERFACE_VERSION", version)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        process
    }

    pub fn run(&self, command: &str, vars: &[(&str, &str)]) -> Output {
        self.command(command, "v0.1.0", vars).output().unwrap()
    }

    /// `CreateInstance` of `name` (v0.1.0) with the confidential pool, `specs` merged in.
    pub fn create(&self, name: &str, specs: Value) -> Output {
        self.create_with(name, bootstrap(name, specs), "v0.1.0", CONTROLLER)
    }

    pub fn create_with(&self, name: &str, bootstrap: Value, version: &str, controller: &str) -> Output {
        let _ = name;
        let encoded = STANDARD.encode(bootstrap["extra_specs"].to_string());
        let mut vars = vec![("GARM_POOL_ID", POOL), ("GARM_CONTROLLER_ID", controller)];
        if version == "v0.1.1" {
            vars.push(("GARM_POOL_EXTRASPECS", encoded.as_str()));
        }
        let mut child = self
            .command("CreateInstance", version, &vars)
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

    pub fn instance(&self, verb: &str, name: &str) -> Output {
        self.run(verb, &[("GARM_INSTANCE_ID", name)])
    }

    /// Names from `ListInstances` for this controller and `pool`.
    pub fn list(&self, pool: &str) -> Vec<ProviderInstance> {
        let out = self.run("ListInstances", &[("GARM_POOL_ID", pool)]);
        ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// ARM calls (not token requests) in the journal.
    pub fn arm_calls(&self) -> Vec<Entry> {
        self.fake
            .journal()
            .into_iter()
            .filter(|entry| entry.path.starts_with("/subscriptions"))
            .collect()
    }

    /// Token requests (Entra and IMDS) in the journal.
    pub fn token_calls(&self) -> Vec<Entry> {
        self.fake
            .journal()
            .into_iter()
            .filter(|entry| entry.path_has("/oauth2/"))
            .collect()
    }

    pub fn group_id(&self, name: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{name}", self.fake.subscription_id())
    }

    pub fn vm_id(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{name}",
            self.group_id(name)
        )
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The pool for `name`: Standard_DC2as_v5, the Ubuntu CVM image, `{"confidential": true}`,
/// plus `specs` and the test install template.
pub fn bootstrap(name: &str, specs: Value) -> Value {
    let mut extra = json!({"confidential": true, "runner_install_template": STANDARD.encode(SCRIPT)});
    if let Value::Object(more) = specs {
        for (key, value) in more {
            extra[key] = value;
        }
    }
    json!({
        "name": name,
        "tools": [{"os": "linux", "architecture": "x64", "download_url": "https://example.invalid/runner.tar.gz", "filename": "runner.tar.gz"}],
        "repo_url": "https://github.com/my-org/my-repo",
        "callback-url": "http://127.0.0.1:9/api/v1/callbacks",
        "metadata-url": "http://127.0.0.1:9/api/v1/metadata",
        "instance-token": "instance-token-value",
        "ssh-keys": null,
        "extra_specs": extra,
        "github-runner-group": "",
        "ca-cert-bundle": "",
        "arch": "amd64",
        "os_type": "linux",
        "flavor": "Standard_DC2as_v5",
        "image": CVM_IMAGE,
        "labels": null,
        "pool_id": POOL,
        "user_data_options": {"disable_updates_on_boot": false, "extra_packages": null, "enable_boot_debug": false},
        "jit_config_enabled": true,
        "proxy_config": {"http_proxy": "", "https_proxy": "", "no_proxy": ""}
    })
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success.
pub fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}\nstdout: {}",
        stderr(out),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Asserts success and decodes the printed instance.
pub fn instance(out: &Output) -> ProviderInstance {
    ok(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Method and lower-cased path (with the subscription cut off) of ARM calls, for order checks.
pub fn calls(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| {
            let path = entry.path.to_ascii_lowercase();
            let short = path
                .split_once("/resourcegroups/")
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or(path);
            format!("{} {short}", entry.method)
        })
        .collect()
}

/// The body of the first `method` request whose path ends with `suffix` (case-insensitive).
pub fn body_of(entries: &[Entry], method: &str, suffix: &str) -> Value {
    entries
        .iter()
        .find(|entry| entry.method == method && entry.path.to_ascii_lowercase().ends_with(&suffix.to_ascii_lowercase()))
        .unwrap_or_else(|| panic!("no {method} …{suffix} in {:?}", calls(entries)))
        .body
        .clone()
}
