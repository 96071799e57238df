//! Command-line parsing tests: the documented pool workflow, aliases and flag spellings.

use super::*;

/// Held by the tests that set, or depend on the absence of, the GARM_CLI_* variables that
/// secret flags read (the environment is the process's, shared by parallel tests).
static SECRET_ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn parse(line: &[&str]) -> Cli {
    let mut argv = vec!["garm-cli"];
    argv.extend_from_slice(line);
    match parse_args(argv) {
        Ok(cli) => cli,
        Err(err) => panic!("{line:?} did not parse: {err}"),
    }
}

fn rejects(line: &[&str]) -> clap::Error {
    let mut argv = vec!["garm-cli"];
    argv.extend_from_slice(line);
    match parse_args(argv) {
        Ok(cli) => panic!("{line:?} parsed unexpectedly: {cli:?}"),
        Err(err) => err,
    }
}

#[test]
fn documented_init_parses() {
    let cli = parse(&[
        "init",
        "--name",
        "local",
        "--url",
        "http://127.0.0.1:9997",
        "--username",
        "admin",
        "--email",
        "admin@example.com",
        "--password",
        "s3cr3t-Passw0rd!",
    ]);
    let Command::Init(args) = cli.command else {
        panic!("not init");
    };
    assert_eq!(args.name, "local");
    assert_eq!(args.url, "http://127.0.0.1:9997");
    assert_eq!(args.username.as_deref(), Some("admin"));
    assert_eq!(args.email.as_deref(), Some("admin@example.com"));
    assert_eq!(args.password.as_deref(), Some("s3cr3t-Passw0rd!"));
    assert!(args.metadata_url.is_none());
}

#[test]
fn init_requires_name_and_url() {
    rejects(&["init", "--url", "http://x"]);
    rejects(&["init", "--name", "x"]);
}

#[test]
fn documented_profile_ls_parses() {
    let cli = parse(&["profile", "ls"]);
    assert!(matches!(cli.command, Command::Profile(login::ProfileCommand::List)));
}

#[test]
fn documented_github_credentials_add_parses() {
    let cli = parse(&[
        "github",
        "credentials",
        "add",
        "--name",
        "garm",
        "--description",
        "PAT",
        "--endpoint",
        "github.com",
        "--auth-type",
        "pat",
        "--pat-oauth-token",
        "ghp_xxx",
    ]);
    let Command::Github(forge::GithubCommand::Credentials(forge::GithubCredentialsCommand::Add(args))) = cli.command
    else {
        panic!("not github credentials add");
    };
    assert_eq!(args.name, "garm");
    assert_eq!(args.description.as_deref(), Some("PAT"));
    assert_eq!(args.endpoint, "github.com");
    assert_eq!(args.auth_type, forge::AuthType::Pat);
    assert_eq!(args.secret.pat_oauth_token.as_deref(), Some("ghp_xxx"));
}

#[test]
fn pat_and_app_flags_are_mutually_exclusive_and_app_flags_go_together() {
    let _env = SECRET_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let base = [
        "gh",
        "creds",
        "add",
        "--name",
        "n",
        "--endpoint",
        "github.com",
        "--auth-type",
        "app",
    ];
    let mut both = base.to_vec();
    both.extend(["--pat-oauth-token", "t", "--app-id", "1"]);
    rejects(&both);
    let mut partial = base.to_vec();
    partial.extend(["--app-id", "1", "--app-installation-id", "2"]);
    rejects(&partial);
    let mut full = base.to_vec();
    full.extend([
        "--app-id",
        "1",
        "--app-installation-id",
        "2",
        "--private-key-path",
        "/k.pem",
    ]);
    parse(&full);
}

#[test]
fn documented_repository_add_parses() {
    let cli = parse(&[
        "repository",
        "add",
        "--credentials",
        "garm",
        "--name",
        "garm-playground",
        "--owner",
        "mkulke",
        "--webhook-secret",
        "hunter2",
    ]);
    let Command::Repository(entity::RepoCommand::Add(args)) = cli.command else {
        panic!("not repository add");
    };
    assert_eq!(args.owner, "mkulke");
    assert_eq!(args.name, "garm-playground");
    assert_eq!(args.hooked.common.credentials, "garm");
    assert_eq!(args.hooked.common.webhook_secret.as_deref(), Some("hunter2"));
    assert_eq!(args.hooked.common.pool_balancer_type, "roundrobin");
    assert!(!args.hooked.random_webhook_secret);
}

