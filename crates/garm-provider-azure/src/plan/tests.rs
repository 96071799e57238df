//! Tests for the instance plan.

use serde_json::json;

use super::*;
use crate::test_support::{bootstrap, config, specs, CONTROLLER, POOL};

fn plan_with(specs_json: serde_json::Value, extra_config: &str) -> Result<InstancePlan, AzureError> {
    let boot = bootstrap(specs_json);
    InstancePlan::build(CONTROLLER, POOL, &boot, &config(extra_config), &specs(&boot))
}

fn refusal(res: Result<InstancePlan, AzureError>) -> String {
    match res {
        Err(AzureError::Refused(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_issue_pool_becomes_a_confidential_vm_with_guest_state_encryption() {
    let plan = plan_with(json!({"confidential": true}), "").unwrap();
    assert_eq!(
        plan.security,
        Security::Confidential {
            encryption: ConfidentialDiskEncryption::VMGuestStateOnly,
            disk_encryption_set: None
        }
    );
    assert_eq!(plan.disk.storage_account_type, "StandardSSD_LRS");
    assert_eq!(plan.disk.size_gb, Some(127));
    assert!(!plan.disk.ephemeral);
    assert_eq!(plan.vm_size, "Standard_DC2as_v5");
    assert_eq!(plan.name, "garm-k3v9q2wz8d1a");
    assert_eq!(plan.computer_name, "garm-k3v9q2wz8d1a");
    assert_eq!(plan.network.vnet.unwrap().to_string(), "10.10.0.0/16");
    assert!(!plan.network.public_ip);
}

#[test]
fn disk_with_guest_state_and_a_disk_encryption_set_are_passed_on_request() {
    let des = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des";
    let plan = plan_with(
        json!({"confidential": true, "confidential_disk_encryption": "DiskWithVMGuestState", "disk_encryption_set_id": des, "storage_account_type": "Premium_LRS"}),
        "",
    )
    .unwrap();
    assert_eq!(
        plan.security,
        Security::Confidential {
            encryption: ConfidentialDiskEncryption::DiskWithVMGuestState,
            disk_encryption_set: Some(des.to_owned())
        }
    );
    assert_eq!(plan.disk.storage_account_type, "Premium_LRS");
    let err = refusal(plan_with(
        json!({"confidential": true, "disk_encryption_set_id": des}),
        "",
    ));
    assert!(err.contains("DiskWithVMGuestState"), "{err}");
}

#[test]
fn confidential_combinations_azure_refuses_are_refused_not_downgraded() {
    let err = refusal(plan_with(
        json!({"confidential": true, "use_ephemeral_storage": true}),
        "",
    ));
    assert!(err.contains("ephemeral"), "{err}");
    let err = refusal(plan_with(json!({"confidential": true}), "use_ephemeral_storage = true"));
    assert!(err.contains("ephemeral"), "{err}");

    let mut boot = bootstrap(json!({"confidential": true}));
    boot.flavor = "Standard_D2s_v5".to_owned();
    let err = refusal(InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot)));
    assert!(err.contains("Standard_D2s_v5") && err.contains("confidential"), "{err}");

    let mut boot = bootstrap(json!({"confidential": true}));
    boot.image = "Canonical:ubuntu-24_04-lts:server:latest".to_owned();
    let err = refusal(InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot)));
    assert!(err.contains("not a confidential VM image"), "{err}");

    let mut boot = bootstrap(json!({"confidential": true}));
    boot.arch = "arm64".to_owned();
    assert!(refusal(InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot))).contains("x86-64"));

    let err = refusal(plan_with(
        json!({"confidential_disk_encryption": "VMGuestStateOnly"}),
        "",
    ));
    assert!(err.contains("only apply"), "{err}");
}

#[test]
fn trusted_launch_applies_only_without_confidential() {
    let mut boot = bootstrap(json!({"trustedlaunch": true}));
    boot.flavor = "Standard_D2s_v5".to_owned();
    boot.image = "Canonical:ubuntu-24_04-lts:server:latest".to_owned();
    let plan = InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot)).unwrap();
    assert_eq!(plan.security, Security::TrustedLaunch);
    assert_eq!(plan.disk.storage_account_type, "Standard_LRS");
    let plan = plan_with(json!({"trustedlaunch": true, "confidential": true}), "").unwrap();
    assert!(matches!(plan.security, Security::Confidential { .. }));
    assert_eq!(plan.notes.len(), 1);
}

