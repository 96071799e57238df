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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_repository_removes_its_webhook_unless_told_to_keep_it() {
    let world = World::start(&[]).await.unwrap();
    let api = &world.garm.api;
    // World installed the controller's hook on the fake.
    assert_eq!(world.fake.state().hooks().len(), 1);
    api.call(
        "DELETE",
        &format!("/api/v1/repositories/{}?keepWebhook=true", world.repo_id),
        None,
    )
    .await
    .unwrap();
    assert_eq!(world.fake.state().hooks().len(), 1, "keepWebhook kept the hook");
    // The operator adds the repository again, then deletes it for good.
    let again = api
        .call(
            "POST",
            "/api/v1/repositories",
            Some(json!({"owner": "acme", "name": "widgets", "credentials_name": "fake-pat", "webhook_secret": world.secret})),
        )
        .await
        .unwrap();
    api.call(
        "DELETE",
        &format!("/api/v1/repositories/{}", again["id"].as_str().unwrap()),
        None,
    )
    .await
    .unwrap();
    assert!(
        world.fake.state().hooks().is_empty(),
        "the hook went with the repository"
    );
    assert_eq!(api.call("GET", "/api/v1/repositories", None).await.unwrap(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_show_the_rate_limit_github_reported_and_metrics_export_it() {
    let world = World::start(&[]).await.unwrap();
    let api = &world.garm.api;
    // The entity pass reads the runner downloads; GitHub's answer carries x-ratelimit-*.
    let creds = wait_for(
        "the credentials' rate limit to be known",
        Duration::from_secs(30),
        async || {
            let list = api.call("GET", "/api/v1/github/credentials", None).await.ok()?;
            let pat = list.as_array()?.iter().find(|c| c["name"] == "fake-pat")?.clone();
            pat.get("rate_limit").is_some().then_some(pat)
        },
    )
    .await;
    let rate = &creds["rate_limit"];
    assert_eq!(rate["limit"], 5000, "{rate}");
    let (used, remaining) = (rate["used"].as_i64().unwrap(), rate["remaining"].as_i64().unwrap());
    assert!(used >= 1 && used + remaining == 5000, "{rate}");
    assert!(
        rate["reset"].as_i64().unwrap() > chrono::Utc::now().timestamp() - 60,
        "{rate}"
    );
    let id = creds["id"].as_u64().unwrap();
    let shown = api
        .call("GET", &format!("/api/v1/github/credentials/{id}"), None)
        .await
        .unwrap();
    assert_eq!(shown["rate_limit"]["limit"], 5000);
    let metrics = api.metrics().await;
    for name in ["limit", "remaining", "used", "reset_timestamp"] {
        let series =
            format!("garm_github_rate_limit_{name}{{credential_name=\"fake-pat\",credential_id=\"{id}\",endpoint=\"");
        assert!(metrics.contains(&series), "{series} missing from:\n{metrics}");
    }
    let limit_line = metrics
        .lines()
        .find(|l| l.starts_with("garm_github_rate_limit_limit{credential_name=\"fake-pat\""))
        .unwrap();
    assert!(limit_line.ends_with(" 5000"), "{limit_line}");
}
