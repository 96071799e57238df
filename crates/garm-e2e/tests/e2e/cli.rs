//! The documented `garm-cli` sequence, run with the built `garm-cli` against a live garm.

use garm_e2e::{bin, Garm, ProviderSpec, TempDir, PASSWORD};
use std::process::Command;

const AZURE: ProviderSpec = ProviderSpec {
    name: "azure_external",
    extra: "",
    run_userdata: false,
};

fn cli(home: &TempDir, args: &[&str]) -> String {
    let out = Command::new(bin("garm-cli"))
        .args(args)
        .env("HOME", &home.0)
        .output()
        .expect("garm-cli runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "garm-cli {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_cli_sequence_works_against_a_live_garm() {
    let garm = Garm::start(&[AZURE]).await.unwrap();
    let home = TempDir::new("cli-home");
    let url = garm.url();
    let out = cli(
        &home,
        &[
            "init",
            "--name",
            "local",
            "--url",
            &url,
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            PASSWORD,
        ],
    );
    assert!(out.contains("admin@example.com"));
    let profiles = cli(&home, &["profile", "ls"]);
    assert!(
        profiles.contains("local (current)") && profiles.contains(&url),
        "{profiles}"
    );
    cli(
        &home,
        &[
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
            "ghp_cliSecretToken",
        ],
    );
    let repo = cli(
        &home,
        &[
            "repository",
            "add",
            "--credentials",
            "garm",
            "--name",
            "garm-playground",
            "--owner",
            "mkulke",
            "--webhook-secret",
            "cli-webhook-secret",
        ],
    );
    for field in [
        "ID",
        "Owner",
        "mkulke",
        "Name",
        "garm-playground",
        "Credentials",
        "Pool manager running",
    ] {
        assert!(repo.contains(field), "repository add shows {field}: {repo}");
    }
    let list = cli(&home, &["repo", "ls"]);
    for col in ["ID", "OWNER", "NAME", "CREDENTIALS NAME", "POOL MGR RUNNING"] {
        assert!(list.to_uppercase().contains(col), "repo ls shows {col}: {list}");
    }
    let json: serde_json::Value = serde_json::from_str(&cli(&home, &["repo", "ls", "--format", "json"])).unwrap();
    let repo_id = json[0]["id"].as_str().unwrap().to_string();
    let pool = cli(
        &home,
        &[
            "pool",
            "add",
            "--repo",
            &repo_id,
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
            "{\"confidential\": true}",
            "--provider-name",
            "azure_external",
            "--image",
            "Canonical:0001-com-ubuntu-confidential-vm-jammy:22_04-lts-cvm:latest",
        ],
    );
    assert!(
        pool.contains("Standard_DC2as_v5") && pool.contains("azure_external") && pool.contains("confidential"),
        "{pool}"
    );
    let pools = cli(&home, &["pool", "ls"]);
    assert!(pools.contains("self-hosted azure-cvm ubuntu-2204"), "{pools}");
    cli(&home, &["runner", "ls"]);
    cli(&home, &["job", "list"]);
    let providers = cli(&home, &["provider", "list"]);
    assert!(providers.contains("azure_external"));
    // The secrets given on the command line are not in the server's log.
    let log = garm.log();
    assert!(!log.contains("ghp_cliSecretToken") && !log.contains("cli-webhook-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_commands_work_against_a_live_garm() {
    let garm = Garm::start(&[AZURE]).await.unwrap();
    let home = TempDir::new("cli-home");
    let url = garm.url();
    cli(
        &home,
        &[
            "init",
            "--name",
            "local",
            "--url",
            &url,
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            PASSWORD,
        ],
    );
    let list = cli(&home, &["template", "list"]);
    assert!(
        list.contains("github_linux") && list.contains("github_windows"),
        "{list}"
    );
    let file = home.0.join("mine.sh");
    std::fs::write(&file, "#!/bin/bash\necho v1 {{ .RunnerName }}\n").unwrap();
    let path = file.to_str().unwrap();
    let created = cli(
        &home,
        &[
            "template",
            "create",
            "--name",
            "mine",
            "--description",
            "ours",
            "--path",
            path,
            "--forge-type",
            "github",
            "--os-type",
            "linux",
        ],
    );
    assert!(created.contains("| Name") && created.contains("mine"), "{created}");
    let shown = cli(&home, &["--format", "json", "template", "show", "mine"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["id"], 3);
    // Edit through $EDITOR: a script that rewrites the file in place.
    let editor = home.0.join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/v1/v2/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(bin("garm-cli"))
        .args(["template", "edit", "mine"])
        .env("HOME", &home.0)
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("changes saved successfully"));
    let copy = cli(&home, &["template", "copy", "mine", "mine-copy"]);
    assert!(copy.contains("mine-copy") && copy.contains("ours"), "{copy}");
    let target = home.0.join("downloaded.sh");
    cli(
        &home,
        &["template", "download", "mine-copy", "--path", target.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "#!/bin/bash\necho v2 {{ .RunnerName }}\n"
    );
    cli(&home, &["template", "update", "mine-copy", "--name", "renamed"]);
    let filtered = cli(&home, &["template", "list", "--name", "renam"]);
    assert!(
        filtered.contains("renamed") && !filtered.contains("github_linux"),
        "{filtered}"
    );
    cli(&home, &["template", "delete", "renamed"]);
    let restored = cli(&home, &["template", "restore"]);
    assert!(restored.contains("templates restored successfully"));
    let after = cli(&home, &["--format", "json", "template", "list"]);
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&after)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["github_windows", "github_linux", "mine"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_commands_work_against_a_live_garm() {
    let garm = Garm::start(&[AZURE]).await.unwrap();
    let home = TempDir::new("cli-home");
    let url = garm.url();
    cli(
        &home,
        &[
            "init",
            "--name",
            "local",
            "--url",
            &url,
            "--username",
            "admin",
            "--email",
            "admin@example.com",
            "--password",
            PASSWORD,
        ],
    );
    let created = cli(
        &home,
        &[
            "proxy",
            "create",
            "--name",
            "corp",
            "--http-proxy",
            "http://proxy.example:3128",
            "--username",
            "svc",
            "--password",
            "cli-proxy-secret",
        ],
    );
    assert!(
        created.contains("Auth Enabled") && !created.contains("cli-proxy-secret"),
        "{created}"
    );
    let list = cli(&home, &["proxy", "list"]);
    assert!(
        list.contains("corp") && list.contains("http://proxy.example:3128"),
        "{list}"
    );
    let updated = cli(
        &home,
        &["proxy", "update", "corp", "--https-proxy", "http://proxy.example:3129"],
    );
    assert!(
        updated.contains("http://proxy.example:3129") && updated.contains("svc"),
        "{updated}"
    );
    let shown = cli(&home, &["--format", "json", "proxy", "show", "corp"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["http_proxy"], "http://proxy.example:3128");
    assert!(shown.get("password").is_none());
    cli(&home, &["proxy", "delete", "corp"]);
    assert_eq!(cli(&home, &["--format", "json", "proxy", "list"]).trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_runner_rotate_replaces_the_idle_runners() {
    const SANDBOX: ProviderSpec = ProviderSpec {
        name: "sandbox",
        extra: "",
        run_userdata: true,
    };
    let world = garm_e2e::World::start(&[SANDBOX]).await.unwrap();
    let pool = world
        .add_pool("sandbox", serde_json::json!({"min_idle_runners": 2, "max_runners": 3}))
        .await
        .unwrap();
    let api = &world.garm.api;
    let idle_names = async || -> Option<Vec<String>> {
        let all = api.instances().await;
        let idle: Vec<String> = all
            .iter()
            .filter(|i| i["status"] == "running" && i["runner_status"] == "idle")
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect();
        (idle.len() == 2).then_some(idle)
    };
    let before = garm_e2e::wait_for("two idle runners", std::time::Duration::from_secs(90), idle_names).await;
    let home = TempDir::new("cli-home");
    let url = world.garm.url();
    cli(
        &home,
        &[
            "profile",
            "add",
            "--name",
            "w",
            "--url",
            &url,
            "--username",
            "admin",
            "--password",
            PASSWORD,
        ],
    );
    let dry = cli(&home, &["pool", "runner", "rotate", &pool, "--dry-run"]);
    assert!(dry.contains("Would remove 2 idle runner(s)"), "{dry}");
    let out = cli(&home, &["pool", "runner", "rotate", &pool, "--yes-i-really-mean-it"]);
    assert!(out.contains("Removed 2 runner(s), skipped 0."), "{out}");
    // The pool manager brings the pool back to two idle runners, all of them new.
    let after = garm_e2e::wait_for(
        "two fresh idle runners",
        std::time::Duration::from_secs(120),
        async || {
            let now = idle_names().await?;
            now.iter().all(|n| !before.contains(n)).then_some(now)
        },
    )
    .await;
    assert_eq!(after.len(), 2);
}

/// `garm-cli profile add` for a live garm, into a fresh home.
fn profile_for(url: &str) -> TempDir {
    let home = TempDir::new("cli-home");
    cli(
        &home,
        &[
            "profile",
            "add",
            "--name",
            "w",
            "--url",
            url,
            "--username",
            "admin",
            "--password",
            PASSWORD,
        ],
    );
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_list_long_profiles_and_webhooks_print_as_garms_cli_prints_them() {
    const SANDBOX: ProviderSpec = ProviderSpec {
        name: "sandbox",
        extra: "",
        run_userdata: true,
    };
    let world = garm_e2e::World::start(&[SANDBOX]).await.unwrap();
    world.add_pool("sandbox", serde_json::json!({})).await.unwrap();
    let job = world.queue(&["self-hosted", "linux", "e2e"], std::time::Duration::from_secs(60));
    let api = &world.garm.api;
    let busy = garm_e2e::wait_for(
        "the job to run on one of our runners",
        std::time::Duration::from_secs(90),
        async || {
            let all = api.instances().await;
            all.into_iter()
                .find(|i| i["job"]["workflow_job_id"] == job && i["job"]["status"] == "in_progress")
        },
    )
    .await;
    let url = world.garm.url();
    let home = profile_for(&url);

    // runner list --long: garm's columns, the job's filled in.
    let long = cli(&home, &["runner", "list", "--long"]);
    let lines: Vec<&str> = long.lines().collect();
    let header: Vec<&str> = lines[1].split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(
        header,
        [
            "NR",
            "NAME",
            "STATUS",
            "RUNNER STATUS",
            "POOL / SCALE SET",
            "CREATED AT",
            "UPDATED AT",
            "JOB NAME",
            "STARTED AT",
            "RUN ID",
            "REPOSITORY"
        ],
        "{long}"
    );
    let row = long
        .lines()
        .find(|l| l.contains(busy["name"].as_str().unwrap()))
        .expect("the busy runner is listed");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[8], busy["job"]["name"].as_str().unwrap(), "{row}");
    assert_eq!(cells[10], busy["job"]["run_id"].to_string(), "{row}");
    assert_eq!(cells[11], "acme/widgets", "{row}");
    for time in [cells[6], cells[9]] {
        assert!(time.ends_with(" +0000 UTC") && time.len() >= 29, "a Go time: {row}");
    }
    // Lists carry the job and no addresses, as garm's do.
    let listed: serde_json::Value = serde_json::from_str(&cli(&home, &["--format", "json", "runner", "list"])).unwrap();
    let listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == busy["name"])
        .unwrap();
    assert_eq!(listed["job"]["workflow_job_id"], job);
    assert!(listed.get("addresses").is_none(), "{listed}");

    // profile list --format json: garm's config struct, Go field names.
    let profiles: serde_json::Value =
        serde_json::from_str(&cli(&home, &["profile", "list", "--format", "json"])).unwrap();
    let profiles = profiles.as_array().unwrap();
    assert_eq!(profiles.len(), 1);
    let mut keys: Vec<&String> = profiles[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["BaseURL", "Name", "Token"]);
    assert_eq!(profiles[0]["Name"], "w");
    assert_eq!(profiles[0]["BaseURL"], url.as_str());
    assert!(
        profiles[0]["Token"].as_str().unwrap().split('.').count() == 3,
        "the bearer token"
    );
    assert!(cli(&home, &["profile", "list"]).contains("w (current)"));

    // webhook show: garm prints the table whatever --format says.
    for format in ["json", "table"] {
        let shown = cli(
            &home,
            &["repository", "webhook", "show", &world.repo_id, "--format", format],
        );
        assert!(serde_json::from_str::<serde_json::Value>(&shown).is_err(), "{shown}");
        for field in [
            "| ID ",
            "| URL ",
            "| Events ",
            "[workflow_job]",
            "| Active ",
            "| Insecure SSL ",
        ] {
            assert!(shown.contains(field), "{field} in {shown}");
        }
    }
}
