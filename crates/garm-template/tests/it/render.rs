//! The embedded templates parse and render the commands each mode needs.

use garm_template::{parse, system_template, wrapper_template};
use serde_json::json;

use crate::support::{assert_bash_syntax, context, render};

fn linux() -> &'static str {
    system_template("github", "linux").expect("github linux template")
}

fn windows() -> &'static str {
    system_template("github", "windows").expect("github windows template")
}

#[test]
fn every_embedded_template_parses() {
    for template in [
        linux(),
        windows(),
        wrapper_template("linux"),
        wrapper_template("windows"),
    ] {
        parse(template).unwrap_or_else(|err| panic!("embedded template: {err}"));
    }
}

#[test]
fn templates_exist_only_for_supported_forges() {
    assert!(system_template("gitea", "linux").is_none());
    assert!(system_template("github", "freebsd").is_none());
    assert_ne!(wrapper_template("linux"), wrapper_template("windows"));
    assert_eq!(wrapper_template("anything-else"), wrapper_template("linux"));
}

#[test]
fn linux_script_renders_the_instance_values() {
    let script = render(linux(), &context(false));
    assert!(script.starts_with("#!/bin/bash\n"));
    for expected in [
        "https://garm.example.com/api/v1/metadata",
        "https://garm.example.com/api/v1/callbacks",
        "instance-jwt-token",
        "https://github.com/actions/runner/releases/download/v2.320.0/actions-runner-linux-x64-2.320.0.tar.gz",
        "https://github.com/example/repo",
        "garm-ny9heeqyw2rl",
        "ubuntu,x64,runner-controller-id=c1",
        "set -e",
        r#"STATUS_URL="$CALLBACK_URL/status""#,
        r#"SYSTEM_INFO_URL="$CALLBACK_BASE/system-info/""#,
        "bin/installdependencies.sh",
        r#""runner successfully installed""#,
        "nohup",
    ] {
        assert!(script.contains(expected), "missing {expected:?}");
    }
    assert!(!script.contains("{{"), "unrendered action left");
    assert!(!script.contains("<no value>"));
    assert!(!script.contains("set -x"));
    assert_bash_syntax(&script);
}

