//! `cargo xtask aci-local`: the container group of `deploy/azure`, run with Docker as ACI would
//! run it, and checked the way an operator checks a deployment.
//!
//! The group is rendered from the Terraform by `garm_deploy_check::group` (images, commands,
//! environment, secure environment, volumes and mounts as the azurerm provider sends them), not
//! written down a second time. What stands in for Azure, and why:
//!
//! - the group's network namespace is a sleeping container on an `--internal` Docker network:
//!   the containers share `127.0.0.1` as in ACI, the host reaches Caddy's port 80 at the
//!   sandbox's address, and nothing in the group reaches beyond this machine;
//! - GitHub and Azure are `garm-fake-github` and `garm-fake-arm`, two more containers in that
//!   namespace; garm is pointed at them only where an address must be theirs, and one job is
//!   served through the Azure provider after the restart (`job.rs` says what changes and why);
//! - an `emptyDir` is a host directory owned by root with mode 0755, the least friendly way
//!   ACI may mount it; an Azure Files share is a host directory with mode 0777, as ACI's SMB
//!   mounts appear; a secret volume is a directory with the decoded files;
//! - the image `<registry>/garm-azure:local` is `garm-azure` from `cargo xtask images`, tagged
//!   with the rendered name; the pinned Caddy image is replaced by Debian's caddy package
//!   (`garm-rs/caddy-debian:local`), and the rendered Caddyfile's site address gets an
//!   `http://` scheme, because no certificate can be obtained here. The path rules are the
//!   rendered ones, unchanged;
//! - ACI's exec liveness probe is run with `docker exec`, `az container exec` is `docker exec`
//!   of the same `garm-shell`, and a restart of the group stops and removes every container,
//!   empties the emptyDir and starts the group again, init container first.

mod job;

use crate::images::{self, CADDY_IMAGE, GARM_IMAGE};
use anyhow::{bail, Context};
use garm_deploy_check::group::{self, Group, Inputs, Secrets, Source};
use garm_deploy_check::Value;
use rand::distributions::Alphanumeric;
use rand::Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PREFIX: &str = "garm-aci-";
const NETWORK: &str = "garm-aci-local";
const SANDBOX: &str = "garm-aci-net";
const CADDY_404: &str = "not served on the public address";

