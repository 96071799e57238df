//! The job check of `cargo xtask aci-local`: one job from a fake GitHub served through
//! `garm-provider-azure` against a fake ARM, by the container group as rendered.
//!
//! GitHub and Azure are the two things the group talks to outside itself. Here they are
//! `garm-fake-github` and `garm-fake-arm`, built on this machine and run as two more containers
//! in the group's network namespace (the `garm-azure` image, which has the `curl`, `bash` and
//! `tar` a runner's install script needs, with the host's binaries mounted read-only), so the
//! group still reaches nothing beyond this machine. What differs from the rendered group, and
//! only where an address must be a fake's:
//!
//! - the Azure provider's configuration gets an `[endpoints]` table pointing ARM, Entra ID and
//!   IMDS at the fake ARM (`allow_http`); the credentials stay the rendered managed identity,
//!   which the fake's IMDS hands a token for;
//! - the `github.com` endpoint's URLs are moved to the fake GitHub with
//!   `garm-cli github endpoint update`, the operator's command;
//! - the controller URLs become `http://<FQDN>/…`, because Caddy serves plain HTTP here (no
//!   certificate can be obtained), and the FQDN resolves to the group's `127.0.0.1` in the
//!   namespace (`--add-host` on the sandbox), so GitHub's webhooks and the runner's metadata and
//!   callback requests reach garm through Caddy's public paths, as they do in Azure.
//!
//! The fake ARM "boots" a VM by running its install script (the cloud-init `customData` the
//! provider sent) inside its container; the runner it installs is the fake GitHub's simulated
//! runner, which takes the job and reports it done.

use super::{ensure, say, Run, PREFIX};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The fakes' addresses in the group's network namespace (its own loopback: no port clash
/// with anything on the host).
pub const FAKE_GITHUB: &str = "127.0.0.1:9101";
pub const FAKE_ARM: &str = "127.0.0.1:9102";
/// Where the host's binaries are mounted in the fakes' containers. The fake GitHub's runner
/// archive starts the simulated runner by this absolute path, so both containers use it.
const FAKES_DIR: &str = "/opt/garm-fakes";
/// The fake ARM runs each "VM"'s install script in a directory of its own under this one.
const BOOT_DIR: &str = "/var/lib/fake-arm-vms";

/// Builds the fakes and the simulated runner on the host; returns the folder holding them.
pub fn build_fakes() -> anyhow::Result<PathBuf> {
    let root = crate::root();
    say("building garm-fake-github, garm-fake-runner and garm-fake-arm (debug, on the host)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--bins",
            "-p",
            "garm-fake-github",
            "-p",
            "garm-fake-arm",
        ])
        .status()
        .context("cargo build of the fakes")?;
    ensure(status.success(), "building the fakes failed")?;
    let bins = crate::target_dir().join("debug").canonicalize()?;
    for bin in ["garm-fake-github", "garm-fake-runner", "garm-fake-arm"] {
        ensure(bins.join(bin).exists(), &format!("{bin} was not built"))?;
    }
    Ok(bins)
}

/// The fake GitHub's fixtures (`GARM_FIXTURES_DIR`, or `shared/fixtures/github` beside the
/// workspace, as the fake itself defaults to).
fn fixtures_dir() -> PathBuf {
    std::env::var_os("GARM_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("../shared/fixtures/github"))
}

/// What the rendered Azure provider configuration gets appended: the fake ARM's address for
/// ARM, the token endpoint and IMDS. Nothing else of the file changes.
pub fn provider_endpoints() -> String {
    format!(
        "\n# cargo xtask aci-local: the fake ARM stands in for Azure (plain HTTP on the group's loopback).\n[endpoints]\nmanagement = \"http://{FAKE_ARM}\"\nlogin = \"http://{FAKE_ARM}\"\nimds = \"http://{FAKE_ARM}\"\nallow_http = true\n"
    )
}

/// The string value of `key = "…"` in a rendered TOML file.
fn toml_string(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_string())
    })
}

impl Run {
    fn mount_bin(&self, cmd: &mut Command, bins: &Path, name: &str) {
        cmd.args(["-v", &format!("{}:{FAKES_DIR}/{name}:ro", bins.join(name).display())]);
    }

