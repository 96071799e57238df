//! Hostile or broken webhooks are refused before anything is written.

use garm_e2e::{ProviderSpec, World};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

const SANDBOX: ProviderSpec = ProviderSpec {
    name: "sandbox",
    extra: "",
    run_userdata: true,
};

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn fixture() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/github/webhooks/workflow_job/dotcom-05-queued.json");
    std::fs::read(path).expect("the published fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_malformed_and_oversized_bodies_leave_no_trace() {
    let world = World::start(&[SANDBOX]).await.unwrap();
    world.add_pool("sandbox", json!({})).await.unwrap();
    // A real payload, re-targeted at our repository on the fake.
    let mut payload: serde_json::Value = serde_json::from_slice(&fixture()).unwrap();
    let base = world.fake.url().to_string();
    payload["repository"]["name"] = json!("widgets");
    payload["repository"]["owner"]["login"] = json!("acme");
    payload["repository"]["html_url"] = json!(format!("{base}/acme/widgets"));
    payload["workflow_job"]["html_url"] = json!(format!("{base}/acme/widgets/actions/runs/1/job/2"));
    payload["workflow_job"]["labels"] = json!(["self-hosted", "linux", "e2e"]);
    let body = serde_json::to_vec(&payload).unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks", world.garm.url());
    let send = |body: Vec<u8>, signature: Option<String>| {
        let mut req = http
            .post(&url)
            .header("X-GitHub-Event", "workflow_job")
            .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
            .header("X-GitHub-Hook-Installation-Target-Type", "repository")
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req.send()
    };
    let wrong = send(body.clone(), Some(sign("not-the-secret", &body))).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let missing = send(body.clone(), None).await.unwrap();
    assert_eq!(missing.status(), 401);
    // A header that is not `sha256=<hex>` is no signature: 401, as for a wrong one.
    let garbled = send(body.clone(), Some("sha256".into())).await.unwrap();
    assert_eq!(garbled.status(), 401);
    let right = sign(&world.secret, &body);
    let bare = send(body.clone(), Some(right.trim_start_matches("sha256=").to_owned()))
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let malformed = b"{\"action\": \"queued\", \"workflow_job\": ".to_vec();
    let broken = send(malformed.clone(), Some(sign(&world.secret, &malformed)))
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let mut huge = body.clone();
    huge.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    let oversized = send(huge.clone(), Some(sign(&world.secret, &huge))).await.unwrap();
    assert_eq!(oversized.status(), 413);
    assert!(world.garm.api.jobs().await.is_empty(), "nothing was recorded");
    assert!(world.garm.api.instances().await.is_empty(), "nothing was created");

    // The same payload, signed right, is accepted: the refusals above were about the request.
    let good = send(body.clone(), Some(sign(&world.secret, &body))).await.unwrap();
    assert_eq!(good.status(), 200);
    let jobs = world.garm.api.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["workflow_job_id"], payload["workflow_job"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_workflow_job_fixture_is_accepted() {
    let world = World::start(&[SANDBOX]).await.unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/github/webhooks/workflow_job");
    let http = reqwest::Client::new();
    let base = world.fake.url().to_string();
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let mut payload: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).unwrap();
        payload["repository"]["name"] = json!("widgets");
        payload["repository"]["owner"]["login"] = json!("acme");
        payload["repository"]["html_url"] = json!(format!("{base}/acme/widgets"));
        payload["workflow_job"]["html_url"] = json!(format!("{base}/acme/widgets/actions/runs/1/job/2"));
        let body = serde_json::to_vec(&payload).unwrap();
        let resp = http
            .post(format!("{}/webhooks", world.garm.url()))
            .header("X-GitHub-Event", "workflow_job")
            .header("X-GitHub-Delivery", uuid::Uuid::new_v4().to_string())
            .header("X-GitHub-Hook-Installation-Target-Type", "repository")
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", sign(&world.secret, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", entry.path().display());
        n += 1;
    }
    assert_eq!(n, 8);
    // Jobs that match no pool are recorded with the reason (garm answers 422 there).
    let jobs = world.garm.api.jobs().await;
    assert!(
        jobs.iter()
            .any(|j| j["reason"].as_str().is_some_and(|r| r.contains("no enabled pool"))),
        "{jobs:?}"
    );
}
