//! The container group as ACI receives it: rendered from the Terraform, with the volumes the
//! azurerm provider builds from the containers' `volume` blocks (see `garm_deploy_check::group`).

use crate::{read, TempDir};
use garm_deploy_check::group::{render, secret_file, terraform_dir, Group, Inputs, Secrets, Source};
use garm_deploy_check::Value;
use std::path::Path;

fn inputs(repo: bool) -> Inputs {
    let secrets = Secrets {
        jwt_secret: "jwt-secret".into(),
        db_passphrase: "p".repeat(32),
        admin_password: "admin-password".into(),
        webhook_secret: "webhook-secret".into(),
    };
    let mut variables = vec![
        ("subscription_id", Value::from("00000000-0000-0000-0000-000000000000")),
        ("github_token", Value::from("ghp_token")),
        ("image_tag", Value::from("v1")),
    ];
    if repo {
        variables.push(("repo_owner", Value::from("mkulke")));
        variables.push(("repo_name", Value::from("garm-playground")));
    }
    Inputs::stand_ins(&secrets, &variables)
}

fn group(dir: &Path, repo: bool) -> Group {
    render(dir, &inputs(repo)).unwrap_or_else(|err| panic!("rendering {}: {err}", dir.display()))
}

#[test]
fn aci_accepts_the_group_as_the_provider_builds_it() {
    for repo in [false, true] {
        let group = group(&terraform_dir(), repo);
        assert_eq!(group.problems(), Vec::<String>::new());
        let names: Vec<&str> = group.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "config-bootstrap",
                "data",
                "state-bootstrap",
                "config-garm",
                "state-garm",
                "state-snapshot",
                "caddy-config",
                "caddy-data"
            ],
            "one volume per name, the shared emptyDir once"
        );
    }
}

#[test]
fn the_database_volume_is_one_empty_dir_shared_and_the_share_is_mounted_where_needed() {
    let group = group(&terraform_dir(), true);
    assert_eq!(group.volume("data").unwrap().source, Source::EmptyDir);
    for name in ["bootstrap", "garm", "snapshot"] {
        let container = group.container(name).unwrap();
        let at = |path: &str| {
            container
                .mounts
                .iter()
                .find(|m| m.mount_path == path)
                .unwrap_or_else(|| panic!("{name} mounts nothing at {path}"))
        };
        assert_eq!(at("/var/lib/garm").volume, "data", "{name}");
        let state = group.volume(&at("/mnt/state").volume).unwrap();
        assert!(
            matches!(&state.source, Source::AzureFile { share_name, .. } if share_name == "garm-state"),
            "{name}: {state:?}"
        );
    }
    let caddy = group.container("caddy").unwrap();
    assert!(caddy.mounts.iter().all(|m| m.mount_path != "/var/lib/garm"));
    assert_eq!(caddy.ports, [443, 80]);
    assert!(group.init_containers.iter().all(|c| c.ports.is_empty()));
}

/// The finding this guards against: a secret volume declared in two containers under one name.
#[test]
fn a_volume_name_shared_by_two_containers_is_found_as_aci_would_find_it() {
    let copy = TempDir::new("duplicate-volumes");
    std::fs::create_dir_all(copy.path("templates")).unwrap();
    for entry in std::fs::read_dir(terraform_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text
                .replace("\"config-garm\"", "\"config-bootstrap\"")
                .replace("\"state-garm\"", "\"state\"")
                .replace("\"state-snapshot\"", "\"state\"")
                .replace("\"state-bootstrap\"", "\"state\"");
            std::fs::write(copy.path(path.file_name().unwrap().to_str().unwrap()), text).unwrap();
        }
    }
    for entry in std::fs::read_dir(terraform_dir().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path("templates").join(path.file_name().unwrap())).unwrap();
    }
    let problems = group(&copy.0, false).problems();
    assert_eq!(
        problems,
        [
            "DuplicateVolumes: the group declares volume `config-bootstrap` 2 times",
            "DuplicateVolumes: the group declares volume `state` 3 times"
        ]
    );
}

#[test]
fn secrets_reach_the_containers_only_as_secure_environment_variables() {
    let group = group(&terraform_dir(), true);
    let secrets = [
        "jwt-secret",
        "admin-password",
        "webhook-secret",
        "ghp_token",
        &"p".repeat(32),
    ];
    for container in group.init_containers.iter().chain(&group.containers) {
        for value in container.environment.values() {
            assert!(!secrets.contains(&value.as_str()), "{}: {value}", container.name);
        }
    }
    for volume in &group.volumes {
        if let Source::Secret(files) = &volume.source {
            for file in files.keys() {
                let text = secret_file(volume, file).unwrap();
                for secret in secrets {
                    assert!(!text.contains(secret), "{}/{file} holds a secret", volume.name);
                }
            }
        }
    }
    let bootstrap = group.container("bootstrap").unwrap();
    assert_eq!(bootstrap.secure_environment["GARM_GITHUB_TOKEN"], "ghp_token");
    assert_eq!(bootstrap.secure_environment["GARM_WEBHOOK_SECRET"], "webhook-secret");
    let garm = group.container("garm").unwrap();
    let names: Vec<&str> = garm.secure_environment.keys().map(String::as_str).collect();
    assert_eq!(names, ["GARM_DB_PASSPHRASE", "GARM_JWT_SECRET"]);
}