    /// One request to a fake's control API, sent from inside the namespace with the image's
    /// curl (the body on curl's standard input): the answer's JSON.
    fn fake(
        &self,
        container: &str,
        addr: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut cmd = self.docker();
        cmd.args(["exec", "-i", &format!("{PREFIX}{container}")])
            .args(["curl", "-sS", "--fail-with-body", "--max-time", "20", "-X", method])
            .arg(format!("http://{addr}{path}"));
        if body.is_some() {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", "@-"]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().context("stdin")?;
        if let Some(body) = body {
            stdin.write_all(body.to_string().as_bytes())?;
        }
        drop(stdin);
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            bail!(
                "{container}: {method} {path}: {}{text}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))?
        })
    }

    fn github(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.fake("fake-github", FAKE_GITHUB, method, path, body)
    }

    fn arm(&self, method: &str, path: &str) -> anyhow::Result<Value> {
        self.fake("fake-arm", FAKE_ARM, method, path, None)
    }

    fn bootstrap_var(&self, name: &str) -> anyhow::Result<String> {
        let init = self.group.init_containers.first().context("no init container")?;
        init.environment
            .get(name)
            .or_else(|| init.secure_environment.get(name))
            .cloned()
            .with_context(|| format!("the bootstrap container has no {name}"))
    }

    /// The rendered Azure provider configuration's subscription and managed identity.
    fn rendered_identity(&self) -> anyhow::Result<(String, String)> {
        let provider = std::fs::read_to_string(
            self.host_dir(self.group.volume("config-garm").context("no config-garm volume")?)
                .join("garm-provider-azure.toml"),
        )?;
        let subscription = toml_string(&provider, "subscription_id").context("no subscription_id")?;
        let identity = toml_string(&provider, "client_id").context("no managed identity client_id")?;
        Ok((subscription, identity))
    }

    /// Starts the fake GitHub (the rendered repository, the rendered token) and the fake ARM
    /// (the rendered subscription and managed identity) in the group's network namespace.
    pub(super) fn start_fakes(&self, bins: &Path) -> anyhow::Result<()> {
        let (subscription, identity) = self.rendered_identity()?;
        let owner = self.bootstrap_var("GARM_REPO_OWNER")?;
        let repo = self.bootstrap_var("GARM_REPO_NAME")?;
        let fixtures = fixtures_dir();
        ensure(
            fixtures.join("webhooks").is_dir(),
            &format!("no fake GitHub fixtures at {}", fixtures.display()),
        )?;

        let mut cmd = self.docker();
        cmd.args(["run", "-d", "--name", &format!("{PREFIX}fake-github")])
            .args([
                "--network",
                &format!("container:{}", super::SANDBOX),
                "--no-healthcheck",
            ])
            .args([
                "-v",
                &format!("{}:{FAKES_DIR}/fixtures:ro", fixtures.canonicalize()?.display()),
            ]);
        self.mount_bin(&mut cmd, bins, "garm-fake-github");
        self.mount_bin(&mut cmd, bins, "garm-fake-runner");
        cmd.args([
            "--entrypoint",
            &format!("{FAKES_DIR}/garm-fake-github"),
            super::images::GARM_IMAGE,
        ])
        .args(["--bind", FAKE_GITHUB, "--fixtures", &format!("{FAKES_DIR}/fixtures")])
        .args(["--runner-binary", &format!("{FAKES_DIR}/garm-fake-runner")])
        .args(["--repo", &format!("{owner}/{repo}")]);
        let out = cmd.output()?;
        ensure(out.status.success(), &String::from_utf8_lossy(&out.stderr))?;

        let mut cmd = self.docker();
        cmd.args(["run", "-d", "--name", &format!("{PREFIX}fake-arm")]).args([
            "--network",
            &format!("container:{}", super::SANDBOX),
            "--no-healthcheck",
        ]);
        self.mount_bin(&mut cmd, bins, "garm-fake-arm");
        self.mount_bin(&mut cmd, bins, "garm-fake-runner");
        cmd.args([
            "--entrypoint",
            &format!("{FAKES_DIR}/garm-fake-arm"),
            super::images::GARM_IMAGE,
        ])
        .args(["--bind", FAKE_ARM, "--subscription", &subscription])
        .args(["--managed-identity", &identity, "--boot-runners", BOOT_DIR]);
        let out = cmd.output()?;
        ensure(out.status.success(), &String::from_utf8_lossy(&out.stderr))?;

        let deadline = Instant::now() + Duration::from_secs(30);
        while self.github("GET", "/_fake/state", None).is_err() || self.arm("GET", "/_fake/state").is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the fakes do not answer:\n{}\n{}",
                    self.logs("garm-aci-fake-github"),
                    self.logs("garm-aci-fake-arm")
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        // The rendered token (a stand-in here), given on curl's standard input.
        let token = self.bootstrap_var("GARM_GITHUB_TOKEN")?;
        self.github(
            "POST",
            "/_fake/pats",
            Some(&json!({"token": token, "scopes": ["repo"]})),
        )?;
        say(&format!(
            "fake GitHub at {FAKE_GITHUB} with {owner}/{repo} and the rendered token; fake ARM at {FAKE_ARM} for subscription {subscription} and managed identity {identity} (both in the group's namespace)"
        ));
        Ok(())
    }

