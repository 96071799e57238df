//! Tests for the request bodies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::test_support::{bootstrap, config, specs, CONTROLLER, POOL};

fn plan(specs_json: serde_json::Value) -> InstancePlan {
    let boot = bootstrap(specs_json);
    InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot)).unwrap()
}

const NIC: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/g";

#[test]
fn the_confidential_vm_body_has_the_security_and_disk_profiles_azure_needs() {
    let plan = plan(json!({"confidential": true}));
    let body = virtual_machine(&plan, NIC, None);
    assert_eq!(
        body["properties"]["securityProfile"],
        json!({"securityType": "ConfidentialVM", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}})
    );
    let disk = &body["properties"]["storageProfile"]["osDisk"];
    assert_eq!(
        disk["managedDisk"],
        json!({"storageAccountType": "StandardSSD_LRS", "securityProfile": {"securityEncryptionType": "VMGuestStateOnly"}})
    );
    assert_eq!(disk["createOption"], "FromImage");
    assert!(disk.get("diffDiskSettings").is_none());
    assert_eq!(body["properties"]["hardwareProfile"]["vmSize"], "Standard_DC2as_v5");
    assert_eq!(
        body["properties"]["storageProfile"]["imageReference"]["sku"],
        "22_04-lts-cvm"
    );
    let linux = &body["properties"]["osProfile"]["linuxConfiguration"];
    assert_eq!(linux["disablePasswordAuthentication"], true);
    assert_eq!(
        linux["ssh"]["publicKeys"][0]["path"],
        "/home/runner/.ssh/authorized_keys"
    );
    let custom = STANDARD
        .decode(body["properties"]["osProfile"]["customData"].as_str().unwrap())
        .unwrap();
    assert_eq!(custom, plan.user_data.custom_data);
    assert_eq!(body["tags"]["garm-controller-id"], CONTROLLER);
    assert_eq!(body["properties"]["networkProfile"]["networkInterfaces"][0]["id"], NIC);
    // Managed boot diagnostics: the boot log is there when a runner never calls back.
    assert_eq!(
        body["properties"]["diagnosticsProfile"],
        serde_json::json!({"bootDiagnostics": {"enabled": true}})
    );
}

#[test]
fn a_disk_encryption_set_goes_into_the_os_disk_security_profile() {
    let des = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des";
    let plan = plan(
        json!({"confidential": true, "confidential_disk_encryption": "DiskWithVMGuestState", "disk_encryption_set_id": des}),
    );
    let body = virtual_machine(&plan, NIC, None);
    assert_eq!(
        body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"],
        json!({"securityEncryptionType": "DiskWithVMGuestState", "diskEncryptionSet": {"id": des}})
    );
}

#[test]
fn ephemeral_disks_are_local_read_only_without_a_security_profile() {
    let mut boot = bootstrap(json!({"use_ephemeral_storage": true}));
    boot.flavor = "Standard_D2ds_v5".to_owned();
    boot.image = "Canonical:ubuntu-24_04-lts:server:latest".to_owned();
    let plan = InstancePlan::build(CONTROLLER, POOL, &boot, &config(""), &specs(&boot)).unwrap();
    let placement = EphemeralPlacement {
        placement: "CacheDisk",
        size_gb: 50,
    };
    let body = virtual_machine(&plan, NIC, Some(placement));
    let disk = &body["properties"]["storageProfile"]["osDisk"];
    assert_eq!(
        disk["diffDiskSettings"],
        json!({"option": "Local", "placement": "CacheDisk"})
    );
    assert_eq!(disk["caching"], "ReadOnly");
    assert_eq!(disk["diskSizeGB"], 50);
    assert!(body["properties"].get("securityProfile").is_none());
}

#[test]
fn network_bodies_follow_the_documented_shapes() {
    let plan = plan(
        json!({"confidential": true, "allocate_public_ip": true, "open_inbound_ports": {"Tcp": [22], "Udp": [53]}}),
    );
    let nsg = network_security_group(&plan);
    assert_eq!(nsg["properties"]["securityRules"][1]["properties"]["priority"], 201);
    assert_eq!(
        nsg["properties"]["securityRules"][0]["properties"]["destinationPortRange"],
        "22"
    );
    assert_eq!(public_ip(&plan)["sku"]["name"], "Standard");
    assert_eq!(public_ip(&plan)["properties"]["publicIPAllocationMethod"], "Static");
    let vnet = virtual_network(&plan, "10.10.0.0/16");
    assert_eq!(
        vnet["properties"]["subnets"][0],
        json!({"name": plan.name, "properties": {"addressPrefix": "10.10.0.0/16"}})
    );
    let nic = network_interface(&plan, "subnet-id", "nsg-id", Some("pip-id"));
    let config = &nic["properties"]["ipConfigurations"][0];
    assert_eq!(config["name"], "ipConfig");
    assert_eq!(config["properties"]["publicIPAddress"]["id"], "pip-id");
    assert_eq!(nic["properties"]["networkSecurityGroup"]["id"], "nsg-id");
    let ids = Ids::new("sub", "grp");
    assert_eq!(
        ids.subnet("v", "s"),
        "/subscriptions/sub/resourceGroups/grp/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    );
    assert_eq!(resource_group(&plan)["tags"]["garm-pool-id"], POOL);
}
