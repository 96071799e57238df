//! Create, get, list, start, stop, delete and remove-all against the sandbox provider.

use std::time::{Duration, Instant};

use garm_provider_protocol::ProviderStatus;

use crate::support::{eventually, has_exited, instance, stderr, World};

/// Records its pid and environment, leaves a marker, then keeps running.
const SCRIPT: &str = r#"echo $$ > pid
env > env.txt
echo installed > marker
sleep 300
"#;

#[test]
fn create_starts_the_install_script_detached_in_the_sandbox() {
    let world = World::new("run_userdata = true");
    let start = Instant::now();
    let created = instance(&world.create("garm-1", "pool-1", Some(SCRIPT)));
    assert!(start.elapsed() < Duration::from_secs(5), "create waited for the script");
    assert_eq!(created.provider_id, "garm-1");
    assert_eq!(created.status, ProviderStatus::Running);
    assert_eq!(created.os_type, "linux");

    let sandbox = world.sandbox("garm-1");
    assert!(
        eventually(Duration::from_secs(5), || sandbox.join("marker").exists()),
        "the script never ran"
    );
    assert!(sandbox.join("install.log").exists());
    let env = std::fs::read_to_string(sandbox.join("env.txt")).unwrap();
    let dir = sandbox.display().to_string();
    assert!(env.lines().any(|line| line == format!("HOME={dir}")), "{env}");
    assert!(
        env.lines().any(|line| line == format!("GARM_SANDBOX_DIR={dir}")),
        "{env}"
    );
    assert!(
        env.lines().any(|line| line == "PATH=/usr/local/bin:/usr/bin:/bin"),
        "{env}"
    );
    assert!(!env.contains("GARM_CONTROLLER_ID"), "{env}");

    let pid: u32 = std::fs::read_to_string(sandbox.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!has_exited(pid), "the script should outlive the provider process");
    assert_eq!(instance(&world.instance("GetInstance", "garm-1")), created);
}

#[test]
fn delete_kills_the_script_and_removes_everything() {
    let world = World::new("run_userdata = true");
    instance(&world.create("garm-1", "pool-1", Some(SCRIPT)));
    let sandbox = world.sandbox("garm-1");
    assert!(eventually(Duration::from_secs(5), || sandbox.join("pid").exists()));
    let pid: u32 = std::fs::read_to_string(sandbox.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let out = world.instance("DeleteInstance", "garm-1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        eventually(Duration::from_secs(5), || has_exited(pid)),
        "the script survived"
    );
    assert!(!sandbox.exists());
    assert_eq!(world.instance("GetInstance", "garm-1").status.code(), Some(30));
    assert_eq!(world.instance("DeleteInstance", "garm-1").status.code(), Some(30));
}

#[test]
fn unknown_instances_exit_30() {
    let world = World::new("");
    for verb in ["GetInstance", "DeleteInstance", "StartInstance", "StopInstance"] {
        let out = world.instance(verb, "garm-nope");
        assert_eq!(out.status.code(), Some(30), "{verb}: {}", stderr(&out));
    }
    assert_eq!(
        world.instance("GetInstance", "../provider.toml").status.code(),
        Some(30)
    );
}

#[test]
fn creating_an_existing_instance_exits_31() {
    let world = World::new("");
    instance(&world.create("garm-1", "pool-1", None));
    assert_eq!(world.create("garm-1", "pool-1", None).status.code(), Some(31));
}

#[test]
fn without_run_userdata_the_template_is_not_run() {
    let world = World::new("run_userdata = false");
    instance(&world.create("garm-1", "pool-1", Some(SCRIPT)));
    assert!(world.sandbox("garm-1").is_dir());
    assert!(!world.sandbox("garm-1").join("install.sh").exists());
}

#[test]
fn list_filters_by_controller_and_pool_and_remove_all_by_controller() {
    let world = World::new("");
    instance(&world.create("garm-a", "pool-1", None));
    instance(&world.create("garm-b", "pool-2", None));
    instance(&world.create_as("controller-2", "garm-c", "pool-1", None));

    assert_eq!(world.list("controller-1", "pool-1"), ["garm-a"]);
    assert_eq!(world.list("controller-1", "pool-2"), ["garm-b"]);
    assert_eq!(world.list("controller-2", "pool-1"), ["garm-c"]);
    assert!(world.list("controller-1", "pool-3").is_empty());

    let out = world.run("RemoveAllInstances", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(world.list("controller-1", "pool-1").is_empty());
    assert!(world.list("controller-1", "pool-2").is_empty());
    assert_eq!(world.list("controller-2", "pool-1"), ["garm-c"]);
}

#[test]
fn stop_and_start_change_the_status() {
    let world = World::new("");
    instance(&world.create("garm-1", "pool-1", None));
    assert_eq!(world.instance("StopInstance", "garm-1").status.code(), Some(0));
    assert_eq!(
        instance(&world.instance("GetInstance", "garm-1")).status,
        ProviderStatus::Stopped
    );
    assert_eq!(world.instance("StartInstance", "garm-1").status.code(), Some(0));
    assert_eq!(
        instance(&world.instance("GetInstance", "garm-1")).status,
        ProviderStatus::Running
    );
}

#[test]
fn missing_garm_variables_exit_1_with_a_reason() {
    let world = World::new("");
    let out = world.run("GetInstance", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("GARM_INSTANCE_ID"), "{}", stderr(&out));

    let out = world.run("CreateInstance", &[("GARM_POOL_ID", "pool-1")]);
    assert_eq!(out.status.code(), Some(1), "create without stdin");
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
}