    /// The operator's commands that move garm onto the fakes: the `github.com` endpoint's URLs,
    /// and the controller URLs on plain HTTP (Caddy has no certificate here).
    pub(super) fn point_garm_at_fakes(&self) -> anyhow::Result<()> {
        let url = format!("http://{FAKE_GITHUB}");
        self.shell(
            "garm",
            &format!(
                "garm-cli github endpoint update github.com --base-url {url} --api-base-url {url}/api/v3 --upload-url {url}/api/v3 >/dev/null"
            ),
            "",
        )?;
        let fqdn = &self.fqdn;
        let controller = self.shell(
            "garm",
            &format!(
                "garm-cli controller update --metadata-url http://{fqdn}/api/v1/metadata --callback-url http://{fqdn}/api/v1/callbacks --webhook-url http://{fqdn}/webhooks"
            ),
            "",
        )?;
        ensure(
            controller.contains(&format!("http://{fqdn}/webhooks")),
            &format!("controller update: {controller}"),
        )?;
        say("garm-cli github endpoint update github.com → the fake GitHub; controller update → http://<FQDN>/… (through Caddy)");
        Ok(())
    }

    /// Installs the repository's webhook, queues one job with the bootstrapped pool's labels,
    /// and waits until the fake GitHub reports it completed and the fake ARM holds no VM.
    pub(super) fn serve_a_job(&self) -> anyhow::Result<()> {
        let owner = self.bootstrap_var("GARM_REPO_OWNER")?;
        let repo = self.bootstrap_var("GARM_REPO_NAME")?;
        let labels: Vec<String> = self
            .bootstrap_var("GARM_POOL_TAGS")?
            .split(',')
            .map(str::to_string)
            .collect();
        self.shell(
            "garm",
            &format!("garm-cli repository webhook install {owner}/{repo} >/dev/null"),
            "",
        )?;
        let hooks = self.github("GET", "/_fake/hooks", None)?;
        let hook = hooks
            .as_array()
            .and_then(|all| all.iter().find_map(|h| h["url"].as_str()))
            .map(str::to_string)
            .with_context(|| format!("no hook on the fake GitHub: {hooks}"))?;
        ensure(
            hook.starts_with(&format!("http://{}/webhooks", self.fqdn)),
            &format!("the hook does not go to the FQDN: {hook}"),
        )?;
        say(&format!(
            "garm-cli repository webhook install: the fake GitHub delivers to {hook}"
        ));

        let started = Instant::now();
        let job = self.github(
            "POST",
            "/_fake/jobs",
            Some(&json!({"owner": owner, "repo": repo, "labels": labels, "run_for_ms": 2000, "conclusion": "success"})),
        )?;
        let id = job["id"].as_u64().with_context(|| format!("no job id: {job}"))?;
        say(&format!(
            "job {id} queued in the fake GitHub for {owner}/{repo} with labels {}",
            labels.join(",")
        ));

        let mut last = String::new();
        let deadline = started + Duration::from_secs(300);
        let job = loop {
            let job = self.github("GET", &format!("/_fake/jobs/{id}"), None)?;
            let state = self.arm("GET", "/_fake/state")?;
            let is_vm = |r: &&Value| {
                let rid = r["id"].as_str().unwrap_or_default().to_lowercase();
                rid.contains("/virtualmachines/") && !rid.contains("/extensions/")
            };
            let line = format!(
                "job {}, {} VM(s) in the fake ARM",
                job["status"].as_str().unwrap_or("?"),
                state["resources"]
                    .as_array()
                    .map_or(0, |all| all.iter().filter(is_vm).count())
            );
            if line != last {
                say(&format!("  [{:>5.1} s] {line}", started.elapsed().as_secs_f64()));
                last = line;
            }
            if job["status"] == "completed" {
                break job;
            }
            if Instant::now() > deadline {
                bail!("job {id} did not complete in 300 s\n{}", self.job_diagnostics());
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        ensure(
            job["conclusion"] == "success",
            &format!("job {id} concluded {}", job["conclusion"]),
        )?;
        let runner = job["runner_name"].as_str().unwrap_or_default().to_string();
        ensure(
            !runner.is_empty(),
            &format!("job {id} completed without a runner: {job}"),
        )?;
        let ran = started.elapsed();
        // The job's deliveries reached garm (through Caddy's /webhooks) and were accepted.
        let deliveries = self.github("GET", "/_fake/deliveries", None)?;
        for action in ["queued", "in_progress", "completed"] {
            ensure(
                deliveries
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["event"] == "workflow_job" && d["action"] == action && d["status_code"] == 200),
                &format!("no workflow_job {action} delivery answered 200 by garm: {deliveries}"),
            )?;
        }

        // The VM the provider created: confidential, as the rendered pool asks.
        let journal = self.arm("GET", "/_fake/journal")?;
        let created = journal
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["method"] == "PUT"
                    && e["path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_lowercase()
                        .contains("/virtualmachines/")
                    && !e["path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_lowercase()
                        .contains("/extensions/")
            })
            .with_context(|| format!("no VM was created in the fake ARM\n{}", self.job_diagnostics()))?;
        let security = &created["body"]["properties"]["securityProfile"]["securityType"];
        ensure(
            security == "ConfidentialVM",
            &format!("the VM is not confidential: {security}"),
        )?;
        let vm = created["path"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        // With the rendered managed identity's token, from the fake's IMDS.
        let (_, identity) = self.rendered_identity()?;
        ensure(
            created["principal"] == format!("msi:{identity}").as_str(),
            &format!(
                "the VM was created as {}, not as the managed identity {identity}",
                created["principal"]
            ),
        )?;
        // The VM's install script reached garm by the controller's metadata and callback URLs
        // (`http://<FQDN>/…`: Caddy's port in the namespace; garm listens on 9997 only).
        let log = self.logs("garm-aci-garm");
        for wanted in [
            format!("install script served instance={vm}"),
            format!("runner status instance={vm} status=installing fetching the JIT runner configuration"),
        ] {
            ensure(log.contains(&wanted), &format!("garm never logged {wanted:?}"))?;
        }
        ensure(
            runner == vm,
            &format!("the job ran on {runner}, not on the VM {vm} the provider created"),
        )?;

        // Then garm removes the runner, and the provider the VM and its resource group.
        loop {
            let state = self.arm("GET", "/_fake/state")?;
            let groups = state["groups"].as_array().map_or(0, Vec::len);
            let resources = state["resources"].as_array().map_or(0, Vec::len);
            let instances = self.shell("garm", "garm-cli runner list --format json", "")?;
            let none: Value = serde_json::from_str(&instances).unwrap_or(Value::Null);
            if groups == 0 && resources == 0 && none.as_array().is_some_and(Vec::is_empty) {
                break;
            }
            if Instant::now() > deadline + Duration::from_secs(120) {
                bail!(
                    "after the job: {groups} resource group(s) and {resources} resource(s) left in the fake ARM, garm's runners: {instances}\n{}",
                    self.job_diagnostics()
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        say(&format!(
            "job {id}: webhook through Caddy → garm → garm-provider-azure (managed identity token from the fake IMDS) created the confidential VM {vm} in the fake ARM; its install script fetched the runner's configuration through Caddy's metadata path; runner {runner} ran the job ({:.0} s from queued to completed); the VM and its resource group were deleted ({:.0} s in all)",
            ran.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// What helps when the job check fails: the fakes' logs, the VM's install log, garm's log.
    fn job_diagnostics(&self) -> String {
        let tail = |text: String| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        let install = self
            .docker()
            .args(["exec", "garm-aci-fake-arm", "sh", "-c"])
            .arg(format!("tail -n 40 {BOOT_DIR}/*/install.log 2>&1"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        format!(
            "--- fake GitHub\n{}\n--- fake ARM\n{}\n--- install.log\n{}\n--- garm\n{}",
            tail(self.logs("garm-aci-fake-github")),
            tail(self.logs("garm-aci-fake-arm")),
            tail(install),
            tail(self.logs("garm-aci-garm"))
        )
    }
}
