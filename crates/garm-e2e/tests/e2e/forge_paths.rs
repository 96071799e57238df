//! Forge paths besides JIT: registration-token runners, and webhook management.

use garm_e2e::{wait_for, ProviderSpec, World};
use serde_json::json;
use std::time::Duration;

/// A provider whose name ends in `-nojit` gets `disable_jit_config = true`.
const NOJIT: ProviderSpec = ProviderSpec {
    name: "sandbox-nojit",
    extra: "",
    run_userdata: true,
};
const LABELS: &[&str] = &["self-hosted", "linux", "e2e"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jit_the_runner_registers_with_a_registration_token() {
    let world = World::start(&[NOJIT]).await.unwrap();
    world.add_pool("sandbox-nojit", json!({})).await.unwrap();
    let job = world.queue(LABELS, Duration::from_millis(200));
    wait_for("the job to complete", Duration::from_secs(120), async || {
        (world.job_status(job).as_deref() == Some("completed")).then_some(())
    })
    .await;
    let runner = world.fake.state().job(job).unwrap().runner_name.unwrap();
    assert!(runner.starts_with("garm-"), "{runner}");
    wait_for("the instance to be deleted", Duration::from_secs(60), async || {
        world.garm.api.instances().await.is_empty().then_some(())
    })
    .await;
    let log = world.garm.log();
    assert!(
        !log.contains("runner registered with the forge (JIT)"),
        "no JIT config was requested"
    );
    assert!(
        log.contains("config.sh") || log.contains("registration token"),
        "the runner used config.sh with a registration token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_webhook_is_installed_shown_and_uninstalled_on_github() {
    let world = World::start(&[]).await.unwrap();
    let api = &world.garm.api;
    let uri = format!("/api/v1/repositories/{}/webhook", world.repo_id);
    // World added a hook pointing at the controller URL directly on the fake: it is found.
    let shown = api.call("GET", &uri, None).await.unwrap();
    assert!(shown["url"].as_str().unwrap().contains("/webhooks/"));
    let (status, _) = api
        .raw("POST", &uri, Some(json!({"webhook_endpoint_type": "direct"})))
        .await
        .unwrap();
    assert_eq!(status, 409, "installing twice is a conflict");
    api.call("DELETE", &uri, None).await.unwrap();
    assert!(
        world.fake.state().hooks().is_empty(),
        "uninstall removed the hook on GitHub"
    );
    let (status, _) = api.raw("GET", &uri, None).await.unwrap();
    assert_eq!(status, 404);
    let installed = api
        .call(
            "POST",
            &uri,
            Some(json!({"webhook_endpoint_type": "direct", "insecure_ssl": false})),
        )
        .await
        .unwrap();
    let hooks = world.fake.state().hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url, installed["url"].as_str().unwrap());
    assert_eq!(hooks[0].events, vec!["workflow_job".to_string()]);
    assert_eq!(hooks[0].content_type, "json");
    // The installed hook delivers: a queued job reaches garm through it.
    let job = world
        .fake
        .state()
        .enqueue_job(
            "acme",
            "widgets",
            &["no-such-label"],
            Duration::from_millis(10),
            "success",
        )
        .unwrap()
        .id;
    wait_for(
        "the job to reach garm through the new hook",
        Duration::from_secs(30),
        async || {
            api.jobs()
                .await
                .iter()
                .any(|j| j["workflow_job_id"] == json!(job))
                .then_some(())
        },
    )
    .await;
}
