//! ARM's request rules as the fake enforces them, paging, the control API and the journal.

use serde_json::{json, Value};

use crate::support::Fake;

/// A valid confidential VM body for `nic`, to be broken one property at a time.
fn cvm(nic: &str) -> Value {
    json!({
        "location": "westeurope",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_DC2as_v5"},
            "securityProfile": {"securityType": "ConfidentialVM", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}},
            "storageProfile": {
                "imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-confidential-vm-jammy", "sku": "22_04-lts-cvm", "version": "latest"},
                "osDisk": {"name": "d", "createOption": "FromImage", "managedDisk": {"storageAccountType": "StandardSSD_LRS", "securityProfile": {"securityEncryptionType": "VMGuestStateOnly"}}}
            },
            "osProfile": {"computerName": "vm", "adminUsername": "runner", "adminPassword": "Xx1!xxxxxxxxxxxx", "customData": "IyFjbG91ZC1jb25maWcK",
                "linuxConfiguration": {"disablePasswordAuthentication": true, "ssh": {"publicKeys": [{"path": "/home/runner/.ssh/authorized_keys", "keyData": "ssh-ed25519 AAAA"}]}}},
            "networkProfile": {"networkInterfaces": [{"id": nic}]}
        }
    })
}

/// Changes a valid VM body so that ARM must refuse it.
type Breakage = Box<dyn Fn(&mut Value)>;

