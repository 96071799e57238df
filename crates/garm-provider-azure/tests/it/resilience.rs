//! Throttling, transient errors, long-running operation polling and token refresh.

use garm_fake_arm::{FaultAction, FaultMatch, FaultRule, SettingsPatch};
use serde_json::json;

use crate::support::{calls, instance, ok, World};

fn rule(method: &str, path: &str, nth_call: Option<u32>, action: FaultAction) -> FaultRule {
    FaultRule {
        on: FaultMatch {
            method: Some(method.to_owned()),
            path_regex: Some(format!("(?i){path}")),
            nth_call,
            ..FaultMatch::default()
        },
        action,
        times: Some(1),
    }
}

#[test]
fn a_429_is_retried_after_exactly_its_retry_after() {
    let world = World::new();
    world
        .fake
        .add_fault(rule(
            "PUT",
            "networkSecurityGroups/",
            None,
            FaultAction::Throttle {
                retry_after: 2,
                compute: false,
            },
        ))
        .unwrap();
    world
        .fake
        .add_fault(rule(
            "GET",
            "virtualMachines$",
            None,
            FaultAction::Throttle {
                retry_after: 1,
                compute: true,
            },
        ))
        .unwrap();
    instance(&world.create("garm-429", json!({})));
    let arm = world.arm_calls();
    let throttled = arm.iter().position(|entry| entry.response.status == 429).unwrap();
    let retry = &arm[throttled + 1];
    assert_eq!(retry.method, "PUT");
    assert_eq!(retry.path, arm[throttled].path);
    let waited = retry.at_ms - arm[throttled].at_ms;
    assert!((2000..6000).contains(&waited), "waited {waited} ms for Retry-After: 2");
    assert_eq!(retry.response.status, 201);

    world.fake.clear_journal();
    let listed = world.list(crate::support::POOL);
    assert_eq!(listed.len(), 1);
    let arm = world.arm_calls();
    assert_eq!(arm[0].response.status, 429);
    assert!(arm[1].at_ms - arm[0].at_ms >= 1000);
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    let world = World::new();
    world
        .fake
        .add_fault(rule(
            "PUT",
            "virtualNetworks/",
            None,
            FaultAction::Status {
                status: 503,
                error_code: "ServiceUnavailable".into(),
                message: None,
                retry_after: Some(0),
            },
        ))
        .unwrap();
    world
        .fake
        .add_fault(rule("PUT", "networkInterfaces/", None, FaultAction::Drop))
        .unwrap();
    world
        .fake
        .add_fault(rule(
            "GET",
            "/operations/",
            Some(1),
            FaultAction::Status {
                status: 500,
                error_code: "InternalServerError".into(),
                message: None,
                retry_after: Some(0),
            },
        ))
        .unwrap();
    instance(&world.create("garm-flaky", json!({})));
    assert!(world.fake.group("garm-flaky").is_some());
}

#[test]
fn operations_are_polled_at_exactly_the_urls_azure_returned() {
    let world = World::new();
    world.settings(SettingsPatch {
        polls_to_complete: Some(3),
        ..SettingsPatch::default()
    });
    instance(&world.create("garm-lro", json!({})));
    ok(&world.instance("DeleteInstance", "garm-lro"));
    let arm = world.arm_calls();
    let mut checked = 0;
    for (index, entry) in arm.iter().enumerate() {
        let Some(poll) = entry
            .response_header("azure-asyncoperation")
            .or_else(|| entry.response_header("location"))
        else {
            continue;
        };
        if entry.response.status == 202 && entry.method == "GET" {
            continue; // A Location poll answering "still running".
        }
        let polls: Vec<_> = arm[index + 1..].iter().filter(|later| later.url == poll).collect();
        assert_eq!(
            polls.len(),
            3,
            "{} {} polled {:?}",
            entry.method,
            entry.path,
            calls(&arm)
        );
        checked += 1;
    }
    // NSG, VNet, NIC, VM (async) and the group deletion (Location).
    assert_eq!(checked, 5, "{:?}", calls(&arm));
    let vm_put = arm
        .iter()
        .find(|entry| entry.method == "PUT" && entry.path.contains("virtualMachines"))
        .unwrap();
    let async_url = vm_put.response_header("azure-asyncoperation").unwrap();
    assert!(
        async_url.contains("/providers/Microsoft.Compute/locations/westeurope/operations/")
            && async_url.contains("?p="),
        "{async_url}"
    );
    let delete = arm.iter().find(|entry| entry.method == "DELETE").unwrap();
    assert!(delete
        .response_header("location")
        .unwrap()
        .contains("/operationresults/"));
    assert!(delete.response_header("azure-asyncoperation").is_none());
}

#[test]
fn an_expired_token_is_refreshed_once_and_the_call_repeated() {
    let world = World::new();
    world
        .fake
        .add_fault(rule("PUT", "networkSecurityGroups/", None, FaultAction::TokenExpired))
        .unwrap();
    instance(&world.create("garm-token", json!({})));
    let arm = world.arm_calls();
    let refused = arm.iter().position(|entry| entry.response.status == 401).unwrap();
    assert_eq!(
        arm[refused].response.body["error"]["code"],
        "ExpiredAuthenticationToken"
    );
    assert!(arm[refused]
        .response_header("www-authenticate")
        .unwrap()
        .starts_with("Bearer "));
    assert_eq!(arm[refused + 1].path, arm[refused].path);
    assert_eq!(arm[refused + 1].response.status, 201);
    assert_eq!(world.token_calls().len(), 2);
}

#[test]
fn a_short_lived_token_is_refreshed_before_it_expires() {
    let world = World::new();
    world.settings(SettingsPatch {
        token_lifetime_secs: Some(2),
        retry_after_secs: Some(1),
        ..SettingsPatch::default()
    });
    instance(&world.create("garm-refresh", json!({})));
    let arm = world.arm_calls();
    assert!(
        arm.iter().all(|entry| entry.response.status != 401),
        "{:?}",
        calls(&arm)
    );
    assert!(
        world.token_calls().len() >= 2,
        "{} token requests",
        world.token_calls().len()
    );
}
