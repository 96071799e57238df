//! Get, list, stop, start, delete and remove-all, and what belongs to whom.

use std::collections::BTreeMap;

use garm_fake_arm::{SeedVm, SettingsPatch};
use garm_provider_protocol::ProviderStatus;
use serde_json::json;

use crate::support::{calls, instance, ok, stderr, World, CONTROLLER, POOL};

const OTHER_CONTROLLER: &str = "0dd0dd00-0000-4000-8000-000000000002";
const OTHER_POOL: &str = "11111111-2222-4333-8444-555555555555";

fn tags(controller: &str, pool: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        // Azure tag names are case-insensitive; the provider must not care how they are spelled.
        ("GARM-Controller-ID".to_owned(), controller.to_owned()),
        ("garm-pool-id".to_owned(), pool.to_owned()),
        ("os_type".to_owned(), "linux".to_owned()),
        ("os_arch".to_owned(), "amd64".to_owned()),
        ("os_name".to_owned(), "22_04-lts-cvm".to_owned()),
        ("os_version".to_owned(), "latest".to_owned()),
    ])
}

fn seed(world: &World, name: &str, controller: &str, pool: &str, power: &str) {
    world.fake.seed_vm(SeedVm {
        group: name.to_owned(),
        name: name.to_owned(),
        location: "westeurope".to_owned(),
        tags: tags(controller, pool),
        power_state: power.to_owned(),
    });
}

#[test]
fn an_instance_is_described_stopped_started_and_deleted() {
    let world = World::new();
    let created = instance(&world.create("garm-life", json!({})));

    let got = instance(&world.instance("GetInstance", "garm-life"));
    assert_eq!(got.status, ProviderStatus::Running);
    // The VM's ARM `vmId` is reported (the `vm_id` extension), by create and get alike, so
    // garm can compare it with the `vmUniqueId` of the VM's attestation evidence.
    let arm_vm_id = world.fake.resource(&world.vm_id("garm-life")).unwrap()["properties"]["vmId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!arm_vm_id.is_empty());
    assert_eq!(created.vm_id, arm_vm_id);
    assert_eq!(got.vm_id, arm_vm_id);
    assert_eq!(got.os_name, "22_04-lts-cvm");
    assert!(got.addresses.iter().any(|address| address.kind == "private"));

    ok(&world.instance("StopInstance", "garm-life"));
    assert_eq!(
        world.fake.power_state(&world.vm_id("garm-life")).as_deref(),
        Some("deallocated")
    );
    assert_eq!(
        instance(&world.instance("GetInstance", "garm-life")).status,
        ProviderStatus::Stopped
    );
    ok(&world.instance("StartInstance", "garm-life"));
    assert_eq!(
        instance(&world.instance("GetInstance", "garm-life")).status,
        ProviderStatus::Running
    );

    ok(&world.instance("DeleteInstance", "garm-life"));
    assert!(world.fake.group("garm-life").is_none());
    let deletes: Vec<String> = calls(&world.arm_calls())
        .into_iter()
        .filter(|call| call.starts_with("DELETE"))
        .collect();
    assert_eq!(deletes, ["DELETE garm-life"]);

    let missing = world.instance("GetInstance", "garm-life");
    assert_eq!(missing.status.code(), Some(30), "{}", stderr(&missing));
    ok(&world.instance("DeleteInstance", "garm-life"));
    assert_eq!(world.instance("StopInstance", "garm-life").status.code(), Some(30));
    assert_eq!(
        world.instance("GetInstance", "not a valid name").status.code(),
        Some(30)
    );
}

#[test]
fn interface_v0_1_1_passes_the_pool_and_its_extra_specs_everywhere() {
    let world = World::new();
    let boot = crate::support::bootstrap("garm-v11", json!({}));
    instance(&world.create_with("garm-v11", boot.clone(), "v0.1.1", CONTROLLER));
    let specs = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        boot["extra_specs"].to_string(),
    );
    let vars = [
        ("GARM_INSTANCE_ID", "garm-v11"),
        ("GARM_POOL_ID", POOL),
        ("GARM_POOL_EXTRASPECS", specs.as_str()),
    ];
    let got = instance(&world.command("GetInstance", "v0.1.1", &vars).output().unwrap());
    assert_eq!(got.name, "garm-v11");
    let list = world
        .command(
            "ListInstances",
            "v0.1.1",
            &[("GARM_POOL_ID", POOL), ("GARM_POOL_EXTRASPECS", specs.as_str())],
        )
        .output()
        .unwrap();
    ok(&list);
    assert!(String::from_utf8_lossy(&list.stdout).contains("garm-v11"));
    ok(&world.command("DeleteInstance", "v0.1.1", &vars).output().unwrap());
    assert_eq!(
        world
            .command("GetInstance", "v0.1.1", &vars)
            .output()
            .unwrap()
            .status
            .code(),
        Some(30)
    );
}

