//! Tests for the userdata builder.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use yaml_rust2::{Yaml, YamlLoader};

use super::*;
use crate::test_support::{bootstrap, specs};

const TEMPLATE: &str = "#!/bin/bash\necho {{ .MetadataURL }} {{ .CallbackToken }} {{ .RunnerName }} {{ .ExtraContext.Color }} {{ if .UseJITConfig }}jit{{ end }}\n";

fn yaml(custom_data: &[u8]) -> Yaml {
    let text = String::from_utf8(custom_data.to_vec()).unwrap();
    assert!(text.starts_with("#cloud-config\n"), "{text}");
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn file<'a>(doc: &'a Yaml, path: &str) -> &'a Yaml {
    doc["write_files"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|file| file["path"].as_str() == Some(path))
        .unwrap_or_else(|| panic!("no {path} in write_files"))
}

fn decoded(file: &Yaml) -> String {
    assert_eq!(file["encoding"].as_str(), Some("b64"));
    String::from_utf8(STANDARD.decode(file["content"].as_str().unwrap()).unwrap()).unwrap()
}

#[test]
fn linux_userdata_is_cloud_config_that_runs_the_rendered_template_as_runner() {
    let boot = bootstrap(json!({
        "runner_install_template": STANDARD.encode(TEMPLATE),
        "extra_context": {"Color": "blue"},
        "pre_install_scripts": {"20-second": STANDARD.encode("echo 2"), "10-first": STANDARD.encode("echo 1")},
        "extra_packages": ["jq"]
    }));
    let data = build(&boot, &specs(&boot), OsType::Linux).unwrap();
    assert!(data.windows_command.is_none());
    let doc = yaml(&data.custom_data);
    assert_eq!(doc["package_upgrade"].as_bool(), Some(true));
    let packages: Vec<&str> = doc["packages"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(packages, ["curl", "tar", "jq"]);
    assert_eq!(doc["system_info"]["default_user"]["name"].as_str(), Some("runner"));
    assert_eq!(
        doc["system_info"]["default_user"]["sudo"].as_str(),
        Some("ALL=(ALL) NOPASSWD:ALL")
    );

    let script = decoded(file(&doc, INSTALL_SCRIPT_PATH));
    assert_eq!(
        script,
        "#!/bin/bash\necho https://garm.example.com/api/v1/metadata instance-token-value garm-k3v9q2wz8d1a blue jit\n"
    );
    assert_eq!(file(&doc, INSTALL_SCRIPT_PATH)["permissions"].as_str(), Some("0755"));
    assert_eq!(decoded(file(&doc, "/garm-pre-install/10-first")), "echo 1");

    let runcmd: Vec<String> = doc["runcmd"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|cmd| {
            cmd.as_vec()
                .unwrap()
                .iter()
                .map(|arg| arg.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        runcmd,
        [
            "/garm-pre-install/10-first",
            "/garm-pre-install/20-second",
            "rm -rf /garm-pre-install",
            "su -l -c /install_runner.sh runner",
            "rm -f /install_runner.sh"
        ]
    );
}

#[test]
fn disabled_updates_drop_the_upgrade_and_packages_and_ca_bundles_are_trusted() {
    let mut boot = bootstrap(json!({"disable_updates": true, "runner_install_template": STANDARD.encode("true\n")}));
    boot.ca_cert_bundle = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec();
    boot.proxy_config.https_proxy = "http://proxy:3128".to_owned();
    let doc = yaml(&build(&boot, &specs(&boot), OsType::Linux).unwrap().custom_data);
    assert_eq!(doc["package_upgrade"].as_bool(), Some(false));
    assert!(doc["packages"].is_badvalue());
    let trusted = doc["ca_certs"]["trusted"][0].as_str().unwrap();
    assert!(trusted.starts_with("-----BEGIN CERTIFICATE-----\nMIIB"), "{trusted}");
    assert!(decoded(file(&doc, "/etc/apt/apt.conf.d/95-garm-proxy")).contains("http://proxy:3128"));
}

#[test]
fn without_a_template_the_built_in_script_is_rendered() {
    let boot = bootstrap(json!({}));
    let script = install_script(&boot, &specs(&boot), OsType::Linux).unwrap();
    assert!(script.contains("https://garm.example.com/api/v1/callbacks"), "{script}");
    assert!(!script.contains("{{"), "{script}");
}

#[test]
fn windows_userdata_is_the_script_run_by_the_extension_command() {
    let mut boot = bootstrap(json!({"runner_install_template": STANDARD.encode("Write-Host {{ .RunnerName }}")}));
    boot.os_type = "windows".to_owned();
    let data = build(&boot, &specs(&boot), OsType::Windows).unwrap();
    assert_eq!(
        String::from_utf8(data.custom_data).unwrap(),
        "#ps1_sysnative\nWrite-Host garm-k3v9q2wz8d1a"
    );
    let command = data.windows_command.unwrap();
    let encoded = command
        .strip_prefix("powershell.exe -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ")
        .unwrap();
    let bytes = STANDARD.decode(encoded).unwrap();
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let script = String::from_utf16(&units).unwrap();
    assert!(script.contains(r"C:\AzureData\CustomData.bin"), "{script}");
    assert!(script.contains("Remove-Item"), "{script}");
}

#[test]
fn oversized_userdata_is_refused_before_azure_sees_it() {
    let big = STANDARD.encode("x".repeat(60_000));
    let boot =
        bootstrap(json!({"pre_install_scripts": {"big": big}, "runner_install_template": STANDARD.encode("true")}));
    let err = build(&boot, &specs(&boot), OsType::Linux).unwrap_err();
    assert!(matches!(err, AzureError::Refused(_)), "{err}");
    assert!(err.to_string().contains("65535"), "{err}");
}

#[test]
fn a_template_that_does_not_parse_is_a_clear_error() {
    let boot = bootstrap(json!({"runner_install_template": STANDARD.encode("{{ if }")}));
    let err = build(&boot, &specs(&boot), OsType::Linux).unwrap_err().to_string();
    assert!(err.contains("runner_install_template"), "{err}");
}

#[test]
fn debug_output_never_shows_the_custom_data() {
    let boot = bootstrap(json!({"runner_install_template": STANDARD.encode("echo {{ .CallbackToken }}")}));
    let data = build(&boot, &specs(&boot), OsType::Linux).unwrap();
    let shown = format!("{data:?}");
    assert!(
        !shown.contains("instance-token-value") && !shown.contains("Y2xvdWQ"),
        "{shown}"
    );
}
