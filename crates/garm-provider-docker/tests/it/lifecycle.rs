//! Create, get, delete: a container per instance, the bootstrap running inside it, and its statuses.

use std::time::Duration;

use garm_provider_protocol::{ProviderStatus, EXIT_NOT_FOUND};
use serde_json::json;

use crate::support::{
    bootstrap, engine, instance, instance_name, shared_dir, stderr, template, wait_for, Controller, IMAGE,
};

/// The install script of these tests: records where and as whom it ran, then leaves a detached
/// process behind, as the real install script leaves the runner.
const RECORDING_INSTALL_SCRIPT: &str = r#"#!/bin/bash
set -e
{
    echo "user=$(id -un)"
    echo "home=$HOME"
    echo "pwd=$(pwd)"
    echo "os=$(. /etc/os-release && echo "$ID")"
    echo "env=$GARM_TEST_VALUE"
    if [ -w "$HOME" ]; then echo "home_writable=yes"; fi
} >/marker/bootstrap.tmp
mv /marker/bootstrap.tmp /marker/bootstrap
nohup setsid sleep 600 >/dev/null 2>&1 </dev/null &
touch /marker/done
"#;

#[test]
fn create_runs_the_install_script_in_a_labelled_limited_container_on_the_host_network() {
    let controller = Controller::new();
    let marker = shared_dir(&controller, "marker");
    let name = instance_name();
    let pool = "pool-a";
    let specs = json!({
        "runner_install_template": template(RECORDING_INSTALL_SCRIPT),
        "mounts": [{"source": marker.display().to_string(), "target": "/marker"}],
        "env": {"GARM_TEST_VALUE": "from-extra-specs"},
        "extra_context": {"RunnerDir": ""},
    });
    let created = controller.create_ok(pool, &bootstrap(&name, pool, "small", Some(specs)));
    assert_eq!(created.provider_id, name, "provider_id is the container name");
    assert_eq!(created.name, name);
    assert_eq!(created.status, ProviderStatus::Running);
    assert_eq!(created.os_type, "linux");
    assert_eq!(created.os_arch, "amd64");

    // The bootstrap ran inside the container, as the image's user, with a writable HOME.
    let recorded = wait_for(Duration::from_secs(60), "the install script's marker", || {
        std::fs::read_to_string(marker.join("bootstrap")).ok()
    });
    for line in [
        "user=runner",
        "home=/home/runner",
        "pwd=/home/runner",
        "os=garm-runner-test",
        "env=from-extra-specs",
        "home_writable=yes",
    ] {
        assert!(recorded.lines().any(|l| l == line), "{line} in {recorded}");
    }

    let container = engine().inspect(&name).expect("the container exists");
    let labels = container.config.as_ref().unwrap().labels.clone().unwrap();
    assert_eq!(labels["garm.controller-id"], controller.id);
    assert_eq!(labels["garm.pool-id"], pool);
    assert_eq!(labels["garm.instance-name"], name);
    assert_eq!(labels["garm.os-type"], "linux");
    assert_eq!(labels["com.example.suite"], "garm-provider-docker");
    let host = container.host_config.as_ref().unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(256 * 1024 * 1024));
    assert_eq!(host.privileged, Some(false), "privileged is off by default");
    assert_eq!(container.config.as_ref().unwrap().image.as_deref(), Some(IMAGE));

    // The install script has finished; its detached "runner" keeps the container up.
    wait_for(Duration::from_secs(30), "the install script to finish", || {
        marker.join("done").exists().then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let got = instance(&controller.get(&name));
    assert_eq!(got.status, ProviderStatus::Running);
    assert_eq!(got.provider_id, name);

    // The instance token never appears in the container's config.
    let inspected = serde_json::to_string(&engine().inspect(&name).unwrap()).unwrap();
    assert!(!inspected.contains("instance-token-not-for-logs"));
}

#[test]
fn delete_removes_the_container_and_a_missing_one_is_success_for_delete_and_30_for_get() {
    let controller = Controller::new();
    let name = instance_name();
    let specs = json!({"runner_install_template": template("nohup setsid sleep 600 >/dev/null 2>&1 &\n")});
    controller.create_ok("pool", &bootstrap(&name, "pool", "unlimited", Some(specs)));
    assert!(engine().inspect(&name).is_some());

    let out = controller.delete(&name);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(engine().inspect(&name).is_none(), "the container is gone");

    let out = controller.get(&name);
    assert_eq!(out.status.code(), Some(i32::from(EXIT_NOT_FOUND)), "{}", stderr(&out));
    let out = controller.delete(&name);
    assert!(out.status.success(), "deleting again succeeds: {}", stderr(&out));
    let out = controller.delete("garm-never-created");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_container_whose_install_script_ends_without_a_runner_stops_or_fails() {
    let controller = Controller::new();
    let finished = instance_name();
    let failed = instance_name();
    let pool = "pool";
    controller.create_ok(
        pool,
        &bootstrap(
            &finished,
            pool,
            "unlimited",
            Some(json!({"runner_install_template": template("echo done\n")})),
        ),
    );
    controller.create_ok(
        pool,
        &bootstrap(
            &failed,
            pool,
            "unlimited",
            Some(json!({"runner_install_template": template("exit 3\n")})),
        ),
    );
    let status_of = |name: &str| instance(&controller.get(name));
    let stopped = wait_for(Duration::from_secs(30), "the container to stop", || {
        Some(status_of(&finished)).filter(|i| i.status != ProviderStatus::Running)
    });
    assert_eq!(stopped.status, ProviderStatus::Stopped);
    let errored = wait_for(Duration::from_secs(30), "the container to fail", || {
        Some(status_of(&failed)).filter(|i| i.status != ProviderStatus::Running)
    });
    assert_eq!(errored.status, ProviderStatus::Error);
    assert_eq!(
        String::from_utf8_lossy(&errored.provider_fault),
        "the container exited with code 3"
    );

    // StartInstance runs the bootstrap again; StopInstance stops it.
    let out = controller.run("StartInstance", &[("GARM_INSTANCE_ID", &finished)], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = controller.run("StopInstance", &[("GARM_INSTANCE_ID", &finished)], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status_of(&finished).status, ProviderStatus::Stopped);
}

#[test]
fn creating_an_existing_instance_is_a_duplicate_and_leaves_it_alone() {
    let controller = Controller::new();
    let name = instance_name();
    let specs = json!({"runner_install_template": template("nohup setsid sleep 600 >/dev/null 2>&1 &\n")});
    let params = bootstrap(&name, "pool", "unlimited", Some(specs));
    controller.create_ok("pool", &params);
    let before = engine().inspect(&name).unwrap().id;

    let out = controller.create("pool", &params);
    assert_eq!(out.status.code(), Some(31), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(engine().inspect(&name).unwrap().id, before);
}

#[test]
fn a_missing_image_is_reported_and_nothing_is_pulled() {
    let controller = Controller::new();
    let name = instance_name();
    let mut params = bootstrap(&name, "pool", "unlimited", None);
    params["image"] = json!("garm-rs/no-such-image:never");
    let out = controller.create("pool", &params);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("garm-rs/no-such-image:never") && err.contains("never pulls"),
        "{err}"
    );
    assert!(engine().inspect(&name).is_none());
}