#[test]
fn list_returns_exactly_this_controllers_pool_across_pages_with_power_states() {
    let world = World::new();
    world.settings(SettingsPatch {
        page_size: Some(2),
        ..SettingsPatch::default()
    });
    for name in ["garm-a1", "garm-a2", "garm-a3"] {
        instance(&world.create(name, json!({})));
    }
    seed(&world, "garm-a4", CONTROLLER, POOL, "deallocated");
    seed(&world, "other-controller", OTHER_CONTROLLER, POOL, "running");
    seed(&world, "other-pool", CONTROLLER, OTHER_POOL, "running");
    world.fake.clear_journal();

    let listed = world.list(POOL);
    let names: Vec<&str> = listed.iter().map(|instance| instance.name.as_str()).collect();
    assert_eq!(names, ["garm-a1", "garm-a2", "garm-a3", "garm-a4"]);
    assert_eq!(listed[0].status, ProviderStatus::Running);
    assert_eq!(listed[3].status, ProviderStatus::Stopped);
    assert!(listed.iter().all(|instance| instance.os_name == "22_04-lts-cvm"));

    let arm = world.arm_calls();
    assert_eq!(arm.len(), 3, "one paged list, no per-VM reads: {:?}", calls(&arm));
    assert!(arm[0].url.contains("statusOnly=true"), "{}", arm[0].url);
    let next = arm[0].response.body["nextLink"].as_str().unwrap();
    assert_eq!(arm[1].url, next, "nextLink is followed verbatim");

    assert!(world
        .list(OTHER_POOL)
        .iter()
        .all(|instance| instance.name == "other-pool"));
    let empty = world.run("ListInstances", &[("GARM_POOL_ID", "no-such-pool")]);
    ok(&empty);
    assert_eq!(String::from_utf8_lossy(&empty.stdout).trim(), "[]");
}

#[test]
fn remove_all_deletes_only_this_controllers_groups() {
    let world = World::new();
    instance(&world.create("garm-r1", json!({})));
    instance(&world.create("garm-r2", json!({})));
    seed(&world, "garm-foreign", OTHER_CONTROLLER, POOL, "running");
    world.fake.seed_vm(SeedVm {
        group: "untagged".to_owned(),
        name: "untagged".to_owned(),
        location: "westeurope".to_owned(),
        tags: BTreeMap::new(),
        power_state: "running".to_owned(),
    });
    ok(&world.run("RemoveAllInstances", &[]));
    let left: Vec<String> = world.fake.groups().into_iter().map(|group| group.name).collect();
    assert_eq!(left, ["garm-foreign", "untagged"]);
    let list = world
        .arm_calls()
        .into_iter()
        .find(|entry| entry.method == "GET" && entry.path.ends_with("/resourcegroups"))
        .unwrap();
    assert!(
        list.url.contains("%24filter=tagName+eq+%27garm-controller-id%27"),
        "{}",
        list.url
    );
}

#[test]
fn another_controllers_instance_is_neither_described_nor_deleted() {
    let world = World::new();
    seed(&world, "garm-theirs", OTHER_CONTROLLER, POOL, "running");
    assert_eq!(world.instance("GetInstance", "garm-theirs").status.code(), Some(30));
    let out = world.instance("DeleteInstance", "garm-theirs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not tagged as this controller's"),
        "{}",
        stderr(&out)
    );
    assert!(world.fake.group("garm-theirs").is_some());
}

#[test]
fn a_vm_whose_create_failed_is_reported_as_error_with_its_fault() {
    let world = World::new();
    seed(&world, "garm-broken", CONTROLLER, POOL, "running");
    // Make it look like a failed deployment: a later failed operation on the same VM.
    world
        .fake
        .add_fault(garm_fake_arm::FaultRule {
            on: garm_fake_arm::FaultMatch {
                method: Some("POST".into()),
                path_regex: Some("(?i)/start$".into()),
                ..Default::default()
            },
            action: garm_fake_arm::FaultAction::LroFail {
                code: "OSProvisioningTimedOut".into(),
                message: Some("The guest did not report ready.".into()),
            },
            times: Some(1),
        })
        .unwrap();
    let out = world.instance("StartInstance", "garm-broken");
    assert_eq!(out.status.code(), Some(1));
    let got = instance(&world.instance("GetInstance", "garm-broken"));
    assert_eq!(got.status, ProviderStatus::Error);
    let fault = String::from_utf8(got.provider_fault).unwrap();
    assert!(fault.contains("OSProvisioningTimedOut"), "{fault}");
}

#[test]
fn a_booted_vm_runs_its_install_script_until_the_instance_is_deleted() {
    let boot_dir = std::env::temp_dir().join(format!("garm-azure-boot-{}", uuid::Uuid::new_v4()));
    let mut fake = crate::support::fake_config();
    fake.boot_dir = Some(boot_dir.clone());
    let world = World::with(fake, crate::support::SERVICE_PRINCIPAL, "");
    instance(&world.create("garm-boot", json!({})));
    let sandbox = boot_dir.join("garm-boot");
    assert!(
        eventually(|| sandbox.join("marker").exists()),
        "the install script never ran"
    );
    let callback = std::fs::read_to_string(sandbox.join("callback")).unwrap();
    assert_eq!(callback.trim(), "http://127.0.0.1:9/api/v1/callbacks");
    let pid = script_pid(&sandbox);
    assert!(pid.is_some(), "the script should still be running");

    ok(&world.instance("DeleteInstance", "garm-boot"));
    assert!(
        eventually(|| script_pid(&sandbox).is_none()),
        "deleting the VM kills its script"
    );
    let _ = std::fs::remove_dir_all(&boot_dir);
}

/// The pid of a live process whose working directory is `dir`.
fn script_pid(dir: &std::path::Path) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let zombie = stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
        (cwd == dir && !zombie).then_some(pid)
    })
}

fn eventually(check: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    check()
}
