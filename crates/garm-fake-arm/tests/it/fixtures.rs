//! Replays the upstream examples in `shared/fixtures/azure` and compares the fake's answers with
//! the recorded ones on everything that is not instance-specific.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::support::Fake;

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("GARM_AZURE_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/azure"),
    }
}

fn load(relative: &str) -> Value {
    let path = fixtures_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Replaces the upstream placeholders by real values, everywhere in `value`.
fn substitute(value: &Value, pairs: &[(&str, &str)]) -> Value {
    let mut text = value.to_string();
    for (from, to) in pairs {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

/// Key paths of `expected` that `actual` lacks (arrays compared element by element).
fn missing(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let here = format!("{path}.{key}");
                match actual.get(key) {
                    Some(found) => missing(value, found, &here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(expected), Value::Array(actual)) => {
            for (index, value) in expected.iter().enumerate() {
                match actual.get(index) {
                    Some(found) => missing(value, found, &format!("{path}[{index}]"), out),
                    None => out.push(format!("{path}[{index}]")),
                }
            }
        }
        _ => {}
    }
}

fn assert_shape(expected: &Value, actual: &Value, allowed: &[&str]) {
    let mut gaps = Vec::new();
    missing(expected, actual, "", &mut gaps);
    gaps.retain(|gap| !allowed.contains(&gap.as_str()));
    assert!(gaps.is_empty(), "missing {gaps:?}\nin {actual:#}");
}

#[test]
fn resource_group_examples_replay() {
    let fake = Fake::start();
    let example = load("specs/resources-2021-04-01/CreateResourceGroup.json");
    let url = fake.url("/resourcegroups/my-resource-group", "2021-04-01");
    let (status, body) = fake.call("PUT", &url, Some(&example["parameters"]["parameters"]));
    assert_eq!(status, 201);
    assert_shape(&example["responses"]["201"]["body"], &body, &[]);
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(body["location"], "eastus");
    let (status, _) = fake.call("PUT", &url, Some(&example["parameters"]["parameters"]));
    assert_eq!(status, 200);

    let recording = load("recordings/recording_resourcegroups_create_test.json");
    let recorded = &recording["Entries"][0];
    let response = fake.send(
        "PUT",
        &fake.url("/resourcegroups/myjstest1", "2021-04-01"),
        Some(&recorded["RequestBody"]),
    );
    assert_eq!(
        response.status().as_u16(),
        recorded["StatusCode"].as_u64().unwrap() as u16
    );
    for header in [
        "x-ms-request-id",
        "x-ms-correlation-request-id",
        "x-ms-ratelimit-remaining-subscription-writes",
        "x-ms-routing-request-id",
    ] {
        assert!(response.headers().contains_key(header), "{header}");
    }
    let body: Value = response.json().unwrap();
    assert_shape(&recorded["ResponseBody"], &body, &[]);
    assert_eq!(body["tags"], json!({"tag1": "value1"}));

    let force = load("specs/resources-2021-04-01/ForceDeleteVMsInResourceGroup.json");
    let types = force["parameters"]["forceDeletionTypes"].as_str().unwrap();
    let response = fake.send(
        "DELETE",
        &fake.url(
            &format!("/resourcegroups/my-resource-group?forceDeletionTypes={types}"),
            "2021-04-01",
        ),
        None,
    );
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let delete_recording = load("recordings/recording_resourcegroups_delete_test.excerpt.json");
    let recorded_location = delete_recording["Entries"][0]["ResponseHeaders"]["Location"]
        .as_str()
        .unwrap();
    let shape = |url: &str| {
        url.split("/subscriptions/")
            .nth(1)
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(shape(&location), shape(recorded_location));
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        fake.call("GET", &url, None).1["properties"]["provisioningState"],
        "Deleting"
    );
    let first = fake.send("GET", &location, None);
    assert_eq!(
        first.status().as_u16(),
        delete_recording["Entries"][1]["StatusCode"].as_u64().unwrap() as u16
    );
    let last = fake.send("GET", &location, None);
    assert_eq!(
        last.status().as_u16(),
        delete_recording["Entries"][2]["StatusCode"].as_u64().unwrap() as u16
    );
    let (status, body) = fake.call("GET", &url, None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound"))
    );
}

#[test]
fn network_examples_replay() {
    let fake = Fake::start();
    let sub = fake.handle.subscription_id();
    fake.group("rg1", "eastus");
    for (file, kind, name, allowed) in [
        ("VirtualNetworkCreate.json", "virtualNetworks", "test-vnet", vec![]),
        (
            "NetworkSecurityGroupCreateWithRule.json",
            "networkSecurityGroups",
            "testnsg",
            vec![],
        ),
        (
            "PublicIpAddressCreateDefaults.json",
            "publicIPAddresses",
            "test-ip",
            vec![".properties.ipConfiguration"],
        ),
    ] {
        let example = load(&format!("specs/network-2023-11-01/{file}"));
        let (status, first) = fake.put_and_wait(&fake.network("rg1", kind, name), &example["parameters"]["parameters"]);
        assert_eq!(status, 201, "{file}: {first}");
        let (_, body) = fake.call("GET", &fake.network("rg1", kind, name), None);
        let expected = &example["responses"]["201"]["body"];
        assert_shape(expected, &body, &allowed);
        assert_eq!(body["type"], expected["type"], "{file}");
        assert_eq!(body["properties"]["provisioningState"], "Succeeded", "{file}");
        assert_eq!(
            body["id"].as_str().unwrap(),
            expected["id"].as_str().unwrap().replace("subid", &sub),
            "{file}"
        );
    }
    let example = substitute(
        &load("specs/network-2023-11-01/NetworkInterfaceCreate.json"),
        &[("/subscriptions/subid/", &format!("/subscriptions/{sub}/"))],
    );
    let vnet = json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["172.20.0.0/16"]}, "subnets": [{"name": "default", "properties": {"addressPrefix": "172.20.2.0/24"}}]}});
    fake.put_and_wait(&fake.network("rg1", "virtualNetworks", "rg1-vnet"), &vnet);
    let (status, _) = fake.put_and_wait(
        &fake.network("rg1", "networkInterfaces", "test-nic"),
        &example["parameters"]["parameters"],
    );
    assert_eq!(status, 201);
    let (_, body) = fake.call("GET", &fake.network("rg1", "networkInterfaces", "test-nic"), None);
    // Azure fills the secondary configuration's subnet from the primary one; the fake does not.
    assert_shape(
        &example["responses"]["201"]["body"],
        &body,
        &[".properties.ipConfigurations[1].properties.subnet"],
    );
    let private = body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        .as_str()
        .unwrap();
    assert!(private.starts_with("172.20.2."), "{private}");
    let (_, pip) = fake.call("GET", &fake.network("rg1", "publicIPAddresses", "test-ip"), None);
    assert!(pip["properties"]["ipConfiguration"]["id"]
        .as_str()
        .unwrap()
        .contains("/networkInterfaces/test-nic/"));
}

