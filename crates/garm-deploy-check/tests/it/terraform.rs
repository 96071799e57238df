//! The Terraform under `deploy/azure`, parsed: resources, variables, outputs and their wiring.

use crate::{have, read, root};
use hcl::{Block, Body, Expression};
use std::collections::BTreeMap;
use std::process::Command;

/// Every top-level block of every `.tf` file.
pub(crate) struct Terraform {
    pub(crate) blocks: Vec<Block>,
}

impl Terraform {
    pub(crate) fn load() -> Self {
        let dir = root().join("deploy/azure");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tf"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .tf files in {}", dir.display());
        let mut blocks = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let body = hcl::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            blocks.extend(body.blocks().cloned());
        }
        Self { blocks }
    }

    /// The block `ident "label" "label" { … }`.
    pub(crate) fn block(&self, ident: &str, labels: &[&str]) -> &Body {
        self.blocks
            .iter()
            .find(|b| b.identifier() == ident && b.labels().iter().map(|l| l.as_str()).eq(labels.iter().copied()))
            .unwrap_or_else(|| panic!("no {ident} {labels:?}"))
            .body()
    }

    pub(crate) fn resource(&self, kind: &str, name: &str) -> &Body {
        self.block("resource", &[kind, name])
    }

    /// Names of the resources of one kind.
    pub(crate) fn resources(&self, kind: &str) -> Vec<&str> {
        let of_kind = self
            .blocks
            .iter()
            .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == kind);
        of_kind.map(|b| b.labels()[1].as_str()).collect()
    }

    /// `local.<name>`, from whichever `locals` block defines it.
    pub(crate) fn local(&self, name: &str) -> &Expression {
        let locals = self.blocks.iter().filter(|b| b.identifier() == "locals");
        locals
            .flat_map(|b| b.body().attributes())
            .find(|a| a.key() == name)
            .unwrap_or_else(|| panic!("no local.{name}"))
            .expr()
    }

    fn local_string(&self, name: &str) -> String {
        match self.local(name) {
            Expression::String(s) => s.clone(),
            other => panic!("local.{name} is not a plain string: {other}"),
        }
    }
}

pub(crate) fn expr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// An attribute's expression as HCL text, for checking what it references.
pub(crate) fn text(body: &Body, key: &str) -> String {
    expr(body, key)
        .unwrap_or_else(|| panic!("no attribute {key}"))
        .to_string()
}