fn error_code(fake: &Fake, method: &str, url: &str, body: Option<&Value>) -> (u16, String) {
    let (status, body) = fake.call(method, url, body);
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn confidential_vm_rules_are_enforced() {
    let fake = Fake::start();
    fake.group("g", "westeurope");
    let nic = fake.nic("g", "westeurope", "nic");
    let url = fake.vm("g", "vm", "");
    let cases: Vec<(&str, Breakage)> = vec![
        (
            "non-confidential size",
            Box::new(|vm| vm["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_D2s_v5")),
        ),
        (
            "non-CVM image",
            Box::new(|vm| vm["properties"]["storageProfile"]["imageReference"]["sku"] = json!("22_04-lts-gen2")),
        ),
        (
            "vTPM off",
            Box::new(|vm| vm["properties"]["securityProfile"]["uefiSettings"]["vTpmEnabled"] = json!(false)),
        ),
        (
            "no encryption type",
            Box::new(|vm| vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"] = json!({})),
        ),
        (
            "bad encryption type",
            Box::new(|vm| {
                vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["securityProfile"]
                    ["securityEncryptionType"] = json!("All")
            }),
        ),
        (
            "ephemeral",
            Box::new(|vm| {
                vm["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_DC2ads_v5");
                vm["properties"]["storageProfile"]["osDisk"]["caching"] = json!("ReadOnly");
                vm["properties"]["storageProfile"]["osDisk"]["diffDiskSettings"] =
                    json!({"option": "Local", "placement": "CacheDisk"});
            }),
        ),
        (
            "encryption without ConfidentialVM",
            Box::new(
                |vm| vm["properties"]["securityProfile"] = json!({"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}}),
            ),
        ),
        (
            "custom data too large",
            Box::new(|vm| {
                vm["properties"]["osProfile"]["customData"] = json!(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    vec![b'x'; 65_536]
                ))
            }),
        ),
        (
            "custom data not base64",
            Box::new(|vm| vm["properties"]["osProfile"]["customData"] = json!("%%%")),
        ),
        (
            "no SSH key with password login off",
            Box::new(|vm| vm["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"] = json!([])),
        ),
        (
            "reserved admin",
            Box::new(|vm| vm["properties"]["osProfile"]["adminUsername"] = json!("admin")),
        ),
        (
            "unknown size",
            Box::new(|vm| vm["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_Huge")),
        ),
        (
            "missing NIC",
            Box::new(|vm| {
                vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"] =
                    json!("/subscriptions/x/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/none")
            }),
        ),
        (
            "no location",
            Box::new(|vm| vm.as_object_mut().unwrap().remove("location").map(|_| ()).unwrap_or(())),
        ),
    ];
    for (case, breaks) in cases {
        let mut body = cvm(&nic);
        breaks(&mut body);
        let (status, code) = error_code(&fake, "PUT", &url, Some(&body));
        assert_eq!(status, 400, "{case}: {code}");
    }
    let (status, code) = error_code(
        &fake,
        "PUT",
        &url,
        Some(&{
            let mut body = cvm(&nic);
            body["properties"]["osProfile"]["customData"] = json!(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                vec![b'x'; 65_536]
            ));
            body
        }),
    );
    assert_eq!((status, code.as_str()), (400, "InvalidParameter"));
    let (status, body) = fake.call("PUT", &url, Some(&cvm(&nic)));
    assert_eq!(status, 201, "{body}");
    assert!(fake.handle.groups().iter().any(|group| group.name == "g"));
}

#[test]
fn network_rules_and_references_are_enforced() {
    let fake = Fake::start();
    fake.group("g", "westeurope");
    let rule = |name: &str, priority: u16| json!({"name": name, "properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": priority, "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}});
    let nsg = json!({"location": "westeurope", "properties": {"securityRules": [rule("inbound_Tcp_22", 200), rule("inbound_Udp_53", 200)]}});
    assert_eq!(
        error_code(
            &fake,
            "PUT",
            &fake.network("g", "networkSecurityGroups", "n"),
            Some(&nsg)
        ),
        (400, "SecurityRuleConflict".to_owned())
    );
    let nic = json!({"location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipConfig", "properties": {"subnet": {"id": "/subscriptions/x/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/s"}}}]}});
    assert_eq!(
        error_code(&fake, "PUT", &fake.network("g", "networkInterfaces", "nic"), Some(&nic)),
        (400, "InvalidResourceReference".to_owned())
    );
    let pip = json!({"location": "westeurope", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Dynamic"}});
    assert_eq!(
        error_code(&fake, "PUT", &fake.network("g", "publicIPAddresses", "p"), Some(&pip)).0,
        400
    );
    let elsewhere = json!({"location": "eastus", "properties": {"securityRules": []}});
    assert_eq!(
        error_code(
            &fake,
            "PUT",
            &fake.network("g", "networkSecurityGroups", "n"),
            Some(&elsewhere)
        )
        .0,
        400
    );
    assert_eq!(
        error_code(
            &fake,
            "PUT",
            &fake.network("missing", "networkSecurityGroups", "n"),
            Some(&json!({"location": "westeurope"}))
        ),
        (404, "ResourceGroupNotFound".to_owned())
    );

    let nic_id = fake.nic("g", "westeurope", "nic2");
    let (status, _) = fake.call("PUT", &fake.vm("g", "vm", ""), Some(&cvm(&nic_id)));
    assert_eq!(status, 201);
    assert_eq!(
        error_code(&fake, "DELETE", &fake.network("g", "networkInterfaces", "nic2"), None),
        (400, "NicInUse".to_owned())
    );
    assert_eq!(
        fake.send("DELETE", &fake.network("g", "networkInterfaces", "never"), None)
            .status()
            .as_u16(),
        204
    );

    let response = fake.send("DELETE", &fake.url("/resourcegroups/g", "2021-04-01"), None);
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        error_code(
            &fake,
            "PUT",
            &fake.network("g", "networkSecurityGroups", "late"),
            Some(&json!({"location": "westeurope"}))
        ),
        (409, "ResourceGroupBeingDeleted".to_owned())
    );
    fake.handle.advance(5);
    assert!(
        fake.handle.resource_ids().is_empty(),
        "{:?}",
        fake.handle.resource_ids()
    );
}

#[test]
fn every_arm_call_needs_a_known_api_version_and_json_bodies() {
    let fake = Fake::start();
    let base = format!(
        "{}/subscriptions/{}/resourcegroups",
        fake.handle.url(),
        fake.handle.subscription_id()
    );
    assert_eq!(
        error_code(&fake, "GET", &base, None),
        (400, "MissingApiVersionParameter".to_owned())
    );
    assert_eq!(
        error_code(&fake, "GET", &format!("{base}?api-version=2019-01-01"), None),
        (400, "InvalidApiVersionParameter".to_owned())
    );
    assert_eq!(
        error_code(
            &fake,
            "GET",
            &fake.url("/providers/Microsoft.Compute/virtualMachines", "2023-11-01"),
            None
        )
        .1,
        "InvalidApiVersionParameter"
    );
    let response = fake
        .http
        .put(fake.url("/resourcegroups/g", "2021-04-01"))
        .bearer_auth(&fake.token)
        .header("Content-Type", "text/plain")
        .body("{\"location\":\"x\"}")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let response = fake
        .http
        .get(fake.url("/RESOURCEGROUPS", "2021-04-01"))
        .bearer_auth(&fake.token)
        .header("x-ms-client-request-id", "abc-123")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "paths are case-insensitive");
    assert_eq!(response.headers()["x-ms-client-request-id"], "abc-123");
    let first: u64 = response.headers()["x-ms-ratelimit-remaining-subscription-reads"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let again = fake.send("GET", &fake.url("/resourcegroups", "2021-04-01"), None);
    let second: u64 = again.headers()["x-ms-ratelimit-remaining-subscription-reads"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(second < first);
}

#[test]
fn lists_page_with_absolute_next_links_and_filter_by_tag() {
    let fake = Fake::start();
    fake.handle.update_settings(garm_fake_arm::SettingsPatch {
        page_size: Some(2),
        ..Default::default()
    });
    for index in 0..5 {
        let tags = if index % 2 == 0 {
            json!({"Team": "a"})
        } else {
            json!({"team": "b"})
        };
        fake.call(
            "PUT",
            &fake.url(&format!("/resourcegroups/g{index}"), "2021-04-01"),
            Some(&json!({"location": "westeurope", "tags": tags})),
        );
    }
    let mut url = Some(fake.url(
        "/resourcegroups?%24filter=tagName+eq+%27team%27+and+tagValue+eq+%27a%27",
        "2021-04-01",
    ));
    let mut names = Vec::new();
    let mut pages = 0;
    while let Some(next) = url.take() {
        let (status, page) = fake.call("GET", &next, None);
        assert_eq!(status, 200, "{page}");
        pages += 1;
        names.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|group| group["name"].as_str().unwrap().to_owned()),
        );
        url = page["nextLink"].as_str().map(str::to_owned);
        if let Some(link) = &url {
            assert!(
                link.starts_with(&fake.handle.url()) && link.contains("api-version=2021-04-01"),
                "{link}"
            );
        }
    }
    assert_eq!(names, ["g0", "g2", "g4"]);
    assert_eq!(pages, 2);
}

#[test]
fn the_control_api_loads_faults_reads_the_journal_and_moves_the_clock() {
    let fake = Fake::start();
    let control = |method: &str, path: &str, body: Option<Value>| {
        let mut request = fake
            .http
            .request(method.parse().unwrap(), format!("{}/_fake/{path}", fake.handle.url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().unwrap()
    };
    let rule = json!({"match": {"method": "GET", "path_regex": "(?i)/resourcegroups$", "nth_call": 2}, "action": {"kind": "status", "status": 503, "error_code": "ServiceUnavailable", "retry_after": 3}});
    assert_eq!(control("POST", "faults", Some(rule)).status().as_u16(), 204);
    let url = fake.url("/resourcegroups", "2021-04-01");
    assert_eq!(fake.call("GET", &url, None).0, 200);
    let failed = fake.send("GET", &url, None);
    assert_eq!(failed.status().as_u16(), 503);
    assert_eq!(failed.headers()["retry-after"], "3");
    assert_eq!(fake.call("GET", &url, None).0, 200);

    let journal: Value = control("GET", "journal", None).json().unwrap();
    let last = journal.as_array().unwrap().last().unwrap();
    assert_eq!(last["headers"]["authorization"], "Bearer ***");
    assert!(journal
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["body"]["client_secret"] == "***"));

    fake.group("g", "westeurope");
    let response = fake.send("DELETE", &fake.url("/resourcegroups/g", "2021-04-01"), None);
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(
        control("POST", "clock", Some(json!({"steps": 5}))).status().as_u16(),
        204
    );
    assert_eq!(
        fake.call("GET", &fake.url("/resourcegroups/g", "2021-04-01"), None).0,
        404
    );
    let state: Value = control("GET", "state", None).json().unwrap();
    assert_eq!(state["operations"], 0);
    assert_eq!(
        control("PATCH", "settings", Some(json!({"polls_to_complete": 4})))
            .json::<Value>()
            .unwrap()["polls_to_complete"],
        4
    );
    assert_eq!(control("POST", "reset", None).status().as_u16(), 204);
    assert!(control("GET", "journal", None)
        .json::<Value>()
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());
}
