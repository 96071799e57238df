//! Labels decide what the provider touches: lists filter by controller and pool, remove-all by controller.

use serde_json::json;

use crate::support::{bootstrap, engine, instance_name, stderr, template, Controller};

const KEEP_RUNNING: &str = "nohup setsid sleep 600 >/dev/null 2>&1 &\n";

fn specs() -> serde_json::Value {
    json!({"runner_install_template": template(KEEP_RUNNING)})
}

#[test]
fn list_and_remove_all_touch_only_this_controllers_containers() {
    let ours = Controller::new();
    let theirs = Controller::new();
    let (a1, a2, b1, other_a1) = (instance_name(), instance_name(), instance_name(), instance_name());
    ours.create_ok("pool-a", &bootstrap(&a1, "pool-a", "unlimited", Some(specs())));
    ours.create_ok("pool-a", &bootstrap(&a2, "pool-a", "unlimited", Some(specs())));
    ours.create_ok("pool-b", &bootstrap(&b1, "pool-b", "unlimited", Some(specs())));
    theirs.create_ok("pool-a", &bootstrap(&other_a1, "pool-a", "unlimited", Some(specs())));
    // Containers that are not garm's at all, one with a pool label but no controller label.
    let plain = instance_name();
    let half_labelled = instance_name();
    ours.run_foreign(&plain, &[]);
    ours.run_foreign(&half_labelled, &[("garm.pool-id", "pool-a")]);

    let mut expected = vec![a1.clone(), a2.clone()];
    expected.sort();
    assert_eq!(ours.list("pool-a"), expected);
    assert_eq!(ours.list("pool-b"), vec![b1.clone()]);
    assert_eq!(ours.list("pool-c"), Vec::<String>::new());
    assert_eq!(theirs.list("pool-a"), vec![other_a1.clone()]);

    // Another controller's container is invisible to get and delete.
    let out = ours.get(&other_a1);
    assert_eq!(out.status.code(), Some(30), "{}", stderr(&out));
    let out = ours.delete(&other_a1);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ours.delete(&plain);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(engine().inspect(&other_a1).is_some());
    assert!(engine().inspect(&plain).is_some());

    let out = ours.remove_all();
    assert!(out.status.success(), "{}", stderr(&out));
    for gone in [&a1, &a2, &b1] {
        assert!(engine().inspect(gone).is_none(), "{gone} was removed");
    }
    for kept in [&other_a1, &plain, &half_labelled] {
        let container = engine().inspect(kept).unwrap_or_else(|| panic!("{kept} was kept"));
        assert_eq!(container.state.unwrap().running, Some(true), "{kept} still runs");
    }
    assert_eq!(theirs.list("pool-a"), vec![other_a1]);
}