pub(crate) fn string(body: &Body, key: &str) -> Option<String> {
    match expr(body, key)? {
        Expression::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A list attribute: plain strings as themselves, anything else as HCL text.
pub(crate) fn list(body: &Body, key: &str) -> Vec<String> {
    match expr(body, key) {
        Some(Expression::Array(items)) => items
            .iter()
            .map(|item| match item {
                Expression::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        other => panic!("{key} is not a list: {other:?}"),
    }
}

pub(crate) fn flag(body: &Body, key: &str) -> bool {
    matches!(expr(body, key), Some(Expression::Bool(true)))
}

pub(crate) fn children<'a>(body: &'a Body, ident: &str) -> Vec<&'a Body> {
    body.blocks()
        .filter(|b| b.identifier() == ident)
        .map(|b| b.body())
        .collect()
}

/// The containers of the group by name: the init container under `init:<name>`.
pub(crate) fn containers(group: &Body) -> BTreeMap<String, &Body> {
    let mut out = BTreeMap::new();
    for c in children(group, "container") {
        out.insert(string(c, "name").expect("container name"), c);
    }
    for c in children(group, "init_container") {
        out.insert(format!("init:{}", string(c, "name").expect("init container name")), c);
    }
    out
}

/// A container's volumes by name.
fn volumes(container: &Body) -> BTreeMap<String, &Body> {
    children(container, "volume")
        .into_iter()
        .map(|v| (string(v, "name").expect("volume name"), v))
        .collect()
}

const SECRET_VARS: &[&str] = &[
    "GARM_ADMIN_PASSWORD",
    "GARM_GITHUB_TOKEN",
    "GARM_WEBHOOK_SECRET",
    "GARM_JWT_SECRET",
    "GARM_DB_PASSPHRASE",
];

/// Expressions that carry secret values.
pub(crate) const SECRET_SOURCES: &[&str] = &["random_password.", "var.github_token"];

#[test]
fn terraform_fmt_check_passes() {
    if !have("terraform", "terraform fmt -check (the HCL checks still run)") {
        return;
    }
    let out = Command::new("terraform")
        .args(["fmt", "-check", "-recursive", "-diff", "deploy/"])
        .current_dir(root())
        .output()
        .expect("terraform runs");
    assert!(
        out.status.success(),
        "terraform fmt -check failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_supporting_resources_exist() {
    let tf = Terraform::load();
    for (kind, name) in [
        ("azurerm_resource_group", "garm"),
        ("azurerm_container_registry", "garm"),
        ("azurerm_storage_account", "state"),
        ("azurerm_storage_share", "state"),
        ("azurerm_user_assigned_identity", "garm"),
        ("azurerm_role_assignment", "runner_vms"),
        ("azurerm_role_assignment", "image_pull"),
        ("azurerm_container_group", "garm"),
    ] {
        tf.resource(kind, name);
    }
    // SQLite mode's one group on the share, and PostgreSQL mode's replica groups, which mount
    // no share at all (postgres_mode_* below); `count` makes them exclusive.
    assert_eq!(tf.resources("azurerm_container_group"), ["garm", "replica"]);
    assert_eq!(
        text(tf.resource("azurerm_container_group", "garm"), "count"),
        "local.postgres ? 0 : 1",
        "one manager, never two on the same share"
    );

    let account = tf.resource("azurerm_storage_account", "state");
    assert_eq!(string(account, "min_tls_version").as_deref(), Some("TLS1_2"));
    assert!(
        flag(account, "shared_access_key_enabled"),
        "ACI mounts Azure Files with the account key"
    );
    let share = tf.resource("azurerm_storage_share", "state");
    assert_eq!(text(share, "storage_account_id"), "azurerm_storage_account.state.id");
    assert!(expr(share, "quota").is_some());

    let runner_vms = tf.resource("azurerm_role_assignment", "runner_vms");
    assert_eq!(
        text(runner_vms, "role_definition_id"),
        "azurerm_role_definition.runner_vms.role_definition_resource_id",
        "the provider's identity gets the custom role, not Contributor"
    );
    assert!(expr(runner_vms, "role_definition_name").is_none());
    assert_eq!(
        text(runner_vms, "principal_id"),
        "azurerm_user_assigned_identity.garm.principal_id"
    );
    // Resource groups are created per runner VM: subscription scope, by design of the provider.
    assert_eq!(text(runner_vms, "scope"), "data.azurerm_subscription.current.id");
    for assignment in tf.resources("azurerm_role_assignment") {
        let role = string(
            tf.resource("azurerm_role_assignment", assignment),
            "role_definition_name",
        );
        assert!(
            !matches!(
                role.as_deref(),
                Some("Contributor" | "Owner" | "User Access Administrator")
            ),
            "{assignment} grants {role:?}"
        );
    }
    let image_pull = tf.resource("azurerm_role_assignment", "image_pull");
    assert_eq!(string(image_pull, "role_definition_name").as_deref(), Some("AcrPull"));
    assert_eq!(text(image_pull, "scope"), "azurerm_container_registry.garm.id");

    // Snapshots and backups of the database are protected from `terraform destroy`.
    for (kind, name) in [("azurerm_storage_account", "state"), ("azurerm_storage_share", "state")] {
        let lifecycle = children(tf.resource(kind, name), "lifecycle");
        assert!(
            lifecycle.len() == 1 && flag(lifecycle[0], "prevent_destroy"),
            "{kind}.{name} lacks prevent_destroy"
        );
    }
    let retention = children(children(account, "share_properties")[0], "retention_policy");
    assert_eq!(text(retention[0], "days"), "var.share_soft_delete_days");
    let protected = tf.resource("azurerm_backup_protected_file_share", "state");
    assert_eq!(
        text(protected, "source_file_share_name"),
        "azurerm_storage_share.state.name"
    );
    assert_eq!(text(protected, "count"), "var.backup_enabled ? 1 : 0");
    let vault = tf.resource("azurerm_recovery_services_vault", "garm");
    assert!(flag(vault, "soft_delete_enabled"));

    let provider = tf.block("provider", &["azurerm"]);
    assert_eq!(children(provider, "features").len(), 1);
    assert_eq!(text(provider, "subscription_id"), "var.subscription_id");
}

#[test]
fn the_container_group_runs_bootstrap_first_then_garm_with_the_identity() {
    let tf = Terraform::load();
    let group = tf.resource("azurerm_container_group", "garm");
    assert_eq!(string(group, "os_type").as_deref(), Some("Linux"));
    assert_eq!(string(group, "ip_address_type").as_deref(), Some("Public"));
    assert_eq!(string(group, "restart_policy").as_deref(), Some("Always"));
    assert_eq!(text(group, "dns_name_label"), "local.dns_name_label");
    // The FQDN must be known before the group exists (Caddy, bootstrap): no hashed label.
    assert_eq!(
        string(group, "dns_name_label_reuse_policy").as_deref(),
        Some("Unsecure")
    );
    // A new GitHub token must not re-create the group for nothing; nothing else is ignored.
    let lifecycle = children(group, "lifecycle");
    assert_eq!(
        text(lifecycle[0], "ignore_changes"),
        "[\n  init_container[0].secure_environment_variables[\"GARM_GITHUB_TOKEN\"]\n]"
    );
    let fqdn = tf.local("fqdn").to_string();
    assert!(
        fqdn.contains("local.dns_name_label") && fqdn.contains(".azurecontainer.io"),
        "{fqdn}"
    );

    let identity = children(group, "identity");
    assert_eq!(identity.len(), 1);
    assert_eq!(string(identity[0], "type").as_deref(), Some("UserAssigned"));
    assert!(text(identity[0], "identity_ids").contains("azurerm_user_assigned_identity.garm.id"));
    let registry = children(group, "image_registry_credential");
    assert_eq!(registry.len(), 1);
    assert_eq!(
        text(registry[0], "user_assigned_identity_id"),
        "azurerm_user_assigned_identity.garm.id"
    );
    assert_eq!(
        text(registry[0], "server"),
        "azurerm_container_registry.garm.login_server"
    );

    // The roles exist (and have propagated) before the group starts calling Azure.
    assert!(text(group, "depends_on").contains("time_sleep.role_propagation"));
    let wait = tf.resource("time_sleep", "role_propagation");
    let waits_for = text(wait, "depends_on");
    assert!(
        waits_for.contains("azurerm_role_assignment.runner_vms")
            && waits_for.contains("azurerm_role_assignment.image_pull")
    );

    let all = containers(group);
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(names, ["caddy", "garm", "init:bootstrap", "snapshot"]);
    assert_eq!(children(group, "init_container").len(), 1);
    let bootstrap = all["init:bootstrap"];
    assert_eq!(list(bootstrap, "commands"), ["garm-entrypoint", "bootstrap"]);
    for name in ["init:bootstrap", "garm", "snapshot"] {
        assert_eq!(text(all[name], "image"), "local.image", "{name}");
    }
    let garm = all["garm"];
    assert_eq!(list(garm, "commands"), ["garm-entrypoint"]);
    assert!(
        expr(garm, "ports").is_none() && children(garm, "ports").is_empty(),
        "garm is reached through Caddy only"
    );
    let probe = children(garm, "liveness_probe");
    assert_eq!(probe.len(), 1);
    assert_eq!(list(probe[0], "exec"), ["garm-healthcheck"]);
    // The sidecar drops to user garm through the entry point, as garm does.
    assert_eq!(
        list(all["snapshot"], "commands"),
        ["garm-entrypoint", "--exec", "garm-snapshot"]
    );
}

#[test]
fn https_is_served_by_caddy_for_the_fqdn_and_forwarded_to_garm() {
    let tf = Terraform::load();
    let group = tf.resource("azurerm_container_group", "garm");
    let caddy = containers(group)["caddy"];
    assert_eq!(
        list(caddy, "commands"),
        [
            "caddy",
            "run",
            "--config",
            "/etc/caddy/Caddyfile",
            "--adapter",
            "caddyfile"
        ]
    );
    assert_eq!(text(caddy, "image"), "var.caddy_image");
    let mut ports: Vec<String> = children(caddy, "ports").iter().map(|p| text(p, "port")).collect();
    ports.sort();
    assert_eq!(
        ports,
        ["443", "80"],
        "443 for HTTPS, 80 for the ACME challenge and redirects"
    );
    let volumes = volumes(caddy);
    assert_eq!(
        string(volumes["caddy-data"], "mount_path").as_deref(),
        Some("/data"),
        "certificates survive a re-create"
    );
    assert_eq!(
        string(volumes["caddy-config"], "mount_path").as_deref(),
        Some("/etc/caddy")
    );
    assert_eq!(text(volumes["caddy-config"], "secret"), "local.caddy_files");

    let config = rendered_config(&tf);
    assert_eq!(config["apiserver"]["bind"].as_str(), Some("127.0.0.1"));
    assert_eq!(config["apiserver"]["port"].as_integer(), Some(9997));
    assert_eq!(config["apiserver"]["use_tls"].as_bool(), Some(false));
    // Caddy connects from 127.0.0.1: garm takes the caller's address from its header.
    let trusted: Vec<&str> = config["apiserver"]["trusted_proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(trusted, ["127.0.0.1/32"]);
}

/// `templates/config.toml.tftpl` rendered as Terraform would, with the locals it is given.
fn rendered_config(tf: &Terraform) -> toml::Table {
    let template = read("deploy/azure/templates/config.toml.tftpl");
    let sentinel = "\u{0}";
    let text = template
        .replace("$${", sentinel)
        .replace("${log_level}", "info")
        .replace("${db_file}", &tf.local_string("db_file"))
        .replace("${provider_name}", &tf.local_string("provider_name"))
        .replace(sentinel, "${");
    assert!(
        !text.contains("${log_level") && !text.contains("${db_file") && !text.contains("${provider_name"),
        "{text}"
    );
    text.parse()
        .unwrap_or_else(|err| panic!("the rendered config is not TOML: {err}\n{text}"))
}

#[test]
fn sqlite_is_on_local_disk_and_only_snapshots_go_to_the_smb_share() {
    let tf = Terraform::load();
    let config = rendered_config(&tf);
    assert_eq!(config["database"]["backend"].as_str(), Some("sqlite3"));
    let db_file = config["database"]["sqlite3"]["db_file"].as_str().unwrap().to_string();
    assert_eq!(db_file, tf.local_string("db_file"));
    let db_dir = std::path::Path::new(&db_file)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let snapshot = tf.local_string("snapshot_file");
    let snapshot_dir = std::path::Path::new(&snapshot)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(db_dir, snapshot_dir);

    let group = tf.resource("azurerm_container_group", "garm");
    for (name, container) in containers(group) {
        for (volume_name, volume) in volumes(container) {
            let mount = string(volume, "mount_path").unwrap();
            let on_share = expr(volume, "share_name").is_some();
            if on_share {
                // A storage volume needs all three storage fields.
                for key in ["storage_account_name", "storage_account_key"] {
                    assert!(expr(volume, key).is_some(), "{name}/{volume_name} lacks {key}");
                }
                assert_ne!(mount, db_dir, "{name} mounts a share where the live database is");
            }
            if mount == db_dir {
                assert!(
                    flag(volume, "empty_dir"),
                    "{name}/{volume_name}: the database directory must be local disk"
                );
            }
            if mount == snapshot_dir {
                assert_eq!(
                    text(volume, "share_name"),
                    "azurerm_storage_share.state.name",
                    "{name}/{volume_name}"
                );
            }
        }
    }
    // Whoever opens the database sees the same local volume; whoever restores sees the share.
    for name in ["init:bootstrap", "garm", "snapshot"] {
        let mounts: Vec<String> = volumes(containers(group)[name])
            .values()
            .map(|v| string(v, "mount_path").unwrap())
            .collect();
        assert!(
            mounts.contains(&db_dir) && mounts.contains(&snapshot_dir),
            "{name}: {mounts:?}"
        );
    }
    let bootstrap_env = tf.local("bootstrap_env").to_string();
    assert!(
        bootstrap_env.contains("GARM_RESTORE_FROM = local.snapshot_file"),
        "{bootstrap_env}"
    );
    let garm = containers(group)["garm"];
    assert!(text(garm, "environment_variables").contains("GARM_RESTORE_FROM = local.snapshot_file"));
    let snapshot_env = text(containers(group)["snapshot"], "environment_variables");
    for wiring in [
        "GARM_DB_FILE = local.db_file",
        "GARM_SNAPSHOT = local.snapshot_file",
        "var.snapshot_interval_seconds",
    ] {
        assert!(snapshot_env.contains(wiring), "{snapshot_env}");
    }
}

#[test]
fn secrets_travel_only_in_secure_environment_variables() {
    let tf = Terraform::load();
    let group = tf.resource("azurerm_container_group", "garm");
    let all = containers(group);
    let bootstrap = all["init:bootstrap"];
    assert_eq!(text(bootstrap, "environment_variables"), "local.bootstrap_env");
    assert_eq!(
        text(bootstrap, "secure_environment_variables"),
        "local.bootstrap_secrets"
    );
    assert_eq!(
        text(all["garm"], "secure_environment_variables"),
        "local.config_secrets"
    );

    let plain = tf.local("bootstrap_env").to_string();
    let secure = format!("{} {}", tf.local("bootstrap_secrets"), tf.local("config_secrets"));
    for var in SECRET_VARS {
        assert!(!plain.contains(var), "{var} is in the plain environment");
        assert!(secure.contains(&format!("{var} =")), "{var} is not passed securely");
    }
    assert!(secure.contains("var.github_token"));
    for (name, container) in &all {
        if let Some(env) = expr(container, "environment_variables") {
            let env = env.to_string();
            for source in SECRET_SOURCES {
                assert!(
                    !env.contains(source),
                    "{name} gets {source} in plain environment variables"
                );
            }
        }
        for volume in children(container, "volume") {
            if expr(volume, "secret").is_some() {
                let files = text(volume, "secret");
                assert!(
                    files == "local.config_files" || (name == "caddy" && files == "local.caddy_files"),
                    "{name} mounts {files}"
                );
            }
        }
    }
    let files = tf.local("config_files").to_string();
    let caddy_files = tf.local("caddy_files").to_string();
    for source in SECRET_SOURCES {
        assert!(!files.contains(source), "a secret is written into the mounted files");
        assert!(!caddy_files.contains(source), "a secret is written into Caddy's files");
    }
    // The template holds placeholders, which the image's entry point fills from those variables.
    let config = rendered_config(&tf);
    assert_eq!(config["jwt_auth"]["secret"].as_str(), Some("${GARM_JWT_SECRET}"));
    assert_eq!(config["database"]["passphrase"].as_str(), Some("${GARM_DB_PASSPHRASE}"));
    let provider = &config["provider"].as_array().unwrap()[0];
    let provider_config = provider["external"]["config_file"].as_str().unwrap();
    let mount = string(volumes(bootstrap)["config-bootstrap"], "mount_path").unwrap();
    let file_name = provider_config
        .strip_prefix(&format!("{mount}/"))
        .expect("the provider config is on the config volume");
    assert!(
        files.contains(&format!("\"{file_name}\"")),
        "{file_name} is not among the mounted files"
    );
    assert!(files.contains("\"config.toml\""));
}

#[test]
fn variables_are_declared_and_the_token_is_sensitive() {
    let tf = Terraform::load();
    let token = tf.block("variable", &["github_token"]);
    assert!(flag(token, "sensitive"), "github_token must be sensitive");
    assert!(expr(token, "default").is_none(), "github_token has no default");
    assert!(expr(tf.block("variable", &["subscription_id"]), "default").is_none());
    for name in [
        "location",
        "dns_name_label",
        "image_tag",
        "repo_owner",
        "repo_name",
        "pool_image",
        "pool_flavor",
        "pool_tags",
        "pool_min_idle_runners",
        "pool_max_runners",
        "pool_extra_specs",
        "pool_enabled",
        "snapshot_interval_seconds",
    ] {
        let variable = tf.block("variable", &[name]);
        assert!(
            expr(variable, "description").is_some() && expr(variable, "type").is_some(),
            "{name}"
        );
    }
    let extra_specs = tf.block("variable", &["pool_extra_specs"]);
    assert_eq!(text(extra_specs, "default"), "{\n  confidential = true\n}");
    // Every pool setting reaches `garm bootstrap`.
    let env = tf.local("bootstrap_env").to_string();
    for name in [
        "pool_image",
        "pool_flavor",
        "pool_tags",
        "pool_min_idle_runners",
        "pool_max_runners",
        "pool_extra_specs",
        "pool_enabled",
    ] {
        assert!(
            env.contains(&format!("var.{name}")),
            "{name} is not passed to bootstrap"
        );
    }
}

#[test]
fn outputs_give_the_webhook_url_and_the_exec_and_log_commands() {
    let tf = Terraform::load();
    let webhook = text(tf.block("output", &["webhook_url"]), "value");
    assert_eq!(webhook, r#""${local.base_url}/webhooks""#);
    let exec = text(tf.block("output", &["exec_command"]), "value");
    for part in [
        "az container exec",
        "--container-name garm",
        "--exec-command garm-shell",
        "local.az_group",
    ] {
        assert!(exec.contains(part), "{exec}");
    }
    let logs = text(tf.block("output", &["logs_command"]), "value");
    for part in ["az container logs", "--container-name garm", "--follow"] {
        assert!(logs.contains(part), "{logs}");
    }
    let bootstrap_logs = text(tf.block("output", &["bootstrap_logs_command"]), "value");
    assert!(
        bootstrap_logs.contains("--container-name bootstrap"),
        "{bootstrap_logs}"
    );

    // An output that carries a secret is marked sensitive.
    let outputs = tf.blocks.iter().filter(|b| b.identifier() == "output");
    for output in outputs {
        let value = text(output.body(), "value");
        if SECRET_SOURCES.iter().any(|s| value.contains(s)) {
            assert!(
                flag(output.body(), "sensitive"),
                "output {} is not sensitive",
                output.labels()[0].as_str()
            );
        }
    }
    assert!(flag(tf.block("output", &["admin_password"]), "sensitive"));
    assert!(flag(tf.block("output", &["webhook_secret"]), "sensitive"));
}

#[test]
fn terraform_state_and_variable_files_are_not_committed() {
    let ignored = read("deploy/azure/.gitignore");
    for pattern in ["*.tfstate", "*.tfvars", ".terraform/"] {
        assert!(ignored.lines().any(|l| l.trim() == pattern), "{pattern} is not ignored");
    }
}
