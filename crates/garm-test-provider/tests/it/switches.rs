//! The config switches that make the provider misbehave on purpose.

use std::time::Duration;

use crate::support::{instance, kill_if_running, stderr, World};

#[test]
fn fail_on_exits_1_without_doing_anything() {
    let world = World::new(r#"fail_on = ["CreateInstance"]"#);
    let out = world.create("garm-1", "pool-1", None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("configured to fail CreateInstance"),
        "{}",
        stderr(&out)
    );
    assert_eq!(world.instance("GetInstance", "garm-1").status.code(), Some(30));
}

#[test]
fn hang_on_never_answers() {
    let world = World::new(r#"hang_on = ["ListInstances"]"#);
    let mut child = world
        .command("ListInstances", &[("GARM_POOL_ID", "pool-1")])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(kill_if_running(&mut child), "the provider finished instead of hanging");
}

#[test]
fn garbage_on_prints_something_that_is_not_json() {
    let world = World::new(r#"garbage_on = ["GetInstance"]"#);
    instance(&world.create("garm-1", "pool-1", None));
    let out = world.instance("GetInstance", "garm-1");
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_err());
}

#[test]
fn fail_create_times_fails_the_first_creates_only() {
    let world = World::new("fail_create_times = 2");
    for attempt in 1..=2 {
        let out = world.create("garm-1", "pool-1", None);
        assert_eq!(out.status.code(), Some(1), "attempt {attempt}");
        assert!(stderr(&out).contains(&format!("attempt {attempt}")), "{}", stderr(&out));
    }
    instance(&world.create("garm-1", "pool-1", None));
}

#[test]
fn crash_on_aborts_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let world = World::new(r#"crash_on = ["CreateInstance"]"#);
    let out = world.create("garm-1", "pool-1", None);
    assert_eq!(out.status.code(), None, "killed by a signal, no exit code");
    assert_eq!(out.status.signal(), Some(6), "SIGABRT");
    assert_eq!(world.instance("GetInstance", "garm-1").status.code(), Some(30));
}

#[test]
fn after_create_misbehaves_with_the_instance_left_behind() {
    use std::os::unix::process::ExitStatusExt;
    for (mode, check) in [
        (
            "fail",
            (|out: &std::process::Output| out.status.code() == Some(1)) as fn(&std::process::Output) -> bool,
        ),
        ("crash", |out| out.status.signal() == Some(6)),
        ("garbage", |out| {
            out.status.code() == Some(0) && serde_json::from_slice::<serde_json::Value>(&out.stdout).is_err()
        }),
    ] {
        let world = World::new(&format!("after_create = \"{mode}\""));
        let out = world.create("garm-1", "pool-1", None);
        assert!(check(&out), "{mode}: {:?} {}", out.status, stderr(&out));
        assert!(world.sandbox("garm-1").exists(), "{mode}: the instance was created");
        assert_eq!(world.instance("GetInstance", "garm-1").status.code(), Some(0), "{mode}");
    }
    let world = World::new("after_create = \"hang\"");
    let mut child = world
        .command("CreateInstance", &[("GARM_POOL_ID", "pool-1")])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let bootstrap = r#"{"name": "garm-1", "pool_id": "pool-1", "os_type": "linux", "arch": "amd64", "tools": []}"#;
        child.stdin.take().unwrap().write_all(bootstrap.as_bytes()).unwrap();
    }
    assert!(
        crate::support::eventually(Duration::from_secs(10), || world.sandbox("garm-1").exists()),
        "the instance was created before the hang"
    );
    assert!(kill_if_running(&mut child), "the provider hangs after creating");
}
