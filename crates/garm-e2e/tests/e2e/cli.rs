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