#[test]
fn the_pool_names_the_provider_the_configuration_defines() {
    let group = group(&terraform_dir(), true);
    let bootstrap = group.container("bootstrap").unwrap();
    assert_eq!(bootstrap.environment["GARM_POOL_PROVIDER"], "azure_external");
    assert_eq!(
        bootstrap.environment["GARM_POOL_EXTRA_SPECS"],
        r#"{"confidential":true}"#
    );
    assert_eq!(
        bootstrap.environment["GARM_POOL_TAGS"],
        "self-hosted,azure-cvm,ubuntu-2204"
    );
    let config: toml::Table = secret_file(group.volume("config-garm").unwrap(), "config.toml")
        .unwrap()
        .parse()
        .unwrap();
    let provider = &config["provider"].as_array().unwrap()[0];
    assert_eq!(provider["name"].as_str(), Some("azure_external"));
    // The seed's command line, as the README and docs/deploy-azure.md give it.
    for doc in ["README.md", "docs/deploy-azure.md"] {
        let text = read(doc);
        assert!(text.contains("--provider-name azure_external"), "{doc}");
        assert!(!text.contains("--provider-name azure "), "{doc}");
    }
}

/// Caddy's path rules, as rendered: which request paths reach garm.
fn public(caddyfile: &str, path: &str) -> bool {
    let line = caddyfile
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("@public path "))
        .expect("a @public path matcher");
    line["@public path ".len()..]
        .split_whitespace()
        .any(|rule| match rule.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == rule,
        })
}

#[test]
fn caddy_forwards_the_webhook_metadata_and_callback_paths_and_nothing_else() {
    let group = group(&terraform_dir(), false);
    let caddyfile = secret_file(group.volume("caddy-config").unwrap(), "Caddyfile").unwrap();
    let fqdn = format!("{}.westeurope.azurecontainer.io", group.dns_name_label);
    assert!(caddyfile.contains(&format!("\n{fqdn} {{")), "{caddyfile}");
    assert!(caddyfile.contains("admin off"));
    assert!(caddyfile.contains("reverse_proxy 127.0.0.1:9997"));
    for path in [
        "/webhooks",
        "/webhooks/5f0c0a1e-0000-4000-8000-000000000000",
        "/api/v1/metadata/runner-registration-token",
        "/api/v1/metadata/install-script",
        "/api/v1/metadata/tools/garm-attest",
        "/api/v1/metadata/attestation/nonce",
        "/api/v1/callbacks/status",
        "/api/v1/callbacks/system-info",
    ] {
        assert!(public(&caddyfile, path), "{path} must reach garm");
    }
    for path in [
        "/api/v1/auth/login",
        "/api/v1/first-run",
        "/api/v1/controller",
        "/api/v1/controller-info",
        "/api/v1/repositories",
        "/api/v1/pools",
        "/api/v1/instances",
        "/metrics",
        "/api/v1/metadata",
        "/webhooksx",
    ] {
        assert!(!public(&caddyfile, path), "{path} must not be public");
    }
    // Everything else gets Caddy's own 404.
    assert!(caddyfile.contains("respond \"not served on the public address\" 404"));
}

#[test]
fn images_are_pinned() {
    let group = group(&terraform_dir(), false);
    for container in group.init_containers.iter().chain(&group.containers) {
        let tag = container.image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            container.image.contains("@sha256:") || (tag != "latest" && tag.contains(|c: char| c.is_ascii_digit())),
            "{}: {} is not pinned",
            container.name,
            container.image
        );
    }
    // A floating Caddy tag is refused by the variable's validation.
    let variables = read("deploy/azure/variables.tf");
    assert!(variables.contains("Pin caddy_image to a full version"));
    assert!(variables.contains("var.image_tag != \"latest\""));
}

#[test]
fn a_scale_set_deployment_accepts_no_webhook_and_bootstraps_a_scale_set() {
    let secrets = Secrets {
        jwt_secret: "jwt-secret".into(),
        db_passphrase: "p".repeat(32),
        admin_password: "admin-password".into(),
        webhook_secret: "webhook-secret".into(),
    };
    let variables = vec![
        ("subscription_id", Value::from("00000000-0000-0000-0000-000000000000")),
        ("github_token", Value::from("ghp_token")),
        ("image_tag", Value::from("v1")),
        ("repo_owner", Value::from("mkulke")),
        ("repo_name", Value::from("garm-playground")),
        ("runner_mode", Value::from("scaleset")),
        ("scale_set_name", Value::from("azure-cvm")),
    ];
    let group = render(&terraform_dir(), &Inputs::stand_ins(&secrets, &variables)).unwrap();
    assert_eq!(group.problems(), Vec::<String>::new());
    let caddyfile = secret_file(group.volume("caddy-config").unwrap(), "Caddyfile").unwrap();
    assert!(!public(&caddyfile, "/webhooks"), "no webhook is accepted: {caddyfile}");
    assert!(!public(&caddyfile, "/webhooks/5f0c0a1e-0000-4000-8000-000000000000"));
    assert!(
        public(&caddyfile, "/api/v1/metadata/install-script"),
        "runners still reach garm"
    );
    assert!(public(&caddyfile, "/api/v1/callbacks/status"));
    let bootstrap = group
        .init_containers
        .iter()
        .find(|c| c.environment.contains_key("GARM_POOL_KIND"))
        .expect("the bootstrap container");
    assert_eq!(bootstrap.environment["GARM_POOL_KIND"], "scaleset");
    assert_eq!(bootstrap.environment["GARM_SCALESET_NAME"], "azure-cvm");
    // The default stays a webhook pool.
    let pool = group_with_repo();
    let caddyfile = secret_file(pool.volume("caddy-config").unwrap(), "Caddyfile").unwrap();
    assert!(public(&caddyfile, "/webhooks"));
}

fn group_with_repo() -> Group {
    group(&terraform_dir(), true)
}