#[test]
fn nsg_rules_get_one_priority_counter_across_protocols() {
    let plan = plan_with(
        json!({"confidential": true, "open_inbound_ports": {"Tcp": [22, 443, 22], "Udp": [53]}}),
        "",
    )
    .unwrap();
    let rules: Vec<(&str, u16)> = plan
        .network
        .rules
        .iter()
        .map(|rule| (rule.name.as_str(), rule.priority))
        .collect();
    assert_eq!(
        rules,
        [
            ("inbound_Tcp_22", 200),
            ("inbound_Tcp_443", 201),
            ("inbound_Udp_53", 202)
        ]
    );
}

#[test]
fn tags_carry_controller_pool_and_os_facts_and_extra_tags_cannot_override_them() {
    let plan = plan_with(
        json!({"confidential": true, "extra_tags": {"team": "ci", "GARM-CONTROLLER-ID": "evil"}}),
        "",
    )
    .unwrap();
    let expected = [
        ("garm-controller-id", CONTROLLER),
        ("garm-pool-id", POOL),
        ("os_arch", "amd64"),
        ("os_name", "22_04-lts-cvm"),
        ("os_type", "linux"),
        ("os_version", "latest"),
        ("team", "ci"),
    ];
    let tags: Vec<(&str, &str)> = plan.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(tags, expected);
}

#[test]
fn isolation_can_be_disabled_with_an_existing_subnet() {
    let subnet = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s";
    let plan = plan_with(
        json!({"confidential": true, "disable_isolated_networks": true, "vnet_subnet_id": subnet}),
        "",
    )
    .unwrap();
    assert!(plan.network.vnet.is_none());
    assert_eq!(plan.network.existing_subnet.unwrap().as_str(), subnet);
    let plan = plan_with(
        json!({"confidential": true, "virtual_network_cidr": "10.40.0.0/20"}),
        "",
    )
    .unwrap();
    assert_eq!(plan.network.vnet.unwrap().to_string(), "10.40.0.0/20");
}

#[test]
fn linux_gets_a_throwaway_key_when_the_pool_has_none_and_windows_names_are_short() {
    let plan = plan_with(json!({"confidential": true}), "").unwrap();
    assert_eq!(plan.ssh_keys.len(), 1);
    assert!(crate::extra_specs::check_ssh_public_key(&plan.ssh_keys[0]).is_ok());

    let mut boot = bootstrap(
        json!({"runner_install_template": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "Write-Host hi")}),
    );
    boot.os_type = "windows".to_owned();
    boot.flavor = "Standard_D2s_v5".to_owned();
    boot.image = "MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition:latest".to_owned();
    boot.name = "garm-windows-runner-01".to_owned();
    let plan = InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot)).unwrap();
    assert_eq!(plan.computer_name, "garm-windows-ru");
    assert!(plan.ssh_keys.is_empty());
    assert!(plan.user_data.windows_command.is_some());
}

#[test]
fn names_azure_cannot_use_are_refused() {
    for bad in ["", "garm_1", "garm-1-", "x".repeat(65).as_str(), "garm 1"] {
        assert!(check_instance_name(bad).is_err(), "{bad:?}");
    }
    assert!(check_instance_name("garm-k3v9q2wz8d1a").is_ok());
}

#[test]
fn confidential_sizes_are_the_dc_and_ec_a_and_e_families() {
    for size in [
        "Standard_DC2as_v5",
        "Standard_EC16ads_v5",
        "standard_dc4es_v6",
        "Standard_DC2eds_v5",
        "Standard_EC8as_v6",
    ] {
        assert!(is_confidential_size(size), "{size}");
    }
    for size in [
        "Standard_D2s_v5",
        "Standard_DC2s_v3",
        "Standard_DC2as_v4",
        "Standard_E2as_v5",
        "DC2as_v5",
        "Standard_DCas_v5",
    ] {
        assert!(!is_confidential_size(size), "{size}");
    }
}

#[test]
fn passwords_are_long_and_mixed() {
    let password = random_password();
    let text = password.expose();
    assert_eq!(text.len(), 24);
    assert!(text.chars().any(|c| c.is_ascii_uppercase()));
    assert!(text.chars().any(|c| c.is_ascii_lowercase()));
    assert!(text.chars().any(|c| c.is_ascii_digit()));
    assert!(text.chars().any(|c| !c.is_ascii_alphanumeric()));
    assert_ne!(random_password(), password);
}