#[test]
fn virtual_machine_examples_replay() {
    let fake = Fake::start();
    let sub = fake.handle.subscription_id();
    fake.group("myResourceGroup", "westus");
    for (file, name, allowed) in [
        ("VirtualMachine_Create_WithSshAuthentication.json", "myVM", vec![]),
        (
            "VirtualMachine_Create_WithSecurityTypeConfidentialVM.json",
            "myCVM",
            vec![".properties.osProfile.windowsConfiguration"],
        ),
    ] {
        let nic = fake.nic("myResourceGroup", "westus", &format!("{name}-nic"));
        let example = substitute(
            &load(&format!("specs/compute-2024-03-01/{file}")),
            &[
                ("/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Network/networkInterfaces/{existing-nic-name}", nic.as_str()),
            ],
        );
        let response = fake.send(
            "PUT",
            &fake.vm("myResourceGroup", name, ""),
            Some(&example["parameters"]["parameters"]),
        );
        assert_eq!(response.status().as_u16(), 201, "{file}");
        let async_url = response.headers()["azure-asyncoperation"].to_str().unwrap().to_owned();
        assert!(response.headers().get("location").is_none());
        let body: Value = response.json().unwrap();
        assert_shape(&example["responses"]["201"]["body"], &body, &allowed);
        assert_eq!(body["properties"]["provisioningState"], "Creating");
        assert!(body["properties"]["osProfile"].get("adminPassword").is_none());

        let recording = load("recordings/recording_virtualmachines_create_test.excerpt.json");
        let entries = recording["Entries"].as_array().unwrap();
        let recorded_async = entries[0]["ResponseHeaders"]["Azure-AsyncOperation"].as_str().unwrap();
        let path_shape = |url: &str| {
            let url = url
                .replace(&sub, "<sub>")
                .replace("azure_subscription_id", "<sub>")
                .replace("eastus", "<loc>")
                .replace("westus", "<loc>");
            let path = url
                .split('?')
                .next()
                .unwrap()
                .split('/')
                .skip(3)
                .map(|s| if s.len() > 30 { "<id>" } else { s })
                .collect::<Vec<_>>();
            path.join("/")
        };
        assert_eq!(path_shape(&async_url), path_shape(recorded_async));
        assert!(
            async_url.contains("?p=") && async_url.contains("&api-version=2024-03-01"),
            "{async_url}"
        );
        let (_, first_poll) = fake.call("GET", &async_url, None);
        let keys = |value: &Value| value.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&first_poll), keys(&entries[1]["ResponseBody"]));
        let (_, last_poll) = fake.call("GET", &async_url, None);
        assert_eq!(keys(&last_poll), keys(&entries[2]["ResponseBody"]));
        assert_eq!(last_poll["status"], "Succeeded");
    }

    let view_example = load("specs/compute-2024-03-01/VirtualMachine_Get_InstanceView.json");
    let (status, view) = fake.call("GET", &fake.vm("myResourceGroup", "myVM", "/instanceView"), None);
    assert_eq!(status, 200);
    let codes = |view: &Value| {
        view["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(codes(&view), codes(&view_example["responses"]["200"]["body"]));
    let (_, vm) = fake.call(
        "GET",
        &fake.vm("myResourceGroup", "myVM", "?$expand=instanceView"),
        None,
    );
    assert_eq!(
        codes(&vm["properties"]["instanceView"]),
        codes(&view_example["responses"]["200"]["body"])
    );
    let get_example = load("specs/compute-2024-03-01/VirtualMachine_Get.json");
    for key in ["name", "id", "type", "location"] {
        assert!(vm.get(key).is_some(), "{key}");
    }
    assert_eq!(vm["type"], get_example["responses"]["200"]["body"]["type"]);
    assert_eq!(
        vm["properties"]["provisioningState"],
        get_example["responses"]["200"]["body"]["properties"]["provisioningState"]
    );

    for (file, name) in [
        ("VirtualMachine_ListAll_MinimumSet_Gen.json", None),
        ("VirtualMachine_List_MinimumSet_Gen.json", Some("myResourceGroup")),
    ] {
        let example = load(&format!("specs/compute-2024-03-01/{file}"));
        let url = match name {
            None => fake.url("/providers/Microsoft.Compute/virtualMachines", "2024-03-01"),
            Some(group) => fake.url(
                &format!("/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines"),
                "2024-03-01",
            ),
        };
        let (status, list) = fake.call("GET", &url, None);
        assert_eq!(status, 200);
        assert_eq!(list["value"].as_array().unwrap().len(), 2);
        assert_shape(&example["responses"]["200"]["body"], &list, &[]);
    }

    for (file, action, power) in [
        ("VirtualMachine_PowerOff_MinimumSet_Gen.json", "/powerOff", "stopped"),
        ("VirtualMachine_Start_MinimumSet_Gen.json", "/start", "running"),
        (
            "VirtualMachine_Deallocate_MinimumSet_Gen.json",
            "/deallocate",
            "deallocated",
        ),
    ] {
        let example = load(&format!("specs/compute-2024-03-01/{file}"));
        let response = fake.send("POST", &fake.vm("myResourceGroup", "myVM", action), None);
        let status = response.status().as_u16().to_string();
        assert!(example["responses"].get(&status).is_some(), "{file}: {status}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.contains("?p=") && location.contains("&monitor=true"),
            "{location}"
        );
        let async_url = response.headers()["azure-asyncoperation"].to_str().unwrap().to_owned();
        fake.wait_async(&async_url);
        let done = fake.send("GET", &location, None).status().as_u16();
        assert!(done == 200 || done == 204, "{done}");
        let (_, view) = fake.call("GET", &fake.vm("myResourceGroup", "myVM", "/instanceView"), None);
        assert_eq!(view["statuses"][1]["code"], format!("PowerState/{power}"));
    }

    let example = load("specs/compute-2024-03-01/VirtualMachine_Delete_Force.json");
    let response = fake.send(
        "DELETE",
        &fake.vm("myResourceGroup", "myVM", "?forceDeletion=true"),
        None,
    );
    assert!(example["responses"].get(response.status().as_str()).is_some());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        !location.contains("}&monitor"),
        "the upstream quirk is not copied: {location}"
    );
    fake.wait_async(response.headers()["azure-asyncoperation"].to_str().unwrap());
    let (status, _) = fake.call("GET", &fake.vm("myResourceGroup", "myVM", ""), None);
    assert_eq!(status, 404);
    let gone = fake.send("DELETE", &fake.vm("myResourceGroup", "myVM", ""), None);
    assert_eq!(gone.status().as_u16(), 204);
}

#[test]
fn error_bodies_have_the_fixture_shapes() {
    let fake = Fake::start();
    let arm_shape = load("errors/arm-rpc-error-response-shape.json");
    let (status, body) = fake.call("GET", &fake.url("/resourcegroups/nope", "2021-04-01"), None);
    assert_eq!(status, 404);
    let allowed: Vec<&str> = arm_shape["error"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in body["error"].as_object().unwrap().keys() {
        assert!(allowed.contains(&key.as_str()), "{key}");
    }
    let entra_shape = load("errors/entra-token-error-invalid-client.json");
    let answer: Value = fake
        .http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            fake.handle.url(),
            crate::support::TENANT
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", crate::support::APP),
            ("client_secret", "wrong"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let keys = |value: &Value| {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&answer), keys(&entra_shape));
    assert_eq!(answer["error"], entra_shape["error"]);
    assert_eq!(answer["error_codes"], entra_shape["error_codes"]);
}