struct Run {
    docker: String,
    group: Group,
    /// Rendered image → local image.
    images: BTreeMap<String, String>,
    work: PathBuf,
    fqdn: String,
    address: String,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let keep = match args {
        [] => false,
        [flag] if flag == "--keep-running" => true,
        _ => bail!("usage: cargo xtask aci-local [--keep-running]"),
    };
    let started = Instant::now();
    let docker = images::docker_cli()?;
    for image in [GARM_IMAGE, CADDY_IMAGE] {
        if !images::image_exists(&docker, image) {
            bail!("{image} is missing: run `cargo xtask images` first");
        }
    }
    let bins = job::build_fakes()?;
    let secrets = Secrets {
        jwt_secret: random(48),
        db_passphrase: random(32),
        admin_password: format!("{}-Aa1.{}", random(12), random(8)),
        webhook_secret: random(32),
    };
    let inputs = Inputs::stand_ins(
        &secrets,
        &[
            ("subscription_id", Value::from("00000000-0000-0000-0000-000000000000")),
            ("github_token", Value::from(format!("ghp_{}", random(36)))),
            ("image_tag", Value::from("local")),
            ("repo_owner", Value::from("example")),
            ("repo_name", Value::from("app")),
            ("snapshot_interval_seconds", Value::from(30)),
        ],
    );
    let group = group::render(&group::terraform_dir(), &inputs).map_err(|err| anyhow::anyhow!(err))?;
    let problems = group.problems();
    if !problems.is_empty() {
        bail!("ACI would refuse the group:\n  {}", problems.join("\n  "));
    }
    let fqdn = format!("{}.westeurope.azurecontainer.io", group.dns_name_label);
    let mut images = BTreeMap::new();
    for c in group.init_containers.iter().chain(&group.containers) {
        let local = if c.name == "caddy" { CADDY_IMAGE } else { GARM_IMAGE };
        images.insert(c.image.clone(), local.to_string());
    }
    for (rendered, local) in &images {
        if local == GARM_IMAGE {
            ensure(docker_ok(&docker, &["tag", GARM_IMAGE, rendered]), "docker tag")?;
            say(&format!("{rendered}: the local {GARM_IMAGE} image"));
        } else {
            say(&format!(
                "{rendered}: replaced by {local} (Debian's caddy; the pinned image cannot be pulled here)"
            ));
        }
    }
    let work = images::cache_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("xtask-aci-local");
    let mut run = Run {
        docker,
        group,
        images,
        work,
        fqdn,
        address: String::new(),
    };
    run.clean();
    let result = run.check(&secrets, &bins);
    if keep && result.is_ok() {
        say(&format!(
            "left running: curl -H 'Host: {}' http://{}/webhooks; docker exec -it {PREFIX}garm garm-shell; remove with docker rm -f $(docker ps -aq --filter name={PREFIX}) && docker network rm {NETWORK}",
            run.fqdn, run.address
        ));
    } else {
        run.clean();
    }
    result?;
    say(&format!(
        "all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn say(message: &str) {
    eprintln!("aci-local: {message}");
}

fn ensure(ok: bool, what: &str) -> anyhow::Result<()> {
    if !ok {
        bail!("{what}");
    }
    Ok(())
}

fn random(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn docker_ok(docker: &str, args: &[&str]) -> bool {
    Command::new(docker)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Run {
    fn docker(&self) -> Command {
        Command::new(&self.docker)
    }

    /// Removes the group's containers, network and directories.
    fn clean(&self) {
        if let Ok(out) = self
            .docker()
            .args(["ps", "-aq", "--filter", &format!("name={PREFIX}")])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                docker_ok(&self.docker, &["rm", "-f", id]);
            }
        }
        docker_ok(&self.docker, &["network", "rm", NETWORK]);
        let _ = std::fs::remove_dir_all(&self.work);
    }

    fn host_dir(&self, volume: &group::Volume) -> PathBuf {
        match &volume.source {
            Source::EmptyDir => self.work.join("emptydir").join(&volume.name),
            Source::Secret(_) => self.work.join("secret").join(&volume.name),
            Source::AzureFile { share_name, .. } => self.work.join("share").join(share_name),
        }
    }

    /// The host side of every volume. An emptyDir is made afresh (root, 0755) each time.
    fn prepare_volumes(&self) -> anyhow::Result<()> {
        for volume in &self.group.volumes {
            let dir = self.host_dir(volume);
            match &volume.source {
                Source::EmptyDir => {
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::create_dir_all(&dir)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
                }
                Source::AzureFile { .. } => {
                    std::fs::create_dir_all(&dir)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
                }
                Source::Secret(files) => {
                    std::fs::create_dir_all(&dir)?;
                    for file in files.keys() {
                        let mut text = group::secret_file(volume, file).context("a secret file is not UTF-8 base64")?;
                        if file == "Caddyfile" {
                            // No certificate here: plain HTTP for the same name and the same rules.
                            let site = format!("\n{} {{", self.fqdn);
                            ensure(text.contains(&site), "the Caddyfile's site address is the FQDN")?;
                            text = text.replace(&site, &format!("\nhttp://{} {{", self.fqdn));
                        }
                        if file == "garm-provider-azure.toml" {
                            // Azure is the fake ARM here: only the endpoints are added.
                            text.push_str(&job::provider_endpoints());
                        }
                        std::fs::write(dir.join(file), text)?;
                        std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o644))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// `docker run` of one container of the group, detached or to completion.
    fn start(&self, container: &group::Container, detached: bool) -> anyhow::Result<std::process::Output> {
        let mut cmd = self.docker();
        cmd.arg("run").arg(if detached { "-d" } else { "--rm=false" });
        cmd.args(["--name", &format!("{PREFIX}{}", container.name)]);
        cmd.args(["--network", &format!("container:{SANDBOX}")]);
        for mount in &container.mounts {
            let volume = self.group.volume(&mount.volume).context("a mount without its volume")?;
            let ro = if mount.read_only { ":ro" } else { "" };
            cmd.args([
                "-v",
                &format!("{}:{}{ro}", self.host_dir(volume).display(), mount.mount_path),
            ]);
        }
        // Values travel in docker's environment, not on its command line.
        for (name, value) in container.environment.iter().chain(&container.secure_environment) {
            cmd.args(["-e", name]).env(name, value);
        }
        let (program, args) = container.command.split_first().context("no command")?;
        cmd.args(["--entrypoint", program])
            .arg(&self.images[&container.image])
            .args(args);
        let out = cmd.output().context("docker run")?;
        Ok(out)
    }

    fn start_group(&self) -> anyhow::Result<()> {
        self.prepare_volumes()?;
        for init in &self.group.init_containers {
            let out = self.start(init, false)?;
            let name = format!("{PREFIX}{}", init.name);
            let logs = self.logs(&name);
            for line in logs.lines() {
                say(&format!("  {}: {line}", init.name));
            }
            ensure(
                out.status.success(),
                &format!("the init container {} failed: {}", init.name, logs),
            )?;
        }
        for container in &self.group.containers {
            let out = self.start(container, true)?;
            ensure(
                out.status.success(),
                &format!("{}: {}", container.name, String::from_utf8_lossy(&out.stderr)),
            )?;
        }
        // ACI's liveness probe, by hand: garm is up when its probe passes.
        let garm = self.group.container("garm").context("no garm container")?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut probe = vec!["exec", "garm-aci-garm"];
            probe.extend(garm.liveness.iter().map(String::as_str));
            if docker_ok(&self.docker, &probe) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "garm's liveness probe did not pass in 120 s:\n{}",
                    self.logs("garm-aci-garm")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        say("garm's liveness probe passes");
        Ok(())
    }

    fn logs(&self, container: &str) -> String {
        self.docker()
            .args(["logs", container])
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default()
    }

    /// `az container exec … --exec-command garm-shell`, with a script on bash's command line
    /// (and `stdin` on its standard input).
    fn shell(&self, container: &str, script: &str, stdin: &str) -> anyhow::Result<String> {
        let mut child = self
            .docker()
            .args([
                "exec",
                "-i",
                &format!("{PREFIX}{container}"),
                "garm-shell",
                "-c",
                script,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().unwrap().write_all(stdin.as_bytes())?;
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            bail!("{container}: {script}: {}{text}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(text)
    }

    /// One request to Caddy's port 80 for the FQDN: status and body.
    fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let out = Command::new("curl")
            .args(["-s", "--path-as-is", "--max-time", "10", "-X", method])
            .args(["-H", &format!("Host: {}", self.fqdn)])
            .args(["-H", "Content-Type: application/json", "--data", "{}"])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://{}{path}", self.address))
            .output()
            .context("curl")?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
        Ok((code.trim().parse().unwrap_or(0), body.to_string()))
    }

    fn check(&mut self, secrets: &Secrets, bins: &Path) -> anyhow::Result<()> {
        ensure(
            docker_ok(&self.docker, &["network", "create", "--internal", NETWORK]),
            "docker network create --internal",
        )?;
        let out = self
            .docker()
            .args(["run", "-d", "--name", SANDBOX, "--network", NETWORK])
            // The FQDN is the group's own address inside it (the containers joining the
            // namespace share this hosts file): the fakes reach garm through Caddy by name.
            .args(["--add-host", &format!("{}:127.0.0.1", self.fqdn)])
            .args(["--entrypoint", "sleep", "debian:bookworm-slim", "infinity"])
            .output()?;
        ensure(out.status.success(), &String::from_utf8_lossy(&out.stderr))?;
        let ip = self
            .docker()
            .args([
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                SANDBOX,
            ])
            .output()?;
        self.address = format!("{}:80", String::from_utf8_lossy(&ip.stdout).trim());
        say(&format!(
            "group network: {NETWORK} (internal); Caddy's port 80 at {}",
            self.address
        ));

        self.start_group()?;
        let bootstrap = self.logs("garm-aci-bootstrap");
        for wanted in [
            "admin user admin: created",
            "repository example/app: created",
            "pool azure_external",
        ] {
            ensure(
                bootstrap.contains(wanted),
                &format!("bootstrap did not say {wanted:?}:\n{bootstrap}"),
            )?;
        }

        // Everything runs as garm, on a data directory that arrived owned by root.
        for container in ["garm", "snapshot"] {
            let uid = self.shell(
                container,
                "id -u; stat -c %u /var/lib/garm; awk '/^Uid:/ {print $2}' /proc/1/status",
                "",
            )?;
            ensure(
                uid.split_whitespace().eq(["10001", "10001", "10001"]),
                &format!("{container} is not running as garm (uid 10001): {uid}"),
            )?;
        }
        say("garm and snapshot run as uid 10001; the root-owned emptyDir was handed to garm");

        // The seed's commands, through `exec` as with `az container exec`.
        // The password on garm-cli's standard input, as typed at its prompt.
        self.shell(
            "garm",
            "garm-cli profile login --username admin",
            &format!("{}\n", secrets.admin_password),
        )?;
        let controller = self.shell("garm", "garm-cli controller show", "")?;
        ensure(
            controller.contains(&format!("https://{}/webhooks", self.fqdn)),
            &format!("controller URLs: {controller}"),
        )?;
        let controller_id = controller
            .lines()
            .find(|l| l.contains("Controller ID"))
            // The value alone: the table's padding follows the longest URL, which changes.
            .and_then(|l| l.split('|').map(str::trim).nth(2))
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .context("controller show has no Controller ID")?;
        let providers = self.shell("garm", "garm-cli provider list", "")?;
        ensure(providers.contains("azure_external"), &format!("providers: {providers}"))?;
        let repos = self.shell("garm", "garm-cli repository list", "")?;
        ensure(
            repos.contains("example") && repos.contains("app"),
            &format!("repositories: {repos}"),
        )?;
        // docs/deploy-azure.md step 5: a repository with its secret read into the environment
        // (never on a command line), and the seed's pool command; disabled, so no VM is asked for.
        self.shell(
            "garm",
            "read -r GARM_CLI_WEBHOOK_SECRET && export GARM_CLI_WEBHOOK_SECRET && \
             garm-cli repository add --credentials garm --owner example --name seed >/dev/null && \
             garm-cli pool add --repo example/seed --provider-name azure_external \
               --image Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest \
               --flavor Standard_DC2as_v5 --tags self-hosted,azure-cvm,seed \
               --min-idle-runners 0 --max-runners 4 --extra-specs '{\"confidential\": true}' >/dev/null",
            &format!("{}\n", random(32)),
        )?;
        let pools = self.shell("garm", "garm-cli pool list --format json", "")?;
        ensure(
            pools
                .replace(' ', "")
                .matches("\"provider_name\":\"azure_external\"")
                .count()
                == 2,
            &format!("pools: {pools}"),
        )?;
        say("garm-cli through exec: login, controller show, provider list, repository list and add (secret from the environment), pool add --provider-name azure_external, pool list");

        self.check_proxy()?;

        // GitHub and Azure: the fakes, in the group's namespace, and garm pointed at them.
        self.start_fakes(bins)?;
        self.point_garm_at_fakes()?;
        // The pools as they are now (each carries its endpoint, now the fake's): what the
        // restart must bring back.
        let pools = self.shell("garm", "garm-cli pool list --format json", "")?;
        ensure(
            pools.contains(&format!("http://{}", job::FAKE_GITHUB)),
            &format!("the pools' endpoint is not the fake GitHub: {pools}"),
        )?;

        // Backups: a named copy that rotation never touches, and never replaced.
        let backup = self.shell("snapshot", "garm-snapshot --backup pre-check", "")?;
        ensure(backup.contains("never rotated"), &backup)?;
        ensure(
            self.shell("snapshot", "garm-snapshot --backup pre-check", "").is_err(),
            "a second backup of the same name replaced the first",
        )?;
        let share = self.work.join("share/garm-state");
        ensure(share.join("backups/pre-check.db").exists(), "backups/pre-check.db")?;

        // A restart of the group: stop everything (the snapshot sidecar takes its last
        // snapshot), lose the emptyDir, start again, init container first.
        let stop: Vec<String> = self
            .group
            .containers
            .iter()
            .map(|c| format!("{PREFIX}{}", c.name))
            .chain(self.group.init_containers.iter().map(|c| format!("{PREFIX}{}", c.name)))
            .collect();
        let mut cmd = self.docker();
        ensure(
            cmd.args(["stop", "-t", "30"])
                .args(&stop)
                .stdout(Stdio::null())
                .status()?
                .success(),
            "docker stop",
        )?;
        ensure(
            self.logs("garm-aci-snapshot").contains("updated"),
            "no final snapshot on stop",
        )?;
        let mut cmd = self.docker();
        ensure(
            cmd.args(["rm"]).args(&stop).stdout(Stdio::null()).status()?.success(),
            "docker rm",
        )?;
        ensure(share.join("garm.db").exists(), "no snapshot on the share")?;
        say("group stopped: last snapshot on the share; starting again with an empty emptyDir");
        self.start_group()?;
        let bootstrap = self.logs("garm-aci-bootstrap");
        ensure(
            bootstrap.contains("restored") && bootstrap.contains("admin user admin: exists"),
            &format!("the restart did not restore: {bootstrap}"),
        )?;
        self.shell(
            "garm",
            "garm-cli profile login --username admin",
            &format!("{}\n", secrets.admin_password),
        )?;
        let again = self.shell("garm", "garm-cli controller show", "")?;
        ensure(
            again.contains(&controller_id),
            &format!("the controller changed: {controller_id} vs {again}"),
        )?;
        let after = self.shell("garm", "garm-cli pool list --format json", "")?;
        ensure(
            after == pools,
            &format!("pools after restart: {after}\nbefore: {pools}"),
        )?;
        say("restart: the same controller, repositories and pools (the one added after the last timed snapshot too), restored from the share");
        // The restored group serves a job: the endpoint and controller URLs set before the
        // restart came back with the database.
        self.serve_a_job()?;
        self.check_proxy()?;
        Ok(())
    }

    /// Only the webhook, metadata and callback paths reach garm through Caddy.
    fn check_proxy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.request("GET", "/")?.0 == 0 {
            if Instant::now() > deadline {
                bail!(
                    "Caddy does not answer at {}:\n{}",
                    self.address,
                    self.logs("garm-aci-caddy")
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        for (method, path) in [
            ("POST", "/webhooks"),
            ("GET", "/api/v1/metadata/runner-metadata"),
            ("POST", "/api/v1/callbacks/status"),
        ] {
            let (code, body) = self.request(method, path)?;
            ensure(
                code != 0 && !body.contains(CADDY_404),
                &format!("{method} {path} does not reach garm ({code} {body})"),
            )?;
            say(&format!("public   {method} {path} → garm answers {code}"));
        }
        for (method, path) in [
            ("POST", "/api/v1/auth/login"),
            ("POST", "/api/v1/first-run"),
            ("GET", "/api/v1/controller-info"),
            ("GET", "/api/v1/repositories"),
            ("GET", "/metrics"),
            ("GET", "/api/v1/metadata"),
            ("POST", "/webhooks/../api/v1/auth/login"),
            ("POST", "/api/v1/metadata/../auth/login"),
        ] {
            let (code, body) = self.request(method, path)?;
            ensure(code == 404, &format!("{method} {path} answered {code} {body}"))?;
            say(&format!(
                "refused  {method} {path} → 404 ({})",
                if body.contains(CADDY_404) {
                    "Caddy"
                } else {
                    "garm: no such route"
                }
            ));
        }
        Ok(())
    }
}
