//! The root `Dockerfile`: stages, the binaries each stage hands on, user, health check, no secrets.
//!
//! Base images cannot be pulled in CI, so the file is parsed rather than built.

use crate::{read, root};
use std::collections::BTreeMap;

/// One instruction: its keyword (upper case) and the rest of the line, continuations joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    /// The base image with the global `ARG` defaults substituted.
    from: String,
    name: String,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    }
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                let (keyword, args) = pending.split_once(char::is_whitespace).unwrap_or((&pending, ""));
                out.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.split_whitespace().collect::<Vec<_>>().join(" "),
                });
                pending.clear();
            }
        }
    }
    assert!(pending.is_empty(), "the Dockerfile ends inside a continuation");
    out
}

fn expand(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (name, value) in args {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

/// The global `ARG` defaults and the stages.
fn stages() -> (BTreeMap<String, String>, Vec<Stage>) {
    let mut args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions(&read("Dockerfile")) {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction.args.split(' ').collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => panic!("every stage is named: FROM {}", instruction.args),
            };
            stages.push(Stage {
                from: expand(words[0], &args),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        } else {
            assert_eq!(instruction.keyword, "ARG", "only ARG comes before the first FROM");
            let (name, value) = instruction.args.split_once('=').expect("global ARGs have defaults");
            args.insert(name.to_string(), value.to_string());
        }
    }
    (args, stages)
}

const BINARIES: &[(&str, &str)] = &[
    ("garm", "/usr/local/bin/garm"),
    ("garm-cli", "/usr/local/bin/garm-cli"),
    ("garm-provider-azure", "/opt/garm/providers.d/garm-provider-azure"),
    ("garm-provider-docker", "/opt/garm/providers.d/garm-provider-docker"),
    // Served to attesting instances; garm looks for it next to its own executable.
    ("garm-attest", "/usr/local/bin/garm-attest"),
];

#[test]
fn a_rust_build_stage_compiles_the_four_binaries_with_the_lockfile() {
    let (_, stages) = stages();
    assert_eq!(stages.len(), 2, "{stages:?}");
    let build = &stages[0];
    assert_eq!(build.name, "build");
    assert!(
        build.from.starts_with("rust:") && build.from.ends_with("-slim-bookworm"),
        "{}",
        build.from
    );
    let cargo = build
        .all("RUN")
        .into_iter()
        .find(|r| r.contains("cargo build"))
        .expect("a cargo build");
    assert!(cargo.contains("--release") && cargo.contains("--locked"), "{cargo}");
    for package in ["garm-server", "garm-cli", "garm-provider-azure", "garm-provider-docker"] {
        assert!(
            cargo.contains(&format!("-p {package}")),
            "{package} is not built: {cargo}"
        );
    }
    for (binary, _) in BINARIES {
        assert!(
            cargo.contains(&format!("target/release/{binary}")),
            "{binary} is not collected: {cargo}"
        );
    }
    // What the workspace needs to resolve: every member and the lockfile.
    let copies = build.all("COPY").join("\n");
    for path in ["Cargo.toml", "Cargo.lock", "crates", "xtask"] {
        assert!(copies.contains(path), "{path} is not copied into the build stage");
    }
}

#[test]
fn the_binaries_are_built_by_the_crates_that_name_them() {
    let bin_names = |crate_dir: &str| -> Vec<String> {
        let manifest: toml::Table = read(&format!("crates/{crate_dir}/Cargo.toml")).parse().unwrap();
        let package = manifest["package"]["name"].as_str().unwrap().to_string();
        let bins = manifest
            .get("bin")
            .and_then(|b| b.as_array())
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<String> = bins.iter().map(|b| b["name"].as_str().unwrap().to_string()).collect();
        if names.is_empty() && root().join(format!("crates/{crate_dir}/src/main.rs")).exists() {
            names.push(package);
        }
        names
    };
    assert!(bin_names("garm-server").contains(&"garm".to_string()));
    assert!(bin_names("garm-cli").contains(&"garm-cli".to_string()));
    assert!(bin_names("garm-provider-azure").contains(&"garm-provider-azure".to_string()));
    assert!(bin_names("garm-provider-docker").contains(&"garm-provider-docker".to_string()));
}

#[test]
fn the_runtime_stage_is_slim_non_root_and_checks_its_health() {
    let (args, stages) = stages();
    let runtime = &stages[1];
    assert_eq!(runtime.from, "debian:bookworm-slim");
    let copies = runtime.all("COPY");
    for (binary, target) in BINARIES {
        let wanted = format!("--from=build /out/{binary} {target}");
        assert!(copies.contains(&wanted.as_str()), "missing COPY {wanted}: {copies:#?}");
    }
    let packages = runtime.all("RUN").join(" ");
    assert!(
        packages.contains("ca-certificates"),
        "TLS to GitHub and Azure needs the system roots"
    );
    assert!(packages.contains("--no-install-recommends") && packages.contains("rm -rf /var/lib/apt/lists"));

    // The image starts as root only for the entry point's first step, which hands the data
    // volume to the `garm` user created here and re-runs itself as that user.
    let users = runtime.all("USER");
    assert_eq!(users, ["root"]);
    let mut stage_args: BTreeMap<String, String> = args.clone();
    for arg in runtime.all("ARG") {
        if let Some((name, value)) = arg.split_once('=') {
            stage_args.insert(name.to_string(), value.to_string());
        }
    }
    let setup = expand(&packages, &stage_args);
    assert!(
        setup.contains("useradd --system --uid \"10001\"") || setup.contains("useradd --system --uid 10001"),
        "{setup}"
    );
    let entrypoint = read("deploy/docker/garm-entrypoint");
    assert!(entrypoint.contains("user=\"${GARM_USER:-garm}\""));
    assert!(
        entrypoint.contains("exec setpriv --reuid="),
        "the entry point drops root"
    );
    for script in ["garm-entrypoint", "garm-snapshot", "garm-healthcheck", "garm-shell"] {
        let copied = copies
            .iter()
            .any(|c| c.contains(&format!("deploy/docker/{script}")) && c.ends_with(" /usr/local/bin/"));
        assert!(copied, "{script} is not copied to /usr/local/bin/");
    }

    let health = runtime.all("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].contains("CMD") && health[0].contains("garm-healthcheck"),
        "{}",
        health[0]
    );
    assert_eq!(runtime.all("ENTRYPOINT"), [r#"["garm-entrypoint"]"#]);
    assert_eq!(runtime.all("EXPOSE"), ["9997"]);
}

#[test]
fn the_image_holds_no_secret_and_copies_only_files_that_exist() {
    let (_, stages) = stages();
    for stage in &stages {
        for instruction in stage
            .instructions
            .iter()
            .filter(|i| i.keyword == "ENV" || i.keyword == "ARG")
        {
            let upper = instruction.args.to_ascii_uppercase();
            for word in ["SECRET", "PASSWORD", "TOKEN", "PASSPHRASE"] {
                assert!(
                    !upper.contains(word),
                    "{} {} looks like a secret",
                    instruction.keyword,
                    instruction.args
                );
            }
        }
        for copy in stage.all("COPY").into_iter().filter(|c| !c.contains("--from=")) {
            let words: Vec<&str> = copy.split(' ').filter(|w| !w.starts_with("--")).collect();
            for source in &words[..words.len() - 1] {
                assert!(root().join(source).exists(), "COPY source {source} does not exist");
            }
        }
    }
    let ignored = read(".dockerignore");
    let patterns: Vec<&str> = ignored
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for pattern in ["**/target", ".git", "**/*.tfstate", "**/*.tfvars"] {
        assert!(patterns.contains(&pattern), ".dockerignore lacks {pattern}");
    }
    for needed in ["crates", "xtask", "deploy/docker", "Cargo.lock", "Cargo.toml"] {
        assert!(!patterns.contains(&needed), ".dockerignore excludes {needed}");
    }
}

#[test]
fn garm_cli_in_the_image_has_a_local_profile_without_a_token() {
    let (_, stages) = stages();
    let runtime = &stages[1];
    let env = runtime.all("ENV").join(" ");
    assert!(env.contains("HOME=/home/garm"), "{env}");
    let copy = runtime
        .all("COPY")
        .into_iter()
        .find(|c| c.contains("garm-cli-profile.toml"))
        .expect("the profile is copied");
    assert!(
        copy.ends_with(" /home/garm/.local/share/garm-cli/config.toml"),
        "{copy}"
    );
    assert!(
        copy.contains("--chown=garm:garm") && copy.contains("--chmod=0600"),
        "{copy}"
    );

    let profile: toml::Table = read("deploy/docker/garm-cli-profile.toml").parse().unwrap();
    assert_eq!(profile["active_manager"].as_str(), Some("local"));
    let manager = &profile["manager"].as_array().unwrap()[0];
    assert_eq!(manager["name"].as_str(), Some("local"));
    assert_eq!(manager["base_url"].as_str(), Some("http://127.0.0.1:9997"));
    assert_eq!(
        manager["bearer_token"].as_str(),
        Some(""),
        "no token is baked into the image"
    );
}

#[test]
fn the_deployment_config_points_at_the_provider_where_the_image_puts_it() {
    let template = read("deploy/azure/templates/config.toml.tftpl");
    assert!(template.contains("provider_executable = \"/opt/garm/providers.d/garm-provider-azure\""));
    let (_, stages) = stages();
    let env = stages[1].all("ENV").join(" ");
    assert!(
        env.contains("GARM_CONFIG_TEMPLATE=/etc/garm/mounted/config.toml"),
        "{env}"
    );
    let terraform = read("deploy/azure/container_group.tf");
    assert!(terraform.contains("mount_path = \"/etc/garm/mounted\""));
}
