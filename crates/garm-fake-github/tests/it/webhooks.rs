//! Jobs and webhooks: the signed `workflow_job` lifecycle, matching, the delivery log, redelivery.

use std::time::Duration;

use garm_fake_github::delivery::signature_256;
use garm_fake_github::runner::{JobRequest, Listener};
use garm_fake_github::{FakeHandle, JobStatus, PatSpec};
use serde_json::json;

use crate::support::{self, expected_signature, Api, Received, Receiver, ALL_SCOPES};

pub async fn setup() -> (FakeHandle, Api, Receiver) {
    let fake = support::start().await;
    fake.state().add_pat(PatSpec::new("ghp_all", ALL_SCOPES));
    let api = Api::new(&fake, Some("ghp_all"));
    let receiver = Receiver::start().await;
    (fake, api, receiver)
}

pub async fn create_hook(api: &Api, path: &str, url: &str, secret: &str, content_type: &str) -> u64 {
    let body = json!({"name": "web", "events": ["workflow_job"], "config": {"url": url, "content_type": content_type, "secret": secret}});
    let reply = api.post(&format!("{path}/hooks"), body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_u64().unwrap()
}

/// A JIT runner in `path`'s scope, connected in-process through the runner protocol.
pub async fn runner(api: &Api, path: &str, name: &str, labels: &[&str]) -> (u64, Listener) {
    let reply = api
        .post(
            &format!("{path}/actions/runners/generate-jitconfig"),
            json!({"name": name, "runner_group_id": 1, "labels": labels}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let mut listener = Listener::from_jit(reply.body["encoded_jit_config"].as_str().unwrap()).unwrap();
    listener.connect().await.expect("the runner connects");
    (reply.body["runner"]["id"].as_u64().unwrap(), listener)
}

async fn poll(listener: &mut Listener) -> Option<JobRequest> {
    listener.poll(Duration::from_millis(300)).await.expect("poll")
}

fn of_event<'a>(received: &'a [Received], event: &str) -> Vec<&'a Received> {
    received.iter().filter(|r| r.event() == event).collect()
}

#[test]
fn the_signer_reproduces_githubs_test_vector() {
    assert_eq!(
        signature_256("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[tokio::test]
async fn a_job_is_queued_taken_and_completed_with_signed_deliveries() {
    let (fake, api, receiver) = setup().await;
    let repo = fake.state().repos().into_iter().find(|r| r.name == "app").unwrap();
    let hook = create_hook(&api, "/repos/acme/app", &receiver.url, "top-secret", "json").await;
    let (runner_id, mut listener) = runner(&api, "/repos/acme/app", "worker-1", &["gpu"]).await;
    let job = fake
        .state()
        .enqueue_job(
            "acme",
            "app",
            &["self-hosted", "GPU"],
            Duration::from_millis(10),
            "failure",
        )
        .unwrap();
    assert!(job.id > u64::from(u32::MAX), "job ids are large like GitHub's");
    let request = poll(&mut listener).await.expect("the runner gets the job");
    assert_eq!((request.job_id, request.conclusion.as_str()), (job.id, "failure"));
    let busy = api.get(&format!("/repos/acme/app/actions/runners/{runner_id}")).await;
    assert_eq!(
        (busy.body["status"].as_str(), busy.body["busy"].as_bool()),
        (Some("online"), Some(true))
    );
    listener.complete(request.job_id, &request.conclusion).await.unwrap();

    let received = receiver.wait_for(4).await;
    assert_eq!(of_event(&received, "ping").len(), 1);
    let jobs = of_event(&received, "workflow_job");
    let actions: Vec<&str> = jobs.iter().map(|r| r.action()).collect();
    assert_eq!(actions, vec!["queued", "in_progress", "completed"]);
    for delivery in &received {
        assert_eq!(
            delivery.header("x-hub-signature-256"),
            expected_signature("top-secret", &delivery.raw)
        );
        assert_eq!(delivery.header("x-github-hook-id"), hook.to_string());
        assert_eq!(delivery.header("x-github-hook-installation-target-type"), "repository");
        assert_eq!(
            delivery.header("x-github-hook-installation-target-id"),
            repo.id.to_string()
        );
        assert!(delivery.header("user-agent").starts_with("GitHub-Hookshot/"));
        assert_eq!(delivery.header("content-type"), "application/json");
        assert!(uuid::Uuid::parse_str(delivery.header("x-github-delivery")).is_ok());
    }
    let guids: std::collections::BTreeSet<&str> = received.iter().map(|r| r.header("x-github-delivery")).collect();
    assert_eq!(guids.len(), 4, "every delivery has its own GUID");
    let queued = &jobs[0].payload["workflow_job"];
    assert_eq!(queued["id"], job.id);
    assert_eq!(queued["labels"], json!(["self-hosted", "GPU"]));
    assert!(queued["runner_id"].is_null() && queued["runner_name"].is_null());
    assert!(
        queued["html_url"].as_str().unwrap().starts_with(fake.url()),
        "URLs point at the fake"
    );
    assert_eq!(jobs[0].payload["repository"]["full_name"], "acme/app");
    assert_eq!(jobs[0].payload["organization"]["login"], "acme");
    assert!(jobs[0].payload.get("installation").is_none());
    let started = &jobs[1].payload["workflow_job"];
    assert_eq!(started["runner_id"], runner_id);
    assert_eq!(started["runner_name"], "worker-1");
    assert_eq!(
        (
            started["runner_group_id"].as_u64(),
            started["runner_group_name"].as_str()
        ),
        (Some(1), Some("Default"))
    );
    let completed = &jobs[2].payload["workflow_job"];
    assert_eq!(
        (completed["status"].as_str(), completed["conclusion"].as_str()),
        (Some("completed"), Some("failure"))
    );
    assert_eq!(completed["runner_name"], "worker-1");

    let rest = api.get(&format!("/repos/acme/app/actions/jobs/{}", job.id)).await;
    assert_eq!(
        (rest.body["status"].as_str(), rest.body["runner_id"].as_u64()),
        (Some("completed"), Some(runner_id))
    );
    for delivery in fake.state().deliveries() {
        crate::schema::assert_webhook(&delivery.event, &delivery.payload);
    }
    let gone = api.get(&format!("/repos/acme/app/actions/runners/{runner_id}")).await;
    assert_eq!(gone.status, 404, "an ephemeral runner is removed after its job");
}

#[tokio::test]
async fn org_hooks_get_jobs_of_the_orgs_repositories_as_signed_forms() {
    let (fake, api, receiver) = setup().await;
    create_hook(&api, "/orgs/acme", &receiver.url, "form-secret", "form").await;
    let org = fake.state().orgs().into_iter().find(|o| o.login == "acme").unwrap();
    fake.state()
        .enqueue_job("acme", "lib", &["linux"], Duration::ZERO, "success")
        .unwrap();
    fake.state()
        .enqueue_job("alice", "tool", &["linux"], Duration::ZERO, "success")
        .unwrap();
    let received = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "a user's repository is not the organization's"
    );
    let queued = &received[1];
    assert_eq!(queued.event(), "workflow_job");
    assert_eq!(queued.header("content-type"), "application/x-www-form-urlencoded");
    assert!(queued.raw.starts_with(b"payload="));
    assert_eq!(
        queued.header("x-hub-signature-256"),
        expected_signature("form-secret", &queued.raw)
    );
    assert_eq!(queued.header("x-github-hook-installation-target-type"), "organization");
    assert_eq!(
        queued.header("x-github-hook-installation-target-id"),
        org.id.to_string()
    );
    assert_eq!(queued.payload["repository"]["full_name"], "acme/lib");
}

#[tokio::test]
async fn jobs_go_only_to_idle_online_runners_whose_labels_and_scope_cover_them() {
    let (fake, api, _receiver) = setup().await;
    let (_, mut other_repo) = runner(&api, "/repos/acme/lib", "lib-runner", &["gpu"]).await;
    let (_, mut missing_label) = runner(&api, "/repos/acme/app", "small", &["cpu"]).await;
    let job = fake
        .state()
        .enqueue_job("acme", "app", &["GPU", "Linux"], Duration::ZERO, "success")
        .unwrap();
    assert!(poll(&mut other_repo).await.is_none());
    assert!(poll(&mut missing_label).await.is_none());
    assert_eq!(fake.state().job(job.id).unwrap().status, JobStatus::Queued);
    let (org_runner_id, mut org_runner) = runner(&api, "/orgs/acme", "org-runner", &["gpu"]).await;
    let request = poll(&mut org_runner).await.expect("the org runner takes it");
    assert_eq!(request.job_id, job.id);
    assert_eq!(fake.state().job(job.id).unwrap().runner_id, Some(org_runner_id));
    // A busy runner takes nothing else; the next matching job waits.
    let second = fake
        .state()
        .enqueue_job("acme", "app", &["gpu"], Duration::ZERO, "success")
        .unwrap();
    assert!(poll(&mut org_runner).await.is_none());
    assert_eq!(fake.state().job(second.id).unwrap().status, JobStatus::Queued);
    org_runner.complete(request.job_id, "success").await.unwrap();
    assert_eq!(
        fake.state().job(second.id).unwrap().status,
        JobStatus::Queued,
        "the ephemeral runner is gone"
    );
    let cancelled = fake.state().cancel_job(second.id).unwrap();
    assert_eq!(cancelled.conclusion.as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn the_delivery_log_shows_failures_and_redelivery_keeps_the_guid() {
    let (fake, api, receiver) = setup().await;
    receiver.answer(503);
    let hook = create_hook(&api, "/repos/acme/app", &receiver.url, "s", "json").await;
    fake.state()
        .enqueue_job("acme", "app", &["x"], Duration::ZERO, "success")
        .unwrap();
    receiver.wait_for(2).await;
    let log = fake
        .state()
        .wait_for(Duration::from_secs(5), |s| {
            (s.deliveries().len() == 2).then(|| s.deliveries())
        })
        .await
        .unwrap();
    assert!(log
        .iter()
        .all(|d| d.status_code == 503 && d.status == "Invalid HTTP Response: 503"));
    let listed = api.get(&format!("/repos/acme/app/hooks/{hook}/deliveries")).await;
    let items = listed.body.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["event"], "workflow_job", "newest first");
    assert_eq!(items[0]["action"], "queued");
    let hook_body = api.get(&format!("/repos/acme/app/hooks/{hook}")).await.body;
    assert_eq!(hook_body["last_response"]["code"], 503);
    receiver.answer(200);
    let id = items[0]["id"].as_u64().unwrap();
    let original_guid = items[0]["guid"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post(
            &format!("/repos/acme/app/hooks/{hook}/deliveries/{id}/attempts"),
            json!({})
        )
        .await
        .status,
        202
    );
    let received = receiver.wait_for(3).await;
    assert_eq!(received[2].header("x-github-delivery"), original_guid);
    assert_eq!(received[2].raw, received[1].raw, "a redelivery repeats the body");
    let listed = api
        .get(&format!("/repos/acme/app/hooks/{hook}/deliveries?per_page=1"))
        .await;
    assert_eq!(listed.body[0]["redelivery"], true);
    assert_eq!(listed.body[0]["status_code"], 200);
    let next = listed.header("link").expect("more pages");
    assert!(next.contains("cursor="), "{next}");
    let failures = api
        .get(&format!("/repos/acme/app/hooks/{hook}/deliveries?status=failure"))
        .await;
    assert_eq!(failures.body.as_array().unwrap().len(), 2);
}

/// The `(action, guid)` of received `workflow_job` deliveries.
pub fn job_actions(received: &[Received]) -> Vec<(String, String)> {
    received
        .iter()
        .filter(|r| r.event() == "workflow_job")
        .map(|r| (r.action().to_owned(), r.header("x-github-delivery").to_owned()))
        .collect()
}