#[test]
fn repo_add_needs_exactly_one_webhook_secret_source() {
    let _env = SECRET_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let base = ["repo", "add", "--credentials", "c", "--name", "n", "--owner", "o"];
    rejects(&base);
    let mut both = base.to_vec();
    both.extend(["--webhook-secret", "s", "--random-webhook-secret"]);
    rejects(&both);
    let mut random = base.to_vec();
    random.push("--random-webhook-secret");
    parse(&random);
}

#[test]
fn documented_repo_ls_parses() {
    let cli = parse(&["repo", "ls"]);
    let Command::Repository(entity::RepoCommand::List(args)) = cli.command else {
        panic!("not repo ls");
    };
    assert_eq!(
        (args.name.as_str(), args.owner.as_str(), args.endpoint.as_str()),
        ("", "", "")
    );
}

#[test]
fn documented_pool_add_parses_with_enabled_true() {
    let cli = parse(&[
        "pool",
        "add",
        "--repo",
        "05e7eac6-4705-486d-89c9-0170bbb576af",
        "--flavor",
        "Standard_DC2as_v5",
        "--tags",
        "self-hosted,azure-cvm,ubuntu-2204",
        "--enabled",
        "true",
        "--min-idle-runners",
        "0",
        "--max-runners",
        "4",
        "--extra-specs",
        r#"{"confidential": true}"#,
        "--provider-name",
        "azure_external",
        "--image",
        "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest",
    ]);
    let Command::Pool(pool::PoolCommand::Add(args)) = cli.command else {
        panic!("not pool add");
    };
    assert_eq!(
        args.entity.repo.as_deref(),
        Some("05e7eac6-4705-486d-89c9-0170bbb576af")
    );
    assert_eq!(args.flavor, "Standard_DC2as_v5");
    assert_eq!(args.tags, "self-hosted,azure-cvm,ubuntu-2204");
    assert_eq!(args.enabled, Some(true));
    assert_eq!(args.min_idle_runners, 0);
    assert_eq!(args.max_runners, 4);
    assert_eq!(args.extra_specs.as_deref(), Some(r#"{"confidential": true}"#));
    assert_eq!(args.provider_name, "azure_external");
    assert_eq!(args.os_type, "linux");
    assert_eq!(args.os_arch, "amd64");
    assert_eq!(args.runner_bootstrap_timeout, 20);
}

#[test]
fn enabled_accepts_bare_spaced_and_equals_forms() {
    let enabled = |extra: &[&str]| {
        let mut line = vec![
            "pool",
            "add",
            "-r",
            "o/n",
            "--provider-name",
            "p",
            "--image",
            "i",
            "--flavor",
            "f",
            "--tags",
            "t",
        ];
        line.extend_from_slice(extra);
        match parse(&line).command {
            Command::Pool(pool::PoolCommand::Add(args)) => args.enabled,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(enabled(&[]), None);
    assert_eq!(enabled(&["--enabled"]), Some(true));
    assert_eq!(enabled(&["--enabled", "false"]), Some(false));
    assert_eq!(enabled(&["--enabled=false"]), Some(false));
    assert_eq!(enabled(&["--enabled", "--max-runners", "3"]), Some(true));
}

#[test]
fn bare_enabled_before_a_positional_does_not_swallow_it() {
    let cli = parse(&["pool", "update", "--enabled", "9dcf590a-1192-4a9c-b3e4-e0902974c2c0"]);
    let Command::Pool(pool::PoolCommand::Update(args)) = cli.command else {
        panic!("not pool update");
    };
    assert_eq!(args.enabled, Some(true));
    assert_eq!(args.pool_id, "9dcf590a-1192-4a9c-b3e4-e0902974c2c0");
    assert_eq!(args.max_runners, None);
}

#[test]
fn pool_add_requires_exactly_one_entity_and_one_extra_specs_source() {
    let base = [
        "pool",
        "add",
        "--provider-name",
        "p",
        "--image",
        "i",
        "--flavor",
        "f",
        "--tags",
        "t",
    ];
    rejects(&base);
    let mut two = base.to_vec();
    two.extend(["-r", "a/b", "-o", "org"]);
    rejects(&two);
    let mut specs = base.to_vec();
    specs.extend(["-e", "ent", "--extra-specs", "{}", "--extra-specs-file", "x.json"]);
    rejects(&specs);
}

#[test]
fn documented_pool_ls_runner_ls_and_job_list_parse() {
    let cli = parse(&["pool", "ls"]);
    let Command::Pool(pool::PoolCommand::List(args)) = cli.command else {
        panic!("not pool ls");
    };
    assert!(args.entity.selected().is_none());
    let cli = parse(&["runner", "ls"]);
    let Command::Runner(runner::RunnerCommand::List(args)) = cli.command else {
        panic!("not runner ls");
    };
    assert!(args.pool_or_scale_set.is_none());
    assert!(matches!(
        parse(&["job", "list"]).command,
        Command::Job(job::JobCommand::List)
    ));
}

#[test]
fn aliases_match_garm_cli() {
    assert!(matches!(parse(&["repo", "list"]).command, Command::Repository(_)));
    assert!(matches!(parse(&["org", "ls"]).command, Command::Organization(_)));
    assert!(matches!(parse(&["ent", "ls"]).command, Command::Enterprise(_)));
    assert!(matches!(parse(&["run", "ls"]).command, Command::Runner(_)));
    assert!(matches!(parse(&["gh", "endpoint", "ls"]).command, Command::Github(_)));
    assert!(matches!(parse(&["creds", "ls"]).command, Command::Credentials(_)));
    assert!(matches!(
        parse(&["controller-info", "show"]).command,
        Command::Controller(_)
    ));
    for delete in ["delete", "remove", "rm", "del"] {
        assert!(matches!(
            parse(&["pool", delete, "p"]).command,
            Command::Pool(pool::PoolCommand::Delete { .. })
        ));
    }
    assert!(matches!(
        parse(&[
            "repo",
            "create",
            "--owner",
            "o",
            "--name",
            "n",
            "--credentials",
            "c",
            "--random-webhook-secret"
        ])
        .command,
        Command::Repository(entity::RepoCommand::Add(_))
    ));
}

#[test]
fn runner_flags_and_global_flags_parse_anywhere() {
    let cli = parse(&[
        "runner", "delete", "garm-abc", "-f", "-b", "--debug", "--format", "json",
    ]);
    assert!(cli.debug);
    assert_eq!(cli.format, Format::Json);
    let Command::Runner(runner::RunnerCommand::Delete(args)) = cli.command else {
        panic!("not runner delete");
    };
    assert!(args.force_remove_runner && args.bypass_github_unauthorized);
    let cli = parse(&["--format=json", "runner", "ls", "-l", "-r", "o/n"]);
    let Command::Runner(runner::RunnerCommand::List(args)) = cli.command else {
        panic!("not runner ls");
    };
    assert!(args.long);
    assert_eq!(args.entity.repo.as_deref(), Some("o/n"));
    rejects(&["--format", "yaml", "job", "ls"]);
}

#[test]
fn bool_normalization_only_joins_bool_literals_for_known_flags() {
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter();
    assert_eq!(
        normalize_bool_flags(args(&["--enabled", "true", "--agent-mode", "F", "--long", "true"])),
        ["--enabled=true", "--agent-mode=F", "--long", "true"]
    );
    assert_eq!(
        normalize_bool_flags(args(&["--enabled", "x", "--", "--enabled", "true"])),
        ["--enabled", "x", "--", "--enabled", "true"]
    );
    assert_eq!(parse_go_bool("True"), Ok(true));
    assert!(parse_go_bool("yes").is_err());
}

#[test]
fn controller_update_short_flags_parse() {
    let cli = parse(&["controller", "update", "-m", "http://m", "-s", "false", "-b", "60"]);
    let Command::Controller(controller::ControllerCommand::Update(args)) = cli.command else {
        panic!("not controller update");
    };
    assert_eq!(args.metadata_url.as_deref(), Some("http://m"));
    assert_eq!(args.enable_tools_sync, Some(false));
    assert_eq!(args.minimum_job_age_backoff, Some(60));
    rejects(&["controller", "update", "--ca-bundle", "x.pem", "--clear-ca-bundle"]);
}

#[test]
fn commands_without_a_profile_ask_to_log_in_first() {
    let ctx = Ctx {
        format: Format::Table,
        debug: false,
        home: std::env::temp_dir(),
        config: Config::default(),
    };
    let err = ctx.client().err().expect("no profile means no client");
    assert_eq!(err.to_string(), NEEDS_INIT);
    let err = pool::pool(&ctx, pool::PoolCommand::Show { pool_id: "x".into() }).unwrap_err();
    assert_eq!(err.to_string(), NEEDS_INIT);
}

#[test]
fn clap_definitions_are_consistent() {
    use clap::CommandFactory as _;
    Cli::command().debug_assert();
}

/// Secrets can come from the environment instead of the command line (`read -rs` at a prompt,
/// then `export`), where `ps` and the shell history would show them.
#[test]
fn secret_flags_read_the_environment_and_the_flag_wins() {
    let _env = SECRET_ENV.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("GARM_CLI_PAT_OAUTH_TOKEN", "ghp_from_env");
    std::env::set_var("GARM_CLI_WEBHOOK_SECRET", "secret-from-env");
    let pat = parse(&["github", "credentials", "update", "1"]);
    let repo_update = parse(&["repository", "update", "o/n"]);
    let repo_add = parse(&["repository", "add", "--credentials", "c", "--name", "n", "--owner", "o"]);
    let flag_wins = parse(&["repository", "update", "o/n", "--webhook-secret", "from-flag"]);
    let help = parse_args(vec!["garm-cli", "repository", "update", "--help"])
        .unwrap_err()
        .to_string();
    std::env::remove_var("GARM_CLI_PAT_OAUTH_TOKEN");
    std::env::remove_var("GARM_CLI_WEBHOOK_SECRET");

    let Command::Github(forge::GithubCommand::Credentials(forge::GithubCredentialsCommand::Update(args))) = pat.command
    else {
        panic!("not github credentials update");
    };
    assert_eq!(args.secret.pat_oauth_token.as_deref(), Some("ghp_from_env"));
    let Command::Repository(entity::RepoCommand::Update(args)) = repo_update.command else {
        panic!("not repository update");
    };
    assert_eq!(args.webhook_secret.as_deref(), Some("secret-from-env"));
    let Command::Repository(entity::RepoCommand::Add(args)) = repo_add.command else {
        panic!("not repository add");
    };
    assert_eq!(args.hooked.common.webhook_secret.as_deref(), Some("secret-from-env"));
    let Command::Repository(entity::RepoCommand::Update(args)) = flag_wins.command else {
        panic!("not repository update");
    };
    assert_eq!(args.webhook_secret.as_deref(), Some("from-flag"));
    // The help names the variable and never shows its value.
    assert!(help.contains("GARM_CLI_WEBHOOK_SECRET"), "{help}");
    assert!(!help.contains("secret-from-env"), "{help}");
}

/// garm's `garm-cli` command tree (every command its `cmd/garm-cli/cmd` registers, by its
/// canonical name; aliases are checked in `aliases_match_garm_cli`).
const GARM_COMMANDS: &[&str] = &[
    "controller",
    "controller show",
    "controller tools",
    "controller tools delete",
    "controller tools list",
    "controller tools show",
    "controller tools show-release",
    "controller tools sync",
    "controller tools upload",
    "controller update",
    "credentials",
    "credentials list",
    "debug-events",
    "debug-log",
    "enterprise",
    "enterprise add",
    "enterprise delete",
    "enterprise list",
    "enterprise show",
    "enterprise update",
    "forge-instance",
    "forge-instance add",
    "forge-instance delete",
    "forge-instance list",
    "forge-instance show",
    "forge-instance update",
    "forge-instance webhook",
    "forge-instance webhook install",
    "forge-instance webhook show",
    "forge-instance webhook uninstall",
    "gitea",
    "gitea credentials",
    "gitea credentials add",
    "gitea credentials delete",
    "gitea credentials list",
    "gitea credentials show",
    "gitea credentials update",
    "gitea endpoint",
    "gitea endpoint create",
    "gitea endpoint delete",
    "gitea endpoint list",
    "gitea endpoint show",
    "gitea endpoint update",
    "github",
    "github credentials",
    "github credentials add",
    "github credentials delete",
    "github credentials list",
    "github credentials show",
    "github credentials update",
    "github endpoint",
    "github endpoint create",
    "github endpoint delete",
    "github endpoint list",
    "github endpoint show",
    "github endpoint update",
    "init",
    "job",
    "job list",
    "metrics-token",
    "metrics-token create",
    "object",
    "object create",
    "object download",
    "object list",
    "object remove",
    "object show",
    "object update",
    "organization",
    "organization add",
    "organization delete",
    "organization list",
    "organization show",
    "organization update",
    "organization webhook",
    "organization webhook install",
    "organization webhook show",
    "organization webhook uninstall",
    "pool",
    "pool add",
    "pool delete",
    "pool list",
    "pool runner",
    "pool runner list",
    "pool runner rotate",
    "pool show",
    "pool update",
    "profile",
    "profile add",
    "profile delete",
    "profile list",
    "profile login",
    "profile switch",
    "provider",
    "provider list",
    "proxy",
    "proxy create",
    "proxy delete",
    "proxy list",
    "proxy show",
    "proxy update",
    "repository",
    "repository add",
    "repository delete",
    "repository list",
    "repository show",
    "repository update",
    "repository webhook",
    "repository webhook install",
    "repository webhook show",
    "repository webhook uninstall",
    "runner",
    "runner delete",
    "runner list",
    "runner shell",
    "runner show",
    "scaleset",
    "scaleset add",
    "scaleset delete",
    "scaleset list",
    "scaleset runner",
    "scaleset runner list",
    "scaleset runner rotate",
    "scaleset show",
    "scaleset update",
    "template",
    "template copy",
    "template create",
    "template delete",
    "template download",
    "template edit",
    "template list",
    "template restore",
    "template show",
    "template update",
    "top",
    "version",
];

/// garm's commands this `garm-cli` does not have (listed in `docs/migrate-from-garm.md`).
const MISSING_COMMANDS: &[&str] = &[
    // garm-agent tools (issue 16, item 6)
    "controller tools",
    "controller tools delete",
    "controller tools list",
    "controller tools show",
    "controller tools show-release",
    "controller tools sync",
    "controller tools upload",
    // Gitea and its forge instances
    "forge-instance",
    "forge-instance add",
    "forge-instance delete",
    "forge-instance list",
    "forge-instance show",
    "forge-instance update",
    "forge-instance webhook",
    "forge-instance webhook install",
    "forge-instance webhook show",
    "forge-instance webhook uninstall",
    "gitea",
    "gitea credentials",
    "gitea credentials add",
    "gitea credentials delete",
    "gitea credentials list",
    "gitea credentials show",
    "gitea credentials update",
    "gitea endpoint",
    "gitea endpoint create",
    "gitea endpoint delete",
    "gitea endpoint list",
    "gitea endpoint show",
    "gitea endpoint update",
    // the object store and the agent shell (issue 16, item 6)
    "object",
    "object create",
    "object download",
    "object list",
    "object remove",
    "object show",
    "object update",
    "runner shell",
];

/// Every command path of our clap tree, `help` left out.
fn our_commands() -> std::collections::BTreeSet<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = if prefix.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{prefix} {}", sub.get_name())
            };
            walk(sub, &path, out);
            out.insert(path);
        }
    }
    use clap::CommandFactory as _;
    let mut out = std::collections::BTreeSet::new();
    walk(&Cli::command(), "", &mut out);
    out
}

#[test]
fn every_garm_command_exists_except_the_listed_missing_ones() {
    let ours = our_commands();
    let missing: Vec<&str> = GARM_COMMANDS.iter().copied().filter(|c| !ours.contains(*c)).collect();
    assert_eq!(
        missing, MISSING_COMMANDS,
        "garm commands we lack (left) against the documented list (right)"
    );
}
