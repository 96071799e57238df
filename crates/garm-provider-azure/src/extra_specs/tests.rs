//! Tests for the extra specs schema.

use super::*;

/// A well-formed RSA key from the upstream SSH example. (The generated throwaway key is
/// checked against `check_ssh_public_key` in the plan's tests.)
const RSA_KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCeClRAk2ipUs/l5voIsDC5q9RI+YSRd1Bvd/O+axgY4WiBzG+4FwJWZm/mLLe5DoOdHQwmU2FrKXZSW4w2sYE70KeWnrFViCOX5MTVvJgPE8ClugNl8RWth/tU849DvM9sT7vFgfVSHcAS2yDRyDlueii+8nF2ym8XWAPltFVCyLHRsyBp5YPqK8JFYIa1eybKsY3hEAxRCA+/7bq8et+Gj3coOsuRmrehav7rE6N12Pb80I6ofa6SM5XNYq4Xk0iYNx7R3kdz0Jj9XgZYWjAHjJmT0gTRoOnt6upOuxK7xI/ykWrllgpXrCPu3Ymz+c+ujaqcxDopnAl2lmf69/J1 me@host";

fn parse(json: &str) -> Result<CheckedSpecs, AzureError> {
    ExtraSpecs::parse(Some(json))
}

#[test]
fn nothing_null_and_empty_objects_mean_no_specs() {
    for json in [None, Some("null"), Some("{}"), Some("  ")] {
        let specs = ExtraSpecs::parse(json).unwrap();
        assert!(specs.raw.confidential.is_none());
    }
    assert!(parse("[]").is_err());
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    let err = parse(r#"{"confidental": true}"#).unwrap_err().to_string();
    assert!(err.contains("unknown field `confidental`"), "{err}");
    let err = parse(r#"{"confidential": "true"}"#).unwrap_err().to_string();
    assert!(err.contains("expected a boolean"), "{err}");
    assert!(parse(r#"{"disk_size_gb": -1}"#).is_err());
    assert!(parse(r#"{"open_inbound_ports": {"Tcp": [70000]}}"#).is_err());
}

#[test]
fn garm_cloud_config_keys_are_accepted_and_decoded() {
    let specs = parse(
        r#"{"runner_install_template": "IyEvYmluL2Jhc2gKZWNobyBoaQo=",
            "extra_context": {"RunnerDir": "/opt/runner"},
            "pre_install_scripts": {"01-setup": "ZWNobyBwcmUK"},
            "enable_boot_debug": true, "disable_updates": true, "extra_packages": ["jq"]}"#,
    )
    .unwrap();
    assert_eq!(specs.runner_install_template.as_deref(), Some("#!/bin/bash\necho hi\n"));
    assert_eq!(specs.pre_install_scripts["01-setup"], b"echo pre\n");
    assert_eq!(specs.raw.extra_context.unwrap()["RunnerDir"], "/opt/runner");
    assert!(parse(r#"{"runner_install_template": "not base64!"}"#).is_err());
    assert!(parse(r#"{"pre_install_scripts": {"../x": "ZWNobwo="}}"#).is_err());
}

#[test]
fn every_documented_key_parses() {
    let des = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des";
    let json = serde_json::json!({
        "allocate_public_ip": true, "open_inbound_ports": {"Tcp": [22], "Udp": [53], "Icmp": [1]},
        "storage_account_type": "Premium_LRS", "disk_size_gb": 64, "extra_tags": {"team": "ci"},
        "ssh_public_keys": [RSA_KEY], "confidential": true,
        "confidential_disk_encryption": "DiskWithVMGuestState", "disk_encryption_set_id": des,
        "trustedlaunch": false, "use_ephemeral_storage": false, "virtual_network_cidr": "10.30.0.0/16",
        "use_accelerated_networking": true,
        "vnet_subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
        "disable_isolated_networks": false, "disable_updates": false, "enable_boot_debug": false, "extra_packages": []
    });
    let specs = parse(&json.to_string()).unwrap();
    assert_eq!(
        specs.raw.confidential_disk_encryption,
        Some(ConfidentialDiskEncryption::DiskWithVMGuestState)
    );
    assert_eq!(specs.ignored_protocols, ["Icmp"]);
    assert_eq!(specs.virtual_network_cidr.unwrap().to_string(), "10.30.0.0/16");
}

#[test]
fn values_azure_would_refuse_are_refused_early() {
    assert!(parse(r#"{"storage_account_type": "UltraSSD_LRS"}"#).is_err());
    assert!(parse(r#"{"confidential_disk_encryption": "Everything"}"#).is_err());
    assert!(parse(r#"{"disk_encryption_set_id": "/subscriptions/x"}"#).is_err());
    assert!(parse(r#"{"virtual_network_cidr": "10.0.0.1/16"}"#).is_err());
    assert!(parse(r#"{"extra_tags": {"a/b": "x"}}"#).is_err());
    let long = "x".repeat(257);
    assert!(parse(&format!(r#"{{"extra_tags": {{"a": "{long}"}}}}"#)).is_err());
}

#[test]
fn ssh_keys_must_be_openssh_public_keys() {
    assert!(check_ssh_public_key(RSA_KEY).is_ok());
    assert!(check_ssh_public_key("ssh-rsa").is_err());
    assert!(check_ssh_public_key("ssh-dss AAAA").is_err());
    assert!(check_ssh_public_key("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQCe").is_err());
}