#[test]
fn linux_script_without_jit_registers_with_a_token() {
    let script = render(linux(), &context(false));
    assert!(script.contains("fetch_metadata runner-registration-token"));
    assert!(script.contains(
        r#"CONFIG_ARGS=(--unattended --url "$REPO_URL" --token "$REGISTRATION_TOKEN" --name "$RUNNER_NAME" --labels "$RUNNER_LABELS" --no-default-labels --ephemeral)"#
    ));
    assert!(script.contains(r#"./config.sh "${CONFIG_ARGS[@]}""#));
    assert!(script.contains("./svc.sh install"));
    assert!(!script.contains("--runnergroup"));
    assert!(!script.contains("credentials/runner"));
    assert!(!script.contains("systemd/unit-file"));
}

#[test]
fn linux_script_passes_the_runner_group_when_set() {
    let mut data = context(false);
    data["GitHubRunnerGroup"] = json!("my group");
    let script = render(linux(), &data);
    assert!(script.contains(r#"CONFIG_ARGS+=(--runnergroup "$GITHUB_RUNNER_GROUP")"#));
    assert!(script.contains("\nmy group\n"));
    assert_bash_syntax(&script);
}

#[test]
fn linux_script_with_jit_fetches_credentials_instead_of_configuring() {
    let script = render(linux(), &context(true));
    for expected in [
        r#"fetch_metadata credentials/runner -o "$RUNNER_DIR/.runner""#,
        r#"fetch_metadata credentials/credentials -o "$RUNNER_DIR/.credentials""#,
        r#"fetch_metadata credentials/credentials_rsaparams -o "$RUNNER_DIR/.credentials_rsaparams""#,
        "fetch_metadata system/service-name",
        r#"fetch_metadata "systemd/unit-file?runAsUser=$RUNNER_USERNAME""#,
        "systemctl enable --now",
    ] {
        assert!(script.contains(expected), "missing {expected:?}");
    }
    assert!(!script.contains("runner-registration-token"));
    assert!(!script.contains("./config.sh"));
    assert!(!script.contains("./svc.sh"));
    assert_bash_syntax(&script);
}

#[test]
fn linux_script_of_an_attesting_pool_runs_garm_attest_before_asking_for_credentials() {
    for jit in [true, false] {
        let mut data = context(jit);
        data["Attestation"] = json!(true);
        data["AttestationReplay"] = json!("/var/lib/evidence's file.json");
        let script = render(linux(), &data);
        let attest = script
            .find(r#""$RUNNER_DIR/garm-attest" "${ATTEST_ARGS[@]}""#)
            .expect("garm-attest runs");
        let download = script
            .find(r#"fetch_metadata tools/garm-attest -o "$RUNNER_DIR/garm-attest""#)
            .expect("garm-attest is downloaded from garm");
        let credentials = script
            .find(if jit {
                "fetch_metadata credentials/runner"
            } else {
                "fetch_metadata runner-registration-token"
            })
            .expect("credentials are fetched");
        assert!(download < attest && attest < credentials, "order of the steps");
        assert!(
            script.contains("\n/var/lib/evidence's file.json\n"),
            "the replay path stays literal"
        );
        assert_bash_syntax(&script);
    }
    let plain = render(linux(), &context(true));
    assert!(!plain.contains("garm-attest"));
}

#[test]
fn linux_script_options_render_valid_bash() {
    let mut data = context(false);
    data["EnableBootDebug"] = json!(true);
    data["HTTPProxy"] = json!("http://user:p%40ss@proxy:3128");
    data["HTTPSProxy"] = json!("http://proxy:3128");
    data["NoProxy"] = json!("localhost,.internal");
    data["CABundle"] = json!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    data["TempDownloadToken"] = json!("download-token");
    data["ExtraContext"] = json!({"RunnerDir": "/opt/runner", "RunnerStartMode": "direct"});
    let script = render(linux(), &data);
    for expected in [
        "\nset -x\n",
        "http://user:p%40ss@proxy:3128",
        "localhost,.internal",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "download-token",
        "\n/opt/runner\n",
        "\ndirect\n",
    ] {
        assert!(script.contains(expected), "missing {expected:?}");
    }
    assert_bash_syntax(&script);
}

#[test]
fn linux_script_tolerates_a_null_extra_context() {
    let mut data = context(true);
    data["ExtraContext"] = serde_json::Value::Null;
    let script = render(linux(), &data);
    assert!(!script.contains("<no value>"));
    assert_bash_syntax(&script);
}

#[test]
fn windows_script_renders_both_registration_modes() {
    let jit = render(windows(), &context(true));
    assert!(jit.starts_with("#ps1_sysnative\n"));
    for expected in [
        "https://garm.example.com/api/v1/metadata",
        "instance-jwt-token",
        "credentials/$name",
        "bin\\RunnerService.exe",
        "DataProtectionScope]::LocalMachine",
        "system/service-name",
        "'runner successfully installed'",
    ] {
        assert!(jit.contains(expected), "missing {expected:?}");
    }
    assert!(!jit.contains("$configScript"));
    assert!(!jit.contains("runner-registration-token"));
    assert!(!jit.contains("{{"));

    let mut data = context(false);
    data["GitHubRunnerGroup"] = json!("windows-group");
    let token = render(windows(), &data);
    for expected in [
        "runner-registration-token",
        "'--no-default-labels', '--ephemeral'",
        "'--runasservice'",
        "$configArgs += @('--runnergroup', $GitHubRunnerGroup)",
        "windows-group",
    ] {
        assert!(token.contains(expected), "missing {expected:?}");
    }
    assert!(!token.contains("RunnerService.exe"));
    assert!(!token.contains("{{"));
}

fn wrapper_context() -> serde_json::Value {
    json!({
        "MetadataURL": "https://garm.example.com/api/v1/metadata",
        "CallbackURL": "https://garm.example.com/api/v1/callbacks",
        "CallbackToken": "wrapper-jwt-token",
        "HTTPProxy": "http://proxy:3128",
        "HTTPSProxy": "",
        "NoProxy": "",
    })
}

#[test]
fn linux_wrapper_renders_to_a_plain_script() {
    let wrapper = render(wrapper_template("linux"), &wrapper_context());
    assert!(wrapper.starts_with("#!/bin/bash\n"));
    assert!(wrapper.contains("\nwrapper-jwt-token\n"));
    assert!(wrapper.contains(r#""$METADATA_URL/install-script/""#));
    assert!(wrapper.contains("--retry 5 --retry-connrefused"));
    assert!(wrapper.contains("failed to fetch install script (HTTP ${HTTP_CODE:-000}): "));
    assert!(wrapper.contains("http://proxy:3128"));
    assert!(!wrapper.contains("{{"));
    assert!(!wrapper.contains("<no value>"));
    assert_bash_syntax(&wrapper);
    // The provider renders the wrapper a second time; it must come through unchanged.
    assert_eq!(render(&wrapper, &json!({"RunnerName": "x"})), wrapper);
}

#[test]
fn windows_wrapper_renders_to_a_plain_script() {
    let mut data = wrapper_context();
    data["CABundle"] = json!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
    let wrapper = render(wrapper_template("windows"), &data);
    assert!(wrapper.starts_with("#ps1_sysnative\n"));
    assert!(wrapper.contains("\nwrapper-jwt-token\n"));
    assert!(wrapper.contains("\"$MetadataUrl/install-script/\""));
    assert!(wrapper.contains("failed to fetch install script (HTTP $statusCode): $reason"));
    assert!(!wrapper.contains("{{"));
    assert_eq!(render(&wrapper, &json!({})), wrapper);
}
