//! CreateInstance: the resources, their order and bodies, confidential VM options, refusals and cleanup.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use garm_fake_arm::{FaultAction, FaultMatch, FaultRule, SettingsPatch};
use garm_provider_protocol::ProviderStatus;
use serde_json::json;

use crate::support::{body_of, bootstrap, calls, instance, stderr, World, CONTROLLER, POOL};

fn fault(method: &str, path: &str, action: FaultAction) -> FaultRule {
    FaultRule {
        on: FaultMatch {
            method: Some(method.to_owned()),
            path_regex: Some(format!("(?i){path}")),
            ..FaultMatch::default()
        },
        action,
        times: Some(1),
    }
}

#[test]
fn the_issue_pool_creates_a_confidential_vm_and_everything_around_it() {
    let world = World::new();
    let created = instance(&world.create("garm-cvm1", json!({})));
    assert_eq!(created.provider_id, "garm-cvm1");
    assert_eq!(created.name, "garm-cvm1");
    assert_eq!(created.status, ProviderStatus::Running);
    assert_eq!((created.os_type.as_str(), created.os_arch.as_str()), ("linux", "amd64"));
    assert_eq!(
        (created.os_name.as_str(), created.os_version.as_str()),
        ("22_04-lts-cvm", "latest")
    );
    assert_eq!(created.addresses.len(), 1);
    assert!(
        created.addresses[0].address.starts_with("10.10.0."),
        "{:?}",
        created.addresses
    );

    let arm = world.arm_calls();
    let writes: Vec<String> = calls(&arm).into_iter().filter(|call| call.starts_with("PUT")).collect();
    assert_eq!(
        writes,
        [
            "PUT garm-cvm1",
            "PUT garm-cvm1/providers/microsoft.network/networksecuritygroups/garm-cvm1",
            "PUT garm-cvm1/providers/microsoft.network/virtualnetworks/garm-cvm1",
            "PUT garm-cvm1/providers/microsoft.network/networkinterfaces/garm-cvm1",
            "PUT garm-cvm1/providers/microsoft.compute/virtualmachines/garm-cvm1",
        ]
    );
    assert!(arm.iter().all(|entry| entry.response.status < 400), "{:?}", calls(&arm));

    let vm = body_of(&arm, "PUT", "virtualMachines/garm-cvm1");
    let properties = &vm["properties"];
    assert_eq!(properties["securityProfile"]["securityType"], "ConfidentialVM");
    assert_eq!(
        properties["securityProfile"]["uefiSettings"],
        json!({"secureBootEnabled": true, "vTpmEnabled": true})
    );
    assert_eq!(
        properties["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"]["securityEncryptionType"],
        "VMGuestStateOnly"
    );
    assert_eq!(
        properties["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"],
        "StandardSSD_LRS"
    );
    assert_eq!(properties["hardwareProfile"]["vmSize"], "Standard_DC2as_v5");
    assert_eq!(vm["tags"]["garm-controller-id"], CONTROLLER);
    assert_eq!(vm["tags"]["garm-pool-id"], POOL);
    assert_eq!(vm["tags"]["os_name"], "22_04-lts-cvm");
    let custom = String::from_utf8(
        STANDARD
            .decode(properties["osProfile"]["customData"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(custom.starts_with("#cloud-config\n"), "{custom}");
    let script = garm_fake_arm::boot::install_script(properties["osProfile"]["customData"].as_str().unwrap())
        .unwrap()
        .unwrap();
    let script = String::from_utf8(script).unwrap();
    assert!(
        script.contains("echo 'http://127.0.0.1:9/api/v1/callbacks' > callback"),
        "{script}"
    );
    assert_eq!(
        properties["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"],
        true
    );
    let group = body_of(&arm, "PUT", "resourcegroups/garm-cvm1");
    assert_eq!(group["tags"]["garm-controller-id"], CONTROLLER);

    // The VM operation was followed to its end: the fake reports it running.
    assert_eq!(
        world.fake.power_state(&world.vm_id("garm-cvm1")).as_deref(),
        Some("running")
    );
    // One token for the whole run.
    assert_eq!(world.token_calls().len(), 1);
    // The stored model never echoes secrets.
    let stored = world.fake.resource(&world.vm_id("garm-cvm1")).unwrap();
    assert!(stored["properties"]["osProfile"].get("adminPassword").is_none());
}

#[test]
fn disk_with_guest_state_encryption_and_a_disk_encryption_set_are_sent_on_request() {
    let world = World::new();
    let des = format!(
        "/subscriptions/{}/resourceGroups/keys/providers/Microsoft.Compute/diskEncryptionSets/cvm-des",
        world.fake.subscription_id()
    );
    instance(&world.create(
        "garm-cvm2",
        json!({"confidential_disk_encryption": "DiskWithVMGuestState", "disk_encryption_set_id": des}),
    ));
    let vm = body_of(&world.arm_calls(), "PUT", "virtualMachines/garm-cvm2");
    assert_eq!(
        vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"],
        json!({"securityEncryptionType": "DiskWithVMGuestState", "diskEncryptionSet": {"id": des}})
    );
}

#[test]
fn a_public_ip_and_ports_of_both_protocols_are_accepted_by_arm() {
    let world = World::new();
    let created = instance(&world.create(
        "garm-pip",
        json!({"allocate_public_ip": true, "open_inbound_ports": {"Tcp": [22], "Udp": [53]}}),
    ));
    let public: Vec<&str> = created
        .addresses
        .iter()
        .filter(|a| a.kind == "public")
        .map(|a| a.address.as_str())
        .collect();
    assert_eq!(public.len(), 1);
    assert!(public[0].starts_with("203.0.113."), "{public:?}");
    let arm = world.arm_calls();
    let pip = body_of(&arm, "PUT", "publicIPAddresses/garm-pip");
    assert_eq!(pip["sku"]["name"], "Standard");
    let nsg = body_of(&arm, "PUT", "networkSecurityGroups/garm-pip");
    let priorities: Vec<i64> = nsg["properties"]["securityRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["properties"]["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, [200, 201]);
    let nic = body_of(&arm, "PUT", "networkInterfaces/garm-pip");
    assert!(
        nic["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/publicIPAddresses/garm-pip")
    );
}

#[test]
fn refused_combinations_create_nothing_and_say_why() {
    let world = World::new();
    let cases = [
        (json!({"use_ephemeral_storage": true}), "ephemeral OS disk"),
        (json!({"confidentail": true}), "unknown field `confidentail`"),
        (json!({"confidential": "yes"}), "expected a boolean"),
        (
            json!({"disk_encryption_set_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des"}),
            "DiskWithVMGuestState",
        ),
    ];
    for (specs, reason) in cases {
        let out = world.create("garm-refused", specs.clone());
        assert_eq!(out.status.code(), Some(1), "{specs}");
        assert!(stderr(&out).contains(reason), "{specs}: {}", stderr(&out));
    }
    let mut non_cvm_size = bootstrap("garm-refused", json!({}));
    non_cvm_size["flavor"] = json!("Standard_D2s_v5");
    let out = world.create_with("garm-refused", non_cvm_size, "v0.1.0", CONTROLLER);
    assert!(stderr(&out).contains("not a confidential VM size"), "{}", stderr(&out));
    let mut non_cvm_image = bootstrap("garm-refused", json!({}));
    non_cvm_image["image"] = json!("Canonical:ubuntu-24_04-lts:server:latest");
    let out = world.create_with("garm-refused", non_cvm_image, "v0.1.0", CONTROLLER);
    assert!(stderr(&out).contains("not a confidential VM image"), "{}", stderr(&out));

    // Nothing reached Azure, not even a token request.
    assert!(world.fake.journal().is_empty(), "{:?}", calls(&world.fake.journal()));
    assert!(world.fake.groups().is_empty());
}

#[test]
fn a_failed_vm_operation_deletes_everything_the_create_made() {
    let world = World::new();
    world
        .fake
        .add_fault(fault(
            "PUT",
            "virtualMachines/",
            FaultAction::LroFail {
                code: "AllocationFailed".into(),
                message: Some("No capacity for Standard_DC2as_v5.".into()),
            },
        ))
        .unwrap();
    let out = world.create("garm-fail", json!({}));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("AllocationFailed"), "{}", stderr(&out));
    let arm = world.arm_calls();
    let delete = arm
        .iter()
        .find(|entry| entry.method == "DELETE")
        .expect("the group is deleted");
    assert!(
        delete
            .url
            .contains("forceDeletionTypes=Microsoft.Compute%2FvirtualMachines"),
        "{}",
        delete.url
    );
    assert!(world.fake.groups().is_empty(), "{:?}", world.fake.groups());
    assert!(world.fake.resource_ids().is_empty(), "{:?}", world.fake.resource_ids());
}

#[test]
fn a_rejected_put_is_cleaned_up_even_without_force_deletion_support() {
    let world = World::new();
    world.settings(SettingsPatch {
        reject_force_deletion: Some(true),
        ..SettingsPatch::default()
    });
    world
        .fake
        .add_fault(fault(
            "PUT",
            "networkInterfaces/",
            FaultAction::Status {
                status: 409,
                error_code: "OperationNotAllowed".into(),
                message: Some("Quota exceeded.".into()),
                retry_after: None,
            },
        ))
        .unwrap();
    let out = world.create("garm-quota", json!({}));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Quota exceeded"), "{}", stderr(&out));
    let deletes: Vec<_> = world
        .arm_calls()
        .into_iter()
        .filter(|entry| entry.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 2, "forced delete, then the plain one");
    assert_eq!(deletes[0].response.status, 400);
    assert!(!deletes[1].url.contains("forceDeletionTypes"));
    assert!(world.fake.groups().is_empty());
}

#[test]
fn a_vm_still_creating_after_the_bound_is_reported_running() {
    let world = World::new();
    world.write_config(crate::support::SERVICE_PRINCIPAL, "");
    let text = std::fs::read_to_string(&world.config)
        .unwrap()
        .replace("vm_create_wait = 60", "vm_create_wait = 0");
    std::fs::write(&world.config, text).unwrap();
    world
        .fake
        .add_fault(fault("PUT", "virtualMachines/", FaultAction::LroSlow { polls: 50 }))
        .unwrap();
    let created = instance(&world.create("garm-slow", json!({})));
    assert_eq!(created.status, ProviderStatus::Running);
    assert_eq!(
        world.fake.power_state(&world.vm_id("garm-slow")).as_deref(),
        Some("starting")
    );
}

#[test]
fn windows_runs_its_custom_data_through_a_custom_script_extension_after_the_vm() {
    let world = World::new();
    let mut boot = bootstrap(
        "garm-win1",
        json!({"confidential": false, "runner_install_template": STANDARD.encode("Write-Host hello")}),
    );
    boot["os_type"] = json!("windows");
    boot["flavor"] = json!("Standard_D2s_v5");
    boot["image"] = json!("MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition:latest");
    let created = instance(&world.create_with("garm-win1", boot, "v0.1.0", CONTROLLER));
    assert_eq!(created.os_type, "windows");
    let arm = world.arm_calls();
    let order = calls(&arm);
    let vm_done = order
        .iter()
        .rposition(|call| call == "GET garm-win1/providers/microsoft.compute/virtualmachines/garm-win1")
        .unwrap();
    let extension = order
        .iter()
        .position(|call| call.contains("/extensions/customscriptextension"))
        .unwrap();
    assert!(vm_done < extension, "the extension waits for the VM: {order:?}");
    let body = body_of(&arm, "PUT", "extensions/CustomScriptExtension");
    assert_eq!(body["properties"]["type"], "CustomScriptExtension");
    assert_eq!(body["properties"]["typeHandlerVersion"], "1.10");
    assert!(body["properties"]["protectedSettings"]["commandToExecute"]
        .as_str()
        .unwrap()
        .contains("-EncodedCommand "));
    let vm = body_of(&arm, "PUT", "virtualMachines/garm-win1");
    assert_eq!(vm["properties"]["osProfile"]["computerName"], "garm-win1");
    assert!(vm["properties"].get("securityProfile").is_none());
}

#[test]
fn an_ephemeral_os_disk_is_placed_from_the_size_capabilities() {
    let world = World::new();
    let mut boot = bootstrap(
        "garm-eph",
        json!({"confidential": false, "use_ephemeral_storage": true}),
    );
    boot["flavor"] = json!("Standard_D2ds_v5");
    boot["image"] = json!("Canonical:ubuntu-24_04-lts:server:latest");
    instance(&world.create_with("garm-eph", boot.clone(), "v0.1.0", CONTROLLER));
    let arm = world.arm_calls();
    assert!(
        arm[0].path.ends_with("/providers/Microsoft.Compute/skus"),
        "the SKU lookup comes first: {:?}",
        calls(&arm)
    );
    let disk = &body_of(&arm, "PUT", "virtualMachines/garm-eph")["properties"]["storageProfile"]["osDisk"];
    assert_eq!(
        disk["diffDiskSettings"],
        json!({"option": "Local", "placement": "CacheDisk"})
    );
    assert_eq!(disk["caching"], "ReadOnly");

    boot["flavor"] = json!("Standard_D2s_v5");
    boot["name"] = json!("garm-eph2");
    let out = world.create_with("garm-eph2", boot, "v0.1.0", CONTROLLER);
    assert!(
        stderr(&out).contains("does not support ephemeral OS disks"),
        "{}",
        stderr(&out)
    );
    assert!(world.fake.group("garm-eph2").is_none());
}
